"""Writes of the fulfilment app: orders released to partners, results applied, sweeps.

Every function here is one transaction that writes its audit event; batch work is
set-based SQL written to run on PostgreSQL and on SQLite (the demo).
"""

from __future__ import annotations

import hashlib
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from django.db import connection, transaction
from django.db.models import Count, F, OuterRef, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from campaigns import services as campaign_services
from campaigns.models import Campaign, SelectionMember, SelectionRun
from eligibility.models import DomainError, Subscriber
from eligibility.spreadsheets import UnreadableFile, open_table
from fulfilment.models import (
    FulfilmentEvent,
    FulfilmentSettings,
    Order,
    OrderResult,
    OrderStatus,
    Partner,
    PartnerAssignment,
    ResultUpload,
    end_of_day,
)
from gifts.models import (
    CAMPAIGN_ZONE,
    Choice,
    Gift,
    GiftSettings,
    Invitation,
    NoChoicePolicy,
)

# Campaign statuses after which no choice can change any more: everything chosen is
# final, whatever the invitations' own deadlines say.
FINAL_STATUSES = (
    Campaign.Status.CLOSED,
    Campaign.Status.FULFILLED,
    Campaign.Status.DONE,
)

MAX_UPLOAD_ROWS = 100_000
# Distinct invitation deadlines written into one release statement as a CASE.
MAX_CASES = 200


def fulfilment_settings_for(campaign: Campaign) -> FulfilmentSettings:
    row, _created = FulfilmentSettings.objects.get_or_create(campaign=campaign)
    return row


def partner_for_user(user) -> Partner | None:
    """The partner a login belongs to, or None (staff, or nobody)."""
    if not user.is_authenticated:
        return None
    link = getattr(user, "partner_link", None)
    try:
        return link.partner if link is not None else None
    except Partner.DoesNotExist:  # pragma: no cover - cascade keeps this consistent
        return None


def _event(*, campaign, kind: str, partner=None, actor=None, data=None):
    return FulfilmentEvent.objects.create(
        campaign=campaign, partner=partner, kind=kind, actor=actor, data=data or {}
    )


def local_today(now: datetime | None = None) -> date:
    return timezone.localtime(now or timezone.now(), CAMPAIGN_ZONE).date()


# --- Partners ---------------------------------------------------------------------------


@transaction.atomic
def partner_assign(
    *, campaign: Campaign, partner: Partner, channel: str, gifts=(), actor=None
) -> PartnerAssignment:
    """The partner fulfils the campaign's gifts of `channel` (`gifts`: only those)."""
    assignment, _created = PartnerAssignment.objects.get_or_create(
        campaign=campaign, partner=partner, channel=channel
    )
    assignment.gifts.set(gifts)
    _event(
        campaign=campaign,
        partner=partner,
        kind=FulfilmentEvent.Kind.ASSIGNED,
        actor=actor,
        data={"assigned": channel, "gifts": [gift.code for gift in gifts]},
    )
    return assignment


# --- Orders -----------------------------------------------------------------------------


def _window_closed_everywhere(campaign: Campaign, now: datetime) -> bool:
    """No invitation of the campaign can still change its choice."""
    if campaign.status in FINAL_STATUSES:
        return True
    gift_settings = GiftSettings.objects.filter(campaign=campaign).first()
    cutoff = now
    if gift_settings and gift_settings.no_choice_policy == NoChoicePolicy.CALL:
        cutoff = now - timedelta(days=gift_settings.call_days)
    invitations = Invitation.objects.filter(campaign=campaign)
    return (
        invitations.exists()
        and not invitations.filter(status=Invitation.Status.ISSUED).exists()
        and not invitations.filter(deadline__gte=cutoff).exists()
    )


def _partner_by_gift(campaign: Campaign) -> dict[int, int]:
    """gift id -> partner id: a partner naming the gift wins over one taking all."""
    mapping: dict[int, int] = {}
    assignments = list(
        PartnerAssignment.objects.filter(campaign=campaign)
        .prefetch_related("gifts")
        .order_by("id")
    )
    gifts = list(Gift.objects.filter(campaign=campaign).values_list("pk", "kind"))
    for gift_id, kind in gifts:
        named = [a for a in assignments if a.channel == kind and a.gifts.all()]
        named = [a for a in named if any(g.pk == gift_id for g in a.gifts.all())]
        general = [a for a in assignments if a.channel == kind and not a.gifts.all()]
        chosen = (named or general or [None])[0]
        if chosen is not None:
            mapping[gift_id] = chosen.partner_id
    return mapping


@transaction.atomic
def orders_release(
    *, campaign: Campaign, now: datetime | None = None, actor=None
) -> dict[str, int]:
    """Hand every settled choice whose window has closed to its partner, as an order.

    One INSERT … SELECT writes the new orders (a choice already ordered is skipped, so
    running it again adds only what is new). A choice's window has closed when its
    invitation's deadline has passed or the campaign itself is closed. The partner is
    the one assigned to the gift's kind, a partner naming the gift winning over one
    taking all. The delivery deadline is set per close time (few distinct values).
    When nothing of the campaign can change any more, the campaign moves to "closed".
    """
    now = now or timezone.now()
    # The campaign row is locked so that two sweeps never insert the same choice.
    campaign = Campaign.objects.select_for_update().get(pk=campaign.pk)
    final = campaign.status in FINAL_STATUSES
    sla = fulfilment_settings_for(campaign)
    order_t = Order._meta.db_table
    choice_t = Choice._meta.db_table
    inv_t = Invitation._meta.db_table
    member_t = SelectionMember._meta.db_table
    run_t = SelectionRun._meta.db_table
    sub_t = Subscriber._meta.db_table
    # A campaign without partners releases nothing, but may still close.
    partner_of = _partner_by_gift(campaign) or {0: 0}
    # The catalogue is a few dozen gifts: their partners are decided here once and
    # written into the statement as a CASE, instead of a subquery per choice.
    partner_case = "CASE c.gift_id {} END".format(
        " ".join(
            f"WHEN {int(gift_id)} THEN {int(partner_id)}"
            for gift_id, partner_id in partner_of.items()
        )
    )
    gift_list = ", ".join(str(int(gift_id)) for gift_id in partner_of)
    # Deadlines are 23:59 of an issue day, so a campaign has a few distinct ones:
    # the delivery deadline of each is computed here and written as a CASE, so that
    # the INSERT writes every row complete instead of an UPDATE rewriting them all.
    deadlines = list(
        Invitation.objects.filter(
            campaign=campaign,
            status__in=[Invitation.Status.CHOSEN, Invitation.Status.ASSIGNED],
        )
        .filter(**({} if final else {"deadline__lt": now}))
        .order_by()
        .values_list("deadline", flat=True)
        .distinct()[: MAX_CASES + 1]
    )
    # Raw SQL gets timestamps as the ORM writes them (on SQLite: UTC text).
    stamp = connection.ops.adapt_datetimefield_value
    params = {
        "campaign": campaign.pk,
        "now": stamp(now),
        "final": final,
        "pending": OrderStatus.PENDING,
        "due_now": stamp(sla.deliver_by(now)),
    }
    # SQLite (the demo) compares timestamps as text, which an exact CASE cannot rely
    # on; there the deadlines are set by one UPDATE per close time afterwards.
    by_case = connection.vendor == "postgresql" and len(deadlines) <= MAX_CASES
    if by_case:
        whens = []
        for index, deadline in enumerate(deadlines):
            params[f"d{index}"] = stamp(deadline)
            params[f"v{index}"] = stamp(sla.deliver_by(deadline))
            whens.append(f"WHEN i.deadline = %(d{index})s THEN %(v{index})s")
        deliver_by = (
            "CASE WHEN %(final)s AND i.deadline > %(now)s THEN %(due_now)s "
            f"{' '.join(whens)} END"
        )
    else:
        deliver_by = "i.deadline"
    with connection.cursor() as cursor:
        cursor.execute(
            f"""
            INSERT INTO {order_t} (
                campaign_id, partner_id, choice_id, code, gift_id, msisdn,
                recipient_name, address, store_id, company, province, district, tier,
                window_closed_at, released_at, deliver_by, status, reason,
                result_version
            )
            SELECT i.campaign_id, {partner_case},
                       c.id, c.code, c.gift_id, i.msisdn, c.recipient_name,
                       CASE WHEN c.address <> '' THEN c.address
                            ELSE COALESCE((SELECT s.address FROM {sub_t} s
                                           WHERE s.snapshot_id = r.snapshot_id
                                             AND s.msisdn = CAST(i.msisdn AS BIGINT)), '')
                       END,
                       c.store_id, m.company, i.province, i.district, i.tier,
                       CASE WHEN %(final)s AND i.deadline > %(now)s THEN %(now)s
                            ELSE i.deadline END AS closed_at,
                       %(now)s, {deliver_by}, %(pending)s, '', 0
                FROM {choice_t} c
                JOIN {inv_t} i ON i.id = c.invitation_id
                JOIN {member_t} m ON m.id = i.member_id
                JOIN {run_t} r ON r.id = i.run_id
                WHERE i.campaign_id = %(campaign)s
                  AND c.gift_id IN ({gift_list})
                  AND i.status IN ('chosen', 'assigned')
                  AND (%(final)s OR i.deadline < %(now)s)
                  AND NOT EXISTS (SELECT 1 FROM {order_t} o WHERE o.choice_id = c.id)
            """,
            params,
        )
        created = cursor.rowcount
    # order_by(): the model's default ordering would otherwise join the DISTINCT.
    released = Order.objects.filter(campaign=campaign, released_at=now).order_by()
    if not by_case:
        for closed in released.values_list("window_closed_at", flat=True).distinct():
            released.filter(window_closed_at=closed).update(
                deliver_by=sla.deliver_by(closed)
            )
    per_partner = {}
    if created:
        per_partner = dict(released.values_list("partner_id").annotate(n=Count("id")))
        for partner_id, count in per_partner.items():
            FulfilmentEvent.objects.create(
                campaign=campaign,
                partner_id=partner_id,
                kind=FulfilmentEvent.Kind.RELEASED,
                actor=actor,
                data={"orders": count},
            )
    if campaign.status == Campaign.Status.OPEN and _window_closed_everywhere(
        campaign, now
    ):
        campaign_services.campaign_transition(
            campaign=campaign, to_status=Campaign.Status.CLOSED, actor=actor
        )
    return {"created": created, "partners": len(per_partner)}


# --- Result uploads ---------------------------------------------------------------------


def _fold(text: str) -> str:
    """Lower case without accents or extra spaces: "Đã  giao" -> "da giao"."""
    text = unicodedata.normalize("NFD", str(text).replace("đ", "d").replace("Đ", "D"))
    text = "".join(ch for ch in text if unicodedata.category(ch) != "Mn")
    return " ".join(text.lower().split())


COLUMN_NAMES = {
    "code": {"ma don", "ma don hang", "ma", "order code", "code", "ma nhan qua"},
    "msisdn": {"so thue bao", "msisdn", "thue bao", "so dien thoai", "phone", "sdt"},
    "status": {"ket qua", "trang thai", "status", "result"},
    "reason": {"ly do", "reason", "ghi chu"},
    "date": {"ngay", "ngay giao", "date", "delivery date", "ngay ket qua"},
}

# The headers of the order download for the columns an upload reads back. Whatever
# they are translated to, the upload accepts them in the language of the request.
EXPORT_LABELS = {
    "code": gettext_noop("Order code"),
    "msisdn": gettext_noop("Number"),
    "status": gettext_noop("Result"),
    "date": gettext_noop("Date"),
    "reason": gettext_noop("Reason"),
}

STATUS_WORDS = {
    OrderStatus.DELIVERED: {
        "delivered",
        "da giao",
        "giao thanh cong",
        "thanh cong",
        "success",
    },
    OrderStatus.FAILED: {
        "failed",
        "that bai",
        "khong thanh cong",
        "giao that bai",
        "giao khong thanh cong",
        "khong giao duoc",
        "not delivered",
    },
}
_STATUS_BY_WORD = {
    word: status for status, words in STATUS_WORDS.items() for word in words
}


def _parse_date(text: str) -> date | None:
    text = text.strip().split(" ")[0]
    for fmt in ("%d/%m/%Y", "%Y-%m-%d", "%d-%m-%Y", "%d.%m.%Y"):
        try:
            return datetime.strptime(text, fmt).date()
        except ValueError:
            continue
    return None


def _columns(headers: list[str], name: str) -> dict[str, int]:
    found = {}
    known = {
        key: names | {_fold(_(EXPORT_LABELS[key]))}
        for key, names in COLUMN_NAMES.items()
    }
    for index, header in enumerate(headers):
        folded = _fold(header)
        for key, names in known.items():
            if folded in names and key not in found:
                found[key] = index
    missing = []
    if "code" not in found and "msisdn" not in found:
        missing.append(_("order code (Mã đơn) or number (Số thuê bao)"))
    if "status" not in found:
        missing.append(_("result (Kết quả)"))
    if "date" not in found:
        missing.append(_("date (Ngày)"))
    if missing:
        raise DomainError(
            _("The file “%(name)s” has no column for: %(missing)s.")
            % {"name": name, "missing": "; ".join(str(m) for m in missing)}
        )
    return found


@dataclass
class _Check:
    good: list[dict] = field(default_factory=list)
    problems: list[dict] = field(default_factory=list)


def _file_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


@transaction.atomic
def result_upload_check(
    *,
    partner: Partner,
    campaign: Campaign,
    path: Path | str,
    original_name: str,
    actor,
    now: datetime | None = None,
) -> ResultUpload:
    """Read a partner's result file and check every row; nothing is applied yet.

    Raises DomainError (with a message naming the problem) for a file that cannot be
    read or lacks a needed column. Otherwise every row is either good (its order,
    status, reason and date are known) or listed with its reasons: an unknown order,
    another partner's or campaign's order, a status word not understood, a failure
    without a reason, a date that is not a date, in the future or before the order's
    window closed, an order already on an earlier row, a move the order's status
    does not allow.
    """
    from messaging.services import msisdn_normalize

    now = now or timezone.now()
    try:
        table = open_table(path, original_name=original_name)
        columns = _columns(table.headers, original_name)
        rows = []
        for row in table.iter_rows():
            if not any(row):
                rows.append(None)
                continue
            rows.append(row)
            if len(rows) > MAX_UPLOAD_ROWS:
                raise DomainError(
                    _(
                        "The file “%(name)s” has more than %(limit)s rows; split it "
                        "into smaller files."
                    )
                    % {
                        "name": original_name,
                        "limit": f"{MAX_UPLOAD_ROWS:,}".replace(",", "."),
                    }
                )
    except UnreadableFile as exc:
        raise DomainError(str(exc)) from None

    def cell(row, key):
        index = columns.get(key)
        return row[index].strip() if index is not None else ""

    codes = {cell(r, "code").upper() for r in rows if r and cell(r, "code")}
    numbers = {
        msisdn_normalize(cell(r, "msisdn"))
        for r in rows
        if r and not cell(r, "code") and cell(r, "msisdn")
    } - {None}
    fields = ("pk", "code", "msisdn", "partner_id", "campaign_id", "status",
              "window_closed_at")  # fmt: skip
    by_code, by_number = {}, {}
    code_list = sorted(codes)
    for start in range(0, len(code_list), 5000):
        for values in Order.objects.filter(
            code__in=code_list[start : start + 5000]
        ).values(*fields):
            by_code[values["code"]] = values
    number_list = sorted(numbers)
    for start in range(0, len(number_list), 5000):
        # A number has one order per campaign: look it up in this campaign only.
        for values in Order.objects.filter(
            campaign=campaign, msisdn__in=number_list[start : start + 5000]
        ).values(*fields):
            by_number[values["msisdn"]] = values

    today = local_today(now)
    check = _Check()
    seen: dict[int, int] = {}
    skipped = 0
    for index, row in enumerate(rows):
        if row is None:
            continue
        if not cell(row, "status") and not cell(row, "date"):
            # An order line of the download not reported on yet: the partner may
            # upload the whole download with only some results filled in.
            skipped += 1
            continue
        sheet_row = index + 2  # the header is row 1
        reasons = []
        code, number = cell(row, "code"), cell(row, "msisdn")
        order = None
        if code:
            order = by_code.get(code.upper())
            if order is None:
                reasons.append(_("Unknown order code %(code)s.") % {"code": code})
        elif number:
            normal = msisdn_normalize(number)
            order = by_number.get(normal) if normal else None
            if normal is None:
                reasons.append(
                    _("“%(value)s” is not a phone number.") % {"value": number}
                )
            elif order is None:
                reasons.append(
                    _("No order of this campaign for the number %(number)s.")
                    % {"number": number}
                )
        else:
            reasons.append(_("The row has neither an order code nor a number."))
        if order is not None:
            if order["partner_id"] != partner.pk:
                reasons.append(
                    _("Order %(code)s is not one of your orders.")
                    % {"code": order["code"]}
                )
                order = None
            elif order["campaign_id"] != campaign.pk:
                reasons.append(
                    _("Order %(code)s belongs to another campaign.")
                    % {"code": order["code"]}
                )
                order = None
        word = cell(row, "status")
        status = _STATUS_BY_WORD.get(_fold(word))
        if status is None:
            reasons.append(
                _(
                    "Unknown result “%(word)s”: write “Đã giao” (delivered) or "
                    "“Thất bại” (failed)."
                )
                % {"word": word}
            )
        reason = cell(row, "reason")[:300]
        if status == OrderStatus.FAILED and not reason:
            reasons.append(_("A failed delivery needs a reason."))
        raw_date = cell(row, "date")
        day = _parse_date(raw_date) if raw_date else None
        if day is None:
            reasons.append(
                _("“%(value)s” is not a date (dd/mm/yyyy).") % {"value": raw_date}
                if raw_date
                else _("The date is missing.")
            )
        elif day > today:
            reasons.append(
                _("The date %(date)s is in the future.")
                % {"date": day.strftime("%d/%m/%Y")}
            )
        elif order is not None:
            closed = timezone.localtime(order["window_closed_at"], CAMPAIGN_ZONE).date()
            if day < closed:
                reasons.append(
                    _(
                        "The date %(date)s is before the choice window closed "
                        "(%(closed)s)."
                    )
                    % {
                        "date": day.strftime("%d/%m/%Y"),
                        "closed": closed.strftime("%d/%m/%Y"),
                    }
                )
        if order is not None:
            first = seen.get(order["pk"])
            if first is not None:
                reasons.append(
                    _("Order %(code)s is already on row %(row)s.")
                    % {"code": order["code"], "row": first}
                )
            else:
                seen[order["pk"]] = sheet_row
            current = OrderStatus(order["status"])
            if (
                status
                and status not in Order.TRANSITIONS[current]
                and status != current
            ):
                reasons.append(
                    _("Order %(code)s is %(current)s and cannot become %(target)s.")
                    % {
                        "code": order["code"],
                        "current": current.label,
                        "target": OrderStatus(status).label,
                    }
                )
        if reasons:
            check.problems.append(
                {"row": sheet_row, "cells": row, "reasons": [str(r) for r in reasons]}
            )
        else:
            check.good.append(
                {
                    "row": sheet_row,
                    "order": order["pk"],
                    "status": str(status),
                    "reason": reason if status == OrderStatus.FAILED else "",
                    "date": day.isoformat(),
                }
            )
    upload = ResultUpload.objects.create(
        partner=partner,
        campaign=campaign,
        uploaded_by=actor,
        file_name=original_name[:255],
        sha256=_file_digest(Path(path)),
        headers=table.headers,
        total_rows=sum(1 for r in rows if r is not None),
        skipped_rows=skipped,
        good_rows=check.good,
        problems=check.problems,
        created_at=now,
    )
    _event(
        campaign=campaign,
        partner=partner,
        kind=FulfilmentEvent.Kind.UPLOAD_CHECKED,
        actor=actor,
        data={
            "upload": upload.pk,
            "good": len(check.good),
            "problems": len(check.problems),
        },
    )
    return upload


@dataclass(frozen=True)
class ApplyResult:
    changed: int
    unchanged: int


def result_upload_apply(
    *, upload: ResultUpload, actor, now: datetime | None = None
) -> ApplyResult:
    """Apply the good rows of a checked upload, all or none (rows with problems never).

    A row that repeats an order's current result changes nothing, so uploading the
    same file again sends no second SMS. A different result is a new version of the
    order: the history row, the order, the gift choice's delivery state and the result
    SMS (sequence = the version) are written together. Orders are locked in id order
    so two uploads touching the same orders wait for each other instead of
    deadlocking; a status that moved meanwhile refuses the whole upload.
    """
    now = now or timezone.now()
    with transaction.atomic():
        upload = (
            ResultUpload.objects.select_for_update()
            .select_related("campaign")
            .get(pk=upload.pk)
        )
        if upload.status != ResultUpload.Status.CHECKED:
            raise DomainError(
                _("This file was already %(status)s.")
                % {"status": upload.get_status_display()}
            )
        campaign = upload.campaign
        sla = fulfilment_settings_for(campaign)
        rows = {row["order"]: row for row in upload.good_rows}
        ids = sorted(rows)
        orders = []
        for start in range(0, len(ids), 5000):
            orders += list(
                Order.objects.select_for_update()
                .filter(pk__in=ids[start : start + 5000], partner=upload.partner)
                .select_related("gift")
                .order_by("pk")
            )
        changed_orders, history, unchanged = [], [], 0
        reply_by = sla.reply_by(now)
        for order in orders:
            row = rows[order.pk]
            day = date.fromisoformat(row["date"])
            if (
                order.status == row["status"]
                and order.reason == row["reason"]
                and order.result_on == day
            ):
                unchanged += 1
                continue
            order.move_to(row["status"])
            order.result_version += 1
            order.result_on = day
            order.reason = row["reason"]
            order.result_at = now
            order.upload_by = end_of_day(day + timedelta(days=sla.upload_days))
            order.notify_by = now + timedelta(days=sla.notify_days)
            order.reply_by = reply_by if order.status == OrderStatus.FAILED else None
            order.replied_at = None
            order.result_message = None
            changed_orders.append(order)
            history.append(
                OrderResult(
                    order=order,
                    upload=upload,
                    version=order.result_version,
                    status=order.status,
                    result_on=day,
                    reason=order.reason,
                    recorded_by=actor,
                    recorded_at=now,
                )
            )
        Order.objects.bulk_update(
            changed_orders,
            [
                "status",
                "result_version",
                "result_on",
                "reason",
                "result_at",
                "upload_by",
                "notify_by",
                "reply_by",
                "replied_at",
                "result_message",
            ],
            batch_size=2000,
        )
        OrderResult.objects.bulk_create(history, batch_size=2000)
        _choices_follow(changed_orders)
        _result_messages_enqueue(campaign=campaign, orders=changed_orders, now=now)
        upload.status = ResultUpload.Status.APPLIED
        upload.decided_at = now
        upload.applied_changes = len(changed_orders)
        upload.applied_unchanged = unchanged
        upload.save(
            update_fields=[
                "status",
                "decided_at",
                "applied_changes",
                "applied_unchanged",
            ]
        )
        _event(
            campaign=campaign,
            partner=upload.partner,
            kind=FulfilmentEvent.Kind.UPLOAD_APPLIED,
            actor=actor,
            data={
                "upload": upload.pk,
                "changed": len(changed_orders),
                "unchanged": unchanged,
            },
        )
    return ApplyResult(changed=len(changed_orders), unchanged=unchanged)


@transaction.atomic
def result_upload_discard(*, upload: ResultUpload, actor) -> ResultUpload:
    upload = ResultUpload.objects.select_for_update().get(pk=upload.pk)
    if upload.status != ResultUpload.Status.CHECKED:
        raise DomainError(
            _("This file was already %(status)s.")
            % {"status": upload.get_status_display()}
        )
    upload.status = ResultUpload.Status.DISCARDED
    upload.decided_at = timezone.now()
    upload.save(update_fields=["status", "decided_at"])
    _event(
        campaign=upload.campaign,
        partner=upload.partner,
        kind=FulfilmentEvent.Kind.UPLOAD_DISCARDED,
        actor=actor,
        data={"upload": upload.pk},
    )
    return upload


def _choices_follow(orders: list[Order]) -> None:
    """The gift choice shows the delivery state customers and agents see."""
    mapping = {
        OrderStatus.DELIVERED: Choice.Fulfilment.DELIVERED,
        OrderStatus.FAILED: Choice.Fulfilment.FAILED,
        OrderStatus.DECLINED: Choice.Fulfilment.FAILED,
        OrderStatus.PENDING: Choice.Fulfilment.PENDING,
    }
    for status, fulfilment in mapping.items():
        choice_ids = [o.choice_id for o in orders if o.status == status]
        for start in range(0, len(choice_ids), 5000):
            Choice.objects.filter(pk__in=choice_ids[start : start + 5000]).update(
                fulfilment=fulfilment
            )


def _result_messages_enqueue(*, campaign: Campaign, orders: list[Order], now) -> None:
    """The success / failure SMS of each changed result, then linked to its order."""
    from messaging import services as messaging_services
    from messaging.models import Message, Purpose

    groups = {
        Purpose.DELIVERY_SUCCESS: [
            o for o in orders if o.status == OrderStatus.DELIVERED
        ],
        Purpose.DELIVERY_FAILURE: [o for o in orders if o.status == OrderStatus.FAILED],
    }
    for purpose, group in groups.items():
        if not group:
            continue
        messaging_services.messages_enqueue_bulk(
            campaign=campaign,
            purpose=purpose,
            event_at=now,
            recipients=(
                {
                    "msisdn": order.msisdn,
                    "sequence": order.result_version,
                    "name": order.recipient_name,
                    "gift": order.gift.name,
                    "reason": order.reason,
                    "reply_by": order.reply_by.strftime("%d/%m/%Y")
                    if order.reply_by
                    else "",
                }
                for order in group
            ),
        )
        ids = [order.pk for order in group]
        message = Message.objects.filter(
            campaign_id=OuterRef("campaign_id"),
            msisdn=OuterRef("msisdn"),
            purpose=purpose,
            sequence=OuterRef("result_version"),
        ).values("pk")[:1]
        for start in range(0, len(ids), 5000):
            Order.objects.filter(pk__in=ids[start : start + 5000]).update(
                result_message=Subquery(message)
            )


# --- Sweeps and staff actions -------------------------------------------------------------


def orders_decline_unanswered(*, now: datetime | None = None) -> int:
    """Failed deliveries nobody called back about by their reply-by date: declined.

    Set-based: one UPDATE moves them (bumping the version) and one INSERT … SELECT
    writes their history rows; a second run finds nothing left.
    """
    now = now or timezone.now()
    today = local_today(now)
    with transaction.atomic():
        due = Order.objects.filter(
            status=OrderStatus.FAILED, replied_at__isnull=True, reply_by__lt=today
        )
        per_campaign = dict(
            due.values_list("campaign_id").annotate(n=Count("id")).order_by()
        )
        if not per_campaign:
            return 0
        marker = f"declined:{now.isoformat()}"
        ids = list(due.values_list("pk", flat=True))
        total = 0
        for start in range(0, len(ids), 10000):
            total += Order.objects.filter(
                pk__in=ids[start : start + 10000], status=OrderStatus.FAILED
            ).update(
                status=OrderStatus.DECLINED,
                result_version=F("result_version") + 1,
                reason=_("no reply by the date given"),
            )
        result_t = OrderResult._meta.db_table
        order_t = Order._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                INSERT INTO {result_t}
                    (order_id, upload_id, version, status, result_on, reason,
                     recorded_by_id, recorded_at)
                SELECT o.id, NULL, o.result_version, o.status, o.result_on, o.reason,
                       NULL, %s
                FROM {order_t} o
                WHERE o.status = %s
                  AND NOT EXISTS (SELECT 1 FROM {result_t} h
                                  WHERE h.order_id = o.id
                                    AND h.version = o.result_version)
                """,
                [connection.ops.adapt_datetimefield_value(now), OrderStatus.DECLINED],
            )
        for campaign_id, count in per_campaign.items():
            FulfilmentEvent.objects.create(
                campaign_id=campaign_id,
                kind=FulfilmentEvent.Kind.DECLINED,
                data={"orders": count, "run": marker},
                created_at=now,
            )
    return total


@transaction.atomic
def order_reply_record(*, order: Order, actor, now: datetime | None = None) -> Order:
    """The customer called back after a failed delivery: deliver again."""
    now = now or timezone.now()
    order = Order.objects.select_for_update().get(pk=order.pk)
    if order.status != OrderStatus.FAILED:
        raise DomainError(
            _("Order %(code)s is %(status)s, not waiting for a call back.")
            % {"code": order.code, "status": order.get_status_display()}
        )
    sla = fulfilment_settings_for(order.campaign)
    order.move_to(OrderStatus.PENDING)
    order.replied_at = now
    order.result_version += 1
    order.deliver_by = end_of_day(local_today(now) + timedelta(days=sla.deliver_days))
    order.notify_by = None
    order.save()
    OrderResult.objects.create(
        order=order,
        version=order.result_version,
        status=order.status,
        reason=_("customer called back"),
        recorded_by=actor,
        recorded_at=now,
    )
    Choice.objects.filter(pk=order.choice_id).update(
        fulfilment=Choice.Fulfilment.PENDING
    )
    _event(
        campaign=order.campaign,
        partner=order.partner,
        kind=FulfilmentEvent.Kind.REPLIED,
        actor=actor,
        data={"order": order.code},
    )
    return order
