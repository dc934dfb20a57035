"""Care staff compose a campaign's rules in the admin and preview its list, in a real
browser, with the selection run by a real Celery worker."""

import re
from datetime import date

import pytest
from playwright.sync_api import expect

from campaigns.models import SelectionRule, SelectionRun
from eligibility.models import BillingRecord, Subscriber
from tests.campaigns.factories import CampaignFactory
from tests.factories import SnapshotFactory

pytestmark = [pytest.mark.e2e, pytest.mark.django_db(transaction=True)]

# number: (contract date, premium, revenue of 10/2022)
SUBSCRIBERS = {
    "84901000001": (date(2000, 1, 1), False, 900_000),
    "84901000002": (date(2001, 1, 1), False, 500_000),
    "84901000003": (date(2015, 1, 1), False, 2_000_000),  # tenure too short
    "84901000004": (date(2000, 1, 1), True, 800_000),  # premium
    "84901000005": (date(2000, 6, 1), False, 300_000),  # eligible, below the cut
}


def _campaign():
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
        )
    campaign = CampaignFactory(
        code="tri-an-000",
        snapshot=snapshot,
        starts_on=date(2022, 11, 10),
        quota_total=2,
    )
    campaign.ranking_keys.create(
        position=1,
        measure="revenue_sum",
        revenue_column="total",
        window_from="2022-10",
        window_to="2022-10",
    )
    return campaign


def _log_in(page, url):
    page.goto(f"{url}/admin/login/")
    page.fill("#id_username", "cskh")
    page.fill("#id_password", "pass-1234")
    page.click("input[type=submit]")


def test_staff_compose_rules_run_and_preview_the_funnel(
    live_server, celery_worker_thread, care_staff, desktop_page, screenshot
):
    campaign = _campaign()
    page = desktop_page
    _log_in(page, live_server.url)
    page.goto(f"{live_server.url}/admin/campaigns/campaign/{campaign.pk}/change/")
    # No rules yet: the page says so before anything can run.
    expect(page.locator("#rule-problems")).to_be_visible()

    add_rule = page.locator("#selection_rules-group .add-row a")
    add_rule.click()
    add_rule.click()
    page.select_option("#id_selection_rules-0-measure", "tenure_months")
    # Tenure takes no parameters: its window and revenue fields are hidden.
    expect(page.locator("#id_selection_rules-0-window_from")).to_be_hidden()
    page.select_option("#id_selection_rules-0-operator", ">=")
    page.fill("#id_selection_rules-0-value", "240")
    page.select_option("#id_selection_rules-1-measure", "is_premium")
    # Yes/no measures compare with "=" only, so it is chosen for the staff.
    expect(page.locator("#id_selection_rules-1-operator")).to_have_value("=")
    page.fill("#id_selection_rules-1-value", "không")
    screenshot(page, "rules")
    page.click("input[name=_continue]")

    words = page.locator("#rules-in-words li")
    expect(words.first).to_contain_text("240")
    expect(page.locator("#rule-problems")).to_have_count(0)
    assert list(
        SelectionRule.objects.filter(campaign=campaign)
        .order_by("position")
        .values_list("measure", "operator", "value")
    ) == [("tenure_months", ">=", "240"), ("is_premium", "=", "không")]
    screenshot(page, "saved")

    page.click("#run-selection")
    expect(page.locator("#count-selected")).to_have_text("2", timeout=30_000)
    expect(page.locator("#count-population")).to_have_text("5")
    expect(page.locator("#count-eligible")).to_have_text("3")
    steps = page.locator("#funnel tr.funnel-step")
    expect(steps).to_have_count(2)
    expect(steps.nth(0).locator("td")).to_have_text([re.compile("240"), "1", "4"])
    expect(steps.nth(1).locator("td")).to_have_text([re.compile("."), "1", "3"])
    expect(page.locator("#sample tbody tr")).to_have_count(2)
    expect(page.locator("#sample tbody tr").first).to_contain_text("0901000001")
    screenshot(page, "preview")

    page.fill("#explain-msisdn", "0901000003")
    page.click("#explain-form input[type=submit]")
    expect(page.locator("#explain-result")).to_contain_text("0901000003")
    expect(page.locator("#explain-steps tr.step-failed")).to_contain_text("240")
    screenshot(page, "explain")

    page.click("#run-commit")
    expect(page.locator("#run-approve")).to_be_visible()
    assert SelectionRun.objects.get().status == SelectionRun.Status.COMMITTED
