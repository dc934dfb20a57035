"""The five seed programmes select their lists from generated data, and each list is
checked against an independent computation written here in plain Python.

The engine compiles rules to SQL; these tests read the same generated rows through the
ORM and apply each programme's text by hand, so a wrong join, window or tie-break in
the SQL shows up as a different list.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from decimal import Decimal
from pathlib import Path

import pytest

from campaigns import definitions, services
from campaigns.demo import DEMO_SNAPSHOTS, PROGRAMMES_DIR, load_generated_snapshot
from campaigns.models import Campaign, SelectionMember, SelectionRun
from eligibility.models import BillingRecord, NamedListEntry, Subscriber

SIZE = 1500
BANK = {"bank_online", "bank_auto_debit", "bank_collection", "bank_transfer"}


def _snapshot(era: str, *, with_lists: bool = False):
    name, taken_on, last_cycle, seed = DEMO_SNAPSHOTS[era]
    return load_generated_snapshot(
        size=SIZE,
        say=lambda *a: None,
        name=name,
        taken_on=taken_on,
        last_cycle=last_cycle,
        seed=seed,
        with_lists=with_lists,
    )


def _campaign(code: str, snapshot) -> Campaign:
    path = next(Path(PROGRAMMES_DIR).glob(f"{code}*.yaml"))
    definition = definitions.definition_parse(path.read_text(encoding="utf-8"))
    campaign, _created = services.campaign_import(
        definition=definition, snapshot=snapshot
    )
    return campaign


def _run(campaign: Campaign, django_capture_on_commit_callbacks) -> SelectionRun:
    # The task is queued after commit; the test runs its body here, in-process.
    with django_capture_on_commit_callbacks(execute=False):
        run = services.selection_run_start(campaign=campaign)
    run = services.selection_run_execute(run_id=run.pk)
    assert run.status == SelectionRun.Status.PREVIEW, run.error
    return run


def _members(run) -> dict[str, SelectionMember]:
    return {m.msisdn: m for m in SelectionMember.objects.filter(run=run)}


def _subscribers(snapshot) -> list[dict]:
    return list(Subscriber.objects.filter(snapshot=snapshot).values())


def _billing(snapshot) -> dict[str, dict[date, dict]]:
    rows: dict[str, dict[date, dict]] = defaultdict(dict)
    for row in BillingRecord.objects.filter(snapshot=snapshot).values():
        rows[row["msisdn"]][row["cycle"]] = row
    return rows


def _months(first: date, last: date) -> list[date]:
    months, current = [], first
    while current <= last:
        months.append(current)
        current = date(current.year + current.month // 12, current.month % 12 + 1, 1)
    return months


def _tenure(contract: date, taken: date) -> int:
    months = (taken.year * 12 + taken.month) - (contract.year * 12 + contract.month)
    return months - (1 if contract.day > taken.day else 0)


def _age(born: date | None, taken: date) -> int | None:
    if born is None:
        return None
    return taken.year - born.year - ((born.month, born.day) > (taken.month, taken.day))


def _average(bills: dict, cycles: list[date], column=lambda row: row["revenue_total"]):
    total = sum(column(bills[c]) for c in cycles if c in bills)
    return Decimal(total) / len(cycles)


def _rank_key(values: list, msisdn: str):
    """Descending on every value, then the number ascending: the programmes' order."""
    return (*[-v for v in values], msisdn)


@pytest.mark.django_db
def test_programme_000_takes_the_longest_standing_by_revenue(
    django_capture_on_commit_callbacks,
):
    snapshot = _snapshot("2022")
    campaign = _campaign("000", snapshot)
    campaign.quota_total = 5
    campaign.save()
    run = _run(campaign, django_capture_on_commit_callbacks)

    bills = _billing(snapshot)
    window = _months(date(2022, 8, 1), date(2022, 10, 1))
    eligible = []
    for s in _subscribers(snapshot):
        if (
            s["province"] == "Hồ Chí Minh"
            and _tenure(s["contract_date"], snapshot.taken_on) >= 240
            and s["status"] == "2C"
            and not s["loyalty_member"]
            and not s["is_premium"]
            and s["line_kind"] == "normal"
        ):
            revenue = _average(bills.get(s["msisdn"], {}), window)
            tenure = _tenure(s["contract_date"], snapshot.taken_on)
            eligible.append((_rank_key([revenue, tenure], s["msisdn"]), s["msisdn"]))
    eligible.sort()
    expected = [msisdn for _key, msisdn in eligible]
    assert len(expected) > 5, "the generated data must leave more eligible than seats"

    members = _members(run)
    assert sorted(members, key=lambda m: members[m].rank) == expected
    selected = [m for m in expected if members[m].selected]
    assert selected == expected[:5]
    assert run.selected_count == 5
    assert all(members[m].tier == "qua-500k" for m in selected)
    # The funnel starts from everyone and ends at the eligible.
    assert run.population == SIZE - _rejected(snapshot)
    assert run.funnel[-1]["remaining"] == len(expected)


def _rejected(snapshot) -> int:
    return SIZE - Subscriber.objects.filter(snapshot=snapshot).count()


@pytest.mark.django_db
def test_programme_001_bands_charge_levels_into_home_and_store_lists_in_batches(
    django_capture_on_commit_callbacks,
):
    snapshot = _snapshot("2017")
    campaign = _campaign("001", snapshot)
    run = _run(campaign, django_capture_on_commit_callbacks)

    bills = _billing(snapshot)
    # n = 06/2017: cycles n-5..n-3 are 01/2017..03/2017.
    window = _months(date(2017, 1, 1), date(2017, 3, 1))
    expected = {}
    for s in _subscribers(snapshot):
        level = _average(bills.get(s["msisdn"], {}), window)
        if s["status"] == "2C" and s["company"] == 5 and level >= 550000:
            tier = "nhom-1" if level >= 700000 else "nhom-2"
            expected[s["msisdn"]] = (
                tier,
                _rank_key(
                    [level, _tenure(s["contract_date"], snapshot.taken_on)], s["msisdn"]
                ),
            )
    assert expected and {t for t, _k in expected.values()} == {"nhom-1", "nhom-2"}

    members = _members(run)
    assert set(members) == set(expected)
    assert all(m.selected for m in members.values())
    for msisdn, (tier, _key) in expected.items():
        member = members[msisdn]
        assert member.tier == tier
        assert member.channel == ("home_visit" if tier == "nhom-1" else "store_pickup")
    # Each list is cut by rank into four batches of near-equal size (NTILE).
    for tier, list_name in [
        ("nhom-1", "DS KH do MBF đến tặng"),
        ("nhom-2", "DS KH ra cửa hàng nhận quà"),
    ]:
        ordered = sorted(
            (key, msisdn) for msisdn, (t, key) in expected.items() if t == tier
        )
        size = len(ordered)
        batches = [members[msisdn].batch for _key, msisdn in ordered]
        assert all(members[msisdn].list_name == list_name for _k, msisdn in ordered)
        assert batches == sorted(batches)
        counts = [batches.count(n) for n in range(1, 5) if n <= size]
        assert max(counts) - min(counts) <= 1


@pytest.mark.django_db
def test_programme_002_excludes_named_lists_and_ranks_by_arpu(
    django_capture_on_commit_callbacks,
):
    snapshot = _snapshot("2022", with_lists=True)
    campaign = _campaign("002", snapshot)
    run = _run(campaign, django_capture_on_commit_callbacks)

    bills = _billing(snapshot)
    listed = set(
        NamedListEntry.objects.filter(
            named_list__name__in=["KHCC đã gọi ra đợt 1", "DS KH lâu năm"]
        ).values_list("msisdn", flat=True)
    )
    window = _months(date(2022, 7, 1), date(2022, 9, 1))
    expected = []
    for s in _subscribers(snapshot):
        arpu = _average(bills.get(s["msisdn"], {}), window)
        if (
            s["status"] == "2C"
            and s["company"] == 9
            and s["vlr_days_7"] >= 4
            and arpu >= 150000
            and s["msisdn"] not in listed
        ):
            churn = s["churn_risk"] if s["churn_risk"] is not None else Decimal("-1")
            tier = "arpu-500k" if arpu >= 500000 else "arpu-150k"
            expected.append((_rank_key([arpu, churn], s["msisdn"]), s["msisdn"], tier))
    expected.sort()
    assert any(s["msisdn"] in listed for s in _subscribers(snapshot))

    members = _members(run)
    assert [m for _k, m, _t in expected] == sorted(
        members, key=lambda m: members[m].rank
    )
    assert {m: t for _k, m, t in expected} == {m: v.tier for m, v in members.items()}
    removed_by_lists = [step for step in run.funnel if "«" in step["step"]]
    assert len(removed_by_lists) == 2


@pytest.mark.django_db
def test_programme_003_splits_phases_by_district_and_lists_by_promotion(
    django_capture_on_commit_callbacks,
):
    snapshot = _snapshot("2022")
    campaign = _campaign("003", snapshot)
    run = _run(campaign, django_capture_on_commit_callbacks)

    scope = set(campaign.region_scope)
    central = {
        (d["province"], d["district"]) for d in campaign.phases.get(number=1).districts
    }
    expected = {}
    for s in _subscribers(snapshot):
        if (
            s["province"] in scope
            and s["status"] == "2C"
            and s["handset_network"] in {"4G", "5G"}
            and s["handset_os"] in {"iOS", "Android"}
            and not s["sim_4g"]
            and s["vlr_days_7"] == 7
        ):
            phase = 1 if (s["province"], s["district"]) in central else 2
            listed = (
                "Danh sách 1" if s["subscription_type"] == "prepaid" else "Danh sách 2"
            )
            expected[s["msisdn"]] = (phase, listed)
    members = _members(run)
    assert {m: (v.phase, v.list_name) for m, v in members.items()} == expected
    assert {phase for phase, _l in expected.values()} == {1, 2}


@pytest.mark.django_db
def test_programme_004_fills_company_group_quotas_with_spill_over(
    django_capture_on_commit_callbacks,
):
    snapshot = _snapshot("2019")
    campaign = _campaign("004", snapshot)
    run = _run(campaign, django_capture_on_commit_callbacks)

    bills = _billing(snapshot)
    window = _months(date(2018, 9, 1), date(2019, 8, 1))
    taken = snapshot.taken_on
    ranked = defaultdict(list)
    removed = defaultdict(int)
    for s in _subscribers(snapshot):
        b = bills.get(s["msisdn"], {})
        in_window = [b[c] for c in window if c in b]
        total = sum(r["revenue_total"] for r in in_window)
        usage = sum(
            r["revenue_voice"] + r["revenue_sms"] + r["revenue_data"] for r in in_window
        )
        individual = s["customer_type"] == "individual"
        # The programme's conditions in the order its funnel lists them; billing is
        # read from step 4 on, between steps on the subscriber's own columns.
        checks = [
            s["subscription_type"] == "postpaid",
            s["status"] == "2C",
            (_age(s["birth_date"], taken) or 0) >= 18,
            (
                sum(1 for r in in_window if r["paid"] and r["payment_channel"] in BANK)
                == 12
            ),
            not any(r["debt_blocked"] for r in in_window),
            s["nationality"] == "VN",
            s["is_owner"] if individual else True,
            (
                True
                if s["customer_type"] != "enterprise"
                else s["enterprise_role"] in {"head_of_department", "director"}
            ),
            _tenure(s["contract_date"], taken) >= 36,
            total > 0 and Decimal(100) * usage / total >= 80,
            True,  # in no other running campaign: there is none
            (
                s["ownership_changed_on"] is None
                or s["ownership_changed_on"] < window[0]
            ),
            True,  # in a tier band: 004 has a single open band
        ]
        failed_at = next(
            (step for step, check in enumerate(checks, start=1) if not check), 0
        )
        removed[failed_at] += 1
        if failed_at:
            continue
        info = _average(b, window, lambda r: r["revenue_total"] - r["revenue_excluded"])
        key = _rank_key([info, _tenure(s["contract_date"], taken)], s["msisdn"])
        ranked[(str(s["company"]), s["customer_type"])].append((key, s["msisdn"]))
    seats = {
        tuple(cell["key"]): cell["seats"] for cell in run.ruleset["quotas"]["cells"]
    }
    expected = set()
    for company in {c for c, _g in seats}:
        cells = [(company, "individual"), (company, "enterprise")]
        leftovers = []
        short = 0
        for cell in cells:
            people = sorted(ranked.get(cell, []))
            taken_here = people[: seats[cell]]
            expected.update(m for _k, m in taken_here)
            leftovers += people[seats[cell] :]
            short += seats[cell] - len(taken_here)
        # A short group fills from the other group of the same company, best first.
        expected.update(m for _k, m in sorted(leftovers)[:short])

    members = _members(run)
    selected = {m for m, v in members.items() if v.selected}
    assert selected == expected
    assert len(selected) <= 36
    assert any(v.spilled for v in members.values() if v.selected), (
        "the generated data should make at least one company spill over"
    )
    tours = {v.list_name for v in members.values() if v.selected}
    assert tours <= {"Đoàn 1 (Hà Nội)", "Đoàn 2 (TP Hồ Chí Minh)"}
    # Each step removed those who first failed it, whether or not billing is read
    # for them (it is not for those who leave before step 4).
    assert [step["removed"] for step in run.funnel] == [
        removed[step] for step in range(1, len(checks) + 1)
    ]
    assert all(removed[step] for step in (1, 2, 3, 4, 6, 10)), dict(removed)
