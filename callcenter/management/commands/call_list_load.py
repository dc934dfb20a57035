from django.core.management.base import BaseCommand, CommandError
from django.db import transaction

from callcenter import services
from campaigns.models import Campaign, SelectionRun
from eligibility.models import DomainError


class Command(BaseCommand):
    help = (
        "Put the selected members of a campaign's approved list in its call queue "
        "(the shared pool). Says how many it would add; --commit adds them."
    )

    def add_arguments(self, parser):
        parser.add_argument("campaign", help="campaign code, e.g. 002-goi-ra-kv9")
        parser.add_argument("--commit", action="store_true", help="add them")

    def handle(self, *args, campaign, commit, **options):
        found = Campaign.objects.filter(code=campaign).first()
        if found is None:
            raise CommandError(f"No campaign {campaign}.")
        try:
            with transaction.atomic():
                added = services.call_list_load(campaign=found)
                if not commit:
                    transaction.set_rollback(True)
        except DomainError as error:
            raise CommandError(str(error)) from error
        run = found.selection_runs.filter(status=SelectionRun.Status.APPROVED).first()
        verb = "Added" if commit else "Would add (run again with --commit)"
        self.stdout.write(
            f"{verb} {added} customers of run {run.number} to {found.code}'s call list."
        )
