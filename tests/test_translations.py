"""The Vietnamese translation: complete, compiled, and actually served.

The portal is Vietnamese first (LANGUAGE_CODE "vi"); every string the code and the
templates mark for translation must have a Vietnamese msgstr in locale/vi, and the
committed django.mo must match the django.po (a fresh machine may not have msgfmt).
"""

import ast
import gettext as gnu_gettext
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.utils import translation
from django.utils.translation import gettext

from eligibility import importers

pytestmark = pytest.mark.django_db

LOCALE_DIR = Path(settings.BASE_DIR) / "locale" / "vi" / "LC_MESSAGES"
PO_FILE = LOCALE_DIR / "django.po"
MO_FILE = LOCALE_DIR / "django.mo"

UPLOAD_URL = "/admin/eligibility/importjob/upload/"

_KEYWORD = re.compile(r'^(msgctxt|msgid_plural|msgid|msgstr(?:\[\d+\])?)\s+(".*")$')
_PLACEHOLDER = re.compile(r"%\([^)]+\)[#0\- +]*\d*(?:\.\d+)?[a-zA-Z]|%%")


def _unquote(token: str) -> str:
    # A PO string is a C-style quoted string; Python's literal syntax reads it the
    # same way for the escapes gettext writes (\" \\ \n \t).
    return ast.literal_eval(token)


def parse_po(path: Path) -> list[dict]:
    """The live (non-obsolete) entries of a .po file.

    Each entry: {"flags": set, "msgctxt": str | None, "msgid": str,
    "msgid_plural": str | None, "msgstr": {index: str}} where a singular entry's
    msgstr is stored under index 0.
    """
    entries: list[dict] = []
    entry: dict | None = None
    field: tuple[str, int | None] | None = None

    def start() -> dict:
        new = {
            "flags": set(),
            "msgctxt": None,
            "msgid": None,
            "msgid_plural": None,
            "msgstr": {},
        }
        entries.append(new)
        return new

    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line:
            entry, field = None, None
            continue
        if line.startswith("#~"):  # obsolete: not compiled, not checked
            if entry is not None and entry["msgid"] is None:
                entries.remove(entry)  # its "#," flags came before "#~ msgid"
            entry, field = None, None
            continue
        if line.startswith("#"):
            # A comment after an entry's strings begins the next entry.
            if entry is None or entry["msgid"] is not None:
                entry, field = start(), None
            if line.startswith("#,"):
                entry["flags"].update(f.strip() for f in line[2:].split(","))
            continue
        match = _KEYWORD.match(line)
        if match:
            keyword, token = match.groups()
            if entry is None or (
                keyword in ("msgctxt", "msgid")
                and (entry["msgstr"] or (keyword == "msgctxt" and entry["msgid"]))
            ):
                entry = start()
            if keyword.startswith("msgstr"):
                index = int(keyword[7:-1]) if "[" in keyword else 0
                entry["msgstr"][index] = _unquote(token)
                field = ("msgstr", index)
            else:
                entry[keyword] = _unquote(token)
                field = (keyword, None)
            continue
        if line.startswith('"') and entry is not None and field is not None:
            name, index = field
            if name == "msgstr":
                entry["msgstr"][index] += _unquote(line)
            else:
                entry[name] += _unquote(line)
            continue
        raise AssertionError(f"{path.name}:{number}: cannot parse {raw!r}")
    for entry in entries:
        assert entry["msgid"] is not None, f"{path.name}: comments without msgid"
    return entries


def _header(entries: list[dict]) -> dict[str, str]:
    header = next(e for e in entries if e["msgid"] == "" and e["msgctxt"] is None)
    assert "fuzzy" not in header["flags"], "the .po header is still marked fuzzy"
    fields = {}
    for line in header["msgstr"][0].splitlines():
        key, _sep, value = line.partition(":")
        fields[key.strip()] = value.strip()
    return fields


def _messages(entries: list[dict]) -> list[dict]:
    return [e for e in entries if e["msgid"] != "" or e["msgctxt"] is not None]


@pytest.fixture(scope="module")
def po_entries():
    assert PO_FILE.is_file(), f"{PO_FILE} is missing: run makemessages -l vi"
    return parse_po(PO_FILE)


# --- (a) the catalogue is complete ---------------------------------------------------


def test_po_header_is_vietnamese_utf8_with_one_plural_form(po_entries):
    header = _header(po_entries)
    assert header["Language"] == "vi"
    assert header["Content-Type"] == "text/plain; charset=UTF-8"
    assert header["Plural-Forms"].replace(" ", "") == "nplurals=1;plural=0;"


def test_po_has_no_untranslated_or_fuzzy_entries(po_entries):
    messages = _messages(po_entries)
    assert len(messages) > 100  # the whole UI, not a stub
    fuzzy = [e["msgid"] for e in messages if "fuzzy" in e["flags"]]
    untranslated = [
        e["msgid"]
        for e in messages
        if not e["msgstr"] or any(not text.strip() for text in e["msgstr"].values())
    ]
    assert not fuzzy, f"fuzzy entries: {fuzzy}"
    assert not untranslated, f"untranslated entries: {untranslated}"


# What makemessages must not read: environments, data, tests and the test peer's npm
# packages (JavaScript).
NOT_SOURCE = {".git", ".venv", "var", "media", "tests", "bench", "test-artifacts"}


def test_every_string_the_code_marks_is_in_the_catalogue(tmp_path):
    # Extract the strings afresh from a copy of the sources, as makemessages does,
    # and compare: a string added to the code without a translation fails here
    # instead of showing English to the staff.
    root = Path(settings.BASE_DIR)
    copy = tmp_path / "src"
    shutil.copytree(
        root,
        copy,
        ignore=lambda folder, names: (
            [n for n in names if n in NOT_SOURCE or n == "node_modules"]
            if Path(folder) == root
            else [n for n in names if n in ("node_modules", "__pycache__")]
        ),
    )
    subprocess.run(
        [sys.executable, "manage.py", "makemessages", "-l", "vi", "--no-obsolete"],
        cwd=copy,
        check=True,
        capture_output=True,
    )
    extracted = {
        e["msgid"] for e in _messages(parse_po(copy / PO_FILE.relative_to(root)))
    }
    catalogued = {
        e["msgid"]
        for e in _messages(parse_po(PO_FILE))
        if e["msgstr"] and "fuzzy" not in e["flags"]
    }
    assert not extracted - catalogued, sorted(extracted - catalogued)


def test_plural_entries_use_the_single_vietnamese_form(po_entries):
    for entry in _messages(po_entries):
        if entry["msgid_plural"] is not None:
            assert set(entry["msgstr"]) == {0}, entry["msgid"]


def test_placeholders_are_kept(po_entries):
    for entry in _messages(po_entries):
        expected = sorted(_PLACEHOLDER.findall(entry["msgid"]))
        for text in entry["msgstr"].values():
            assert sorted(_PLACEHOLDER.findall(text)) == expected, entry["msgid"]


def test_compiled_mo_matches_the_po(po_entries):
    """django.mo is committed: it must hold exactly what django.po says."""
    assert MO_FILE.is_file(), f"{MO_FILE} is missing: run compilemessages -l vi"
    with MO_FILE.open("rb") as handle:
        catalog = gnu_gettext.GNUTranslations(handle)._catalog
    for entry in _messages(po_entries):
        key = entry["msgid"]
        if entry["msgctxt"] is not None:
            key = f"{entry['msgctxt']}\x04{key}"
        if entry["msgid_plural"] is not None:
            for index, text in entry["msgstr"].items():
                assert catalog.get((key, index)) == text, (
                    f"django.mo is stale for {entry['msgid']!r}: run compilemessages"
                )
        else:
            assert catalog.get(key) == entry["msgstr"][0], (
                f"django.mo is stale for {entry['msgid']!r}: run compilemessages"
            )


# --- (b) the running code speaks Vietnamese, and English on request ------------------


@pytest.mark.parametrize(
    ("msgid", "vietnamese"),
    [
        ("%(column)s is empty", "%(column)s bị trống"),
        ("%(column)s is not a billing cycle (YYYY-MM)", "chu kỳ cước"),
        ("repeats the number of row %(row)s", "trùng số thuê bao với dòng %(row)s"),
        ("%(column)s must be 0 or 1", "%(column)s phải là 0 hoặc 1"),
    ],
)
def test_importer_messages_follow_the_active_language(msgid, vietnamese):
    with translation.override("vi"):
        assert vietnamese in gettext(msgid)
    with translation.override("en"):
        assert gettext(msgid) == msgid


def test_rejected_row_reasons_are_vietnamese():
    missing = importers.PROBLEM_MESSAGES["missing"]
    with translation.override("vi"):
        assert missing("msisdn", "") == "msisdn bị trống"
    with translation.override("en"):
        assert missing("msisdn", "") == "msisdn is empty"


def test_model_labels_use_the_care_department_terms():
    from eligibility.models import ImportKind, Snapshot, Subscriber

    with translation.override("vi"):
        assert str(Snapshot._meta.verbose_name) == "kỳ dữ liệu"
        assert str(Subscriber._meta.get_field("msisdn").verbose_name) == "số thuê bao"
        assert str(ImportKind.NAMED_LIST.label) == "danh sách"
    with translation.override("en"):
        assert str(Snapshot._meta.verbose_name) == "snapshot"


# --- (c) the admin pages are served in the browser's language ------------------------


def test_upload_page_in_vietnamese(admin_client):
    response = admin_client.get(UPLOAD_URL, HTTP_ACCEPT_LANGUAGE="vi")
    assert response.status_code == 200
    assert response["Content-Language"] == "vi"
    page = response.content.decode()
    for label in (
        "Nhập dữ liệu thuê bao",  # the page title
        "Loại dữ liệu trong tệp",
        "Kỳ dữ liệu",
        "Tên danh sách",
        "Tệp (CSV hoặc XLSX)",
        "Thêm kỳ dữ liệu",
        "Tải lên và ghép cột",
        "tệp thuê bao",  # a choice of the kind select
    ):
        assert label in page, label
    for english in ("What the file holds", "Upload and map columns", "Add a snapshot"):
        assert english not in page, english


def test_upload_page_in_english(admin_client):
    response = admin_client.get(UPLOAD_URL, HTTP_ACCEPT_LANGUAGE="en")
    assert response.status_code == 200
    assert response["Content-Language"] == "en"
    page = response.content.decode()
    for label in (
        "Import subscriber data",
        "What the file holds",
        "List name",
        "File (CSV or XLSX)",
        "Add a snapshot",
        "Upload and map columns",
        "subscribers file",
    ):
        assert label in page, label
    for vietnamese in ("Loại dữ liệu trong tệp", "Tải lên và ghép cột"):
        assert vietnamese not in page, vietnamese


def test_staff_switch_the_admin_to_english_and_back(admin_client):
    page = admin_client.get("/admin/", HTTP_ACCEPT_LANGUAGE="vi")
    assert "Cổng chương trình CSKH" in page.content.decode()
    assert 'id="language-switcher"' in page.content.decode()

    admin_client.post("/i18n/setlang/", {"language": "en", "next": "/admin/"})
    english = admin_client.get("/admin/", HTTP_ACCEPT_LANGUAGE="vi")
    assert "Customer-care campaign portal" in english.content.decode()

    admin_client.post("/i18n/setlang/", {"language": "vi", "next": "/admin/"})
    again = admin_client.get("/admin/")
    assert "Cổng chương trình CSKH" in again.content.decode()
