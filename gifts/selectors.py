"""Reads for the gift site and the staff screens."""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.conf import settings

from gifts.models import Choice, Gift, GiftStock, Invitation
from gifts.services import stock_for


@dataclass(frozen=True)
class CatalogueItem:
    gift: Gift
    available: bool


def invitation_for_site(invitation_id: int) -> Invitation | None:
    """The invitation with its campaign, gift settings and member's name (one query)."""
    return Invitation.objects.for_site(invitation_id)


def choice_of(invitation: Invitation) -> Choice | None:
    # Only a chosen or assigned invitation has a choice: the others cost no query.
    if invitation.status not in (
        Invitation.Status.CHOSEN,
        Invitation.Status.ASSIGNED,
    ):
        return None
    return (
        Choice.objects.select_related("gift", "store")
        .filter(invitation=invitation)
        .order_by()
        .first()
    )


# campaign id -> (read at, gifts, stock rows by gift id). The catalogue is the same
# for thousands of customers during the burst; reading it again at most every
# GIFTS_CATALOGUE_SECONDS per server process spares two queries a page. A unit shown
# as left that went meanwhile is refused when chosen ("hết quà"): the stock's truth
# is the conditional UPDATE, never this copy.
_catalogues: dict[int, tuple[float, list[Gift], dict[int, list[GiftStock]]]] = {}


def _catalogue_rows(campaign_id: int):
    now = time.monotonic()
    cached = _catalogues.get(campaign_id)
    if cached and now - cached[0] < settings.GIFTS_CATALOGUE_SECONDS:
        return cached[1], cached[2]
    gifts = list(Gift.objects.filter(campaign_id=campaign_id, active=True))
    stocks: dict[int, list[GiftStock]] = {}
    for stock in GiftStock.objects.filter(gift__in=[gift.pk for gift in gifts]):
        stocks.setdefault(stock.gift_id, []).append(stock)
    _catalogues[campaign_id] = (now, gifts, stocks)
    return gifts, stocks


def catalogue_for(invitation: Invitation) -> list[CatalogueItem]:
    """The gifts of the member's tier, in catalogue order, each with whether a unit of
    the member's stock row is left."""
    gifts, stocks = _catalogue_rows(invitation.campaign_id)
    items = []
    for gift in gifts:
        if not gift.offered_to(invitation.tier):
            continue
        stock = stock_for(
            gift=gift,
            tier=invitation.tier,
            province=invitation.province,
            stocks=stocks.get(gift.pk, []),
        )
        items.append(
            CatalogueItem(gift=gift, available=bool(stock and stock.remaining))
        )
    return items


def catalogue_gift(invitation: Invitation, gift_id: int) -> Gift | None:
    """A gift of the member's catalogue (offered to their tier), or None."""
    gifts, _stocks = _catalogue_rows(invitation.campaign_id)
    return next(
        (
            gift
            for gift in gifts
            if gift.pk == gift_id and gift.offered_to(invitation.tier)
        ),
        None,
    )
