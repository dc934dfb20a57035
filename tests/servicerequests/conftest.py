import uuid

import pytest
from django.utils import translation

from campaigns import roles
from servicerequests import services
from servicerequests.models import Source
from tests.conftest import user_in_role
from tests.servicerequests.factories import (
    CAN_THO,
    VINH_LONG,
    field_staff,
    member,
    province_staff,
    sim_swap_campaign,
)


@pytest.fixture(autouse=True)
def _english():
    # Messages are asserted by their English msgids; the site itself speaks vi.
    with translation.override("en"):
        yield


@pytest.fixture(autouse=True)
def _own_cache_keys(settings):
    # The form's rate limit lives in the cache, a Redis other test runs share.
    settings.CACHES = {
        name: {**config, "KEY_PREFIX": f"sr-test-{uuid.uuid4().hex}"}
        for name, config in settings.CACHES.items()
    }


@pytest.fixture
def campaign_run(db):
    campaign, run = sim_swap_campaign()
    member(run, "84901000001", full_name="Nguyễn Văn An")
    member(run, "84901000002", list_name="Danh sách 2", full_name="Trần Thị Bình")
    member(run, "84901000003", district="Quận Ninh Kiều", phase=1)
    member(run, "84901000004", selected=False)
    member(run, "84901000005", province=VINH_LONG, district="Huyện Trà Ôn")
    member(run, "84901000006", full_name="Lê Văn Cường")
    member(run, "84901000007", full_name="Phạm Thị Dung")
    return campaign, run


@pytest.fixture
def campaign(campaign_run):
    return campaign_run[0]


@pytest.fixture
def agent(db):
    return user_in_role("dtv1", roles.CALL_AGENT)


@pytest.fixture
def other_agent(db):
    return user_in_role("dtv2", roles.CALL_AGENT)


@pytest.fixture
def can_tho_staff(db):
    return province_staff("tinh-ct", CAN_THO)


@pytest.fixture
def vinh_long_staff(db):
    return province_staff("tinh-vl", VINH_LONG)


@pytest.fixture
def field_a(db):
    return field_staff("td-a", CAN_THO, "Tây Đô")


@pytest.fixture
def field_b(db):
    return field_staff("td-b", CAN_THO, "Mê Kông")


@pytest.fixture
def field_vl(db):
    return field_staff("td-vl", VINH_LONG, "Tây Đô")


@pytest.fixture
def flow(campaign, agent, can_tho_staff):
    """Helpers that move a request through the steps with the real services."""

    class Flow:
        def register(self, msisdn, **kwargs):
            kwargs.setdefault("source", Source.WEB)
            return services.request_register(
                campaign=campaign, msisdn=msisdn, **kwargs
            )[0]

        def confirmed(self, msisdn, **kwargs):
            request = self.register(msisdn, **kwargs)
            services.requests_claim(agent=agent, limit=100)
            request.refresh_from_db()
            return services.request_confirm(
                request=request, actor=agent, outcome="confirmed"
            )

        def allocated(self, msisdn, field, **kwargs):
            request = self.confirmed(msisdn, **kwargs)
            services.requests_allocate(
                province=request.province,
                request_ids=[request.pk],
                field_staff=field,
                actor=can_tho_staff,
            )
            request.refresh_from_db()
            return request

        def visited(self, msisdn, field, serial, app=True, **kwargs):
            request = self.allocated(msisdn, field, **kwargs)
            return services.visit_record(
                request=request,
                actor=field,
                contacts_backed_up=True,
                sim_swapped=bool(serial),
                new_sim_serial=serial,
                app_installed=app,
                record_corrected=False,
                package_advised=False,
            )

    return Flow()
