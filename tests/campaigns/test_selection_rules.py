"""Rule sets that cannot run are refused before anything runs, with messages that name
the rule; a run that fails leaves no half list; runs move only as their lifecycle says."""

from __future__ import annotations

from datetime import date

import pytest
from django.db import connection

from campaigns import selectors, services
from campaigns.demo import DEMO_SNAPSHOTS, load_generated_snapshot
from campaigns.models import (
    Campaign,
    QuotaCell,
    RankingKey,
    SelectionMember,
    SelectionRule,
    SelectionRun,
    Tier,
)
from eligibility.models import DomainError
from eligibility.rules import RuleSetError, ruleset_check, ruleset_summary
from tests.campaigns.factories import CampaignFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def snapshot():
    name, taken_on, last_cycle, seed = DEMO_SNAPSHOTS["2022"]
    return load_generated_snapshot(
        size=400,
        say=lambda *a: None,
        name=name,
        taken_on=taken_on,
        last_cycle=last_cycle,
        seed=seed,
        with_lists=False,
    )


def _rule(campaign, position, measure, op, value, **params):
    return SelectionRule.objects.create(
        campaign=campaign,
        position=position,
        measure=measure,
        operator=op,
        value=value,
        **params,
    )


def _problems(campaign) -> list[str]:
    with pytest.raises(RuleSetError) as error:
        services.selection_run_start(campaign=campaign, enqueue=False)
    return error.value.problems


def test_a_campaign_without_rules_is_refused_and_nothing_runs(snapshot):
    campaign = CampaignFactory(snapshot=snapshot)
    problems = _problems(campaign)
    assert any("no eligibility rules" in p for p in problems)
    assert not SelectionRun.objects.exists()
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT


def test_a_campaign_without_snapshot_is_refused():
    campaign = CampaignFactory(snapshot=None)
    _rule(campaign, 1, "status", "=", "2C")
    assert any("no snapshot" in p for p in _problems(campaign))


def test_contradictory_rules_are_named_with_both_numbers(snapshot):
    campaign = CampaignFactory(snapshot=snapshot)
    _rule(campaign, 1, "tenure_months", ">=", "240")
    _rule(campaign, 2, "status", "=", "2C")
    _rule(campaign, 3, "tenure_months", "<", "100")
    problems = _problems(campaign)
    assert any("Rules 1 and 3 contradict" in p for p in problems), problems


def test_equal_and_excluding_values_contradict():
    with pytest.raises(RuleSetError) as error:
        ruleset_check(
            {
                "rules": [
                    {"measure": "status", "op": "=", "value": "2C"},
                    {"measure": "status", "op": "not_in", "value": ["2C", "1C"]},
                ]
            },
            reference=None,
        )
    assert "Rules 1 and 2 contradict" in str(error.value)


def test_rules_on_different_groups_do_not_contradict():
    # 004: owners among individuals, managers among enterprises: both can hold.
    ruleset_check(
        {
            "rules": [
                {
                    "measure": "enterprise_role",
                    "op": "in",
                    "value": ["director"],
                    "only_when": {
                        "attribute": "customer_type",
                        "values": ["enterprise"],
                    },
                },
                {
                    "measure": "enterprise_role",
                    "op": "=",
                    "value": "staff",
                    "only_when": {"attribute": "customer_type", "values": ["other"]},
                },
            ]
        },
        reference=None,
    )


def test_a_window_with_cycles_missing_from_the_snapshot_names_them(snapshot):
    campaign = CampaignFactory(snapshot=snapshot)
    _rule(
        campaign,
        1,
        "revenue_avg",
        ">=",
        "100000",
        revenue_column="total",
        window_from="2018-09",
        window_to="2019-08",
    )
    problems = _problems(campaign)
    assert any(
        "09/2018" in p and "cycles the snapshot does not have" in p for p in problems
    )


def test_relative_window_needs_a_start_date(snapshot):
    campaign = CampaignFactory(snapshot=snapshot, starts_on=None, ends_on=None)
    _rule(campaign, 1, "revenue_avg", ">=", "1", window_from="n-3", window_to="n-1")
    assert any("start date" in p for p in _problems(campaign))


def test_unknown_measure_extra_column_and_bad_values_are_named(snapshot):
    campaign = CampaignFactory(snapshot=snapshot)
    _rule(campaign, 1, "shoe_size", "=", "42")
    _rule(campaign, 2, "extra", "=", "1", attribute="khuyen_mai_50")
    _rule(campaign, 3, "tenure_months", ">=", "lâu lắm")
    _rule(campaign, 4, "status", "=", "ACTIVE")
    problems = _problems(campaign)
    text = "\n".join(problems)
    assert "unknown measure 'shoe_size'" in text
    assert "'lâu lắm' is not a number" in text


def test_unknown_values_of_a_choice_and_missing_extra_column_are_named(snapshot):
    campaign = CampaignFactory(snapshot=snapshot)
    _rule(campaign, 1, "extra", "=", "1", attribute="khuyen_mai_50")
    _rule(campaign, 2, "status", "=", "ACTIVE")
    text = "\n".join(_problems(campaign))
    assert "extra column 'khuyen_mai_50'" in text
    assert "'ACTIVE' is not a" in text


def test_overlapping_tiers_and_empty_bands_are_refused():
    with pytest.raises(RuleSetError) as error:
        ruleset_check(
            {
                "rules": [{"measure": "status", "op": "=", "value": "2C"}],
                "tiers": {
                    "measure": {"measure": "tenure_months"},
                    "bands": [
                        {"code": "a", "min": 0, "max": 100},
                        {"code": "b", "min": 50, "max": 200},
                        {"code": "c", "min": 300, "max": 300},
                    ],
                },
            },
            reference=None,
        )
    text = str(error.value)
    assert "Tiers a and b overlap" in text
    assert "the band is empty" in text


def test_rules_read_as_words_for_staff():
    ruleset = ruleset_check(
        {
            "scope": ["Hồ Chí Minh"],
            "rules": [
                {"measure": "tenure_months", "op": ">=", "value": "240"},
                {"measure": "loyalty_member", "op": "=", "value": False},
            ],
            "ranking": [{"measure": "tenure_months", "order": "desc"}],
            "quotas": {"total": 20},
        },
        reference=date(2022, 11, 1),
    )
    with connection.cursor():
        lines = ruleset_summary(ruleset)
    assert "tenure ≥ 240 months AND not loyalty member" in lines[1]
    assert "At most 20 members" in lines


def test_quota_larger_than_the_eligible_population_warns_in_the_preview(
    snapshot, django_capture_on_commit_callbacks
):
    campaign = CampaignFactory(snapshot=snapshot)
    _rule(campaign, 1, "tenure_months", ">=", "240")
    campaign.quota_total = 10_000
    campaign.save()
    run = services.selection_run_start(campaign=campaign, enqueue=False)
    run = services.selection_run_execute(run_id=run.pk)
    assert run.status == SelectionRun.Status.PREVIEW
    assert any("10000" in w or "10.000" in w for w in run.warnings)


def test_a_run_that_fails_leaves_no_members_and_returns_to_draft(snapshot):
    campaign = CampaignFactory(snapshot=snapshot)
    _rule(campaign, 1, "tenure_months", ">=", "12")
    run = services.selection_run_start(campaign=campaign, enqueue=False)
    # The snapshot's data is swapped under the run: its rule set names a list that no
    # longer exists, so the statement fails half-way.
    run.ruleset["rules"].append(
        {"measure": "in_list", "list": "gone", "op": "=", "value": False}
    )
    run.save()
    run = services.selection_run_execute(run_id=run.pk)
    assert run.status == SelectionRun.Status.FAILED
    assert run.error
    assert not SelectionMember.objects.filter(run=run).exists()
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT


def test_commit_approve_and_rerun_follow_the_lifecycle(snapshot):
    campaign = CampaignFactory(snapshot=snapshot)
    _rule(campaign, 1, "tenure_months", ">=", "12")
    RankingKey.objects.create(campaign=campaign, position=1, measure="tenure_months")
    first = services.selection_run_execute(
        run_id=services.selection_run_start(campaign=campaign, enqueue=False).pk
    )
    second = services.selection_run_execute(
        run_id=services.selection_run_start(campaign=campaign, enqueue=False).pk
    )
    assert (first.number, second.number) == (1, 2)
    services.selection_run_commit(run=first)
    services.selection_run_commit(run=second)
    first.refresh_from_db()
    # One candidate list at a time: committing the second discards the first.
    assert first.status == SelectionRun.Status.DISCARDED
    services.selection_run_approve(run=second)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.APPROVED
    with pytest.raises(DomainError):
        services.selection_run_discard(run=second)
    with pytest.raises(DomainError):
        services.selection_run_start(campaign=campaign, enqueue=False)


def test_copy_carries_the_rules_ranking_quotas_and_tiers(snapshot):
    campaign = CampaignFactory(snapshot=snapshot, quota_total=5, batch_count=2)
    _rule(campaign, 1, "tenure_months", ">=", "12")
    RankingKey.objects.create(campaign=campaign, position=1, measure="tenure_months")
    QuotaCell.objects.create(campaign=campaign, key="1", seats=3)
    campaign.quota_by = "company"
    campaign.save()
    Tier.objects.create(campaign=campaign, code="t1", name="T1", min_value=0)
    campaign.tier_measure = "tenure_months"
    campaign.save()
    copy = services.campaign_copy(campaign=campaign, new_code="copy-1")
    assert copy.selection_rules.get().measure == "tenure_months"
    assert copy.ranking_keys.count() == 1
    assert copy.quota_cells.get().seats == 3
    assert (copy.quota_total, copy.quota_by, copy.batch_count) == (5, "company", 2)
    assert copy.tiers.get().code == "t1"


def test_explain_names_the_rule_that_kept_a_number_out(snapshot):
    campaign = CampaignFactory(snapshot=snapshot)
    _rule(campaign, 1, "tenure_months", ">=", "240")
    run = services.selection_run_execute(
        run_id=services.selection_run_start(campaign=campaign, enqueue=False).pk
    )
    outsider = (
        snapshot.subscribers.exclude(
            msisdn__in=list(
                SelectionMember.objects.filter(run=run).values_list("msisdn", flat=True)
            )
        )
        .order_by("contract_date")
        .last()
    )
    answer = selectors.selection_explain(run=run, msisdn_text="0" + outsider.msisdn[2:])
    assert answer["status"] == "excluded"
    assert "tenure ≥ 240 months" in answer["message"]
    member = (
        SelectionMember.objects.filter(run=run, selected=True).order_by("rank").first()
    )
    answer = selectors.selection_explain(run=run, msisdn_text="+" + member.msisdn)
    assert answer["status"] == "selected"
    assert "rank 1" in answer["message"]
