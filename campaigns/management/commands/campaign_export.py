from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from campaigns import definitions, selectors
from eligibility.models import DomainError


class Command(BaseCommand):
    help = _("Write a campaign's whole definition as a YAML file.")

    def add_arguments(self, parser):
        parser.add_argument("code", help=_("the campaign's code"))
        parser.add_argument(
            "--out", help=_("file to write (default: the standard output)")
        )

    def handle(self, *args, **options):
        try:
            campaign = selectors.campaign_get_by_code(code=options["code"])
        except DomainError as exc:
            raise CommandError(str(exc)) from exc
        text = definitions.definition_dump(
            definitions.definition_export(campaign=campaign)
        )
        if options["out"]:
            Path(options["out"]).write_text(text, encoding="utf-8")
            self.stdout.write(
                _("Wrote %(code)s to %(path)s.")
                % {"code": campaign.code, "path": options["out"]}
            )
        else:
            self.stdout.write(text, ending="")
