"""The periodic sweep: due times live in the outbox, never in Celery ETAs."""

from celery import shared_task
from django.conf import settings

from messaging import services


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
