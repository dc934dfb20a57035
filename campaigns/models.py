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


class CampaignKind(models.TextChoices):
    """What kind of programme a campaign is; rules exclude members of a kind since a date."""

    GIFT_ONLINE = "gift_online", _("gift chosen online")
    GIFT_BY_SPEND = "gift_by_spend", _("gift by spend band")
    OUTBOUND_CALL = "outbound_call", _("outbound care calls")
    SIM_SWAP = "sim_swap", _("SIM swap at home")
    OVERSEAS_TRIP = "overseas_trip", _("overseas trip")
    OTHER = "other", _("other")


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
    kind = models.CharField(
        _("kind"),
        max_length=20,
        choices=CampaignKind.choices,
        default=CampaignKind.OTHER,
    )
    # How the eligible are cut down to the list; the rules themselves are rows
    # (SelectionRule, RankingKey, QuotaCell, Tier, SubList).
    quota_total = models.PositiveIntegerField(
        _("total quota"),
        null=True,
        blank=True,
        help_text=_("At most this many members; empty means no limit."),
    )
    quota_by = models.CharField(
        _("quota by"),
        max_length=200,
        blank=True,
        help_text=_(
            "Attributes of the quota table's cells, e.g. company, customer_type"
        ),
    )
    quota_spill_within = models.CharField(
        _("spill over within"),
        max_length=200,
        blank=True,
        help_text=_(
            "A cell that cannot be filled takes the next best of the cells that share "
            "these attributes, e.g. company; empty means no spill-over."
        ),
    )
    tier_measure = models.CharField(_("tier measure"), max_length=40, blank=True)
    tier_revenue_column = models.CharField(_("tier revenue"), max_length=20, blank=True)
    tier_window_from = models.CharField(_("tier from cycle"), max_length=10, blank=True)
    tier_window_to = models.CharField(_("tier to cycle"), max_length=10, blank=True)
    batch_count = models.PositiveSmallIntegerField(
        _("batches per list"),
        default=1,
        help_text=_("Members of each list are split by rank into this many batches."),
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
        SELECTION = "selection", _("selection run")

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


# --- The selection definition: rules, ranking, quotas, tiers, sub-lists ----------------
#
# Care staff compose these rows in the admin; `campaigns.selection.ruleset_from_campaign`
# turns them into the plain rule-set document that the engine in `eligibility.rules`
# checks and compiles to SQL, and that a selection run freezes.


class MeasureFields(models.Model):
    """Which value of a subscriber a rule, ranking key or tier looks at.

    `measure` names an entry of the engine's catalogue (eligibility.rules.MEASURES);
    the other fields are its parameters and stay empty when the measure has none.
    """

    measure = models.CharField(_("measure"), max_length=40)
    attribute = models.CharField(
        _("extra column"),
        max_length=100,
        blank=True,
        help_text=_("For an extra column of the subscribers file: its name."),
    )
    revenue_column = models.CharField(
        _("revenue"),
        max_length=20,
        blank=True,
        help_text=_("For revenue measures: which revenue."),
    )
    window_from = models.CharField(
        _("from cycle"),
        max_length=10,
        blank=True,
        help_text=_("n-5 (relative to the campaign month) or 2018-09."),
    )
    window_to = models.CharField(
        _("to cycle"), max_length=10, blank=True, help_text=_("n-3 or 2019-08.")
    )
    named_list = models.ForeignKey(
        "eligibility.NamedList",
        verbose_name=_("named list"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    campaign_kind = models.CharField(
        _("campaign kind"),
        max_length=20,
        choices=CampaignKind.choices,
        blank=True,
        help_text=_("For campaign membership: empty means campaigns running now."),
    )
    campaigns_since = models.DateField(
        _("campaigns since"),
        null=True,
        blank=True,
        help_text=_("For campaign membership of a kind: campaigns started since."),
    )

    class Meta:
        abstract = True


class ConditionFields(MeasureFields):
    operator = models.CharField(_("operator"), max_length=12)
    value = models.CharField(
        _("value"),
        max_length=500,
        blank=True,
        help_text=_(
            "240 · 2C · Cần Thơ, Hậu Giang (for in) · 550000..700000 (for between) · "
            "yes / no"
        ),
    )

    class Meta:
        abstract = True


class SelectionRule(ConditionFields):
    """One condition a subscriber must meet; a campaign's rules all apply, in order."""

    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="selection_rules"
    )
    position = models.PositiveSmallIntegerField(_("order"), default=0)
    only_when_attribute = models.CharField(
        _("only when"),
        max_length=40,
        blank=True,
        help_text=_("Apply the rule only to subscribers whose attribute is one of…"),
    )
    only_when_values = models.CharField(
        _("is one of"), max_length=300, blank=True, help_text=_("e.g. enterprise")
    )
    note = models.CharField(_("note"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("eligibility rule")
        verbose_name_plural = _("eligibility rules")
        ordering = ["campaign", "position", "id"]

    def __str__(self):
        return f"{self.measure} {self.operator} {self.value}"


class RankingKey(MeasureFields):
    """One key of the ranking; the engine ends every ranking with the MSISDN."""

    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="ranking_keys"
    )
    position = models.PositiveSmallIntegerField(_("order"), default=0)
    descending = models.BooleanField(_("highest first"), default=True)

    class Meta:
        verbose_name = _("ranking key")
        verbose_name_plural = _("ranking keys")
        ordering = ["campaign", "position", "id"]

    def __str__(self):
        return self.measure


class QuotaCell(models.Model):
    """Seats for one cell of the campaign's quota table (company 1 × KHCN: 4)."""

    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="quota_cells"
    )
    key = models.CharField(
        _("cell"),
        max_length=200,
        help_text=_("The cell's values in the order of 'quota by', e.g. 1, individual"),
    )
    seats = models.PositiveIntegerField(_("seats"))

    class Meta:
        verbose_name = _("quota cell")
        verbose_name_plural = _("quota cells")
        ordering = ["campaign", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "key"], name="quota_cell_key_unique"
            )
        ]

    def __str__(self):
        return f"{self.key}: {self.seats}"


class FulfilmentChannel(models.TextChoices):
    ONLINE_CHOICE = "online_choice", _("chosen online")
    HOME_DELIVERY = "home_delivery", _("home delivery")
    STORE_PICKUP = "store_pickup", _("store pickup")
    HOME_VISIT = "home_visit", _("home visit")
    CALL = "call", _("phone call")
    TRIP = "trip", _("trip invitation")


class Tier(models.Model):
    """A spend band: sets the customer group, the gift tier and the fulfilment channel."""

    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="tiers"
    )
    position = models.PositiveSmallIntegerField(_("order"), default=0)
    code = models.SlugField(_("code"), max_length=20)
    name = models.CharField(_("name"), max_length=100)
    min_value = models.DecimalField(
        _("from (included)"), max_digits=14, decimal_places=2, null=True, blank=True
    )
    max_value = models.DecimalField(
        _("below"), max_digits=14, decimal_places=2, null=True, blank=True
    )
    customer_group = models.CharField(_("customer group"), max_length=100, blank=True)
    gift_tier = models.CharField(_("gift tier"), max_length=40, blank=True)
    channel = models.CharField(
        _("fulfilment"), max_length=20, choices=FulfilmentChannel.choices, blank=True
    )
    list_name = models.CharField(_("list"), max_length=100, blank=True)

    class Meta:
        verbose_name = _("tier")
        verbose_name_plural = _("tiers")
        ordering = ["campaign", "position", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "code"], name="tier_code_unique"
            ),
            models.CheckConstraint(
                condition=models.Q(min_value__isnull=True)
                | models.Q(max_value__isnull=True)
                | models.Q(max_value__gt=models.F("min_value")),
                name="tier_band_not_empty",
            ),
        ]

    def __str__(self):
        return self.name


class SubList(ConditionFields):
    """A named sub-list members fall into when they meet its condition (003 list 1/2).

    Sub-lists are tried in order; one with no measure takes everyone left.
    """

    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="sub_lists"
    )
    position = models.PositiveSmallIntegerField(_("order"), default=0)
    name = models.CharField(_("name"), max_length=100)
    measure = models.CharField(
        _("measure"), max_length=40, blank=True, help_text=_("Empty: everyone left.")
    )
    operator = models.CharField(_("operator"), max_length=12, blank=True)

    class Meta:
        verbose_name = _("sub-list")
        verbose_name_plural = _("sub-lists")
        ordering = ["campaign", "position", "id"]

    def __str__(self):
        return self.name


class SelectionRun(models.Model):
    """One run of a campaign's rules on its snapshot, and everything it decided.

    A run freezes the rule set it used (`ruleset`) and writes every eligible subscriber
    as a `SelectionMember`, the selected ones and the ones ranked below the cut, so the
    list can be explained and a declined seat offered to the next in line. Staff look at
    the preview and commit or discard it; a committed run is frozen, and approving one
    locks it as the campaign's list. Running the rules again makes a new run.
    """

    class Status(models.TextChoices):
        QUEUED = "queued", _("queued")
        RUNNING = "running", _("running")
        PREVIEW = "preview", _("preview, waiting for a decision")
        COMMITTED = "committed", _("committed")
        APPROVED = "approved", _("approved")
        DISCARDED = "discarded", _("discarded")
        FAILED = "failed", _("failed")

    TRANSITIONS = {
        Status.QUEUED: {Status.RUNNING, Status.FAILED},
        Status.RUNNING: {Status.PREVIEW, Status.FAILED},
        Status.PREVIEW: {Status.COMMITTED, Status.DISCARDED},
        Status.COMMITTED: {Status.APPROVED, Status.DISCARDED},
        Status.APPROVED: set(),
        Status.DISCARDED: set(),
        Status.FAILED: set(),
    }

    campaign = models.ForeignKey(
        Campaign,
        verbose_name=_("campaign"),
        on_delete=models.CASCADE,
        related_name="selection_runs",
    )
    number = models.PositiveIntegerField(_("run"))
    snapshot = models.ForeignKey(
        Snapshot,
        verbose_name=_("snapshot"),
        on_delete=models.PROTECT,
        related_name="selection_runs",
    )
    status = models.CharField(
        _("status"), max_length=12, choices=Status.choices, default=Status.QUEUED
    )
    ruleset = models.JSONField(_("rule set used"), default=dict)
    summary = models.JSONField(_("rules in words"), default=list)
    funnel = models.JSONField(_("funnel"), default=list)
    counts = models.JSONField(_("counts"), default=dict)
    warnings = models.JSONField(_("warnings"), default=list)
    population = models.PositiveIntegerField(_("subscribers"), default=0)
    eligible_count = models.PositiveIntegerField(_("eligible"), default=0)
    selected_count = models.PositiveIntegerField(_("selected"), default=0)
    progress_step = models.CharField(max_length=100, blank=True)
    progress_done = models.PositiveSmallIntegerField(default=0)
    progress_total = models.PositiveSmallIntegerField(default=0)
    error = models.TextField(_("error"), blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("started by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(_("started at"), default=timezone.now)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("committed by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    decided_at = models.DateTimeField(_("committed at"), null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("approved by"),
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    approved_at = models.DateTimeField(_("approved at"), null=True, blank=True)

    class Meta:
        verbose_name = _("selection run")
        verbose_name_plural = _("selection runs")
        ordering = ["-created_at", "-id"]
        permissions = [("approve_selectionrun", _("Can approve a selection run"))]
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "number"], name="selection_run_number_unique"
            ),
            # One approved list per campaign, held by the database.
            models.UniqueConstraint(
                fields=["campaign"],
                condition=models.Q(status="approved"),
                name="selection_run_one_approved",
            ),
        ]

    def __str__(self):
        return str(
            _("%(campaign)s, run %(number)s")
            % {"campaign": self.campaign.code, "number": self.number}
        )

    def move_to(self, status: str) -> None:
        if status not in self.TRANSITIONS[self.Status(self.status)]:
            raise DomainError(
                _("Run %(number)s is %(current)s and cannot become %(target)s.")
                % {
                    "number": self.number,
                    "current": self.get_status_display(),
                    "target": self.Status(status).label,
                }
            )
        self.status = status

    @property
    def is_running(self) -> bool:
        return self.status in {self.Status.QUEUED, self.Status.RUNNING}

    @property
    def is_frozen(self) -> bool:
        return self.status in {self.Status.COMMITTED, self.Status.APPROVED}

    @property
    def progress_percent(self) -> int:
        if not self.progress_total:
            return 0
        return min(100, int(100 * self.progress_done / self.progress_total))


class SelectionMember(models.Model):
    """An eligible subscriber of a run: selected, or ranked below the cut.

    `values` holds what decided the place: the ranking keys and the tier measure, as the
    run computed them.
    """

    run = models.ForeignKey(
        SelectionRun, on_delete=models.CASCADE, related_name="members"
    )
    msisdn = models.CharField(_("MSISDN"), max_length=11)
    selected = models.BooleanField(_("selected"))
    rank = models.PositiveIntegerField(_("rank"))
    cell = models.CharField(_("quota cell"), max_length=200, blank=True)
    cell_rank = models.PositiveIntegerField(_("rank in cell"))
    spilled = models.BooleanField(
        _("filled a sibling cell"),
        default=False,
        help_text=_("Selected for a seat its own cell's sibling could not fill."),
    )
    tier = models.CharField(_("tier"), max_length=20, blank=True)
    customer_group = models.CharField(_("customer group"), max_length=100, blank=True)
    gift_tier = models.CharField(_("gift tier"), max_length=40, blank=True)
    channel = models.CharField(
        _("fulfilment"), max_length=20, choices=FulfilmentChannel.choices, blank=True
    )
    list_name = models.CharField(_("list"), max_length=100, blank=True)
    batch = models.PositiveSmallIntegerField(_("batch"), null=True, blank=True)
    phase = models.PositiveSmallIntegerField(_("phase"), null=True, blank=True)
    full_name = models.CharField(_("full name"), max_length=200, blank=True)
    company = models.PositiveSmallIntegerField(_("company"), null=True)
    province = models.CharField(_("province"), max_length=100, blank=True)
    district = models.CharField(_("district"), max_length=100, blank=True)
    values = models.JSONField(_("deciding values"), default=dict)

    class Meta:
        verbose_name = _("selection member")
        verbose_name_plural = _("selection members")
        constraints = [
            models.UniqueConstraint(
                fields=["run", "msisdn"], name="selection_member_unique"
            )
        ]
        indexes = [
            models.Index(
                fields=["run", "selected", "rank"], name="selection_member_rank"
            )
        ]

    def __str__(self):
        return f"{self.msisdn} #{self.rank}"
