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
    new_snapshot_name = forms.CharField(
        label=_("…or a new snapshot named"), max_length=120, required=False
    )
    new_snapshot_taken_on = forms.DateField(
        label=_("with data as of"),
        required=False,
        help_text=_("dd/mm/yyyy, the date the operator extracted the data."),
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
        if kind in {ImportKind.SUBSCRIBERS, ImportKind.BILLING}:
            new_name = (data.get("new_snapshot_name") or "").strip()
            if data.get("snapshot") and new_name:
                self.add_error(
                    "new_snapshot_name",
                    _("Choose an existing snapshot or name a new one, not both."),
                )
            elif new_name and not data.get("new_snapshot_taken_on"):
                self.add_error(
                    "new_snapshot_taken_on",
                    _("Give the date of the new snapshot's data."),
                )
            elif not data.get("snapshot") and not new_name:
                self.add_error(
                    "snapshot", _("Choose the snapshot the file belongs to.")
                )
            elif new_name and Snapshot.objects.filter(name=new_name).exists():
                self.add_error(
                    "new_snapshot_name",
                    _("A snapshot named “%(name)s” already exists.")
                    % {"name": new_name},
                )
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
