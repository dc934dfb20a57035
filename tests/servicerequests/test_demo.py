import pytest

from servicerequests import demo
from servicerequests.models import IvrScript, ServiceRequest, StaffScope

pytestmark = pytest.mark.django_db


def test_demo_loads_each_state_and_scoped_staff_once(campaign_run):
    campaign, run = campaign_run
    from tests.servicerequests.factories import member

    for index in range(10):
        member(run, f"8491200{index:04d}")
    demo.demo_load(say=lambda *args: None)
    statuses = set(campaign.service_requests.values_list("status", flat=True))
    assert statuses == {
        "new",
        "ineligible",
        "confirmed",
        "allocated",
        "completed",
        "cancelled",
    }
    assert IvrScript.objects.filter(campaign=campaign).exists()
    scopes = dict(StaffScope.objects.values_list("user__username", "province"))
    assert scopes["tinh"] == "Cần Thơ" and scopes["thucdia"] == "Cần Thơ"
    assert scopes["tinh2"] != "Cần Thơ"
    count = ServiceRequest.objects.count()
    demo.demo_load(say=lambda *args: None)
    assert ServiceRequest.objects.count() == count
