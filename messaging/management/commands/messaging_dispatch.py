import signal

from django.core.management.base import BaseCommand

from messaging import services


class Command(BaseCommand):
    help = (
        "Send due messages of the outbox through the configured gateway (--channel "
        "zalo: through Zalo ZNS). Without --loop, stops when nothing is due."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--channel", choices=["sms", "zalo"], default="sms", help="default: sms"
        )
        parser.add_argument("--loop", action="store_true", help="keep polling")
        parser.add_argument("--batch-size", type=int, default=None)
        parser.add_argument("--max-seconds", type=float, default=None)
        parser.add_argument("--poll", type=float, default=1.0)

    def handle(self, *args, **options):
        stopping = []
        signal.signal(signal.SIGTERM, lambda *_: stopping.append(True))
        self.stdout.write(f"Dispatching due {options['channel']} messages…")
        self.stdout.flush()
        result = services.dispatch_run(
            channel=options["channel"],
            batch_size=options["batch_size"],
            max_seconds=options["max_seconds"],
            idle_exit=not options["loop"],
            poll_seconds=options["poll"],
            should_stop=lambda: bool(stopping),
        )
        self.stdout.write(
            f"submitted {result.submitted}, retried {result.retried}, failed "
            f"{result.failed}, unknown {result.unknown}, released {result.released}, "
            f"recovered {result.recovered}"
        )
