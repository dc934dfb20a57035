"""Programme 003 end to end in a real browser: an SMS TSTN becomes a request, an agent
confirms the corrected address, the province exports and allocates it, the field
worker records the visit on a phone, and the reconciliation counts it."""

import io
import uuid

import pytest
from openpyxl import load_workbook
from playwright.sync_api import expect

from campaigns import roles
from messaging.models import Message
from messaging.services import inbound_receive
from servicerequests.models import ServiceRequest, Status
from tests.conftest import user_in_role
from tests.servicerequests.factories import (
    CAN_THO,
    field_staff,
    member,
    province_staff,
    sim_swap_campaign,
)

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _own_cache_keys(settings):
    # Rate-limit counters live in a Redis other test runs share.
    settings.CACHES = {
        name: {**config, "KEY_PREFIX": f"sr-e2e-{uuid.uuid4().hex}"}
        for name, config in settings.CACHES.items()
    }


@pytest.fixture
def campaign(db):
    campaign, run = sim_swap_campaign()
    member(run, "84901000001", full_name="Nguyễn Văn An")
    member(run, "84901000002", full_name="Trần Thị Bình")
    return campaign


@pytest.fixture
def agent(db):
    return user_in_role("dtv1", roles.CALL_AGENT)


@pytest.fixture
def can_tho_staff(db):
    return province_staff("tinh-ct", CAN_THO)


@pytest.fixture
def field_a(db):
    return field_staff("td-a", CAN_THO, "Tây Đô")


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


def _login(page, live_server, username, next_path):
    page.context.clear_cookies()
    page.goto(f"{live_server.url}/admin/login/?next={next_path}")
    page.fill("#id_username", username)
    page.fill("#id_password", "pass-1234")
    page.click("input[type=submit]")
    page.wait_for_url(f"**{next_path}")


def test_sms_request_goes_through_confirmation_allocation_visit_and_reconciliation(
    live_server,
    desktop_page,
    phone_page,
    screenshot,
    campaign,
    agent,
    can_tho_staff,
    field_a,
):
    # 1. The customer texts TSTN to 9231 (as the Kannel MO view would hand it in).
    inbound_receive(
        gateway_id="kannel-1", msisdn="0901000001", short_code="9231", text="TSTN"
    )
    request = ServiceRequest.objects.get()
    assert request.status == Status.NEW
    assert "thay SIM 4G" in Message.objects.get(msisdn="84901000001").body

    # 2. The agent takes it and confirms a corrected address.
    page = desktop_page
    _login(page, live_server, agent.username, "/yeu-cau/goi-xac-nhan/")
    page.click("#claim")
    row = page.locator(f"#due tr[data-request='{request.pk}']")
    expect(row).to_contain_text("0901000001")
    screenshot(page, "1-agent-queue")
    row.locator("a").click()
    page.check("input[name=outcome][value=corrected]")
    page.fill("#id_address", "25 Trần Văn Khéo, P. Cái Khế")
    page.fill("#id_note", "Khách hẹn buổi chiều")
    screenshot(page, "2-agent-call")
    page.click("#save-call")
    expect(page.locator("#messages")).to_contain_text("0901000001")
    request.refresh_from_db()
    assert request.status == Status.CONFIRMED
    assert request.address == "25 Trần Văn Khéo, P. Cái Khế"

    # 3. The province exports the day's confirmed requests and allocates them.
    _login(page, live_server, can_tho_staff.username, "/yeu-cau/tinh/")
    with page.expect_download() as download:
        page.click("#export")
    workbook = load_workbook(io.BytesIO(open(download.value.path(), "rb").read()))
    rows = list(workbook.active.iter_rows(min_row=2, values_only=True))
    assert [(r[0], r[2]) for r in rows] == [
        ("0901000001", "25 Trần Văn Khéo, P. Cái Khế")
    ]
    page.goto(f"{live_server.url}/yeu-cau/tinh/")
    page.check(f"#req-{request.pk}")
    page.check(f"input[name=field_staff][value='{field_a.pk}']")
    screenshot(page, "3-province-allocate")
    page.click("#allocate")
    expect(page.locator("#allocated")).to_contain_text("td-a")
    request.refresh_from_db()
    assert request.status == Status.ALLOCATED

    # 4. The field worker records the visit on a phone.
    phone = phone_page
    _login(phone, live_server, field_a.username, "/thuc-dia/")
    card = phone.locator(f"#todo li[data-request='{request.pk}']")
    expect(card).to_contain_text("25 Trần Văn Khéo")
    screenshot(phone, "4-field-list-phone")
    card.locator("a").click()
    phone.check("#id_contacts_backed_up")
    phone.check("#id_sim_swapped")
    phone.fill("#id_new_sim_serial", "8984 0123 4567 8901 234")
    screenshot(phone, "5-field-visit-filling")
    phone.check("#id_app_installed")
    phone.check("#id_package_advised")
    phone.fill("#id_package_code", "C90N")
    screenshot(phone, "6-field-visit-phone")
    phone.click("#save-visit")
    expect(phone.locator("#messages")).to_contain_text("0901000001")
    expect(phone.locator("#done")).to_contain_text("0901000001")
    screenshot(phone, "7-field-done-phone")
    request.refresh_from_db()
    assert request.status == Status.COMPLETED
    assert request.new_sim_serial == "8984012345678901234"

    # 5. The province reconciles for payment.
    page.goto(f"{live_server.url}/yeu-cau/tinh/doi-soat/")
    expect(page.locator("#total-swaps")).to_have_text("1")
    expect(page.locator("#total-installs")).to_have_text("1")
    expect(page.locator("#reconciliation")).to_contain_text("Tây Đô")
    screenshot(page, "8-reconciliation")
    kinds = list(request.events.values_list("kind", flat=True))
    assert kinds == ["registered", "claimed", "corrected", "allocated", "visited"]


def test_customer_registers_on_the_web_form_from_a_phone(
    live_server, phone_page, screenshot, campaign
):
    page = phone_page
    page.goto(f"{live_server.url}/yeu-cau/")
    page.fill("#id_phone", "12345")
    page.fill("#id_full_name", "Nguyễn Văn An")
    page.fill("#id_address", "Cần Thơ")
    page.click("#submit")
    expect(page.locator(".field-error")).to_have_count(2)
    screenshot(page, "1-form-errors")
    assert not ServiceRequest.objects.exists()
    page.fill("#id_phone", "090 100 0001")
    page.fill("#id_address", "12 Nguyễn Trãi, Phong Điền, Cần Thơ")
    page.select_option("#id_preferred_time", "afternoon")
    page.click("#submit")
    expect(page.locator("#thanks")).to_be_visible()
    screenshot(page, "2-thanks")
    request = ServiceRequest.objects.get()
    assert (request.msisdn, request.source, request.status) == (
        "84901000001",
        "web",
        Status.NEW,
    )
