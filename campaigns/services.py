"""Writes to campaigns. Each function is one transaction that also records its event."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.db import models, transaction
from django.dispatch import Signal
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from campaigns.definitions import SELECTION_KEYS, definition_changes
from campaigns.models import (
    Campaign,
    CampaignBatch,
    CampaignEvent,
    CampaignPhase,
    SelectionMember,
    SelectionRun,
)
from campaigns.selection import (
    campaign_reference_month,
    ruleset_from_campaign,
    selection_apply,
    selection_copy,
)
from eligibility.models import DomainError, NamedList, Snapshot
from eligibility.rules import measure_identity, ruleset_check, ruleset_summary
from eligibility.selection import (
    Context,
    ruleset_check_against_snapshot,
    selection_execute,
)

# What campaign_update may change. Status moves only through campaign_transition and
# the code is the campaign's name in definition files, so neither is here.
UPDATABLE_FIELDS = (
    "name",
    "owning_unit",
    "description",
    "snapshot",
    "starts_on",
    "ends_on",
    "until_gifts_run_out",
    "region_scope",
)

# The definition a copy carries over; the snapshot stays behind because the copy is a
# new programme that will be run on data not yet chosen.
COPIED_FIELDS = tuple(field for field in UPDATABLE_FIELDS if field != "snapshot")


def _event(
    *, campaign: Campaign, kind: str, actor=None, data: dict | None = None
) -> CampaignEvent:
    return CampaignEvent.objects.create(
        campaign=campaign, kind=kind, actor=actor, data=data or {}
    )


def _jsonable(value: Any) -> Any:
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Snapshot):
        return value.pk
    return value


def _check_code_free(code: str) -> None:
    if Campaign.objects.filter(code=code).exists():
        raise DomainError(
            _("A campaign with code %(code)s already exists.") % {"code": code}
        )


@transaction.atomic
def campaign_create(
    *,
    code: str,
    name: str,
    actor=None,
    owning_unit: str = "",
    description: str = "",
    snapshot: Snapshot | None = None,
    starts_on: date | None = None,
    ends_on: date | None = None,
    until_gifts_run_out: bool = False,
    region_scope: list[str] | None = None,
) -> Campaign:
    """Create a draft campaign and record who created it."""
    _check_code_free(code)
    campaign = Campaign(
        code=code,
        name=name,
        owning_unit=owning_unit,
        description=description,
        snapshot=snapshot,
        starts_on=starts_on,
        ends_on=ends_on,
        until_gifts_run_out=until_gifts_run_out,
        region_scope=list(region_scope or []),
    )
    campaign.check_dates()
    campaign.save()
    _event(campaign=campaign, kind=CampaignEvent.Kind.CREATED, actor=actor)
    return campaign


@transaction.atomic
def campaign_update(
    *, campaign: Campaign, actor=None, data: dict[str, Any]
) -> dict[str, list]:
    """Change the definition fields in `data`; return {field: [old, new]} of the changes.

    Only fields that really change are saved and recorded; nothing changed, no event.
    The snapshot can change only in draft: a selection was made from the old one.
    """
    unknown = set(data) - set(UPDATABLE_FIELDS)
    if unknown:
        raise DomainError(
            _("These campaign fields cannot be changed here: %(fields)s.")
            % {"fields": ", ".join(sorted(unknown))}
        )
    locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
    changes = {}
    for field, new in data.items():
        old = getattr(locked, field)
        if old != new:
            changes[field] = [_jsonable(old), _jsonable(new)]
            setattr(locked, field, new)
    if not changes:
        return {}
    if "snapshot" in changes and locked.status != Campaign.Status.DRAFT:
        raise DomainError(
            _("The snapshot of a campaign can only change while it is a draft.")
        )
    locked.check_dates()
    locked.updated_at = timezone.now()
    locked.save(update_fields=[*changes, "updated_at"])
    _event(
        campaign=locked,
        kind=CampaignEvent.Kind.UPDATED,
        actor=actor,
        data={"changed": changes},
    )
    for field in changes:
        setattr(campaign, field, getattr(locked, field))
    campaign.updated_at = locked.updated_at
    return changes


@transaction.atomic
def campaign_record_parts_changed(
    *, campaign: Campaign, actor=None, parts: list[str]
) -> CampaignEvent:
    """Record that phases or batches were edited in place (the admin's inline forms)."""
    Campaign.objects.filter(pk=campaign.pk).update(updated_at=timezone.now())
    return _event(
        campaign=campaign,
        kind=CampaignEvent.Kind.UPDATED,
        actor=actor,
        data={"changed": {part: "edited" for part in parts}},
    )


@transaction.atomic
def campaign_transition(*, campaign: Campaign, to_status: str, actor=None) -> Campaign:
    """Move the campaign to `to_status` if its lifecycle allows it, and record the move.

    The row is locked first so that two people pressing buttons at once cannot both
    move from the same status.
    """
    locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
    from_status = locked.status
    locked.move_to(to_status)
    locked.updated_at = timezone.now()
    locked.save(update_fields=["status", "updated_at"])
    _event(
        campaign=locked,
        kind=CampaignEvent.Kind.STATUS_CHANGED,
        actor=actor,
        data={"from": from_status, "to": to_status},
    )
    campaign.status = locked.status
    campaign.updated_at = locked.updated_at
    return locked


@transaction.atomic
def campaign_copy(*, campaign: Campaign, new_code: str, actor=None) -> Campaign:
    """A new draft campaign with the definition, phases and batches of `campaign`."""
    _check_code_free(new_code)
    copy = Campaign.objects.create(
        code=new_code, **{field: getattr(campaign, field) for field in COPIED_FIELDS}
    )
    CampaignPhase.objects.bulk_create(
        CampaignPhase(
            campaign=copy,
            number=phase.number,
            name=phase.name,
            starts_on=phase.starts_on,
            ends_on=phase.ends_on,
            districts=phase.districts,
        )
        for phase in campaign.phases.all()
    )
    CampaignBatch.objects.bulk_create(
        CampaignBatch(
            campaign=copy,
            number=batch.number,
            name=batch.name,
            starts_on=batch.starts_on,
            ends_on=batch.ends_on,
        )
        for batch in campaign.batches.all()
    )
    selection_copy(source=campaign, target=copy)
    _event(
        campaign=copy,
        kind=CampaignEvent.Kind.COPIED,
        actor=actor,
        data={"source": campaign.code, "source_id": campaign.pk},
    )
    return copy


@transaction.atomic
def campaign_import(
    *,
    definition: dict[str, Any],
    actor=None,
    snapshot: Snapshot | None = None,
    source: str = "",
) -> tuple[Campaign, bool]:
    """Create or replace the campaign named by a checked definition; (campaign, created).

    `definition` is what `definitions.definition_parse` returned, so every field has
    been checked. An existing campaign must still be a draft; its phases and batches
    are replaced by the file's. `snapshot`, when given, is set; otherwise an existing
    campaign keeps its own.
    """
    code = definition["code"]
    campaign = Campaign.objects.select_for_update().filter(code=code).first()
    created = campaign is None
    if created:
        campaign = Campaign(code=code)
        changed = ["all"]
    else:
        campaign.check_replaceable()
        changed = definition_changes(campaign=campaign, definition=definition)
    for field in COPIED_FIELDS:
        setattr(campaign, field, definition[field])
    if snapshot is not None:
        campaign.snapshot = snapshot
    campaign.check_dates()
    campaign.updated_at = timezone.now()
    campaign.save()

    phases = [
        CampaignPhase(campaign=campaign, **phase) for phase in definition["phases"]
    ]
    CampaignPhase.check_phases(phases)
    campaign.phases.all().delete()
    CampaignPhase.objects.bulk_create(phases)
    campaign.batches.all().delete()
    CampaignBatch.objects.bulk_create(
        CampaignBatch(campaign=campaign, **batch) for batch in definition["batches"]
    )
    selection_apply(
        campaign=campaign,
        selection={key: definition[key] for key in SELECTION_KEYS if key in definition},
    )
    _event(
        campaign=campaign,
        kind=CampaignEvent.Kind.IMPORTED,
        actor=actor,
        data={
            "created": created,
            "changed": changed,
            "source": source,
            "version": definition["version"],
        },
    )
    return campaign, created


# --- Selection runs -----------------------------------------------------------------

# Campaigns whose members are "in a campaign running now" for other campaigns' rules.
RUNNING_STATUSES = (
    Campaign.Status.APPROVED,
    Campaign.Status.INVITING,
    Campaign.Status.OPEN,
    Campaign.Status.CLOSED,
    Campaign.Status.FULFILLED,
)


def selection_ruleset_prepare(*, campaign: Campaign) -> tuple[dict, Context]:
    """The campaign's rule set checked against its snapshot, and what it refers to.

    Raises RuleSetError naming every problem; nothing is written.
    """
    document = ruleset_from_campaign(campaign)
    ruleset = ruleset_check(document, reference=campaign_reference_month(campaign))
    ruleset = ruleset_check_against_snapshot(ruleset, snapshot=campaign.snapshot)
    return ruleset, _selection_context(campaign=campaign, ruleset=ruleset)


def _selection_context(*, campaign: Campaign, ruleset: dict) -> Context:
    measures = [*ruleset["rules"], *[i["when"] for i in ruleset["lists"] if i["when"]]]
    campaign_runs = {}
    for measure in measures:
        if measure["measure"] != "in_campaigns":
            continue
        runs = SelectionRun.objects.filter(status=SelectionRun.Status.APPROVED).exclude(
            campaign=campaign
        )
        if measure.get("campaign_kind"):
            runs = runs.filter(
                campaign__kind=measure["campaign_kind"],
                campaign__starts_on__gte=measure["since"],
            )
        else:
            runs = runs.filter(campaign__status__in=RUNNING_STATUSES)
        campaign_runs[measure_identity(measure)] = list(
            runs.values_list("id", flat=True)
        )
    names = {m["list"] for m in measures if m["measure"] == "in_list"}
    return Context(
        snapshot=campaign.snapshot,
        campaign_runs=campaign_runs,
        member_table=SelectionMember._meta.db_table,
        named_lists=dict(
            NamedList.objects.filter(name__in=names).values_list("name", "id")
        ),
    )


@transaction.atomic
def selection_run_start(
    *, campaign: Campaign, actor=None, enqueue: bool = True
) -> SelectionRun:
    """Check the rules and queue a run; RuleSetError if anything is wrong.

    The campaign moves to "selecting"; the run's task does the work after commit
    (`enqueue=False`: the caller runs `selection_run_execute` itself, as commands do).
    """
    locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if locked.selection_runs.filter(
        status__in=[SelectionRun.Status.QUEUED, SelectionRun.Status.RUNNING]
    ).exists():
        raise DomainError(_("A selection is already running for this campaign."))
    if locked.selection_runs.filter(status=SelectionRun.Status.APPROVED).exists():
        raise DomainError(
            _("The campaign's list is approved; copy the campaign to select again.")
        )
    ruleset, _context = selection_ruleset_prepare(campaign=locked)
    if locked.status != Campaign.Status.SELECTING:
        campaign_transition(
            campaign=locked, to_status=Campaign.Status.SELECTING, actor=actor
        )
    number = (locked.selection_runs.aggregate(top=models.Max("number"))["top"] or 0) + 1
    run = SelectionRun.objects.create(
        campaign=locked,
        number=number,
        snapshot=locked.snapshot,
        ruleset=_json_safe(ruleset),
        summary=ruleset_summary(ruleset),
        created_by=actor,
        progress_total=3,
        progress_step=gettext_noop("queued"),
    )
    _event(
        campaign=locked,
        kind=CampaignEvent.Kind.SELECTION,
        actor=actor,
        data={"run": run.number, "action": "started"},
    )
    from campaigns import tasks

    if enqueue:
        transaction.on_commit(lambda: tasks.run_selection.delay(run.pk))
    campaign.status = locked.status
    return run


def _json_safe(value):
    """Decimals to numbers so the rule set stores as JSON."""
    from decimal import Decimal

    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    if isinstance(value, Decimal):
        return int(value) if value == int(value) else float(value)
    return value


def _run_progress(run: SelectionRun, step: str, done: int) -> None:
    SelectionRun.objects.filter(pk=run.pk).update(
        progress_step=step, progress_done=done
    )


def selection_run_execute(*, run_id: int) -> SelectionRun:
    """Run a queued selection: members, funnel and counts, all or nothing.

    A failure leaves no member rows: they are written in one transaction with the
    run's figures, and the run records the error for the person who started it.
    """
    with transaction.atomic():
        run = SelectionRun.objects.select_for_update().get(pk=run_id)
        if run.status != SelectionRun.Status.QUEUED:
            return run
        run.move_to(SelectionRun.Status.RUNNING)
        run.progress_step = gettext_noop("selecting")
        run.progress_done = 1
        run.save(update_fields=["status", "progress_step", "progress_done"])
    campaign = run.campaign
    try:
        with transaction.atomic():
            # Lists approved elsewhere since the start count as they are now.
            context = _selection_context(campaign=campaign, ruleset=run.ruleset)
            context.snapshot = run.snapshot
            outcome = selection_execute(
                ruleset=run.ruleset,
                context=context,
                run_id=run.pk,
                member_table=SelectionMember._meta.db_table,
            )
            _run_progress(run, gettext_noop("counting"), 2)
            counts, warnings = _run_counts(run=run, outcome=outcome)
            run.refresh_from_db()
            run.move_to(SelectionRun.Status.PREVIEW)
            run.population = outcome.population
            run.funnel = outcome.funnel
            run.eligible_count = outcome.eligible
            run.selected_count = outcome.selected
            run.counts = counts
            run.warnings = warnings
            run.progress_step = gettext_noop("done")
            run.progress_done = 3
            run.finished_at = timezone.now()
            run.save()
    except Exception as exc:
        SelectionRun.objects.filter(pk=run.pk).update(
            status=SelectionRun.Status.FAILED,
            error=str(exc),
            finished_at=timezone.now(),
            progress_step=gettext_noop("failed"),
        )
        _selection_back_to_draft(campaign=campaign)
        run.refresh_from_db()
        if isinstance(exc, DomainError):
            return run
        raise
    return run


def _selection_back_to_draft(*, campaign: Campaign) -> None:
    """A campaign left selecting with no run in preview or running goes back to draft."""
    with transaction.atomic():
        locked = Campaign.objects.select_for_update().get(pk=campaign.pk)
        busy = locked.selection_runs.filter(
            status__in=[
                SelectionRun.Status.QUEUED,
                SelectionRun.Status.RUNNING,
                SelectionRun.Status.PREVIEW,
            ]
        ).exists()
        if locked.status == Campaign.Status.SELECTING and not busy:
            campaign_transition(campaign=locked, to_status=Campaign.Status.DRAFT)


def _run_counts(*, run: SelectionRun, outcome) -> tuple[dict, list[str]]:
    members = SelectionMember.objects.filter(run=run)
    cells = {}
    for row in (
        members.values("cell")
        .annotate(
            n_eligible=models.Count("id"),
            n_selected=models.Count("id", filter=models.Q(selected=True)),
            n_spilled=models.Count("id", filter=models.Q(spilled=True, selected=True)),
        )
        .order_by("cell")
    ):
        cells[row["cell"]] = {
            "eligible": row["n_eligible"],
            "selected": row["n_selected"],
            "spilled": row["n_spilled"],
        }
    warnings = []
    quotas = run.ruleset.get("quotas") or {}
    cell_rows = []
    for cell in quotas.get("cells") or []:
        label = " × ".join(cell["key"])
        found = cells.get(label, {"eligible": 0, "selected": 0, "spilled": 0})
        # Seats filled: the cell's own members plus those that spilled into it are
        # counted on their own cell, so a short cell shows what it lacked.
        own = found["selected"] - found["spilled"]
        cell_rows.append(
            {
                "cell": label,
                "seats": cell["seats"],
                "eligible": found["eligible"],
                "selected": own,
                "spilled_out": found["spilled"],
            }
        )
    spilled_total = sum(row["spilled_out"] for row in cell_rows)
    short_total = sum(max(row["seats"] - row["selected"], 0) for row in cell_rows)
    if cell_rows and short_total > spilled_total:
        warnings.append(
            _(
                "%(missing)s seats of the quota table stay empty: the eligible "
                "population cannot fill them, even with spill-over."
            )
            % {"missing": short_total - spilled_total}
        )
    total = quotas.get("total")
    if total and outcome.selected < total:
        warnings.append(
            _(
                "The total quota is %(total)s but only %(selected)s subscribers could "
                "be selected."
            )
            % {"total": total, "selected": outcome.selected}
        )
    if outcome.selected == 0:
        warnings.append(_("No subscriber is selected."))
    tiers = list(
        members.filter(selected=True)
        .values("tier", "customer_group", "gift_tier", "channel")
        .annotate(count=models.Count("id"))
        .order_by("tier")
    )
    lists = list(
        members.filter(selected=True)
        .values("list_name", "batch")
        .annotate(count=models.Count("id"))
        .order_by("list_name", "batch")
    )
    phases = list(
        members.filter(selected=True)
        .values("phase")
        .annotate(count=models.Count("id"))
        .order_by("phase")
    )
    return {
        "cells": cell_rows,
        "tiers": tiers,
        "lists": lists,
        "phases": phases,
    }, warnings


@transaction.atomic
def selection_run_commit(*, run: SelectionRun, actor=None) -> SelectionRun:
    """Freeze a previewed run as the campaign's candidate list (campaign: selected).

    Another committed run of the campaign is discarded: there is one candidate list.
    """
    locked = SelectionRun.objects.select_for_update().get(pk=run.pk)
    locked.move_to(SelectionRun.Status.COMMITTED)
    for other in SelectionRun.objects.select_for_update().filter(
        campaign=locked.campaign_id, status=SelectionRun.Status.COMMITTED
    ):
        other.move_to(SelectionRun.Status.DISCARDED)
        other.save(update_fields=["status"])
    locked.decided_by = actor
    locked.decided_at = timezone.now()
    locked.save(update_fields=["status", "decided_by", "decided_at"])
    campaign = locked.campaign
    if campaign.status != Campaign.Status.SELECTED:
        campaign_transition(
            campaign=campaign, to_status=Campaign.Status.SELECTED, actor=actor
        )
    _event(
        campaign=campaign,
        kind=CampaignEvent.Kind.SELECTION,
        actor=actor,
        data={"run": locked.number, "action": "committed"},
    )
    return locked


@transaction.atomic
def selection_run_discard(*, run: SelectionRun, actor=None) -> SelectionRun:
    """Drop a run's list; the run stays in the history with its figures."""
    locked = SelectionRun.objects.select_for_update().get(pk=run.pk)
    was = locked.status
    locked.move_to(SelectionRun.Status.DISCARDED)
    locked.decided_by = actor
    locked.decided_at = timezone.now()
    locked.save(update_fields=["status", "decided_by", "decided_at"])
    SelectionMember.objects.filter(run=locked).delete()
    campaign = Campaign.objects.select_for_update().get(pk=locked.campaign_id)
    if (
        was == SelectionRun.Status.COMMITTED
        and campaign.status == Campaign.Status.SELECTED
    ):
        campaign_transition(
            campaign=campaign, to_status=Campaign.Status.DRAFT, actor=actor
        )
    elif was == SelectionRun.Status.PREVIEW:
        _selection_back_to_draft(campaign=campaign)
    _event(
        campaign=campaign,
        kind=CampaignEvent.Kind.SELECTION,
        actor=actor,
        data={"run": locked.number, "action": "discarded"},
    )
    return locked


# Sent inside the approving transaction with `run=` and `actor=`; receivers in later
# apps (gifts invites the members) defer their work with transaction.on_commit.
selection_approved = Signal()


@transaction.atomic
def selection_run_approve(*, run: SelectionRun, actor=None) -> SelectionRun:
    """Lock a committed run as the campaign's list (campaign: approved)."""
    locked = SelectionRun.objects.select_for_update().get(pk=run.pk)
    locked.move_to(SelectionRun.Status.APPROVED)
    locked.approved_by = actor
    locked.approved_at = timezone.now()
    locked.save(update_fields=["status", "approved_by", "approved_at"])
    campaign_transition(
        campaign=locked.campaign, to_status=Campaign.Status.APPROVED, actor=actor
    )
    _event(
        campaign=locked.campaign,
        kind=CampaignEvent.Kind.SELECTION,
        actor=actor,
        data={"run": locked.number, "action": "approved"},
    )
    selection_approved.send(sender=SelectionRun, run=locked, actor=actor)
    return locked
