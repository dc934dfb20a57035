"""Store pickup, home visits, surveys and trip invitations.

A `Visit` is one contact in person with a selected member: at a store counter (the
customer comes to collect a gift) or at home (the district head visits). It records
whether the subscriber record was checked and corrected, the packages advised, the
survey answers and whether the gift was handed over; the database allows one
hand-over per member. `StaffPost` says where a staff login works (its store,
province, district), which is how every page and query is scoped.

`TripInvitation` follows programme 004: call, letter, written confirmation by a
deadline, passport check; a declined or expired seat is offered to the next member
ranked below the cut, and the database lets one freed seat be filled only once.

Every change writes a `VisitEvent` in the same transaction.
"""

from __future__ import annotations

import calendar
from datetime import date

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from campaigns.models import Campaign, SelectionMember
from eligibility.models import DomainError
from gifts.models import Choice, Gift, Store


class StaffPost(models.Model):
    """Where a staff login works: a store (clerk), a district (head) or a province.

    A clerk's province is the store's. Staff without a post see none of these pages
    unless they are care staff, who see every province.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("staff login"),
        on_delete=models.CASCADE,
        related_name="visits_post",
    )
    store = models.ForeignKey(
        Store,
        verbose_name=_("store"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    province = models.CharField(_("province"), max_length=100)
    district = models.CharField(
        _("district"),
        max_length=100,
        blank=True,
        help_text=_("Empty: the whole province."),
    )

    class Meta:
        verbose_name = _("staff post")
        verbose_name_plural = _("staff posts")
        ordering = ["province", "district", "user__username"]

    def __str__(self):
        where = self.store.name if self.store else self.district or self.province
        return f"{self.user} – {where}"

    def save(self, *args, **kwargs):
        # The store decides the province, so a clerk cannot be posted across borders.
        if self.store_id:
            self.province = self.store.province
            self.district = self.district or self.store.district
        super().save(*args, **kwargs)


class Survey(models.Model):
    """A survey form of a campaign (001 step 6), answered during visits and pickups."""

    campaign = models.ForeignKey(
        Campaign,
        verbose_name=_("campaign"),
        on_delete=models.CASCADE,
        related_name="surveys",
    )
    name = models.CharField(_("name"), max_length=200)
    active = models.BooleanField(_("in use"), default=True)

    class Meta:
        verbose_name = _("survey")
        verbose_name_plural = _("surveys")
        ordering = ["campaign", "id"]

    def __str__(self):
        return self.name


class SurveyQuestion(models.Model):
    class Kind(models.TextChoices):
        ONE = "one", _("one choice")
        MANY = "many", _("several choices")
        TEXT = "text", _("free text")

    survey = models.ForeignKey(
        Survey,
        verbose_name=_("survey"),
        on_delete=models.CASCADE,
        related_name="questions",
    )
    position = models.PositiveSmallIntegerField(_("order"), default=0)
    text = models.CharField(_("question"), max_length=300)
    kind = models.CharField(
        _("answer"), max_length=4, choices=Kind.choices, default=Kind.ONE
    )
    choices = models.TextField(
        _("choices"), blank=True, help_text=_("One choice per line.")
    )
    required = models.BooleanField(_("required"), default=True)

    class Meta:
        verbose_name = _("question")
        verbose_name_plural = _("questions")
        ordering = ["survey", "position", "id"]

    def __str__(self):
        return self.text

    def choice_list(self) -> list[str]:
        return [line.strip() for line in self.choices.splitlines() if line.strip()]

    def clean(self):
        from django.core.exceptions import ValidationError

        super().clean()
        if self.kind != self.Kind.TEXT and len(self.choice_list()) < 2:
            raise ValidationError(
                {"choices": _("A choice question needs at least two choices.")}
            )


class VisitQuerySet(models.QuerySet):
    def handed_over(self):
        return self.filter(gift_handed_over=True)


class Visit(models.Model):
    """One contact in person with a selected member, at a store or at home."""

    class Kind(models.TextChoices):
        STORE = "store", _("store pickup")
        HOME = "home", _("home visit")

    class Outcome(models.TextChoices):
        MET = "met", _("met the customer")
        NOT_HOME = "not_home", _("not at home")
        REFUSED = "refused", _("refused the gift")
        MOVED = "moved", _("moved away")
        WRONG_ADDRESS = "wrong_address", _("address not found")

    campaign = models.ForeignKey(
        Campaign,
        verbose_name=_("campaign"),
        on_delete=models.CASCADE,
        related_name="visits",
    )
    member = models.ForeignKey(
        SelectionMember,
        verbose_name=_("member"),
        on_delete=models.PROTECT,
        related_name="visits",
    )
    choice = models.ForeignKey(
        Choice,
        verbose_name=_("order"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="visits",
    )
    gift = models.ForeignKey(
        Gift,
        verbose_name=_("gift handed over"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("For members without an online choice: which gift they took."),
    )
    kind = models.CharField(_("where"), max_length=5, choices=Kind.choices)
    store = models.ForeignKey(
        Store,
        verbose_name=_("store"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="visits",
    )
    province = models.CharField(_("province"), max_length=100)
    district = models.CharField(_("district"), max_length=100, blank=True)
    outcome = models.CharField(
        _("result"), max_length=16, choices=Outcome.choices, default=Outcome.MET
    )
    record_checked = models.BooleanField(_("subscriber record checked"), default=False)
    record_corrected = models.BooleanField(
        _("subscriber record corrected"), default=False
    )
    record_note = models.CharField(_("what was corrected"), max_length=300, blank=True)
    packages_advised = models.CharField(
        _("packages advised"), max_length=300, blank=True
    )
    gift_handed_over = models.BooleanField(_("gift handed over"), default=False)
    note = models.TextField(_("note"), blank=True)
    staff = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    visited_at = models.DateTimeField(_("at"), default=timezone.now)

    objects = VisitQuerySet.as_manager()

    class Meta:
        verbose_name = _("visit or pickup")
        verbose_name_plural = _("visits and pickups")
        ordering = ["-visited_at", "-id"]
        constraints = [
            # A gift goes to a member once, whoever hands it over and wherever.
            models.UniqueConstraint(
                fields=["member"],
                condition=models.Q(gift_handed_over=True),
                name="visit_one_handover_per_member",
            ),
            models.CheckConstraint(
                condition=models.Q(gift_handed_over=False) | models.Q(outcome="met"),
                name="visit_handover_only_when_met",
            ),
            models.CheckConstraint(
                condition=models.Q(kind="home") | models.Q(store__isnull=False),
                name="visit_store_pickup_has_store",
            ),
        ]
        indexes = [
            models.Index(fields=["campaign", "province", "district"], name="visit_area")
        ]

    def __str__(self):
        return (
            f"{self.member.msisdn} {self.get_kind_display()} {self.visited_at:%d/%m/%Y}"
        )


class SurveyAnswer(models.Model):
    """One answer of a visit's survey: the choices ticked, or the text written."""

    visit = models.ForeignKey(
        Visit, verbose_name=_("visit"), on_delete=models.CASCADE, related_name="answers"
    )
    question = models.ForeignKey(
        SurveyQuestion,
        verbose_name=_("question"),
        on_delete=models.PROTECT,
        related_name="answers",
    )
    choices = models.JSONField(_("choices"), default=list, blank=True)
    text = models.TextField(_("text"), blank=True)

    class Meta:
        verbose_name = _("survey answer")
        verbose_name_plural = _("survey answers")
        constraints = [
            models.UniqueConstraint(
                fields=["visit", "question"], name="survey_answer_one_per_question"
            )
        ]

    def __str__(self):
        return ", ".join(self.choices) or self.text


class Trip(models.Model):
    """One tour of an overseas-trip campaign (004: tour 1 from Hanoi, tour 2 from HCMC).

    Its members are the approved run's members whose list is `list_name`.
    """

    campaign = models.ForeignKey(
        Campaign,
        verbose_name=_("campaign"),
        on_delete=models.CASCADE,
        related_name="trips",
    )
    list_name = models.CharField(
        _("list"), max_length=100, help_text=_("The selection list of this tour.")
    )
    name = models.CharField(_("name"), max_length=200)
    departs_on = models.DateField(_("departs on"))
    returns_on = models.DateField(_("returns on"))
    passport_valid_through = models.DateField(
        _("passport valid at least through"),
        null=True,
        blank=True,
        help_text=_("004: 30/06/2020. Empty: six months after the return."),
    )
    reply_days = models.PositiveSmallIntegerField(
        _("days to return the confirmation"),
        default=7,
        help_text=_("Counted from the day the invitation letter is sent."),
    )

    class Meta:
        verbose_name = _("trip")
        verbose_name_plural = _("trips")
        ordering = ["campaign", "departs_on"]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "list_name"], name="trip_one_per_list"
            ),
            models.CheckConstraint(
                condition=models.Q(returns_on__gte=models.F("departs_on")),
                name="trip_returns_after_departure",
            ),
        ]

    def __str__(self):
        return self.name

    def clean(self):
        from django.core.exceptions import ValidationError

        super().clean()
        if self.departs_on and self.returns_on and self.returns_on < self.departs_on:
            raise ValidationError(
                {"returns_on": _("The trip cannot return before it departs.")}
            )
        if (
            self.passport_valid_through
            and self.returns_on
            and self.passport_valid_through < self.returns_on
        ):
            raise ValidationError(
                {
                    "passport_valid_through": _(
                        "A passport must be valid at least until the return."
                    )
                }
            )

    def passport_required_through(self) -> date:
        if self.passport_valid_through:
            return self.passport_valid_through
        # Six calendar months after the return, kept on the same day of the month
        # (or the month's last day when it has fewer).
        month = self.returns_on.month + 6
        year = self.returns_on.year + (month - 1) // 12
        month = (month - 1) % 12 + 1
        day = min(self.returns_on.day, calendar.monthrange(year, month)[1])
        return date(year, month, day)


class TripInvitationStatus(models.TextChoices):
    TO_CALL = "to_call", _("to call")
    AGREED = "agreed", _("agreed on the call")
    LETTER_SENT = "letter_sent", _("letter sent, waiting for confirmation")
    CONFIRMED = "confirmed", _("confirmed in writing")
    DECLINED = "declined", _("declined")
    EXPIRED = "expired", _("no confirmation in time")


class TripInvitation(models.Model):
    """A member's seat on a trip, from the invitation call to the written confirmation.

    A seat freed by a decline or an expiry is offered to the next member in line; the
    new invitation points at the one it replaces, and `replaces` being unique is what
    keeps two staff from filling the same seat twice.
    """

    Status = TripInvitationStatus
    FREED = {Status.DECLINED, Status.EXPIRED}

    # Allowed moves, in one place. A confirmed customer may still drop out.
    TRANSITIONS = {
        Status.TO_CALL: {Status.AGREED, Status.DECLINED},
        Status.AGREED: {Status.LETTER_SENT, Status.DECLINED},
        Status.LETTER_SENT: {Status.CONFIRMED, Status.DECLINED, Status.EXPIRED},
        Status.CONFIRMED: {Status.DECLINED},
        Status.DECLINED: set(),
        Status.EXPIRED: set(),
    }

    trip = models.ForeignKey(
        Trip, verbose_name=_("trip"), on_delete=models.CASCADE, related_name="seats"
    )
    member = models.ForeignKey(
        SelectionMember,
        verbose_name=_("member"),
        on_delete=models.PROTECT,
        related_name="trip_invitations",
    )
    cell = models.CharField(
        _("seat's quota cell"),
        max_length=200,
        blank=True,
        help_text=_("The cell whose seat this is, kept when another member fills it."),
    )
    company = models.PositiveSmallIntegerField(_("company"), null=True)
    replaces = models.OneToOneField(
        "self",
        verbose_name=_("takes the seat of"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="replaced_by",
    )
    status = models.CharField(
        _("status"),
        max_length=12,
        choices=Status.choices,
        default=Status.TO_CALL,
    )
    called_at = models.DateTimeField(_("called at"), null=True, blank=True)
    letter_sent_on = models.DateField(_("letter sent on"), null=True, blank=True)
    confirm_by = models.DateField(_("confirm by"), null=True, blank=True)
    confirmed_on = models.DateField(
        _("confirmation received on"), null=True, blank=True
    )
    passport_number = models.CharField(_("passport number"), max_length=20, blank=True)
    passport_expires_on = models.DateField(
        _("passport expires on"), null=True, blank=True
    )
    decline_reason = models.CharField(_("reason"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("offered at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)

    class Meta:
        verbose_name = _("trip invitation")
        verbose_name_plural = _("trip invitations")
        ordering = ["trip", "company", "cell", "member__rank"]
        constraints = [
            models.UniqueConstraint(
                fields=["trip", "member"], name="trip_invitation_one_per_member"
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=TripInvitationStatus.values),
                name="trip_invitation_status_known",
            ),
            models.CheckConstraint(
                condition=~models.Q(status="confirmed")
                | (
                    models.Q(confirmed_on__isnull=False)
                    & models.Q(passport_expires_on__isnull=False)
                ),
                name="trip_invitation_confirmed_has_passport",
            ),
        ]

    def __str__(self):
        return f"{self.member.msisdn} – {self.trip}"

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

    @property
    def is_freed(self) -> bool:
        return self.status in self.FREED

    def allowed_moves(self) -> list[str]:
        allowed = self.TRANSITIONS[self.Status(self.status)]
        return [value for value in self.Status.values if value in allowed]

    def check_passport(self, *, number: str, expires_on: date | None) -> None:
        """Refuse a passport that is missing or expires before the trip's limit."""
        if not number.strip() or expires_on is None:
            raise DomainError(
                _("Enter the passport number and its expiry date before confirming.")
            )
        required = self.trip.passport_required_through()
        if expires_on < required:
            raise DomainError(
                _(
                    "The passport expires on %(expires)s; the trip needs it valid at "
                    "least through %(required)s. Ask the customer to renew it."
                )
                % {
                    "expires": expires_on.strftime("%d/%m/%Y"),
                    "required": required.strftime("%d/%m/%Y"),
                }
            )


class VisitEvent(models.Model):
    """One change made in this app: who did what, when, on which visit or seat."""

    class Kind(models.TextChoices):
        VISIT = "visit", _("visit recorded")
        HANDOVER = "handover", _("gift handed over")
        TRIP_OFFERED = "trip_offered", _("seat offered")
        TRIP_STATUS = "trip_status", _("invitation status changed")
        TRIP_CALL = "trip_call", _("call without an answer")
        TRIP_PASSPORT = "trip_passport", _("passport recorded")

    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="visit_events"
    )
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    visit = models.ForeignKey(
        Visit, on_delete=models.CASCADE, null=True, blank=True, related_name="events"
    )
    trip_invitation = models.ForeignKey(
        TripInvitation,
        on_delete=models.CASCADE,
        null=True,
        blank=True,
        related_name="events",
    )
    msisdn = models.CharField(_("MSISDN"), max_length=11, blank=True)
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
        verbose_name = _("visit event")
        verbose_name_plural = _("visit events")
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["msisdn"], name="visit_event_msisdn")]

    def __str__(self):
        return f"{self.kind} {self.msisdn} {self.created_at:%d/%m/%Y %H:%M}"
