"""Campaigns: a programme of the care department run on one snapshot of subscriber data.

A campaign's definition (dates, scope, phases, batches) is what care staff declare; its
status follows the programme from selection to fulfilment. Every change is recorded as a
`CampaignEvent`, written by the service that made it.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from eligibility.models import DomainError, Snapshot


class CampaignStatus(models.TextChoices):
    DRAFT = "draft", _("draft")
    SELECTING = "selecting", _("selecting")
    SELECTED = "selected", _("selected, waiting for approval")
    APPROVED = "approved", _("approved")
    INVITING = "inviting", _("inviting")
    OPEN = "open", _("open for choices")
    CLOSED = "closed", _("closed")
    FULFILLED = "fulfilled", _("fulfilled")
    DONE = "done", _("done")
    CANCELLED = "cancelled", _("cancelled")


class Campaign(models.Model):
    Status = CampaignStatus

    # Allowed moves, in one place; anything else is a DomainError. A failed selection
    # run goes back to draft; a selection nobody approved can be run again or reopened
    # for editing. Cancelling stops at approval: once invitations have gone out,
    # customers hold a promise that only the normal close can settle.
    TRANSITIONS = {
        Status.DRAFT: {Status.SELECTING, Status.CANCELLED},
        Status.SELECTING: {Status.SELECTED, Status.DRAFT, Status.CANCELLED},
        Status.SELECTED: {
            Status.APPROVED,
            Status.SELECTING,
            Status.DRAFT,
            Status.CANCELLED,
        },
        Status.APPROVED: {Status.INVITING, Status.SELECTED, Status.CANCELLED},
        Status.INVITING: {Status.OPEN},
        Status.OPEN: {Status.CLOSED},
        Status.CLOSED: {Status.FULFILLED},
        Status.FULFILLED: {Status.DONE},
        Status.DONE: set(),
        Status.CANCELLED: set(),
    }

    code = models.SlugField(_("code"), max_length=40, unique=True)
    name = models.CharField(_("name"), max_length=200)
    owning_unit = models.CharField(_("owning unit"), max_length=120, blank=True)
    description = models.TextField(_("description"), blank=True)
    snapshot = models.ForeignKey(
        Snapshot,
        verbose_name=_("snapshot"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="campaigns",
        help_text=_("The subscriber data the campaign selects from."),
    )
    starts_on = models.DateField(_("starts on"), null=True, blank=True)
    ends_on = models.DateField(_("ends on"), null=True, blank=True)
    until_gifts_run_out = models.BooleanField(
        _("until gifts run out"),
        default=False,
        help_text=_(
            "The campaign ends on its end date or when the gifts run out, "
            "whichever comes first."
        ),
    )
    region_scope = models.JSONField(
        _("region scope"),
        default=list,
        blank=True,
        help_text=_("Provinces the campaign covers; empty means no limit."),
    )
    status = models.CharField(
        _("status"), max_length=20, choices=Status.choices, default=Status.DRAFT
    )
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)

    class Meta:
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(ends_on__isnull=True)
                | models.Q(starts_on__isnull=True)
                | models.Q(ends_on__gte=models.F("starts_on")),
                name="campaign_ends_after_start",
            ),
            models.CheckConstraint(
                condition=models.Q(status__in=CampaignStatus.values),
                name="campaign_status_known",
            ),
        ]

    def __str__(self):
        return f"{self.code} – {self.name}"

    def move_to(self, status: str) -> None:
        """Change status in memory after checking the move is allowed."""
        if status not in self.Status.values:
            raise DomainError(
                _("Unknown campaign status: %(status)s.") % {"status": status}
            )
        if status not in self.TRANSITIONS[self.Status(self.status)]:
            raise DomainError(
                _("Campaign %(code)s is %(current)s and cannot become %(target)s.")
                % {
                    "code": self.code,
                    "current": self.get_status_display(),
                    "target": self.Status(status).label,
                }
            )
        self.status = status

    def allowed_moves(self) -> list[str]:
        """The statuses this campaign may move to next, in lifecycle order."""
        allowed = self.TRANSITIONS[self.Status(self.status)]
        return [value for value in self.Status.values if value in allowed]

    def check_replaceable(self) -> None:
        """Refuse to replace the definition once the campaign has left draft.

        Selection, invitations and orders were made from the definition as it stood;
        replacing it afterwards would leave them describing a different programme.
        """
        if self.status != self.Status.DRAFT:
            raise DomainError(
                _(
                    "Campaign %(code)s is %(status)s; only a draft campaign can be "
                    "replaced from a definition."
                )
                % {"code": self.code, "status": self.get_status_display()}
            )

    def clean(self):
        super().clean()
        scope = self.region_scope
        if not isinstance(scope, list) or not all(
            isinstance(province, str) and province.strip() for province in scope
        ):
            raise ValidationError(
                {"region_scope": _('A list of province names, like ["Cần Thơ"].')}
            )

    def check_dates(self) -> None:
        if self.starts_on and self.ends_on and self.ends_on < self.starts_on:
            raise DomainError(_("The campaign cannot end before it starts."))


def find_overlap(spans: Iterable[tuple[date, date | None]]) -> tuple[int, int] | None:
    """Indexes (earlier, later) of the first two spans that share a day, or None.

    A span is (starts_on, ends_on) with both days included; ends_on None runs on.
    """
    indexed = sorted(enumerate(spans), key=lambda item: item[1][0])
    for (i, (_start, end)), (j, (next_start, _next_end)) in zip(
        indexed, indexed[1:], strict=False
    ):
        if end is None or next_start <= end:
            return (i, j)
    return None


class CampaignPhase(models.Model):
    """A stretch of a campaign over some districts (programme 003: central, then rest)."""

    campaign = models.ForeignKey(
        Campaign,
        verbose_name=_("campaign"),
        on_delete=models.CASCADE,
        related_name="phases",
    )
    number = models.PositiveSmallIntegerField(_("number"))
    name = models.CharField(_("name"), max_length=200, blank=True)
    starts_on = models.DateField(_("starts on"))
    ends_on = models.DateField(
        _("ends on"), null=True, blank=True, help_text=_("Empty: runs on.")
    )
    districts = models.JSONField(
        _("districts"),
        default=list,
        blank=True,
        help_text=_('A list of {"province": …, "district": …}.'),
    )

    class Meta:
        verbose_name = _("phase")
        verbose_name_plural = _("phases")
        ordering = ["campaign", "number"]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "number"], name="campaign_phase_number_unique"
            ),
            models.CheckConstraint(
                condition=models.Q(ends_on__isnull=True)
                | models.Q(ends_on__gte=models.F("starts_on")),
                name="campaign_phase_ends_after_start",
            ),
        ]

    def __str__(self):
        return self.name or str(_("Phase %(number)s") % {"number": self.number})

    def clean(self):
        super().clean()
        districts = self.districts
        if not isinstance(districts, list) or not all(
            isinstance(item, dict)
            and set(item) == {"province", "district"}
            and all(isinstance(value, str) and value for value in item.values())
            for item in districts
        ):
            raise ValidationError(
                {
                    "districts": _(
                        'A list of {"province": …, "district": …}, both filled in.'
                    )
                }
            )

    @staticmethod
    def check_phases(phases: list[CampaignPhase]) -> None:
        """Refuse phases that end before they start or overlap one another."""
        for phase in phases:
            if phase.ends_on and phase.ends_on < phase.starts_on:
                raise DomainError(
                    _("Phase %(number)s ends before it starts.")
                    % {"number": phase.number}
                )
        overlap = find_overlap((phase.starts_on, phase.ends_on) for phase in phases)
        if overlap:
            first, second = (phases[index] for index in overlap)
            raise DomainError(
                _("Phase %(second)s overlaps phase %(first)s.")
                % {"first": first.number, "second": second.number}
            )


class CampaignBatch(models.Model):
    """A batch (đợt) of a campaign's lists, as programme 001 splits them into 1-4."""

    campaign = models.ForeignKey(
        Campaign,
        verbose_name=_("campaign"),
        on_delete=models.CASCADE,
        related_name="batches",
    )
    number = models.PositiveSmallIntegerField(_("number"))
    name = models.CharField(_("name"), max_length=200, blank=True)
    starts_on = models.DateField(_("starts on"), null=True, blank=True)
    ends_on = models.DateField(_("ends on"), null=True, blank=True)

    class Meta:
        verbose_name = _("batch")
        verbose_name_plural = _("batches")
        ordering = ["campaign", "number"]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "number"], name="campaign_batch_number_unique"
            ),
            models.CheckConstraint(
                condition=models.Q(ends_on__isnull=True)
                | models.Q(starts_on__isnull=True)
                | models.Q(ends_on__gte=models.F("starts_on")),
                name="campaign_batch_ends_after_start",
            ),
        ]

    def __str__(self):
        return self.name or str(_("Batch %(number)s") % {"number": self.number})


class ProvinceDistrict(models.Model):
    """A district of a province, and whether a programme counts it as central.

    Phases are filled from this table; the central flags come from programme 003.
    """

    province = models.CharField(_("province"), max_length=100)
    district = models.CharField(_("district"), max_length=100)
    is_central = models.BooleanField(_("central district"), default=False)

    class Meta:
        verbose_name = _("district")
        verbose_name_plural = _("districts")
        ordering = ["province", "district"]
        constraints = [
            models.UniqueConstraint(
                fields=["province", "district"], name="province_district_unique"
            )
        ]

    def __str__(self):
        return f"{self.district}, {self.province}"

    def as_dict(self) -> dict[str, str]:
        return {"province": self.province, "district": self.district}


class CampaignEvent(models.Model):
    """One change to a campaign: who did what, when; the campaign's history."""

    class Kind(models.TextChoices):
        CREATED = "created", _("created")
        STATUS_CHANGED = "status_changed", _("status changed")
        UPDATED = "updated", _("updated")
        COPIED = "copied", _("copied")
        IMPORTED = "imported", _("imported")

    campaign = models.ForeignKey(
        Campaign,
        verbose_name=_("campaign"),
        on_delete=models.CASCADE,
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
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices)
    data = models.JSONField(_("details"), default=dict, blank=True)
    created_at = models.DateTimeField(_("at"), default=timezone.now)

    class Meta:
        verbose_name = _("campaign event")
        verbose_name_plural = _("campaign events")
        ordering = ["created_at", "id"]
        indexes = [
            models.Index(fields=["campaign", "created_at"], name="campaign_event_time")
        ]

    def __str__(self):
        return f"{self.campaign_id} {self.kind} {self.created_at:%d/%m/%Y %H:%M}"
