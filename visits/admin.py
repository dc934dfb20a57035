from django.contrib import admin
from django.utils.translation import gettext_lazy as _

from visits.models import (
    StaffPost,
    Survey,
    SurveyAnswer,
    SurveyQuestion,
    Trip,
    TripInvitation,
    Visit,
    VisitEvent,
)


@admin.register(StaffPost)
class StaffPostAdmin(admin.ModelAdmin):
    list_display = ["user", "store", "province", "district"]
    list_filter = ["province"]
    search_fields = ["user__username", "province", "district", "store__name"]
    autocomplete_fields = ["user"]
    list_select_related = ["user", "store"]


class SurveyQuestionInline(admin.TabularInline):
    model = SurveyQuestion
    extra = 1
    fields = ["position", "text", "kind", "choices", "required"]


@admin.register(Survey)
class SurveyAdmin(admin.ModelAdmin):
    list_display = ["name", "campaign", "active"]
    list_filter = ["active", "campaign"]
    inlines = [SurveyQuestionInline]


class SurveyAnswerInline(admin.TabularInline):
    model = SurveyAnswer
    extra = 0
    can_delete = False
    readonly_fields = ["question", "choices", "text"]

    def has_add_permission(self, request, obj=None):
        return False


class ReadOnlyAdmin(admin.ModelAdmin):
    """Records written by the staff pages' services: the admin only reads them."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(Visit)
class VisitAdmin(ReadOnlyAdmin):
    list_display = [
        "member",
        "kind",
        "outcome",
        "gift_handed_over",
        "record_checked",
        "record_corrected",
        "store",
        "district",
        "staff",
        "visited_at",
    ]
    list_filter = ["kind", "outcome", "gift_handed_over", "campaign", "province"]
    search_fields = ["member__msisdn", "choice__code"]
    list_select_related = ["member", "store", "staff"]
    inlines = [SurveyAnswerInline]


@admin.register(Trip)
class TripAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "campaign",
        "list_name",
        "departs_on",
        "returns_on",
        "passport_valid_through",
    ]
    list_filter = ["campaign"]


@admin.register(TripInvitation)
class TripInvitationAdmin(ReadOnlyAdmin):
    list_display = ["member", "trip", "company", "cell", "status", "confirm_by"]
    list_filter = ["trip", "status", "company"]
    search_fields = ["member__msisdn", "passport_number"]
    list_select_related = ["member", "trip"]

    @admin.display(description=_("takes the seat of"))
    def replaces_msisdn(self, obj):
        return obj.replaces.member.msisdn if obj.replaces else ""


@admin.register(VisitEvent)
class VisitEventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "kind", "msisdn", "campaign", "actor"]
    list_filter = ["kind", "campaign"]
    search_fields = ["msisdn"]
    date_hierarchy = "created_at"
