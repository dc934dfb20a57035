from __future__ import annotations

from datetime import date

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from messaging.services import msisdn_normalize
from servicerequests.services import CallOutcome

PREFERRED_TIMES = [
    ("", _("Any time")),
    ("morning", _("Morning (8:00–12:00)")),
    ("afternoon", _("Afternoon (13:00–17:00)")),
    ("evening", _("Evening (17:00–20:00)")),
    ("weekend", _("Weekend")),
]

DATE_INPUTS = ["%d/%m/%Y", "%Y-%m-%d"]
# Text inputs, not the browser's date picker: that one shows the browser's own
# order (mm/dd/yyyy on many phones), and staff write dates as dd/mm/yyyy.
DAY_INPUT = forms.DateInput(
    attrs={"placeholder": "dd/mm/yyyy", "size": 10}, format="%d/%m/%Y"
)
DATETIME_INPUTS = ["%d/%m/%Y %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"]


class PhoneField(forms.CharField):
    def clean(self, value):
        value = super().clean(value)
        if not value:
            return value
        number = msisdn_normalize(value)
        if number is None:
            raise forms.ValidationError(
                _("Enter a MobiFone mobile number, like 0901234567.")
            )
        return number


class WebRequestForm(forms.Form):
    phone = PhoneField(
        label=_("Mobile number"),
        max_length=20,
        widget=forms.TextInput(attrs={"inputmode": "tel", "autocomplete": "tel"}),
    )
    full_name = forms.CharField(
        label=_("Full name"),
        max_length=200,
        widget=forms.TextInput(attrs={"autocomplete": "name"}),
    )
    address = forms.CharField(
        label=_("Address for the visit"),
        max_length=300,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("House number, street, ward, district, province."),
    )
    preferred_time = forms.ChoiceField(
        label=_("Preferred time"), choices=PREFERRED_TIMES, required=False
    )

    def clean_full_name(self):
        name = self.cleaned_data["full_name"].strip()
        if len(name) < 2:
            raise forms.ValidationError(_("Enter your full name."))
        return name

    def clean_address(self):
        address = " ".join(self.cleaned_data["address"].split())
        if len(address) < 10:
            raise forms.ValidationError(
                _("Enter the full address: house number, street, ward and district.")
            )
        return address

    def preferred_time_text(self) -> str:
        value = self.cleaned_data.get("preferred_time") or ""
        return str(dict(PREFERRED_TIMES)[value]) if value else ""


class ConfirmForm(forms.Form):
    outcome = forms.ChoiceField(
        label=_("Outcome of the call"),
        choices=[
            (CallOutcome.CONFIRMED, _("Address confirmed")),
            (CallOutcome.CORRECTED, _("Wrong address: corrected")),
            (CallOutcome.CANCELLED, _("Customer cancelled")),
        ],
        widget=forms.RadioSelect,
    )
    address = forms.CharField(
        label=_("Corrected address"), max_length=300, required=False
    )
    district = forms.CharField(label=_("District"), max_length=100, required=False)
    appointment_at = forms.DateTimeField(
        label=_("Appointment agreed"),
        required=False,
        input_formats=DATETIME_INPUTS,
        widget=forms.DateTimeInput(
            attrs={"placeholder": "dd/mm/yyyy hh:mm"}, format="%d/%m/%Y %H:%M"
        ),
        help_text=_("Like 25/11/2026 14:30. Leave empty for the 10-day deadline."),
    )
    cancel_reason = forms.CharField(
        label=_("Why cancelled"), max_length=300, required=False
    )
    note = forms.CharField(label=_("Note"), max_length=500, required=False)

    def clean(self):
        data = super().clean()
        outcome = data.get("outcome")
        if outcome == CallOutcome.CORRECTED and not (data.get("address") or "").strip():
            self.add_error("address", _("Enter the corrected address."))
        if (
            outcome == CallOutcome.CANCELLED
            and not (data.get("cancel_reason") or "").strip()
        ):
            self.add_error("cancel_reason", _("Say why the customer cancelled."))
        moment = data.get("appointment_at")
        if moment and moment < timezone.now():
            self.add_error(
                "appointment_at", _("The appointment cannot be in the past.")
            )
        return data


class DayForm(forms.Form):
    day = forms.DateField(
        label=_("Day"),
        required=False,
        input_formats=DATE_INPUTS,
        widget=DAY_INPUT,
    )

    def day_or_today(self) -> date:
        if self.is_valid() and self.cleaned_data.get("day"):
            return self.cleaned_data["day"]
        return timezone.localdate()


class PeriodForm(forms.Form):
    start = forms.DateField(
        label=_("From"),
        required=False,
        input_formats=DATE_INPUTS,
        widget=DAY_INPUT,
    )
    end = forms.DateField(
        label=_("To"),
        required=False,
        input_formats=DATE_INPUTS,
        widget=DAY_INPUT,
    )

    def period(self) -> tuple[date, date]:
        today = timezone.localdate()
        start = end = None
        if self.is_valid():
            start = self.cleaned_data.get("start")
            end = self.cleaned_data.get("end")
        end = end or today
        start = start or end.replace(day=1)
        return start, end

    def clean(self):
        data = super().clean()
        if data.get("start") and data.get("end") and data["start"] > data["end"]:
            raise forms.ValidationError(_("The period ends before it starts."))
        return data


class AllocateForm(forms.Form):
    field_staff = forms.ModelMultipleChoiceField(
        label=_("Field staff"),
        queryset=None,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Several: the requests are shared evenly, by district."),
        error_messages={"required": _("Choose at least one field worker.")},
    )
    requests = forms.ModelMultipleChoiceField(
        label=_("Requests"),
        queryset=None,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": _("Tick at least one confirmed request.")},
    )

    def __init__(self, *args, staff_queryset, request_queryset, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["field_staff"].queryset = staff_queryset
        self.fields["field_staff"].label_from_instance = lambda user: (
            f"{user.get_full_name() or user.username} – "
            f"{user.service_scope.contractor or '-'}"
        )
        self.fields["requests"].queryset = request_queryset


class VisitForm(forms.Form):
    contacts_backed_up = forms.BooleanField(
        label=_("Contacts backed up"), required=False
    )
    sim_swapped = forms.BooleanField(label=_("SIM swapped to 4G"), required=False)
    new_sim_serial = forms.CharField(
        label=_("New SIM serial (ICCID)"),
        max_length=30,
        required=False,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "off"}),
    )
    app_installed = forms.BooleanField(
        label=_("My MobiFone installed and logged in"), required=False
    )
    record_corrected = forms.BooleanField(
        label=_("Subscriber record corrected"), required=False
    )
    package_advised = forms.BooleanField(
        label=_("Data package advised"), required=False
    )
    package_code = forms.CharField(label=_("Package"), max_length=40, required=False)
    note = forms.CharField(
        label=_("Note"),
        max_length=500,
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )

    def clean(self):
        data = super().clean()
        if data.get("sim_swapped") and not (data.get("new_sim_serial") or "").strip():
            self.add_error(
                "new_sim_serial", _("Enter the serial printed on the new SIM.")
            )
        return data


class IvrUploadForm(forms.Form):
    campaign = forms.ModelChoiceField(label=_("Campaign"), queryset=None)
    file = forms.FileField(
        label=_("IVR result file (CSV or XLSX)"),
        help_text=_("Columns: msisdn, key (1, 2 or 3), called_at (optional)."),
    )

    def __init__(self, *args, campaigns, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["campaign"].queryset = campaigns
