"""Gifts: the catalogue, its stock, the stores, and the invitations customers choose with.

An approved selection run becomes one `Invitation` per selected member, each with a
one-time password sent by SMS. The customer logs in on the gift site and makes one
`Choice`; every change to an invitation is an `InvitationEvent`, written by the service
that made it. Stock lives in `GiftStock` rows whose `remaining` the database keeps at
zero or above, whatever the concurrency.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection, models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from campaigns.models import Campaign, SelectionMember, SelectionRun
from eligibility.models import DomainError

CAMPAIGN_ZONE = ZoneInfo("Asia/Ho_Chi_Minh")

# Letters and digits nobody misreads on a small screen or in an SMS font: no 0/O/Q/D,
# 1/I/L, 2/Z, 5/S, 8/B, 6/G, U/V. Passwords are compared in capitals, so a customer
# typing lowercase still gets in.
DEFAULT_PASSWORD_ALPHABET = "ACEFHJKMNPRTWXY34679"
DEFAULT_PASSWORD_LENGTH = 6


class GiftKind(models.TextChoices):
    HOME_DELIVERY = "home_delivery", _("delivered to the home")
    STORE_PICKUP = "store_pickup", _("collected at a store")
    E_VOUCHER = "e_voucher", _("e-voucher")
    INSURANCE = "insurance", _("insurance")
    TRIP_SEAT = "trip_seat", _("seat on a trip")


# Extra details a gift may ask for, by key: the label the customer sees. A gift names
# the keys it needs in `Gift.extra_details`.
EXTRA_DETAIL_FIELDS = {
    "vehicle_registration": _("Vehicle registration number"),
    "vehicle_owner": _("Owner's name on the vehicle registration"),
    "id_number": _("ID card (CCCD) number"),
    "email": _("Email address"),
    "passport_number": _("Passport number"),
    "date_of_birth": _("Date of birth (dd/mm/yyyy)"),
}


class NoChoicePolicy(models.TextChoices):
    NOTHING = "nothing", _("no gift")
    AUTO_ASSIGN = "auto_assign", _("assign a gift automatically")
    CALL = "call", _("call agents help the customer choose")


class GiftSettings(models.Model):
    """How a campaign runs its gift choice (one row per campaign; defaults fit 000)."""

    campaign = models.OneToOneField(
        Campaign,
        verbose_name=_("campaign"),
        on_delete=models.CASCADE,
        related_name="gift_settings",
    )
    choice_window_days = models.PositiveSmallIntegerField(
        _("days to choose"),
        default=3,
        help_text=_(
            "The deadline is 23:59 (Vietnam time) this many days after the day the "
            "invitation is sent."
        ),
    )
    allow_change = models.BooleanField(
        _("choice can be changed until the deadline"), default=True
    )
    no_choice_policy = models.CharField(
        _("when a customer does not choose"),
        max_length=20,
        choices=NoChoicePolicy.choices,
        default=NoChoicePolicy.NOTHING,
    )
    call_days = models.PositiveSmallIntegerField(
        _("days for call agents after the deadline"),
        default=0,
        help_text=_("With 'call agents help': how long agents may still choose."),
    )
    invite_on_approval = models.BooleanField(
        _("send invitations when the list is approved"),
        default=True,
        help_text=_(
            "Each selected member gets a password SMS to choose on the gift site as soon "
            "as a selection run is approved. Turn off for campaigns whose gifts are "
            "handed over in stores, on visits or by call agents."
        ),
    )
    password_length = models.PositiveSmallIntegerField(
        _("password length"), default=DEFAULT_PASSWORD_LENGTH
    )
    password_alphabet = models.CharField(
        _("password characters"), max_length=64, default=DEFAULT_PASSWORD_ALPHABET
    )

    class Meta:
        verbose_name = _("gift settings")
        verbose_name_plural = _("gift settings")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(password_length__gte=4)
                & models.Q(password_length__lte=16),
                name="gift_settings_password_length",
            ),
            models.CheckConstraint(
                condition=models.Q(choice_window_days__gte=1),
                name="gift_settings_window_not_empty",
            ),
        ]

    def __str__(self):
        return str(_("Gift settings of %(code)s") % {"code": self.campaign.code})

    def deadline_for(self, sent_at: datetime) -> datetime:
        """23:59:59 in Vietnam, `choice_window_days` days after the local day of sending.

        An SMS sent at 20:00 UTC is already the next day in Vietnam (UTC+7), so the
        days are counted from the local date, never the UTC one.
        """
        local_day = timezone.localtime(sent_at, CAMPAIGN_ZONE).date()
        last_day = local_day + timedelta(days=self.choice_window_days)
        return datetime.combine(last_day, time(23, 59, 59), tzinfo=CAMPAIGN_ZONE)


class Gift(models.Model):
    """One gift of a campaign's catalogue, offered to some gift tiers."""

    campaign = models.ForeignKey(
        Campaign,
        verbose_name=_("campaign"),
        on_delete=models.CASCADE,
        related_name="gifts",
    )
    code = models.SlugField(_("code"), max_length=40)
    name = models.CharField(_("name"), max_length=200)
    picture = models.ImageField(_("picture"), upload_to="gifts/", blank=True)
    value_vnd = models.PositiveBigIntegerField(_("value (đ)"), default=0)
    description = models.TextField(_("description"), blank=True)
    kind = models.CharField(_("kind"), max_length=20, choices=GiftKind.choices)
    # The catalogue of one campaign is a few dozen rows read whole, so the tiers are a
    # plain list filtered in Python rather than a join table.
    tiers = models.JSONField(
        _("gift tiers"),
        default=list,
        blank=True,
        help_text=_('Gift tier codes offered this gift, e.g. ["nhom-2"]; empty: all.'),
    )
    extra_details = models.JSONField(
        _("details asked for"),
        default=list,
        blank=True,
        help_text=_(
            'Keys of the details the customer must give, e.g. ["vehicle_registration"].'
        ),
    )
    position = models.PositiveSmallIntegerField(_("order"), default=0)
    active = models.BooleanField(_("offered"), default=True)

    class Meta:
        verbose_name = _("gift")
        verbose_name_plural = _("gifts")
        ordering = ["campaign_id", "position", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "code"], name="gift_code_unique"
            ),
            models.CheckConstraint(
                condition=models.Q(kind__in=GiftKind.values), name="gift_kind_known"
            ),
        ]

    def __str__(self):
        return self.name

    def offered_to(self, tier: str) -> bool:
        return self.active and (not self.tiers or tier in self.tiers)

    @property
    def needs_address(self) -> bool:
        return self.kind == GiftKind.HOME_DELIVERY

    @property
    def needs_store(self) -> bool:
        return self.kind == GiftKind.STORE_PICKUP

    def detail_fields(self) -> list[tuple[str, str]]:
        return [
            (key, EXTRA_DETAIL_FIELDS[key])
            for key in self.extra_details
            if key in EXTRA_DETAIL_FIELDS
        ]


class GiftStock(models.Model):
    """Units of a gift, for the whole campaign or one tier or province.

    A member draws from the most specific row that fits: tier and province, then tier,
    then province, then the row for everyone. `remaining` only moves by conditional
    UPDATEs (services.stock_take); the CHECK keeps it from ever going below zero.
    """

    gift = models.ForeignKey(
        Gift, verbose_name=_("gift"), on_delete=models.CASCADE, related_name="stocks"
    )
    tier = models.CharField(
        _("gift tier"), max_length=40, blank=True, help_text=_("Empty: any tier.")
    )
    province = models.CharField(
        _("province"), max_length=100, blank=True, help_text=_("Empty: any province.")
    )
    total = models.PositiveIntegerField(_("units"))
    remaining = models.IntegerField(_("units left"))

    class Meta:
        verbose_name = _("stock")
        verbose_name_plural = _("stock")
        ordering = ["gift_id", "tier", "province"]
        constraints = [
            models.UniqueConstraint(
                fields=["gift", "tier", "province"], name="gift_stock_unique"
            ),
            models.CheckConstraint(
                condition=models.Q(remaining__gte=0), name="gift_stock_not_negative"
            ),
            models.CheckConstraint(
                condition=models.Q(remaining__lte=models.F("total")),
                name="gift_stock_within_total",
            ),
        ]

    def __str__(self):
        scope = " / ".join(part for part in [self.tier, self.province] if part)
        return f"{self.gift} ({scope or _('all')}): {self.remaining}/{self.total}"

    def fits(self, *, tier: str, province: str) -> bool:
        return self.tier in ("", tier) and self.province in ("", province)

    @property
    def specificity(self) -> int:
        return (2 if self.tier else 0) + (1 if self.province else 0)


class Store(models.Model):
    """A store (CH / TTGD) where customers collect pickup gifts."""

    code = models.SlugField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=200)
    address = models.CharField(_("address"), max_length=300)
    province = models.CharField(_("province"), max_length=100)
    district = models.CharField(_("district"), max_length=100)
    opening_hours = models.CharField(
        _("opening hours"), max_length=200, blank=True, help_text=_("e.g. 7:30–21:00")
    )
    active = models.BooleanField(_("open for pickups"), default=True)

    class Meta:
        verbose_name = _("store")
        verbose_name_plural = _("stores")
        ordering = ["province", "district", "name"]
        indexes = [models.Index(fields=["province", "district"], name="store_district")]

    def __str__(self):
        return f"{self.name} – {self.address}"


class InvitationStatus(models.TextChoices):
    ISSUED = "issued", _("invited")
    CHOSEN = "chosen", _("gift chosen")
    ASSIGNED = "assigned", _("gift assigned")
    EXPIRED = "expired", _("no choice in time")
    CANCELLED = "cancelled", _("cancelled")


class InvitationQuerySet(models.QuerySet):
    def due(self, now: datetime):
        """Invitations still waiting for a choice whose deadline has passed."""
        return self.filter(status=InvitationStatus.ISSUED, deadline__lt=now)

    def for_site(self, invitation_id: int, *, lock: bool = False) -> Invitation | None:
        """The invitation with its campaign, gift settings and member's name, in one
        query; with `lock`, the invitation row is locked (FOR UPDATE) until commit.

        Every page of the login burst and every choice starts here, so the query is
        written out: the ORM spent more time building this three-table SELECT than
        PostgreSQL spent running it. Only the columns the site and the choice use are
        read; the objects must not be saved whole.
        """
        lock_clause = ""
        if lock and connection.features.has_select_for_update:
            lock_clause = "FOR UPDATE OF i"
        with connection.cursor() as cursor:
            cursor.execute(
                f"""
                SELECT i.campaign_id, i.msisdn, i.tier, i.province, i.district,
                       i.deadline, i.status, i.revision, i.member_id, m.full_name,
                       c.code, c.name, c.status, c.until_gifts_run_out,
                       s.id, s.allow_change, s.no_choice_policy, s.call_days
                FROM {Invitation._meta.db_table} i
                JOIN {Campaign._meta.db_table} c ON c.id = i.campaign_id
                JOIN {SelectionMember._meta.db_table} m ON m.id = i.member_id
                LEFT JOIN {GiftSettings._meta.db_table} s ON s.campaign_id = c.id
                WHERE i.id = %s
                {lock_clause}
                """,
                [invitation_id],
            )
            row = cursor.fetchone()
        if row is None:
            return None
        (campaign_id, msisdn, tier, province, district, deadline, status, revision,
         member_id, full_name, code, name, campaign_status, until_gone,
         settings_id, allow_change, policy, call_days) = row  # fmt: skip
        campaign = Campaign(
            pk=campaign_id,
            code=code,
            name=name,
            status=campaign_status,
            until_gifts_run_out=until_gone,
        )
        defaults = GiftSettings()
        campaign.gift_settings = GiftSettings(
            pk=settings_id,
            campaign=campaign,
            allow_change=defaults.allow_change if settings_id is None else allow_change,
            no_choice_policy=policy or defaults.no_choice_policy,
            call_days=defaults.call_days if settings_id is None else call_days,
        )
        if isinstance(deadline, str):  # SQLite hands timestamps back as text
            deadline = datetime.fromisoformat(deadline)
        if timezone.is_naive(deadline):
            deadline = timezone.make_aware(deadline, UTC)
        return Invitation(
            pk=invitation_id,
            campaign=campaign,
            member=SelectionMember(pk=member_id, full_name=full_name),
            msisdn=msisdn,
            tier=tier,
            province=province,
            district=district,
            deadline=deadline,
            status=status,
            revision=revision,
        )


class Invitation(models.Model):
    """A selected member's invitation to choose a gift, with its one-time password.

    The password is kept only as a keyed hash (services.password_hash); the tier,
    province and district are copied from the member because the site filters on
    them on every page.
    """

    Status = InvitationStatus

    TRANSITIONS = {
        Status.ISSUED: {
            Status.CHOSEN,
            Status.ASSIGNED,
            Status.EXPIRED,
            Status.CANCELLED,
        },
        Status.CHOSEN: {Status.CANCELLED},
        Status.ASSIGNED: {Status.CANCELLED},
        # A call agent may still choose for a member after the deadline (policy "call").
        Status.EXPIRED: {Status.CHOSEN, Status.ASSIGNED},
        Status.CANCELLED: set(),
    }

    campaign = models.ForeignKey(
        Campaign,
        verbose_name=_("campaign"),
        on_delete=models.CASCADE,
        related_name="invitations",
    )
    run = models.ForeignKey(
        SelectionRun,
        verbose_name=_("selection run"),
        on_delete=models.PROTECT,
        related_name="invitations",
    )
    member = models.ForeignKey(
        SelectionMember,
        verbose_name=_("member"),
        on_delete=models.PROTECT,
        related_name="invitations",
    )
    msisdn = models.CharField(_("MSISDN"), max_length=11)
    tier = models.CharField(_("gift tier"), max_length=40, blank=True)
    province = models.CharField(_("province"), max_length=100, blank=True)
    district = models.CharField(_("district"), max_length=100, blank=True)
    password_hash = models.CharField(max_length=64, editable=False)
    # Each new password is a new SMS; the count is the message's sequence number.
    password_version = models.PositiveSmallIntegerField(default=1, editable=False)
    issued_at = models.DateTimeField(_("invited at"), default=timezone.now)
    deadline = models.DateTimeField(_("choose by"))
    status = models.CharField(
        _("status"),
        max_length=12,
        choices=Status.choices,
        default=Status.ISSUED,
    )
    failed_attempts = models.PositiveIntegerField(_("wrong passwords"), default=0)
    locked_until = models.DateTimeField(_("locked until"), null=True, blank=True)
    last_login_at = models.DateTimeField(_("last login"), null=True, blank=True)
    # Bumped by every choice; a form carries the value it was drawn with, so a second
    # tab or a replayed form is refused instead of silently changing the choice.
    revision = models.PositiveIntegerField(default=0, editable=False)

    objects = InvitationQuerySet.as_manager()

    class Meta:
        verbose_name = _("invitation")
        verbose_name_plural = _("invitations")
        ordering = ["campaign_id", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "msisdn"], name="invitation_one_per_line"
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=InvitationStatus.values),
                name="invitation_status_known",
            ),
        ]
        indexes = [
            models.Index(fields=["msisdn"], name="invitation_msisdn"),
            models.Index(
                fields=["campaign", "status", "deadline"], name="invitation_due"
            ),
        ]

    def __str__(self):
        return f"{self.msisdn} ({self.campaign.code})"

    def move_to(self, status: str) -> None:
        if status not in self.TRANSITIONS[self.Status(self.status)]:
            raise DomainError(
                _("The invitation is %(current)s and cannot become %(target)s.")
                % {
                    "current": self.get_status_display(),
                    "target": self.Status(status).label,
                }
            )
        self.status = status

    def is_open(self, now: datetime) -> bool:
        """The customer may still choose (or change) on the site."""
        return (
            self.status in (self.Status.ISSUED, self.Status.CHOSEN)
            and now <= self.deadline
        )

    def is_locked(self, now: datetime) -> bool:
        return self.locked_until is not None and self.locked_until > now


class Choice(models.Model):
    """The gift an invitation settled on, and where it goes. One per invitation.

    A change rewrites this row; the earlier versions stay in the invitation's events.
    """

    class Fulfilment(models.TextChoices):
        PENDING = "pending", _("being prepared")
        DELIVERED = "delivered", _("delivered")
        FAILED = "failed", _("not delivered")

    invitation = models.ForeignKey(
        Invitation,
        verbose_name=_("invitation"),
        on_delete=models.CASCADE,
        related_name="choices",
    )
    gift = models.ForeignKey(
        Gift, verbose_name=_("gift"), on_delete=models.PROTECT, related_name="choices"
    )
    # The row the unit was taken from, so a change gives that unit back.
    stock = models.ForeignKey(
        GiftStock, on_delete=models.PROTECT, related_name="choices"
    )
    code = models.CharField(_("order / pickup code"), max_length=12, unique=True)
    recipient_name = models.CharField(_("recipient"), max_length=200, blank=True)
    address = models.CharField(_("delivery address"), max_length=300, blank=True)
    address_from_records = models.BooleanField(
        _("deliver to the address on record"),
        default=False,
        help_text=_(
            "Assigned automatically: the partner uses the subscriber's address."
        ),
    )
    store = models.ForeignKey(
        Store,
        verbose_name=_("store"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="choices",
    )
    details = models.JSONField(_("details"), default=dict, blank=True)
    chosen_by_agent = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("chosen by agent"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    auto_assigned = models.BooleanField(_("assigned automatically"), default=False)
    fulfilment = models.CharField(
        _("delivery"),
        max_length=12,
        choices=Fulfilment.choices,
        default=Fulfilment.PENDING,
    )
    chosen_at = models.DateTimeField(_("chosen at"), default=timezone.now)
    changed_at = models.DateTimeField(_("changed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("choice")
        verbose_name_plural = _("choices")
        ordering = ["-chosen_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["invitation"], name="choice_one_per_invitation"
            )
        ]

    def __str__(self):
        return f"{self.code}: {self.gift}"

    def detail_items(self) -> list[tuple[str, str]]:
        return [
            (EXTRA_DETAIL_FIELDS.get(key, key), value)
            for key, value in self.details.items()
        ]


class InvitationEvent(models.Model):
    """One change to an invitation: who (customer, agent, staff, system), what, when."""

    class Kind(models.TextChoices):
        ISSUED = "issued", _("invited")
        LOCKED = "locked", _("locked after wrong passwords")
        UNLOCKED = "unlocked", _("unlocked")
        PASSWORD_RESENT = "password_resent", _("new password sent")
        CHOSEN = "chosen", _("gift chosen")
        CHANGED = "changed", _("choice changed")
        ASSIGNED = "assigned", _("gift assigned automatically")
        EXPIRED = "expired", _("no choice in time")
        CANCELLED = "cancelled", _("cancelled")

    invitation = models.ForeignKey(
        Invitation,
        verbose_name=_("invitation"),
        on_delete=models.CASCADE,
        related_name="events",
    )
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("Empty: the customer or the system."),
    )
    data = models.JSONField(_("details"), default=dict, blank=True)
    created_at = models.DateTimeField(_("at"), default=timezone.now)

    class Meta:
        verbose_name = _("invitation event")
        verbose_name_plural = _("invitation events")
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(
                fields=["invitation", "created_at"], name="invitation_event_time"
            )
        ]

    def __str__(self):
        return f"{self.invitation_id} {self.kind} {self.created_at:%d/%m/%Y %H:%M}"


class InvitableRun(SelectionRun):
    """Selection runs as the gift admin lists them, to send their invitations."""

    class Meta:
        proxy = True
        verbose_name = _("list to invite")
        verbose_name_plural = _("lists to invite")
