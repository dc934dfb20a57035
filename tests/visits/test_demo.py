import pytest

from campaigns.models import FulfilmentChannel
from tests.gifts.factories import (
    OpenCampaignFactory,
    SelectionMemberFactory,
    SelectionRunFactory,
)
from visits.demo import demo_load
from visits.models import StaffPost, Survey, Trip, TripInvitation

pytestmark = pytest.mark.django_db


def test_demo_posts_a_clerk_and_a_district_head_adds_a_survey_and_trips_once():
    run_001 = SelectionRunFactory(campaign=OpenCampaignFactory(code="001-muc-cuoc"))
    SelectionMemberFactory(
        run=run_001, channel=FulfilmentChannel.STORE_PICKUP, district="Quận 3"
    )
    SelectionMemberFactory(
        run=run_001, channel=FulfilmentChannel.HOME_VISIT, district="Quận 1"
    )
    run_004 = SelectionRunFactory(campaign=OpenCampaignFactory(code="004-du-lich"))
    for rank, selected in [(1, True), (2, True), (3, False)]:
        SelectionMemberFactory(
            run=run_004,
            rank=rank,
            selected=selected,
            company=1,
            cell="1, individual",
            list_name="Đoàn 1 (Hà Nội)",
        )
    said = []
    for _ in range(2):
        demo_load(say=said.append)

    clerk = StaffPost.objects.get(user__username="cuahang")
    assert clerk.store is not None and clerk.province == "TP Hồ Chí Minh"
    head = StaffPost.objects.get(user__username="truonghuyen")
    assert (head.province, head.district) == ("TP Hồ Chí Minh", "Quận 1")
    assert Survey.objects.get().questions.count() == 4
    trip = Trip.objects.get()
    assert trip.passport_required_through().isoformat() == "2020-06-30"
    statuses = sorted(TripInvitation.objects.values_list("status", flat=True))
    assert statuses == ["declined", "to_call", "to_call"]
    assert any("/cua-hang/" in line for line in said)
