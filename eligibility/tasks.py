"""Celery tasks for imports: thin, by id, the service records failures on the job."""

import logging

from celery import shared_task
from django.contrib.auth import get_user_model

from eligibility import services
from eligibility.models import DomainError
from eligibility.spreadsheets import UnreadableFile

logger = logging.getLogger(__name__)


@shared_task(name="eligibility.validate_import")
def validate_import(job_id: int) -> None:
    try:
        services.import_job_validate(job_id=job_id)
    except (DomainError, UnreadableFile) as exc:
        # Already written on the job for the person who uploaded it.
        logger.info("Import %s refused: %s", job_id, exc)


@shared_task(name="eligibility.commit_import")
def commit_import(job_id: int, user_id: int | None = None) -> None:
    user = get_user_model().objects.filter(pk=user_id).first() if user_id else None
    try:
        services.import_job_commit(job_id=job_id, decided_by=user)
    except DomainError as exc:
        logger.info("Import %s not committed: %s", job_id, exc)
