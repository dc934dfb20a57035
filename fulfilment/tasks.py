"""Celery tasks for fulfilment: thin, by id; the services record what happened."""

import logging

from celery import shared_task

from campaigns.models import Campaign
from fulfilment import services
from fulfilment.models import PartnerAssignment

logger = logging.getLogger(__name__)


# Idempotent: a choice already ordered is skipped, so a redelivered task adds nothing.
@shared_task(name="fulfilment.orders_release", acks_late=True)
def orders_release(campaign_id: int) -> None:
    campaign = Campaign.objects.get(pk=campaign_id)
    result = services.orders_release(campaign=campaign)
    logger.info("Campaign %s: %s", campaign.code, result)


@shared_task(name="fulfilment.orders_release_all")
def orders_release_all() -> None:
    """The periodic sweep: one task per campaign with partners and closed choices."""
    # Campaigns still choosing or just closed; later ones have nothing new to send.
    campaign_ids = (
        PartnerAssignment.objects.filter(
            campaign__status__in=[
                Campaign.Status.APPROVED,
                Campaign.Status.INVITING,
                Campaign.Status.OPEN,
                Campaign.Status.CLOSED,
            ]
        )
        .order_by()
        .values_list("campaign_id", flat=True)
        .distinct()
    )
    for campaign_id in campaign_ids:
        orders_release.delay(campaign_id)


# Idempotent: only orders still failed and past their reply date move.
@shared_task(name="fulfilment.orders_decline_unanswered", acks_late=True)
def orders_decline_unanswered() -> None:
    count = services.orders_decline_unanswered()
    logger.info("%s failed deliveries recorded as declined", count)
