from django.core.management.base import BaseCommand
from django.utils.translation import gettext as _

from campaigns import demo


class Command(BaseCommand):
    help = _(
        "Load the demo: generated subscribers, the five programmes, a login per role."
    )

    def add_arguments(self, parser):
        parser.add_argument("--size", type=int, default=5000)

    def handle(self, *args, **options):
        demo.demo_load(size=options["size"], say=self.stdout.write)
        self.stdout.write("")
        self.stdout.write(
            _("Demo logins at http://127.0.0.1:8000/admin/ (password %(pw)s):")
            % {"pw": demo.DEMO_PASSWORD}
        )
        for username, _group, label in demo.DEMO_USERS:
            self.stdout.write(f"  {username:<10} {label}")
