from datetime import timedelta

import factory
from django.utils import timezone

from campaigns.models import Campaign, SelectionMember, SelectionRun
from gifts.models import Gift, GiftKind, GiftSettings, GiftStock, Invitation, Store
from gifts.services import password_hash
from tests.campaigns.factories import CampaignFactory
from tests.factories import SnapshotFactory

PASSWORD = "AC34FH"


class OpenCampaignFactory(CampaignFactory):
    status = Campaign.Status.OPEN


class SelectionRunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SelectionRun

    campaign = factory.SubFactory(OpenCampaignFactory)
    number = factory.Sequence(lambda n: n + 1)
    snapshot = factory.SubFactory(SnapshotFactory)
    status = SelectionRun.Status.APPROVED


class SelectionMemberFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SelectionMember

    run = factory.SubFactory(SelectionRunFactory)
    msisdn = factory.Sequence(lambda n: f"8490{n:07d}")
    selected = True
    rank = factory.Sequence(lambda n: n + 1)
    cell_rank = factory.LazyAttribute(lambda member: member.rank)
    gift_tier = ""
    full_name = factory.Sequence(lambda n: f"Nguyễn Văn {n}")
    company = 2
    province = "TP Hồ Chí Minh"
    district = "Quận 1"


class GiftSettingsFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = GiftSettings
        django_get_or_create = ("campaign",)

    campaign = factory.SubFactory(OpenCampaignFactory)


class GiftFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Gift

    campaign = factory.SubFactory(OpenCampaignFactory)
    code = factory.Sequence(lambda n: f"gift-{n}")
    name = factory.Sequence(lambda n: f"Quà {n}")
    value_vnd = 500_000
    kind = GiftKind.HOME_DELIVERY


class GiftStockFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = GiftStock

    gift = factory.SubFactory(GiftFactory)
    total = 10
    remaining = factory.LazyAttribute(lambda stock: stock.total)


def gift_with_stock(campaign, units=10, **kwargs) -> Gift:
    gift = GiftFactory(campaign=campaign, **kwargs)
    GiftStockFactory(gift=gift, total=units)
    return gift


class StoreFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Store

    code = factory.Sequence(lambda n: f"store-{n}")
    name = factory.Sequence(lambda n: f"Cửa hàng {n}")
    address = "5 Nguyễn Thị Minh Khai"
    province = "TP Hồ Chí Minh"
    district = "Quận 1"
    opening_hours = "7:30–21:00"


class InvitationFactory(factory.django.DjangoModelFactory):
    """An invitation whose password is `password` (default PASSWORD)."""

    class Meta:
        model = Invitation

    class Params:
        password = PASSWORD

    member = factory.SubFactory(SelectionMemberFactory)
    run = factory.LazyAttribute(lambda inv: inv.member.run)
    campaign = factory.LazyAttribute(lambda inv: inv.member.run.campaign)
    msisdn = factory.LazyAttribute(lambda inv: inv.member.msisdn)
    tier = factory.LazyAttribute(lambda inv: inv.member.gift_tier)
    province = factory.LazyAttribute(lambda inv: inv.member.province)
    district = factory.LazyAttribute(lambda inv: inv.member.district)
    deadline = factory.LazyFunction(lambda: timezone.now() + timedelta(days=2))
    password_hash = factory.LazyAttribute(
        lambda inv: password_hash(
            campaign_id=inv.campaign.pk, msisdn=inv.msisdn, password=inv.password
        )
    )


def invitation_in(campaign, **member_fields) -> Invitation:
    """An invitation to `campaign` for a new member of its approved run."""
    run = SelectionRun.objects.filter(campaign=campaign).first() or SelectionRunFactory(
        campaign=campaign
    )
    return InvitationFactory(member=SelectionMemberFactory(run=run, **member_fields))
