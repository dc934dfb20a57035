"""The operator's subscriber data: dated snapshots, their subscribers and billing cycles,
named lists, and the import jobs that load them.

Subscribers and billing rows are keyed by (snapshot, msisdn) rather than by foreign keys:
imports write millions of rows with COPY and rules join the two sets in SQL, so a
surrogate key would only cost a lookup per row.
"""

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from eligibility.fields import MsisdnNumberField


class DomainError(Exception):
    """A request the domain refuses; str(exc) is the user-facing message."""


class Snapshot(models.Model):
    """The operator's data as of one date ("thời điểm lấy dữ liệu"); campaigns name one."""

    name = models.CharField(_("name"), max_length=120, unique=True)
    taken_on = models.DateField(
        _("data as of"), help_text=_("The date the operator extracted the data.")
    )
    description = models.TextField(_("description"), blank=True)
    subscriber_count = models.PositiveIntegerField(_("subscribers"), default=0)
    billing_count = models.PositiveBigIntegerField(_("billing rows"), default=0)
    # Distinct billing cycles, provinces and districts, computed on first use after an
    # import (a scan of millions of rows) and emptied by the next import.
    facts = models.JSONField(default=dict, blank=True, editable=False)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("snapshot")
        verbose_name_plural = _("snapshots")
        ordering = ["-taken_on", "-id"]
        permissions = [("import_subscriber_data", _("Can import subscriber data"))]

    def __str__(self):
        return f"{self.name} ({self.taken_on:%d/%m/%Y})"

    def get_facts(self) -> dict:
        """{"cycles": ["YYYY-MM", …], "provinces": […], "districts": [[p, d], …]}."""
        if not self.facts:
            subscribers = Subscriber.objects.filter(snapshot=self).order_by()
            facts = {
                "cycles": [f"{c:%Y-%m}" for c in self.billing_cycles()],
                "provinces": sorted(
                    subscribers.values_list("province", flat=True).distinct()
                ),
                "districts": sorted(
                    [
                        list(pair)
                        for pair in subscribers.values_list(
                            "province", "district"
                        ).distinct()
                    ]
                ),
            }
            Snapshot.objects.filter(pk=self.pk).update(facts=facts)
            self.facts = facts
        return self.facts

    def billing_cycles(self) -> list:
        """The billing cycles present in this snapshot, oldest first (first-of-month dates)."""
        return list(
            BillingRecord.objects.filter(snapshot=self)
            .order_by("cycle")
            .values_list("cycle", flat=True)
            .distinct()
        )


class SubscriptionType(models.TextChoices):
    PREPAID = "prepaid", _("prepaid")
    POSTPAID = "postpaid", _("postpaid")


class LineStatus(models.TextChoices):
    TWO_WAY = "2C", _("two-way active")
    ONE_WAY_BLOCKED = "1C", _("one-way blocked")
    TWO_WAY_BLOCKED = "0C", _("two-way blocked")
    CANCELLED = "CANCELLED", _("cancelled")


class CustomerType(models.TextChoices):
    INDIVIDUAL = "individual", _("individual (KHCN)")
    ENTERPRISE = "enterprise", _("enterprise (KHDN)")


class EnterpriseRole(models.TextChoices):
    NONE = "", _("none")
    STAFF = "staff", _("staff")
    HEAD_OF_DEPARTMENT = "head_of_department", _("head of department")
    DIRECTOR = "director", _("director")


class LineKind(models.TextChoices):
    NORMAL = "normal", _("normal")
    SERVICE = "service", _("service line")
    TEST = "test", _("test SIM")


class PaymentMethod(models.TextChoices):
    NONE = "", _("unknown")
    CASH = "cash", _("cash")
    BANK_ONLINE = "bank_online", _("bank, online")
    BANK_AUTO_DEBIT = "bank_auto_debit", _("bank, auto-debit")
    BANK_COLLECTION = "bank_collection", _("bank, collection")
    BANK_TRANSFER = "bank_transfer", _("bank, transfer order")
    PREPAID_BALANCE = "prepaid_balance", _("prepaid balance")


class Subscriber(models.Model):
    """One line (MSISDN) in one snapshot, as the operator's data warehouse described it."""

    # Millions of rows per snapshot: they go with their partition (services.
    # snapshot_delete), never one by one through Django's cascade. Each partition's
    # CHECK pins its snapshot; a foreign key would only re-read every row on attach.
    snapshot = models.ForeignKey(
        Snapshot,
        on_delete=models.DO_NOTHING,
        related_name="subscribers",
        db_constraint=False,
    )
    msisdn = MsisdnNumberField(_("MSISDN"))
    full_name = models.CharField(_("full name"), max_length=200, blank=True)
    subscription_type = models.CharField(
        _("subscription type"), max_length=10, choices=SubscriptionType.choices
    )
    status = models.CharField(_("status"), max_length=10, choices=LineStatus.choices)
    contract_date = models.DateField(_("contract date"))
    customer_type = models.CharField(
        _("customer type"), max_length=10, choices=CustomerType.choices
    )
    enterprise_role = models.CharField(
        _("enterprise role"),
        max_length=20,
        choices=EnterpriseRole.choices,
        blank=True,
        default="",
    )
    company = models.PositiveSmallIntegerField(_("company"))
    province = models.CharField(_("province"), max_length=100)
    district = models.CharField(_("district"), max_length=100, blank=True, default="")
    address = models.CharField(_("address"), max_length=300, blank=True, default="")
    birth_date = models.DateField(_("birth date"), null=True, blank=True)
    nationality = models.CharField(
        _("nationality"), max_length=2, blank=True, default=""
    )
    is_owner = models.BooleanField(_("registered owner"), default=False)
    record_standardized = models.BooleanField(_("record standardised"), default=False)
    is_premium = models.BooleanField(_("premium customer"), default=False)
    loyalty_member = models.BooleanField(_("loyalty member"), default=False)
    loyalty_tier = models.CharField(
        _("loyalty tier"), max_length=40, blank=True, default=""
    )
    loyalty_points = models.IntegerField(_("loyalty points"), default=0)
    line_kind = models.CharField(
        _("line kind"), max_length=10, choices=LineKind.choices, default=LineKind.NORMAL
    )
    vlr_days_7 = models.PositiveSmallIntegerField(_("days in VLR (last 7)"), default=0)
    handset_network = models.CharField(
        _("handset network"), max_length=3, blank=True, default=""
    )
    handset_os = models.CharField(
        _("handset OS"), max_length=10, blank=True, default=""
    )
    sim_4g = models.BooleanField(_("4G SIM"), default=False)
    payment_method = models.CharField(
        _("payment method"),
        max_length=20,
        choices=PaymentMethod.choices,
        blank=True,
        default="",
    )
    package_code = models.CharField(_("package"), max_length=50, blank=True, default="")
    mvas_idle_2m = models.BooleanField(_("idle mVAS for 2 months"), default=False)
    has_app = models.BooleanField(_("has My MobiFone"), default=False)
    churn_risk = models.DecimalField(
        _("churn risk"), max_digits=4, decimal_places=3, null=True, blank=True
    )
    ownership_changed_on = models.DateField(
        _("ownership changed on"), null=True, blank=True
    )
    extra = models.JSONField(
        _("extra attributes"),
        default=dict,
        blank=True,
        help_text=_("Columns of the file that are not ours; rules may use them."),
    )

    class Meta:
        verbose_name = _("subscriber")
        verbose_name_plural = _("subscribers")
        constraints = [
            models.UniqueConstraint(
                # Number first: inside a snapshot's partition the snapshot is the
                # same on every row, and sorting on it first made the import's
                # index build compare the whole key every time.
                fields=["msisdn", "snapshot"],
                name="subscriber_unique_per_snapshot",
            ),
            models.CheckConstraint(
                condition=models.Q(company__gte=1, company__lte=9),
                name="subscriber_company_1_to_9",
            ),
            models.CheckConstraint(
                condition=models.Q(vlr_days_7__lte=7), name="subscriber_vlr_days_le_7"
            ),
        ]

    def __str__(self):
        return f"{self.msisdn} {self.full_name}"


class BillingRecord(models.Model):
    """One line's charges in one billing cycle of a snapshot."""

    # Millions of rows per snapshot: they go with their partition (services.
    # snapshot_delete), never one by one through Django's cascade. Each partition's
    # CHECK pins its snapshot; a foreign key would only re-read every row on attach.
    snapshot = models.ForeignKey(
        Snapshot,
        on_delete=models.DO_NOTHING,
        related_name="billing_records",
        db_constraint=False,
    )
    msisdn = MsisdnNumberField(_("MSISDN"))
    cycle = models.DateField(_("billing cycle"), help_text=_("First day of the month."))
    revenue_total = models.BigIntegerField(_("total revenue"))
    revenue_voice = models.BigIntegerField(_("voice revenue"), default=0)
    revenue_sms = models.BigIntegerField(_("SMS revenue"), default=0)
    revenue_data = models.BigIntegerField(_("data revenue"), default=0)
    revenue_excluded = models.BigIntegerField(_("excluded revenue"), default=0)
    paid = models.BooleanField(_("paid"), default=False)
    debt_blocked = models.BooleanField(_("blocked for debt"), default=False)
    payment_channel = models.CharField(
        _("payment channel"),
        max_length=20,
        choices=PaymentMethod.choices,
        blank=True,
        default="",
    )

    class Meta:
        verbose_name = _("billing record")
        verbose_name_plural = _("billing records")
        constraints = [
            models.UniqueConstraint(
                fields=["msisdn", "cycle", "snapshot"],  # number first, as above
                name="billing_unique_per_snapshot_line_cycle",
            ),
            models.CheckConstraint(
                condition=models.Q(
                    revenue_total__gte=0,
                    revenue_voice__gte=0,
                    revenue_sms__gte=0,
                    revenue_data__gte=0,
                    revenue_excluded__gte=0,
                ),
                name="billing_revenue_not_negative",
            ),
        ]

    def __str__(self):
        return f"{self.msisdn} {self.cycle:%m/%Y}"


class NamedList(models.Model):
    """A named list of MSISDNs ("KHCC đã gọi ra đợt 1") that rules include or exclude."""

    name = models.CharField(_("name"), max_length=200, unique=True)
    description = models.TextField(_("description"), blank=True)
    entry_count = models.PositiveIntegerField(_("entries"), default=0)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)

    class Meta:
        verbose_name = _("named list")
        verbose_name_plural = _("named lists")
        ordering = ["name"]

    def __str__(self):
        return self.name


class NamedListEntry(models.Model):
    named_list = models.ForeignKey(
        NamedList, on_delete=models.CASCADE, related_name="entries"
    )
    msisdn = models.CharField(_("MSISDN"), max_length=11)
    attributes = models.JSONField(_("attributes"), default=dict, blank=True)

    class Meta:
        verbose_name = _("named list entry")
        verbose_name_plural = _("named list entries")
        constraints = [
            models.UniqueConstraint(
                fields=["named_list", "msisdn"], name="named_list_entry_unique"
            )
        ]

    def __str__(self):
        return self.msisdn


class ImportKind(models.TextChoices):
    SUBSCRIBERS = "subscribers", _("subscribers file")
    BILLING = "billing", _("billing file")
    NAMED_LIST = "named_list", _("named list")


class HeaderAlias(models.Model):
    """A file header a staff member mapped to one of our columns, remembered for next time."""

    kind = models.CharField(_("file kind"), max_length=20, choices=ImportKind.choices)
    header_key = models.CharField(
        _("header"), max_length=200, help_text=_("Lower-cased, without diacritics.")
    )
    field = models.CharField(_("column"), max_length=50)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("remembered column mapping")
        verbose_name_plural = _("remembered column mappings")
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "header_key"], name="header_alias_unique"
            )
        ]

    def __str__(self):
        return f"{self.header_key} → {self.field}"


class ImportJob(models.Model):
    """One uploaded file on its way into a snapshot or a named list.

    Checking records the rejected rows and sets the good ones aside; nothing reaches the
    snapshot until a person (or a command with --commit) imports the good rows.
    """

    class Status(models.TextChoices):
        UPLOADED = "uploaded", _("uploaded, columns to map")
        VALIDATING = "validating", _("checking rows")
        VALIDATED = "validated", _("checked, waiting for a decision")
        IMPORTING = "importing", _("importing")
        IMPORTED = "imported", _("imported")
        DISCARDED = "discarded", _("discarded")
        FAILED = "failed", _("failed")

    # Allowed moves, in one place; anything else is a DomainError.
    TRANSITIONS = {
        Status.UPLOADED: {Status.VALIDATING, Status.DISCARDED, Status.FAILED},
        Status.VALIDATING: {Status.VALIDATED, Status.FAILED},
        Status.VALIDATED: {Status.IMPORTING, Status.DISCARDED, Status.VALIDATING},
        Status.IMPORTING: {Status.IMPORTED, Status.FAILED, Status.VALIDATED},
        Status.FAILED: {Status.VALIDATING, Status.DISCARDED},
        Status.IMPORTED: set(),
        Status.DISCARDED: set(),
    }

    kind = models.CharField(_("file kind"), max_length=20, choices=ImportKind.choices)
    snapshot = models.ForeignKey(
        Snapshot,
        verbose_name=_("snapshot"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="import_jobs",
    )
    list_name = models.CharField(_("list name"), max_length=200, blank=True)
    named_list = models.ForeignKey(
        NamedList,
        verbose_name=_("named list"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="import_jobs",
    )
    source_file = models.FileField(_("file"), upload_to="imports/%Y/%m/")
    original_name = models.CharField(_("file name"), max_length=255)
    file_format = models.CharField(_("format"), max_length=4, blank=True)
    file_sha256 = models.CharField(max_length=64, blank=True)
    file_size = models.PositiveBigIntegerField(_("size"), default=0)
    headers = models.JSONField(_("file headers"), default=list, blank=True)
    column_map = models.JSONField(
        _("column mapping"),
        default=dict,
        blank=True,
        help_text=_("Our column -> index of the file's column."),
    )
    status = models.CharField(
        _("status"), max_length=12, choices=Status.choices, default=Status.UPLOADED
    )
    progress_done = models.PositiveBigIntegerField(default=0)
    progress_total = models.PositiveBigIntegerField(default=0)
    progress_step = models.CharField(max_length=100, blank=True)
    total_rows = models.PositiveBigIntegerField(_("rows"), default=0)
    valid_rows = models.PositiveBigIntegerField(_("good rows"), default=0)
    rejected_rows = models.PositiveBigIntegerField(_("rejected rows"), default=0)
    imported_rows = models.PositiveBigIntegerField(_("imported rows"), default=0)
    unchanged = models.BooleanField(
        _("unchanged"),
        default=False,
        help_text=_("The same file had already been imported; nothing changed."),
    )
    rejects_file = models.FileField(
        _("rejected rows file"), upload_to="imports/rejects/", blank=True
    )
    error = models.TextField(_("error"), blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("uploaded by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(_("uploaded at"), default=timezone.now)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("decided by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("data import")
        verbose_name_plural = _("data imports")
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.get_kind_display()}: {self.original_name}"

    def move_to(self, status: str) -> None:
        """Change status in memory after checking the move is allowed."""
        if status not in self.TRANSITIONS[self.Status(self.status)]:
            raise DomainError(
                _("This import is %(current)s and cannot become %(target)s.")
                % {
                    "current": self.get_status_display(),
                    "target": self.Status(status).label,
                }
            )
        self.status = status

    @property
    def is_running(self) -> bool:
        return self.status in {self.Status.VALIDATING, self.Status.IMPORTING}

    @property
    def progress_percent(self) -> int:
        if not self.progress_total:
            return 0
        return min(100, int(100 * self.progress_done / self.progress_total))

    @property
    def target_label(self) -> str:
        if self.kind == ImportKind.NAMED_LIST:
            return self.list_name
        return str(self.snapshot) if self.snapshot_id else ""


class ImportRejection(models.Model):
    """A row of an import that has problems, kept with its cells for the rejects file."""

    job = models.ForeignKey(
        ImportJob, on_delete=models.CASCADE, related_name="rejections"
    )
    row_no = models.PositiveBigIntegerField(_("data row"))
    problems = models.TextField(_("problems"))
    cells = models.JSONField(_("cells"), default=list)

    class Meta:
        verbose_name = _("rejected row")
        verbose_name_plural = _("rejected rows")
        indexes = [models.Index(fields=["job", "row_no"], name="import_rejection_row")]

    def __str__(self):
        return f"{self.job_id}:{self.sheet_row}"

    @property
    def sheet_row(self) -> int:
        """The row as a spreadsheet shows it: the header is row 1."""
        return self.row_no + 1
