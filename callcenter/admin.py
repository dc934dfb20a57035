from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from callcenter.models import (
    PLACEHOLDERS,
    Call,
    CallRequest,
    CallTask,
    Script,
    ScriptBranch,
    ScriptStep,
)


def _placeholder_help() -> str:
    return ", ".join(f"[{name}]" for name in PLACEHOLDERS)


class ScriptStepInline(admin.StackedInline):
    model = ScriptStep
    extra = 0
    fields = ["position", "code", "title", "text", "topic_priority", "qualifier"]
    show_change_link = True


@admin.register(Script)
class ScriptAdmin(admin.ModelAdmin):
    list_display = ["name", "campaign", "min_topics", "calling_from", "calling_to"]
    inlines = [ScriptStepInline]
    fieldsets = [
        (None, {"fields": ["campaign", "name", "min_topics"]}),
        (
            _("Package offered on the call"),
            {"fields": ["offer_package", "offer_price", "offer_bonus"]},
        ),
        (
            _("Calling rules"),
            {
                "fields": [
                    "calling_from",
                    "calling_to",
                    "retry_minutes",
                    "max_attempts",
                    "escalate_minutes",
                    "record_update_days",
                ]
            },
        ),
    ]

    def render_change_form(self, request, context, *args, **kwargs):
        context["subtitle"] = _("Placeholders: %(names)s") % {
            "names": _placeholder_help()
        }
        return super().render_change_form(request, context, *args, **kwargs)


class ScriptBranchInline(admin.TabularInline):
    model = ScriptBranch
    fk_name = "step"
    extra = 1
    fields = ["position", "label", "text", "next_step", "disposition"]

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "next_step":
            step_id = request.resolver_match.kwargs.get("object_id")
            step = ScriptStep.objects.filter(pk=step_id).first() if step_id else None
            kwargs["queryset"] = (
                ScriptStep.objects.filter(script_id=step.script_id)
                if step
                else ScriptStep.objects.none()
            )
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


@admin.register(ScriptStep)
class ScriptStepAdmin(admin.ModelAdmin):
    list_display = ["code", "title", "script", "topic_priority", "qualifier"]
    list_filter = ["script"]
    inlines = [ScriptBranchInline]


@admin.register(CallTask)
class CallTaskAdmin(admin.ModelAdmin):
    list_display = [
        "msisdn",
        "full_name",
        "campaign",
        "rank",
        "agent",
        "status",
        "available_at",
        "attempts",
        "last_disposition",
    ]
    list_filter = ["campaign", "status", "agent"]
    search_fields = ["msisdn", "full_name"]
    raw_id_fields = ["member", "agent"]
    readonly_fields = ["revision", "callback_reminded_at", "escalated_at"]


@admin.register(Call)
class CallAdmin(admin.ModelAdmin):
    list_display = ["task", "agent", "ended_at", "disposition", "rule_met", "reason"]
    list_filter = ["disposition", "rule_met", "agent"]
    raw_id_fields = ["task"]

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(CallRequest)
class CallRequestAdmin(admin.ModelAdmin):
    list_display = ["task", "kind", "status", "due_at", "created_by", "created_at"]
    list_filter = ["kind", "status"]
    raw_id_fields = ["task"]
