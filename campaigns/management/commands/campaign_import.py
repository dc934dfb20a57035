from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from campaigns import definitions, services
from campaigns.models import Campaign
from eligibility.models import DomainError


class Command(BaseCommand):
    help = _(
        "Check a campaign definition file and say what importing it would do; "
        "with --commit, create or replace the campaign."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", help=_("the YAML definition file"))
        parser.add_argument(
            "--commit", action="store_true", help=_("really create or replace it")
        )

    def handle(self, *args, **options):
        path = Path(options["file"])
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(
                _("Cannot read %(path)s: %(error)s") % {"path": path, "error": exc}
            ) from exc
        try:
            definition = definitions.definition_parse(text)
            plan = self._plan(definition)
            if not options["commit"]:
                self.stdout.write(plan)
                self.stdout.write(_("Nothing written; add --commit to import."))
                return
            campaign, created = services.campaign_import(
                definition=definition, source=path.name
            )
        except definitions.DefinitionError as exc:
            raise CommandError(
                _("%(path)s has problems; nothing was imported:\n%(problems)s")
                % {"path": path, "problems": str(exc)}
            ) from exc
        except DomainError as exc:
            raise CommandError(str(exc)) from exc
        message = _("Created %(code)s.") if created else _("Updated %(code)s.")
        self.stdout.write(message % {"code": campaign.code})

    def _plan(self, definition: dict) -> str:
        counts = {
            "code": definition["code"],
            "phases": len(definition["phases"]),
            "batches": len(definition["batches"]),
        }
        campaign = Campaign.objects.filter(code=definition["code"]).first()
        if campaign is None:
            return (
                _(
                    "Would create campaign %(code)s with %(phases)s phases and "
                    "%(batches)s batches."
                )
                % counts
            )
        campaign.check_replaceable()
        changed = definitions.definition_changes(
            campaign=campaign, definition=definition
        )
        if not changed:
            return _("Campaign %(code)s already matches the file.") % counts
        return _("Would update campaign %(code)s: %(changed)s.") % {
            **counts,
            "changed": ", ".join(changed),
        }
