"""Admin for care staff: partners, assignments, service levels, orders and uploads."""

from django.contrib import admin, messages
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _

from eligibility.models import DomainError
from fulfilment import services
from fulfilment.models import (
    FulfilmentEvent,
    FulfilmentSettings,
    Order,
    OrderResult,
    Partner,
    PartnerAssignment,
    PartnerUser,
    ResultUpload,
)


class PartnerUserInline(admin.TabularInline):
    model = PartnerUser
    extra = 1
    autocomplete_fields = ["user"]


@admin.register(Partner)
class PartnerAdmin(admin.ModelAdmin):
    list_display = ["name", "code", "contact", "active"]
    search_fields = ["name", "code"]
    prepopulated_fields = {"code": ["name"]}
    inlines = [PartnerUserInline]


def _dashboard_link(campaign):
    return format_html(
        '<a href="{}">{}</a>',
        reverse("fulfilment:dashboard", args=[campaign.code]),
        _("dashboard"),
    )


@admin.register(PartnerAssignment)
class PartnerAssignmentAdmin(admin.ModelAdmin):
    list_display = ["campaign", "partner", "channel", "gift_list", "dashboard"]
    list_filter = ["partner", "channel"]
    autocomplete_fields = ["campaign", "partner"]
    filter_horizontal = ["gifts"]
    actions = ["release_orders"]

    @admin.display(description=_("gifts"))
    def gift_list(self, obj):
        return ", ".join(g.name for g in obj.gifts.all()) or _("all")

    @admin.display(description=_("dashboard"))
    def dashboard(self, obj):
        return _dashboard_link(obj.campaign)

    @admin.action(description=_("Send closed choices to the partners now"))
    def release_orders(self, request, queryset):
        for campaign in {a.campaign for a in queryset.select_related("campaign")}:
            result = services.orders_release(campaign=campaign, actor=request.user)
            self.message_user(
                request,
                _("%(campaign)s: %(n)s new orders.")
                % {"campaign": campaign.code, "n": result["created"]},
            )


@admin.register(FulfilmentSettings)
class FulfilmentSettingsAdmin(admin.ModelAdmin):
    list_display = [
        "campaign",
        "deliver_days",
        "upload_days",
        "notify_days",
        "reply_days",
        "dashboard",
    ]
    autocomplete_fields = ["campaign"]

    @admin.display(description=_("dashboard"))
    def dashboard(self, obj):
        return _dashboard_link(obj.campaign)


class SlaFilter(admin.SimpleListFilter):
    title = _("service level")
    parameter_name = "sla"

    def lookups(self, request, model_admin):
        return [
            ("overdue", _("any breach")),
            ("delivery", _("not delivered by the deadline")),
            ("upload", _("results uploaded late")),
            ("notice", _("customer not notified in time")),
        ]

    def queryset(self, request, queryset):
        now = timezone.now()
        match self.value():
            case "overdue":
                return queryset.overdue(now)
            case "delivery":
                return queryset.delivery_overdue(now)
            case "upload":
                return queryset.upload_late()
            case "notice":
                return queryset.notify_overdue(now)
        return queryset


class OrderResultInline(admin.TabularInline):
    model = OrderResult
    extra = 0
    can_delete = False
    fields = [
        "version",
        "status",
        "result_on",
        "reason",
        "upload",
        "recorded_by",
        "recorded_at",
    ]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    list_display = [
        "code",
        "msisdn",
        "campaign",
        "partner",
        "gift",
        "status",
        "deliver_by",
        "result_on",
        "sla",
    ]
    list_filter = [SlaFilter, "status", "partner", "campaign"]
    search_fields = ["=code", "=msisdn", "recipient_name"]
    list_select_related = ["campaign", "partner", "gift", "result_message"]
    readonly_fields = [f.name for f in Order._meta.fields]
    inlines = [OrderResultInline]
    actions = ["customer_called_back"]
    date_hierarchy = "deliver_by"

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.display(description=_("service level"))
    def sla(self, obj):
        flags = obj.sla_flags(timezone.now())
        return ", ".join(flags) if flags else "✓"

    @admin.action(description=_("Customer called back: deliver again"))
    def customer_called_back(self, request, queryset):
        done = 0
        for order in queryset:
            try:
                services.order_reply_record(order=order, actor=request.user)
                done += 1
            except DomainError as exc:
                self.message_user(request, str(exc), messages.WARNING)
        self.message_user(request, _("%(n)s orders to deliver again.") % {"n": done})


@admin.register(ResultUpload)
class ResultUploadAdmin(admin.ModelAdmin):
    list_display = [
        "file_name",
        "partner",
        "campaign",
        "status",
        "total_rows",
        "good_count",
        "problem_count",
        "applied_changes",
        "created_at",
    ]
    list_filter = ["status", "partner"]
    readonly_fields = [
        "partner",
        "campaign",
        "uploaded_by",
        "file_name",
        "status",
        "headers",
        "total_rows",
        "problems",
        "applied_changes",
        "applied_unchanged",
        "created_at",
        "decided_at",
    ]
    exclude = ["good_rows"]

    def has_add_permission(self, request):
        return False


@admin.register(FulfilmentEvent)
class FulfilmentEventAdmin(admin.ModelAdmin):
    list_display = ["created_at", "kind", "campaign", "partner", "actor", "data"]
    list_filter = ["kind", "partner"]
    readonly_fields = ["created_at", "kind", "campaign", "partner", "actor", "data"]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False
