from datetime import time

import pytest
from django.utils import translation

from messaging.backends import locmem
from tests.campaigns.factories import CampaignFactory
from tests.messaging.factories import MessageTemplateFactory, MessagingSettingsFactory

ALL_DAY = {"window_start": time(0, 0), "window_end": time(23, 59, 59, 999999)}


@pytest.fixture(autouse=True)
def _english():
    # Messages are asserted by their English msgids; the portal itself speaks vi.
    with translation.override("en"):
        yield


@pytest.fixture(autouse=True)
def _locmem_outbox():
    locmem.reset()
    yield
    locmem.reset()


@pytest.fixture
def campaign(db):
    """A campaign whose send window is the whole day, so tests pass at any hour."""
    campaign = CampaignFactory()
    MessagingSettingsFactory(campaign=campaign, **ALL_DAY)
    return campaign


@pytest.fixture
def invitation(campaign):
    return MessageTemplateFactory(campaign=campaign, exempt_from_do_not_contact=True)


@pytest.fixture
def zalo_template(campaign):
    return MessageTemplateFactory(
        campaign=campaign,
        purpose="zalo_record_update",
        channel="zalo",
        sender="MobiFone Miền Tây",
        body="Chào {name}, Quý khách có {points} điểm tích lũy.",
        strip_diacritics=False,
        max_segments=10,
        exempt_from_do_not_contact=True,
        zalo_template_id="250001",
    )


@pytest.fixture
def limiter(settings):
    from messaging.limiter import gateway_limiter

    limiter = gateway_limiter(rate=10_000, key=f"{settings.MESSAGING_RATE_KEY}:fast")
    limiter.reset()
    return limiter


@pytest.fixture(scope="session")
def kannel(live_server):
    """A real Kannel (bearerbox + smsbox + fakesmsc) for the whole session.

    Its MO get-url and the messages' dlr-urls point at the live server, so the
    gateway calls the portal back as in production.
    """
    from django.conf import settings

    from messaging import kannel_runner

    if not kannel_runner.installed():
        pytest.fail(
            "Kannel is needed: apt-get install kannel kannel-extras (make test does)"
        )
    runner = kannel_runner.LocalKannel(
        mo_url=f"{live_server.url}/messaging/gateway/kannel/mo/",
        token=settings.MESSAGING_GATEWAY_TOKEN,
    )
    runner.start()
    yield runner
    runner.stop()


@pytest.fixture
def kannel_settings(kannel, live_server, settings):
    settings.MESSAGING_KANNEL = kannel.backend_settings(live_server.url)
    return settings.MESSAGING_KANNEL


@pytest.fixture
def zns(settings):
    """A real HTTP server playing Zalo's ZNS API, and the settings that point at it."""
    from tests.messaging.zns_server import FakeZns

    server = FakeZns().start()
    settings.MESSAGING_ZALO = {
        **settings.MESSAGING_ZALO,
        "ZNS_URL": server.url,
        "ACCESS_TOKEN": "zns-test-token",
        "TIMEOUT": 2.0,
        "RATE_PER_SECOND": 1000.0,
    }
    yield server
    server.stop()


@pytest.fixture
def zalo_oauth(settings):
    """A real HTTP server playing Zalo's OAuth, and the app settings that point at it.

    It has issued one refresh token, `refresh-1`.
    """
    from tests.messaging.zns_server import FakeZaloOAuth

    server = FakeZaloOAuth().start()
    settings.MESSAGING_ZALO = {
        **settings.MESSAGING_ZALO,
        "APP_ID": "4321",
        "APP_SECRET": "app-secret-xyz",
        "OAUTH_URL": server.url,
        "TIMEOUT": 2.0,
    }
    yield server
    server.stop()
