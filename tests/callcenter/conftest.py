import pytest
from django.utils import translation


@pytest.fixture(autouse=True)
def _english():
    # Messages are asserted by their English msgids; the console itself speaks vi.
    with translation.override("en"):
        yield
