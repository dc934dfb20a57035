import pytest
from django.utils import translation

from fulfilment import services
from tests.fulfilment.factories import (
    PartnerFactory,
    assign,
    chosen,
    partner_login,
    result_templates,
)
from tests.gifts.factories import OpenCampaignFactory, gift_with_stock


@pytest.fixture(autouse=True)
def _english():
    # Messages are asserted by their English msgids; the pages themselves speak vi.
    with translation.override("en"):
        yield


@pytest.fixture
def programme(db):
    """A 000-like campaign: two partners, one gift each, three closed choices each,
    the orders released. Returns a dict of everything a test needs."""
    campaign = OpenCampaignFactory(code="000-test", name="Tri ân thuê bao lâu năm")
    result_templates(campaign)
    pot = gift_with_stock(campaign, code="noi", name="Nồi cơm điện", units=50)
    kettle = gift_with_stock(campaign, code="am", name="Ấm siêu tốc", units=50)
    alpha, beta = PartnerFactory(name="Alpha Express"), PartnerFactory(name="Beta Post")
    assign(campaign, alpha, gifts=[pot])
    assign(campaign, beta, gifts=[kettle])
    alpha_choices = [chosen(pot) for _ in range(3)]
    beta_choices = [chosen(kettle) for _ in range(3)]
    services.orders_release(campaign=campaign)
    return {
        "campaign": campaign,
        "alpha": alpha,
        "beta": beta,
        "alpha_user": partner_login(alpha, "alpha"),
        "beta_user": partner_login(beta, "beta"),
        "alpha_codes": [c.code for c in alpha_choices],
        "beta_codes": [c.code for c in beta_choices],
        "pot": pot,
        "kettle": kettle,
    }
