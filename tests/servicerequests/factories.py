"""Programme 003 in miniature: a campaign, its frozen list, and scoped staff."""

from datetime import date

from campaigns import roles
from campaigns.models import (
    Campaign,
    CampaignKind,
    CampaignPhase,
    SelectionMember,
    SelectionRun,
)
from servicerequests import services
from tests.conftest import user_in_role
from tests.factories import SnapshotFactory

CAN_THO = "Cần Thơ"
VINH_LONG = "Vĩnh Long"


def sim_swap_campaign(*, code="003-test", run_status=SelectionRun.Status.APPROVED):
    """A running 003 campaign: phase 1 over (central districts), phase 2 running."""
    snapshot = SnapshotFactory()
    campaign = Campaign.objects.create(
        code=code,
        name="Đổi SIM 4G tại nhà",
        snapshot=snapshot,
        starts_on=date(2021, 3, 26),
        kind=CampaignKind.SIM_SWAP,
        status=(
            Campaign.Status.APPROVED
            if run_status == SelectionRun.Status.APPROVED
            else Campaign.Status.SELECTED
        ),
    )
    CampaignPhase.objects.create(
        campaign=campaign,
        number=1,
        starts_on=date(2021, 3, 26),
        ends_on=date(2021, 5, 31),
        districts=[{"province": CAN_THO, "district": "Quận Ninh Kiều"}],
    )
    CampaignPhase.objects.create(
        campaign=campaign, number=2, starts_on=date(2021, 6, 1), ends_on=None
    )
    run = SelectionRun.objects.create(
        campaign=campaign, number=1, snapshot=snapshot, status=run_status
    )
    return campaign, run


def member(
    run,
    msisdn,
    *,
    province=CAN_THO,
    district="Huyện Phong Điền",
    phase=2,
    list_name="Danh sách 1",
    selected=True,
    full_name="Nguyễn Văn An",
):
    rank = SelectionMember.objects.filter(run=run).count() + 1
    return SelectionMember.objects.create(
        run=run,
        msisdn=msisdn,
        selected=selected,
        rank=rank,
        cell_rank=rank,
        list_name=list_name,
        phase=phase,
        province=province,
        district=district,
        full_name=full_name,
    )


def province_staff(username, province):
    user = user_in_role(username, roles.PROVINCE_STAFF)
    services.staff_scope_set(user=user, province=province)
    return user


def field_staff(username, province, contractor):
    user = user_in_role(username, roles.FIELD_STAFF)
    services.staff_scope_set(user=user, province=province, contractor=contractor)
    return user
