"""Home SIM-swap requests of programme 003, from registration to the paid visit.

A request comes in by SMS (TSTN to 9231), from the outbound IVR's press-1 file or from
the public web form; it is checked against the campaign's list once, when it arrives.
Care agents confirm the address by phone within a day (n+1), the province allocates
confirmed requests to contracted field staff, who record the visit; the province then
reconciles completed swaps and app installs per contractor for payment.

Every change of a request goes through `ServiceRequest.move_to` (the allowed moves are
declared in `TRANSITIONS`) and is written as a `ServiceRequestEvent` by the service
that made it.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from campaigns.models import Campaign, SelectionRun
from eligibility.models import DomainError

# The programme's deadlines: the confirmation call by the end of the day after the
# registration (n+1), the visit within 10 days of it unless an appointment says when.
CONFIRM_DAYS = 1
VISIT_DAYS = 10


def end_of_local_day(moment: datetime, *, days_after: int = 0) -> datetime:
    """23:59:59 of the local (campaign) day `days_after` days after `moment`'s."""
    local = timezone.localtime(moment)
    day = local.date() + timedelta(days=days_after)
    return timezone.make_aware(datetime.combine(day, time(23, 59, 59)))


class Source(models.TextChoices):
    SMS = "sms", _("SMS TSTN to 9231")
    IVR = "ivr", _("IVR press 1")
    WEB = "web", _("web form")


class Status(models.TextChoices):
    NEW = "new", _("waiting for the confirmation call")
    INELIGIBLE = "ineligible", _("not eligible")
    CONFIRMED = "confirmed", _("address confirmed")
    ALLOCATED = "allocated", _("allocated to field staff")
    COMPLETED = "completed", _("visit done")
    CANCELLED = "cancelled", _("cancelled")


# A number has at most one request in these at a time; a second registration while one
# is open is the same request asked again.
OPEN_STATUSES = [Status.NEW, Status.CONFIRMED, Status.ALLOCATED]


class ServiceRequestQuerySet(models.QuerySet):
    def open(self):
        return self.filter(status__in=OPEN_STATUSES)

    def confirm_overdue(self, now: datetime):
        """Still waiting for the confirmation call after its n+1 deadline."""
        return self.filter(status=Status.NEW, confirm_due_at__lt=now)

    def visit_overdue(self, now: datetime):
        """Confirmed or allocated, not visited, past the 10 days or the appointment."""
        return self.filter(
            status__in=[Status.CONFIRMED, Status.ALLOCATED], visit_due_at__lt=now
        )

    def with_overdue(self, now: datetime):
        """Annotate `overdue`: the deadline of the step the request waits for passed."""
        return self.annotate(
            overdue=models.Case(
                models.When(
                    Q(status=Status.NEW, confirm_due_at__lt=now)
                    | Q(
                        status__in=[Status.CONFIRMED, Status.ALLOCATED],
                        visit_due_at__lt=now,
                    ),
                    then=models.Value(True),
                ),
                default=models.Value(False),
                output_field=models.BooleanField(),
            )
        )


class ServiceRequest(models.Model):
    Status = Status
    Source = Source

    # Allowed moves, in one place; anything else is a DomainError. An allocated
    # request can go back to confirmed when the province takes it off a field worker.
    TRANSITIONS = {
        Status.NEW: {Status.CONFIRMED, Status.CANCELLED},
        Status.INELIGIBLE: set(),
        Status.CONFIRMED: {Status.ALLOCATED, Status.CANCELLED},
        Status.ALLOCATED: {Status.COMPLETED, Status.CONFIRMED, Status.CANCELLED},
        Status.COMPLETED: set(),
        Status.CANCELLED: set(),
    }

    campaign = models.ForeignKey(
        Campaign,
        verbose_name=_("campaign"),
        on_delete=models.PROTECT,
        related_name="service_requests",
    )
    msisdn = models.CharField(_("MSISDN"), max_length=15)
    source = models.CharField(_("source"), max_length=10, choices=Source.choices)
    status = models.CharField(
        _("status"), max_length=12, choices=Status.choices, default=Status.NEW
    )
    full_name = models.CharField(_("full name"), max_length=200, blank=True)
    address = models.CharField(_("address"), max_length=300, blank=True)
    province = models.CharField(_("province"), max_length=100, blank=True)
    district = models.CharField(_("district"), max_length=100, blank=True)
    preferred_time = models.CharField(_("preferred time"), max_length=200, blank=True)
    # What the eligibility check found, once, when the request arrived.
    run = models.ForeignKey(
        SelectionRun,
        verbose_name=_("checked against run"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    list_name = models.CharField(_("list"), max_length=100, blank=True)
    phase = models.PositiveSmallIntegerField(_("phase"), null=True, blank=True)
    ineligible_reason = models.CharField(
        _("why not eligible"), max_length=300, blank=True
    )
    registered_at = models.DateTimeField(_("registered at"), default=timezone.now)
    # Step 2: the confirmation call.
    agent = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("call agent"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    confirm_due_at = models.DateTimeField(_("call by"))
    confirmed_at = models.DateTimeField(_("confirmed at"), null=True, blank=True)
    address_corrected = models.BooleanField(_("address corrected"), default=False)
    appointment_at = models.DateTimeField(_("appointment"), null=True, blank=True)
    call_note = models.CharField(_("call note"), max_length=500, blank=True)
    # Step 3: allocation and the visit.
    visit_due_at = models.DateTimeField(_("visit by"))
    allocation = models.ForeignKey(
        "Allocation",
        verbose_name=_("allocation"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="requests",
    )
    field_staff = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("field staff"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    contractor = models.CharField(_("contractor"), max_length=200, blank=True)
    visited_at = models.DateTimeField(_("visited at"), null=True, blank=True)
    contacts_backed_up = models.BooleanField(_("contacts backed up"), default=False)
    sim_swapped = models.BooleanField(_("SIM swapped to 4G"), default=False)
    new_sim_serial = models.CharField(_("new SIM serial"), max_length=22, blank=True)
    app_installed = models.BooleanField(_("My MobiFone installed"), default=False)
    record_corrected = models.BooleanField(_("record corrected"), default=False)
    package_advised = models.BooleanField(_("package advised"), default=False)
    package_code = models.CharField(_("package"), max_length=40, blank=True)
    visit_note = models.CharField(_("visit note"), max_length=500, blank=True)
    cancel_reason = models.CharField(_("why cancelled"), max_length=300, blank=True)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)

    objects = ServiceRequestQuerySet.as_manager()

    class Meta:
        verbose_name = _("home SIM-swap request")
        verbose_name_plural = _("home SIM-swap requests")
        ordering = ["-registered_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "msisdn"],
                condition=Q(status__in=["new", "confirmed", "allocated"]),
                name="service_request_one_open_per_number",
            ),
            models.CheckConstraint(
                condition=Q(status__in=Status.values),
                name="service_request_status_known",
            ),
            models.CheckConstraint(
                condition=~Q(status="allocated") | Q(field_staff__isnull=False),
                name="service_request_allocated_has_staff",
            ),
            models.CheckConstraint(
                condition=~Q(sim_swapped=True) | ~Q(new_sim_serial=""),
                name="service_request_swap_has_serial",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "confirm_due_at"], name="sr_status_due"),
            models.Index(fields=["province", "status"], name="sr_province_status"),
            models.Index(fields=["field_staff", "status"], name="sr_field_status"),
        ]

    def __str__(self):
        return f"{self.local_number} ({self.get_status_display()})"

    @property
    def local_number(self) -> str:
        """The number as customers write it: 0 + 9 digits."""
        if len(self.msisdn) == 11 and self.msisdn.startswith("84"):
            return "0" + self.msisdn[2:]
        return self.msisdn

    def move_to(self, status: str) -> None:
        """Change status in memory after checking the move is allowed."""
        if status not in self.TRANSITIONS[Status(self.status)]:
            raise DomainError(
                _("Request %(number)s is %(current)s and cannot become %(target)s.")
                % {
                    "number": self.local_number,
                    "current": self.get_status_display(),
                    "target": Status(status).label,
                }
            )
        self.status = status

    def is_overdue(self, now: datetime | None = None) -> bool:
        now = now or timezone.now()
        if self.status == Status.NEW:
            return self.confirm_due_at < now
        if self.status in (Status.CONFIRMED, Status.ALLOCATED):
            return self.visit_due_at < now
        return False

    def set_deadlines(self) -> None:
        """Call by the end of day n+1; visit within 10 days or by the appointment."""
        self.confirm_due_at = end_of_local_day(
            self.registered_at, days_after=CONFIRM_DAYS
        )
        self.visit_due_at = self.appointment_at or end_of_local_day(
            self.registered_at, days_after=VISIT_DAYS
        )


class ServiceRequestEvent(models.Model):
    """Who did what to a request, and when: the request's history."""

    class Kind(models.TextChoices):
        REGISTERED = "registered", _("registered")
        REPEATED = "repeated", _("asked again")
        CLAIMED = "claimed", _("taken by an agent")
        CONFIRMED = "confirmed", _("address confirmed")
        CORRECTED = "corrected", _("address corrected")
        CANCELLED = "cancelled", _("cancelled")
        ALLOCATED = "allocated", _("allocated")
        UNALLOCATED = "unallocated", _("taken off field staff")
        VISITED = "visited", _("visit recorded")

    request = models.ForeignKey(
        ServiceRequest, on_delete=models.CASCADE, related_name="events"
    )
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    from_status = models.CharField(_("from"), max_length=12, blank=True)
    to_status = models.CharField(_("to"), max_length=12, blank=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    at = models.DateTimeField(_("at"), default=timezone.now)
    data = models.JSONField(_("details"), default=dict, blank=True)

    class Meta:
        verbose_name = _("request event")
        verbose_name_plural = _("request events")
        ordering = ["at", "id"]

    def __str__(self):
        return f"{self.get_kind_display()} {self.at:%d/%m/%Y %H:%M}"


class Allocation(models.Model):
    """One hand-over of confirmed requests by a province to one field worker."""

    province = models.CharField(_("province"), max_length=100)
    field_staff = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("field staff"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("allocated by"),
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
    )
    created_at = models.DateTimeField(_("allocated at"), default=timezone.now)
    count = models.PositiveIntegerField(_("requests"), default=0)

    class Meta:
        verbose_name = _("allocation")
        verbose_name_plural = _("allocations")
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.province} → {self.field_staff} ({self.count})"


class StaffScope(models.Model):
    """Where a province or field staff member works, and a field worker's contractor.

    Province staff see only requests of their province; field staff are hired through
    a contractor, which the reconciliation report pays.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        on_delete=models.CASCADE,
        related_name="service_scope",
    )
    province = models.CharField(_("province"), max_length=100)
    contractor = models.CharField(
        _("contractor"),
        max_length=200,
        blank=True,
        help_text=_("For field staff: the company that hires them."),
    )

    class Meta:
        verbose_name = _("staff province")
        verbose_name_plural = _("staff provinces")
        ordering = ["province", "user__username"]

    def __str__(self):
        return f"{self.user} – {self.province}"


class IvrScript(models.Model):
    """What the outbound IVR says, kept with the campaign for the IVR vendor."""

    campaign = models.OneToOneField(
        Campaign,
        verbose_name=_("campaign"),
        on_delete=models.CASCADE,
        related_name="ivr_script",
    )
    intro = models.TextField(_("introduction"))
    key_1 = models.TextField(_("key 1: register"))
    key_2 = models.TextField(_("key 2: listen again"))
    key_3 = models.TextField(_("key 3: talk to an agent"))
    closing = models.TextField(_("closing"), blank=True)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)

    class Meta:
        verbose_name = _("IVR script")
        verbose_name_plural = _("IVR scripts")

    def __str__(self):
        return str(self.campaign)


class IvrImport(models.Model):
    """One upload of the IVR vendor's result file: imported whole, or refused whole.

    The upload is kept (`file`) and read by a task; `rows_read` shows its progress.
    """

    class Outcome(models.TextChoices):
        QUEUED = "queued", _("queued")
        RUNNING = "running", _("reading")
        IMPORTED = "imported", _("imported")
        REFUSED = "refused", _("refused")

    campaign = models.ForeignKey(
        Campaign,
        verbose_name=_("campaign"),
        on_delete=models.CASCADE,
        related_name="ivr_imports",
    )
    file_name = models.CharField(_("file"), max_length=255)
    file = models.FileField(
        _("uploaded file"), upload_to="servicerequests/ivr/%Y/%m/", blank=True
    )
    outcome = models.CharField(
        _("outcome"), max_length=10, choices=Outcome.choices, default=Outcome.QUEUED
    )
    rows_read = models.PositiveIntegerField(_("rows read"), default=0)
    total_rows = models.PositiveIntegerField(_("rows"), default=0)
    pressed_1 = models.PositiveIntegerField(_("pressed 1"), default=0)
    created = models.PositiveIntegerField(_("new requests"), default=0)
    repeated = models.PositiveIntegerField(_("already requested"), default=0)
    ineligible = models.PositiveIntegerField(_("not eligible"), default=0)
    error = models.TextField(_("why the file was refused"), blank=True)
    problems = models.JSONField(_("problems"), default=list, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("imported by"),
        on_delete=models.SET_NULL,
        null=True,
        related_name="+",
    )
    created_at = models.DateTimeField(_("imported at"), default=timezone.now)

    class Meta:
        verbose_name = _("IVR result import")
        verbose_name_plural = _("IVR result imports")
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return self.file_name

    @property
    def is_running(self) -> bool:
        return self.outcome in (self.Outcome.QUEUED, self.Outcome.RUNNING)
