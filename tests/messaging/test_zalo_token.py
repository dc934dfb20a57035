"""The Zalo OA token pair: stored sealed, renewed once at a time, used by ZNS.

Zalo's OAuth is played by a real HTTP server (`zns_server.FakeZaloOAuth`) that takes
each refresh token once, as Zalo does; ZNS by `zns_server.FakeZns`.
"""

import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from messaging import services, tasks
from messaging.backends.zalo import zns_configured
from messaging.models import Message, MessagingEvent, ZaloOaToken
from tests.messaging.test_zalo import enqueue_zalo, zalo_run

TRANSACTIONAL = pytest.mark.django_db(transaction=True)


def store_pair(access_token="access-0", refresh_token="refresh-1", expires_in=None):
    token = services.zalo_oa_token_store(
        app_id="4321", access_token=access_token, refresh_token=refresh_token
    )
    if expires_in is not None:
        ZaloOaToken.objects.filter(pk=token.pk).update(
            expires_at=timezone.now() + expires_in
        )
    return ZaloOaToken.objects.get(pk=token.pk)


def raw_columns(token) -> bytes:
    """Every column of the token's row as PostgreSQL stores it, in one byte string."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM messaging_zalooatoken WHERE id = %s", [token.pk])
        row = cursor.fetchone()
    return b"|".join(
        bytes(value) if isinstance(value, memoryview) else str(value).encode()
        for value in row
    )


@pytest.mark.django_db
def test_refresh_posts_zalos_oauth_request(zalo_oauth):
    store_pair()

    assert services.zalo_oa_token_refresh() is True

    [request] = zalo_oauth.received
    assert request.path == "/v4/oa/access_token"
    assert request.headers["secret_key"] == "app-secret-xyz"
    assert request.headers["content-type"] == "application/x-www-form-urlencoded"
    assert request.body == {
        "refresh_token": "refresh-1",
        "app_id": "4321",
        "grant_type": "refresh_token",
    }


@pytest.mark.django_db
def test_refreshed_pair_is_stored_sealed_with_its_expiry(zalo_oauth):
    token = store_pair()
    before = timezone.now()

    services.zalo_oa_token_refresh()

    token.refresh_from_db()
    assert (token.access_token(), token.refresh_token()) == ("access-1", "refresh-2")
    assert (
        before + timedelta(seconds=90000)
        <= token.expires_at
        <= timezone.now() + timedelta(seconds=90000)
    )
    assert token.last_refresh_error == ""
    raw = raw_columns(token)
    assert b"access-1" not in raw
    assert b"refresh-2" not in raw
    assert MessagingEvent.objects.filter(kind="zalo_token_refreshed").count() == 1


@pytest.mark.django_db
def test_refused_refresh_keeps_the_old_pair_and_records_zalos_reason(zalo_oauth):
    token = store_pair(expires_in=timedelta(minutes=20))
    zalo_oauth.refuse(-14014, "Invalid refresh token", "Refresh token is expired")

    with pytest.raises(services.ZaloTokenRefreshFailed, match="-14014"):
        services.zalo_oa_token_refresh()

    token.refresh_from_db()
    assert (token.access_token(), token.refresh_token()) == ("access-0", "refresh-1")
    assert token.last_refresh_error == (
        "Zalo OAuth -14014 Invalid refresh token: Refresh token is expired"
    )
    assert token.last_refresh_attempt_at is not None
    assert token.refreshed_at is None


@TRANSACTIONAL
def test_two_workers_refreshing_at_once_spend_the_refresh_token_once(zalo_oauth):
    store_pair(expires_in=timedelta(minutes=5))
    # Zalo is slow to answer, so that the second worker asks while the first waits.
    zalo_oauth.delay = 0.5
    start = threading.Barrier(2)
    outcomes = []

    def worker():
        start.wait()
        try:
            outcomes.append(
                services.zalo_oa_token_refresh(due_within=timedelta(hours=1))
            )
        except Exception as exc:  # noqa: BLE001 - the test reports it
            outcomes.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert sorted(outcomes, key=str) == [False, True]
    assert zalo_oauth.uses == {"refresh-1": 1}
    token = ZaloOaToken.objects.get()
    assert (token.access_token(), token.refresh_token()) == ("access-1", "refresh-2")


@pytest.mark.django_db
def test_beat_refreshes_only_a_token_expiring_within_the_hour(zalo_oauth):
    token = store_pair(expires_in=timedelta(hours=2))

    assert tasks.zalo_token_refresh_due() == {"refreshed": False}
    assert zalo_oauth.received == []

    ZaloOaToken.objects.filter(pk=token.pk).update(
        expires_at=timezone.now() + timedelta(minutes=50)
    )
    assert tasks.zalo_token_refresh_due() == {"refreshed": True}
    assert zalo_oauth.uses == {"refresh-1": 1}
    token.refresh_from_db()
    assert token.access_token() == "access-1"


@pytest.mark.django_db
def test_beat_does_nothing_without_app_credentials_or_stored_token(settings):
    assert tasks.zalo_token_refresh_due() == {"refreshed": False}


def test_beat_schedules_the_token_refresh(settings):
    entries = [
        entry
        for entry in settings.CELERY_BEAT_SCHEDULE.values()
        if entry["task"] == "messaging.zalo_token_refresh_due"
    ]
    assert len(entries) == 1
    # Often enough that an hour's margin leaves several tries before expiry.
    assert entries[0]["schedule"] <= 15 * 60


@TRANSACTIONAL
def test_zns_sends_with_the_stored_token_rather_than_the_setting(
    zalo_template,
    zns,
    zalo_oauth,
    limiter,
):
    store_pair(access_token="stored-access", expires_in=timedelta(hours=20))
    enqueue_zalo(zalo_template.campaign)

    assert zalo_run(limiter).submitted == 1

    assert [r.headers["access_token"] for r in zns.received] == ["stored-access"]
    assert zalo_oauth.received == []


@TRANSACTIONAL
def test_stored_token_alone_configures_zns(zalo_oauth, settings):
    assert settings.MESSAGING_ZALO["ACCESS_TOKEN"] == ""
    assert not zns_configured()
    store_pair()
    assert zns_configured()


@TRANSACTIONAL
def test_zns_sends_with_the_refreshed_token(zalo_template, zns, zalo_oauth, limiter):
    store_pair(expires_in=timedelta(minutes=10))
    tasks.zalo_token_refresh_due()
    enqueue_zalo(zalo_template.campaign)

    assert zalo_run(limiter).submitted == 1

    assert [r.headers["access_token"] for r in zns.received] == ["access-1"]


@TRANSACTIONAL
def test_expired_token_at_zns_is_refreshed_once_and_the_message_sent_once_more(
    zalo_template,
    zns,
    zalo_oauth,
    limiter,
):
    store_pair(expires_in=timedelta(hours=20))
    message = enqueue_zalo(zalo_template.campaign)
    zns.answer_error(-124, "Access token is invalid")

    result = zalo_run(limiter)

    assert result.submitted == 1
    assert [r.headers["access_token"] for r in zns.received] == [
        "access-0",
        "access-1",
    ]
    assert zns.tracking_ids() == [str(message.pk)] * 2
    assert zalo_oauth.uses == {"refresh-1": 1}
    message.refresh_from_db()
    assert (message.status, message.gateway_message_id) == ("submitted", "zns-msg-1")


class CountingLimiter:
    """The run's real limiter, counting the tokens it hands out."""

    def __init__(self, inner):
        self.inner = inner
        self.taken = 0
        self.most_at_once = inner.most_at_once

    def acquire(self, count=1, *, should_stop=None):
        granted = self.inner.acquire(count, should_stop=should_stop)
        if granted:
            self.taken += count
        return granted


@TRANSACTIONAL
def test_the_send_after_a_token_refresh_takes_its_own_rate_token(
    zalo_template, zns, zalo_oauth, limiter
):
    store_pair(expires_in=timedelta(hours=20))
    enqueue_zalo(zalo_template.campaign)
    zns.answer_error(-124, "Access token is invalid")
    counting = CountingLimiter(limiter)

    assert zalo_run(counting).submitted == 1

    # Two requests reached Zalo, and the rate cap counted both.
    assert len(zns.received) == 2
    assert counting.taken == 2


@TRANSACTIONAL
def test_expired_token_with_a_refused_refresh_holds_the_batch(
    zalo_template,
    zns,
    zalo_oauth,
    limiter,
    settings,
):
    settings.MESSAGING_ZALO = {**settings.MESSAGING_ZALO, "POOL_SIZE": 1}
    store_pair(expires_in=timedelta(hours=20))
    first, second = (
        enqueue_zalo(zalo_template.campaign, msisdn=f"090100000{n}") for n in (1, 2)
    )
    zns.answer_error(-124, "Access token is invalid")
    zalo_oauth.refuse(-14014, "Invalid refresh token", "Refresh token is expired")

    result = zalo_run(limiter, max_seconds=0.5)

    assert result.submitted == 0
    assert len(zns.received) == 1
    assert zalo_oauth.uses == {"refresh-1": 1}
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, first.attempts) == ("queued", 1)
    assert first.last_error.startswith("Zalo ZNS -124: Access token is invalid")
    assert "token refresh failed: Zalo OAuth -14014" in first.last_error
    assert (second.status, second.attempts) == ("queued", 0)
    token = ZaloOaToken.objects.get()
    assert (token.access_token(), token.refresh_token()) == ("access-0", "refresh-1")
    assert token.last_refresh_error.startswith("Zalo OAuth -14014")
    assert Message.objects.filter(status="submitted").count() == 0


@pytest.fixture
def admin_client_for(client):
    def login(user):
        client.force_login(user)
        return client

    return login


@pytest.mark.django_db
def test_admin_never_shows_the_token_values(zalo_oauth, care_staff, admin_client_for):
    token = store_pair(access_token="access-visible-0", refresh_token="refresh-1")
    zalo_oauth.refuse(-14014, "Invalid refresh token", "Refresh token is expired")
    with pytest.raises(services.ZaloTokenRefreshFailed):
        services.zalo_oa_token_refresh()
    client = admin_client_for(care_staff)

    page = client.get(reverse("admin:messaging_zalooatoken_change", args=[token.pk]))
    listing = client.get(reverse("admin:messaging_zalooatoken_changelist"))

    assert page.status_code == listing.status_code == 200
    for response in (page, listing):
        assert b"access-visible-0" not in response.content
        assert b"refresh-1" not in response.content
    text = page.content.decode()
    assert "Refresh token is expired" in text
    assert 'name="new_refresh_token"' in text


@pytest.mark.django_db
def test_admin_stores_a_first_refresh_token_and_renews_the_pair(
    zalo_oauth, care_staff, admin_client_for
):
    client = admin_client_for(care_staff)

    response = client.post(
        reverse("admin:messaging_zalooatoken_add"),
        {"app_id": "4321", "new_access_token": "", "new_refresh_token": "refresh-1"},
    )

    assert response.status_code == 302
    token = ZaloOaToken.objects.get()
    assert (token.access_token(), token.refresh_token()) == ("access-1", "refresh-2")
    assert token.expires_at is not None


@pytest.mark.django_db
def test_admin_token_page_needs_the_change_permission(admin_client_for):
    from django.contrib.auth.models import Permission

    from tests.factories import UserFactory

    reader = UserFactory(username="reader", is_staff=True)
    reader.user_permissions.add(Permission.objects.get(codename="view_zalooatoken"))
    token = services.zalo_oa_token_store(app_id="4321", refresh_token="refresh-1")
    client = admin_client_for(reader)

    response = client.get(
        reverse("admin:messaging_zalooatoken_change", args=[token.pk])
    )

    assert response.status_code == 403


@pytest.mark.django_db
def test_command_shows_the_expiry_and_refreshes_only_with_commit(zalo_oauth):
    from io import StringIO

    from django.core.management import call_command

    store_pair(expires_in=timedelta(hours=2))
    out = StringIO()

    call_command("zalo_token_refresh", stdout=out)
    assert zalo_oauth.received == []
    assert "Would refresh" in out.getvalue()

    call_command("zalo_token_refresh", "--commit", stdout=out)
    assert zalo_oauth.uses == {"refresh-1": 1}
    assert "Refreshed" in out.getvalue()
    assert "access-1" not in out.getvalue()


@pytest.mark.django_db
def test_every_admin_page_warns_token_keepers_when_zalo_refuses_the_refresh(
    zalo_oauth, care_staff, admin_client_for, caplog
):
    from datetime import datetime
    from zoneinfo import ZoneInfo

    token = store_pair(expires_in=timedelta(minutes=40))
    expires = datetime(2026, 12, 5, 23, 45, tzinfo=ZoneInfo("Asia/Ho_Chi_Minh"))
    ZaloOaToken.objects.filter(pk=token.pk).update(expires_at=expires)
    client = admin_client_for(care_staff)
    assert "zalo-token-alert" not in client.get(reverse("admin:index")).text

    zalo_oauth.refuse(-14014, "Invalid refresh token", "Refresh token is expired")
    with caplog.at_level("ERROR", logger="messaging.services"):
        with pytest.raises(services.ZaloTokenRefreshFailed):
            services.zalo_oa_token_refresh()
    index = client.get(reverse("admin:index"), HTTP_ACCEPT_LANGUAGE="vi")
    elsewhere = client.get(reverse("admin:messaging_message_changelist"))

    alert = index.text[index.text.index('id="zalo-token-alert"') :]
    assert "Không gia hạn được token Zalo OA" in alert
    assert "Refresh token is expired" in alert
    assert "23:45 05/12/2026" in alert  # local time, dd/mm/yyyy
    assert reverse("admin:messaging_zalooatoken_change", args=[token.pk]) in alert
    assert "zalo-token-alert" in elsewhere.text
    assert "Refresh token is expired" in caplog.text

    # Staff enter a new pair; it is renewed at once and the warning goes.
    client.post(
        reverse("admin:messaging_zalooatoken_change", args=[token.pk]),
        {"new_access_token": "", "new_refresh_token": "refresh-1"},
    )
    assert "zalo-token-alert" not in client.get(reverse("admin:index")).text


@pytest.mark.django_db
def test_an_expired_token_is_announced_and_only_to_those_who_can_replace_it(
    zalo_oauth, care_staff, admin_client_for
):
    from tests.factories import UserFactory

    store_pair(expires_in=-timedelta(minutes=5))
    outsider = UserFactory(username="outsider", is_staff=True)

    keeper_page = admin_client_for(care_staff).get(
        reverse("admin:index"), HTTP_ACCEPT_LANGUAGE="en"
    )
    outsider_page = admin_client_for(outsider).get(reverse("admin:index"))

    assert "The Zalo OA access token expired at" in keeper_page.text
    assert "Zalo messages wait" in keeper_page.text
    assert outsider_page.status_code == 200
    assert "zalo-token-alert" not in outsider_page.text
