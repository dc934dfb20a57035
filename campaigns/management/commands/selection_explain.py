from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from campaigns import selectors
from campaigns.models import SelectionRun


class Command(BaseCommand):
    help = _("Say why a number is or is not on a campaign's latest (or given) run.")

    def add_arguments(self, parser):
        parser.add_argument("code", help=_("the campaign's code"))
        parser.add_argument("msisdn", help=_("the number, written any common way"))
        parser.add_argument(
            "--run", type=int, help=_("the run number (default: latest)")
        )

    def handle(self, *args, **options):
        runs = SelectionRun.objects.filter(campaign__code=options["code"]).exclude(
            status__in=[SelectionRun.Status.QUEUED, SelectionRun.Status.RUNNING]
        )
        if options["run"]:
            runs = runs.filter(number=options["run"])
        run = runs.order_by("-number").first()
        if run is None:
            raise CommandError(
                _("Campaign %(code)s has no finished selection run.")
                % {"code": options["code"]}
            )
        answer = selectors.selection_explain(run=run, msisdn_text=options["msisdn"])
        self.stdout.write(answer["message"])
        for step in answer["steps"]:
            mark = "✓" if step["passed"] else "✗"
            self.stdout.write(f"  {mark} {step['step']}")
