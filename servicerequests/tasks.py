"""Celery tasks of the service requests: thin, by id; the service records outcomes."""

import logging

from celery import shared_task

from servicerequests import services
from servicerequests.models import IvrImport

logger = logging.getLogger(__name__)


@shared_task(name="servicerequests.ivr_import_run")
def ivr_import_run(import_id: int) -> None:
    # A redelivered task finds the import no longer queued and does nothing.
    try:
        services.ivr_import_run(import_id=import_id)
    except IvrImport.DoesNotExist:
        # Deleted before the worker got to it (or enqueued by a rolled-back request).
        logger.info("IVR import %s no longer exists", import_id)
