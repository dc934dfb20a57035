from django import forms
from django.utils.translation import gettext_lazy as _

from eligibility import importers
from eligibility.models import ImportKind, Snapshot


class ImportUploadForm(forms.Form):
    kind = forms.ChoiceField(label=_("What the file holds"), choices=ImportKind.choices)
    snapshot = forms.ModelChoiceField(
        label=_("Snapshot"),
        queryset=Snapshot.objects.all(),
        required=False,
        help_text=_("For subscribers and billing files."),
    )
    list_name = forms.CharField(
        label=_("List name"),
        max_length=200,
        required=False,
        help_text=_("For named lists, e.g. “KHCC đã gọi ra đợt 1”."),
    )
    file = forms.FileField(label=_("File (CSV or XLSX)"))

    def clean(self):
        data = super().clean()
        kind = data.get("kind")
        if kind == ImportKind.NAMED_LIST and not (data.get("list_name") or "").strip():
            self.add_error("list_name", _("Give the list a name."))
        if kind in {ImportKind.SUBSCRIBERS, ImportKind.BILLING} and not data.get(
            "snapshot"
        ):
            self.add_error("snapshot", _("Choose the snapshot the file belongs to."))
        return data


class ColumnMappingForm(forms.Form):
    """One select per column of ours, offering the file's headers."""

    remember = forms.BooleanField(
        label=_("Remember these headers for the next file"),
        required=False,
        initial=True,
    )

    def __init__(self, *args, job, **kwargs):
        super().__init__(*args, **kwargs)
        self.job = job
        options = [("", _("— not in the file —"))] + [
            (str(index), header) for index, header in enumerate(job.headers)
        ]
        for column in importers.columns_for(job.kind):
            initial = job.column_map.get(column.name)
            self.fields[f"col_{column.name}"] = forms.ChoiceField(
                label=column.name,
                choices=options,
                required=column.required,
                initial="" if initial is None else str(initial),
                error_messages={"required": _("This column is required.")},
            )

    def column_map(self) -> dict[str, int]:
        return {
            name.removeprefix("col_"): int(value)
            for name, value in self.cleaned_data.items()
            if name.startswith("col_") and value != ""
        }
