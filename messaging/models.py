"""Messaging: templates care staff write, the outbox the gateways drain, what comes back.

Domain apps hand messages over through `messaging.services` inside their own
transaction; a message is a row of the outbox (`Message`) keyed by (campaign, number,
purpose, sequence), so running a step again never writes a second one. Dispatch
workers claim due rows, hand them to the gateway backend at the shared rate, and the
gateway's delivery reports settle them.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from datetime import date, datetime, time, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from campaigns.models import Campaign
from eligibility.models import DomainError
from messaging import encoding, sealing

MASK = "******"


class Purpose(models.TextChoices):
    INVITATION = "invitation", _("invitation")
    REMINDER = "reminder", _("reminder")
    STORE_INVITATION = "store_invitation", _("store invitation")
    DELIVERY_SUCCESS = "delivery_success", _("delivery succeeded")
    DELIVERY_FAILURE = "delivery_failure", _("delivery failed")
    POINTS = "points", _("loyalty points")
    APP_LINK = "app_link", _("app download link")
    PACKAGE_OFFER = "package_offer", _("package offer")
    LOYALTY_SIGNUP = "loyalty_signup", _("loyalty sign-up")
    ZALO_RECORD_UPDATE = "zalo_record_update", _("subscriber record update (Zalo)")
    HELP_REPLY = "help_reply", _("help reply")
    OTHER = "other", _("other")


class Channel(models.TextChoices):
    SMS = "sms", _("SMS")
    ZALO = "zalo", _("Zalo")


# Every placeholder a template may use, with a sample value of typical length: the
# sample rendering is what the segment limit is checked against when a template is
# saved, and what the admin previews when no subscriber is at hand.
PLACEHOLDERS = {
    "name": ("Nguyễn Văn An", _("the customer's name")),
    "msisdn": ("0901234567", _("the customer's number")),
    "password": ("123456", _("the gift-site password (the message is sealed)")),
    "deadline": ("23:59 13/11/2022", _("the deadline to choose")),
    "gift": ("Bộ nồi inox 5 đáy", _("the gift")),
    "reason": ("không liên lạc được", _("why a delivery failed")),
    "reply_by": ("20/12/2022", _("the date to call back by")),
    "points": ("1.250", _("loyalty points")),
    "tier": ("Vàng", _("loyalty tier")),
    "store": ("CH MobiFone 12 Hòa Bình, Ninh Kiều", _("the store to visit")),
    "link": ("https://mbf.vn/appdl", _("a link (app download, form)")),
    "package": ("E50", _("a tariff package")),
    "price": ("50.000đ", _("the package price")),
    "bonus": ("1GB data", _("what signing up adds")),
    "date": ("28/10/2022", _("a date")),
    "hotline": ("9090", _("the hotline")),
}


def placeholders_in(body: str) -> list[str]:
    """The placeholder names `body` uses, in order; ValidationError if malformed."""
    try:
        fields = [
            field
            for _literal, field, _spec, _conv in string.Formatter().parse(body)
            if field is not None
        ]
    except ValueError as exc:
        raise ValidationError(
            _("The text has an unmatched brace: write {{ or }} for a literal brace.")
        ) from exc
    return fields


def check_placeholders(body: str) -> list[str]:
    """Raise ValidationError naming each unknown or malformed placeholder."""
    fields = placeholders_in(body)
    unknown = [field for field in fields if field not in PLACEHOLDERS]
    if unknown:
        raise ValidationError(
            _("Unknown placeholder: %(names)s. Known: %(known)s."),
            params={
                "names": ", ".join(f"{{{name}}}" for name in dict.fromkeys(unknown)),
                "known": ", ".join(f"{{{name}}}" for name in PLACEHOLDERS),
            },
            code="unknown_placeholder",
        )
    return fields


def format_value(value) -> str:
    """A context value as the customer reads it: dd/mm/yyyy, 1.250, local times."""
    if isinstance(value, datetime):
        if timezone.is_aware(value):
            value = timezone.localtime(value)
        return value.strftime("%H:%M %d/%m/%Y")
    if isinstance(value, date):
        return value.strftime("%d/%m/%Y")
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}".replace(",", ".")
    return str(value)


class _PreparedBody:
    """A template body split once into literal text and placeholders.

    Joining the pieces costs a fraction of `str.format_map`, which parses the whole
    body again for every message; bodies with a format spec or conversion (which
    the placeholder check allows) still go through `format_map`.
    """

    def __init__(self, body: str):
        self.body = body
        parsed = list(string.Formatter().parse(body))
        self.literals = [literal for literal, _f, _s, _c in parsed]
        self.names = [name for _l, name, _s, _c in parsed]
        self.fields = list(dict.fromkeys(name for name in self.names if name))
        self.simple = all(not spec and not conv for _l, _f, spec, conv in parsed)
        self.measure = encoding.TemplateMeasure("".join(self.literals))

    def fill(self, values: Mapping[str, str]) -> str:
        if not self.simple:
            return self.body.format_map(values)
        pieces = []
        for literal, name in zip(self.literals, self.names, strict=True):
            pieces.append(literal)
            if name is not None:
                pieces.append(values[name])
        return "".join(pieces)


class MessageTemplate(models.Model):
    """The text of one kind of message of a campaign, with {placeholders}.

    A template without a campaign serves the whole portal (replies to keywords).
    """

    campaign = models.ForeignKey(
        Campaign,
        verbose_name=_("campaign"),
        on_delete=models.CASCADE,
        related_name="message_templates",
        null=True,
        blank=True,
        help_text=_("Empty: used by the whole portal (replies to keywords)."),
    )
    purpose = models.CharField(_("purpose"), max_length=30, choices=Purpose.choices)
    variant = models.CharField(
        _("variant"),
        max_length=30,
        blank=True,
        default="",
        help_text=_(
            "Tells apart templates of the same purpose, e.g. ios / android for app "
            "links."
        ),
    )
    channel = models.CharField(
        _("channel"), max_length=10, choices=Channel.choices, default=Channel.SMS
    )
    name = models.CharField(_("name"), max_length=200, blank=True)
    sender = models.CharField(
        _("sender (brandname)"),
        max_length=20,
        blank=True,
        help_text=_("Empty: the portal's default sender."),
    )
    body = models.TextField(
        _("text"),
        help_text=_("Placeholders in braces, e.g. {name}, {password}, {deadline}."),
    )
    strip_diacritics = models.BooleanField(
        _("send without diacritics"),
        default=True,
        help_text=_('"Quý khách" is sent as "Quy khach": GSM-7, 160 characters.'),
    )
    exempt_from_do_not_contact = models.BooleanField(
        _("service message"),
        default=False,
        help_text=_(
            "Sent even to numbers on the do-not-contact list, and not counted in "
            "the cap per customer (passwords, results, links asked for)."
        ),
    )
    max_segments = models.PositiveSmallIntegerField(
        _("maximum SMS segments"),
        default=3,
        help_text=_("A rendered message longer than this is held, not sent."),
    )
    zalo_template_id = models.CharField(
        _("Zalo ZNS template id"),
        max_length=30,
        blank=True,
        help_text=_(
            "Zalo templates only: the id Zalo gave the approved ZNS template, whose "
            "parameters are named like the placeholders of this text. Empty, or no "
            "ZNS access token configured: the messages go to the agents' Zalo work "
            "list."
        ),
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)

    class Meta:
        verbose_name = _("message template")
        verbose_name_plural = _("message templates")
        ordering = ["campaign", "purpose", "variant", "channel"]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "purpose", "variant", "channel"],
                name="messaging_template_unique",
            ),
            models.UniqueConstraint(
                fields=["purpose", "variant", "channel"],
                condition=models.Q(campaign__isnull=True),
                name="messaging_portal_template_unique",
            ),
            models.CheckConstraint(
                condition=models.Q(max_segments__gte=1),
                name="messaging_template_max_segments_positive",
            ),
        ]

    def __str__(self):
        label = self.name or self.get_purpose_display()
        if self.variant:
            label = f"{label} ({self.variant})"
        return f"{self.campaign.code if self.campaign else '*'} · {label}"

    def save(self, *args, **kwargs):
        # The admin calls clean(); code paths that skip forms still never store a
        # template that would fail at send time.
        try:
            check_placeholders(self.body)
        except ValidationError as exc:
            raise ValidationError({"body": exc.messages}) from exc
        self.check_channel()
        self.updated_at = timezone.now()
        super().save(*args, **kwargs)

    def check_channel(self) -> None:
        """Raise ValidationError for what the template's channel cannot carry.

        A Zalo template never carries the password: ZNS parameters leave the portal
        in clear, Zalo keeps them, and no delivery report comes back to erase a
        sealed copy; the agents' work list would show it too. Passwords go by SMS.
        """
        if self.channel == Channel.ZALO and "password" in self.placeholders:
            raise ValidationError(
                {
                    "body": _(
                        "A Zalo template cannot carry {password}: ZNS parameters "
                        "leave the portal in clear and Zalo keeps them. Send "
                        "passwords by SMS."
                    )
                }
            )
        if self.channel != Channel.ZALO and self.zalo_template_id:
            raise ValidationError(
                {"zalo_template_id": _("Only Zalo templates have a ZNS template id.")}
            )

    @property
    def placeholders(self) -> list[str]:
        return list(dict.fromkeys(placeholders_in(self.body)))

    @property
    def sensitive(self) -> bool:
        """Whether messages from this template carry a secret and must be sealed."""
        return "password" in self.placeholders

    def clean(self):
        super().clean()
        try:
            check_placeholders(self.body)
        except ValidationError as exc:
            raise ValidationError({"body": exc.messages}) from exc
        self.check_channel()
        info = self.sample_info()
        if info.segments > self.max_segments:
            raise ValidationError(
                {
                    "body": _(
                        "With typical values the text needs %(segments)s SMS "
                        "segments (%(length)s characters, %(encoding)s); the limit "
                        "is %(limit)s."
                    )
                    % {
                        "segments": info.segments,
                        "length": info.length,
                        "encoding": info.encoding.upper(),
                        "limit": self.max_segments,
                    }
                }
            )

    def _prepared(self) -> _PreparedBody:
        """The body (without marks if asked), parsed and measured once.

        Stripping the literal text once and then only each value gives the same
        text as stripping the whole rendering, at a fraction of the cost per row.
        """
        key = (self.body, self.strip_diacritics)
        cached = getattr(self, "_prepared_cache", None)
        if cached is None or cached[0] != key:
            body = self.body
            if self.strip_diacritics:
                body = encoding.strip_diacritics(body)
            cached = (key, _PreparedBody(body))
            self._prepared_cache = cached
        return cached[1]

    def render_values(self, context: Mapping) -> dict[str, str]:
        """Each placeholder's value as the customer reads it, by placeholder name.

        These are also a Zalo message's ZNS template parameters. DomainError names
        a missing value.
        """
        strip = self.strip_diacritics
        values = {}
        for field in self._prepared().fields:
            value = context.get(field)
            if value is None or value == "":
                raise DomainError(
                    _("No value for {%(name)s} in template %(template)s.")
                    % {"name": field, "template": self}
                )
            text = value if type(value) is str else format_value(value)
            values[field] = encoding.strip_diacritics(text) if strip else text
        return values

    def render_text(self, values: Mapping[str, str]) -> str:
        """The text with `values` (from `render_values`) in place."""
        return self._prepared().fill(values)

    def render(self, context: Mapping) -> str:
        """The text for one customer; DomainError naming a missing value."""
        return self.render_text(self.render_values(context))

    def measure(self, text: str, values: Mapping[str, str]) -> encoding.TextInfo:
        """`encoding.text_info(text)` for a rendering of this template, cheaply."""
        return self._prepared().measure.info(text, values.values())

    def sample_context(self) -> dict:
        return {name: sample for name, (sample, _help) in PLACEHOLDERS.items()}

    def sample_info(self) -> encoding.TextInfo:
        return encoding.text_info(self.render(self.sample_context()))


class MessagingSettings(models.Model):
    """How and when a campaign may send: kill switch, send window, cap per customer."""

    campaign = models.OneToOneField(
        Campaign,
        verbose_name=_("campaign"),
        on_delete=models.CASCADE,
        related_name="messaging_settings",
    )
    paused = models.BooleanField(
        _("sending paused"),
        default=False,
        help_text=_("Kill switch: nothing of this campaign is sent while set."),
    )
    paused_at = models.DateTimeField(_("paused at"), null=True, blank=True)
    window_start = models.TimeField(_("send from"), default=time(7, 0))
    window_end = models.TimeField(_("send until"), default=time(22, 0))
    cap_per_subscriber = models.PositiveSmallIntegerField(
        _("messages per customer"),
        null=True,
        blank=True,
        help_text=_(
            "Most messages one customer receives in this campaign; empty: no limit."
        ),
    )

    class Meta:
        verbose_name = _("messaging settings")
        verbose_name_plural = _("messaging settings")
        constraints = [
            models.CheckConstraint(
                condition=models.Q(window_end__gt=models.F("window_start")),
                name="messaging_window_ends_after_start",
            ),
        ]

    def __str__(self):
        return str(self.campaign)

    def in_window(self, moment: datetime) -> bool:
        local = timezone.localtime(moment).time()
        return self.window_start <= local < self.window_end

    def next_window_start(self, moment: datetime) -> datetime:
        """`moment` itself if inside the window, else the next opening."""
        if self.in_window(moment):
            return moment
        local = timezone.localtime(moment)
        opening = local.replace(
            hour=self.window_start.hour,
            minute=self.window_start.minute,
            second=0,
            microsecond=0,
        )
        if local.time() >= self.window_end:
            opening = opening + timedelta(days=1)
        return opening


class Schedule(models.Model):
    """When messages of one template and sequence fall due.

    Fixed: at a date and time (programme 002's points SMS on 28/10 and 30/10).
    After an event: a delay after the event the domain app names when it enqueues
    (result messages within 7 days of the partner's upload).
    """

    class Kind(models.TextChoices):
        FIXED = "fixed", _("at a fixed time")
        AFTER_EVENT = "after_event", _("after an event")

    template = models.ForeignKey(
        MessageTemplate,
        verbose_name=_("template"),
        on_delete=models.CASCADE,
        related_name="schedules",
    )
    sequence = models.PositiveSmallIntegerField(_("sequence"), default=1)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    send_at = models.DateTimeField(_("send at"), null=True, blank=True)
    event = models.CharField(
        _("event"),
        max_length=100,
        blank=True,
        help_text=_("What the delay counts from, e.g. delivery results uploaded."),
    )
    delay = models.DurationField(_("delay after the event"), null=True, blank=True)

    class Meta:
        verbose_name = _("schedule")
        verbose_name_plural = _("schedules")
        ordering = ["template", "sequence"]
        constraints = [
            models.UniqueConstraint(
                fields=["template", "sequence"], name="messaging_schedule_unique"
            ),
            models.CheckConstraint(
                condition=(
                    models.Q(kind="fixed", send_at__isnull=False)
                    | models.Q(kind="after_event", delay__isnull=False)
                ),
                name="messaging_schedule_has_time",
            ),
        ]

    def __str__(self):
        if self.kind == self.Kind.FIXED:
            return (
                f"#{self.sequence} @ {timezone.localtime(self.send_at):%d/%m/%Y %H:%M}"
            )
        return f"#{self.sequence} +{self.delay} ({self.event})"

    def clean(self):
        super().clean()
        if self.kind == self.Kind.FIXED and not self.send_at:
            raise ValidationError({"send_at": _("A fixed schedule needs a time.")})
        if self.kind == self.Kind.AFTER_EVENT and self.delay is None:
            raise ValidationError({"delay": _("Say how long after the event.")})

    def due_at(self, *, event_at: datetime | None, now: datetime) -> datetime:
        if self.kind == self.Kind.FIXED:
            return self.send_at
        return (event_at or now) + self.delay


class MessageStatus(models.TextChoices):
    QUEUED = "queued", _("queued")
    HELD = "held", _("held")
    CLAIMED = "claimed", _("being sent")
    SUBMITTED = "submitted", _("accepted by the gateway")
    DELIVERED = "delivered", _("delivered")
    FAILED = "failed", _("failed")
    UNKNOWN = "unknown", _("unknown (no answer from the gateway)")
    EXPIRED = "expired", _("expired")
    CANCELLED = "cancelled", _("cancelled")


class MessageQuerySet(models.QuerySet):
    def due(self, now: datetime):
        return self.filter(status=MessageStatus.QUEUED, due_at__lte=now)

    def for_number(self, msisdn: str):
        return self.filter(msisdn=msisdn)


class Message(models.Model):
    """One message in the outbox; its key makes writing it twice a no-op."""

    Status = MessageStatus

    # Allowed moves, in one place; anything else is a DomainError. A message whose
    # submit got no answer (unknown) is never sent again by a worker: only its
    # delivery report or a member of staff settles it.
    TRANSITIONS = {
        Status.QUEUED: {Status.CLAIMED, Status.HELD, Status.CANCELLED},
        # A held Zalo message is on the agents' work list; they mark it sent.
        Status.HELD: {Status.QUEUED, Status.CANCELLED, Status.DELIVERED},
        # A delivery report can overtake the worker's own "submitted" write: it
        # proves the gateway had the message, so it settles a claimed row too.
        Status.CLAIMED: {
            Status.SUBMITTED,
            Status.QUEUED,
            Status.FAILED,
            Status.UNKNOWN,
            Status.HELD,
            Status.DELIVERED,
            Status.EXPIRED,
        },
        Status.SUBMITTED: {Status.DELIVERED, Status.FAILED, Status.EXPIRED},
        Status.UNKNOWN: {
            Status.DELIVERED,
            Status.FAILED,
            Status.EXPIRED,
            Status.QUEUED,
        },
        Status.FAILED: {Status.QUEUED},
        Status.DELIVERED: set(),
        Status.EXPIRED: set(),
        Status.CANCELLED: set(),
    }
    FINAL = {Status.DELIVERED, Status.EXPIRED, Status.CANCELLED}

    # Every index is paid for on each of the outbox's millions of inserts: the dedupe
    # key (campaign, msisdn, purpose, sequence) already serves lookups by campaign
    # and by campaign and number, so the foreign key gets no index of its own.
    # Neither foreign key is a database constraint: PostgreSQL checks one with a
    # query per inserted row, which doubled the cost of a bulk enqueue. Deletes go
    # through the ORM (PROTECT / SET_NULL below), and the bulk enqueue locks the
    # campaign and template rows once, as the constraint's check would per row.
    campaign = models.ForeignKey(
        Campaign,
        verbose_name=_("campaign"),
        on_delete=models.PROTECT,
        related_name="messages",
        null=True,
        blank=True,
        db_index=False,
        db_constraint=False,
    )
    template = models.ForeignKey(
        MessageTemplate,
        verbose_name=_("template"),
        on_delete=models.SET_NULL,
        related_name="messages",
        null=True,
        blank=True,
        # Only deleting a template looks messages up by it: a rare staff act that
        # may scan, rather than an index paid on every insert.
        db_index=False,
        db_constraint=False,
    )
    msisdn = models.CharField(_("MSISDN"), max_length=15)
    purpose = models.CharField(_("purpose"), max_length=30, choices=Purpose.choices)
    sequence = models.PositiveBigIntegerField(_("sequence"), default=1)
    channel = models.CharField(
        _("channel"), max_length=10, choices=Channel.choices, default=Channel.SMS
    )
    sender = models.CharField(_("sender"), max_length=20, blank=True)
    body = models.TextField(
        _("text"), help_text=_("For messages with a password, the secret is masked.")
    )
    sealed_body = models.BinaryField(_("sealed text"), null=True, blank=True)
    sensitive = models.BooleanField(_("carries a secret"), default=False)
    encoding = models.CharField(_("encoding"), max_length=4, default=encoding.GSM7)
    segments = models.PositiveSmallIntegerField(_("segments"), default=1)
    status = models.CharField(
        _("status"),
        max_length=10,
        choices=Status.choices,
        default=Status.QUEUED,
    )
    due_at = models.DateTimeField(_("due at"), default=timezone.now)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)
    gateway_message_id = models.CharField(
        _("gateway message id"), max_length=100, blank=True
    )
    # A Zalo message is rendered whole when it is written, like the SMS text: the
    # ZNS template it goes with and that template's parameter values. Changing the
    # template later never pairs old values with another ZNS template.
    zalo_template_id = models.CharField(
        _("Zalo ZNS template id"), max_length=30, blank=True
    )
    template_data = models.JSONField(
        _("template data"),
        null=True,
        blank=True,
        help_text=_("Zalo messages: the ZNS template's parameter values."),
    )
    claimed_by = models.CharField(_("claimed by"), max_length=100, blank=True)
    claimed_at = models.DateTimeField(_("claimed at"), null=True, blank=True)
    submitted_at = models.DateTimeField(_("submitted at"), null=True, blank=True)
    settled_at = models.DateTimeField(_("settled at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    objects = MessageQuerySet.as_manager()

    class Meta:
        verbose_name = _("message")
        verbose_name_plural = _("messages")
        ordering = ["-id"]
        constraints = [
            # The outbox's dedupe key: the event that causes a message writes it in
            # its own transaction, and a second run, a retried task or a restarted
            # worker finds the row there.
            models.UniqueConstraint(
                fields=["campaign", "msisdn", "purpose", "sequence"],
                name="messaging_message_dedupe",
            ),
            # Replies outside any campaign (help, opt-out) are keyed by the inbound
            # message they answer (its id is the sequence).
            models.UniqueConstraint(
                fields=["msisdn", "purpose", "sequence"],
                condition=models.Q(campaign__isnull=True),
                name="messaging_message_dedupe_portal",
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=MessageStatus.values),
                name="messaging_message_status_known",
            ),
        ]
        indexes = [
            # The dispatcher's claim: due queued rows in primary-key order.
            models.Index(
                fields=["due_at", "id"],
                condition=models.Q(status="queued"),
                name="messaging_message_due",
            ),
            models.Index(
                fields=["claimed_by"],
                condition=models.Q(status="claimed"),
                name="messaging_message_claimed",
            ),
            # Delivery reports that name the gateway's id (SMPP); queued rows have
            # none yet, so inserting them does not touch this index.
            models.Index(
                fields=["gateway_message_id"],
                condition=~models.Q(gateway_message_id=""),
                name="messaging_message_gateway_id",
            ),
        ]

    def __str__(self):
        return f"{self.msisdn} · {self.get_purpose_display()} #{self.sequence}"

    def move_to(self, status: str) -> None:
        """Change status in memory after checking the move is allowed."""
        if status not in self.Status.values:
            raise DomainError(
                _("Unknown message status: %(status)s.") % {"status": status}
            )
        if status not in self.TRANSITIONS[self.Status(self.status)]:
            raise DomainError(
                _("Message %(id)s is %(current)s and cannot become %(target)s.")
                % {
                    "id": self.pk,
                    "current": self.get_status_display(),
                    "target": self.Status(status).label,
                }
            )
        self.status = status

    def full_text(self) -> str:
        """The text to send; opens the sealed copy of a message with a secret."""
        if self.sensitive:
            if not self.sealed_body:
                raise DomainError(
                    _(
                        "Message %(id)s carried a secret that was erased after "
                        "delivery; it cannot be sent again."
                    )
                    % {"id": self.pk}
                )
            return sealing.open_sealed(self.sealed_body)
        return self.body


class MessagePart(models.Model):
    """The gateway's id for one more part of a long message (SMPP gives each its own).

    The first part's id is the message's `gateway_message_id`; delivery receipts for
    the other parts name these, and find their message through them.
    """

    message = models.ForeignKey(
        Message,
        verbose_name=_("message"),
        on_delete=models.CASCADE,
        related_name="gateway_parts",
    )
    gateway_id = models.CharField(_("gateway message id"), max_length=100)

    class Meta:
        verbose_name = _("message part")
        verbose_name_plural = _("message parts")
        indexes = [
            models.Index(fields=["gateway_id"], name="messaging_part_gateway_id")
        ]

    def __str__(self):
        return f"{self.message_id}: {self.gateway_id}"


class DeliveryReport(models.Model):
    """One delivery report (DLR) from the gateway; a long message's parts each send one.

    A report for a message the outbox does not know is kept with no message, so it
    shows in the admin instead of being lost.
    """

    class Outcome(models.TextChoices):
        DELIVERED = "delivered", _("delivered")
        FAILED = "failed", _("failed")
        EXPIRED = "expired", _("expired")
        BUFFERED = "buffered", _("buffered")
        ACCEPTED = "accepted", _("accepted by the SMSC")
        REJECTED = "rejected", _("rejected by the SMSC")

    FINAL = {Outcome.DELIVERED, Outcome.FAILED, Outcome.EXPIRED, Outcome.REJECTED}

    message = models.ForeignKey(
        Message,
        verbose_name=_("message"),
        on_delete=models.CASCADE,
        related_name="delivery_reports",
        null=True,
        blank=True,
    )
    reference = models.CharField(
        _("message reference"),
        max_length=100,
        help_text=_("The id the report names: ours, or the gateway's."),
    )
    part = models.CharField(
        _("part"),
        max_length=100,
        blank=True,
        help_text=_("The SMSC's id of the part the report is about."),
    )
    outcome = models.CharField(_("outcome"), max_length=10, choices=Outcome.choices)
    code = models.CharField(_("code"), max_length=20, blank=True)
    reason = models.TextField(_("reason"), blank=True)
    received_at = models.DateTimeField(_("received at"), default=timezone.now)

    class Meta:
        verbose_name = _("delivery report")
        verbose_name_plural = _("delivery reports")
        ordering = ["-received_at", "-id"]
        constraints = [
            # Gateways repeat reports; the same one twice changes nothing.
            models.UniqueConstraint(
                fields=["reference", "part", "outcome"],
                name="messaging_dlr_unique",
            ),
        ]

    def __str__(self):
        return f"{self.reference}/{self.part or '-'}: {self.outcome}"


class DoNotContact(models.Model):
    """A number that promotional messages must not reach."""

    class Source(models.TextChoices):
        IMPORT = "import", _("imported list")
        OPT_OUT = "opt_out", _("opt-out keyword")
        STAFF = "staff", _("entered by staff")

    msisdn = models.CharField(_("MSISDN"), max_length=15, unique=True)
    source = models.CharField(_("source"), max_length=10, choices=Source.choices)
    note = models.CharField(_("note"), max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)

    class Meta:
        verbose_name = _("do-not-contact number")
        verbose_name_plural = _("do-not-contact list")
        ordering = ["-created_at"]

    def __str__(self):
        return self.msisdn


class InboundMessage(models.Model):
    """An SMS a customer sent us (MO), stored once per gateway id."""

    class Outcome(models.TextChoices):
        HANDLED = "handled", _("handled")
        UNKNOWN_KEYWORD = "unknown", _("unknown keyword: help sent")
        PENDING = "pending", _("waiting for a handler")
        ERROR = "error", _("error")

    gateway_id = models.CharField(_("gateway id"), max_length=100, unique=True)
    msisdn = models.CharField(_("from"), max_length=15)
    short_code = models.CharField(_("to"), max_length=20, blank=True)
    text = models.TextField(_("text"), blank=True)
    keyword = models.CharField(_("keyword"), max_length=30, blank=True)
    outcome = models.CharField(
        _("outcome"), max_length=10, choices=Outcome.choices, blank=True
    )
    note = models.TextField(_("note"), blank=True)
    received_at = models.DateTimeField(_("received at"), default=timezone.now)

    class Meta:
        verbose_name = _("inbound message")
        verbose_name_plural = _("inbound messages")
        ordering = ["-received_at", "-id"]
        indexes = [models.Index(fields=["keyword", "received_at"])]

    def __str__(self):
        return f"{self.msisdn} → {self.short_code}: {self.text[:40]}"


class LoyaltySignup(models.Model):
    """A KNDL loyalty sign-up (programme 002): by SMS, DK then XN to 9237, or agreed on
    an outbound call, which the agent records."""

    class Source(models.TextChoices):
        SMS = "sms", _("SMS (DK, XN to 9237)")
        CALL = "call", _("outbound call")

    msisdn = models.CharField(_("MSISDN"), max_length=15, unique=True)
    requested_at = models.DateTimeField(_("requested at (DK)"))
    confirmed_at = models.DateTimeField(_("confirmed at (XN)"), null=True, blank=True)
    source = models.CharField(
        _("source"), max_length=10, choices=Source.choices, default=Source.SMS
    )

    class Meta:
        verbose_name = _("loyalty sign-up")
        verbose_name_plural = _("loyalty sign-ups")
        ordering = ["-requested_at"]

    def __str__(self):
        return self.msisdn


class MessagingEvent(models.Model):
    """What staff and the system did to messaging: pauses, settlements, list imports."""

    kind = models.CharField(_("kind"), max_length=30)
    campaign = models.ForeignKey(
        Campaign,
        verbose_name=_("campaign"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="messaging_events",
    )
    message = models.ForeignKey(
        Message,
        verbose_name=_("message"),
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="events",
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    data = models.JSONField(_("data"), default=dict, blank=True)
    created_at = models.DateTimeField(_("at"), default=timezone.now)

    class Meta:
        verbose_name = _("messaging event")
        verbose_name_plural = _("messaging events")
        ordering = ["-created_at", "-id"]

    def __str__(self):
        return f"{self.created_at:%d/%m/%Y %H:%M} {self.kind}"


class ZaloOaToken(models.Model):
    """The Zalo Official Account's current token pair, sealed at rest.

    Zalo's OAuth gives an access token for about 25 hours and a refresh token that
    can be spent once (each refresh answers a new pair), so the pair lives here, not
    in settings. Both tokens are sealed with the messaging key (`messaging.sealing`):
    a dump or a replica shows neither. A failed refresh keeps the old pair and
    records Zalo's answer for staff. One row per app id; the portal has one OA.
    """

    app_id = models.CharField(_("Zalo app id"), max_length=40, unique=True)
    sealed_access_token = models.BinaryField(_("sealed access token"), null=True)
    sealed_refresh_token = models.BinaryField(_("sealed refresh token"), null=True)
    expires_at = models.DateTimeField(
        _("access token expires at"),
        null=True,
        blank=True,
        help_text=_("Empty: unknown, so the next refresh round renews it."),
    )
    refreshed_at = models.DateTimeField(_("last refreshed at"), null=True, blank=True)
    last_refresh_attempt_at = models.DateTimeField(
        _("last refresh attempt at"), null=True, blank=True
    )
    last_refresh_error = models.TextField(
        _("last refresh error"),
        blank=True,
        help_text=_("Zalo's answer to the last refresh, when it failed."),
    )
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)

    class Meta:
        verbose_name = _("Zalo OA token")
        verbose_name_plural = _("Zalo OA tokens")

    def __str__(self):
        return f"Zalo OA app {self.app_id}"

    def access_token(self) -> str:
        """The access token in clear, or "" when none is stored."""
        if not self.sealed_access_token:
            return ""
        return sealing.open_sealed(self.sealed_access_token)

    def refresh_token(self) -> str:
        if not self.sealed_refresh_token:
            return ""
        return sealing.open_sealed(self.sealed_refresh_token)

    def store(
        self, *, access_token: str, refresh_token: str, expires_at: datetime | None
    ) -> None:
        """Seal a new pair in memory; an empty token keeps the one stored."""
        if access_token:
            self.sealed_access_token = sealing.seal(access_token)
            self.expires_at = expires_at
        if refresh_token:
            self.sealed_refresh_token = sealing.seal(refresh_token)
        self.updated_at = timezone.now()

    def record_refresh(
        self, *, access_token: str, refresh_token: str, expires_in: int, now: datetime
    ) -> None:
        self.store(
            access_token=access_token,
            refresh_token=refresh_token,
            expires_at=now + timedelta(seconds=expires_in),
        )
        self.refreshed_at = now
        self.last_refresh_attempt_at = now
        self.last_refresh_error = ""

    def record_refresh_failure(self, *, error: str, now: datetime) -> None:
        """Keep the old pair: it may still work, and staff see why it was not renewed."""
        self.last_refresh_attempt_at = now
        self.last_refresh_error = error
        self.updated_at = now

    def has_expired(self, *, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now

    def needs_attention(self, *, now: datetime) -> bool:
        """Whether staff must act: Zalo refused the last refresh, or the token expired."""
        return bool(self.last_refresh_error) or self.has_expired(now=now)

    def refresh_due(self, *, now: datetime, within: timedelta) -> bool:
        """Whether the access token is unknown, expired or expires within `within`."""
        return self.expires_at is None or self.expires_at <= now + within
