"""Admin for the home SIM-swap flow.

Requests change state only through the staff pages (and their services), so the
request admin is read-only: a change made here would skip the history.
"""

from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from servicerequests.models import (
    Allocation,
    IvrImport,
    IvrScript,
    ServiceRequest,
    ServiceRequestEvent,
    StaffScope,
)


class EventInline(admin.TabularInline):
    model = ServiceRequestEvent
    extra = 0
    can_delete = False
    fields = ["at", "kind", "from_status", "to_status", "actor", "data"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(ServiceRequest)
class ServiceRequestAdmin(admin.ModelAdmin):
    list_display = [
        "msisdn",
        "full_name",
        "province",
        "district",
        "source",
        "status",
        "registered_at",
        "field_staff",
    ]
    list_filter = ["status", "source", "province", "campaign", "list_name"]
    search_fields = ["msisdn", "full_name", "address", "new_sim_serial"]
    date_hierarchy = "registered_at"
    inlines = [EventInline]
    list_select_related = ["field_staff"]

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(IvrScript)
class IvrScriptAdmin(admin.ModelAdmin):
    list_display = ["campaign", "updated_at"]
    fields = ["campaign", "intro", "key_1", "key_2", "key_3", "closing"]

    def save_model(self, request, obj, form, change):
        from django.utils import timezone

        obj.updated_at = timezone.now()
        super().save_model(request, obj, form, change)


@admin.register(StaffScope)
class StaffScopeAdmin(admin.ModelAdmin):
    list_display = ["user", "province", "contractor"]
    list_filter = ["province", "contractor"]
    search_fields = ["user__username", "contractor"]
    autocomplete_fields = ["user"]


@admin.register(Allocation)
class AllocationAdmin(admin.ModelAdmin):
    list_display = ["created_at", "province", "field_staff", "count", "created_by"]
    list_filter = ["province"]

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request):
        return False


@admin.register(IvrImport)
class IvrImportAdmin(admin.ModelAdmin):
    list_display = [
        "created_at",
        "campaign",
        "file_name",
        "outcome",
        "total_rows",
        "created",
        "ineligible",
        "problem_count",
    ]
    list_filter = ["outcome", "campaign"]

    def get_readonly_fields(self, request, obj=None):
        return [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request):
        return False

    @admin.display(description=_("problems"))
    def problem_count(self, obj):
        return len(obj.problems)
