from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from campaigns import selectors, services
from campaigns.models import SelectionRun
from eligibility.models import DomainError, Snapshot


class Command(BaseCommand):
    help = _(
        "Run a campaign's selection on its snapshot and print the funnel; write the "
        "list with --out; keep it with --commit (and --approve)."
    )

    def add_arguments(self, parser):
        parser.add_argument("code", help=_("the campaign's code"))
        parser.add_argument(
            "--snapshot", help=_("use this snapshot (a draft campaign only)")
        )
        parser.add_argument(
            "--out", help=_("write the selected list to this .xlsx or .csv file")
        )
        parser.add_argument(
            "--commit",
            action="store_true",
            help=_("keep the run as the candidate list"),
        )
        parser.add_argument(
            "--approve",
            action="store_true",
            help=_("approve it too (implies --commit)"),
        )

    def handle(self, *args, **options):
        out = Path(options["out"]) if options["out"] else None
        if out and out.suffix.lower() not in {".xlsx", ".csv"}:
            raise CommandError(_("--out must end in .xlsx or .csv."))
        try:
            campaign = selectors.campaign_get_by_code(code=options["code"])
            if options["snapshot"]:
                snapshot = Snapshot.objects.filter(name=options["snapshot"]).first()
                if snapshot is None:
                    raise DomainError(
                        _("No snapshot is named %(name)s.")
                        % {"name": options["snapshot"]}
                    )
                services.campaign_update(campaign=campaign, data={"snapshot": snapshot})
            run = services.selection_run_start(campaign=campaign, enqueue=False)
            self.stdout.write(
                _("Run %(number)s of %(code)s on %(snapshot)s…")
                % {
                    "number": run.number,
                    "code": campaign.code,
                    "snapshot": run.snapshot,
                }
            )
            for line in run.summary:
                self.stdout.write(f"  {line}")
            run = services.selection_run_execute(run_id=run.pk)
            if run.status != SelectionRun.Status.PREVIEW:
                raise DomainError(run.error or run.get_status_display())
            self._report(run)
            if out:
                with out.open("wb") as stream:
                    count = selectors.selection_export_write(
                        run=run, file_format=out.suffix.lower()[1:], stream=stream
                    )
                self.stdout.write(
                    _("Wrote %(count)s rows to %(path)s.")
                    % {"count": count, "path": out}
                )
            if options["commit"] or options["approve"]:
                run = services.selection_run_commit(run=run)
                self.stdout.write(
                    _("Committed run %(number)s.") % {"number": run.number}
                )
            else:
                self.stdout.write(
                    _("The run waits as a preview; add --commit to keep it.")
                )
            if options["approve"]:
                services.selection_run_approve(run=run)
                self.stdout.write(
                    _("Approved run %(number)s.") % {"number": run.number}
                )
        except DomainError as exc:
            raise CommandError(str(exc)) from exc

    def _report(self, run):
        self.stdout.write(
            _(
                "%(population)s subscribers, %(eligible)s eligible, %(selected)s selected."
            )
            % {
                "population": run.population,
                "eligible": run.eligible_count,
                "selected": run.selected_count,
            }
        )
        for step in run.funnel:
            self.stdout.write(
                f"  -{step['removed']:>9} → {step['remaining']:>9}  {step['step']}"
            )
        for warning in run.warnings:
            self.stdout.write(self.style.WARNING(warning))
