"""Reads for the partner pages, the campaign dashboard and their downloads.

The dashboard is aggregated by the database: one statement over the campaign's
invitations (joined to their member, invitation SMS, choice, order and result SMS)
counts every step of the funnel and every SLA breach per (company, province, tier);
the whole-campaign and per-breakdown figures are sums over those few groups.
"""

from __future__ import annotations

import csv
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from django.db import connection
from django.db.models import Count, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from campaigns.models import Campaign, SelectionMember, SelectionRun
from eligibility.selectors import spreadsheet_safe
from fulfilment import services
from fulfilment.models import (
    Order,
    OrderStatus,
    Partner,
    PartnerAssignment,
    ResultUpload,
)
from gifts.models import CAMPAIGN_ZONE, Choice, GiftStock, Invitation

# --- Partner pages ------------------------------------------------------------------------


def partner_campaigns(*, partner: Partner, now: datetime | None = None) -> list[dict]:
    """The campaigns assigned to the partner, with its order counts in one query."""
    now = now or timezone.now()
    campaign_ids = PartnerAssignment.objects.filter(partner=partner).values(
        "campaign_id"
    )
    counts = {
        row["campaign_id"]: row
        for row in Order.objects.filter(partner=partner)
        .values("campaign_id")
        .annotate(
            total=Count("id"),
            pending=Count("id", filter=Q(status=OrderStatus.PENDING)),
            delivered=Count("id", filter=Q(status=OrderStatus.DELIVERED)),
            failed=Count("id", filter=Q(status=OrderStatus.FAILED)),
            overdue=Count(
                "id",
                filter=Q(status=OrderStatus.PENDING, deliver_by__lt=now),
            ),
        )
        .order_by()
    }
    empty = {"total": 0, "pending": 0, "delivered": 0, "failed": 0, "overdue": 0}
    return [
        {"campaign": campaign, **counts.get(campaign.pk, empty)}
        for campaign in Campaign.objects.filter(pk__in=campaign_ids).order_by(
            "-created_at"
        )
    ]


def partner_campaign(*, partner: Partner, code: str) -> Campaign | None:
    """The campaign if it is assigned to the partner; None otherwise (a 404)."""
    return Campaign.objects.filter(
        code=code, partner_assignments__partner=partner
    ).first()


def partner_orders(*, partner: Partner, campaign: Campaign, status: str = ""):
    orders = Order.objects.filter(partner=partner, campaign=campaign).select_related(
        "gift", "store", "result_message"
    )
    if status == "overdue":
        orders = orders.overdue(timezone.now())
    elif status in OrderStatus.values:
        orders = orders.filter(status=status)
    return orders.order_by("deliver_by", "id")


def partner_upload(*, partner: Partner, upload_id: int) -> ResultUpload | None:
    return (
        ResultUpload.objects.filter(partner=partner, pk=upload_id)
        .select_related("campaign")
        .first()
    )


# The result words the export writes; they are the words the upload reads back.
RESULT_WORDS = {
    OrderStatus.DELIVERED: "Đã giao",
    OrderStatus.FAILED: "Thất bại",
    OrderStatus.DECLINED: "Từ chối",
    OrderStatus.PENDING: "",
}


def order_export_header() -> list[str]:
    labels = services.EXPORT_LABELS
    return [
        _(labels["code"]),
        _(labels["msisdn"]),
        _("Recipient"),
        _("Address"),
        _("Gift"),
        _("Province"),
        _("District"),
        _("Store"),
        _("Deliver by"),
        _(labels["status"]),
        _(labels["date"]),
        _(labels["reason"]),
    ]


def order_export_rows(*, partner: Partner, campaign: Campaign) -> Iterator[list]:
    """One line per order, in chunks, the columns the result upload reads back."""
    rows = (
        Order.objects.filter(partner=partner, campaign=campaign)
        .order_by("id")
        .values_list(
            "code",
            "msisdn",
            "recipient_name",
            "address",
            "gift__name",
            "province",
            "district",
            "store__name",
            "deliver_by",
            "status",
            "result_on",
            "reason",
        )
        .iterator(chunk_size=5000)
    )
    for code, msisdn, name, address, gift, province, district, store, due, status, on, reason in rows:  # fmt: skip
        yield [
            code,
            "0" + msisdn[2:] if msisdn.startswith("84") else msisdn,
            name,
            address,
            gift,
            province,
            district,
            store or "",
            timezone.localtime(due, CAMPAIGN_ZONE).strftime("%d/%m/%Y"),
            RESULT_WORDS[status],
            on.strftime("%d/%m/%Y") if on else "",
            reason,
        ]


class _Echo:
    def write(self, value):
        return value


def csv_stream(header: list[str], rows) -> Iterator[str]:
    """CSV text, a line at a time, every cell formula-safe; UTF-8 BOM for Excel."""
    writer = csv.writer(_Echo())
    yield "\ufeff"
    yield writer.writerow([spreadsheet_safe(h) for h in header])
    for row in rows:
        yield writer.writerow([spreadsheet_safe(value) for value in row])


def xlsx_file(sheets: list[tuple[str, list[str], object]]):
    """A write-only workbook in a temporary file (rewound), one sheet per table.

    Text cells are made formula-safe; numbers stay numbers. The file is on disk, so
    a large export never sits in memory; FileResponse streams it and closes it.
    """
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    for title, header, rows in sheets:
        # Excel refuses these characters in a sheet name ("Tỉnh/Tp").
        safe = "".join("-" if ch in "[]:*?/\\" else ch for ch in str(title))
        sheet = workbook.create_sheet(title=safe[:31] or "-")
        sheet.append([spreadsheet_safe(h) for h in header])
        for row in rows:
            sheet.append(
                [spreadsheet_safe(v) if isinstance(v, str) else v for v in row]
            )
    handle = tempfile.TemporaryFile()
    workbook.save(handle)
    handle.seek(0)
    return handle


def upload_problem_rows(upload: ResultUpload) -> tuple[list[str], Iterator[list]]:
    header = [_("Row"), _("Problems")] + list(upload.headers)
    rows = (
        [problem["row"], " ".join(problem["reasons"])] + list(problem["cells"])
        for problem in upload.problems
    )
    return header, rows


# --- Dashboard ------------------------------------------------------------------------------

FUNNEL_STEPS = [
    ("selected", "selected"),
    ("invited", "invited"),
    ("sms_delivered", "invitation SMS delivered"),
    ("logged_in", "logged in"),
    ("chose", "chose a gift"),
    ("delivered", "delivered"),
    ("notified", "notified of the result"),
]

# Each measure once, as SQL over the joined rows; names double as the result keys.
_MEASURES = [
    ("invited", "count(*)"),
    ("sms_delivered", "count(*) FILTER (WHERE sms.status = 'delivered')"),
    ("logged_in", "count(*) FILTER (WHERE i.last_login_at IS NOT NULL)"),
    ("chose", "count(c.id)"),
    ("ordered", "count(o.id)"),
    ("delivered", "count(*) FILTER (WHERE o.status = 'delivered')"),
    ("failed", "count(*) FILTER (WHERE o.status = 'failed')"),
    ("declined", "count(*) FILTER (WHERE o.status = 'declined')"),
    ("notified", "count(*) FILTER (WHERE rm.status = 'delivered')"),
    (
        "late_delivery",
        "count(*) FILTER (WHERE o.status = 'pending' AND o.deliver_by < %(now)s)",
    ),
    ("late_upload", "count(*) FILTER (WHERE o.result_at > o.upload_by)"),
    (
        "late_notice",
        "count(*) FILTER (WHERE o.notify_by < %(now)s"
        " AND (rm.status IS NULL OR rm.status <> 'delivered'))",
    ),
]
MEASURE_KEYS = [key for key, _sql in _MEASURES]

BREAKDOWNS = [("company", "m.company"), ("province", "i.province"), ("tier", "i.tier")]


def _from_clause() -> str:
    from messaging.models import Message

    return f"""
        FROM {Invitation._meta.db_table} i
        JOIN {SelectionMember._meta.db_table} m ON m.id = i.member_id
        LEFT JOIN {Message._meta.db_table} sms
          ON sms.campaign_id = i.campaign_id AND sms.msisdn = i.msisdn
         AND sms.purpose = 'invitation' AND sms.sequence = 1
        LEFT JOIN {Choice._meta.db_table} c ON c.invitation_id = i.id
        LEFT JOIN {Order._meta.db_table} o ON o.choice_id = c.id
        LEFT JOIN {Message._meta.db_table} rm ON rm.id = o.result_message_id
        WHERE i.campaign_id = %(campaign)s
    """


def _measures_sql() -> str:
    return ", ".join(f"{sql} AS {key}" for key, sql in _MEASURES)


def funnel_counts_sql() -> str:
    """The whole-campaign aggregate alone: what the benchmark compares against."""
    return f"SELECT {_measures_sql()} {_from_clause()}"


@dataclass
class Dashboard:
    campaign: Campaign
    totals: dict
    funnel: list[dict]
    breakdowns: dict[str, list[dict]]
    stock: list[dict]
    breaches: list[dict]
    now: datetime


def _aggregate(campaign: Campaign, now: datetime) -> tuple[dict, dict[str, list]]:
    """Totals and the per-company / province / tier rows, from one GROUP BY.

    The statement groups by all three at once: at most a few thousand groups
    (9 companies x 63 provinces x a handful of tiers) whatever the number of
    invitations, which PostgreSQL can aggregate in parallel (GROUPING SETS cannot).
    The roll-ups are then sums over those few groups.
    """
    params = {
        "campaign": campaign.pk,
        "now": connection.ops.adapt_datetimefield_value(now),
    }
    columns = ", ".join(expr for _name, expr in BREAKDOWNS)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {columns}, {_measures_sql()} {_from_clause()} GROUP BY {columns}",
            params,
        )
        cells = cursor.fetchall()
    width = len(BREAKDOWNS)
    totals = dict.fromkeys(MEASURE_KEYS, 0)
    groups: dict[str, dict] = {name: {} for name, _expr in BREAKDOWNS}
    for row in cells:
        counts = row[width:]
        for index, key in enumerate(MEASURE_KEYS):
            totals[key] += counts[index]
        for position, (name, _expr) in enumerate(BREAKDOWNS):
            group = groups[name].setdefault(
                row[position], dict.fromkeys(MEASURE_KEYS, 0)
            )
            for index, key in enumerate(MEASURE_KEYS):
                group[key] += counts[index]
    rows = {
        name: sorted(
            ({"key": key, **counts} for key, counts in found.items()),
            key=lambda r: (-r["invited"], str(r["key"])),
        )
        for name, found in groups.items()
    }
    return totals, rows


def _percent(part: int, whole: int) -> int:
    return round(100 * part / whole) if whole else 0


def campaign_dashboard(*, campaign: Campaign, now: datetime | None = None) -> Dashboard:
    now = now or timezone.now()
    totals, groups = _aggregate(campaign, now)
    selected = (
        SelectionRun.objects.filter(
            campaign=campaign, status=SelectionRun.Status.APPROVED
        ).aggregate(n=Sum("selected_count"))["n"]
        or 0
    )
    totals["selected"] = selected
    labels = {
        "selected": _("Selected"),
        "invited": _("Invited"),
        "sms_delivered": _("Invitation SMS delivered"),
        "logged_in": _("Logged in"),
        "chose": _("Chose a gift"),
        "delivered": _("Delivered"),
        "notified": _("Notified of the result"),
    }
    top = max(selected, totals["invited"], 1)
    funnel = []
    previous = None
    for key, _label in FUNNEL_STEPS:
        value = totals[key]
        funnel.append(
            {
                "key": key,
                "label": labels[key],
                "value": value,
                "width": _percent(value, top),
                "of_previous": _percent(value, previous) if previous else None,
            }
        )
        previous = value
    for rows in groups.values():
        for row in rows:
            row["chose_pct"] = _percent(row["chose"], row["invited"])
            row["delivered_pct"] = _percent(row["delivered"], row["invited"])
            row["breaches"] = (
                row["late_delivery"] + row["late_upload"] + row["late_notice"]
            )
    stock = [
        {
            "gift": row["gift__name"],
            "total": row["total"] or 0,
            "remaining": row["remaining"] or 0,
            "taken": (row["total"] or 0) - (row["remaining"] or 0),
            "left_pct": _percent(row["remaining"] or 0, row["total"] or 0),
        }
        for row in GiftStock.objects.filter(gift__campaign=campaign)
        .values("gift_id", "gift__name", "gift__position")
        .annotate(total=Sum("total"), remaining=Sum("remaining"))
        .order_by("gift__position", "gift_id")
    ]
    breaches = [
        {"label": _("Not delivered by the deadline"), "value": totals["late_delivery"]},
        {"label": _("Results uploaded late"), "value": totals["late_upload"]},
        {"label": _("Customer not notified in time"), "value": totals["late_notice"]},
    ]
    return Dashboard(
        campaign=campaign,
        totals=totals,
        funnel=funnel,
        breakdowns=groups,
        stock=stock,
        breaches=breaches,
        now=now,
    )


def dashboard_campaigns():
    """Campaigns that have invited someone, newest first, for the dashboard index."""
    return (
        Campaign.objects.filter(pk__in=Invitation.objects.values("campaign_id"))
        .order_by("-created_at")
        .only("code", "name", "status")
    )


_TABLE_KEYS = [
    "invited",
    "sms_delivered",
    "logged_in",
    "chose",
    "ordered",
    "delivered",
    "failed",
    "declined",
    "notified",
    "late_delivery",
    "late_upload",
    "late_notice",
]


def table_labels() -> list[str]:
    return [
        _("Invited"),
        _("SMS delivered"),
        _("Logged in"),
        _("Chose"),
        _("Orders"),
        _("Delivered"),
        _("Failed"),
        _("Declined"),
        _("Notified"),
        _("Late delivery"),
        _("Late upload"),
        _("Late notice"),
    ]


def dashboard_sheets(dashboard: Dashboard) -> list[tuple[str, list[str], object]]:
    """Every table of the dashboard as (sheet title, header, rows) for the XLSX."""
    sheets = [
        (
            _("Funnel"),
            [_("Step"), _("Customers"), _("Share of previous step (%)")],
            [[s["label"], s["value"], s["of_previous"]] for s in dashboard.funnel],
        ),
        (
            _("Stock"),
            [_("Gift"), _("Units"), _("Taken"), _("Left")],
            [
                [s["gift"], s["total"], s["taken"], s["remaining"]]
                for s in dashboard.stock
            ],
        ),
        (
            _("SLA breaches"),
            [_("Breach"), _("Orders")],
            [[b["label"], b["value"]] for b in dashboard.breaches],
        ),
    ]
    titles = {"company": _("Company"), "province": _("Province"), "tier": _("Tier")}
    for name, rows in dashboard.breakdowns.items():
        sheets.append(
            (
                titles[name],
                [titles[name]] + table_labels(),
                [[row["key"]] + [row[k] for k in _TABLE_KEYS] for row in rows],
            )
        )
    return sheets
