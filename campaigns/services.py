"""Writes to campaigns. Each function is one transaction that also records its event."""

from __future__ import annotations

from datetime import date
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns.definitions import definition_changes
from campaigns.models import (
    Campaign,
    CampaignBatch,
    CampaignEvent,
    CampaignPhase,
)
from eligibility.models import DomainError, Snapshot

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
