from django import forms
from django.conf import settings
from django.template.defaultfilters import filesizeformat
from django.utils.translation import gettext_lazy as _

# A result file lists one line per order; tens of megabytes is already far more.
MAX_RESULT_FILE_BYTES = getattr(settings, "FULFILMENT_MAX_UPLOAD_BYTES", 20 * 1024**2)


class ResultUploadForm(forms.Form):
    file = forms.FileField(
        label=_("Result file (XLSX or CSV)"),
        help_text=_(
            "Columns: order code or number, result (“Đã giao” / “Thất bại”), "
            "date (dd/mm/yyyy), reason. The order download has them all."
        ),
    )

    def clean_file(self):
        upload = self.cleaned_data["file"]
        if upload.size > MAX_RESULT_FILE_BYTES:
            raise forms.ValidationError(
                _("The file is %(size)s; the limit is %(limit)s.")
                % {
                    "size": filesizeformat(upload.size),
                    "limit": filesizeformat(MAX_RESULT_FILE_BYTES),
                }
            )
        return upload
