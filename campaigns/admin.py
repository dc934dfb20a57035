import tempfile

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.forms.models import BaseInlineFormSet
from django.http import FileResponse, Http404, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.formats import number_format
from django.utils.html import format_html, format_html_join
from django.utils.text import format_lazy
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from campaigns import selectors, services
from campaigns.forms import (
    CampaignAdminForm,
    QuotaCellForm,
    RankingKeyForm,
    SelectionFormSet,
    SelectionRuleForm,
    SubListForm,
    TierForm,
)
from campaigns.models import (
    Campaign,
    CampaignBatch,
    CampaignEvent,
    CampaignPhase,
    FulfilmentChannel,
    ProvinceDistrict,
    QuotaCell,
    RankingKey,
    SelectionRule,
    SelectionRun,
    SubList,
    Tier,
)
from campaigns.selection import campaign_reference_month, ruleset_from_campaign
from eligibility.models import DomainError
from eligibility.rules import RuleSetError, measure_text, ruleset_check, ruleset_summary
from eligibility.selection import measure_key


class PhaseFormSet(BaseInlineFormSet):
    def clean(self):
        super().clean()
        phases = [
            form.instance
            for form in self.forms
            if form.cleaned_data
            and not form.cleaned_data.get("DELETE")
            and form.instance.starts_on
        ]
        try:
            CampaignPhase.check_phases(phases)
        except DomainError as exc:
            raise ValidationError(str(exc)) from exc


class CampaignPhaseInline(admin.TabularInline):
    model = CampaignPhase
    formset = PhaseFormSet
    extra = 0
    fields = ["number", "name", "starts_on", "ends_on", "districts"]


class CampaignBatchInline(admin.TabularInline):
    model = CampaignBatch
    extra = 0
    fields = ["number", "name", "starts_on", "ends_on"]


class CampaignEventInline(admin.TabularInline):
    """The campaign's history; written by services only, so never edited here."""

    model = CampaignEvent
    extra = 0
    can_delete = False
    fields = ["created_at", "kind", "actor", "data"]
    readonly_fields = fields
    ordering = ["-created_at", "-id"]

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


# A campaign's selection is edited until its list is approved; after that the rules
# that made the list stay as they were.
SELECTION_EDITABLE = {
    Campaign.Status.DRAFT,
    Campaign.Status.SELECTING,
    Campaign.Status.SELECTED,
}
SELECTION_FIELDS = (
    "kind",
    "quota_total",
    "quota_by",
    "quota_spill_within",
    "tier_measure",
    "tier_revenue_column",
    "tier_window_from",
    "tier_window_to",
    "batch_count",
)
# What the campaign's history calls each inline when it is edited.
SELECTION_PARTS = {
    SelectionRule: "rules",
    RankingKey: "ranking",
    QuotaCell: "quota cells",
    Tier: "tiers",
    SubList: "sub-lists",
}


def _selection_editable(campaign) -> bool:
    return campaign is None or campaign.status in SELECTION_EDITABLE


class SelectionInline(admin.TabularInline):
    formset = SelectionFormSet
    extra = 0
    classes = ["selection-inline"]

    def has_add_permission(self, request, obj):
        return _selection_editable(obj) and super().has_add_permission(request, obj)

    def has_change_permission(self, request, obj=None):
        return _selection_editable(obj) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return _selection_editable(obj) and super().has_delete_permission(request, obj)


class SelectionRuleInline(SelectionInline):
    model = SelectionRule
    form = SelectionRuleForm
    fields = SelectionRuleForm._meta.fields


class RankingKeyInline(SelectionInline):
    model = RankingKey
    form = RankingKeyForm
    fields = RankingKeyForm._meta.fields


class QuotaCellInline(SelectionInline):
    model = QuotaCell
    form = QuotaCellForm
    fields = QuotaCellForm._meta.fields


class TierInline(SelectionInline):
    model = Tier
    form = TierForm
    fields = TierForm._meta.fields


class SubListInline(SelectionInline):
    model = SubList
    form = SubListForm
    fields = SubListForm._meta.fields


def _move_action(status: str):
    label = Campaign.Status(status).label

    # Lazy, so each person reads the label in the language of their own request.
    @admin.action(
        description=format_lazy(_("Move to: {status}"), status=label),
        permissions=["change"],
    )
    def move(modeladmin, request, queryset):
        for campaign in queryset:
            try:
                services.campaign_transition(
                    campaign=campaign, to_status=status, actor=request.user
                )
            except DomainError as exc:
                modeladmin.message_user(request, str(exc), messages.ERROR)
            else:
                modeladmin.message_user(
                    request,
                    gettext("%(code)s is now %(status)s.")
                    % {"code": campaign.code, "status": label},
                    messages.SUCCESS,
                )

    move.__name__ = f"move_to_{status}"
    return move


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    form = CampaignAdminForm
    list_display = [
        "code",
        "name",
        "owning_unit",
        "snapshot",
        "starts_on",
        "ends_on",
        "until_gifts_run_out",
        "status",
    ]
    list_filter = ["status", "owning_unit", "until_gifts_run_out", "snapshot"]
    search_fields = ["code", "name"]
    autocomplete_fields = ["snapshot"]
    readonly_fields = ["status", "created_at", "updated_at", "selection_in_words"]
    inlines = [
        CampaignPhaseInline,
        CampaignBatchInline,
        SelectionRuleInline,
        RankingKeyInline,
        QuotaCellInline,
        TierInline,
        SubListInline,
        CampaignEventInline,
    ]
    actions = [_move_action(status) for status in Campaign.Status.values] + [
        "copy_campaigns"
    ]
    fieldsets = [
        (
            None,
            {"fields": ["code", "name", "owning_unit", "description", "status"]},
        ),
        (
            _("Data and dates"),
            {
                "fields": [
                    "snapshot",
                    "starts_on",
                    "ends_on",
                    "until_gifts_run_out",
                    "region_scope",
                ]
            },
        ),
        (
            _("Selection"),
            {
                "fields": [
                    "selection_in_words",
                    "kind",
                    "quota_total",
                    ("quota_by", "quota_spill_within"),
                    (
                        "tier_measure",
                        "tier_revenue_column",
                        "tier_window_from",
                        "tier_window_to",
                    ),
                    "batch_count",
                ],
                "description": _(
                    "Who is eligible is set by the rules below, all of which must "
                    "hold; the ranking, quota cells, tiers and sub-lists then make "
                    "the list. Save to see the rules in words, then run the selection."
                ),
            },
        ),
        (_("Record"), {"fields": ["created_at", "updated_at"]}),
    ]

    class Media:
        css = {"all": ["campaigns/selection.css"]}
        js = ["campaigns/rule_builder.js"]

    def get_list_display(self, request):
        # The dashboard (fulfilment's page) is linked for those allowed to read it.
        if request.user.has_perm("fulfilment.view_dashboard"):
            return [*self.list_display, "dashboard_link"]
        return self.list_display

    @admin.display(description=_("dashboard"))
    def dashboard_link(self, obj):
        return format_html(
            '<a href="{}">{}</a>',
            reverse("fulfilment:dashboard", args=[obj.code]),
            gettext("Funnel and stock"),
        )

    def get_readonly_fields(self, request, obj=None):
        # The code names the campaign in definition files, so it is fixed once created.
        # The snapshot is fixed once selection has started from it.
        if obj is None:
            return self.readonly_fields
        fields = [*self.readonly_fields, "code"]
        if obj.status != Campaign.Status.DRAFT:
            fields.append("snapshot")
        if not _selection_editable(obj):
            fields.extend(SELECTION_FIELDS)
        return fields

    @admin.display(description=_("Rules in words"))
    def selection_in_words(self, obj):
        if obj is None or obj.pk is None:
            return gettext("Save the campaign to see its rules in words.")
        lines, problems = [], []
        try:
            ruleset = ruleset_check(
                ruleset_from_campaign(obj), reference=campaign_reference_month(obj)
            )
        except RuleSetError as exc:
            problems = exc.problems
        else:
            lines = ruleset_summary(ruleset)
            try:
                services.selection_ruleset_prepare(campaign=obj)
            except DomainError as exc:
                problems = getattr(exc, "problems", [str(exc)])
        words = format_html(
            '<ol id="rules-in-words" class="rules-in-words">{}</ol>',
            format_html_join("", "<li>{}</li>", ((line,) for line in lines)),
        )
        if not problems:
            return words
        return format_html(
            '{}<div id="rule-problems" class="rule-problems" role="alert">'
            "<p><strong>{}</strong></p><ul>{}</ul></div>",
            words if lines else "",
            gettext("The selection cannot run until these are fixed:"),
            format_html_join("", "<li>{}</li>", ((p,) for p in problems)),
        )

    def save_model(self, request, obj, form, change):
        data = {
            field: form.cleaned_data[field]
            for field in services.UPDATABLE_FIELDS
            if field in form.cleaned_data
        }
        try:
            if change:
                services.campaign_update(campaign=obj, actor=request.user, data=data)
            else:
                created = services.campaign_create(
                    code=form.cleaned_data["code"], actor=request.user, **data
                )
                obj.pk = created.pk
                obj.refresh_from_db()
        except DomainError as exc:
            # The form was valid, so only a race (a code taken meanwhile) gets here.
            self.message_user(request, str(exc), messages.ERROR)
            raise
        self._save_selection_fields(request, obj, form)

    def _save_selection_fields(self, request, obj, form):
        """The selection fields campaign_update does not take, saved and recorded.

        Like the inline rows, they are written here and recorded as an edited part.
        """
        readonly = set(self.get_readonly_fields(request, obj))
        stored = Campaign.objects.get(pk=obj.pk)
        changes = {
            field: form.cleaned_data[field]
            for field in SELECTION_FIELDS
            if field in form.cleaned_data
            and field not in readonly
            and field not in services.UPDATABLE_FIELDS
            and getattr(stored, field) != form.cleaned_data[field]
        }
        if not changes:
            return
        Campaign.objects.filter(pk=obj.pk).update(**changes)
        for field, value in changes.items():
            setattr(obj, field, value)
        services.campaign_record_parts_changed(
            campaign=obj, actor=request.user, parts=["selection"]
        )

    def save_formset(self, request, form, formset, change):
        changed = formset.has_changed()
        super().save_formset(request, form, formset, change)
        if not (changed and change):
            return
        if formset.model in (CampaignPhase, CampaignBatch):
            part = "phases" if formset.model is CampaignPhase else "batches"
        elif formset.model in SELECTION_PARTS:
            part = SELECTION_PARTS[formset.model]
        else:
            return
        services.campaign_record_parts_changed(
            campaign=form.instance, actor=request.user, parts=[part]
        )

    @admin.action(description=_("Copy as a new draft"), permissions=["add"])
    def copy_campaigns(self, request, queryset):
        for campaign in queryset:
            new_code = _free_code(f"{campaign.code}-copy")
            copy = services.campaign_copy(
                campaign=campaign, new_code=new_code, actor=request.user
            )
            self.message_user(
                request,
                gettext("Copied %(code)s as %(new)s.")
                % {"code": campaign.code, "new": copy.code},
                messages.SUCCESS,
            )

    def change_view(self, request, object_id, form_url="", extra_context=None):
        campaign = self.get_object(request, object_id)
        extra = {}
        if campaign is not None:
            extra = {
                "can_run_selection": self.has_change_permission(request, campaign)
                and _selection_editable(campaign),
                "selection_runs": campaign.selection_runs.select_related("created_by")[
                    :10
                ]
                if _can_view_runs(request.user)
                else [],
            }
        return super().change_view(
            request, object_id, form_url, {**extra, **(extra_context or {})}
        )

    # --- selection pages ------------------------------------------------------------

    def get_urls(self):
        wrap = self.admin_site.admin_view
        return [
            path(
                "<int:campaign_id>/selection/start/",
                wrap(self.selection_start_view),
                name="campaigns_selection_start",
            ),
            path(
                "selection/<int:run_id>/",
                wrap(self.selection_run_view),
                name="campaigns_selection_run",
            ),
            path(
                "selection/<int:run_id>/status/",
                wrap(self.selection_status_view),
                name="campaigns_selection_status",
            ),
            path(
                "selection/<int:run_id>/decide/",
                wrap(self.selection_decide_view),
                name="campaigns_selection_decide",
            ),
            path(
                "selection/<int:run_id>/export.<str:file_format>",
                wrap(self.selection_export_view),
                name="campaigns_selection_export",
            ),
        ] + super().get_urls()

    def _run_for(self, request, run_id) -> SelectionRun:
        if not _can_view_runs(request.user):
            raise PermissionDenied
        return get_object_or_404(
            SelectionRun.objects.select_related(
                "campaign", "snapshot", "created_by", "decided_by", "approved_by"
            ),
            pk=run_id,
        )

    def selection_start_view(self, request, campaign_id):
        campaign = get_object_or_404(Campaign, pk=campaign_id)
        if not self.has_change_permission(request, campaign):
            raise PermissionDenied
        change_url = reverse("admin:campaigns_campaign_change", args=[campaign.pk])
        if request.method != "POST":
            return redirect(change_url)
        try:
            run = services.selection_run_start(campaign=campaign, actor=request.user)
        except DomainError as exc:
            for problem in getattr(exc, "problems", None) or [str(exc)]:
                self.message_user(request, problem, messages.ERROR)
            return redirect(change_url)
        self.message_user(
            request,
            gettext("Run %(number)s is queued; this page follows it.")
            % {"number": run.number},
            messages.INFO,
        )
        return redirect("admin:campaigns_selection_run", run_id=run.pk)

    def selection_status_view(self, request, run_id):
        run = self._run_for(request, run_id)
        return JsonResponse(_run_status(run))

    def selection_run_view(self, request, run_id):
        run = self._run_for(request, run_id)
        campaign = run.campaign
        has_members = run.status in HAS_MEMBERS
        explain = None
        number = request.GET.get("msisdn", "").strip()
        if number and has_members:
            explain = selectors.selection_explain(run=run, msisdn_text=number)
        can_change = self.has_change_permission(request, campaign)
        counts = run.counts or {}
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": str(run),
            "run": run,
            "campaign": campaign,
            "status": _run_status(run),
            "funnel": run.funnel,
            "counts": counts,
            "tiers": [
                {**row, "channel_label": _channel_label(row.get("channel"))}
                for row in counts.get("tiers") or []
                if row.get("tier") or len(counts["tiers"]) > 1
            ],
            "show_lists": len(counts.get("lists") or []) > 1
            or any(row.get("list_name") for row in counts.get("lists") or []),
            "show_phases": any(row.get("phase") for row in counts.get("phases") or []),
            "explain_steps": _explain_steps(explain) if explain else [],
            "sample": _member_rows(run) if has_members else [],
            "has_members": has_members,
            "explain": explain,
            "explain_number": number,
            "can_commit": can_change and run.status == SelectionRun.Status.PREVIEW,
            "can_discard": can_change
            and run.status
            in {SelectionRun.Status.PREVIEW, SelectionRun.Status.COMMITTED},
            "can_approve": request.user.has_perm(APPROVE_PERMISSION)
            and run.status == SelectionRun.Status.COMMITTED,
        }
        return TemplateResponse(request, "admin/campaigns/selection_run.html", context)

    def selection_decide_view(self, request, run_id):
        run = self._run_for(request, run_id)
        if request.method != "POST":
            return redirect("admin:campaigns_selection_run", run_id=run.pk)
        action = request.POST.get("action")
        if action == "approve":
            if not request.user.has_perm(APPROVE_PERMISSION):
                raise PermissionDenied
            service, done = (
                services.selection_run_approve,
                gettext("Run %(number)s is approved: it is the campaign's list."),
            )
        elif action in {"commit", "discard"}:
            if not self.has_change_permission(request, run.campaign):
                raise PermissionDenied
            if action == "commit":
                service, done = (
                    services.selection_run_commit,
                    gettext("Run %(number)s is committed and waits for approval."),
                )
            else:
                service, done = (
                    services.selection_run_discard,
                    gettext("Run %(number)s is discarded."),
                )
        else:
            raise Http404
        try:
            service(run=run, actor=request.user)
        except DomainError as exc:
            self.message_user(request, str(exc), messages.ERROR)
        else:
            self.message_user(request, done % {"number": run.number}, messages.SUCCESS)
        return redirect("admin:campaigns_selection_run", run_id=run.pk)

    def selection_export_view(self, request, run_id, file_format):
        run = self._run_for(request, run_id)
        if file_format not in EXPORT_TYPES or run.status not in HAS_MEMBERS:
            raise Http404
        # Spooled: a short list stays in memory, a long one goes to a temporary file.
        stream = tempfile.SpooledTemporaryFile(max_size=16 * 1024 * 1024)
        selectors.selection_export_write(
            run=run,
            file_format=file_format,
            stream=stream,
            selected_only=request.GET.get("all") != "1",
        )
        stream.seek(0)
        return FileResponse(
            stream,
            as_attachment=True,
            filename=selectors.selection_export_filename(
                run=run, file_format=file_format
            ),
            content_type=EXPORT_TYPES[file_format],
        )


APPROVE_PERMISSION = "campaigns.approve_selectionrun"
HAS_MEMBERS = {
    SelectionRun.Status.PREVIEW,
    SelectionRun.Status.COMMITTED,
    SelectionRun.Status.APPROVED,
}
EXPORT_TYPES = {
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "csv": "text/csv; charset=utf-8",
}
SAMPLE_SIZE = 50


def _can_view_runs(user) -> bool:
    return user.has_perm("campaigns.view_selectionrun") or user.has_perm(
        "campaigns.change_selectionrun"
    )


def _run_status(run: SelectionRun) -> dict:
    return {
        "status": run.status,
        "label": str(run.get_status_display()),
        "running": run.is_running,
        "percent": run.progress_percent,
        "step": gettext(run.progress_step) if run.progress_step else "",
        "error": run.error,
    }


def _channel_label(value) -> str:
    if value in FulfilmentChannel.values:
        return str(FulfilmentChannel(value).label)
    return value or ""


def _explain_steps(explain: dict) -> list[dict]:
    """Each step with the value the number had for it, where the step is a rule."""
    values = {item["rule"]: item["value"] for item in explain.get("values") or []}
    return [
        {**step, "value": values.get(step["step"], "")}
        for step in explain.get("steps") or []
    ]


def _value_labels(run: SelectionRun) -> dict[str, str]:
    """Names of the values a member's place was decided by, in the run's words."""
    labels = {}
    for key in run.ruleset.get("ranking") or []:
        try:
            labels[measure_key(key)] = measure_text(key)
        except KeyError:
            labels[measure_key(key)] = measure_key(key)
    tiers = run.ruleset.get("tiers") or {}
    if tiers.get("bands") and tiers.get("measure"):
        labels["tier_value"] = measure_text(tiers["measure"])
    return labels


def _shown_value(value) -> str:
    if isinstance(value, bool):
        return gettext("yes") if value else gettext("no")
    if isinstance(value, float):
        value = int(value) if value.is_integer() else round(value, 2)
    if isinstance(value, int | float):
        return number_format(value, use_l10n=True, force_grouping=True)
    return "" if value is None else str(value)


def _member_rows(run: SelectionRun) -> list[dict]:
    labels = _value_labels(run)
    rows = []
    for member in selectors.selection_members(run=run)[:SAMPLE_SIZE]:
        rows.append(
            {
                "member": member,
                "number": "0" + member.msisdn[2:],
                "values": [
                    (labels.get(key, key), _shown_value(value))
                    for key, value in (member.values or {}).items()
                ],
            }
        )
    return rows


def _free_code(base: str) -> str:
    base = base[: Campaign._meta.get_field("code").max_length - 3]
    code, counter = base, 1
    while Campaign.objects.filter(code=code).exists():
        counter += 1
        code = f"{base}-{counter}"
    return code


@admin.register(ProvinceDistrict)
class ProvinceDistrictAdmin(admin.ModelAdmin):
    list_display = ["province", "district", "is_central"]
    list_filter = ["is_central", "province"]
    search_fields = ["province", "district"]


@admin.register(SelectionRun)
class SelectionRunAdmin(admin.ModelAdmin):
    """Runs are made and decided on their own page; this list only leads there."""

    list_display = [
        "run_link",
        "campaign",
        "status",
        "eligible_count",
        "selected_count",
        "created_by",
        "created_at",
    ]
    list_display_links = None
    list_filter = ["status", "campaign"]
    list_select_related = ["campaign", "created_by"]
    search_fields = ["campaign__code", "campaign__name"]

    @admin.display(description=_("run"), ordering="number")
    def run_link(self, run):
        return format_html(
            '<a href="{}">{}</a>',
            reverse("admin:campaigns_selection_run", args=[run.pk]),
            run,
        )

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def change_view(self, request, object_id, form_url="", extra_context=None):
        return redirect("admin:campaigns_selection_run", run_id=object_id)
