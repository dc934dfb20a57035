from django.core.management.base import BaseCommand

from callcenter import services


class Command(BaseCommand):
    help = (
        "Remind agents of callbacks now due and hand callbacks overdue by the "
        "script's escalation delay to the shared pool (what the periodic task does)."
    )

    def handle(self, *args, **options):
        result = services.callbacks_sweep()
        self.stdout.write(
            f"{result.reminded} callbacks reminded, {result.escalated} escalated."
        )
