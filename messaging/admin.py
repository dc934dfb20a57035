import json

from django import forms
from django.contrib import admin, messages
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from eligibility.models import DomainError, Subscriber
from messaging import encoding, services
from messaging.backends.zalo import zalo_settings
from messaging.models import (
    MASK,
    PLACEHOLDERS,
    DeliveryReport,
    DoNotContact,
    InboundMessage,
    LoyaltySignup,
    Message,
    MessageTemplate,
    MessagingEvent,
    MessagingSettings,
    Schedule,
    ZaloOaToken,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows written by services and the gateway; staff read them, never edit them."""

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class ScheduleInline(admin.TabularInline):
    model = Schedule
    extra = 0
    fields = ["sequence", "kind", "send_at", "event", "delay"]


class MessageTemplateForm(forms.ModelForm):
    class Meta:
        model = MessageTemplate
        fields = [
            "campaign",
            "purpose",
            "variant",
            "channel",
            "name",
            "sender",
            "body",
            "strip_diacritics",
            "max_segments",
            "exempt_from_do_not_contact",
            "zalo_template_id",
        ]
        widgets = {
            "body": forms.Textarea(
                attrs={
                    "rows": 6,
                    "cols": 90,
                    "data-sms-counter": "1",
                    "data-samples": json.dumps(
                        {name: sample for name, (sample, _h) in PLACEHOLDERS.items()}
                    ),
                }
            )
        }


def subscriber_context(subscriber: Subscriber) -> dict:
    """Placeholder values a subscriber of the snapshot provides; samples for the rest."""
    context = {name: sample for name, (sample, _help) in PLACEHOLDERS.items()}
    context.update(
        {
            "name": subscriber.full_name or context["name"],
            "msisdn": "0" + subscriber.msisdn[2:],
            "points": subscriber.loyalty_points,
            "tier": subscriber.loyalty_tier or context["tier"],
        }
    )
    return context


@admin.register(MessageTemplate)
class MessageTemplateAdmin(admin.ModelAdmin):
    form = MessageTemplateForm
    inlines = [ScheduleInline]
    list_display = [
        "__str__",
        "purpose",
        "variant",
        "channel",
        "sender",
        "strip_diacritics",
        "exempt_from_do_not_contact",
        "max_segments",
        "zalo_template_id",
        "preview_link",
    ]
    list_filter = ["purpose", "channel", "campaign"]
    search_fields = ["name", "body", "campaign__code"]
    fieldsets = [
        (None, {"fields": ["campaign", "purpose", "variant", "channel", "name"]}),
        (
            _("Text"),
            {
                "fields": [
                    "sender",
                    "body",
                    "strip_diacritics",
                    "max_segments",
                    "exempt_from_do_not_contact",
                ],
                "description": _(
                    "Placeholders: %(names)s. The counter under the text shows the "
                    "encoding, length and SMS segments with typical values."
                )
                % {"names": ", ".join(f"{{{name}}}" for name in PLACEHOLDERS)},
            },
        ),
        (
            _("Zalo"),
            {
                "fields": ["zalo_template_id"],
                "description": _(
                    "Zalo channel only. With a ZNS template id and the ZNS access "
                    "token configured on the server, messages are sent through Zalo's "
                    "notification API: Zalo's approved template with the values of "
                    "this text's placeholders, under the same names. Otherwise they "
                    "wait on the agents' Zalo work list."
                ),
            },
        ),
    ]

    class Media:
        js = ["messaging/sms_counter.js"]
        css = {"all": ["messaging/sms_counter.css"]}

    @admin.display(description=_("preview"))
    def preview_link(self, obj):
        url = reverse("admin:messaging_messagetemplate_preview", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, gettext("Preview"))

    def get_urls(self):
        return [
            path(
                "<int:pk>/preview/",
                self.admin_site.admin_view(self.preview_view),
                name="messaging_messagetemplate_preview",
            ),
            *super().get_urls(),
        ]

    def preview_view(self, request, pk):
        template = get_object_or_404(MessageTemplate, pk=pk)
        if not self.has_view_permission(request, template):
            return redirect("admin:index")
        subscriber, error = None, ""
        snapshot = template.campaign.snapshot if template.campaign else None
        wanted = services.msisdn_normalize(request.GET.get("msisdn", ""))
        if snapshot is not None:
            subscribers = Subscriber.objects.filter(snapshot=snapshot)
            if wanted:
                subscribers = subscribers.filter(msisdn=wanted)
            subscriber = subscribers.order_by("msisdn").first()
        if subscriber is None:
            error = gettext(
                "No subscriber of the campaign's snapshot to preview with; "
                "typical values are shown."
            )
            context = template.sample_context()
        else:
            context = subscriber_context(subscriber)
        text = template.render(context)
        info = encoding.text_info(text)
        return TemplateResponse(
            request,
            "admin/messaging/messagetemplate/preview.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.model._meta,
                "title": gettext("Preview of %(template)s") % {"template": template},
                "template_obj": template,
                "subscriber": subscriber,
                "error": error,
                "text": text,
                "info": info,
                "too_long": info.segments > template.max_segments,
            },
        )


def _each(modeladmin, request, queryset, act, done_message):
    done = 0
    for message in queryset:
        try:
            act(message)
            done += 1
        except DomainError as exc:
            modeladmin.message_user(request, str(exc), messages.ERROR)
    if done:
        modeladmin.message_user(request, done_message % {"n": done}, messages.SUCCESS)


@admin.action(description=_("Settle as delivered"), permissions=["change"])
def settle_delivered(modeladmin, request, queryset):
    _each(
        modeladmin,
        request,
        queryset,
        lambda m: services.message_settle(
            message=m, delivered=True, actor=request.user
        ),
        gettext("%(n)s message(s) settled as delivered."),
    )


@admin.action(description=_("Settle as failed"), permissions=["change"])
def settle_failed(modeladmin, request, queryset):
    _each(
        modeladmin,
        request,
        queryset,
        lambda m: services.message_settle(
            message=m, delivered=False, actor=request.user
        ),
        gettext("%(n)s message(s) settled as failed."),
    )


@admin.action(description=_("Send again"), permissions=["change"])
def retry(modeladmin, request, queryset):
    _each(
        modeladmin,
        request,
        queryset,
        lambda m: services.message_retry(message=m, actor=request.user),
        gettext("%(n)s message(s) queued again."),
    )


@admin.action(description=_("Cancel"), permissions=["change"])
def cancel(modeladmin, request, queryset):
    _each(
        modeladmin,
        request,
        queryset,
        lambda m: services.message_cancel(message=m, actor=request.user),
        gettext("%(n)s message(s) cancelled."),
    )


class DeliveryReportInline(admin.TabularInline):
    model = DeliveryReport
    extra = 0
    can_delete = False
    fields = ["received_at", "part", "outcome", "code", "reason"]
    readonly_fields = fields

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Message)
class MessageAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "campaign",
        "msisdn",
        "purpose",
        "sequence",
        "channel",
        "status",
        "due_at",
        "attempts",
        "segments",
        "short_error",
    ]
    list_filter = ["status", "purpose", "channel", "campaign"]
    search_fields = ["msisdn", "gateway_message_id"]
    date_hierarchy = "due_at"
    actions = [settle_delivered, settle_failed, retry, cancel]
    inlines = [DeliveryReportInline]
    readonly_fields = [
        "campaign",
        "template",
        "msisdn",
        "purpose",
        "sequence",
        "channel",
        "sender",
        "body",
        "sensitive",
        "encoding",
        "segments",
        "status",
        "due_at",
        "attempts",
        "last_error",
        "gateway_message_id",
        "zalo_template_id",
        "template_values",
        "claimed_by",
        "claimed_at",
        "submitted_at",
        "settled_at",
        "created_at",
    ]
    exclude = ["sealed_body", "template_data"]
    list_select_related = ["campaign"]
    show_full_result_count = False

    @admin.display(description=_("last error"))
    def short_error(self, obj):
        return obj.last_error[:80]

    @admin.display(description=_("template data"))
    def template_values(self, obj):
        """A Zalo message's ZNS values, one per line; a secret is never shown."""
        if not obj.template_data:
            return None
        return format_html_join(
            "",
            "<div><code>{}</code>: {}</div>",
            (
                (name, MASK if obj.sensitive and name == "password" else value)
                for name, value in obj.template_data.items()
            ),
        )

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class UnknownMessageFilter(admin.SimpleListFilter):
    title = _("message")
    parameter_name = "known"

    def lookups(self, request, model_admin):
        return [("no", _("unknown message"))]

    def queryset(self, request, queryset):
        if self.value() == "no":
            return queryset.filter(message__isnull=True)
        return queryset


@admin.register(DeliveryReport)
class DeliveryReportAdmin(ReadOnlyAdmin):
    list_display = ["received_at", "reference", "part", "outcome", "code", "message"]
    list_filter = ["outcome", UnknownMessageFilter]
    search_fields = ["reference", "part"]


@admin.register(InboundMessage)
class InboundMessageAdmin(ReadOnlyAdmin):
    list_display = [
        "received_at",
        "msisdn",
        "short_code",
        "keyword",
        "text",
        "outcome",
        "note",
    ]
    list_filter = ["outcome", "keyword", "short_code"]
    search_fields = ["msisdn", "text"]


class DoNotContactImportForm(forms.Form):
    file = forms.FileField(
        label=_("File"),
        required=False,
        help_text=_("CSV or text, one number per line (first column)."),
    )
    numbers = forms.CharField(
        label=_("Or paste numbers"), widget=forms.Textarea, required=False
    )

    def lines(self) -> list[str]:
        lines = []
        upload = self.cleaned_data.get("file")
        if upload:
            try:
                lines += upload.read().decode("utf-8-sig").splitlines()
            except UnicodeDecodeError as exc:
                raise forms.ValidationError(_("The file must be UTF-8 text.")) from exc
        lines += (self.cleaned_data.get("numbers") or "").splitlines()
        return lines


@admin.register(DoNotContact)
class DoNotContactAdmin(admin.ModelAdmin):
    list_display = ["msisdn", "source", "note", "created_by", "created_at"]
    list_filter = ["source"]
    search_fields = ["msisdn"]
    fields = ["msisdn", "note"]
    change_list_template = "admin/messaging/donotcontact/change_list.html"

    def save_model(self, request, obj, form, change):
        if change:
            super().save_model(request, obj, form, change)
            return
        entry = services.do_not_contact_add(
            msisdn=obj.msisdn,
            source=DoNotContact.Source.STAFF,
            note=obj.note,
            actor=request.user,
        )
        obj.pk = entry.pk

    def get_urls(self):
        return [
            path(
                "import/",
                self.admin_site.admin_view(self.import_view),
                name="messaging_donotcontact_import",
            ),
            *super().get_urls(),
        ]

    def import_view(self, request):
        if not self.has_add_permission(request):
            return redirect("admin:index")
        form = DoNotContactImportForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            try:
                summary = services.do_not_contact_import(
                    lines=form.lines(), actor=request.user
                )
            except forms.ValidationError as exc:
                form.add_error("file", exc)
            else:
                self.message_user(
                    request,
                    gettext(
                        "%(added)s number(s) added, %(listed)s already listed, "
                        "%(rejected)s line(s) not a number."
                    )
                    % {
                        "added": summary["added"],
                        "listed": summary["already_listed"],
                        "rejected": summary["rejected_count"],
                    },
                    messages.SUCCESS,
                )
                for line_no, text in summary["rejected"][:20]:
                    self.message_user(
                        request,
                        gettext("Line %(line)s: %(text)s is not a mobile number.")
                        % {"line": line_no, "text": text},
                        messages.WARNING,
                    )
                return redirect("admin:messaging_donotcontact_changelist")
        return TemplateResponse(
            request,
            "admin/messaging/donotcontact/import.html",
            {
                **self.admin_site.each_context(request),
                "opts": self.model._meta,
                "title": gettext("Import a do-not-contact list"),
                "form": form,
            },
        )


@admin.action(description=_("Pause sending (kill switch)"), permissions=["change"])
def pause(modeladmin, request, queryset):
    for config in queryset:
        services.campaign_sending_pause(campaign=config.campaign, actor=request.user)
    modeladmin.message_user(
        request, gettext("Sending paused: nothing more goes out."), messages.WARNING
    )


@admin.action(description=_("Resume sending"), permissions=["change"])
def resume(modeladmin, request, queryset):
    for config in queryset:
        services.campaign_sending_resume(campaign=config.campaign, actor=request.user)
    modeladmin.message_user(request, gettext("Sending resumed."), messages.SUCCESS)


@admin.register(MessagingSettings)
class MessagingSettingsAdmin(admin.ModelAdmin):
    list_display = [
        "campaign",
        "paused",
        "paused_at",
        "window_start",
        "window_end",
        "cap_per_subscriber",
        "queued_count",
    ]
    list_filter = ["paused"]
    fields = ["campaign", "window_start", "window_end", "cap_per_subscriber"]
    actions = [pause, resume]

    @admin.display(description=_("queued"))
    def queued_count(self, obj):
        return Message.objects.filter(campaign=obj.campaign, status="queued").count()


@admin.register(Schedule)
class ScheduleAdmin(admin.ModelAdmin):
    list_display = ["template", "sequence", "kind", "send_at", "event", "delay"]
    list_filter = ["kind"]


@admin.register(MessagingEvent)
class MessagingEventAdmin(ReadOnlyAdmin):
    list_display = ["created_at", "kind", "campaign", "message", "actor", "data"]
    list_filter = ["kind"]


@admin.register(LoyaltySignup)
class LoyaltySignupAdmin(ReadOnlyAdmin):
    list_display = ["msisdn", "requested_at", "confirmed_at", "source"]
    list_filter = ["source"]
    search_fields = ["msisdn"]


class ZaloOaTokenForm(forms.ModelForm):
    """Tokens go in, never out: the fields are write-only and always shown empty."""

    new_access_token = forms.CharField(
        label=_("new access token"),
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text=_("Optional. Empty: the stored access token is kept."),
    )
    new_refresh_token = forms.CharField(
        label=_("new refresh token"),
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text=_(
            "From Zalo's OA authorisation. Empty: the stored refresh token is kept. "
            "With a refresh token and no access token, the pair is renewed at once."
        ),
    )

    class Meta:
        model = ZaloOaToken
        fields = ["app_id"]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if not self.instance.pk:
            self.fields["app_id"].initial = zalo_settings()["APP_ID"]

    def clean(self):
        cleaned = super().clean()
        if not self.instance.pk and not cleaned.get("new_refresh_token"):
            self.add_error(
                "new_refresh_token",
                gettext("Enter the refresh token: without it nothing is renewed."),
            )
        return cleaned


@admin.register(ZaloOaToken)
class ZaloOaTokenAdmin(admin.ModelAdmin):
    """Care staff enter the OA's first tokens; beat and the ZNS backend renew them.

    Open to those who may change the tokens only: a token's state (expiry, Zalo's
    last refusal) is theirs to act on.
    """

    form = ZaloOaTokenForm
    list_display = [
        "app_id",
        "expires_at",
        "refreshed_at",
        "last_refresh_attempt_at",
        "last_refresh_error",
    ]
    readonly_fields = [
        "tokens_stored",
        "expires_at",
        "refreshed_at",
        "last_refresh_attempt_at",
        "last_refresh_error",
    ]

    def get_fields(self, request, obj=None):
        fields = ["app_id", "new_access_token", "new_refresh_token"]
        return fields + (self.readonly_fields if obj else [])

    def get_readonly_fields(self, request, obj=None):
        # The app a pair belongs to does not change; a new app gets a row of its own.
        return ["app_id", *self.readonly_fields] if obj else []

    @admin.display(description=_("stored"))
    def tokens_stored(self, obj):
        stored = [
            label
            for label, sealed in [
                (gettext("access token"), obj.sealed_access_token),
                (gettext("refresh token"), obj.sealed_refresh_token),
            ]
            if sealed
        ]
        return ", ".join(stored) or "-"

    def has_view_permission(self, request, obj=None):
        return self.has_change_permission(request, obj)

    def has_module_permission(self, request):
        return self.has_change_permission(request)

    def save_model(self, request, obj, form, change):
        access_token = form.cleaned_data.get("new_access_token") or ""
        refresh_token = form.cleaned_data.get("new_refresh_token") or ""
        stored = services.zalo_oa_token_store(
            app_id=obj.app_id,
            access_token=access_token,
            refresh_token=refresh_token,
            actor=request.user,
        )
        obj.pk = stored.pk
        if refresh_token and not access_token:
            self._refresh_now(request)

    def _refresh_now(self, request):
        try:
            services.zalo_oa_token_refresh(actor=request.user)
        except DomainError as exc:
            self.message_user(
                request,
                gettext("The token pair could not be renewed: %(error)s")
                % {"error": exc},
                messages.ERROR,
            )
        else:
            self.message_user(
                request, gettext("The token pair was renewed."), messages.SUCCESS
            )
