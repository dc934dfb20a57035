"""Reads for the console and the supervisors' pages, scoped to who is asking."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal

from django.db import connection
from django.db.models import Count, Exists, OuterRef, Q
from django.http import Http404
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from callcenter.models import (
    LOCAL_ZONE,
    Call,
    CallEvent,
    CallRequest,
    CallTask,
    Disposition,
    Qualifier,
    RequestKind,
    Script,
    TaskStatus,
)
from campaigns.models import Campaign
from eligibility.models import BillingRecord, Subscriber
from messaging.models import DoNotContact

QUEUE_PAGE = 50


def is_agent(user) -> bool:
    return user.is_active and user.has_perm("callcenter.work_calls")


def is_supervisor(user) -> bool:
    return user.is_active and user.has_perm("callcenter.supervise_calls")


def vnd(value) -> str:
    """500.000 đ"""
    if value is None:
        return ""
    return f"{int(round(value)):,} đ".replace(",", ".")


def local_text(moment: datetime | None) -> str:
    if moment is None:
        return ""
    return timezone.localtime(moment, LOCAL_ZONE).strftime("%H:%M %d/%m/%Y")


def campaigns_for(user):
    """Campaigns with a script: the ones the call centre works."""
    return Campaign.objects.filter(call_script__isnull=False).order_by("code")


def not_blocked():
    return ~Exists(DoNotContact.objects.filter(msisdn=OuterRef("msisdn")))


def queue_parts(*, campaign_id: int, agent_id: int | None, now: datetime):
    """The queue of one agent (None: the shared pool) as its two ordered parts.

    Due callbacks come first, earliest first; then the rest by the member's rank in
    the approved list, which is the campaign's priority (ARPU, churn risk). Each
    part walks the queue index in order, so reading the head of the queue does not
    sort the agent's whole list.
    """
    base = CallTask.objects.filter(
        campaign_id=campaign_id, agent_id=agent_id, available_at__lte=now
    ).filter(not_blocked())
    return [
        base.filter(status=TaskStatus.CALLBACK).order_by("callback_at", "rank", "id"),
        base.filter(status=TaskStatus.OPEN).order_by("rank", "id"),
    ]


QUEUE_COLUMNS = [
    "id",
    "msisdn",
    "full_name",
    "rank",
    "status",
    "callback_at",
    "attempts",
    "last_disposition",
    "escalated_at",
]


def queue_page(
    *, campaign_id: int, agent_id: int | None, now: datetime, limit: int = QUEUE_PAGE
) -> list[dict]:
    """One page of the queue as plain rows (the page shows these columns only).

    Two ordered, limited parts in one UNION ALL, due callbacks then the rest by rank,
    so PostgreSQL walks the queue index and stops after a page instead of sorting
    every workable row of the agent. The same rows as `queue_parts`, written out as
    one statement: agents reload this page after every call, and building and
    compiling the two-part union through the ORM took twice as long as running it.
    """
    columns = ", ".join(f"t.{name}" for name in QUEUE_COLUMNS)
    agent_test = "t.agent_id IS NULL" if agent_id is None else "t.agent_id = %(agent)s"
    part = f"""
        SELECT {columns}, %(bucket{{n}})s AS bucket
        FROM {CallTask._meta.db_table} t
        WHERE t.campaign_id = %(campaign)s AND {agent_test}
          AND t.status = %(status{{n}})s AND t.available_at <= %(now)s
          AND NOT EXISTS (
            SELECT 1 FROM {DoNotContact._meta.db_table} d WHERE d.msisdn = t.msisdn
          )
    """
    sql = f"""
        SELECT * FROM (
          ({part.format(n=0)} ORDER BY t.callback_at, t.rank, t.id LIMIT %(limit)s)
          UNION ALL
          ({part.format(n=1)} ORDER BY t.rank, t.id LIMIT %(limit)s)
        ) page
        ORDER BY bucket, callback_at, rank, id
        LIMIT %(limit)s
    """
    params = {
        "campaign": campaign_id,
        "agent": agent_id,
        "now": now,
        "limit": limit,
        "bucket0": 0,
        "status0": TaskStatus.CALLBACK.value,
        "bucket1": 1,
        "status1": TaskStatus.OPEN.value,
    }
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        names = [column.name for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


@dataclass
class QueueSummary:
    mine: int = 0
    callbacks_due: int = 0
    pool: int = 0
    later: int = 0


def queue_summary(*, campaign_id: int, agent_id: int, now: datetime) -> QueueSummary:
    mine = CallTask.objects.filter(
        Q(agent_id=agent_id) | Q(agent__isnull=True),
        campaign_id=campaign_id,
        status__in=[TaskStatus.OPEN, TaskStatus.CALLBACK],
    )
    counts = mine.aggregate(
        mine=Count("id", filter=Q(agent_id=agent_id, available_at__lte=now)),
        callbacks_due=Count(
            "id",
            filter=Q(
                agent_id=agent_id,
                status=TaskStatus.CALLBACK,
                available_at__lte=now,
            ),
        ),
        pool=Count("id", filter=Q(agent__isnull=True, available_at__lte=now)),
        later=Count("id", filter=Q(agent_id=agent_id, available_at__gt=now)),
    )
    return QueueSummary(**counts)


def task_for(*, user, task_id: int) -> CallTask:
    """The task if `user` may see it: an agent only their own, supervisors any."""
    task = (
        CallTask.objects.select_related("campaign", "member", "agent")
        .filter(pk=task_id)
        .first()
    )
    if task is None:
        raise Http404
    if is_supervisor(user) or (is_agent(user) and task.agent_id == user.pk):
        return task
    raise Http404


# --- What the script needs ----------------------------------------------------------


@dataclass
class Facts:
    """A customer's data as the script uses it."""

    subscriber: Subscriber | None
    arpu: Decimal | None = None
    voice_share: int | None = None
    data_share: int | None = None
    values: dict[str, str] = field(default_factory=dict)
    qualified: list[str] = field(default_factory=list)


def _usage(
    task: CallTask, snapshot_id
) -> tuple[Decimal | None, int | None, int | None]:
    """Average monthly spend and voice / data shares over the last three cycles."""
    rows = list(
        BillingRecord.objects.filter(snapshot_id=snapshot_id, msisdn=task.msisdn)
        .order_by("-cycle")
        .values("revenue_total", "revenue_voice", "revenue_data")[:3]
    )
    if not rows:
        arpu = task.member.values.get("revenue_avg") if task.member else None
        return (Decimal(str(arpu)) if arpu is not None else None), None, None
    total = sum(row["revenue_total"] for row in rows)
    voice = sum(row["revenue_voice"] for row in rows)
    data = sum(row["revenue_data"] for row in rows)
    arpu = Decimal(total) / len(rows)
    if not total:
        return arpu, None, None
    return arpu, round(100 * voice / total), round(100 * data / total)


def qualifies(qualifier: str, subscriber: Subscriber | None) -> bool:
    if qualifier == Qualifier.ALWAYS:
        return True
    if subscriber is None:
        return False
    return {
        Qualifier.HAS_POINTS: subscriber.loyalty_points > 0,
        Qualifier.NO_PACKAGE: not subscriber.package_code,
        Qualifier.RECORD_NOT_STANDARD: not subscriber.record_standardized
        or not subscriber.is_owner,
        Qualifier.NO_APP: not subscriber.has_app,
        Qualifier.MVAS_IDLE: subscriber.mvas_idle_2m,
    }.get(qualifier, False)


def customer_facts(*, task: CallTask, script: Script, gifts, stores) -> Facts:
    campaign = task.campaign
    subscriber = (
        Subscriber.objects.filter(snapshot_id=campaign.snapshot_id, msisdn=task.msisdn)
        .order_by()
        .first()
    )
    arpu, voice, data = _usage(task, campaign.snapshot_id)
    today = timezone.localtime(timezone.now(), LOCAL_ZONE).date()
    values = {
        "Tên KH": task.full_name or (subscriber.full_name if subscriber else ""),
        "Số TB": task.msisdn,
        "Điểm": f"{subscriber.loyalty_points:,}".replace(",", ".")
        if subscriber
        else "",
        "Hạng": (subscriber.loyalty_tier or "") if subscriber else "",
        "ARPU": vnd(arpu),
        "Tỷ lệ thoại": f"{voice}%" if voice is not None else "",
        "Tỷ lệ data": f"{data}%" if data is not None else "",
        "Gói cước": (subscriber.package_code if subscriber else "") or "—",
        "Gói đề xuất": script.offer_package,
        "Giá gói": script.offer_price,
        "Ưu đãi gói": script.offer_bonus,
        "Quà": "; ".join(
            f"{number}. {gift.name}" for number, gift in enumerate(gifts, start=1)
        ),
        "Cửa hàng": "; ".join(f"{store.name} ({store.address})" for store in stores),
        "Quận/Huyện": task.member.district if task.member else "",
        "Hạn cập nhật": (today + timedelta(days=script.record_update_days)).strftime(
            "%d/%m/%Y"
        ),
    }
    qualified = [
        step.code for step in script.topics() if qualifies(step.qualifier, subscriber)
    ]
    return Facts(
        subscriber=subscriber,
        arpu=arpu,
        voice_share=voice,
        data_share=data,
        values=values,
        qualified=qualified,
    )


def rule_met(*, script: Script, qualified: list[str], covered: list[str]) -> bool:
    """At least `min_topics` of the customer's topics covered, in priority order.

    The topics the customer qualifies for are taken by priority; the call meets the
    rule when it covered the first `min_topics` of them (all, if there are fewer).
    """
    needed = qualified[: script.min_topics]
    return set(needed) <= set(covered)


EVENT_LABELS = {
    "claimed": _("taken from the shared pool"),
    "call_ended": _("call ended"),
    "gift_chosen": _("gift recorded"),
    "callback_escalated": _("callback escalated"),
    "request_package": _("package registration"),
    "request_loyalty": _("loyalty sign-up"),
    "request_record_update": _("record update"),
    "request_mvas_cancel": _("mVAS cancellation"),
    "request_app": _("app link"),
    "request_complaint": _("complaint"),
}


def timeline(task: CallTask, limit: int = 30):
    """The customer's history, newest first, read from the audit events."""
    events = list(CallEvent.objects.filter(task=task).select_related("actor")[:limit])
    for event in events:
        event.label = EVENT_LABELS.get(event.kind, event.kind)
        disposition = event.data.get("disposition")
        event.outcome = Disposition(disposition).label if disposition else ""
    return events


# --- Supervisors --------------------------------------------------------------------


def progress_by_agent(*, campaign_id: int) -> list[dict]:
    """Per agent (and the pool): tasks by status, with calls by outcome."""
    tasks = (
        CallTask.objects.filter(campaign_id=campaign_id)
        .values("agent_id", "agent__username")
        .annotate(
            total=Count("id"),
            open=Count("id", filter=Q(status=TaskStatus.OPEN)),
            callback=Count("id", filter=Q(status=TaskStatus.CALLBACK)),
            done=Count("id", filter=Q(status=TaskStatus.DONE)),
            closed=Count(
                "id", filter=Q(status__in=[TaskStatus.CLOSED, TaskStatus.DO_NOT_CALL])
            ),
            escalated=Count(
                "id", filter=Q(status=TaskStatus.CALLBACK, escalated_at__isnull=False)
            ),
        )
        .order_by("agent__username")
    )
    calls = {
        row["agent_id"]: row
        for row in Call.objects.filter(task__campaign_id=campaign_id)
        .values("agent_id")
        .annotate(
            calls=Count("id"),
            rule_missed=Count(
                "id",
                filter=Q(
                    rule_met=False,
                    disposition__in=[Disposition.DONE, Disposition.REACHED],
                ),
            ),
            **{
                f"d_{value}": Count("id", filter=Q(disposition=value))
                for value in Disposition.values
            },
        )
    }
    rows = []
    for row in tasks:
        call_row = calls.get(row["agent_id"], {})
        row["calls"] = call_row.get("calls", 0)
        row["rule_missed"] = call_row.get("rule_missed", 0)
        row["dispositions"] = [
            call_row.get(f"d_{value}", 0) for value in Disposition.values
        ]
        rows.append(row)
    return rows


def campaign_totals(*, campaign_id: int) -> dict:
    totals = Call.objects.filter(task__campaign_id=campaign_id).aggregate(
        calls=Count("id"),
        reached=Count(
            "id", filter=Q(disposition__in=[Disposition.DONE, Disposition.REACHED])
        ),
        rule_missed=Count(
            "id",
            filter=Q(
                rule_met=False, disposition__in=[Disposition.DONE, Disposition.REACHED]
            ),
        ),
    )
    complaints = CallRequest.objects.filter(
        task__campaign_id=campaign_id,
        kind=RequestKind.COMPLAINT,
        status=CallRequest.Status.OPEN,
    )
    totals["complaints_open"] = complaints.count()
    totals["complaints_overdue"] = complaints.filter(due_at__lt=timezone.now()).count()
    totals["reasons"] = list(
        Call.objects.filter(
            task__campaign_id=campaign_id, disposition=Disposition.NOT_INTERESTED
        )
        .values("reason")
        .annotate(n=Count("id"))
        .order_by("-n", "reason")[:20]
    )
    return totals


def agents():
    from django.contrib.auth import get_user_model

    User = get_user_model()
    return (
        User.objects.filter(is_active=True)
        .filter(
            Q(groups__permissions__codename="work_calls")
            | Q(user_permissions__codename="work_calls")
        )
        .distinct()
        .order_by("username")
    )
