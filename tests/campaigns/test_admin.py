from datetime import date

import pytest
from django.urls import reverse

from campaigns.models import Campaign, CampaignEvent
from tests.campaigns.factories import CampaignFactory, CampaignPhaseFactory

pytestmark = pytest.mark.django_db
Kind = CampaignEvent.Kind


def _change_data(campaign, **overrides):
    data = {
        "name": campaign.name,
        "owning_unit": campaign.owning_unit,
        "description": campaign.description,
        "snapshot": "",
        "starts_on": campaign.starts_on.isoformat() if campaign.starts_on else "",
        "ends_on": campaign.ends_on.isoformat() if campaign.ends_on else "",
        "region_scope": "[]",
        "status": "open",
    }
    for prefix in ("phases", "batches", "events"):
        data |= {
            f"{prefix}-TOTAL_FORMS": "0",
            f"{prefix}-INITIAL_FORMS": "0",
            f"{prefix}-MIN_NUM_FORMS": "0",
            f"{prefix}-MAX_NUM_FORMS": "1000",
        }
    data.update(overrides)
    return data


def test_changelist_and_change_page_show_campaigns(admin_client):
    campaign = CampaignFactory()
    CampaignPhaseFactory(campaign=campaign)
    assert (
        admin_client.get(reverse("admin:campaigns_campaign_changelist")).status_code
        == 200
    )
    page = admin_client.get(
        reverse("admin:campaigns_campaign_change", args=[campaign.pk])
    )
    assert page.status_code == 200


def test_saving_the_form_records_changes_but_never_the_status(admin_client, admin_user):
    campaign = CampaignFactory(name="Old")
    response = admin_client.post(
        reverse("admin:campaigns_campaign_change", args=[campaign.pk]),
        _change_data(campaign, name="New"),
    )
    assert response.status_code == 302
    campaign.refresh_from_db()
    assert (campaign.name, campaign.status) == ("New", Campaign.Status.DRAFT)
    event = campaign.events.get()
    assert (event.kind, event.actor) == (Kind.UPDATED, admin_user)
    assert event.data["changed"] == {"name": ["Old", "New"]}


def test_adding_a_campaign_goes_through_the_service(admin_client):
    campaign = Campaign(code="moi", name="Mới", starts_on=date(2022, 1, 1))
    response = admin_client.post(
        reverse("admin:campaigns_campaign_add"), _change_data(campaign, code="moi")
    )
    assert response.status_code == 302
    assert Campaign.objects.get(code="moi").events.get().kind == Kind.CREATED


def test_overlapping_phases_are_refused_in_the_form(admin_client):
    campaign = CampaignFactory()
    data = _change_data(
        campaign,
        **{
            "phases-TOTAL_FORMS": "2",
            "phases-0-number": "1",
            "phases-0-starts_on": "2021-03-26",
            "phases-0-ends_on": "2021-05-31",
            "phases-0-districts": "[]",
            "phases-1-number": "2",
            "phases-1-starts_on": "2021-05-01",
            "phases-1-districts": "[]",
        },
    )
    response = admin_client.post(
        reverse("admin:campaigns_campaign_change", args=[campaign.pk]),
        data,
        headers={"accept-language": "en"},
    )
    assert response.status_code == 200
    assert "Phase 2 overlaps phase 1" in response.content.decode()
    assert not campaign.phases.exists()


def test_move_action_calls_the_transition(admin_client, admin_user):
    legal, illegal = CampaignFactory(), CampaignFactory(status=Campaign.Status.OPEN)
    response = admin_client.post(
        reverse("admin:campaigns_campaign_changelist"),
        {"action": "move_to_selecting", "_selected_action": [legal.pk, illegal.pk]},
        follow=True,
        headers={"accept-language": "en"},
    )
    assert response.status_code == 200
    legal.refresh_from_db()
    illegal.refresh_from_db()
    assert legal.status == Campaign.Status.SELECTING
    assert illegal.status == Campaign.Status.OPEN
    assert legal.events.get().actor == admin_user
    assert not illegal.events.exists()
    assert "cannot become" in response.content.decode()


def test_copy_action_makes_a_draft_copy(admin_client):
    campaign = CampaignFactory(code="goc", status=Campaign.Status.DONE)
    admin_client.post(
        reverse("admin:campaigns_campaign_changelist"),
        {"action": "copy_campaigns", "_selected_action": [campaign.pk]},
    )
    copy = Campaign.objects.get(code="goc-copy")
    assert copy.status == Campaign.Status.DRAFT
    assert copy.events.get().kind == Kind.COPIED


def test_phases_edited_in_the_form_are_recorded(admin_client):
    campaign = CampaignFactory()
    data = _change_data(
        campaign,
        **{
            "phases-TOTAL_FORMS": "1",
            "phases-0-number": "1",
            "phases-0-starts_on": "2021-03-26",
            "phases-0-districts": '[{"province": "Cần Thơ", "district": "Quận Ô Môn"}]',
        },
    )
    response = admin_client.post(
        reverse("admin:campaigns_campaign_change", args=[campaign.pk]), data
    )
    assert response.status_code == 302
    assert campaign.phases.get().districts[0]["district"] == "Quận Ô Môn"
    assert campaign.events.get().data == {"changed": {"phases": "edited"}}


@pytest.mark.parametrize(
    "districts", ['["Cần Thơ"]', '[{"province": "Cần Thơ"}]', '{"a": 1}']
)
def test_districts_of_the_wrong_shape_are_refused(admin_client, districts):
    campaign = CampaignFactory()
    data = _change_data(
        campaign,
        **{
            "phases-TOTAL_FORMS": "1",
            "phases-0-number": "1",
            "phases-0-starts_on": "2021-03-26",
            "phases-0-districts": districts,
        },
    )
    response = admin_client.post(
        reverse("admin:campaigns_campaign_change", args=[campaign.pk]), data
    )
    assert response.status_code == 200
    assert not campaign.phases.exists()


def test_region_scope_must_be_a_list_of_provinces(admin_client):
    campaign = CampaignFactory()
    response = admin_client.post(
        reverse("admin:campaigns_campaign_change", args=[campaign.pk]),
        _change_data(campaign, region_scope='"Cần Thơ"'),
    )
    assert response.status_code == 200
    campaign.refresh_from_db()
    assert campaign.region_scope == []


def test_the_campaign_list_links_each_campaign_to_its_dashboard(client, care_staff):
    campaign = CampaignFactory(code="000-tri-an")
    client.force_login(care_staff)
    page = client.get(reverse("admin:campaigns_campaign_changelist"))
    dashboard = reverse("fulfilment:dashboard", args=[campaign.code])
    assert f'href="{dashboard}"' in page.content.decode()
    assert client.get(dashboard).status_code == 200
