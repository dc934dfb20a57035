"""The customer site through Django's test client, in English (the msgids)."""

import time
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.cache import cache
from django.test import Client
from django.utils import timezone

from campaigns import roles
from gifts import services
from gifts.models import Choice, GiftKind, GiftStock, Invitation
from tests.conftest import user_in_role
from tests.gifts.factories import (
    PASSWORD,
    GiftSettingsFactory,
    OpenCampaignFactory,
    StoreFactory,
    gift_with_stock,
    invitation_in,
)

pytestmark = pytest.mark.django_db

LOGIN, CATALOGUE, CONFIRMATION, ENDED = (
    "/qua/",
    "/qua/qua-tang/",
    "/qua/xac-nhan/",
    "/qua/ket-thuc/",
)
WRONG = "The phone number or the password is not right."


@pytest.fixture
def client():
    return Client(headers={"accept-language": "en"})


@pytest.fixture
def invitation():
    return invitation_in(
        OpenCampaignFactory(), msisdn="84901234567", full_name="Lê Thị Bình"
    )


def _login(client, phone="0901234567", password=PASSWORD):
    client.get(LOGIN)
    return client.post(LOGIN, {"phone": phone, "password": password})


def _choose_url(gift):
    return f"/qua/chon/{gift.pk}/"


def _address(revision=0, **extra):
    return {
        "revision": revision,
        "recipient_name": "Lê Thị Bình",
        "address": "12 Lê Lợi, P. Bến Nghé, Quận 1",
        **extra,
    }


@pytest.mark.parametrize(
    "phone",
    [
        "0901234567",
        "090 123 4567",
        "090.123.4567",
        "+84 90 123 4567",
        "84901234567",
        "901234567",
    ],
)
def test_login_accepts_the_number_as_people_write_it(client, invitation, phone):
    response = _login(client, phone=phone, password=PASSWORD.lower())
    assert response.status_code == 302 and response.url == CATALOGUE
    assert settings.GIFTS_SESSION_COOKIE_NAME in response.cookies


def test_unknown_number_and_wrong_password_read_the_same(client, invitation):
    wrong = _login(client, password="XXXXXX")
    unknown = _login(client, phone="0909999999", password=PASSWORD)
    assert wrong.status_code == unknown.status_code == 401
    assert WRONG in wrong.content.decode() and WRONG in unknown.content.decode()


def test_five_wrong_passwords_lock_and_the_page_says_until_when(client, invitation):
    for _ in range(5):
        assert _login(client, password="XXXXXX").status_code == 401
    response = _login(client)
    assert response.status_code == 401
    assert "Too many wrong passwords" in response.content.decode()


def test_an_address_past_its_failures_is_throttled_for_a_minute_not_locked(
    client, invitation, settings
):
    settings.GIFTS_IP_FAILURES_PER_MINUTE = 3
    for index in range(3):
        _login(client, phone=f"090999999{index}", password="XXXXXX")
    response = _login(client)
    assert response.status_code == 429
    assert "wait a minute" in response.content.decode()
    # A customer behind another address is not affected.
    other = Client(headers={"accept-language": "en"}, REMOTE_ADDR="10.0.0.2")
    assert _login(other).status_code == 302


def test_catalogue_lists_the_tiers_gifts_and_marks_those_gone(client):
    campaign = OpenCampaignFactory()
    invitation_in(campaign, msisdn="84901234567", gift_tier="nhom-2")
    gift_with_stock(campaign, name="Hộp hút chân không", tiers=["nhom-2"])
    gift_with_stock(campaign, name="Ô gấp hai", tiers=["nhom-2"], units=0)
    gift_with_stock(campaign, name="Vali kéo", tiers=["nhom-1"])
    _login(client)
    page = client.get(CATALOGUE).content.decode()
    assert "Hộp hút chân không" in page and "Ô gấp hai" in page
    assert "Vali kéo" not in page
    assert page.count("All gone") == 1
    deadline = services.deadline_text(Invitation.objects.get().deadline)
    assert f"Choose one gift before {deadline}" in page


def test_pages_need_a_login(client):
    for url in [CATALOGUE, CONFIRMATION, ENDED, "/qua/chon/1/"]:
        response = client.get(url)
        assert response.status_code == 302 and response.url == LOGIN


def test_choose_with_address_then_confirmation_then_change(client, invitation):
    first = gift_with_stock(invitation.campaign, name="Nồi cơm điện")
    second = gift_with_stock(invitation.campaign, name="Bộ nồi inox")
    _login(client)
    form = client.get(_choose_url(first)).content.decode()
    assert 'name="address"' in form and 'value="Lê Thị Bình"' in form

    response = client.post(_choose_url(first), _address())
    assert response.status_code == 302 and response.url == CONFIRMATION
    page = client.get(CONFIRMATION).content.decode()
    choice = Choice.objects.get()
    assert "Nồi cơm điện" in page and choice.code in page
    assert "Change my choice" in page

    response = client.post(_choose_url(second), _address(revision=1))
    assert response.url == CONFIRMATION
    choice.refresh_from_db()
    assert choice.gift == second
    assert GiftStock.objects.get(gift=first).remaining == 10


def test_store_pickup_lists_the_districts_stores_only(client, invitation):
    here = StoreFactory(name="CH Quận 1", district="Quận 1")
    StoreFactory(name="CH Quận 7", district="Quận 7")
    gift = gift_with_stock(invitation.campaign, kind=GiftKind.STORE_PICKUP)
    _login(client)
    form = client.get(_choose_url(gift)).content.decode()
    assert "CH Quận 1" in form and "CH Quận 7" not in form
    response = client.post(_choose_url(gift), {"revision": 0, "store": here.pk})
    assert response.url == CONFIRMATION
    assert "CH Quận 1" in client.get(CONFIRMATION).content.decode()


def test_insurance_asks_for_the_vehicle_registration(client, invitation):
    gift = gift_with_stock(
        invitation.campaign,
        kind=GiftKind.INSURANCE,
        extra_details=["vehicle_registration"],
    )
    _login(client)
    assert (
        "Vehicle registration number" in client.get(_choose_url(gift)).content.decode()
    )
    assert client.post(_choose_url(gift), {"revision": 0}).status_code == 400
    client.post(
        _choose_url(gift), {"revision": 0, "extra_vehicle_registration": "59-X1 123.45"}
    )
    assert Choice.objects.get().details == {"vehicle_registration": "59-X1 123.45"}


def test_gift_of_another_tier_is_not_found_and_nothing_changes(client):
    campaign = OpenCampaignFactory()
    invitation_in(campaign, msisdn="84901234567", gift_tier="nhom-2")
    other = gift_with_stock(campaign, tiers=["nhom-1"])
    _login(client)
    assert client.post(_choose_url(other), _address()).status_code == 404
    assert not Choice.objects.exists()
    assert GiftStock.objects.get(gift=other).remaining == 10


def test_out_of_stock_says_all_gone_and_changes_nothing(client, invitation):
    gift = gift_with_stock(invitation.campaign, units=1)
    _login(client)
    form_page = client.get(_choose_url(gift))
    assert form_page.status_code == 200
    GiftStock.objects.filter(gift=gift).update(remaining=0)
    response = client.post(_choose_url(gift), _address())
    assert response.status_code == 409
    assert "is all gone" in response.content.decode()
    assert not Choice.objects.exists()


def test_second_tab_is_refused_and_shows_the_recorded_choice(client, invitation):
    first = gift_with_stock(invitation.campaign, name="Nồi cơm điện")
    second = gift_with_stock(invitation.campaign, name="Bộ nồi inox")
    _login(client)
    client.post(_choose_url(first), _address(revision=0))
    response = client.post(_choose_url(second), _address(revision=0))
    assert response.status_code == 409
    page = response.content.decode()
    assert "another window" in page and "Nồi cơm điện" in page
    assert Choice.objects.get().gift == first


def test_forged_revision_or_store_is_refused(client, invitation):
    gift = gift_with_stock(invitation.campaign, kind=GiftKind.STORE_PICKUP)
    StoreFactory(district="Quận 1")
    far = StoreFactory(district="Quận 7")
    _login(client)
    assert (
        client.post(_choose_url(gift), {"revision": 0, "store": far.pk}).status_code
        == 400
    )
    assert client.post(_choose_url(gift), {"revision": "abc"}).status_code == 400
    assert not Choice.objects.exists()


def test_without_csrf_token_the_choice_is_refused(invitation):
    client = Client(enforce_csrf_checks=True, headers={"accept-language": "en"})
    gift = gift_with_stock(invitation.campaign)
    page = client.get(LOGIN)
    token = page.cookies["csrftoken"].value
    client.post(
        LOGIN,
        {"phone": "0901234567", "password": PASSWORD, "csrfmiddlewaretoken": token},
    )
    assert client.post(_choose_url(gift), _address()).status_code == 403
    assert not Choice.objects.exists()


def test_after_the_deadline_the_choice_and_its_delivery_are_shown(client, invitation):
    gift = gift_with_stock(invitation.campaign, name="Nồi cơm điện")
    _login(client)
    client.post(_choose_url(gift), _address())
    Invitation.objects.filter(pk=invitation.pk).update(
        deadline=timezone.now() - timedelta(minutes=1)
    )
    response = client.get(CATALOGUE)
    assert response.url == ENDED
    page = client.get(ENDED).content.decode()
    assert "Nồi cơm điện" in page and "being prepared" in page
    assert client.post(_choose_url(gift), _address(revision=1)).url == ENDED


def test_after_the_deadline_without_a_choice_the_offer_has_ended(client, invitation):
    Invitation.objects.filter(pk=invitation.pk).update(
        deadline=timezone.now() - timedelta(seconds=1)
    )
    _login(client)
    page = client.get(ENDED).content.decode()
    assert "The offer has ended" in page


def test_change_is_not_offered_when_the_campaign_forbids_it(client, invitation):
    GiftSettingsFactory(campaign=invitation.campaign, allow_change=False)
    first = gift_with_stock(invitation.campaign)
    second = gift_with_stock(invitation.campaign)
    _login(client)
    client.post(_choose_url(first), _address())
    assert "Change my choice" not in client.get(CONFIRMATION).content.decode()
    response = client.post(_choose_url(second), _address(revision=1))
    assert response.status_code == 409
    assert "cannot be changed" in response.content.decode()


def test_logout_ends_the_session(client, invitation):
    _login(client)
    client.post("/qua/dang-xuat/")
    assert client.get(CATALOGUE).url == LOGIN


def test_session_ends_after_the_absolute_limit(client, invitation):
    _login(client)
    key = f"gifts:session:{client.cookies[settings.GIFTS_SESSION_COOKIE_NAME].value}"
    data = cache.get(key)
    data["started"] = int(time.time()) - settings.GIFTS_SESSION_MAX_SECONDS - 1
    cache.set(key, data)
    assert client.get(CATALOGUE).url == LOGIN


def test_session_lives_in_the_cache_with_the_idle_limit(client, invitation):
    from django.contrib.sessions.models import Session

    _login(client)
    key = f"gifts:session:{client.cookies[settings.GIFTS_SESSION_COOKIE_NAME].value}"
    ttl = cache._cache.get_client(key).ttl(cache.make_and_validate_key(key))
    assert (
        settings.GIFTS_SESSION_IDLE_SECONDS - 5
        <= ttl
        <= settings.GIFTS_SESSION_IDLE_SECONDS
    )
    assert not Session.objects.exists()
    cache.delete(key)  # what the cache does after the idle time
    assert client.get(CATALOGUE).url == LOGIN


# --- Staff screens ---------------------------------------------------------------------


def test_staff_see_invitations_without_any_password(invitation):
    user_in_role("cskh", roles.CARE_STAFF)
    client = Client(headers={"accept-language": "en"})
    client.login(username="cskh", password="pass-1234")
    page = client.get(
        f"/admin/gifts/invitation/{invitation.pk}/change/"
    ).content.decode()
    assert invitation.msisdn in page
    assert invitation.password_hash not in page
    assert "password_hash" not in page


def test_gift_admin_screens_need_the_permission(invitation):
    user_in_role("dtv", roles.CALL_AGENT)
    client = Client(headers={"accept-language": "en"})
    client.login(username="dtv", password="pass-1234")
    for url in [
        "/admin/gifts/invitation/",
        "/admin/gifts/gift/",
        "/admin/gifts/giftstock/",
        "/admin/gifts/store/",
        "/admin/gifts/choice/",
        "/admin/gifts/invitablerun/",
        f"/admin/gifts/invitation/{invitation.pk}/change/",
    ]:
        assert client.get(url).status_code == 403, url


def test_failed_login_alarm_shows_on_the_staff_screens(client, invitation, settings):
    settings.GIFTS_FAILURE_ALARM_PER_MINUTE = 3
    for _ in range(3):
        _login(client, phone="0909999999", password="XXXXXX")
    user_in_role("cskh", roles.CARE_STAFF)
    staff = Client(headers={"accept-language": "en"})
    staff.login(username="cskh", password="pass-1234")
    page = staff.get("/admin/gifts/invitation/").content.decode()
    assert "failed logins on the gift site" in page


def test_staff_unlock_an_invitation(invitation):
    Invitation.objects.filter(pk=invitation.pk).update(
        failed_attempts=5, locked_until=timezone.now() + timedelta(hours=1)
    )
    user_in_role("cskh", roles.CARE_STAFF)
    staff = Client(headers={"accept-language": "en"})
    staff.login(username="cskh", password="pass-1234")
    staff.post(
        "/admin/gifts/invitation/",
        {"action": "unlock", "_selected_action": [invitation.pk]},
    )
    invitation.refresh_from_db()
    assert (invitation.failed_attempts, invitation.locked_until) == (0, None)
    assert invitation.events.filter(kind="unlocked").exists()


def test_staff_send_invitations_for_an_approved_run(sms):
    from tests.gifts.factories import SelectionMemberFactory, SelectionRunFactory

    run = SelectionRunFactory()
    SelectionMemberFactory.create_batch(2, run=run)
    user_in_role("cskh", roles.CARE_STAFF)
    staff = Client(headers={"accept-language": "en"})
    staff.login(username="cskh", password="pass-1234")
    response = staff.post(
        "/admin/gifts/invitablerun/",
        {"action": "send_invitations", "_selected_action": [run.pk]},
        follow=True,
    )
    assert "2 invitations created" in response.content.decode()
    assert Invitation.objects.filter(run=run).count() == 2 and len(sms) == 2


def test_staff_raising_a_stock_total_keeps_the_units_taken(invitation):
    gift = gift_with_stock(invitation.campaign, units=5)
    stock = GiftStock.objects.get(gift=gift)
    GiftStock.objects.filter(pk=stock.pk).update(remaining=3)  # two taken
    user_in_role("cskh", roles.CARE_STAFF)
    staff = Client(headers={"accept-language": "en"})
    staff.login(username="cskh", password="pass-1234")
    response = staff.post(
        f"/admin/gifts/giftstock/{stock.pk}/change/",
        {"gift": gift.pk, "tier": "", "province": "", "total": 8},
    )
    assert response.status_code == 302
    stock.refresh_from_db()
    assert (stock.total, stock.remaining) == (8, 6)
