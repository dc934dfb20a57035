"""004 in a real browser: care staff call, send the letter, check the passport and
confirm; a decline frees the seat for the next in line of the same company."""

from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from campaigns import roles
from campaigns.models import FulfilmentChannel
from tests.conftest import user_in_role
from tests.gifts.factories import SelectionMemberFactory, SelectionRunFactory
from tests.visits.factories import TripFactory
from visits.models import TripInvitation
from visits.templatetags.visits_tags import local_phone

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

TOUR = "Đoàn 1 (Hà Nội)"


def test_invitation_confirmed_with_passport_and_declined_seat_offered_next(
    live_server, desktop_page, screenshot
):
    run = SelectionRunFactory()
    fields = dict(run=run, list_name=TOUR, company=1, channel=FulfilmentChannel.TRIP)
    first = SelectionMemberFactory(
        rank=1, cell="1, individual", selected=True, full_name="Vũ Thị Lan", **fields
    )
    second = SelectionMemberFactory(
        rank=2, cell="1, enterprise", selected=True, full_name="Hoàng Văn Nam", **fields
    )
    below = SelectionMemberFactory(
        rank=3, cell="1, enterprise", selected=False, full_name="Lý Quốc Bảo", **fields
    )
    trip = TripFactory(campaign=run.campaign, list_name=TOUR)
    user_in_role("cskh", roles.CARE_STAFF)
    page = desktop_page
    today = timezone.localdate()

    page.goto(f"{live_server.url}/admin/login/?next=/chuyen-di/")
    page.fill("#id_username", "cskh")
    page.fill("#id_password", "pass-1234")
    page.click("input[type=submit]")
    page.click(f"#trips a[href='/chuyen-di/{trip.pk}/']")
    page.click("#open-list")
    expect(page.locator("#seats tbody tr")).to_have_count(2)
    screenshot(page, "1-call-list")

    # The first customer: call, letter, confirmation with passport.
    page.click(f"tr[data-msisdn='{first.msisdn}'] a")
    page.check("input[name=call-result][value=agreed]")
    page.click("#save-call")
    expect(page.locator("#status")).to_have_attribute("data-status", "agreed")
    page.fill("#id_letter-sent_on", (today - timedelta(days=1)).strftime("%d/%m/%Y"))
    page.click("#save-letter")
    expect(page.locator("#status")).to_have_attribute("data-status", "letter_sent")
    page.fill("#id_confirm-received_on", today.strftime("%d/%m/%Y"))
    page.fill("#id_confirm-passport_number", "C7654321")
    page.fill("#id_confirm-passport_expires_on", "31/05/2020")
    page.click("#save-confirm")
    expect(page.locator("#error")).to_contain_text("30/06/2020")
    screenshot(page, "2-passport-too-short")
    page.fill("#id_confirm-passport_expires_on", "15/01/2027")
    page.click("#save-confirm")
    expect(page.locator("#status")).to_have_attribute("data-status", "confirmed")
    screenshot(page, "3-confirmed")

    # The second declines on the call; the seat goes to the next in line.
    page.goto(f"{live_server.url}/chuyen-di/{trip.pk}/")
    page.click(f"tr[data-msisdn='{second.msisdn}'] a")
    page.check("input[name=call-result][value=declined]")
    page.fill("#id_call-reason", "Không sắp xếp được thời gian")
    page.click("#save-call")
    expect(page.locator("#status")).to_have_attribute("data-status", "declined")
    expect(page.locator("#freed")).to_contain_text(local_phone(below.msisdn))
    screenshot(page, "4-declined")
    page.click("#offer-next")
    expect(page.locator("#status")).to_have_attribute("data-status", "to_call")
    screenshot(page, "5-next-offered")

    page.goto(f"{live_server.url}/chuyen-di/{trip.pk}/")
    expect(page.locator(f"tr[data-msisdn='{below.msisdn}']")).to_have_attribute(
        "data-status", "to_call"
    )
    expect(page.locator("#confirmed-count")).to_contain_text("1")
    screenshot(page, "6-list-after")
    offered = TripInvitation.objects.get(member=below)
    assert offered.replaces.member == second
    assert TripInvitation.objects.get(member=first).passport_number == "C7654321"
