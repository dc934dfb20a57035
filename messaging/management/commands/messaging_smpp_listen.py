import signal

from django.core.management.base import BaseCommand

from messaging.backends.smpp import SmppBackend


class Command(BaseCommand):
    help = "Bind to the SMSC as a receiver and record delivery reports and inbound SMS."

    def handle(self, *args, **options):
        stopping = []
        signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
        backend = SmppBackend()
        self.stdout.write("Listening on the SMSC…")
        try:
            backend.listen(should_stop=lambda: bool(stopping))
        finally:
            backend.close()
