"""The campaign's selection in the admin: rules composed in inlines, runs previewed,
decided, explained and exported, on the real database."""

import csv
import io
from datetime import date

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from openpyxl import load_workbook

from campaigns import services
from campaigns.models import Campaign, CampaignEvent, SelectionRule, SelectionRun
from eligibility.models import BillingRecord, Subscriber
from tests.campaigns.factories import CampaignFactory
from tests.factories import SnapshotFactory, UserFactory

pytestmark = pytest.mark.django_db

INLINE_PREFIXES = (
    "phases",
    "batches",
    "selection_rules",
    "ranking_keys",
    "quota_cells",
    "tiers",
    "sub_lists",
    "events",
)

# number: (contract date, premium, revenue of 10/2022)
SUBSCRIBERS = {
    "84901000001": (date(2000, 1, 1), False, 900_000),
    "84901000002": (date(2001, 1, 1), False, 500_000),
    "84901000003": (date(2015, 1, 1), False, 2_000_000),  # tenure too short
    "84901000004": (date(2000, 1, 1), True, 800_000),  # premium
    "84901000005": (date(2000, 6, 1), False, 300_000),  # eligible, below the cut
}


def _snapshot():
    snapshot = SnapshotFactory(name="T10/2022", taken_on=date(2022, 10, 31))
    for number, (contract, premium, revenue) in SUBSCRIBERS.items():
        Subscriber.objects.create(
            snapshot=snapshot,
            msisdn=number,
            full_name=f"Khách {number[-1]}",
            subscription_type="postpaid",
            status="2C",
            contract_date=contract,
            customer_type="individual",
            company=2,
            province="Hồ Chí Minh",
            district="Quận 1",
            is_premium=premium,
        )
        BillingRecord.objects.create(
            snapshot=snapshot,
            msisdn=number,
            cycle=date(2022, 10, 1),
            revenue_total=revenue,
            paid=True,
        )
    return snapshot


def _rule(campaign, position, measure, operator, value, **params):
    return SelectionRule.objects.create(
        campaign=campaign,
        position=position,
        measure=measure,
        operator=operator,
        value=value,
        **params,
    )


@pytest.fixture
def campaign():
    """Programme 000 in small: tenure >= 240, not premium, top 2 by revenue."""
    campaign = CampaignFactory(
        code="tri-an-000",
        snapshot=_snapshot(),
        starts_on=date(2022, 11, 10),
        quota_total=2,
    )
    _rule(campaign, 1, "tenure_months", ">=", "240")
    _rule(campaign, 2, "is_premium", "=", "no")
    campaign.ranking_keys.create(
        position=1,
        measure="revenue_sum",
        revenue_column="total",
        window_from="2022-10",
        window_to="2022-10",
    )
    return campaign


@pytest.fixture
def staff_client(care_staff):
    client = Client(headers={"accept-language": "en"})
    client.force_login(care_staff)
    return client


def _change_url(campaign):
    return reverse("admin:campaigns_campaign_change", args=[campaign.pk])


def _run_url(run):
    return reverse("admin:campaigns_selection_run", args=[run.pk])


def _change_data(campaign, **overrides):
    data = {
        "name": campaign.name,
        "owning_unit": campaign.owning_unit,
        "description": campaign.description,
        "snapshot": campaign.snapshot_id or "",
        "starts_on": campaign.starts_on.isoformat() if campaign.starts_on else "",
        "ends_on": campaign.ends_on.isoformat() if campaign.ends_on else "",
        "region_scope": "[]",
        "kind": campaign.kind,
        "quota_total": campaign.quota_total or "",
        "quota_by": campaign.quota_by,
        "quota_spill_within": campaign.quota_spill_within,
        "tier_measure": campaign.tier_measure,
        "tier_revenue_column": campaign.tier_revenue_column,
        "tier_window_from": campaign.tier_window_from,
        "tier_window_to": campaign.tier_window_to,
        "batch_count": campaign.batch_count,
    }
    for prefix in INLINE_PREFIXES:
        data |= {
            f"{prefix}-TOTAL_FORMS": "0",
            f"{prefix}-INITIAL_FORMS": "0",
            f"{prefix}-MIN_NUM_FORMS": "0",
            f"{prefix}-MAX_NUM_FORMS": "1000",
        }
    data.update(overrides)
    return data


def _rule_rows(*rules):
    """POST data for new rows of the rules inline: (measure, operator, value, extra)."""
    data = {"selection_rules-TOTAL_FORMS": str(len(rules))}
    for index, (measure, operator, value, extra) in enumerate(rules):
        data |= {
            f"selection_rules-{index}-position": "0",
            f"selection_rules-{index}-measure": measure,
            f"selection_rules-{index}-operator": operator,
            f"selection_rules-{index}-value": value,
        }
        data |= {f"selection_rules-{index}-{key}": v for key, v in extra.items()}
    return data


def _start_and_run(client, campaign, django_capture_on_commit_callbacks):
    """Press "Run selection" and do the task's work here instead of on a worker."""
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(
            reverse("admin:campaigns_selection_start", args=[campaign.pk])
        )
    run = SelectionRun.objects.get(campaign=campaign)
    assert response.status_code == 302
    assert response.url == _run_url(run)
    assert len(callbacks) == 1  # the task is enqueued after commit
    services.selection_run_execute(run_id=run.pk)
    run.refresh_from_db()
    return run


# --- composing the rules ----------------------------------------------------------


def test_inline_saves_rules_in_order_and_records_the_edit(staff_client, care_staff):
    campaign = CampaignFactory(snapshot=_snapshot(), starts_on=date(2022, 11, 10))
    data = _change_data(
        campaign,
        quota_total="1.000",
        **_rule_rows(
            ("tenure_months", ">=", "240", {}),
            (
                "revenue_avg",
                ">=",
                "150.000",
                {
                    "revenue_column": "information",
                    "window_from": "n-3",
                    "window_to": "n-1",
                    # A parameter the measure does not take is dropped.
                    "attribute": "stray",
                },
            ),
        ),
    )
    # Vietnamese staff write thousands with dots.
    response = staff_client.post(
        _change_url(campaign), data, headers={"accept-language": "vi"}
    )
    assert response.status_code == 302, response.context["errors"]

    first, second = campaign.selection_rules.order_by("position")
    assert (first.position, first.measure, first.operator, first.value) == (
        1,
        "tenure_months",
        ">=",
        "240",
    )
    assert (second.position, second.revenue_column, second.window_from) == (
        2,
        "information",
        "n-3",
    )
    assert second.attribute == ""
    campaign.refresh_from_db()
    assert campaign.quota_total == 1000
    changed = [e.data["changed"] for e in campaign.events.filter(actor=care_staff)]
    assert {"rules": "edited"} in changed
    assert {"selection": "edited"} in changed

    page = staff_client.get(_change_url(campaign)).content.decode()
    assert 'id="rules-in-words"' in page
    assert "tenure ≥ 240 months" in page
    assert "At most 1000 members" in page


@pytest.mark.parametrize(
    ("measure", "operator", "value", "field"),
    [
        ("no_such_measure", ">=", "1", "measure"),
        ("province", ">=", "Hà Nội", "operator"),
        ("tenure_months", "~", "240", "operator"),
        ("tenure_months", ">=", "lots", "value"),
        ("revenue_avg", ">=", "150000", "window_from"),
    ],
)
def test_bad_choices_are_refused_by_the_form(
    staff_client, measure, operator, value, field
):
    campaign = CampaignFactory()
    response = staff_client.post(
        _change_url(campaign),
        _change_data(campaign, **_rule_rows((measure, operator, value, {}))),
    )
    assert response.status_code == 200
    formset = next(
        f
        for f in response.context["inline_admin_formsets"]
        if f.formset.prefix == "selection_rules"
    )
    assert field in formset.formset.forms[0].errors
    assert not campaign.selection_rules.exists()


def test_a_post_without_the_selection_parts_leaves_the_rules_alone(
    staff_client, campaign
):
    data = _change_data(campaign, name="Renamed")
    for prefix in ("selection_rules", "ranking_keys", "quota_cells", "tiers"):
        for key in ("TOTAL_FORMS", "INITIAL_FORMS", "MIN_NUM_FORMS", "MAX_NUM_FORMS"):
            del data[f"{prefix}-{key}"]
    response = staff_client.post(_change_url(campaign), data)
    assert response.status_code == 302
    assert campaign.selection_rules.count() == 2


def test_rules_of_an_approved_campaign_cannot_be_edited(staff_client, campaign):
    Campaign.objects.filter(pk=campaign.pk).update(status=Campaign.Status.APPROVED)
    page = staff_client.get(_change_url(campaign))
    assert 'id="run-selection"' not in page.content.decode()
    formset = next(
        f
        for f in page.context["inline_admin_formsets"]
        if f.formset.prefix == "selection_rules"
    )
    assert not formset.has_add_permission
    assert not formset.has_change_permission


# --- problems before anything runs ----------------------------------------------------


def test_bad_rules_show_their_problems_and_nothing_runs(staff_client, campaign):
    _rule(campaign, 3, "tenure_months", "<", "100")
    campaign.ranking_keys.update(window_from="2021-01")  # cycles the snapshot lacks

    page = staff_client.get(_change_url(campaign)).content.decode()
    assert 'id="rule-problems"' in page
    assert "Rules 1 and 3 contradict each other" in page

    response = staff_client.post(
        reverse("admin:campaigns_selection_start", args=[campaign.pk]), follow=True
    )
    shown = [str(m) for m in response.context["messages"]]
    assert any("contradict each other" in message for message in shown)
    assert not SelectionRun.objects.exists()
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT


def test_missing_billing_cycles_are_named_before_the_run(staff_client, campaign):
    campaign.ranking_keys.update(window_from="2021-01")
    page = staff_client.get(_change_url(campaign)).content.decode()
    assert "needs billing cycles the snapshot does not have" in page

    response = staff_client.post(
        reverse("admin:campaigns_selection_start", args=[campaign.pk]), follow=True
    )
    shown = [str(m) for m in response.context["messages"]]
    assert any("01/2021" in message for message in shown)
    assert not SelectionRun.objects.exists()


# --- the run page -----------------------------------------------------------------


def test_preview_shows_the_funnel_counts_and_sample(
    staff_client, campaign, django_capture_on_commit_callbacks
):
    run = _start_and_run(staff_client, campaign, django_capture_on_commit_callbacks)
    assert run.status == SelectionRun.Status.PREVIEW

    status = staff_client.get(
        reverse("admin:campaigns_selection_status", args=[run.pk])
    ).json()
    assert (status["status"], status["running"]) == ("preview", False)

    response = staff_client.get(_run_url(run))
    funnel = [
        (step["step"], step["removed"], step["remaining"])
        for step in response.context["funnel"]
    ]
    assert funnel == [("tenure ≥ 240 months", 1, 4), ("not premium customer", 1, 3)]
    page = response.content.decode()
    assert 'id="count-population">5<' in page
    assert 'id="count-eligible">3<' in page
    assert 'id="count-selected">2<' in page
    assert "tenure ≥ 240 months" in page  # the rules in words
    sample = [row["number"] for row in response.context["sample"]]
    assert sample == ["0901000001", "0901000002"]
    assert 'id="run-commit"' in page and 'id="run-approve"' not in page
    assert 'id="download-xlsx"' in page


def test_run_page_follows_a_queued_run(
    staff_client, campaign, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        staff_client.post(
            reverse("admin:campaigns_selection_start", args=[campaign.pk])
        )
    run = SelectionRun.objects.get()
    page = staff_client.get(_run_url(run)).content.decode()
    assert 'id="run-progress"' in page
    assert "campaigns/selection_progress.js" in page
    assert 'id="funnel"' not in page
    status = staff_client.get(
        reverse("admin:campaigns_selection_status", args=[run.pk])
    ).json()
    assert (status["status"], status["running"]) == ("queued", True)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.SELECTING


def test_changelist_of_runs_links_to_the_run_page(
    staff_client, campaign, django_capture_on_commit_callbacks
):
    run = _start_and_run(staff_client, campaign, django_capture_on_commit_callbacks)
    page = staff_client.get(reverse("admin:campaigns_selectionrun_changelist"))
    assert _run_url(run) in page.content.decode()
    change = staff_client.get(
        reverse("admin:campaigns_selectionrun_change", args=[run.pk])
    )
    assert change.url == _run_url(run)


def test_commit_and_discard_need_change_and_approve_its_own_permission(
    campaign, django_capture_on_commit_callbacks, care_staff
):
    clerk = UserFactory(username="clerk", is_staff=True)
    clerk.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label="campaigns",
            codename__in=["view_campaign", "change_campaign", "view_selectionrun"],
        )
    )
    client = Client(headers={"accept-language": "en"})
    client.force_login(clerk)
    run = _start_and_run(client, campaign, django_capture_on_commit_callbacks)
    decide = reverse("admin:campaigns_selection_decide", args=[run.pk])

    assert client.post(decide, {"action": "commit"}).status_code == 302
    run.refresh_from_db()
    assert (run.status, run.decided_by) == (SelectionRun.Status.COMMITTED, clerk)

    assert 'id="run-approve"' not in client.get(_run_url(run)).content.decode()
    assert client.post(decide, {"action": "approve"}).status_code == 403
    run.refresh_from_db()
    assert run.status == SelectionRun.Status.COMMITTED

    approver = Client(headers={"accept-language": "en"})
    approver.force_login(care_staff)
    assert 'id="run-approve"' in approver.get(_run_url(run)).content.decode()
    approver.post(decide, {"action": "approve"})
    run.refresh_from_db()
    campaign.refresh_from_db()
    assert (run.status, run.approved_by) == (SelectionRun.Status.APPROVED, care_staff)
    assert campaign.status == Campaign.Status.APPROVED


def test_a_viewer_cannot_commit_or_discard(
    staff_client, campaign, django_capture_on_commit_callbacks
):
    run = _start_and_run(staff_client, campaign, django_capture_on_commit_callbacks)
    viewer = UserFactory(username="viewer", is_staff=True)
    viewer.user_permissions.set(
        Permission.objects.filter(
            content_type__app_label="campaigns",
            codename__in=["view_campaign", "view_selectionrun"],
        )
    )
    client = Client()
    client.force_login(viewer)
    decide = reverse("admin:campaigns_selection_decide", args=[run.pk])
    for action in ("commit", "discard"):
        assert client.post(decide, {"action": action}).status_code == 403
    start = reverse("admin:campaigns_selection_start", args=[campaign.pk])
    assert client.post(start).status_code == 403
    run.refresh_from_db()
    assert run.status == SelectionRun.Status.PREVIEW
    assert client.get(_run_url(run)).status_code == 200


def test_discarding_a_preview_drops_the_list_and_reopens_the_campaign(
    staff_client, campaign, django_capture_on_commit_callbacks
):
    run = _start_and_run(staff_client, campaign, django_capture_on_commit_callbacks)
    staff_client.post(
        reverse("admin:campaigns_selection_decide", args=[run.pk]),
        {"action": "discard"},
    )
    run.refresh_from_db()
    campaign.refresh_from_db()
    assert run.status == SelectionRun.Status.DISCARDED
    assert not run.members.exists()
    assert campaign.status == Campaign.Status.DRAFT
    assert campaign.events.filter(
        kind=CampaignEvent.Kind.SELECTION, data__action="discarded"
    ).exists()


def test_partner_cannot_open_a_run(
    staff_client, campaign, django_capture_on_commit_callbacks, partner_user
):
    run = _start_and_run(staff_client, campaign, django_capture_on_commit_callbacks)
    client = Client()
    client.force_login(partner_user)
    assert client.get(_run_url(run)).status_code == 403
    export = reverse("admin:campaigns_selection_export", args=[run.pk, "csv"])
    assert client.get(export).status_code == 403


# --- explain and export -----------------------------------------------------------


def test_explain_names_the_rule_that_kept_a_number_out(
    staff_client, campaign, django_capture_on_commit_callbacks
):
    run = _start_and_run(staff_client, campaign, django_capture_on_commit_callbacks)

    response = staff_client.get(_run_url(run), {"msisdn": "090 100 0003"})
    explain = response.context["explain"]
    assert explain["status"] == "excluded"
    assert explain["failed_step"] == "tenure ≥ 240 months"
    page = response.content.decode()
    assert 'id="explain-result"' in page
    assert "fails “tenure ≥ 240 months”" in page
    assert 'class="step-failed"' in page

    selected = staff_client.get(_run_url(run), {"msisdn": "0901000001"})
    assert selected.context["explain"]["status"] == "selected"
    below = staff_client.get(_run_url(run), {"msisdn": "+84 901 000 005"})
    assert below.context["explain"]["status"] == "below_cut"
    assert "below the cut" in below.content.decode()


def test_exports_download_the_members(
    staff_client, campaign, django_capture_on_commit_callbacks
):
    run = _start_and_run(staff_client, campaign, django_capture_on_commit_callbacks)

    response = staff_client.get(
        reverse("admin:campaigns_selection_export", args=[run.pk, "csv"])
    )
    assert response.status_code == 200
    assert response["Content-Disposition"].endswith('"tri-an-000-run1.csv"')
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert [row[1] for row in rows[1:]] == ["0901000001", "0901000002"]

    response = staff_client.get(
        reverse("admin:campaigns_selection_export", args=[run.pk, "xlsx"]),
        {"all": "1"},
    )
    assert response["Content-Type"].startswith("application/vnd.openxmlformats")
    sheet = load_workbook(io.BytesIO(b"".join(response.streaming_content))).active
    numbers = [row[1] for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert numbers == ["0901000001", "0901000002", "0901000005"]

    missing = reverse("admin:campaigns_selection_export", args=[run.pk, "pdf"])
    assert staff_client.get(missing).status_code == 404


def test_add_page_offers_the_selection_part(staff_client):
    page = staff_client.get(reverse("admin:campaigns_campaign_add")).content.decode()
    assert "Save the campaign to see its rules in words." in page
    assert 'id="selection_rules-group"' in page
    assert 'id="run-selection"' not in page
