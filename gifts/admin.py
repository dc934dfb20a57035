"""Staff screens for gifts: catalogue, stock, stores, invitations and choices.

Invitations and choices are written by services only (the customer site, call agents,
the sweep), so here they are read-only apart from the actions that call services. No
screen ever shows a password or its hash.
"""

from django.contrib import admin, messages
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _

from eligibility.models import DomainError
from gifts import limits, services
from gifts.forms import msisdn_normalise
from gifts.models import (
    Choice,
    Gift,
    GiftSettings,
    GiftStock,
    InvitableRun,
    Invitation,
    InvitationEvent,
    Store,
)


class FailureAlarmMixin:
    """Warn staff on the gift screens when failed logins pass the alarm threshold."""

    def changelist_view(self, request, extra_context=None):
        alarm = limits.failure_alarm()
        if alarm:
            failures, minutes = alarm
            self.message_user(
                request,
                gettext(
                    "Warning: %(failures)s failed logins on the gift site in the last "
                    "%(minutes)s minutes. Someone may be guessing passwords; check the "
                    "locked invitations."
                )
                % {"failures": failures, "minutes": minutes},
                messages.WARNING,
            )
        return super().changelist_view(request, extra_context)


class GiftStockInline(admin.TabularInline):
    model = GiftStock
    extra = 1
    fields = ["tier", "province", "total", "remaining"]
    readonly_fields = ["remaining"]


@admin.register(Gift)
class GiftAdmin(FailureAlarmMixin, admin.ModelAdmin):
    list_display = [
        "name",
        "campaign",
        "kind",
        "value_vnd",
        "tiers",
        "units_left",
        "position",
        "active",
    ]
    list_filter = ["campaign", "kind", "active"]
    search_fields = ["name", "code"]
    inlines = [GiftStockInline]

    @admin.display(description=_("units left"))
    def units_left(self, obj):
        return sum(stock.remaining for stock in obj.stocks.all())

    def get_queryset(self, request):
        return super().get_queryset(request).prefetch_related("stocks")

    def save_formset(self, request, form, formset, change):
        if formset.model is not GiftStock:
            return super().save_formset(request, form, formset, change)
        # Units already taken by customers stay taken: a new total moves `remaining`
        # by the difference, in the database, never to a value read earlier.
        instances = formset.save(commit=False)
        for obj in formset.deleted_objects:
            obj.delete()
        for stock in instances:
            stock.gift = form.instance
            if stock.pk is None:
                stock.remaining = stock.total
                stock.save()
                continue
            try:
                services.stock_set_total(stock=stock, total=stock.total)
            except DomainError as exc:
                self.message_user(request, str(exc), messages.ERROR)


@admin.register(GiftStock)
class GiftStockAdmin(admin.ModelAdmin):
    list_display = ["gift", "tier", "province", "total", "remaining"]
    list_filter = ["gift__campaign"]
    readonly_fields = ["remaining"]

    def save_model(self, request, obj, form, change):
        if not change:
            obj.remaining = obj.total
            obj.save()
            return
        try:
            services.stock_set_total(stock=obj, total=obj.total)
        except DomainError as exc:
            self.message_user(request, str(exc), messages.ERROR)


@admin.register(Store)
class StoreAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "address",
        "district",
        "province",
        "opening_hours",
        "active",
    ]
    list_filter = ["province", "active"]
    search_fields = ["name", "address", "district", "code"]


@admin.register(GiftSettings)
class GiftSettingsAdmin(admin.ModelAdmin):
    list_display = [
        "campaign",
        "choice_window_days",
        "allow_change",
        "no_choice_policy",
        "password_length",
    ]


class InvitationEventInline(admin.TabularInline):
    model = InvitationEvent
    extra = 0
    can_delete = False
    fields = ["created_at", "kind", "actor", "data"]
    readonly_fields = fields
    ordering = ["-created_at", "-id"]

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class ChoiceInline(admin.StackedInline):
    model = Choice
    extra = 0
    can_delete = False
    fields = [
        "gift",
        "code",
        "recipient_name",
        "address",
        "address_from_records",
        "store",
        "details",
        "chosen_by_agent",
        "auto_assigned",
        "fulfilment",
        "chosen_at",
        "changed_at",
    ]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


@admin.register(Invitation)
class InvitationAdmin(FailureAlarmMixin, admin.ModelAdmin):
    list_display = [
        "msisdn",
        "campaign",
        "tier",
        "district",
        "status",
        "deadline",
        "failed_attempts",
        "locked_until",
    ]
    list_filter = ["campaign", "status", "tier"]
    search_fields = ["=msisdn"]
    show_full_result_count = False
    # The hash is excluded, not just read-only: not even it is shown.
    fields = [
        "campaign",
        "run",
        "member",
        "msisdn",
        "tier",
        "province",
        "district",
        "status",
        "issued_at",
        "deadline",
        "failed_attempts",
        "locked_until",
        "last_login_at",
    ]
    readonly_fields = fields
    inlines = [ChoiceInline, InvitationEventInline]
    actions = ["unlock", "resend_password"]

    def get_search_results(self, request, queryset, search_term):
        msisdn = msisdn_normalise(search_term)
        if msisdn:
            return queryset.filter(msisdn=msisdn), False
        return super().get_search_results(request, queryset, search_term)

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(
        description=_("Unlock (the caller proved the line is theirs)"),
        permissions=["change"],
    )
    def unlock(self, request, queryset):
        for invitation in queryset:
            services.invitation_unlock(invitation=invitation, actor=request.user)
        self.message_user(
            request,
            ngettext(
                "%(count)s invitation unlocked.",
                "%(count)s invitations unlocked.",
                queryset.count(),
            )
            % {"count": queryset.count()},
            messages.SUCCESS,
        )

    @admin.action(description=_("Send a new password by SMS"), permissions=["change"])
    def resend_password(self, request, queryset):
        sent = 0
        for invitation in queryset:
            try:
                services.invitation_password_resend(
                    invitation=invitation, actor=request.user
                )
            except DomainError as exc:
                self.message_user(
                    request, f"{invitation.msisdn}: {exc}", messages.ERROR
                )
            else:
                sent += 1
        if sent:
            self.message_user(
                request,
                ngettext(
                    "%(count)s new password sent.",
                    "%(count)s new passwords sent.",
                    sent,
                )
                % {"count": sent},
                messages.SUCCESS,
            )


@admin.register(Choice)
class ChoiceAdmin(admin.ModelAdmin):
    list_display = [
        "code",
        "gift",
        "invitation",
        "store",
        "chosen_by_agent",
        "auto_assigned",
        "fulfilment",
        "chosen_at",
    ]
    list_filter = ["gift__campaign", "gift", "auto_assigned", "fulfilment"]
    search_fields = ["=code", "=invitation__msisdn"]
    list_select_related = ["gift", "invitation__campaign", "store", "chosen_by_agent"]
    readonly_fields = [field.name for field in Choice._meta.fields]

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


def send_invitations(modeladmin, request, queryset):
    """Invite the selected members of each approved run (usable on any run admin)."""
    if not request.user.has_perm("gifts.add_invitation"):
        modeladmin.message_user(
            request, gettext("You may not send invitations."), messages.ERROR
        )
        return
    for run in queryset:
        try:
            result = services.invitations_issue(run=run, actor=request.user)
        except DomainError as exc:
            modeladmin.message_user(request, str(exc), messages.ERROR)
            continue
        modeladmin.message_user(
            request,
            gettext(
                "%(run)s: %(created)s invitations created and their SMS queued; "
                "%(already)s were already invited."
            )
            % {
                "run": run,
                "created": result.created,
                "already": result.already_invited,
            },
            messages.SUCCESS,
        )


send_invitations.short_description = _("Send invitations")


@admin.register(InvitableRun)
class InvitableRunAdmin(admin.ModelAdmin):
    """Approved selection runs, with how many of their members are invited."""

    list_display = [
        "__str__",
        "campaign",
        "status",
        "selected_count",
        "invited",
        "approved_at",
    ]
    list_filter = ["campaign"]
    actions = [send_invitations]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .filter(status="approved")
            .select_related("campaign")
        )

    @admin.display(description=_("invited"))
    def invited(self, obj):
        return obj.invitations.count()

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False
