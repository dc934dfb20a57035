"""Admin forms for a campaign's selection definition: rules, ranking, quotas, tiers.

Every choice the engine knows (measures, operators, revenue columns, attributes) is a
ChoiceField built from the catalogue in `eligibility.rules`, so a value the engine does
not know is refused by the form. Values are checked as far as one row can tell (a number
where a number is compared, both ends of a window); what only the whole rule set can
tell (contradictions, cycles missing from the snapshot) is shown above the rules on the
campaign page and stops a run before it starts.
"""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError
from django.forms.models import BaseInlineFormSet
from django.utils.text import capfirst, format_lazy
from django.utils.translation import gettext_lazy as _

from campaigns.models import (
    Campaign,
    QuotaCell,
    RankingKey,
    SelectionRule,
    SubList,
    Tier,
)
from eligibility.rules import (
    ATTRIBUTES,
    BOOL,
    DATE,
    MEASURES,
    NUMBER,
    OPERATORS,
    OPS_BY_KIND,
    ORDERED_OPS,
    REVENUE_COLUMNS,
    TEXT,
    parse_bool,
    parse_cycle,
    parse_date,
    parse_number,
    value_from_text,
)

MEASURE_GROUPS = [
    ("attribute", _("Subscriber attributes")),
    ("derived", _("Derived measures")),
    ("exclusion", _("Exclusions")),
]

# Which form fields hold each parameter a measure may take.
PARAM_FIELDS = {
    "attribute": ["attribute"],
    "column": ["revenue_column"],
    "window": ["window_from", "window_to"],
    "list": ["named_list"],
    "campaign_kind": ["campaign_kind", "campaigns_since"],
}
EMPTY_PARAMS = {
    "attribute": "",
    "revenue_column": "",
    "window_from": "",
    "window_to": "",
    "named_list": None,
    "campaign_kind": "",
    "campaigns_since": None,
}


def measure_label(key: str):
    measure = MEASURES[key]
    if measure.unit:
        return format_lazy("{} ({})", measure.label, measure.unit)
    return measure.label


def measure_choices(kinds: set[str] | None = None, *, blank: str = "---------"):
    """The catalogue as a grouped <select>: attributes, derived measures, exclusions."""

    def choices():
        grouped = [("", blank)]
        for group, title in MEASURE_GROUPS:
            options = [
                (key, measure_label(key))
                for key, measure in MEASURES.items()
                if measure.group == group and (kinds is None or measure.kind in kinds)
            ]
            if options:
                grouped.append((title, options))
        return grouped

    return choices


def allowed_operators(key: str) -> set[str]:
    """The operators a measure can be compared with; extra columns read as numbers
    under an ordered comparison, as the engine does."""
    if key == "extra":
        return OPS_BY_KIND[TEXT] | ORDERED_OPS
    return OPS_BY_KIND[MEASURES[key].kind]


class MeasureSelect(forms.Select):
    """Options carry the measure's kind, parameters and operators for rule_builder.js."""

    def create_option(self, name, value, label, selected, index, **kwargs):
        option = super().create_option(name, value, label, selected, index, **kwargs)
        measure = MEASURES.get(value)
        if measure is not None:
            option["attrs"]["data-kind"] = measure.kind
            option["attrs"]["data-params"] = " ".join(measure.params)
            option["attrs"]["data-ops"] = " ".join(
                op for op in OPERATORS if op in allowed_operators(value)
            )
        return option


def _small(size: int, **attrs) -> forms.TextInput:
    return forms.TextInput(attrs={"size": size, **attrs})


OPERATOR_CHOICES = [("", "---------"), *OPERATORS.items()]
REVENUE_CHOICES = [("", _("total (default)")), *REVENUE_COLUMNS.items()]
GUARD_CHOICES = [
    ("", "---------"),
    *(
        (key, measure.label)
        for key, measure in ATTRIBUTES.items()
        if measure.kind in {TEXT, NUMBER}
    ),
]


class MeasureForm(forms.ModelForm):
    """A measure and its parameters; parameters the measure does not take are cleared."""

    measure_kinds: set[str] | None = None
    measure_blank = "---------"

    revenue_column = forms.ChoiceField(
        label=capfirst(_("revenue")),
        choices=REVENUE_CHOICES,
        required=False,
        help_text=_("For revenue measures."),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["measure"] = forms.ChoiceField(
            label=capfirst(_("measure")),
            choices=measure_choices(self.measure_kinds, blank=self.measure_blank),
            required=self._meta.model._meta.get_field("measure").blank is False,
            widget=MeasureSelect(attrs={"class": "rule-measure"}),
        )
        for name, size in (("window_from", 6), ("window_to", 6), ("attribute", 12)):
            if name in self.fields:
                self.fields[name].widget = _small(size, placeholder=_placeholder(name))
        if "campaigns_since" in self.fields:
            self.fields["campaigns_since"].widget = forms.DateInput(
                attrs={"size": 10, "placeholder": "01/01/2015"}
            )

    def clean(self):
        data = super().clean()
        key = data.get("measure")
        if not key:
            for name, empty in EMPTY_PARAMS.items():
                if name in self.fields:
                    data[name] = empty
            return data
        params = MEASURES[key].params
        for param, names in PARAM_FIELDS.items():
            if param not in params:
                for name in names:
                    data[name] = EMPTY_PARAMS[name]
        if "attribute" in params and not data.get("attribute", "").strip():
            self.add_error("attribute", _("Name the extra column."))
        if "list" in params and not data.get("named_list"):
            self.add_error("named_list", _("Choose the named list."))
        if "window" in params:
            for name in ("window_from", "window_to"):
                self._check_cycle(name, data.get(name, ""))
        if "campaign_kind" in params and bool(data.get("campaign_kind")) != bool(
            data.get("campaigns_since")
        ):
            self.add_error(
                "campaigns_since",
                _(
                    "Give both a campaign kind and a start date, or neither "
                    "(campaigns running now)."
                ),
            )
        return data

    def _check_cycle(self, name: str, text: str) -> None:
        if not text.strip():
            self.add_error(name, _("Give the window's first and last cycle."))
            return
        try:
            parse_cycle(text, None)
        except LookupError:
            pass  # relative (n-3): resolved against the campaign's start date
        except ValueError:
            self.add_error(name, _("Write a cycle as n-3 or 2018-09."))


def _placeholder(name: str) -> str:
    return {"window_from": "n-5", "window_to": "n-3", "attribute": ""}.get(name, "")


class ConditionForm(MeasureForm):
    """A measure compared with a value: the operator must suit the measure."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["operator"] = forms.ChoiceField(
            label=capfirst(_("operator")),
            choices=OPERATOR_CHOICES,
            required=self.fields["measure"].required,
            widget=forms.Select(attrs={"class": "rule-operator"}),
        )
        self.fields["value"].widget = _small(18)

    def clean(self):
        data = super().clean()
        key, op = data.get("measure"), data.get("operator")
        if not key:
            if op or (data.get("value") or "").strip():
                self.add_error("measure", _("Choose what the condition looks at."))
            data["operator"], data["value"] = "", ""
            return data
        if not op:
            if "operator" not in self.errors:
                self.add_error("operator", _("Choose an operator."))
            return data
        if op not in allowed_operators(key):
            self.add_error(
                "operator",
                _("%(op)s cannot compare %(measure)s; use one of: %(ops)s")
                % {
                    "op": OPERATORS[op],
                    "measure": MEASURES[key].label,
                    "ops": ", ".join(
                        str(label)
                        for code, label in OPERATORS.items()
                        if code in allowed_operators(key)
                    ),
                },
            )
            return data
        self._check_value(key, op, data.get("value") or "")
        return data

    def _check_value(self, key: str, op: str, text: str) -> None:
        kind = MEASURES[key].kind
        if key == "extra":
            kind = NUMBER if op in ORDERED_OPS else TEXT
        if op in {"is_empty", "is_not_empty"}:
            return
        try:
            value = value_from_text(text, kind, op)
        except ValueError:
            self.add_error(
                "value",
                _("Write two values for 'between', e.g. 550000..700000.")
                if op == "between"
                else _("Write yes or no."),
            )
            return
        values = value if isinstance(value, list) else [value]
        if not values or any(v in (None, "") for v in values):
            self.add_error("value", _("Give a value."))
            return
        parse = {NUMBER: parse_number, DATE: parse_date, BOOL: parse_bool}.get(kind)
        if parse is None:
            return
        for item in values:
            try:
                parse(item)
            except (ValueError, TypeError):
                expected = {
                    NUMBER: _("a number"),
                    DATE: _("a date (dd/mm/yyyy)"),
                    BOOL: _("yes or no"),
                }[kind]
                self.add_error(
                    "value",
                    _("%(value)s is not %(expected)s.")
                    % {"value": item, "expected": expected},
                )
                return


class SelectionRuleForm(ConditionForm):
    only_when_attribute = forms.ChoiceField(
        label=capfirst(_("only when")),
        choices=GUARD_CHOICES,
        required=False,
        help_text=_("Apply the rule only to subscribers whose attribute is one of…"),
    )

    class Meta:
        model = SelectionRule
        fields = [
            "position",
            "measure",
            "revenue_column",
            "window_from",
            "window_to",
            "attribute",
            "named_list",
            "campaign_kind",
            "campaigns_since",
            "operator",
            "value",
            "only_when_attribute",
            "only_when_values",
            "note",
        ]
        widgets = {
            "position": forms.NumberInput(attrs={"style": "width:3.5em"}),
            "only_when_values": forms.TextInput(attrs={"size": 12}),
            "note": forms.TextInput(attrs={"size": 16}),
        }

    def clean(self):
        data = super().clean()
        if (
            data.get("only_when_attribute")
            and not (data.get("only_when_values") or "").strip()
        ):
            self.add_error(
                "only_when_values", _("List the values the rule applies to.")
            )
        if not data.get("only_when_attribute"):
            data["only_when_values"] = ""
        return data


class SubListForm(ConditionForm):
    measure_blank = _("— everyone left —")

    class Meta:
        model = SubList
        fields = [
            "position",
            "name",
            "measure",
            "revenue_column",
            "window_from",
            "window_to",
            "attribute",
            "named_list",
            "campaign_kind",
            "campaigns_since",
            "operator",
            "value",
        ]
        widgets = {
            "position": forms.NumberInput(attrs={"style": "width:3.5em"}),
            "name": forms.TextInput(attrs={"size": 14}),
        }


class RankingKeyForm(MeasureForm):
    # The engine ranks by numbers, dates and yes/no values, never by text.
    measure_kinds = {NUMBER, DATE, BOOL}

    class Meta:
        model = RankingKey
        fields = [
            "position",
            "measure",
            "revenue_column",
            "window_from",
            "window_to",
            "named_list",
            "campaign_kind",
            "campaigns_since",
            "descending",
        ]
        widgets = {"position": forms.NumberInput(attrs={"style": "width:3.5em"})}


class QuotaCellForm(forms.ModelForm):
    seats = forms.IntegerField(label=capfirst(_("seats")), min_value=0, localize=True)

    class Meta:
        model = QuotaCell
        fields = ["key", "seats"]
        widgets = {"key": forms.TextInput(attrs={"size": 24})}


class TierForm(forms.ModelForm):
    # Staff type 700.000 for seven hundred thousand in Vietnamese: read numbers with
    # the locale's separators, not as a decimal point.
    min_value = forms.DecimalField(
        label=capfirst(_("from (included)")),
        required=False,
        localize=True,
        max_digits=14,
    )
    max_value = forms.DecimalField(
        label=capfirst(_("below")), required=False, localize=True, max_digits=14
    )

    class Meta:
        model = Tier
        fields = [
            "position",
            "code",
            "name",
            "min_value",
            "max_value",
            "customer_group",
            "gift_tier",
            "channel",
            "list_name",
        ]
        widgets = {
            "position": forms.NumberInput(attrs={"style": "width:3.5em"}),
            "code": forms.TextInput(attrs={"size": 8}),
            "name": forms.TextInput(attrs={"size": 16}),
            "customer_group": forms.TextInput(attrs={"size": 12}),
            "gift_tier": forms.TextInput(attrs={"size": 8}),
            "list_name": forms.TextInput(attrs={"size": 12}),
        }

    def clean(self):
        data = super().clean()
        low, high = data.get("min_value"), data.get("max_value")
        if low is not None and high is not None and high <= low:
            self.add_error("max_value", _("'Below' must exceed 'from'."))
        return data


class SelectionFormSet(BaseInlineFormSet):
    """The inline formset of a selection part (rules, ranking, cells, tiers, lists).

    New rows without an order go after the existing ones, so a rule added to an
    imported programme runs last, where staff see it. A post that does not carry this
    part at all (a form from before the part existed, a script) leaves its rows as
    they are instead of failing the whole campaign form.
    """

    def __init__(self, data=None, files=None, instance=None, prefix=None, **kwargs):
        prefix = prefix or self.get_default_prefix()
        if data is not None and f"{prefix}-TOTAL_FORMS" not in data:
            data = data.copy()
            data[f"{prefix}-TOTAL_FORMS"] = "0"
            data[f"{prefix}-INITIAL_FORMS"] = "0"
        super().__init__(data, files, instance=instance, prefix=prefix, **kwargs)

    def save_new(self, form, commit=True):
        obj = super().save_new(form, commit=False)
        if hasattr(obj, "position") and not obj.position:
            taken = [
                row.position
                for row in self.model.objects.filter(campaign=self.instance)
                if row.pk != obj.pk
            ]
            obj.position = max(taken, default=0) + 1
        if commit:
            obj.save()
        return obj


def _attribute_names(text: str) -> list[str]:
    return [part.strip() for part in (text or "").split(",") if part.strip()]


class CampaignAdminForm(forms.ModelForm):
    """The campaign form; its selection fields are checked against the catalogue.

    Kind and batches left out of a post keep their stored values.
    """

    kind = forms.ChoiceField(
        label=capfirst(_("kind")),
        choices=Campaign._meta.get_field("kind").choices,
        required=False,
        help_text=_("Rules of other campaigns exclude members of a kind since a date."),
    )
    quota_total = forms.IntegerField(
        label=capfirst(_("total quota")),
        min_value=1,
        required=False,
        localize=True,
        help_text=_("At most this many members; empty means no limit."),
        widget=forms.TextInput(attrs={"size": 10}),
    )
    tier_measure = forms.ChoiceField(
        label=capfirst(_("tier measure")),
        choices=measure_choices({NUMBER}, blank=_("— no tiers —")),
        required=False,
        widget=MeasureSelect(attrs={"class": "rule-measure"}),
        help_text=_("The value the tier bands below are cut from."),
    )
    tier_revenue_column = forms.ChoiceField(
        label=capfirst(_("tier revenue")), choices=REVENUE_CHOICES, required=False
    )
    batch_count = forms.IntegerField(
        label=capfirst(_("batches per list")),
        min_value=1,
        max_value=50,
        required=False,
        help_text=_("Members of each list are split by rank into this many batches."),
        widget=forms.NumberInput(attrs={"style": "width:4em"}),
    )

    class Meta:
        model = Campaign
        fields = [
            "code",
            "name",
            "owning_unit",
            "description",
            "snapshot",
            "starts_on",
            "ends_on",
            "until_gifts_run_out",
            "region_scope",
            "kind",
            "quota_total",
            "quota_by",
            "quota_spill_within",
            "tier_measure",
            "tier_revenue_column",
            "tier_window_from",
            "tier_window_to",
            "batch_count",
        ]
        widgets = {
            "quota_by": forms.TextInput(attrs={"size": 30}),
            "quota_spill_within": forms.TextInput(attrs={"size": 30}),
            "tier_window_from": forms.TextInput(
                attrs={"size": 6, "placeholder": "n-5"}
            ),
            "tier_window_to": forms.TextInput(attrs={"size": 6, "placeholder": "n-3"}),
        }

    def clean_kind(self):
        return self.cleaned_data.get("kind") or self.instance.kind

    def clean_batch_count(self):
        value = self.cleaned_data.get("batch_count")
        return value if value is not None else self.instance.batch_count

    def clean_quota_by(self):
        names = _attribute_names(self.cleaned_data.get("quota_by", ""))
        unknown = [
            name
            for name in names
            if name not in ATTRIBUTES
            and not (name.startswith("extra.") and len(name) > 6)
        ]
        if unknown:
            raise ValidationError(
                _(
                    "Not an attribute of subscribers: %(names)s. Use attribute names "
                    "such as company, customer_type, or extra.<column>."
                ),
                params={"names": ", ".join(unknown)},
            )
        return ", ".join(names)

    def clean(self):
        data = super().clean()
        if "quota_spill_within" in data and "quota_by" in data:
            spill = _attribute_names(data["quota_spill_within"])
            outside = [n for n in spill if n not in _attribute_names(data["quota_by"])]
            if outside:
                self.add_error(
                    "quota_spill_within",
                    _("Spill-over within %(names)s: name attributes of 'quota by'.")
                    % {"names": ", ".join(outside)},
                )
            data["quota_spill_within"] = ", ".join(spill)
        key = data.get("tier_measure")
        if "tier_measure" in data:
            params = MEASURES[key].params if key else ()
            if "column" not in params:
                data["tier_revenue_column"] = ""
            if "window" not in params:
                data["tier_window_from"] = data["tier_window_to"] = ""
            else:
                for name in ("tier_window_from", "tier_window_to"):
                    text = data.get(name) or ""
                    try:
                        parse_cycle(text, None)
                    except LookupError:
                        pass
                    except ValueError:
                        self.add_error(name, _("Write a cycle as n-3 or 2018-09."))
        return data
