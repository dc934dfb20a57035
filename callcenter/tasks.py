"""Celery tasks of the call centre: thin; the services record what happened."""

import logging

from celery import shared_task

from callcenter import services

logger = logging.getLogger(__name__)


# Idempotent: reminders and escalations only touch callbacks not yet marked, so a
# redelivered sweep finds nothing left to do.
@shared_task(name="callcenter.callbacks_sweep", acks_late=True)
def callbacks_sweep() -> dict:
    result = services.callbacks_sweep()
    if result.reminded or result.escalated:
        logger.info(
            "Callbacks: %s reminded, %s escalated", result.reminded, result.escalated
        )
    return {"reminded": result.reminded, "escalated": result.escalated}
