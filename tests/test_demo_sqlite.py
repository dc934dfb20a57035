"""The embedded default that `make run` uses: SQLite, Celery in-process.

The suite runs on PostgreSQL; this test runs the demo's commands in a child process on a
fresh SQLite database so the other dialect of the import SQL stays working.
"""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _manage(tmp_path, *args) -> str:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "CELERY_BROKER_URL", "REDIS_URL"}
    }
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings.local",
        DATABASE_URL=f"sqlite:///{tmp_path / 'demo.sqlite3'}",
        DJANGO_MEDIA_ROOT=str(tmp_path / "media"),
    )
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def test_demo_loads_on_sqlite_and_prints_a_login_per_role(tmp_path):
    _manage(tmp_path, "migrate", "--noinput", "-v", "0")
    out = _manage(tmp_path, "load_demo", "--size", "300")

    for username in ["admin", "cskh", "doitac", "dtv", "giamsat", "tinh", "thucdia"]:
        assert username in out
    counts = _manage(
        tmp_path,
        "shell",
        "-v",
        "0",
        "-c",
        "from eligibility.models import Snapshot, NamedList; "
        "from campaigns.models import Campaign; "
        "s = Snapshot.objects.get(name='Demo 31/10/2022'); "
        "print(s.subscriber_count, s.billing_count > s.subscriber_count, "
        "NamedList.objects.count(), Campaign.objects.count(), "
        "Snapshot.objects.count())",
    )
    assert counts.split() == ["300", "True", "2", "5", "3"]

    # Every programme's list is selected and approved on SQLite too, with the same
    # SQL engine; 000's members are invited to choose their gift online, 002's get
    # invitations without a password, for the agents who choose on the call.
    runs = _manage(
        tmp_path,
        "shell",
        "-v",
        "0",
        "-c",
        "from campaigns.models import Campaign; from gifts.models import Invitation; "
        "[print(c.code[:3], r.status, r.selected_count > 0, "
        "Invitation.objects.filter(run=r).count() == (r.selected_count if "
        "c.code[:3] in ('000', '002') else 0)) for c in "
        "Campaign.objects.order_by('code') for r in c.selection_runs.all()]",
    )
    assert runs.split() == [
        part
        for code in ("000", "001", "002", "003", "004")
        for part in (code, "approved", "True", "True")
    ], runs
    assert "password MB2468" in out

    # A second run keeps the data and changes nothing.
    _manage(tmp_path, "load_demo", "--size", "300")
    again = _manage(
        tmp_path,
        "shell",
        "-v",
        "0",
        "-c",
        "from eligibility.models import Subscriber; print(Subscriber.objects.count())",
    )
    assert again.strip() == "900"


def test_messy_file_is_checked_row_by_row_on_sqlite(tmp_path):
    _manage(tmp_path, "migrate", "--noinput", "-v", "0")
    _manage(
        tmp_path,
        "generate_snapshot",
        "--out",
        str(tmp_path / "files"),
        "--size",
        "400",
        "--cycles",
        "2",
        "--messy-rate",
        "0.05",
    )
    out = _manage(
        tmp_path,
        "import_snapshot",
        "--snapshot",
        "T10",
        "--taken-on",
        "2022-10-31",
        "--subscribers",
        str(tmp_path / "files" / "subscribers.csv"),
        "--commit",
    )
    summary = [
        line for line in out.splitlines() if "rejected" in line or "loại" in line
    ]
    assert summary, out
    counts = _manage(
        tmp_path,
        "shell",
        "-v",
        "0",
        "-c",
        "from eligibility.models import ImportJob; j = ImportJob.objects.get(); "
        "print(j.total_rows, j.valid_rows, j.rejected_rows, j.imported_rows)",
    )
    total, valid, rejected, imported = map(int, counts.split())
    assert total >= 400
    assert rejected > 0
    assert valid == imported == total - rejected
