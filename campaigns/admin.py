from django.contrib import admin

from campaigns.models import Campaign


@admin.register(Campaign)
class CampaignAdmin(admin.ModelAdmin):
    list_display = [
        "code",
        "name",
        "owning_unit",
        "snapshot",
        "starts_on",
        "ends_on",
        "status",
    ]
    list_filter = ["status", "owning_unit"]
    search_fields = ["code", "name"]
    autocomplete_fields = ["snapshot"]
