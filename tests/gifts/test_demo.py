import pytest

from gifts.demo import demo_load_gifts
from gifts.models import Gift, GiftKind, GiftStock, Store
from tests.gifts.factories import OpenCampaignFactory

pytestmark = pytest.mark.django_db


def test_demo_catalogues_fit_each_programme_and_load_once():
    lau_nam = OpenCampaignFactory(code="000-lau-nam-hcm")
    muc_cuoc = OpenCampaignFactory(code="001-muc-cuoc-kv5")
    goi_ra = OpenCampaignFactory(code="002-goi-ra-kv9")
    for campaign in (lau_nam, muc_cuoc, goi_ra):
        demo_load_gifts(campaign)
        demo_load_gifts(campaign)

    assert set(
        Gift.objects.filter(campaign=lau_nam).values_list("value_vnd", flat=True)
    ) == {500_000}
    trolley = Gift.objects.get(campaign=muc_cuoc, code="vali-keo")
    assert (trolley.tiers, trolley.kind) == (["nhom-1"], GiftKind.HOME_DELIVERY)
    assert Gift.objects.filter(campaign=muc_cuoc, tiers=["nhom-2"]).count() == 2
    insurance = Gift.objects.get(campaign=goi_ra, kind=GiftKind.INSURANCE)
    assert "vehicle_registration" in insurance.extra_details
    assert GiftStock.objects.count() == Gift.objects.count() == 9
    provinces = set(Store.objects.values_list("province", flat=True))
    assert provinces == {"TP Hồ Chí Minh", "Cần Thơ"}


def test_demo_gives_other_campaigns_no_gifts():
    assert demo_load_gifts(OpenCampaignFactory(code="004-du-lich-chau-au")) == []
