from datetime import timedelta

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from messaging import services
from messaging.backends import zalo
from messaging.models import ZaloOaToken


class Command(BaseCommand):
    help = (
        "Show the stored Zalo OA token's expiry and last refresh; with --commit, "
        "renew it now at Zalo's OAuth (spends the stored refresh token)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--commit", action="store_true", help="refresh (default: only show)"
        )
        parser.add_argument(
            "--if-expiring-within",
            type=int,
            default=None,
            metavar="MINUTES",
            help="refresh only when the token expires within MINUTES",
        )

    def handle(self, *args, **options):
        config = zalo.zalo_settings()
        if not zalo.token_refresh_configured(config):
            raise CommandError(
                "Set MESSAGING_ZALO_APP_ID and MESSAGING_ZALO_APP_SECRET first."
            )
        token = ZaloOaToken.objects.filter(app_id=config["APP_ID"]).first()
        if token is None:
            raise CommandError(
                f"No token pair stored for Zalo app {config['APP_ID']}: "
                "enter the first refresh token in the admin (Zalo OA tokens)."
            )
        expires = (
            timezone.localtime(token.expires_at).isoformat()
            if token.expires_at
            else "unknown"
        )
        self.stdout.write(f"Zalo app {token.app_id}: access token expires {expires}")
        if token.last_refresh_error:
            self.stdout.write(f"Last refresh failed: {token.last_refresh_error}")
        within = options["if_expiring_within"]
        if not options["commit"]:
            self.stdout.write("Would refresh the token pair; run with --commit.")
            return
        try:
            refreshed = services.zalo_oa_token_refresh(
                due_within=timedelta(minutes=within) if within is not None else None
            )
        except services.ZaloTokenRefreshFailed as exc:
            raise CommandError(f"Refresh failed, old pair kept: {exc}") from exc
        if not refreshed:
            self.stdout.write(f"Not refreshed: it expires after {within} minutes.")
            return
        token.refresh_from_db()
        self.stdout.write(
            "Refreshed: the new access token expires "
            f"{timezone.localtime(token.expires_at).isoformat()}."
        )
