from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.forms.models import BaseInlineFormSet
from django.utils.text import format_lazy
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from campaigns import services
from campaigns.models import (
    Campaign,
    CampaignBatch,
    CampaignEvent,
    CampaignPhase,
    ProvinceDistrict,
)
from eligibility.models import DomainError


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
    readonly_fields = ["status", "created_at", "updated_at"]
    inlines = [CampaignPhaseInline, CampaignBatchInline, CampaignEventInline]
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
        (_("Record"), {"fields": ["created_at", "updated_at"]}),
    ]

    def get_readonly_fields(self, request, obj=None):
        # The code names the campaign in definition files, so it is fixed once created.
        # The snapshot is fixed once selection has started from it.
        if obj is None:
            return self.readonly_fields
        if obj.status != Campaign.Status.DRAFT:
            return [*self.readonly_fields, "code", "snapshot"]
        return [*self.readonly_fields, "code"]

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

    def save_formset(self, request, form, formset, change):
        changed = formset.has_changed()
        super().save_formset(request, form, formset, change)
        if changed and change and formset.model in (CampaignPhase, CampaignBatch):
            part = "phases" if formset.model is CampaignPhase else "batches"
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
