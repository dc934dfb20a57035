"""Forms of the console and the supervisors' pages; the services do the checking."""

from __future__ import annotations

from django import forms
from django.utils.translation import gettext_lazy as _

from callcenter.models import Disposition, RequestKind

DATETIME_FORMATS = ["%d/%m/%Y %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"]


class EndCallForm(forms.Form):
    revision = forms.IntegerField(widget=forms.HiddenInput)
    started_at = forms.DateTimeField(
        widget=forms.HiddenInput,
        input_formats=["%Y-%m-%dT%H:%M:%S%z", *DATETIME_FORMATS],
    )
    disposition = forms.ChoiceField(
        label=_("How the call ended"), choices=Disposition.choices
    )
    topics = forms.MultipleChoiceField(
        label=_("Topics advised"), required=False, widget=forms.CheckboxSelectMultiple
    )
    reason = forms.CharField(label=_("Reason"), required=False, max_length=300)
    callback_at = forms.DateTimeField(
        label=_("Call back at (dd/mm/yyyy hh:mm)"),
        required=False,
        input_formats=DATETIME_FORMATS,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )
    callback_anyone = forms.BooleanField(
        label=_("Any agent may call back"), required=False
    )
    note = forms.CharField(
        label=_("Note"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )

    def __init__(self, *args, topics=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["topics"].choices = topics


class RequestForm(forms.Form):
    kind = forms.ChoiceField(choices=RequestKind.choices, widget=forms.HiddenInput)
    package = forms.CharField(label=_("Package"), required=False, max_length=50)
    enough_balance = forms.ChoiceField(
        label=_("Enough balance to register now"),
        required=False,
        choices=[("yes", _("yes")), ("no", _("no"))],
    )
    online = forms.ChoiceField(
        label=_("Update online (Zalo)"),
        required=False,
        choices=[("yes", _("yes")), ("no", _("no: at a store"))],
    )
    problem = forms.ChoiceField(
        label=_("Record problem"),
        required=False,
        choices=[
            ("no_new_id", _("right owner, new ID card not recorded")),
            ("wrong_owner", _("wrong owner name")),
        ],
    )
    services = forms.CharField(label=_("Services to cancel"), required=False)
    os = forms.ChoiceField(
        label=_("Phone"),
        required=False,
        choices=[("android", "Android"), ("ios", "iOS")],
    )
    text = forms.CharField(
        label=_("Complaint"), required=False, widget=forms.Textarea(attrs={"rows": 2})
    )

    FIELDS = {
        RequestKind.PACKAGE: ["package", "enough_balance"],
        RequestKind.LOYALTY: [],
        RequestKind.RECORD_UPDATE: ["problem", "online"],
        RequestKind.MVAS_CANCEL: ["services"],
        RequestKind.APP: ["os"],
        RequestKind.COMPLAINT: ["text"],
    }

    def details(self) -> dict:
        kind = self.cleaned_data["kind"]
        return {
            name: self.cleaned_data.get(name) or ""
            for name in self.FIELDS.get(kind, [])
        }


class GiftForm(forms.Form):
    """The gift for points; the details a gift asks for come as detail_<key> fields."""

    revision = forms.IntegerField(widget=forms.HiddenInput)
    gift = forms.IntegerField(label=_("Gift"))
    recipient_name = forms.CharField(label=_("Recipient"), required=False)
    address = forms.CharField(label=_("Delivery address"), required=False)
    store = forms.IntegerField(label=_("Store"), required=False)

    def extra(self, gift) -> dict:
        return {key: self.data.get(f"detail_{key}", "") for key in gift.extra_details}


class AssignForm(forms.Form):
    agent = forms.ModelChoiceField(label=_("Agent"), queryset=None)
    count = forms.IntegerField(label=_("Customers"), min_value=1, max_value=100_000)

    def __init__(self, *args, agents=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["agent"].queryset = agents


class MoveForm(forms.Form):
    from_agent = forms.ModelChoiceField(label=_("From"), queryset=None)
    to_agent = forms.ModelChoiceField(
        label=_("To"), queryset=None, required=False, empty_label=_("shared pool")
    )
    count = forms.IntegerField(
        label=_("How many (empty: all)"), min_value=1, required=False
    )

    def __init__(self, *args, agents=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["from_agent"].queryset = agents
        self.fields["to_agent"].queryset = agents
