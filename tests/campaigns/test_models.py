from datetime import date

import pytest
from django.db import IntegrityError

from campaigns.models import Campaign, CampaignPhase, ProvinceDistrict, find_overlap
from eligibility.models import DomainError
from tests.campaigns.factories import CampaignFactory, CampaignPhaseFactory

Status = Campaign.Status

HAPPY_PATH = [
    Status.SELECTING,
    Status.SELECTED,
    Status.APPROVED,
    Status.INVITING,
    Status.OPEN,
    Status.CLOSED,
    Status.FULFILLED,
    Status.DONE,
]


def test_the_whole_lifecycle_is_allowed_in_order():
    campaign = Campaign(code="x", status=Status.DRAFT)
    for status in HAPPY_PATH:
        campaign.move_to(status)
    assert campaign.status == Status.DONE


def test_every_status_has_its_moves_declared():
    assert set(Campaign.TRANSITIONS) == set(Status)


@pytest.mark.parametrize(
    ("current", "target"),
    [
        (Status.DRAFT, Status.APPROVED),
        (Status.DRAFT, Status.OPEN),
        (Status.SELECTED, Status.INVITING),
        (Status.OPEN, Status.DRAFT),
        (Status.OPEN, Status.CANCELLED),
        (Status.DONE, Status.DRAFT),
        (Status.CANCELLED, Status.DRAFT),
    ],
)
def test_illegal_move_raises_domain_error_naming_both_statuses(current, target):
    campaign = Campaign(code="x", status=current)
    with pytest.raises(DomainError) as error:
        campaign.move_to(target)
    message = str(error.value)
    assert str(Status(current).label) in message
    assert str(Status(target).label) in message
    assert campaign.status == current


def test_failed_selection_run_goes_back_to_draft():
    campaign = Campaign(code="x", status=Status.SELECTING)
    campaign.move_to(Status.DRAFT)
    assert campaign.status == Status.DRAFT


def test_unknown_status_is_refused():
    with pytest.raises(DomainError):
        Campaign(code="x").move_to("paused")


def test_allowed_moves_are_listed_in_lifecycle_order():
    campaign = Campaign(code="x", status=Status.SELECTED)
    assert campaign.allowed_moves() == [
        Status.DRAFT,
        Status.SELECTING,
        Status.APPROVED,
        Status.CANCELLED,
    ]


def test_only_a_draft_can_be_replaced():
    Campaign(code="x", status=Status.DRAFT).check_replaceable()
    with pytest.raises(DomainError):
        Campaign(code="x", status=Status.SELECTED).check_replaceable()


@pytest.mark.parametrize(
    ("spans", "expected"),
    [
        ([], None),
        ([(date(2021, 3, 26), date(2021, 5, 31)), (date(2021, 6, 1), None)], None),
        ([(date(2021, 6, 1), None), (date(2021, 3, 26), date(2021, 5, 31))], None),
        ([(date(2021, 3, 26), date(2021, 6, 1)), (date(2021, 6, 1), None)], (0, 1)),
        ([(date(2021, 6, 1), None), (date(2021, 3, 26), None)], (1, 0)),
    ],
)
def test_find_overlap(spans, expected):
    assert find_overlap(spans) == expected


def test_overlapping_phases_are_refused():
    phases = [
        CampaignPhase(number=1, starts_on=date(2021, 3, 26), ends_on=date(2021, 5, 31)),
        CampaignPhase(number=2, starts_on=date(2021, 5, 31), ends_on=None),
    ]
    with pytest.raises(DomainError, match="Phase 2 overlaps phase 1"):
        CampaignPhase.check_phases(phases)


def test_phase_ending_before_it_starts_is_refused():
    phase = CampaignPhase(
        number=1, starts_on=date(2021, 3, 26), ends_on=date(2021, 3, 1)
    )
    with pytest.raises(DomainError, match="ends before it starts"):
        CampaignPhase.check_phases([phase])


@pytest.mark.django_db
def test_database_refuses_a_phase_ending_before_it_starts():
    with pytest.raises(IntegrityError):
        CampaignPhaseFactory(starts_on=date(2021, 3, 26), ends_on=date(2021, 3, 1))


@pytest.mark.django_db
def test_database_refuses_an_unknown_status():
    campaign = CampaignFactory()
    with pytest.raises(IntegrityError):
        Campaign.objects.filter(pk=campaign.pk).update(status="paused")


@pytest.mark.django_db
def test_district_table_holds_programme_003_central_districts():
    central = ProvinceDistrict.objects.filter(is_central=True)
    assert central.count() == 25
    assert central.filter(province="Cần Thơ").count() == 4
    assert central.filter(province="Kiên Giang", district="Huyện Phú Quốc").exists()
    assert ProvinceDistrict.objects.filter(is_central=False).count() > 0
