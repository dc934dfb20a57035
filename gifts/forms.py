"""Forms of the customer site: login, and the details a gift needs."""

from __future__ import annotations

import phonenumbers
from django import forms
from django.utils.translation import gettext_lazy as _

from gifts.models import Gift


def msisdn_normalise(text: str) -> str | None:
    """84 + 9 digits from a Vietnamese mobile number as people write it, else None.

    0901234567, 090 123 4567, 090.123.4567, +84 90 123 4567, 84901234567 and
    901234567 (the leading zero lost) all give 84901234567.
    """
    digits = "".join(ch for ch in text if ch.isdigit() or ch == "+")
    if len(digits.lstrip("+")) < 9 or len(digits) > 16:
        return None
    try:
        number = phonenumbers.parse(digits, "VN")
    except phonenumbers.NumberParseException:
        return None
    if number.country_code != 84 or len(str(number.national_number)) != 9:
        return None
    return f"84{number.national_number}"


class LoginForm(forms.Form):
    phone = forms.CharField(
        label=_("Phone number"),
        max_length=30,
        widget=forms.TextInput(
            attrs={
                "type": "tel",
                "inputmode": "tel",
                "autocomplete": "tel",
                "placeholder": "0901 234 567",
            }
        ),
    )
    password = forms.CharField(
        label=_("Password from the SMS"),
        max_length=32,
        strip=True,
        widget=forms.TextInput(
            attrs={
                "autocomplete": "one-time-code",
                "autocapitalize": "characters",
                "autocorrect": "off",
                "spellcheck": "false",
            }
        ),
    )

    def clean_phone(self):
        msisdn = msisdn_normalise(self.cleaned_data["phone"])
        if msisdn is None:
            raise forms.ValidationError(
                _("Write your MobiFone number, for example 0901 234 567.")
            )
        return msisdn


class ChoiceForm(forms.Form):
    """The details the chosen gift needs; what they must be is checked by the service."""

    revision = forms.IntegerField(widget=forms.HiddenInput, min_value=0)

    def __init__(self, *args, gift: Gift, stores, full_name: str = "", **kwargs):
        super().__init__(*args, **kwargs)
        self.gift = gift
        if gift.needs_address:
            self.fields["recipient_name"] = forms.CharField(
                label=_("Recipient's name"), max_length=200, initial=full_name
            )
            self.fields["address"] = forms.CharField(
                label=_("Delivery address"),
                max_length=300,
                help_text=_("House number, street, ward, district, city."),
                widget=forms.Textarea(
                    attrs={"rows": 3, "autocomplete": "street-address"}
                ),
            )
        if gift.needs_store:
            self.fields["store"] = forms.TypedChoiceField(
                label=_("Store where you will collect the gift"),
                coerce=int,
                choices=[
                    (
                        store.pk,
                        f"{store.name} – {store.address}"
                        + (f" ({store.opening_hours})" if store.opening_hours else ""),
                    )
                    for store in stores
                ],
                widget=forms.RadioSelect,
            )
        for key, label in gift.detail_fields():
            self.fields[f"extra_{key}"] = forms.CharField(label=label, max_length=200)

    def extra(self) -> dict[str, str]:
        return {
            name.removeprefix("extra_"): value
            for name, value in self.cleaned_data.items()
            if name.startswith("extra_")
        }
