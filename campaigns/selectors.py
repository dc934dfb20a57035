"""Reads of campaigns for pages, exports and the demo."""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils.translation import gettext as _

from campaigns.models import Campaign, CampaignEvent, ProvinceDistrict
from eligibility.models import DomainError


def campaign_get_by_code(*, code: str) -> Campaign:
    """The campaign with this code, or a DomainError naming the code."""
    campaign = Campaign.objects.filter(code=code).first()
    if campaign is None:
        raise DomainError(_("No campaign has the code %(code)s.") % {"code": code})
    return campaign


def campaign_events(*, campaign: Campaign) -> QuerySet[CampaignEvent]:
    """The campaign's history, oldest first, with who did each thing."""
    return campaign.events.select_related("actor").order_by("created_at", "id")


def province_districts(
    *, provinces: list[str] | None = None, is_central: bool | None = None
) -> list[dict[str, str]]:
    """Districts as phases store them ({province, district}), in table order.

    Filling a phase: `is_central=True` gives programme 003's phase 1, `False` the rest.
    """
    rows = ProvinceDistrict.objects.all()
    if provinces is not None:
        rows = rows.filter(province__in=provinces)
    if is_central is not None:
        rows = rows.filter(is_central=is_central)
    return [row.as_dict() for row in rows.order_by("province", "district")]
