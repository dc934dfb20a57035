"""Celery tasks for gifts: thin, by id; the services record what happened."""

import logging

from celery import shared_task
from django.contrib.auth import get_user_model

from campaigns.models import Campaign, SelectionRun
from eligibility.models import DomainError
from gifts import services
from gifts.models import Invitation

logger = logging.getLogger(__name__)


@shared_task(name="gifts.invitations_issue")
def invitations_issue(run_id: int, actor_id: int | None = None) -> None:
    actor = get_user_model().objects.filter(pk=actor_id).first() if actor_id else None
    run = SelectionRun.objects.get(pk=run_id)
    try:
        result = services.invitations_issue(run=run, actor=actor)
    except DomainError as exc:
        logger.info("Run %s not invited: %s", run_id, exc)
        return
    logger.info("Run %s: %s invitations issued", run_id, result.created)


# Idempotent: the sweep settles only invitations still waiting, claimed with SKIP
# LOCKED, so a redelivered task finds nothing left to do.
@shared_task(name="gifts.invitations_close_due", acks_late=True)
def invitations_close_due(campaign_id: int) -> None:
    campaign = Campaign.objects.get(pk=campaign_id)
    counts = services.invitations_close_due(campaign=campaign)
    logger.info("Campaign %s: %s", campaign.code, counts)


@shared_task(name="gifts.invitations_close_due_all")
def invitations_close_due_all() -> None:
    """The periodic sweep: one task per campaign with invitations past their deadline."""
    from django.utils import timezone

    campaign_ids = (
        Invitation.objects.due(timezone.now())
        .values_list("campaign_id", flat=True)
        .distinct()
    )
    for campaign_id in campaign_ids:
        invitations_close_due.delay(campaign_id)
