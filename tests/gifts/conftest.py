import uuid

import pytest
from django.utils import translation


@pytest.fixture(autouse=True)
def _english():
    # Messages are asserted by their English msgids; the site itself speaks vi.
    with translation.override("en"):
        yield


@pytest.fixture(autouse=True)
def _own_cache_keys(settings):
    # Sessions, throttles and the alarm live in the cache, a Redis other test runs
    # share: each test gets keys of its own instead of clearing theirs.
    settings.CACHES = {
        name: {**config, "KEY_PREFIX": f"gifts-test-{uuid.uuid4().hex}"}
        for name, config in settings.CACHES.items()
    }


@pytest.fixture(autouse=True)
def _fresh_catalogue(settings):
    # Pages read the stock as the test just left it, not a copy a second old.
    settings.GIFTS_CATALOGUE_SECONDS = 0


@pytest.fixture
def sms(monkeypatch):
    """The invitation SMS handed to messaging, captured at gifts' one seam."""
    sent = []

    def capture(*, campaign, messages):
        sent.extend({"campaign": campaign, **message} for message in messages)

    monkeypatch.setattr("gifts.services._invitation_messages_enqueue", capture)
    return sent
