"""A customer chooses a gift on a phone, in a real browser: login, choose, address,
confirmation, change, and the page after the deadline."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from gifts.models import Choice, GiftStock, Invitation
from tests.gifts.factories import (
    PASSWORD,
    OpenCampaignFactory,
    gift_with_stock,
    invitation_in,
)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def phone_page(browser):
    context = browser.new_context(
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        locale="vi-VN",
    )
    page = context.new_page()
    page.set_default_timeout(20_000)
    yield page
    context.close()


def test_customer_chooses_changes_and_sees_the_gift_after_the_deadline(
    live_server, phone_page, screenshot
):
    campaign = OpenCampaignFactory(name="Tri ân thuê bao lâu năm")
    rice = gift_with_stock(
        campaign, code="noi-com-dien", name="Nồi cơm điện 1,8 lít", units=5
    )
    pots = gift_with_stock(campaign, code="bo-noi-inox", name="Bộ nồi inox", units=5)
    gift_with_stock(campaign, code="het", name="Ấm siêu tốc", units=0)
    invitation = invitation_in(campaign, msisdn="84901234567", full_name="Lê Thị Bình")
    page = phone_page

    page.goto(f"{live_server.url}/qua/")
    page.fill("#id_phone", "090 123 4567")
    page.fill("#id_password", PASSWORD.lower())
    screenshot(page, "1-login")
    page.click("#login")

    expect(page.locator("#gifts li")).to_have_count(3)
    expect(page.locator("li[data-gift=het] .gone-badge")).to_be_visible()
    screenshot(page, "2-catalogue")
    page.click("li[data-gift=noi-com-dien] a.button")

    expect(page.locator("#id_recipient_name")).to_have_value("Lê Thị Bình")
    page.fill("#id_address", "12 Lê Lợi, Phường Bến Nghé, Quận 1, TP.HCM")
    screenshot(page, "3-address")
    page.click("#confirm")

    expect(page.locator("#choice-gift")).to_have_text("Nồi cơm điện 1,8 lít")
    code = Choice.objects.get().code
    expect(page.locator("#choice-code")).to_have_text(code)
    screenshot(page, "4-confirmation")

    page.click("#change")
    page.click("li[data-gift=bo-noi-inox] a.button")
    page.fill("#id_address", "99 Hai Bà Trưng, Phường 6, Quận 3, TP.HCM")
    page.click("#confirm")
    expect(page.locator("#choice-gift")).to_have_text("Bộ nồi inox")
    expect(page.locator("#choice-address")).to_contain_text("99 Hai Bà Trưng")
    screenshot(page, "5-changed")
    assert GiftStock.objects.get(gift=rice).remaining == 5
    assert GiftStock.objects.get(gift=pots).remaining == 4

    Invitation.objects.filter(pk=invitation.pk).update(
        deadline=timezone.now() - timedelta(minutes=1)
    )
    page.reload()
    expect(page.locator("#ended")).to_be_visible()
    expect(page.locator("#choice-gift")).to_have_text("Bộ nồi inox")
    expect(page.locator("#choice-fulfilment")).to_be_visible()
    expect(page.locator("#change")).to_have_count(0)
    screenshot(page, "6-after-deadline")
    page.goto(f"{live_server.url}/qua/qua-tang/")
    expect(page.locator("#ended")).to_be_visible()
