import sys
from datetime import date
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from eligibility import services
from eligibility.models import DomainError, ImportKind, Snapshot
from eligibility.spreadsheets import UnreadableFile


class TerminalProgress:
    """One line on the terminal, rewritten as the import advances."""

    def __init__(self, stream):
        self.stream = stream
        self.interactive = sys.stdout.isatty()
        self.last_step = None

    def __call__(self, done: int, total: int, step: str) -> None:
        if total:
            text = f"{step}: {100 * done // total}%"
        else:
            text = f"{step}: {done:,}".replace(",", ".")
        if self.interactive:
            self.stream.write(f"\r{text:<60}", ending="")
            self.stream.flush()
        elif step != self.last_step:
            self.stream.write(text)
        self.last_step = step

    def finish(self):
        if self.interactive:
            self.stream.write("")


class Command(BaseCommand):
    help = _(
        "Check a snapshot's subscribers and/or billing file and, with --commit, import "
        "its good rows. Creates the snapshot if --taken-on is given."
    )

    def add_arguments(self, parser):
        parser.add_argument("--snapshot", required=True, help=_("snapshot name"))
        parser.add_argument("--taken-on", help=_("data date YYYY-MM-DD, to create it"))
        parser.add_argument("--subscribers", type=Path, help=_("subscribers file"))
        parser.add_argument("--billing", type=Path, help=_("billing file"))
        parser.add_argument(
            "--commit",
            action="store_true",
            help=_("import the good rows; without it the files are only checked"),
        )

    def handle(self, *args, **options):
        if not options["subscribers"] and not options["billing"]:
            raise CommandError(_("Give --subscribers and/or --billing."))
        snapshot = self._snapshot(options["snapshot"], options["taken_on"])
        files = [
            (ImportKind.SUBSCRIBERS, options["subscribers"]),
            (ImportKind.BILLING, options["billing"]),
        ]
        for kind, path in files:
            if path is None:
                continue
            if not path.is_file():
                raise CommandError(_("No such file: %(path)s") % {"path": path})
            self.stdout.write(_("%(kind)s: %(path)s") % {"kind": kind, "path": path})
            progress = TerminalProgress(self.stdout)
            try:
                job = services.import_file(
                    kind=kind,
                    path=path,
                    snapshot=snapshot,
                    commit=options["commit"],
                    progress=progress,
                )
            except (DomainError, UnreadableFile) as exc:
                progress.finish()
                raise CommandError(str(exc)) from exc
            progress.finish()
            self.stdout.write(
                _(
                    "  rows %(total)s, good %(valid)s, rejected %(rejected)s, "
                    "imported %(imported)s%(unchanged)s (import #%(id)s)"
                )
                % {
                    "total": job.total_rows,
                    "valid": job.valid_rows,
                    "rejected": job.rejected_rows,
                    "imported": job.imported_rows,
                    "unchanged": _(", unchanged") if job.unchanged else "",
                    "id": job.pk,
                }
            )
        if not options["commit"]:
            self.stdout.write(_("Checked only; run again with --commit to import."))

    def _snapshot(self, name: str, taken_on: str | None) -> Snapshot:
        snapshot = Snapshot.objects.filter(name=name).first()
        if snapshot:
            return snapshot
        if not taken_on:
            raise CommandError(
                _("No snapshot named “%(name)s”; give --taken-on to create it.")
                % {"name": name}
            )
        try:
            day = date.fromisoformat(taken_on)
        except ValueError as exc:
            raise CommandError(_("--taken-on must be YYYY-MM-DD.")) from exc
        return services.snapshot_create(name=name, taken_on=day)
