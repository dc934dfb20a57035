"""001 in a real browser: the store counter on a tablet, the home visit on a phone."""

import pytest
from playwright.sync_api import expect

from gifts.models import Choice
from tests.gifts.factories import (
    GiftFactory,
    GiftStockFactory,
    InvitationFactory,
    SelectionRunFactory,
)
from tests.visits.factories import (
    StoreFactory,
    SubscriberFactory,
    clerk_at,
    home_member,
    posted,
    store_member,
    survey_for,
)
from visits.models import SurveyAnswer, Visit

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]


def _context(browser, **viewport):
    context = browser.new_context(locale="vi-VN", has_touch=True, **viewport)
    page = context.new_page()
    page.set_default_timeout(20_000)
    return context, page


@pytest.fixture
def tablet_page(browser):
    context, page = _context(browser, viewport={"width": 800, "height": 1280})
    yield page
    context.close()


@pytest.fixture
def phone_page(browser):
    context, page = _context(
        browser,
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        is_mobile=True,
    )
    yield page
    context.close()


def _log_in(page, live_server, username, next_url):
    page.goto(f"{live_server.url}/admin/login/?next={next_url}")
    page.fill("#id_username", username)
    page.fill("#id_password", "pass-1234")
    page.click("input[type=submit]")


def test_clerk_finds_the_order_checks_the_record_and_hands_over_once(
    live_server, tablet_page, screenshot
):
    run = SelectionRunFactory()
    store = StoreFactory(name="Cửa hàng MobiFone Quận 1")
    invitation = InvitationFactory(
        member=store_member(run, msisdn="84903334444", full_name="Ngô Thị Hạnh")
    )
    gift = GiftFactory(campaign=invitation.campaign, name="Hộp đựng thực phẩm")
    choice = Choice.objects.create(
        invitation=invitation,
        gift=gift,
        stock=GiftStockFactory(gift=gift),
        code="HX4K7P",
        store=store,
    )
    SubscriberFactory(
        snapshot=run.snapshot, msisdn="84903334444", full_name="Ngô Thị Hạnh"
    )
    survey = survey_for(run.campaign)
    first, second, _text = survey.questions.all()
    clerk_at(store, "gdv1")
    page = tablet_page

    _log_in(page, live_server, "gdv1", "/cua-hang/")
    page.fill("#id_q", "090 333 4444")
    screenshot(page, "1-search")
    page.click("#find")

    expect(page.locator("#code")).to_have_text("HX4K7P")
    expect(page.locator("#gift")).to_have_text("Hộp đựng thực phẩm")
    expect(page.locator("#record-standard")).to_have_class("warn")
    page.check("#id_record_checked")
    page.check("#id_record_corrected")
    page.fill("#id_record_note", "Cập nhật số CCCD")
    page.fill("#id_packages_advised", "C90N")
    # Hand over without the required survey answer: refused, nothing recorded.
    page.click("#handover")
    expect(page.locator("#error")).to_be_visible()
    expect(page.locator(f"[data-question=q_{first.pk}] .field-error")).to_be_visible()
    screenshot(page, "2-survey-missing")
    assert not Visit.objects.exists()

    # A second clerk opened the same order in another tab before the hand-over.
    other = page.context.new_page()
    other.goto(page.url)
    other.check(f"input[name=q_{first.pk}][value='Hài lòng']")

    page.check(f"input[name=q_{first.pk}][value='Hài lòng']")
    page.check(f"input[name=q_{second.pk}][value='Data']")
    page.check("#id_record_checked")
    page.click("#handover")
    expect(page.locator("#handed-over")).to_be_visible()
    screenshot(page, "3-handed-over")

    visit = Visit.objects.get()
    assert visit.gift_handed_over and visit.store == store and visit.record_corrected
    assert visit.staff.username == "gdv1"
    assert SurveyAnswer.objects.filter(visit=visit).count() == 2
    choice.refresh_from_db()
    assert choice.fulfilment == Choice.Fulfilment.DELIVERED

    # The stale tab hands over again: refused, saying who did it and when.
    other.click("#handover")
    expect(other.locator("#error")).to_contain_text("gdv1")
    expect(other.locator("#handover")).to_have_count(0)
    screenshot(other, "4-second-refused")
    # The customer comes back with the same code: the page says it is done.
    page.goto(f"{live_server.url}/cua-hang/?q=hx4k7p")
    expect(page.locator("#handed-over")).to_be_visible()
    expect(page.locator("#handover")).to_have_count(0)
    assert Visit.objects.count() == 1


def test_district_head_visits_twice_and_hands_over_on_a_phone(
    live_server, phone_page, screenshot
):
    run = SelectionRunFactory()
    member = home_member(
        run, msisdn="84907778888", full_name="Đặng Văn Lực", district="Quận 1"
    )
    home_member(run, full_name="Ở quận khác", district="Quận 3")
    SubscriberFactory(
        snapshot=run.snapshot, msisdn="84907778888", record_standardized=True
    )
    survey = survey_for(run.campaign)
    first = survey.questions.first()
    posted("truong-q1", "TP Hồ Chí Minh", "Quận 1")
    page = phone_page

    _log_in(page, live_server, "truong-q1", "/tham-nha/")
    expect(page.locator("#visit-list tbody tr")).to_have_count(1)
    screenshot(page, "1-list")
    page.click(f"tr[data-msisdn='{member.msisdn}'] a")

    expect(page.locator("#record-standard")).to_have_class("ok")
    page.check("input[name=outcome][value=not_home]")
    screenshot(page, "2-not-home")
    page.click("#save-visit")
    expect(page.locator("#visits li")).to_have_count(1)

    page.check("input[name=outcome][value=met]")
    page.check("#id_gift_handed_over")
    page.check("#id_record_checked")
    page.fill("#id_packages_advised", "MAX200")
    page.check(f"input[name=q_{first.pk}][value='Rất hài lòng']")
    screenshot(page, "3-met")
    page.click("#save-visit")
    expect(page.locator("#handed-over")).to_be_visible()
    expect(page.locator("#visits li")).to_have_count(2)
    screenshot(page, "4-done")

    assert list(
        Visit.objects.filter(member=member)
        .order_by("id")
        .values_list("outcome", "gift_handed_over")
    ) == [("not_home", False), ("met", True)]
    page.click("text=←")
    expect(
        page.locator(f"tr[data-msisdn='{member.msisdn}'] .badge.done")
    ).to_be_visible()
