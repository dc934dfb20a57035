"""Writes of the call centre: call lists, assignments, calls and what they produce."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from callcenter import selectors
from callcenter.models import (
    Call,
    CallEvent,
    CallRequest,
    CallTask,
    Disposition,
    RequestKind,
    Script,
    TaskStatus,
)
from campaigns.models import Campaign, SelectionMember, SelectionRun
from eligibility.models import DomainError

COMPLAINT_HOURS = 48


class Conflict(DomainError):
    """Someone else changed the customer since the form was drawn."""


def _event(
    *, task: CallTask | None, campaign_id: int, kind: str, actor=None, data=None
):
    CallEvent.objects.create(
        task=task, campaign_id=campaign_id, kind=kind, actor=actor, data=data or {}
    )


def script_for(campaign_id: int) -> Script:
    script = Script.objects.filter(campaign_id=campaign_id).first()
    if script is None:
        raise DomainError(_("This campaign has no call script yet."))
    return script


# --- Call lists and assignment ------------------------------------------------------


@transaction.atomic
@transaction.atomic
def call_list_load(*, campaign: Campaign, actor=None) -> int:
    """Put every selected member of the campaign's approved list in its call queue.

    One INSERT … SELECT; members already queued are skipped, so loading again after
    nothing changed adds nobody. New tasks go to the shared pool (no agent).

    When the campaign offers gifts, members not yet invited get an invitation without
    a password (no SMS): agents choose the gift on the call, under the gift site's
    stock rules.
    """
    run = SelectionRun.objects.filter(
        campaign=campaign, status=SelectionRun.Status.APPROVED
    ).first()
    if run is None:
        raise DomainError(_("The campaign has no approved list to call."))
    now = timezone.now()
    table = CallTask._meta.db_table
    members = SelectionMember._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {table} (
                campaign_id, member_id, msisdn, full_name, rank, status,
                available_at, attempts, last_disposition, revision, updated_at
            )
            SELECT %s, m.id, m.msisdn, m.full_name, m.rank, %s, %s, 0, '', 0, %s
            FROM {members} m
            WHERE m.run_id = %s AND m.selected
            ON CONFLICT (campaign_id, msisdn) DO NOTHING
            """,
            [campaign.pk, TaskStatus.OPEN, now, now, run.pk],
        )
        added = cursor.rowcount
    from gifts import services as gift_services
    from gifts.models import Gift

    if Gift.objects.filter(campaign=campaign, active=True).exists():
        gift_services.invitations_issue(run=run, actor=actor, send_passwords=False)
    _event(
        task=None,
        campaign_id=campaign.pk,
        kind="list_loaded",
        actor=actor,
        data={"run": run.number, "added": added},
    )
    return added


@transaction.atomic
def tasks_assign(*, campaign: Campaign, agent, count: int, actor=None) -> int:
    """Give the agent the `count` highest-priority customers of the shared pool.

    One UPDATE over a ranked sub-select; the outer `agent IS NULL` is re-checked by
    PostgreSQL on rows another transaction took meanwhile, so nobody is given twice.
    """
    if count < 1:
        raise DomainError(_("Give a number of customers above zero."))
    ids = (
        CallTask.objects.filter(
            campaign=campaign,
            agent__isnull=True,
            status__in=[TaskStatus.OPEN, TaskStatus.CALLBACK],
        )
        .order_by("rank")
        .values("pk")[:count]
    )
    moved = CallTask.objects.filter(pk__in=ids, agent__isnull=True).update(
        agent=agent, revision=F("revision") + 1, updated_at=timezone.now()
    )
    _event(
        task=None,
        campaign_id=campaign.pk,
        kind="assigned",
        actor=actor,
        data={"agent": agent.username, "count": moved},
    )
    return moved


@transaction.atomic
def tasks_move(
    *,
    campaign: Campaign,
    from_agent,
    to_agent=None,
    count: int | None = None,
    actor=None,
) -> int:
    """Move open work from one agent to another (or to the pool), in one UPDATE.

    Finished customers stay with whoever called them, for the reports.
    """
    if to_agent is not None and from_agent.pk == to_agent.pk:
        raise DomainError(_("Choose two different agents."))
    rows = CallTask.objects.filter(
        campaign=campaign,
        agent=from_agent,
        status__in=[TaskStatus.OPEN, TaskStatus.CALLBACK],
    )
    if count is not None:
        rows = CallTask.objects.filter(
            pk__in=rows.order_by("-rank").values("pk")[:count], agent=from_agent
        )
    moved = rows.update(
        agent=to_agent, revision=F("revision") + 1, updated_at=timezone.now()
    )
    _event(
        task=None,
        campaign_id=campaign.pk,
        kind="moved",
        actor=actor,
        data={
            "from": from_agent.username,
            "to": to_agent.username if to_agent else None,
            "count": moved,
        },
    )
    return moved


def task_claim_next(
    *, campaign: Campaign, agent, now: datetime | None = None
) -> CallTask | None:
    """The agent's next customer: their own queue first, else one from the pool.

    Rows are read with FOR UPDATE SKIP LOCKED, so agents pressing "next" at once
    each get a different customer and nobody waits for another's lock.
    """
    now = now or timezone.now()
    script = script_for(campaign.pk)
    if not script.in_hours(now):
        raise DomainError(
            _("Calls are made between %(start)s and %(end)s.")
            % {
                "start": script.calling_from.strftime("%H:%M"),
                "end": script.calling_to.strftime("%H:%M"),
            }
        )
    with transaction.atomic():
        for agent_id in (agent.pk, None):
            for part in selectors.queue_parts(
                campaign_id=campaign.pk, agent_id=agent_id, now=now
            ):
                task = part.select_for_update(skip_locked=True, of=("self",)).first()
                if task is None:
                    continue
                if agent_id is None:
                    task.agent = agent
                    task.revision += 1
                    task.updated_at = now
                    task.save(update_fields=["agent", "revision", "updated_at"])
                    _event(
                        task=task,
                        campaign_id=campaign.pk,
                        kind="claimed",
                        actor=agent,
                        data={"from_pool": True},
                    )
                return task
    return None


# --- During the call ----------------------------------------------------------------


def _locked_task(*, task_id: int, agent) -> CallTask:
    task = (
        CallTask.objects.select_for_update().select_related("campaign").get(pk=task_id)
    )
    if task.agent_id != agent.pk:
        raise DomainError(_("This customer is not in your queue any more."))
    return task


@transaction.atomic
def request_add(
    *, task: CallTask, agent, kind: str, details: dict, now: datetime | None = None
) -> CallRequest:
    """Record what the call produced. Requests are only added, so two agents'
    requests for the same customer are both kept."""
    now = now or timezone.now()
    if kind not in RequestKind.values:
        raise DomainError(_("Unknown request."))
    locked = _locked_task(task_id=task.pk, agent=agent)
    if locked.is_finished:
        raise DomainError(_("The call with this customer is already closed."))
    details = {
        key: " ".join(str(value).split())[:300] for key, value in details.items()
    }
    due_at = None
    if kind == RequestKind.COMPLAINT:
        if not details.get("text"):
            raise DomainError(_("Write down the complaint."))
        due_at = now + timedelta(hours=COMPLAINT_HOURS)
    if kind == RequestKind.PACKAGE and not details.get("package"):
        raise DomainError(_("Name the package to register."))
    request = CallRequest.objects.create(
        task=locked,
        kind=kind,
        details=details,
        due_at=due_at,
        created_by=agent,
        created_at=now,
    )
    if kind == RequestKind.LOYALTY:
        # Where loyalty sign-ups are kept, beside those made by SMS.
        from messaging import services as messaging_services

        messaging_services.loyalty_signup_on_call(msisdn=locked.msisdn, at=now)
    _event(
        task=locked,
        campaign_id=locked.campaign_id,
        kind=f"request_{kind}",
        actor=agent,
        data={"request": request.pk, **details},
    )
    return request


def invitation_for(task: CallTask):
    from gifts.models import Invitation

    return (
        Invitation.objects.filter(campaign_id=task.campaign_id, msisdn=task.msisdn)
        .order_by()
        .first()
    )


def gift_choose(
    *,
    task: CallTask,
    agent,
    gift_id: int,
    revision: int,
    recipient_name: str = "",
    address: str = "",
    store_id: int | None = None,
    extra: dict | None = None,
):
    """Record the gift the customer chose for their points, through the gift site's
    own service: its stock, deadline and detail rules apply unchanged."""
    from gifts import services as gift_services

    with transaction.atomic():
        locked = _locked_task(task_id=task.pk, agent=agent)
        invitation = invitation_for(locked)
        if invitation is None:
            raise DomainError(
                _("This customer has no gift invitation in the campaign.")
            )
        choice = gift_services.choice_make(
            invitation=invitation,
            gift_id=gift_id,
            revision=revision,
            details=gift_services.ChoiceDetails(
                recipient_name=recipient_name,
                address=address,
                store_id=store_id,
                extra=extra or {},
            ),
            agent=agent,
        )
        _event(
            task=locked,
            campaign_id=locked.campaign_id,
            kind="gift_chosen",
            actor=agent,
            data={"gift": choice.gift.name, "code": choice.code},
        )
    return choice


# --- Ending the call ----------------------------------------------------------------


@dataclass
class CallEnd:
    disposition: str
    started_at: datetime
    topics: list[str]
    reason: str = ""
    callback_at: datetime | None = None
    callback_anyone: bool = False
    note: str = ""


def call_end(
    *, task: CallTask, agent, revision: int, end: CallEnd, now: datetime | None = None
) -> Call:
    """End a call: record it, move the customer on, queue the follow-up messages.

    Refused (Conflict) if the customer changed since the agent's page was drawn.
    Busy with a time agreed becomes a callback (for this agent, or anyone); busy
    without one and no answer come back after the script's delay until the maximum
    attempts; not interested needs a reason; "do not call" adds the number to the
    do-not-contact list.
    """
    from messaging import services as messaging_services
    from messaging.models import DoNotContact

    now = now or timezone.now()
    with transaction.atomic():
        locked = _locked_task(task_id=task.pk, agent=agent)
        if locked.revision != revision:
            raise Conflict(
                _(
                    "Someone else changed this customer while you were on the call. "
                    "Here is what is recorded now; your requests are kept."
                )
            )
        if locked.is_finished:
            raise DomainError(_("The call with this customer is already closed."))
        script = script_for(locked.campaign_id)
        disposition = end.disposition
        if disposition not in Disposition.values:
            raise DomainError(_("Choose how the call ended."))
        reason = " ".join(end.reason.split())[:300]
        if disposition == Disposition.NOT_INTERESTED and not reason:
            raise DomainError(_("Ask why and write down the reason."))
        callback_at = end.callback_at
        if callback_at is not None:
            if callback_at <= now:
                raise DomainError(_("The callback time must be later than now."))
            if not script.in_hours(callback_at):
                raise DomainError(
                    _("Callbacks are made between %(start)s and %(end)s.")
                    % {
                        "start": script.calling_from.strftime("%H:%M"),
                        "end": script.calling_to.strftime("%H:%M"),
                    }
                )
        if disposition == Disposition.REACHED and callback_at is None:
            raise DomainError(
                _(
                    "Agree a time to continue the call, or end it as done if "
                    "nothing is left."
                )
            )
        steps = {step.code for step in script.steps.all()}
        topics = [code for code in dict.fromkeys(end.topics) if code in steps]
        facts = selectors.customer_facts(
            task=locked, script=script, gifts=[], stores=[]
        )
        met = selectors.rule_met(
            script=script, qualified=facts.qualified, covered=topics
        )

        locked.attempts += 1
        locked.last_disposition = disposition
        locked.callback_reminded_at = None
        locked.escalated_at = None
        if disposition in (Disposition.BUSY, Disposition.REACHED) and callback_at:
            locked.move_to(TaskStatus.CALLBACK)
            locked.callback_at = callback_at
            locked.available_at = callback_at
            if end.callback_anyone:
                locked.agent = None
        elif disposition in (Disposition.BUSY, Disposition.NO_ANSWER):
            if locked.attempts >= script.max_attempts:
                locked.move_to(TaskStatus.CLOSED)
            else:
                locked.move_to(TaskStatus.OPEN)
                locked.available_at = script.next_in_hours(
                    now + timedelta(minutes=script.retry_minutes)
                )
            locked.callback_at = None
        elif disposition in (Disposition.WRONG_PERSON, Disposition.NOT_INTERESTED):
            locked.move_to(TaskStatus.CLOSED)
            locked.callback_at = None
        elif disposition == Disposition.DO_NOT_CALL:
            locked.move_to(TaskStatus.DO_NOT_CALL)
            locked.callback_at = None
            messaging_services.do_not_contact_add(
                msisdn=locked.msisdn,
                source=DoNotContact.Source.STAFF,
                note=_("Asked on a call not to be called (%(campaign)s).")
                % {"campaign": locked.campaign.code},
                actor=agent,
            )
        else:  # done
            locked.move_to(TaskStatus.DONE)
            locked.callback_at = None
        locked.revision += 1
        locked.updated_at = now
        locked.save()
        call = Call.objects.create(
            task=locked,
            agent=agent,
            started_at=min(end.started_at, now),
            ended_at=now,
            disposition=disposition,
            reason=reason,
            callback_at=callback_at,
            qualified_topics=facts.qualified,
            topics=topics,
            rule_met=met,
            note=end.note[:2000],
        )
        follow_ups = []
        if disposition in (Disposition.DONE, Disposition.REACHED):
            follow_ups = _follow_ups_enqueue(
                task=locked, call=call, facts=facts, script=script, now=now
            )
        _event(
            task=locked,
            campaign_id=locked.campaign_id,
            kind="call_ended",
            actor=agent,
            data={
                "call": call.pk,
                "disposition": disposition,
                "reason": reason,
                "callback_at": callback_at.isoformat() if callback_at else None,
                "callback_anyone": end.callback_anyone,
                "topics": topics,
                "rule_met": met,
                "follow_ups": follow_ups,
            },
        )
    return call


def _follow_ups_enqueue(*, task, call, facts, script, now) -> list[str]:
    """The SMS / Zalo messages the call promised, into the messaging outbox.

    The outbox key (campaign, number, purpose, sequence) makes a second call's
    promise of the same message a no-op. A campaign without the template simply gets
    no message; the event says which were queued.
    """
    from messaging import services as messaging_services
    from messaging.models import Channel, Purpose

    requests = {
        request.kind: request
        for request in task.requests.filter(created_at__gte=call.started_at)
    }
    subscriber = facts.subscriber
    name = facts.values.get("Tên KH", "")
    wanted: list[tuple[str, str, str, dict]] = []
    if RequestKind.LOYALTY in requests:
        wanted.append(
            (
                Purpose.LOYALTY_SIGNUP,
                "",
                Channel.SMS,
                {
                    "name": name,
                    "points": subscriber.loyalty_points if subscriber else 0,
                },
            )
        )
    package = requests.get(RequestKind.PACKAGE)
    if package and package.details.get("enough_balance") != "yes":
        wanted.append(
            (
                Purpose.PACKAGE_OFFER,
                "",
                Channel.SMS,
                {
                    "package": package.details.get("package", script.offer_package),
                    "price": script.offer_price,
                    "bonus": script.offer_bonus,
                    "gift": _("a gift"),
                    "name": name,
                },
            )
        )
    record = requests.get(RequestKind.RECORD_UPDATE)
    if record and record.details.get("online") == "yes":
        wanted.append((Purpose.ZALO_RECORD_UPDATE, "", Channel.ZALO, {"name": name}))
    if RequestKind.APP in requests:
        wanted.append((Purpose.APP_LINK, "my_mobifone", Channel.SMS, {"name": name}))
    invitation = invitation_for(task)
    if invitation is not None:
        choice = invitation.choices.select_related("gift", "store").first()
        if choice is not None and choice.store is not None:
            wanted.append(
                (
                    Purpose.STORE_INVITATION,
                    "",
                    Channel.SMS,
                    {
                        "name": name,
                        "store": f"{choice.store.name}, {choice.store.address}",
                        "gift": choice.gift.name,
                    },
                )
            )
    queued = []
    for purpose, variant, channel, context in wanted:
        try:
            messaging_services.message_enqueue(
                campaign=task.campaign,
                msisdn=task.msisdn,
                purpose=purpose,
                variant=variant,
                channel=channel,
                context=context,
                event_at=now,
            )
        except DomainError:
            continue
        queued.append(f"{purpose}:{variant}" if variant else str(purpose))
    return queued


# --- Callbacks ----------------------------------------------------------------------


@dataclass
class SweepResult:
    reminded: int = 0
    escalated: int = 0


def callbacks_sweep(*, now: datetime | None = None) -> SweepResult:
    """Remind agents of callbacks now due, escalate the ones left too long.

    Set-based per campaign: one UPDATE marks due callbacks reminded (the queue shows
    them first, flagged); one UPDATE hands callbacks overdue by the script's
    escalation delay to the shared pool, so any agent takes them, and flags them for
    the supervisor.
    """
    now = now or timezone.now()
    result = SweepResult()
    with transaction.atomic():
        result.reminded = CallTask.objects.filter(
            status=TaskStatus.CALLBACK,
            callback_at__lte=now,
            callback_reminded_at__isnull=True,
        ).update(callback_reminded_at=now)
        for script in Script.objects.all():
            overdue = CallTask.objects.filter(
                campaign_id=script.campaign_id,
                status=TaskStatus.CALLBACK,
                callback_at__lte=now - timedelta(minutes=script.escalate_minutes),
                escalated_at__isnull=True,
            )
            ids = list(overdue.values_list("pk", flat=True))
            if not ids:
                continue
            result.escalated += CallTask.objects.filter(pk__in=ids).update(
                escalated_at=now,
                agent=None,
                revision=F("revision") + 1,
                updated_at=now,
            )
            CallEvent.objects.bulk_create(
                CallEvent(
                    task_id=pk,
                    campaign_id=script.campaign_id,
                    kind="callback_escalated",
                    created_at=now,
                )
                for pk in ids
            )
    return result
