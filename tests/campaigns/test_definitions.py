from datetime import date
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from campaigns import definitions, demo, selectors, services
from campaigns.definitions import DefinitionError
from campaigns.models import Campaign, CampaignEvent
from eligibility.models import DomainError, NamedList
from tests.campaigns.factories import (
    CampaignBatchFactory,
    CampaignFactory,
    CampaignPhaseFactory,
)

pytestmark = pytest.mark.django_db

GOOD = """\
version: 1
code: 003-doi-sim-4g
name: Đổi SIM 4G tại nhà
owning_unit: Công ty 9
starts_on: 2021-03-26
region_scope: [Cần Thơ]
phases:
- number: 1
  name: Đợt 1
  starts_on: 2021-03-26
  ends_on: 2021-05-31
  districts:
  - {province: Cần Thơ, district: Quận Ninh Kiều}
- number: 2
  name: Đợt 2
  starts_on: 2021-06-01
batches: []
"""


def _campaign_with_parts():
    campaign = CampaignFactory(
        code="rt", description="Hai dòng\nmô tả", region_scope=["An Giang", "Cà Mau"]
    )
    CampaignPhaseFactory(campaign=campaign, number=1)
    CampaignPhaseFactory(
        campaign=campaign, number=2, starts_on=date(2021, 6, 1), ends_on=None
    )
    CampaignBatchFactory(campaign=campaign, number=1, starts_on=date(2022, 11, 10))
    CampaignBatchFactory(campaign=campaign, number=2)
    return campaign


def _import(text, **kwargs):
    return services.campaign_import(
        definition=definitions.definition_parse(text), **kwargs
    )


def test_export_then_import_gives_the_same_definition():
    campaign = _campaign_with_parts()
    exported = definitions.definition_export(campaign=campaign)
    text = definitions.definition_dump(exported)
    assert definitions.definition_parse(text) == exported

    Campaign.objects.all().delete()
    imported, created = _import(text)
    assert created
    assert definitions.definition_export(campaign=imported) == exported


def test_import_over_a_draft_replaces_its_definition_and_records_what_changed():
    campaign = _campaign_with_parts()
    text = definitions.definition_dump(definitions.definition_export(campaign=campaign))
    services.campaign_update(campaign=campaign, data={"name": "Đã sửa"})
    campaign.phases.filter(number=2).delete()

    imported, created = _import(text, source="rt.yaml")

    assert not created
    assert imported.pk == campaign.pk
    assert imported.phases.count() == 2
    event = imported.events.filter(kind=CampaignEvent.Kind.IMPORTED).get()
    assert event.data["changed"] == ["name", "phases"]
    assert event.data["source"] == "rt.yaml"


def test_import_over_a_campaign_past_draft_is_refused():
    campaign = CampaignFactory(code="003-doi-sim-4g", status=Campaign.Status.OPEN)
    with pytest.raises(DomainError, match="only a draft campaign"):
        _import(GOOD)
    assert not campaign.phases.exists()


def test_import_failing_half_way_writes_nothing():
    campaign = CampaignFactory(code="003-doi-sim-4g", name="Before")
    definition = definitions.definition_parse(GOOD)
    # Past the file check, the service still refuses overlapping phases.
    definition["phases"][1]["starts_on"] = date(2021, 5, 1)
    with pytest.raises(DomainError, match="overlaps"):
        services.campaign_import(definition=definition)
    campaign.refresh_from_db()
    assert campaign.name == "Before"
    assert not campaign.phases.exists()
    assert not campaign.events.exists()


@pytest.mark.parametrize("path", demo.programme_files(), ids=lambda path: path.name)
def test_each_shipped_programme_imports(path):
    for name in ("KHCC đã gọi ra đợt 1", "DS KH lâu năm"):
        NamedList.objects.get_or_create(name=name)
    definition = definitions.definition_parse(path.read_text(encoding="utf-8"))
    campaign, created = services.campaign_import(definition=definition)
    assert created
    assert campaign.status == Campaign.Status.DRAFT
    assert definitions.definition_export(campaign=campaign) == definition


def test_the_five_programmes_are_shipped_with_the_demo_codes():
    codes = [
        definitions.definition_parse(path.read_text(encoding="utf-8"))["code"]
        for path in demo.programme_files()
    ]
    assert codes == [
        "000-lau-nam-hcm",
        "001-muc-cuoc-kv5",
        "002-goi-ra-kv9",
        "003-doi-sim-4g",
        "004-du-lich-chau-au",
    ]


def _programme(code):
    for path in demo.programme_files():
        definition = definitions.definition_parse(path.read_text(encoding="utf-8"))
        if definition["code"] == code:
            return definition
    raise AssertionError(code)


def test_programme_003_phases_follow_the_district_table():
    phase_1, phase_2 = _programme("003-doi-sim-4g")["phases"]
    assert (phase_1["starts_on"], phase_1["ends_on"]) == (
        date(2021, 3, 26),
        date(2021, 5, 31),
    )
    assert (phase_2["starts_on"], phase_2["ends_on"]) == (date(2021, 6, 1), None)

    def as_set(districts):
        return {(d["province"], d["district"]) for d in districts}

    assert as_set(phase_1["districts"]) == as_set(
        selectors.province_districts(is_central=True)
    )
    assert as_set(phase_2["districts"]) == as_set(
        selectors.province_districts(is_central=False)
    )


def test_programme_000_and_001_carry_their_particulars():
    assert _programme("000-lau-nam-hcm")["until_gifts_run_out"] is True
    batches = _programme("001-muc-cuoc-kv5")["batches"]
    assert [batch["number"] for batch in batches] == [1, 2, 3, 4]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        (
            ("name: Đổi SIM 4G tại nhà", "name: X\ncolour: red"),
            "line 4, colour: unknown key",
        ),
        (
            ("  ends_on: 2021-05-31", "  ends_on: 31/05/2021"),
            "line 11, phases[0].ends_on: not a date (YYYY-MM-DD)",
        ),
        (
            ("starts_on: 2021-06-01", "starts_on: 2021-06-31"),
            "phases[1].starts_on: not a date",
        ),
        (("code: 003-doi-sim-4g\n", ""), "code: missing"),
        (("code: 003-doi-sim-4g", "code: đổi sim"), "code: must be letters"),
        (("version: 1", "version: 2"), "version: unsupported version 2"),
        (("  name: Đợt 2", "  nam: Đợt 2"), "phases[1].nam: unknown key"),
        (("- number: 2", "- number: 1"), "phases[1].number: number 1 is already used"),
        (
            ("starts_on: 2021-06-01", "starts_on: 2021-05-01"),
            "phases[1]: overlaps phases[0]",
        ),
        (("batches: []", "batches: [1]"), "batches[0]: expected a mapping"),
        (("batches: []", "rules: [x]"), "rules[0]: expected a mapping"),
        (
            ("region_scope: [Cần Thơ]", "region_scope: Cần Thơ"),
            "region_scope: must be a list",
        ),
        (
            ("owning_unit: Công ty 9", "owning_unit: Công ty 9\nname: again"),
            "name: duplicate key",
        ),
        (
            (
                "starts_on: 2021-03-26\nregion",
                "starts_on: 2021-03-26\nends_on: 2021-01-01\nregion",
            ),
            "ends_on: before starts_on",
        ),
    ],
)
def test_bad_file_is_refused_naming_the_field(change, expected):
    old, new = change
    assert old in GOOD
    with pytest.raises(DefinitionError) as error:
        definitions.definition_parse(GOOD.replace(old, new, 1))
    assert expected in str(error.value)


def test_every_problem_is_reported_at_once():
    text = GOOD.replace("code: 003-doi-sim-4g\n", "").replace("2021-05-31", "soon")
    with pytest.raises(DefinitionError) as error:
        definitions.definition_parse(text)
    assert len(error.value.problems) == 2


@pytest.mark.parametrize(
    "text", ["code: [unclosed", "- just\n- a list", "", "name: x\n\tcode: y"]
)
def test_text_that_is_not_a_definition_is_refused(text):
    with pytest.raises(DefinitionError):
        definitions.definition_parse(text)


def test_export_command_writes_the_definition(tmp_path):
    campaign = _campaign_with_parts()
    out = StringIO()
    call_command("campaign_export", campaign.code, stdout=out)
    assert definitions.definition_parse(out.getvalue())["code"] == campaign.code

    path = tmp_path / "rt.yaml"
    call_command(
        "campaign_export", campaign.code, "--out", str(path), stdout=StringIO()
    )
    assert definitions.definition_parse(path.read_text(encoding="utf-8")) == (
        definitions.definition_export(campaign=campaign)
    )


def test_export_command_refuses_an_unknown_code():
    with pytest.raises(CommandError, match="nope"):
        call_command("campaign_export", "nope", stdout=StringIO())


def test_import_command_only_checks_without_commit(tmp_path):
    path = tmp_path / "003.yaml"
    path.write_text(GOOD, encoding="utf-8")
    out = StringIO()
    call_command("campaign_import", str(path), stdout=out)
    assert "Would create campaign 003-doi-sim-4g with 2 phases and 0 batches" in (
        out.getvalue()
    )
    assert not Campaign.objects.exists()

    call_command("campaign_import", str(path), "--commit", stdout=out)
    assert "Created 003-doi-sim-4g." in out.getvalue()
    assert Campaign.objects.get().phases.count() == 2

    path.write_text(GOOD.replace("name: Đổi SIM 4G tại nhà", "name: Mới"), "utf-8")
    out = StringIO()
    call_command("campaign_import", str(path), stdout=out)
    assert "Would update campaign 003-doi-sim-4g: name." in out.getvalue()
    call_command("campaign_import", str(path), "--commit", stdout=out)
    assert Campaign.objects.get().name == "Mới"


def test_import_command_refuses_a_bad_file_and_writes_nothing(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text(GOOD.replace("2021-05-31", "31/05/2021"), encoding="utf-8")
    with pytest.raises(CommandError) as error:
        call_command("campaign_import", str(path), "--commit", stdout=StringIO())
    assert "phases[0].ends_on: not a date (YYYY-MM-DD)" in str(error.value)
    assert "nothing was imported" in str(error.value)
    assert not Campaign.objects.exists()


def test_import_command_refuses_to_replace_a_campaign_past_draft(tmp_path):
    CampaignFactory(code="003-doi-sim-4g", status=Campaign.Status.SELECTED)
    path = tmp_path / "003.yaml"
    path.write_text(GOOD, encoding="utf-8")
    with pytest.raises(CommandError, match="only a draft campaign"):
        call_command("campaign_import", str(path), stdout=StringIO())


def test_demo_load_imports_the_programmes_once():
    demo.demo_load(size=30, say=lambda *args: None)
    campaigns = Campaign.objects.order_by("code")
    assert campaigns.count() == 5
    # Each programme runs on data of its own era: 001 reads 2017 cycles, 004 2019's.
    assert {c.code[:3]: c.snapshot.name for c in campaigns} == {
        "000": demo.DEMO_SNAPSHOT,
        "001": "Demo 31/05/2017",
        "002": demo.DEMO_SNAPSHOT,
        "003": demo.DEMO_SNAPSHOT,
        "004": "Demo 31/08/2019",
    }
    assert Campaign.objects.get(code="003-doi-sim-4g").phases.count() == 2
    events = CampaignEvent.objects.count()

    demo.demo_load(size=30, say=lambda *args: None)
    assert Campaign.objects.count() == 5
    assert CampaignEvent.objects.count() == events
