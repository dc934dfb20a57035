from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from eligibility import services
from eligibility.management.commands.import_snapshot import TerminalProgress
from eligibility.models import DomainError, ImportKind
from eligibility.spreadsheets import UnreadableFile


class Command(BaseCommand):
    help = _(
        "Check a named list of MSISDNs and, with --commit, replace the list with it."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", type=Path)
        parser.add_argument("--name", required=True, help=_("the list's name"))
        parser.add_argument("--commit", action="store_true")

    def handle(self, *args, **options):
        path = options["file"]
        if not path.is_file():
            raise CommandError(_("No such file: %(path)s") % {"path": path})
        progress = TerminalProgress(self.stdout)
        try:
            job = services.import_file(
                kind=ImportKind.NAMED_LIST,
                path=path,
                list_name=options["name"],
                commit=options["commit"],
                progress=progress,
            )
        except (DomainError, UnreadableFile) as exc:
            raise CommandError(str(exc)) from exc
        progress.finish()
        self.stdout.write(
            _(
                "rows %(total)s, good %(valid)s, rejected %(rejected)s, imported %(imported)s"
            )
            % {
                "total": job.total_rows,
                "valid": job.valid_rows,
                "rejected": job.rejected_rows,
                "imported": job.imported_rows,
            }
        )
