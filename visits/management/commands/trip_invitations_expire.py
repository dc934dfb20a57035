from django.core.management.base import BaseCommand
from django.utils import timezone

from visits import services
from visits.models import TripInvitation


class Command(BaseCommand):
    help = (
        "Expire trip invitations whose written confirmation is overdue (004: no "
        "confirmation by the deadline means the customer declined)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--commit", action="store_true", help="Expire them; without it, only count."
        )

    def handle(self, *args, commit: bool, **options):
        today = timezone.localdate()
        if not commit:
            due = TripInvitation.objects.filter(
                status=TripInvitation.Status.LETTER_SENT, confirm_by__lt=today
            ).count()
            self.stdout.write(f"{due} invitations are overdue; run with --commit.")
            return
        count = services.trip_invitations_expire(today=today)
        self.stdout.write(f"{count} invitations expired.")
