import pytest
from django.test import Client
from django.utils import translation

from tests.gifts.factories import SelectionRunFactory
from tests.visits.factories import StoreFactory


@pytest.fixture
def run(db):
    return SelectionRunFactory()


@pytest.fixture
def hcm_store(db):
    return StoreFactory(code="hcm-q1", province="TP Hồ Chí Minh", district="Quận 1")


@pytest.fixture
def ct_store(db):
    return StoreFactory(code="ct-nk", province="Cần Thơ", district="Quận Ninh Kiều")


@pytest.fixture(autouse=True)
def _english():
    # Messages are asserted by their English msgids; the pages themselves speak vi.
    with translation.override("en"):
        yield


@pytest.fixture
def client():
    return Client(headers={"accept-language": "en"})
