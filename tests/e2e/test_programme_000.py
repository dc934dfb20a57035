"""Programme 000 end to end in real browsers: staff approve the list in the admin, the
invitations go out (Celery worker), a customer chooses on a phone, the window closes,
the partner downloads its orders and uploads the results, the result SMS are in the
outbox, and the dashboard shows the funnel."""

import time
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from openpyxl import load_workbook
from playwright.sync_api import expect

from campaigns import roles
from campaigns.models import Campaign, SelectionRun
from fulfilment import services as fulfilment_services
from fulfilment.models import Order, OrderStatus
from gifts import services as gift_services
from gifts.models import GiftSettings, Invitation
from messaging import services as messaging_services
from messaging.backends.database import DatabaseBackend
from messaging.limiter import gateway_limiter
from messaging.models import Message, Purpose
from tests.campaigns.factories import CampaignFactory
from tests.conftest import user_in_role
from tests.fulfilment.factories import (
    PartnerFactory,
    assign,
    partner_login,
    result_templates,
)
from tests.gifts.factories import (
    SelectionMemberFactory,
    SelectionRunFactory,
    gift_with_stock,
)
from tests.messaging.conftest import ALL_DAY
from tests.messaging.factories import MessageTemplateFactory, MessagingSettingsFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

PASSWORD = "AC34FH"


def _login_admin(page, base, username):
    page.goto(f"{base}/admin/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", "pass-1234")
    page.click("input[type=submit]")


def _wait_for(predicate, seconds=60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.3)
    return False


@pytest.fixture
def phone_page(browser):
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, locale="vi-VN"
    )
    page = context.new_page()
    page.set_default_timeout(20_000)
    yield page
    context.close()


def test_programme_000_from_approval_to_dashboard(
    live_server,
    celery_worker_thread,
    browser,
    desktop_page,
    phone_page,
    screenshot,
    tmp_path,
):
    # Declared and selected (the selection itself has its own tests): a committed
    # list of three long-standing subscribers waiting for approval.
    campaign = CampaignFactory(
        code="000-lau-nam-hcm",
        name="Tri ân khách hàng lâu năm",
        status=Campaign.Status.SELECTED,
    )
    run = SelectionRunFactory(
        campaign=campaign, status=SelectionRun.Status.COMMITTED, selected_count=3
    )
    members = [
        SelectionMemberFactory(run=run, full_name=name)
        for name in ["Lê Thị Bình", "Trần Văn Cường", "Phạm Thu Dung"]
    ]
    GiftSettings.objects.update_or_create(
        campaign=campaign, defaults={"choice_window_days": 3}
    )
    gift_with_stock(campaign, code="noi-com-dien", name="Nồi cơm điện", units=10)
    MessageTemplateFactory(campaign=campaign)
    result_templates(campaign)
    # Sends at any hour the test runs: the window is the whole day.
    MessagingSettingsFactory(campaign=campaign, **ALL_DAY)
    partner = PartnerFactory(name="Giao hàng Sài Gòn")
    assign(campaign, partner)
    partner_login(partner, "doitac")
    user_in_role("cskh", roles.CARE_STAFF)

    # 1. Care staff approve the list in the admin.
    staff = desktop_page
    _login_admin(staff, live_server.url, "cskh")
    staff.goto(
        live_server.url + reverse("admin:campaigns_selection_run", args=[run.pk])
    )
    screenshot(staff, "1-run-to-approve")
    staff.click("#run-approve")
    expect(staff.locator(".messagelist")).to_be_visible()

    # 2. The invitations go out from the worker, each with its SMS in the outbox.
    assert _wait_for(lambda: Invitation.objects.filter(campaign=campaign).count() == 3)
    assert _wait_for(
        lambda: (
            Message.objects.filter(
                campaign=campaign, purpose=Purpose.INVITATION
            ).count()
            == 3
        )
    )
    customer = Invitation.objects.get(msisdn=members[0].msisdn)
    # The real password went out sealed in the SMS; give the customer a known one.
    Invitation.objects.filter(pk=customer.pk).update(
        password_hash=gift_services.password_hash(
            campaign_id=campaign.pk, msisdn=customer.msisdn, password=PASSWORD
        )
    )
    Message.objects.filter(campaign=campaign, purpose=Purpose.INVITATION).update(
        status="delivered"
    )

    # 3. The customer chooses on a phone.
    phone = phone_page
    phone.goto(f"{live_server.url}/qua/")
    phone.fill("#id_phone", "0" + customer.msisdn[2:])
    phone.fill("#id_password", PASSWORD)
    phone.click("#login")
    phone.click("li[data-gift=noi-com-dien] a.button")
    phone.fill("#id_address", "12 Lê Lợi, Phường Bến Nghé, Quận 1, TP.HCM")
    phone.click("#confirm")
    expect(phone.locator("#choice-gift")).to_have_text("Nồi cơm điện")
    code = phone.locator("#choice-code").inner_text().strip()
    screenshot(phone, "2-customer-chose")

    # 4. The window closes (the sweeps that beat runs, run here): the others
    # expire, the choice becomes the partner's order.
    Invitation.objects.filter(campaign=campaign).update(
        deadline=timezone.now() - timedelta(minutes=5)
    )
    gift_services.invitations_close_due(campaign=campaign)
    fulfilment_services.orders_release(campaign=campaign)
    order = Order.objects.get()
    assert order.code == code and order.partner == partner

    # 5. The partner downloads its orders and uploads the results.
    partner_page = browser.new_page(locale="vi-VN", accept_downloads=True)
    partner_page.set_default_timeout(20_000)
    _login_admin(partner_page, live_server.url, "doitac")
    partner_page.goto(f"{live_server.url}/doi-tac/")
    partner_page.click(f"tr[data-campaign='{campaign.code}'] a")
    expect(partner_page.locator(f"tr[data-code='{code}']")).to_be_visible()
    screenshot(partner_page, "3-partner-orders")
    with partner_page.expect_download() as download_info:
        partner_page.click("#download-xlsx")
    orders_file = tmp_path / "don-hang.xlsx"
    download_info.value.save_as(orders_file)
    workbook = load_workbook(orders_file)
    sheet = workbook.active
    header = [cell.value for cell in sheet[1]]
    row = [cell for cell in sheet[2]]
    assert row[0].value == code
    row[header.index("Result") if "Result" in header else 9].value = "Đã giao"
    row[10].value = fulfilment_services.local_today().strftime("%d/%m/%Y")
    workbook.save(orders_file)
    partner_page.set_input_files("#id_file", str(orders_file))
    partner_page.click("#upload")
    expect(partner_page.locator("#summary")).to_be_visible()
    screenshot(partner_page, "4-upload-checked")
    partner_page.click("#apply")
    expect(partner_page.locator(f"tr[data-code='{code}'] .status")).not_to_have_text("")
    screenshot(partner_page, "5-results-applied")
    assert Order.objects.get().status == OrderStatus.DELIVERED

    # 6. The result SMS is in the outbox, once.
    result_sms = Message.objects.filter(
        campaign=campaign, purpose=Purpose.DELIVERY_SUCCESS
    )
    assert list(result_sms.values_list("msisdn", flat=True)) == [customer.msisdn]
    # ... and goes out (the dispatch sweep beat runs, run here with the demo gateway,
    # which reports each message delivered).
    messaging_services.dispatch_run(
        backend=DatabaseBackend(),
        limiter=gateway_limiter(rate=1000, key=f"e2e-000-{campaign.pk}"),
    )
    assert result_sms.get().status == "delivered"

    # 7. The dashboard shows the funnel.
    staff.goto(f"{live_server.url}/bao-cao/{campaign.code}/")
    funnel = staff.locator("#funnel")
    expect(funnel.locator("tr[data-step=selected] .value")).to_have_text("3")
    expect(funnel.locator("tr[data-step=invited] .value")).to_have_text("3")
    expect(funnel.locator("tr[data-step=sms_delivered] .value")).to_have_text("3")
    expect(funnel.locator("tr[data-step=logged_in] .value")).to_have_text("1")
    expect(funnel.locator("tr[data-step=chose] .value")).to_have_text("1")
    expect(funnel.locator("tr[data-step=delivered] .value")).to_have_text("1")
    expect(funnel.locator("tr[data-step=notified] .value")).to_have_text("1")
    screenshot(staff, "6-dashboard")
    partner_page.close()
