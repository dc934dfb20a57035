"""The periodic sweep: due times live in the outbox, never in Celery ETAs."""

from datetime import timedelta

from celery import shared_task
from django.conf import settings

from messaging import services
from messaging.backends import zalo
from messaging.models import ZaloOaToken


@shared_task(name="messaging.dispatch_due", ignore_result=True)
def dispatch_due(channel: str = "sms") -> dict:
    """Send what is due on `channel`, in batches, for at most one sweep interval.

    Beat starts one per channel every `MESSAGING_SWEEP_SECONDS`: SMS to the gateway,
    Zalo to ZNS (nothing to do without a ZNS access token). Runs may overlap (each
    claims different rows and all share the channel's rate limiter), so a slow sweep
    never delays the next one, and an SMS backlog never holds up Zalo. Not
    acks_late: a redelivered sweep would only start another run.
    """
    result = services.dispatch_run(
        channel=channel, max_seconds=settings.MESSAGING_SWEEP_SECONDS
    )
    return {
        "submitted": result.submitted,
        "retried": result.retried,
        "failed": result.failed,
        "unknown": result.unknown,
    }


@shared_task(name="messaging.zalo_token_refresh_due", ignore_result=True)
def zalo_token_refresh_due() -> dict:
    """Renew the Zalo OA access token when it expires within the hour.

    Beat runs it every ten minutes, so a failed refresh is simply tried again at the
    next tick (its error is on the token's admin page meanwhile) while the current
    token still works. Nothing to do without the app's id and secret or a stored
    refresh token. The row lock and the expiry check under it make a doubled tick
    harmless.
    """
    if not zalo.token_refresh_configured() or not stored_refresh_token_exists():
        return {"refreshed": False}
    try:
        refreshed = services.zalo_oa_token_refresh(due_within=timedelta(hours=1))
    except services.ZaloTokenRefreshFailed as exc:
        return {"refreshed": False, "error": str(exc)}
    return {"refreshed": refreshed}


def stored_refresh_token_exists() -> bool:
    return ZaloOaToken.objects.filter(
        app_id=zalo.zalo_settings()["APP_ID"], sealed_refresh_token__isnull=False
    ).exists()
