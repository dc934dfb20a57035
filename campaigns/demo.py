"""The demo: a generated snapshot, the five seed programmes as campaigns, one login per role.

Loading is idempotent: a second run finds the demo snapshot and changes nothing.
"""

from __future__ import annotations

import importlib
import importlib.util
import tempfile
from datetime import date
from pathlib import Path

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction

from campaigns import definitions, roles
from campaigns import services as campaign_services
from campaigns.models import Campaign, SelectionRun
from eligibility import services as eligibility_services
from eligibility.models import DomainError, ImportKind, Snapshot
from eligibility.synthetic import generate_snapshot, write_named_list

DEMO_SNAPSHOT = "Demo 31/10/2022"
DEMO_PASSWORD = "demo1234"
# Programmes 001 (2017) and 004 (2019) read billing windows of their own years, so the
# demo generates a snapshot for each era: (name, taken on, last billing cycle, seed).
DEMO_SNAPSHOTS = {
    "2022": (DEMO_SNAPSHOT, date(2022, 10, 31), "2022-10", 2022),
    "2019": ("Demo 31/08/2019", date(2019, 8, 31), "2019-08", 2019),
    "2017": ("Demo 31/05/2017", date(2017, 5, 31), "2017-05", 2017),
}
PROGRAMME_SNAPSHOT = {"001": "2017", "004": "2019"}

# The five programmes of shared/seeds (see DIGEST.md), as care staff would declare them:
# definition files that demo_load imports like any other.
PROGRAMMES_DIR = Path(__file__).resolve().parent / "programmes"


# Apps whose `demo.py` has a `demo_load(*, say)`, called after the campaigns exist.
DEMO_APPS = ["gifts", "fulfilment", "visits", "callcenter", "servicerequests"]


def programme_files() -> list[Path]:
    return sorted(PROGRAMMES_DIR.glob("*.yaml"))


DEMO_USERS = [
    ("admin", None, "superuser"),
    ("cskh", roles.CARE_STAFF, "care staff"),
    ("doitac", roles.PARTNER, "partner"),
    ("dtv", roles.CALL_AGENT, "call agent"),
    ("giamsat", roles.CALL_SUPERVISOR, "call supervisor"),
    ("tinh", roles.PROVINCE_STAFF, "province staff"),
    ("thucdia", roles.FIELD_STAFF, "field staff"),
]


def demo_load(*, size: int = 5000, say=print) -> None:
    roles.sync_roles()
    _ensure_users()
    snapshots = {}
    for era, (name, taken_on, last_cycle, seed) in DEMO_SNAPSHOTS.items():
        snapshot = Snapshot.objects.filter(name=name).first()
        if snapshot is None:
            snapshot = load_generated_snapshot(
                size=size,
                say=say,
                name=name,
                taken_on=taken_on,
                last_cycle=last_cycle,
                seed=seed,
                with_lists=era == "2022",
            )
        snapshots[era] = snapshot
    for path in programme_files():
        definition = definitions.definition_parse(path.read_text(encoding="utf-8"))
        # A campaign already there is left alone: staff may have moved it on since.
        if Campaign.objects.filter(code=definition["code"]).exists():
            continue
        era = PROGRAMME_SNAPSHOT.get(definition["code"][:3], "2022")
        campaign_services.campaign_import(
            definition=definition, snapshot=snapshots[era], source=path.name
        )
    demo_lists_approve(say=say)
    # The seed programmes' SMS and Zalo texts (idempotent, like the rest).
    from messaging.demo import demo_load_templates

    demo_load_templates()
    # Each later part of the product adds its own demo data in `<app>.demo.demo_load`
    # (idempotent too), run in this order because each builds on the ones before.
    for app in DEMO_APPS:
        if importlib.util.find_spec(f"{app}.demo") is None:
            continue
        module = importlib.import_module(f"{app}.demo")
        if hasattr(module, "demo_load"):
            module.demo_load(say=say)


def demo_lists_approve(*, say=print) -> None:
    """Select and approve each seed programme's list, so every later step has members.

    Done by care staff as they would in the admin: run, commit, approve. A campaign
    with an approved run, or moved on by staff, is left alone.
    """
    actor = get_user_model().objects.get(username="cskh")
    for campaign in Campaign.objects.filter(
        status__in=[Campaign.Status.DRAFT, Campaign.Status.SELECTED]
    ).order_by("code"):
        if campaign.selection_runs.filter(status=SelectionRun.Status.APPROVED).exists():
            continue
        try:
            run = campaign_services.selection_run_start(
                campaign=campaign, actor=actor, enqueue=False
            )
        except DomainError as error:
            # A tiny demo population may miss a programme's region: say so, go on.
            say(f"  {campaign.code}: not selected: {error}")
            continue
        run = campaign_services.selection_run_execute(run_id=run.pk)
        if run.status != SelectionRun.Status.PREVIEW:
            say(f"  {campaign.code}: selection {run.get_status_display()}: {run.error}")
            continue
        run = campaign_services.selection_run_commit(run=run, actor=actor)
        campaign_services.selection_run_approve(run=run, actor=actor)
        say(f"  {campaign.code}: list approved ({run.selected_count} selected)")


def load_generated_snapshot(
    *, size: int, say, name, taken_on, last_cycle, seed, with_lists
) -> Snapshot:
    say(f"Generating {name}: {size} subscribers with 12 billing cycles…")
    with tempfile.TemporaryDirectory() as folder:
        generated = generate_snapshot(
            out_dir=Path(folder), size=size, cycles=12, last_cycle=last_cycle, seed=seed
        )
        with transaction.atomic():
            snapshot = eligibility_services.snapshot_create(
                name=name,
                taken_on=taken_on,
                description="Dữ liệu sinh ngẫu nhiên cho bản demo.",
            )
        for kind, path in [
            (ImportKind.SUBSCRIBERS, generated.subscribers_path),
            (ImportKind.BILLING, generated.billing_path),
        ]:
            job = eligibility_services.import_file(
                kind=kind, path=path, snapshot=snapshot, commit=True
            )
            say(f"  {kind}: {job.imported_rows} rows imported")
        if not with_lists:
            snapshot.refresh_from_db()
            return snapshot
        # Exclusion lists that programme 002 refers to, drawn from the population.
        numbers = list(
            snapshot.subscribers.order_by("msisdn").values_list("msisdn", flat=True)
        )
        for name, sample in [
            ("KHCC đã gọi ra đợt 1", numbers[::50]),
            ("DS KH lâu năm", numbers[7::40]),
        ]:
            list_path = Path(folder) / f"list-{len(name)}.csv"
            write_named_list(path=list_path, msisdns=sample)
            eligibility_services.import_file(
                kind=ImportKind.NAMED_LIST, path=list_path, list_name=name, commit=True
            )
    snapshot.refresh_from_db()
    return snapshot


def _ensure_users() -> None:
    User = get_user_model()
    for username, group_name, _label in DEMO_USERS:
        user, created = User.objects.get_or_create(
            username=username, defaults={"is_staff": True}
        )
        if created:
            user.set_password(DEMO_PASSWORD)
            user.is_superuser = group_name is None
            user.save()
        if group_name:
            user.groups.add(Group.objects.get(name=group_name))
