import time
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from eligibility import synthetic


class Command(BaseCommand):
    help = _(
        "Write a realistic synthetic snapshot (subscribers and billing files) for "
        "demos, import tests and benchmarks. Touches no database."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--out", required=True, type=Path, help=_("directory for the two files")
        )
        parser.add_argument(
            "--size", required=True, type=int, help=_("number of subscriber rows")
        )
        parser.add_argument(
            "--cycles", type=int, default=6, help=_("billing cycles (months)")
        )
        parser.add_argument(
            "--last-cycle", default="2022-10", help=_("last billing cycle, YYYY-MM")
        )
        parser.add_argument(
            "--format", choices=["csv", "xlsx"], default="csv", help=_("file format")
        )
        parser.add_argument(
            "--messy-rate",
            type=float,
            default=0.0,
            help=_("share of rows given a row-level problem, 0 to 1"),
        )
        parser.add_argument(
            "--seed", type=int, default=1, help=_("same seed, same files")
        )

    def handle(self, *args, **options):
        if options["size"] < 1:
            raise CommandError(_("--size must be at least 1."))
        if not 1 <= options["cycles"] <= synthetic.MAX_CYCLES:
            raise CommandError(
                _("--cycles must be between 1 and %(max)s.")
                % {"max": synthetic.MAX_CYCLES}
            )
        try:
            synthetic.cycle_labels(last_cycle=options["last_cycle"], cycles=1)
        except ValueError as exc:
            raise CommandError(
                _("--last-cycle must be a month YYYY-MM between %(min)s and %(max)s.")
                % {"min": f"{synthetic.MIN_YEAR}-01", "max": f"{synthetic.MAX_YEAR}-12"}
            ) from exc
        if not 0.0 <= options["messy_rate"] <= 1.0:
            raise CommandError(_("--messy-rate must be between 0 and 1."))

        started = time.monotonic()

        def progress(done: int, total: int) -> None:
            self.stdout.write(
                _("%(done)s of %(total)s subscribers (%(seconds).0f s)")
                % {"done": done, "total": total, "seconds": time.monotonic() - started}
            )

        try:
            result = synthetic.generate_snapshot(
                out_dir=options["out"],
                size=options["size"],
                cycles=options["cycles"],
                last_cycle=options["last_cycle"],
                file_format=options["format"],
                messy_rate=options["messy_rate"],
                seed=options["seed"],
                progress=progress,
            )
        except ValueError as exc:
            # The remaining argument checks (e.g. the XLSX row limit) live in
            # generate_snapshot, which knows why they exist.
            raise CommandError(str(exc)) from exc

        self.stdout.write(
            _("Subscribers: %(count)s rows in %(path)s")
            % {"count": result.subscriber_count, "path": result.subscribers_path}
        )
        self.stdout.write(
            _("Billing: %(count)s rows in %(path)s, cycles %(first)s to %(last)s")
            % {
                "count": result.billing_count,
                "path": result.billing_path,
                "first": result.cycles[0],
                "last": result.cycles[-1],
            }
        )
        if result.messy:
            details = ", ".join(f"{kind} {n}" for kind, n in result.messy.items())
            self.stdout.write(_("Messy rows: %(details)s") % {"details": details})
        self.stdout.write(
            _("Done in %(seconds).1f s.") % {"seconds": time.monotonic() - started}
        )
