from django import forms
from django.utils.translation import gettext_lazy as _

from visits.models import SurveyQuestion, Visit

DATE_INPUT = forms.DateInput(attrs={"placeholder": "dd/mm/yyyy"}, format="%d/%m/%Y")
DATE_FORMATS = ["%d/%m/%Y", "%Y-%m-%d"]


class SearchForm(forms.Form):
    q = forms.CharField(
        label=_("Phone number or pickup code"),
        max_length=40,
        required=False,
        widget=forms.TextInput(
            attrs={"autofocus": True, "inputmode": "text", "autocomplete": "off"}
        ),
    )


class SurveyFieldsMixin:
    """Adds one field per survey question, named q_<id>; `answers()` reads them."""

    def add_survey(self, survey):
        self.survey = survey
        self.question_fields = []
        if survey is None:
            return
        for question in survey.questions.all():
            name = f"q_{question.pk}"
            choices = [(choice, choice) for choice in question.choice_list()]
            if question.kind == SurveyQuestion.Kind.TEXT:
                field = forms.CharField(widget=forms.Textarea(attrs={"rows": 2}))
            elif question.kind == SurveyQuestion.Kind.MANY:
                field = forms.MultipleChoiceField(
                    choices=choices, widget=forms.CheckboxSelectMultiple
                )
            else:
                field = forms.ChoiceField(choices=choices, widget=forms.RadioSelect)
            field.label = question.text
            # The service checks required answers, so its message names the question.
            field.required = False
            self.fields[name] = field
            self.question_fields.append(name)

    def answers(self) -> dict:
        return {
            int(name[2:]): self.cleaned_data.get(name) for name in self.question_fields
        }

    def survey_fields(self):
        return [self[name] for name in self.question_fields]


class RecordFieldsMixin(forms.Form):
    record_checked = forms.BooleanField(
        label=_("Subscriber record checked"), required=False
    )
    record_corrected = forms.BooleanField(
        label=_("Subscriber record corrected (forms collected)"), required=False
    )
    record_note = forms.CharField(
        label=_("What was corrected"), max_length=300, required=False
    )
    packages_advised = forms.CharField(
        label=_("Packages advised"),
        max_length=300,
        required=False,
        help_text=_("Package codes, separated by commas."),
    )
    note = forms.CharField(
        label=_("Questions answered, note"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 2}),
    )


class GiftFieldMixin:
    def add_gift(self, gifts, *, required: bool):
        """A gift to pick when the member's tier offers several and none was chosen."""
        self.gifts = {str(gift.pk): gift for gift in gifts}
        if len(gifts) > 1:
            self.fields["gift"] = forms.ChoiceField(
                label=_("Gift handed over"),
                choices=[(str(gift.pk), gift.name) for gift in gifts],
                widget=forms.RadioSelect,
                required=required,
            )

    def chosen_gift(self):
        if len(self.gifts) == 1:
            return next(iter(self.gifts.values()))
        return self.gifts.get(self.cleaned_data.get("gift") or "")


class HandoverForm(SurveyFieldsMixin, GiftFieldMixin, RecordFieldsMixin):
    def __init__(self, *args, survey=None, gifts=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.add_gift(list(gifts), required=True)
        self.add_survey(survey)


class HomeVisitForm(SurveyFieldsMixin, GiftFieldMixin, RecordFieldsMixin):
    outcome = forms.ChoiceField(
        label=_("Visit result"), choices=Visit.Outcome.choices, widget=forms.RadioSelect
    )
    gift_handed_over = forms.BooleanField(label=_("Gift handed over"), required=False)

    field_order = ["outcome", "gift_handed_over"]

    def __init__(self, *args, survey=None, gifts=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.add_gift(list(gifts), required=False)
        self.add_survey(survey)

    def clean(self):
        data = super().clean()
        if (
            data.get("gift_handed_over")
            and "gift" in self.fields
            and not data.get("gift")
        ):
            self.add_error("gift", _("Pick the gift that was handed over."))
        return data


class CallForm(forms.Form):
    result = forms.ChoiceField(
        label=_("Call result"),
        choices=[
            ("agreed", _("agrees to join")),
            ("declined", _("declines")),
            ("no_answer", _("no answer, call again")),
        ],
        widget=forms.RadioSelect,
    )
    reason = forms.CharField(label=_("Reason, note"), max_length=300, required=False)


class LetterForm(forms.Form):
    sent_on = forms.DateField(
        label=_("Letter sent on"), input_formats=DATE_FORMATS, widget=DATE_INPUT
    )


class ConfirmForm(forms.Form):
    received_on = forms.DateField(
        label=_("Written confirmation received on"),
        input_formats=DATE_FORMATS,
        widget=DATE_INPUT,
    )
    passport_number = forms.CharField(label=_("Passport number"), max_length=20)
    passport_expires_on = forms.DateField(
        label=_("Passport expires on"), input_formats=DATE_FORMATS, widget=DATE_INPUT
    )


class DeclineForm(forms.Form):
    reason = forms.CharField(label=_("Reason"), max_length=300)
