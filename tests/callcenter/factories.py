from datetime import time

from callcenter import services
from callcenter.demo import script_002_load
from callcenter.models import CallTask
from campaigns import roles
from campaigns.models import Campaign
from tests.conftest import user_in_role
from tests.gifts.factories import (
    InvitationFactory,
    OpenCampaignFactory,
    SelectionMemberFactory,
    SelectionRunFactory,
    gift_with_stock,
)
from tests.visits.factories import SubscriberFactory

__all__ = ["InvitationFactory", "gift_with_stock"]


def agent(username: str):
    return user_in_role(username, roles.CALL_AGENT)


def supervisor(username: str = "giamsat"):
    return user_in_role(username, roles.CALL_SUPERVISOR)


def call_campaign(*, size: int = 5, all_day: bool = True, **subscriber_fields):
    """An approved 002-style campaign: script B1–B6, `size` members in the call list.

    Members are ranked 1..size; each has a subscriber row with points, no package,
    an unstandardised record and no app, so every topic applies.
    """
    campaign = OpenCampaignFactory(
        code="002-goi-ra-kv9", name="Gọi ra 002", status=Campaign.Status.APPROVED
    )
    run = SelectionRunFactory(campaign=campaign)
    campaign.snapshot = run.snapshot
    campaign.save(update_fields=["snapshot"])
    for rank in range(1, size + 1):
        member = SelectionMemberFactory(
            run=run,
            rank=rank,
            msisdn=f"849{rank:08d}",
            full_name=f"Khách hàng {rank}",
            province="Cần Thơ",
            district="Quận Ninh Kiều",
        )
        defaults = {
            "loyalty_points": 1250,
            "loyalty_member": True,
            "loyalty_tier": "Vàng",
            "package_code": "",
            "record_standardized": False,
            "has_app": False,
            **subscriber_fields,
        }
        SubscriberFactory(
            snapshot=run.snapshot,
            msisdn=member.msisdn,
            full_name=member.full_name,
            **defaults,
        )
    script = script_002_load(campaign)
    if all_day:
        script.calling_from = time(0, 0)
        script.calling_to = time(23, 59, 59)
        script.save()
    services.call_list_load(campaign=campaign)
    return campaign


def tasks_of(campaign) -> list[CallTask]:
    return list(CallTask.objects.filter(campaign=campaign).order_by("rank"))
