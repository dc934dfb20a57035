"""Reads for the request pages and exports; every staff read is scoped to its user."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

from django.contrib.auth import get_user_model
from django.db.models import Count, Q, QuerySet
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from campaigns import roles
from campaigns.models import (
    Campaign,
    CampaignKind,
    CampaignPhase,
    SelectionMember,
    SelectionRun,
)
from eligibility.selectors import spreadsheet_safe
from servicerequests.models import ServiceRequest, StaffScope, Status

# A SIM-swap campaign takes requests once its list is approved and until it is closed.
NOT_TAKING_STATUSES = [
    Campaign.Status.DRAFT,
    Campaign.Status.CLOSED,
    Campaign.Status.FULFILLED,
    Campaign.Status.DONE,
    Campaign.Status.CANCELLED,
]


def campaign_for_requests() -> Campaign | None:
    """The SIM-swap campaign that new requests (SMS, web form) belong to.

    The most recently started one with an approved list that is not over; None if
    no programme takes requests.
    """
    return (
        Campaign.objects.filter(kind=CampaignKind.SIM_SWAP)
        .exclude(status__in=NOT_TAKING_STATUSES)
        .filter(selection_runs__status=SelectionRun.Status.APPROVED)
        .order_by("-starts_on", "-id")
        .first()
    )


def list_run_for(campaign: Campaign) -> SelectionRun | None:
    """The campaign's approved run, whose selected members are its list."""
    return campaign.selection_runs.filter(status=SelectionRun.Status.APPROVED).first()


@dataclass
class EligibilityResult:
    eligible: bool
    reason: str = ""
    run: SelectionRun | None = None
    member: SelectionMember | None = None


def _phase_open(campaign: Campaign, number: int | None, day: date) -> str:
    """Empty when the member's district is covered on `day`, else why not.

    Phases roll the programme out district by district (003: central districts from
    26/03/2021, "the remaining districts" from 01/06/2021), so a district is covered
    from its phase's start on; the campaign's own end closes intake everywhere. A
    phase's end date is the deadline of that wave's push, not the end of service
    in its districts, or the central districts would lose the programme the day the
    rest gained it.
    """
    if number is None:
        return _("The number's district is in no phase of the programme.")
    phase = CampaignPhase.objects.filter(campaign=campaign, number=number).first()
    if phase is not None and day < phase.starts_on:
        return _("The district's phase %(number)s starts on %(day)s.") % {
            "number": number,
            "day": date_format(phase.starts_on, "d/m/Y"),
        }
    if campaign.ends_on and day > campaign.ends_on:
        return _("The programme ended on %(day)s.") % {
            "day": date_format(campaign.ends_on, "d/m/Y")
        }
    return ""


def eligibility_check(
    *, campaign: Campaign, msisdn: str, on: date, run: SelectionRun | None = None
) -> EligibilityResult:
    """Whether `msisdn` may have a home visit under `campaign` on day `on`, and why not.

    Eligible means: on the campaign's list (list 1 or list 2, selected) and living in
    a district whose phase has started by that day.
    """
    run = run or list_run_for(campaign)
    if run is None:
        return EligibilityResult(
            False, _("The programme has no approved list yet."), None
        )
    member = SelectionMember.objects.filter(run=run, msisdn=msisdn).first()
    if member is None or not member.selected:
        return EligibilityResult(
            False, _("The number is not on the programme's list."), run
        )
    reason = _phase_open(campaign, member.phase, on)
    return EligibilityResult(not reason, reason, run, member)


def members_by_number(*, run: SelectionRun, numbers: list[str]) -> dict:
    """The selected members among `numbers`, in one query."""
    return {
        member.msisdn: member
        for member in SelectionMember.objects.filter(
            run=run, msisdn__in=numbers, selected=True
        )
    }


def phase_reasons(*, campaign: Campaign, day: date) -> dict[int | None, str]:
    """For each phase number (and None), why a member of it is refused on `day`."""
    numbers = list(campaign.phases.values_list("number", flat=True))
    return {n: _phase_open(campaign, n, day) for n in [*numbers, None]}


# --- Scope --------------------------------------------------------------------------


def in_role(user, role: str) -> bool:
    return user.is_authenticated and user.groups.filter(name=role).exists()


def scope_of(user) -> StaffScope | None:
    return StaffScope.objects.filter(user=user).first()


def agent_requests(*, agent) -> QuerySet[ServiceRequest]:
    """The requests an agent has taken: their own queue only."""
    return ServiceRequest.objects.filter(agent=agent)


def agent_due_list(*, agent, now: datetime) -> QuerySet[ServiceRequest]:
    """The agent's requests waiting for the call, most urgent first."""
    return (
        agent_requests(agent=agent)
        .filter(status=Status.NEW)
        .with_overdue(now)
        .order_by("confirm_due_at", "id")
    )


def unclaimed_count() -> int:
    return ServiceRequest.objects.filter(status=Status.NEW, agent__isnull=True).count()


def province_requests(*, province: str) -> QuerySet[ServiceRequest]:
    """Eligible requests of one province (ineligible ones never reach the province)."""
    return ServiceRequest.objects.filter(province=province).exclude(
        status=Status.INELIGIBLE
    )


def local_day_bounds(day: date) -> tuple[datetime, datetime]:
    start = timezone.make_aware(datetime.combine(day, time.min))
    return start, start + timedelta(days=1)


def province_confirmed_on(*, province: str, day: date) -> QuerySet[ServiceRequest]:
    """The province's requests whose address was confirmed on local day `day`."""
    start, end = local_day_bounds(day)
    return province_requests(province=province).filter(
        confirmed_at__gte=start, confirmed_at__lt=end
    )


def field_staff_of(*, province: str) -> QuerySet:
    """Field staff working in `province`, the only ones its staff may allocate to."""
    return (
        get_user_model()
        .objects.filter(
            is_active=True,
            groups__name=roles.FIELD_STAFF,
            service_scope__province=province,
        )
        .select_related("service_scope")
        .order_by("username")
    )


def field_allocations(*, user) -> QuerySet[ServiceRequest]:
    """What a field worker was given: their own allocations only."""
    return ServiceRequest.objects.filter(field_staff=user).exclude(
        status=Status.CANCELLED
    )


def reconciliation(*, province: str, start: date, end: date) -> list[dict]:
    """Completed visits per contractor and field worker, visited in [start, end].

    One aggregate query: swaps and app installs are what the contractor is paid for.
    """
    lo, _unused = local_day_bounds(start)
    _unused, hi = local_day_bounds(end)
    rows = (
        ServiceRequest.objects.filter(
            province=province,
            status=Status.COMPLETED,
            visited_at__gte=lo,
            visited_at__lt=hi,
        )
        .values("contractor", "field_staff__username")
        .annotate(
            visits=Count("id"),
            sim_swaps=Count("id", filter=Q(sim_swapped=True)),
            app_installs=Count("id", filter=Q(app_installed=True)),
            records=Count("id", filter=Q(record_corrected=True)),
            packages=Count("id", filter=Q(package_advised=True)),
        )
        .order_by("contractor", "field_staff__username")
    )
    return list(rows)


# --- Exports ------------------------------------------------------------------------


def _local(moment: datetime | None) -> str:
    if moment is None:
        return ""
    return date_format(timezone.localtime(moment), "d/m/Y H:i")


def confirmed_export_write(*, requests: QuerySet[ServiceRequest], stream) -> int:
    """The day's confirmed requests as XLSX for the province; returns the row count."""
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=_("Confirmed")[:31])
    sheet.append(
        [
            _("Number"),
            _("Full name"),
            _("Address"),
            _("District"),
            _("Preferred time"),
            _("Appointment"),
            _("Visit by"),
            _("List"),
            _("Field staff"),
            _("Status"),
        ]
    )
    count = 0
    for item in requests.select_related("field_staff").order_by("district", "id"):
        sheet.append(
            [
                spreadsheet_safe(value)
                for value in [
                    item.local_number,
                    item.full_name,
                    item.address,
                    item.district,
                    item.preferred_time,
                    _local(item.appointment_at),
                    _local(item.visit_due_at),
                    item.list_name,
                    item.field_staff.username if item.field_staff else "",
                    item.get_status_display(),
                ]
            ]
        )
        count += 1
    workbook.save(stream)
    return count


def reconciliation_export_write(*, rows: list[dict], stream) -> None:
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=_("Reconciliation")[:31])
    sheet.append(
        [
            _("Contractor"),
            _("Field staff"),
            _("Visits done"),
            _("SIM swaps"),
            _("App installs"),
            _("Records corrected"),
            _("Packages advised"),
        ]
    )
    for row in rows:
        sheet.append(
            [
                spreadsheet_safe(row["contractor"]),
                spreadsheet_safe(row["field_staff__username"]),
                row["visits"],
                row["sim_swaps"],
                row["app_installs"],
                row["records"],
                row["packages"],
            ]
        )
    workbook.save(stream)
