"""Fulfilment: partners deliver the gifts customers chose, and report back.

When a campaign's choice window closes, each home-delivery choice becomes an `Order`
of the partner assigned to that gift (`PartnerAssignment`). The partner downloads its
orders and uploads results (`ResultUpload`); every applied result is kept as an
`OrderResult`, so a correction never erases what was reported before. Service-level
deadlines per campaign live in `FulfilmentSettings`.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from campaigns.models import Campaign
from eligibility.models import DomainError
from gifts.models import CAMPAIGN_ZONE, Choice, Gift, GiftKind, Store


class Partner(models.Model):
    """A delivery partner organisation; its users see only its own orders."""

    code = models.SlugField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=200)
    contact = models.CharField(_("contact"), max_length=200, blank=True)
    active = models.BooleanField(_("active"), default=True)
    users = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("users"),
        through="PartnerUser",
        related_name="+",
        blank=True,
    )

    class Meta:
        verbose_name = _("partner")
        verbose_name_plural = _("partners")
        ordering = ["name"]

    def __str__(self):
        return self.name


class PartnerUser(models.Model):
    """A login of a partner. One partner per user, so the scope is never ambiguous."""

    partner = models.ForeignKey(
        Partner, verbose_name=_("partner"), on_delete=models.CASCADE
    )
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        on_delete=models.CASCADE,
        related_name="partner_link",
    )

    class Meta:
        verbose_name = _("partner user")
        verbose_name_plural = _("partner users")

    def __str__(self):
        return f"{self.user} → {self.partner}"


class FulfilmentSettings(models.Model):
    """Service levels of one campaign (defaults are programme 000's: 5 / 2 / 7)."""

    campaign = models.OneToOneField(
        Campaign,
        verbose_name=_("campaign"),
        on_delete=models.CASCADE,
        related_name="fulfilment_settings",
    )
    deliver_days = models.PositiveSmallIntegerField(
        _("deliver within (days after the close)"), default=5
    )
    upload_days = models.PositiveSmallIntegerField(
        _("upload results within (days after delivering)"), default=2
    )
    notify_days = models.PositiveSmallIntegerField(
        _("notify the customer within (days after the upload)"), default=7
    )
    reply_days = models.PositiveSmallIntegerField(
        _("days the customer has to call back after a failed delivery"), default=7
    )

    class Meta:
        verbose_name = _("service levels")
        verbose_name_plural = _("service levels")

    def __str__(self):
        return str(_("Service levels of %(code)s") % {"code": self.campaign.code})

    def deliver_by(self, closed_at: datetime) -> datetime:
        """23:59:59 Vietnam time, `deliver_days` after the local day of the close."""
        return end_of_day(
            timezone.localtime(closed_at, CAMPAIGN_ZONE).date()
            + timedelta(days=self.deliver_days)
        )

    def reply_by(self, uploaded_at: datetime) -> date:
        return timezone.localtime(uploaded_at, CAMPAIGN_ZONE).date() + timedelta(
            days=self.reply_days
        )


def end_of_day(day: date) -> datetime:
    return datetime.combine(day, time(23, 59, 59), tzinfo=CAMPAIGN_ZONE)


class PartnerAssignment(models.Model):
    """A partner fulfils a campaign's gifts of one kind (all of them, or those listed)."""

    campaign = models.ForeignKey(
        Campaign,
        verbose_name=_("campaign"),
        on_delete=models.CASCADE,
        related_name="partner_assignments",
    )
    partner = models.ForeignKey(
        Partner,
        verbose_name=_("partner"),
        on_delete=models.PROTECT,
        related_name="assignments",
    )
    channel = models.CharField(
        _("channel"),
        max_length=20,
        choices=GiftKind.choices,
        default=GiftKind.HOME_DELIVERY,
    )
    gifts = models.ManyToManyField(
        Gift,
        verbose_name=_("gifts"),
        blank=True,
        related_name="+",
        help_text=_("Empty: every gift of this channel in the campaign."),
    )
    created_at = models.DateTimeField(_("assigned at"), default=timezone.now)

    class Meta:
        verbose_name = _("partner assignment")
        verbose_name_plural = _("partner assignments")
        ordering = ["campaign_id", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "partner", "channel"],
                name="partner_assignment_unique",
            )
        ]

    def __str__(self):
        return f"{self.campaign.code} → {self.partner} ({self.get_channel_display()})"


class OrderStatus(models.TextChoices):
    PENDING = "pending", _("to deliver")
    DELIVERED = "delivered", _("delivered")
    FAILED = "failed", _("not delivered")
    DECLINED = "declined", _("declined (no reply in time)")


class OrderQuerySet(models.QuerySet):
    def for_partner(self, partner: Partner):
        return self.filter(partner=partner)

    def delivery_overdue(self, now: datetime):
        """Still not delivered after the deadline to deliver."""
        return self.filter(status=OrderStatus.PENDING, deliver_by__lt=now)

    def upload_late(self):
        """Results reported later than `upload_days` after the delivery date."""
        return self.filter(result_at__gt=models.F("upload_by"))

    def notify_overdue(self, now: datetime):
        """A result older than `notify_days` whose SMS has not been delivered."""
        from messaging.models import MessageStatus

        return self.filter(notify_by__lt=now).exclude(
            result_message__status=MessageStatus.DELIVERED
        )

    def overdue(self, now: datetime):
        return (
            self.delivery_overdue(now) | self.upload_late() | self.notify_overdue(now)
        )


class Order(models.Model):
    """A chosen gift a partner must deliver, identified by the choice's code."""

    Status = OrderStatus

    TRANSITIONS = {
        Status.PENDING: {Status.DELIVERED, Status.FAILED},
        # A later upload may correct an earlier result.
        Status.DELIVERED: {Status.FAILED, Status.DELIVERED},
        # The customer calls back within the reply window: deliver again.
        Status.FAILED: {
            Status.DELIVERED,
            Status.FAILED,
            Status.DECLINED,
            Status.PENDING,
        },
        Status.DECLINED: {Status.DELIVERED},
    }

    campaign = models.ForeignKey(
        Campaign,
        verbose_name=_("campaign"),
        on_delete=models.CASCADE,
        related_name="orders",
    )
    partner = models.ForeignKey(
        Partner,
        verbose_name=_("partner"),
        on_delete=models.PROTECT,
        related_name="orders",
    )
    choice = models.OneToOneField(
        Choice, verbose_name=_("choice"), on_delete=models.PROTECT, related_name="order"
    )
    code = models.CharField(_("order code"), max_length=12, unique=True)
    gift = models.ForeignKey(
        Gift, verbose_name=_("gift"), on_delete=models.PROTECT, related_name="+"
    )
    msisdn = models.CharField(_("MSISDN"), max_length=11)
    recipient_name = models.CharField(_("recipient"), max_length=200, blank=True)
    address = models.CharField(_("delivery address"), max_length=300, blank=True)
    store = models.ForeignKey(
        Store,
        verbose_name=_("store"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    company = models.PositiveSmallIntegerField(_("company"), null=True, blank=True)
    province = models.CharField(_("province"), max_length=100, blank=True)
    district = models.CharField(_("district"), max_length=100, blank=True)
    tier = models.CharField(_("gift tier"), max_length=40, blank=True)
    window_closed_at = models.DateTimeField(_("choice window closed at"))
    released_at = models.DateTimeField(_("sent to the partner at"))
    deliver_by = models.DateTimeField(_("deliver by"))
    status = models.CharField(
        _("status"), max_length=12, choices=Status.choices, default=Status.PENDING
    )
    result_on = models.DateField(_("result date"), null=True, blank=True)
    reason = models.CharField(_("reason"), max_length=300, blank=True)
    result_at = models.DateTimeField(_("result uploaded at"), null=True, blank=True)
    upload_by = models.DateTimeField(_("results due by"), null=True, blank=True)
    notify_by = models.DateTimeField(_("customer notified by"), null=True, blank=True)
    reply_by = models.DateField(_("customer to call back by"), null=True, blank=True)
    replied_at = models.DateTimeField(
        _("customer called back at"), null=True, blank=True
    )
    # Each applied change of result bumps it; it is also the result SMS's sequence,
    # so a corrected result gets its own message and a repeated one none.
    result_version = models.PositiveIntegerField(_("result version"), default=0)
    result_message = models.ForeignKey(
        "messaging.Message",
        verbose_name=_("result SMS"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )

    objects = OrderQuerySet.as_manager()

    class Meta:
        verbose_name = _("order")
        verbose_name_plural = _("orders")
        ordering = ["campaign_id", "id"]
        permissions = [("view_dashboard", _("Can view campaign dashboards"))]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(status__in=OrderStatus.values),
                name="order_status_known",
            ),
        ]
        indexes = [
            models.Index(
                fields=["partner", "campaign", "status"], name="order_partner"
            ),
            models.Index(fields=["campaign", "msisdn"], name="order_msisdn"),
            models.Index(fields=["status", "reply_by"], name="order_reply_due"),
        ]

    def __str__(self):
        return self.code

    @property
    def local_msisdn(self) -> str:
        """The number as people write it: 0901234567."""
        return "0" + self.msisdn[2:] if self.msisdn.startswith("84") else self.msisdn

    def move_to(self, status: str) -> None:
        if status not in self.TRANSITIONS[self.Status(self.status)]:
            raise DomainError(
                _("The order is %(current)s and cannot become %(target)s.")
                % {
                    "current": self.get_status_display(),
                    "target": self.Status(status).label,
                }
            )
        self.status = status

    def sla_flags(self, now: datetime) -> list[str]:
        flags = []
        if self.status == OrderStatus.PENDING and self.deliver_by < now:
            flags.append(str(_("delivery overdue")))
        if self.result_at and self.upload_by and self.result_at > self.upload_by:
            flags.append(str(_("results uploaded late")))
        if self.notify_by and self.notify_by < now:
            message = self.result_message
            if message is None or message.status != "delivered":
                flags.append(str(_("customer not notified in time")))
        return flags


class ResultUpload(models.Model):
    """One file of delivery results, checked row by row, then applied whole or not."""

    class Status(models.TextChoices):
        CHECKED = "checked", _("checked, waiting for a decision")
        APPLIED = "applied", _("applied")
        DISCARDED = "discarded", _("discarded")

    partner = models.ForeignKey(
        Partner,
        verbose_name=_("partner"),
        on_delete=models.PROTECT,
        related_name="uploads",
    )
    campaign = models.ForeignKey(
        Campaign,
        verbose_name=_("campaign"),
        on_delete=models.CASCADE,
        related_name="result_uploads",
    )
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("uploaded by"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    file_name = models.CharField(_("file"), max_length=255)
    sha256 = models.CharField(max_length=64, editable=False)
    status = models.CharField(
        _("status"), max_length=12, choices=Status.choices, default=Status.CHECKED
    )
    headers = models.JSONField(_("columns"), default=list)
    total_rows = models.PositiveIntegerField(_("rows"), default=0)
    skipped_rows = models.PositiveIntegerField(
        _("rows without a result (skipped)"), default=0
    )
    good_rows = models.JSONField(default=list, editable=False)
    problems = models.JSONField(_("rows with problems"), default=list)
    applied_changes = models.PositiveIntegerField(_("results changed"), default=0)
    applied_unchanged = models.PositiveIntegerField(_("results unchanged"), default=0)
    created_at = models.DateTimeField(_("uploaded at"), default=timezone.now)
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)

    class Meta:
        verbose_name = _("result upload")
        verbose_name_plural = _("result uploads")
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.file_name} ({self.created_at:%d/%m/%Y %H:%M})"

    @property
    def good_count(self) -> int:
        return len(self.good_rows)

    @property
    def problem_count(self) -> int:
        return len(self.problems)


class OrderResult(models.Model):
    """One result applied to an order: the history a correction never overwrites."""

    order = models.ForeignKey(
        Order, verbose_name=_("order"), on_delete=models.CASCADE, related_name="results"
    )
    upload = models.ForeignKey(
        ResultUpload,
        verbose_name=_("upload"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="results",
    )
    version = models.PositiveIntegerField(_("version"))
    status = models.CharField(_("status"), max_length=12, choices=OrderStatus.choices)
    result_on = models.DateField(_("result date"), null=True, blank=True)
    reason = models.CharField(_("reason"), max_length=300, blank=True)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("Empty: the system."),
    )
    recorded_at = models.DateTimeField(_("recorded at"), default=timezone.now)

    class Meta:
        verbose_name = _("order result")
        verbose_name_plural = _("order results")
        ordering = ["order_id", "version"]
        constraints = [
            models.UniqueConstraint(
                fields=["order", "version"], name="order_result_version_unique"
            )
        ]

    def __str__(self):
        return f"{self.order_id} v{self.version}: {self.status}"


class FulfilmentEvent(models.Model):
    """Audit: orders released, uploads checked / applied / discarded, sweeps."""

    class Kind(models.TextChoices):
        ASSIGNED = "assigned", _("partner assigned")
        RELEASED = "released", _("orders sent to partners")
        UPLOAD_CHECKED = "upload_checked", _("result file checked")
        UPLOAD_APPLIED = "upload_applied", _("result file applied")
        UPLOAD_DISCARDED = "upload_discarded", _("result file discarded")
        DECLINED = "declined", _("no reply: recorded as declined")
        REPLIED = "replied", _("customer called back")

    campaign = models.ForeignKey(
        Campaign,
        verbose_name=_("campaign"),
        on_delete=models.CASCADE,
        related_name="+",
    )
    partner = models.ForeignKey(
        Partner,
        verbose_name=_("partner"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    data = models.JSONField(_("details"), default=dict, blank=True)
    created_at = models.DateTimeField(_("at"), default=timezone.now)

    class Meta:
        verbose_name = _("fulfilment event")
        verbose_name_plural = _("fulfilment events")
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.kind} {self.created_at:%d/%m/%Y %H:%M}"
