"""Reads for the import pages and their downloads."""

import csv
from collections.abc import Iterator

from django.utils.translation import gettext as _

from eligibility.importers import describe_problems
from eligibility.models import ImportJob, ImportRejection

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def spreadsheet_safe(value) -> str:
    """A cell Excel will show as text: a leading = + - @ would make it a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


class _Echo:
    def write(self, value):
        return value


def rejected_rows_csv(job: ImportJob) -> Iterator[str]:
    """The rejected rows as CSV, streamed: row number, reasons, then the file's cells."""
    writer = csv.writer(_Echo())
    yield "\ufeff"  # Excel reads Vietnamese correctly only from UTF-8 with a BOM.
    yield writer.writerow([_("row"), _("problems")] + list(job.headers))
    rows = (
        ImportRejection.objects.filter(job=job)
        .order_by("row_no")
        .values_list("row_no", "problems", "cells")
        .iterator(chunk_size=2000)
    )
    for row_no, problems, cells in rows:
        yield writer.writerow(
            [row_no + 1, describe_problems(problems)]
            + [spreadsheet_safe(cell) for cell in cells]
        )


def rejected_rows_sample(job: ImportJob, limit: int = 50) -> list[dict]:
    rows = ImportRejection.objects.filter(job=job).order_by("row_no")[:limit]
    return [
        {
            "sheet_row": r.sheet_row,
            "problems": describe_problems(r.problems),
            "cells": r.cells,
        }
        for r in rows
    ]


def import_job_status(job: ImportJob) -> dict:
    return {
        "status": job.status,
        "status_label": job.get_status_display(),
        "running": job.is_running,
        "percent": job.progress_percent,
        "done": job.progress_done,
        "total": job.progress_total,
        "step": job.progress_step,
        "error": job.error,
    }


def msisdn_normalise(text: str) -> str | None:
    """A number as people write it (0901234567, +84 90 123 4567) -> 84 + 9 digits."""
    import phonenumbers

    digits = "".join(ch for ch in text if ch.isdigit() or ch == "+")
    if len(digits.lstrip("+")) < 9:
        return None
    try:
        number = phonenumbers.parse(digits, "VN")
    except phonenumbers.NumberParseException:
        return None
    if number.country_code != 84 or len(str(number.national_number)) != 9:
        return None
    return f"84{number.national_number}"
