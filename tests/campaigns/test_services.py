import threading
from datetime import date

import pytest
from django.db import connection

from campaigns import services
from campaigns.models import Campaign, CampaignEvent
from eligibility.models import DomainError
from tests.campaigns.factories import (
    CampaignBatchFactory,
    CampaignFactory,
    CampaignPhaseFactory,
)
from tests.factories import SnapshotFactory, UserFactory

pytestmark = pytest.mark.django_db
Status = Campaign.Status
Kind = CampaignEvent.Kind


@pytest.fixture
def staff():
    return UserFactory(username="cskh")


def test_create_makes_a_draft_and_records_who_created_it(staff):
    campaign = services.campaign_create(
        code="000-lau-nam-hcm",
        name="Tri ân thuê bao lâu năm",
        actor=staff,
        until_gifts_run_out=True,
        region_scope=["TP Hồ Chí Minh"],
    )
    assert campaign.status == Status.DRAFT
    assert campaign.region_scope == ["TP Hồ Chí Minh"]
    event = campaign.events.get()
    assert (event.kind, event.actor) == (Kind.CREATED, staff)


def test_create_refuses_a_code_already_used():
    CampaignFactory(code="taken")
    with pytest.raises(DomainError, match="already exists"):
        services.campaign_create(code="taken", name="Again")


def test_create_refuses_an_end_before_the_start():
    with pytest.raises(DomainError, match="end before it starts"):
        services.campaign_create(
            code="x", name="X", starts_on=date(2022, 12, 1), ends_on=date(2022, 11, 1)
        )
    assert not Campaign.objects.exists()


def test_legal_transition_moves_and_records_from_to_and_who(staff):
    campaign = CampaignFactory()
    services.campaign_transition(
        campaign=campaign, to_status=Status.SELECTING, actor=staff
    )
    campaign.refresh_from_db()
    assert campaign.status == Status.SELECTING
    event = campaign.events.get()
    assert event.kind == Kind.STATUS_CHANGED
    assert event.data == {"from": "draft", "to": "selecting"}
    assert event.actor == staff


def test_the_whole_lifecycle_leaves_one_event_per_move(staff):
    campaign = CampaignFactory()
    path = ["selecting", "selected", "approved", "inviting", "open", "closed"]
    for status in [*path, "fulfilled", "done"]:
        services.campaign_transition(campaign=campaign, to_status=status, actor=staff)
    assert campaign.status == Status.DONE
    moves = [(e.data["from"], e.data["to"]) for e in campaign.events.all()]
    assert moves[0] == ("draft", "selecting")
    assert moves[-1] == ("fulfilled", "done")
    assert len(moves) == 8


def test_illegal_transition_is_refused_and_writes_nothing(staff):
    campaign = CampaignFactory()
    with pytest.raises(DomainError, match="cannot become"):
        services.campaign_transition(
            campaign=campaign, to_status=Status.OPEN, actor=staff
        )
    campaign.refresh_from_db()
    assert campaign.status == Status.DRAFT
    assert not campaign.events.exists()


def test_transition_checks_the_stored_status_not_a_stale_copy(staff):
    campaign = CampaignFactory()
    stale = Campaign.objects.get(pk=campaign.pk)
    services.campaign_transition(campaign=campaign, to_status=Status.SELECTING)
    with pytest.raises(DomainError):
        # The stale copy still says draft; the locked row says selecting.
        services.campaign_transition(campaign=stale, to_status=Status.SELECTING)
    assert campaign.events.count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_people_moving_at_once_make_only_one_move():
    campaign = CampaignFactory()
    barrier = threading.Barrier(2)
    outcomes = []

    def move():
        try:
            barrier.wait()
            services.campaign_transition(campaign=campaign, to_status=Status.SELECTING)
            outcomes.append("moved")
        except DomainError:
            outcomes.append("refused")
        finally:
            connection.close()

    threads = [threading.Thread(target=move) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["moved", "refused"]
    assert CampaignEvent.objects.filter(campaign=campaign).count() == 1


def test_update_records_each_changed_field_with_old_and_new(staff):
    campaign = CampaignFactory(name="Old", ends_on=date(2022, 12, 31))
    changes = services.campaign_update(
        campaign=campaign,
        actor=staff,
        data={"name": "New", "ends_on": date(2023, 1, 15), "owning_unit": "P.CSKH"},
    )
    assert changes == {
        "name": ["Old", "New"],
        "ends_on": ["2022-12-31", "2023-01-15"],
    }
    campaign.refresh_from_db()
    assert campaign.name == "New"
    event = campaign.events.get()
    assert (event.kind, event.actor) == (Kind.UPDATED, staff)
    assert event.data == {"changed": changes}


def test_update_without_changes_writes_no_event():
    campaign = CampaignFactory(name="Same")
    assert services.campaign_update(campaign=campaign, data={"name": "Same"}) == {}
    assert not campaign.events.exists()


def test_update_refuses_status_and_code():
    campaign = CampaignFactory()
    with pytest.raises(DomainError, match="cannot be changed here: code, status"):
        services.campaign_update(
            campaign=campaign, data={"status": "open", "code": "other"}
        )


def test_update_refuses_a_new_snapshot_once_selection_started():
    campaign = CampaignFactory(status=Status.SELECTED, snapshot=SnapshotFactory())
    with pytest.raises(DomainError, match="only change while it is a draft"):
        services.campaign_update(
            campaign=campaign, data={"snapshot": SnapshotFactory()}
        )
    assert not campaign.events.exists()


def test_update_refuses_an_end_before_the_start():
    campaign = CampaignFactory(starts_on=date(2022, 11, 10))
    with pytest.raises(DomainError):
        services.campaign_update(campaign=campaign, data={"ends_on": date(2022, 1, 1)})
    campaign.refresh_from_db()
    assert campaign.ends_on == date(2022, 12, 31)


def test_copy_is_a_draft_without_snapshot_with_phases_and_batches(staff):
    source = CampaignFactory(
        status=Status.DONE,
        snapshot=SnapshotFactory(),
        until_gifts_run_out=True,
        region_scope=["Cần Thơ"],
    )
    CampaignPhaseFactory(campaign=source, number=1)
    CampaignPhaseFactory(
        campaign=source, number=2, starts_on=date(2021, 6, 1), ends_on=None
    )
    for number in range(1, 5):
        CampaignBatchFactory(campaign=source, number=number)

    copy = services.campaign_copy(campaign=source, new_code="copy-1", actor=staff)

    assert copy.status == Status.DRAFT
    assert copy.snapshot is None
    assert (copy.name, copy.until_gifts_run_out, copy.region_scope) == (
        source.name,
        True,
        ["Cần Thơ"],
    )
    assert [
        (p.number, p.starts_on, p.ends_on, p.districts) for p in copy.phases.all()
    ] == [(p.number, p.starts_on, p.ends_on, p.districts) for p in source.phases.all()]
    assert list(copy.batches.values_list("number", flat=True)) == [1, 2, 3, 4]
    assert source.phases.count() == 2
    event = copy.events.get()
    assert event.kind == Kind.COPIED
    assert event.data["source"] == source.code
    assert event.actor == staff


def test_copy_refuses_a_code_already_used():
    source = CampaignFactory()
    with pytest.raises(DomainError):
        services.campaign_copy(campaign=source, new_code=source.code)
