"""The CSV/XLSX reader: what it refuses, and how it turns cells into text.

Every file is built here with openpyxl, zipfile or plain bytes. No database.
"""

import datetime
import gc
import random
import re
import signal
import string
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import openpyxl
import pyarrow as pa
import pytest
from django.utils import translation

from eligibility import spreadsheets
from eligibility.sheet_reader import sheet_batches
from eligibility.spreadsheets import TableFile, UnreadableFile, open_table

SHEET = "xl/worksheets/sheet1.xml"


@pytest.fixture(autouse=True)
def english():
    # The messages are checked in English, whatever translations are added later.
    with translation.override("en"):
        yield


@pytest.fixture
def no_calamine(monkeypatch):
    """Fails the test if the archive reaches calamine."""

    def refuse(*args, **kwargs):
        raise AssertionError("calamine was given a file the checks should refuse")

    monkeypatch.setattr(spreadsheets, "_SheetReader", refuse)


@pytest.fixture
def sheet_readers(monkeypatch):
    """The child processes started to parse sheets, to check how each ended."""
    started = []

    class Recorded(spreadsheets._SheetReader):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            started.append(self._process)

    monkeypatch.setattr(spreadsheets, "_SheetReader", Recorded)
    return started


def write_xlsx(path: Path, rows: list[list]) -> Path:
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    for row in rows:
        sheet.append(row)
    workbook.save(path)
    return path


def rewrite_part(path: Path, part: str, change) -> Path:
    """Rewrite one part of an archive in place, e.g. to edit the sheet XML."""
    with zipfile.ZipFile(path) as source:
        parts = [(info, source.read(info.filename)) for info in source.infolist()]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as target:
        for info, data in parts:
            if info.filename == part:
                data = change(data)
            target.writestr(info.filename, data)
    return path


def patch_declared_size(path: Path, part: str, size: int) -> None:
    """Make the archive lie about a part's uncompressed size, in both headers."""
    data = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(part)
    struct.pack_into("<I", data, info.header_offset + 22, size)
    name = part.encode()
    at = 0
    while True:
        at = data.index(b"PK\x01\x02", at)
        name_length = struct.unpack_from("<H", data, at + 28)[0]
        if data[at + 46 : at + 46 + name_length] == name:
            struct.pack_into("<I", data, at + 24, size)
            break
        at += 4
    path.write_bytes(bytes(data))


def refusal(path: Path, name: str | None = None) -> str:
    with pytest.raises(UnreadableFile) as caught:
        table = open_table(path, original_name=name or path.name)
        list(table.iter_rows())
    return str(caught.value)


# --- CSV ----------------------------------------------------------------------------


def test_csv_with_bom_and_semicolons_is_read(tmp_path):
    path = tmp_path / "thue_bao.csv"
    path.write_bytes(
        "\ufeffmsisdn; Họ tên ;tinh\r\n0901234567;Nguyễn Văn A;Cần Thơ\r\n".encode()
    )

    table = open_table(path, original_name="thue_bao.csv")

    assert table.format == "csv"
    assert table.delimiter == ";"
    assert table.headers == ["msisdn", "Họ tên", "tinh"]
    assert list(table.iter_rows()) == [["0901234567", "Nguyễn Văn A", "Cần Thơ"]]
    sent = b"".join(table.iter_csv_bytes())
    assert not sent.startswith(b"\xef\xbb\xbf")
    assert sent == path.read_bytes()[3:]


def test_format_is_decided_by_content_not_name(tmp_path):
    path = write_xlsx(tmp_path / "data.csv", [["msisdn"], ["0901234567"]])

    table = open_table(path, original_name="data.csv")

    assert table.format == "xlsx"
    assert list(table.iter_rows()) == [["0901234567"]]


def test_csv_in_windows_1258_is_refused_naming_the_line(tmp_path):
    path = tmp_path / "khach_hang.csv"
    lines = ["msisdn,full_name", "0901234567,Tran Van B", "0901234568,Nguyễn Thơ"]
    path.write_bytes(
        "\r\n".join(lines)
        .encode("utf-8")
        .replace("Nguyễn Thơ".encode(), "Nguy\u00ea\u0303n Th\u01a1".encode("cp1258"))
    )

    message = refusal(path)

    assert "“khach_hang.csv” is not in UTF-8" in message
    assert "line 3" in message
    assert "Windows-1258" in message
    assert "CSV UTF-8" in message


def test_bad_byte_after_the_header_block_is_reported_while_reading(tmp_path):
    path = tmp_path / "big.csv"
    good = b"".join(b"0901%06d,Tran Van B\n" % i for i in range(10_000))
    path.write_bytes(b"msisdn,full_name\n" + good + "0909,Đà\n".encode("cp1258"))

    table = open_table(path, original_name="big.csv")
    with pytest.raises(UnreadableFile) as from_bytes:
        list(table.iter_csv_bytes(chunk_size=4096))
    with pytest.raises(UnreadableFile) as from_rows:
        list(table.iter_rows())

    for caught in (from_bytes, from_rows):
        assert "line 10002" in str(caught.value)
        assert "0xD0" in str(caught.value)


def test_csv_in_windows_1252_is_refused(tmp_path):
    path = tmp_path / "list.csv"
    path.write_bytes("msisdn,name\n0901234567,José\n".encode("cp1252"))

    message = refusal(path)

    assert "not in UTF-8" in message
    assert "line 2" in message
    assert "Windows-1252" in message


def test_utf16_text_is_refused_asking_for_csv_utf8(tmp_path):
    path = tmp_path / "unicode.csv"
    path.write_bytes("msisdn\tname\r\n0901234567\tA\r\n".encode("utf-16"))

    message = refusal(path)

    assert "“unicode.csv”" in message
    assert "UTF-16" in message
    assert "CSV UTF-8" in message


def test_nul_bytes_are_refused_naming_the_line(tmp_path):
    path = tmp_path / "binary.csv"
    path.write_bytes(b"msisdn,name\n0901234567,A\n0901\x00234568,B\n")

    message = refusal(path)

    assert "NUL byte" in message
    assert "line 3" in message


def test_empty_file_is_refused(tmp_path):
    path = tmp_path / "empty.csv"
    path.write_bytes(b"")
    bom_only = tmp_path / "bom.csv"
    bom_only.write_bytes(b"\xef\xbb\xbf\r\n")

    assert "“empty.csv” is empty" in refusal(path)
    assert "“bom.csv” is empty" in refusal(bom_only)


def test_empty_header_row_is_refused(tmp_path):
    path = tmp_path / "noheader.csv"
    path.write_bytes(b",,\n0901234567,A,B\n")

    message = refusal(path)

    assert "first row of “noheader.csv” is empty" in message
    assert "Row 1 must hold the column names" in message


def test_duplicate_headers_are_refused_ignoring_case(tmp_path):
    path = tmp_path / "dup.csv"
    path.write_bytes("msisdn,Tên,MSISDN,tên,goi\n".encode())

    message = refusal(path)

    assert "same column name more than once" in message
    assert "“msisdn” in columns A, C" in message
    assert "“Tên” in columns B, D" in message


def test_duplicate_headers_in_xlsx_name_the_excel_columns(tmp_path):
    path = write_xlsx(tmp_path / "dup.xlsx", [["msisdn", "goi", " Msisdn "]])

    message = refusal(path)

    assert "“msisdn” in columns A, C" in message


def test_trailing_delimiter_keeps_the_csv_width_for_copy(tmp_path):
    path = tmp_path / "trailing.csv"
    path.write_bytes(b"msisdn,name,\n0901234567,A,\n")

    table = open_table(path, original_name="trailing.csv")

    assert table.headers == ["msisdn", "name", ""]
    assert list(table.iter_rows()) == [["0901234567", "A", ""]]


def test_rows_are_padded_and_cut_to_the_header(tmp_path):
    path = tmp_path / "ragged.csv"
    path.write_bytes(b"a,b,c\n1\n1,2,3,4,5\n")

    rows = list(open_table(path, original_name="ragged.csv").iter_rows())

    assert rows == [["1", "", ""], ["1", "2", "3"]]


def test_blank_lines_become_delimiters_for_copy_and_rows_for_iter_rows(tmp_path):
    path = tmp_path / "blank.csv"
    path.write_bytes(
        b'msisdn,name,note\r\n0901,A,x\r\n\r\n   \r\n0902,B,"two\r\n\r\nlines"\r\n'
        b"0903,C,y\r\n \t"
    )

    table = open_table(path, original_name="blank.csv")
    sent = b"".join(table.iter_csv_bytes())
    rows = list(table.iter_rows())

    assert sent == (
        b'msisdn,name,note\r\n0901,A,x\r\n,,\r\n,,\r\n0902,B,"two\r\n\r\nlines"\r\n'
        b"0903,C,y\r\n,,"
    )
    # Same records in both paths, so a row number means the same line in each.
    assert rows == [
        ["0901", "A", "x"],
        ["", "", ""],
        ["", "", ""],
        ["0902", "B", "two\r\n\r\nlines"],
        ["0903", "C", "y"],
        ["", "", ""],
    ]


def test_blank_line_after_a_quoted_field_across_chunks_is_kept_inside(tmp_path):
    path = tmp_path / "quoted.csv"
    path.write_bytes(b'a,b\n1,"x' + b"y" * 50 + b'\n\nz"\n\n2,w\n')

    sent = b"".join(
        open_table(path, original_name="quoted.csv").iter_csv_bytes(chunk_size=16)
    )

    assert sent == b'a,b\n1,"x' + b"y" * 50 + b'\n\nz"\n,\n2,w\n'


def test_csv_chunks_end_on_line_boundaries(tmp_path):
    path = tmp_path / "lines.csv"
    body = b"".join(b"0901%06d,Nguy\xe1\xbb\x85n %d\n" % (i, i) for i in range(2000))
    path.write_bytes(b"\xef\xbb\xbfmsisdn,name\n" + body)

    chunks = list(
        open_table(path, original_name="lines.csv").iter_csv_bytes(chunk_size=1000)
    )

    assert len(chunks) > 20
    assert all(chunk.endswith(b"\n") for chunk in chunks)
    assert b"".join(chunks) == b"msisdn,name\n" + body


def test_old_mac_line_ends_are_read(tmp_path):
    path = tmp_path / "mac.csv"
    path.write_bytes(b"msisdn,name\r0901,A\r\r0902,B\r")

    table = open_table(path, original_name="mac.csv")

    assert table.headers == ["msisdn", "name"]
    assert b"".join(table.iter_csv_bytes()) == b"msisdn,name\r0901,A\r,\r0902,B\r"
    assert list(table.iter_rows()) == [["0901", "A"], ["", ""], ["0902", "B"]]


def test_iter_csv_bytes_refuses_xlsx(tmp_path):
    path = write_xlsx(tmp_path / "a.xlsx", [["msisdn"], [1]])

    table = open_table(path, original_name="a.xlsx")

    with pytest.raises(ValueError, match="CSV files only"):
        table.iter_csv_bytes()


# --- What is not CSV or XLSX -------------------------------------------------------


def test_text_renamed_xlsx_is_refused(tmp_path):
    path = tmp_path / "x.xlsx"
    path.write_bytes(b"msisdn,name\n0901234567,A\n")

    message = refusal(path)

    assert message.startswith(
        "The file “x.xlsx” is not an Excel workbook: it is plain text."
    )
    assert "Save it as .xlsx or .csv" in message


def test_pdf_renamed_xlsx_is_refused_as_pdf(tmp_path):
    path = tmp_path / "bao_cao.xlsx"
    path.write_bytes(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj\n")

    message = refusal(path)

    assert "“bao_cao.xlsx” is not an Excel workbook: it is a PDF document" in message


def test_web_page_saved_as_xls_is_refused_as_html(tmp_path):
    path = tmp_path / "report.xls"
    path.write_bytes(b"<html><body><table><tr><td>msisdn</td></tr></table>")

    message = refusal(path)

    assert "“report.xls” is not an Excel workbook: it is a web page (HTML)" in message


def test_legacy_xls_is_refused(tmp_path, no_calamine):
    path = tmp_path / "old.xls"
    path.write_bytes(bytes.fromhex("D0CF11E0A1B11AE1") + b"\x00" * 504)

    message = refusal(path)

    assert "“old.xls” is an Excel 97-2003 workbook (.xls)" in message
    assert "Excel Workbook (*.xlsx)" in message


# --- XLSX archive checks -----------------------------------------------------------


def test_zip_without_workbook_is_refused(tmp_path, no_calamine):
    path = tmp_path / "notes.xlsx"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("readme.txt", "hello")

    message = refusal(path)

    assert "“notes.xlsx” is not an Excel workbook" in message
    assert "[Content_Types].xml, xl/workbook.xml" in message


def test_xlsb_is_refused(tmp_path, no_calamine):
    path = tmp_path / "binary.xlsb"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.bin", b"\x00")

    assert "Excel Binary Workbook (.xlsb)" in refusal(path)


def test_sheet_declaring_3_gb_is_refused_by_size_before_parsing(tmp_path, no_calamine):
    path = write_xlsx(tmp_path / "bomb.xlsx", [["msisdn"], [1]])
    patch_declared_size(path, SHEET, 3 * 1024**3)

    message = refusal(path)

    assert "“bomb.xlsx” is refused" in message
    assert "“xl/worksheets/sheet1.xml” would unpack to 3.0\xa0GB" in message
    assert "1.5\xa0GB allowed for one part" in message
    assert "zip bomb" in message


def padded_sheet(path: Path, padding: int) -> Path:
    """A real workbook whose sheet XML carries padding bytes of whitespace."""
    write_xlsx(path, [["msisdn"], [901234567]])
    return rewrite_part(
        path,
        SHEET,
        lambda xml: xml.replace(b"<sheetData>", b" " * padding + b"<sheetData>"),
    )


def test_highly_compressible_sheet_over_the_part_limit_is_refused(
    tmp_path, settings, no_calamine
):
    settings.IMPORT_XLSX_MAX_ENTRY_BYTES = 1024**2
    path = padded_sheet(tmp_path / "padded.xlsx", 3 * 1024**2)

    message = refusal(path)

    assert "would unpack to 3.0\xa0MB" in message
    assert "1.0\xa0MB allowed for one part" in message


def test_workbook_over_the_total_limit_is_refused(tmp_path, settings, no_calamine):
    settings.IMPORT_XLSX_MAX_TOTAL_BYTES = 2 * 1024**2
    path = padded_sheet(tmp_path / "total.xlsx", 3 * 1024**2)

    message = refusal(path)

    assert "“total.xlsx” is refused: it would unpack to 3.0\xa0MB" in message
    assert "2.0\xa0MB allowed for a workbook" in message


def test_compression_ratio_over_the_limit_is_refused(tmp_path, settings, no_calamine):
    settings.IMPORT_XLSX_MAX_RATIO = 100
    path = padded_sheet(tmp_path / "ratio.xlsx", 3 * 1024**2)

    message = refusal(path)

    assert "“xl/worksheets/sheet1.xml” packs 3.0\xa0MB into" in message
    assert "at most 100 times" in message


def test_too_many_parts_are_refused(tmp_path, settings, no_calamine):
    settings.IMPORT_XLSX_MAX_ENTRIES = 5
    path = write_xlsx(tmp_path / "parts.xlsx", [["msisdn"], [1]])

    message = refusal(path)

    assert "“parts.xlsx” is refused: it holds more than 5 parts" in message


def test_part_that_inflates_past_its_declared_size_is_refused(tmp_path, sheet_readers):
    path = padded_sheet(tmp_path / "liar.xlsx", 200_000)
    patch_declared_size(path, SHEET, 5_000)

    message = refusal(path)

    assert "“xl/worksheets/sheet1.xml” unpacks to more than the 4.9\xa0KB" in message
    assert "made to look smaller" in message
    # The parse had started beside the check; refusing the file stopped it.
    assert [child.returncode is not None for child in sheet_readers] == [True]


def test_damaged_archive_is_refused(tmp_path, no_calamine):
    path = write_xlsx(tmp_path / "cut.xlsx", [["msisdn"], [1]])
    path.write_bytes(path.read_bytes()[:-30])

    assert "“cut.xlsx” is damaged" in refusal(path)


def stray_cell_sheet(path: Path) -> Path:
    """A 2 KB file for which calamine allocates A1:XFD1048576, 512 GiB."""
    write_xlsx(path, [["msisdn"], [1]])
    return rewrite_part(
        path,
        SHEET,
        lambda xml: xml.replace(
            b"</sheetData>",
            b'<row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t>x</t></is>'
            b"</c></row></sheetData>",
        ),
    )


def test_stray_cell_far_away_is_refused_and_its_parse_stopped(tmp_path, sheet_readers):
    path = stray_cell_sheet(tmp_path / "stray.xlsx")

    message = refusal(path)

    assert "1,048,576 rows and 16,384 columns" in message
    assert "as far as cell XFD1048576" in message
    assert "Ctrl+End" in message
    assert [child.returncode is not None for child in sheet_readers] == [True]


def test_calamine_asking_for_512_gib_stops_only_its_own_process(tmp_path):
    # What the check above guards against, run without the check: the child's
    # memory limit ends it at once, and nothing reaches the portal's process.
    path = stray_cell_sheet(tmp_path / "stray.xlsx")

    child = subprocess.run(
        [
            sys.executable,
            "-I",
            spreadsheets._READER_SCRIPT,
            str(path),
            str(2 * 1024**3),
            "60",
        ],
        capture_output=True,
        timeout=60,
    )

    assert child.returncode == -signal.SIGABRT
    assert b"memory allocation of" in child.stderr
    assert b"status" not in child.stdout


def test_sheet_never_read_leaves_no_child_behind(tmp_path, sheet_readers):
    path = write_xlsx(tmp_path / "header.xlsx", [["msisdn"]] + [[i] for i in range(9)])

    table = open_table(path, original_name="header.xlsx")
    assert table.headers == ["msisdn"]
    del table
    gc.collect()

    assert [child.returncode is not None for child in sheet_readers] == [True]


def test_workbook_calamine_cannot_read_is_refused_naming_the_problem(tmp_path):
    path = write_xlsx(tmp_path / "broken.xlsx", [["msisdn"], [1]])
    rewrite_part(path, "xl/workbook.xml", lambda xml: xml[: len(xml) // 2])

    message = refusal(path)

    assert "“broken.xlsx” could not be read as an Excel workbook (" in message
    assert "save it again as .xlsx" in message


def test_stray_cell_written_an_unusual_way_is_still_measured(tmp_path, sheet_readers):
    path = write_xlsx(tmp_path / "odd.xlsx", [["msisdn"], [1]])
    rewrite_part(
        path,
        SHEET,
        lambda xml: xml.replace(
            b"</sheetData>",
            b"<row r='900000'><c t='n' r='zz900000'><v>1</v></c></row></sheetData>",
        ),
    )

    message = refusal(path)

    assert "900,000 rows and 702 columns" in message
    assert "as far as cell ZZ900000" in message
    assert [child.returncode is not None for child in sheet_readers] == [True]


def test_cells_written_an_unusual_way_are_read(tmp_path):
    # Attributes in another order and cells without a reference: no common writer
    # does this, but the exact check must still let such a sheet through.
    path = write_xlsx(tmp_path / "odd.xlsx", [["msisdn", "name"], [901234567, "A"]])
    rewrite_part(
        path,
        SHEET,
        lambda xml: re.sub(rb'<c r="[A-Z]+[0-9]+"', b"<c", xml),
    )

    table = open_table(path, original_name="odd.xlsx")

    assert table.headers == ["msisdn", "name"]
    assert list(table.iter_rows()) == [["901234567", "A"]]


def test_wide_sheet_is_measured_exactly_and_read(tmp_path, settings):
    settings.IMPORT_XLSX_MAX_CELLS = 1000
    header = [f"c{i}" for i in range(100)]
    path = write_xlsx(tmp_path / "wide.xlsx", [header, list(range(100))])

    table = open_table(path, original_name="wide.xlsx")

    assert len(table.headers) == 100
    assert list(table.iter_rows()) == [[str(i) for i in range(100)]]


# --- XLSX cells and rows -----------------------------------------------------------


def test_declared_million_rows_with_ten_filled_yields_ten_rows(tmp_path):
    rows = [["msisdn", "name"]] + [[901234567 + i, f"KH {i}"] for i in range(10)]
    path = write_xlsx(tmp_path / "declared.xlsx", rows)
    rewrite_part(
        path,
        SHEET,
        lambda xml: re.sub(
            rb'<dimension ref="[^"]*"', b'<dimension ref="A1:AD1048576"', xml
        ),
    )
    # openpyxl's read-only mode believes the declared size.
    declared = openpyxl.load_workbook(path, read_only=True)
    assert declared.active.max_row == 1_048_576
    declared.close()

    table = open_table(path, original_name="declared.xlsx")
    read = list(table.iter_rows())

    assert len(read) == 10
    assert read[0] == ["901234567", "KH 0"]


def test_empty_rows_in_the_middle_are_kept_and_at_the_end_dropped(tmp_path):
    path = write_xlsx(
        tmp_path / "gaps.xlsx",
        [["msisdn", "name"], ["0901", "A"], [None, None], ["0902", " "], ["  ", None]],
    )
    workbook = openpyxl.load_workbook(path)
    workbook.active["B40"] = "   "
    workbook.save(path)

    rows = list(open_table(path, original_name="gaps.xlsx").iter_rows())

    assert rows == [["0901", "A"], ["", ""], ["0902", ""]]


def test_msisdn_numbers_lose_the_float_but_text_is_kept(tmp_path):
    path = write_xlsx(
        tmp_path / "msisdn.xlsx",
        [["as_int", "as_float", "as_text"], [901234567, 901234567.0, "9.01234567E+8"]],
    )

    rows = list(open_table(path, original_name="msisdn.xlsx").iter_rows())

    assert rows == [["901234567", "901234567", "9.01234567E+8"]]


def test_numbers_booleans_and_text_become_plain_text(tmp_path):
    path = write_xlsx(
        tmp_path / "values.xlsx",
        [
            ["revenue", "churn", "tiny", "owner", "blocked", "name"],
            [500000.0, 0.25, 0.0000001, True, False, "  Nguyễn Văn A  "],
        ],
    )

    rows = list(open_table(path, original_name="values.xlsx").iter_rows())

    assert rows == [["500000", "0.25", "0.0000001", "1", "0", "Nguyễn Văn A"]]


def test_dates_become_iso_text(tmp_path):
    path = write_xlsx(
        tmp_path / "dates.xlsx",
        [
            ["contract_date", "midnight", "changed_at"],
            [
                datetime.date(2019, 8, 31),
                datetime.datetime(2020, 1, 2),
                datetime.datetime(2020, 1, 2, 13, 45, 30),
            ],
        ],
    )

    rows = list(open_table(path, original_name="dates.xlsx").iter_rows())

    assert rows == [["2019-08-31", "2020-01-02", "2020-01-02 13:45:30"]]


def test_empty_first_sheet_is_refused(tmp_path):
    path = write_xlsx(tmp_path / "blank.xlsx", [])

    assert "The first sheet of “blank.xlsx” is empty" in refusal(path)


def test_xlsx_header_drops_trailing_empty_cells(tmp_path):
    path = write_xlsx(tmp_path / "h.xlsx", [["msisdn", None, " "], [1, 2, 3]])
    workbook = openpyxl.load_workbook(path)
    workbook.active["E1"] = "  "
    workbook.save(path)

    table = open_table(path, original_name="h.xlsx")

    assert table.headers == ["msisdn"]
    assert list(table.iter_rows()) == [["1"]]


def test_rows_can_be_read_twice(tmp_path):
    path = write_xlsx(tmp_path / "twice.xlsx", [["msisdn"], [1], [2]])

    table = open_table(path, original_name="twice.xlsx")

    assert list(table.iter_rows()) == [["1"], ["2"]]
    assert list(table.iter_rows()) == [["1"], ["2"]]
    assert isinstance(table, TableFile)


@pytest.mark.parametrize(
    ("cell", "odd"),
    [
        (b'<c r="BL1048576" t="n">', False),
        (b'<x:c r="AD17">', False),
        (b'<c r="BM1">', True),
        (b'<c r="A1048577">', True),
        (b'<c t="n" r="A1">', True),
        (b"<c>", True),
        (b"<c r='A1'>", True),
    ],
)
def test_cell_scan_sees_a_tag_cut_by_any_chunk_boundary(cell, odd):
    xml = b'<row r="1">' + b'<c r="A1"><v>1</v></c>' * 8 + cell + b"<v>2</v></c></row>"
    for cut in range(1, len(xml)):
        scan = spreadsheets._CellScan(spreadsheets._WIDE_OR_ODD_CELL)
        scan.feed(xml[:cut])
        scan.feed(xml[cut:])
        scan.finish()
        assert scan.odd is odd, cut


def shared_string_workbook(path: Path, text: str, cells: int) -> Path:
    """A workbook by hand: one shared string, used by `cells` cells of column B."""
    rows = "".join(
        f'<row r="{r}"><c r="A{r}"><v>{r}</v></c><c r="B{r}" t="s"><v>0</v></c></row>'
        for r in range(1, cells + 1)
    )
    main = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
    rels = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
    kinds = "application/vnd.openxmlformats-officedocument.spreadsheetml"
    parts = {
        "[Content_Types].xml": (
            '<Types xmlns="http://schemas.openxmlformats.org/package/2006/'
            'content-types"><Default Extension="rels" ContentType="application/'
            'vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml"'
            ' ContentType="application/xml"/><Override PartName="/xl/workbook.xml"'
            f' ContentType="{kinds}.sheet.main+xml"/><Override PartName='
            f'"/xl/worksheets/sheet1.xml" ContentType="{kinds}.worksheet+xml"/>'
            '<Override PartName="/xl/sharedStrings.xml" ContentType='
            f'"{kinds}.sharedStrings+xml"/></Types>'
        ),
        "_rels/.rels": (
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
            'relationships"><Relationship Id="rId1" Type="http://schemas.'
            "openxmlformats.org/officeDocument/2006/relationships/officeDocument"
            '" Target="xl/workbook.xml"/></Relationships>'
        ),
        "xl/workbook.xml": (
            f'<workbook xmlns="{main}" xmlns:r="{rels}"><sheets><sheet name="A" '
            'sheetId="1" r:id="rId1"/></sheets></workbook>'
        ),
        "xl/_rels/workbook.xml.rels": (
            '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
            f'relationships"><Relationship Id="rId1" Type="{rels}/worksheet" '
            f'Target="worksheets/sheet1.xml"/><Relationship Id="rId2" Type="{rels}'
            '/sharedStrings" Target="sharedStrings.xml"/></Relationships>'
        ),
        "xl/sharedStrings.xml": (
            f'<sst xmlns="{main}" count="1" uniqueCount="1"><si><t>{text}</t></si></sst>'
        ),
        SHEET: f'<worksheet xmlns="{main}"><sheetData>{rows}</sheetData></worksheet>',
    }
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, xml in parts.items():
            archive.writestr(name, xml)
    return path


def test_shared_string_workbook_is_read(tmp_path):
    path = shared_string_workbook(tmp_path / "shared.xlsx", "Nguyễn Văn A", 3)

    table = open_table(path, original_name="shared.xlsx")

    assert table.headers == ["1", "Nguyễn Văn A"]
    assert list(table.iter_rows()) == [["2", "Nguyễn Văn A"], ["3", "Nguyễn Văn A"]]


def test_one_long_text_repeated_in_every_cell_stops_the_child_not_the_portal(
    tmp_path, settings
):
    # Calamine copies a shared string into every cell that uses it: 2,000 cells of
    # one 900 KB text take 1.8 GB, from a file of 600 KB that passes every check.
    settings.IMPORT_XLSX_MAX_CELLS = 10_000
    text = "".join(random.Random(7).choices(string.ascii_letters, k=900_000))
    path = shared_string_workbook(tmp_path / "repeat.xlsx", text, 2000)

    message = refusal(path)

    assert "“repeat.xlsx” is refused: reading its sheet needs more than" in message
    assert "of memory the portal allows for it" in message


def test_sheet_taking_too_long_to_read_is_refused(tmp_path, settings):
    settings.IMPORT_XLSX_READER_CPU_SECONDS = 1
    # A machine seen here read 400.000 rows of this sheet within the second; four
    # times as many keep every machine busy past it.
    path = shared_string_workbook(tmp_path / "long.xlsx", "Nguyễn Văn A", 1_600_000)

    message = refusal(path)

    assert (
        "“long.xlsx” is refused: reading its sheet took more than 1 seconds" in message
    )
    assert "of processor time" in message


def test_blank_rows_across_blocks_keep_their_place_and_trailing_ones_go():
    # Blocks of two rows: blank rows that end one block are held until a row with
    # data follows in a later block, so row numbers do not move; blank rows at the
    # end of the sheet are dropped, whichever block they fall in.
    schema = pa.schema([pa.field("c0", pa.string()), pa.field("c1", pa.string())])
    rows = [["1", "a"], ["", ""], ["", ""], ["", ""], [2.0, True], ["", ""], ["", ""]]

    batches = list(sheet_batches(iter(rows), 2, schema, rows_per_block=2))

    assert pa.Table.from_batches(batches, schema).to_pylist() == [
        {"c0": "1", "c1": "a"},
        {"c0": "", "c1": ""},
        {"c0": "", "c1": ""},
        {"c0": "", "c1": ""},
        {"c0": "2", "c1": "1"},
    ]


def test_cells_become_the_same_text_whichever_way_a_column_is_built():
    # A column of text is joined and cut by its NUL separators; a column with a NUL
    # of its own (Excel writes it as _x0000_) or a number is read cell by cell.
    schema = pa.schema([pa.field(f"c{i}", pa.string()) for i in range(3)])
    rows = [
        ["Nguyễn Văn A", "a\x00b", 901234567.0],
        ["", "😀", "0901"],
        ["Hà Nội", "", datetime.date(2019, 8, 27)],
    ]

    batches = list(sheet_batches(iter(rows), 3, schema))

    assert pa.Table.from_batches(batches, schema).to_pylist() == [
        {"c0": "Nguyễn Văn A", "c1": "a\x00b", "c2": "901234567"},
        {"c0": "", "c1": "😀", "c2": "0901"},
        {"c0": "Hà Nội", "c1": "", "c2": "2019-08-27"},
    ]


# --- Large sheets, parsed in two halves at once -------------------------------------


def read_sheet(path: Path, settings, *, split: bool):
    """(headers, rows, kind of reader) with the sheet read whole or in halves."""
    settings.IMPORT_XLSX_SPLIT_BYTES = 1 if split else 1 << 40
    table = open_table(path, original_name=path.name)
    reader = type(table._pending_sheet).__name__
    return table.headers, list(table.iter_rows()), reader


def test_sheet_read_in_halves_gives_the_rows_a_whole_read_gives(tmp_path, settings):
    # Two blank rows follow every filled one, so blank rows meet the cut wherever
    # it falls; blank rows end the sheet; cells hold numbers, dates and text.
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["msisdn", "full_name", "contract_date", "revenue"])
    for index in range(300):
        row = 2 + 3 * index
        sheet.cell(row=row, column=1).value = 901234567 + index
        sheet.cell(row=row, column=2).value = f"Nguyễn Văn {index}"
        sheet.cell(row=row, column=3).value = datetime.date(2019, 8, 27)
        sheet.cell(row=row, column=4).value = 1.5
    sheet["B1000"] = "last"
    sheet["A1050"] = "   "
    workbook.save(tmp_path / "big.xlsx")

    whole = read_sheet(tmp_path / "big.xlsx", settings, split=False)
    halves = read_sheet(tmp_path / "big.xlsx", settings, split=True)

    assert whole[2] != "_SplitSheetReader" and halves[2] == "_SplitSheetReader"
    assert halves[:2] == whole[:2]
    assert whole[1][:3] == [
        ["901234567", "Nguyễn Văn 0", "2019-08-27", "1.5"],
        ["", "", "", ""],
        ["", "", "", ""],
    ]
    assert whole[1][-1] == ["", "last", "", ""]
    assert len(whole[1]) == 999


def test_second_half_starting_further_right_is_lined_up_under_the_header(
    tmp_path, settings
):
    # The header starts in column B; below the cut, column B is empty, so the
    # second half's cells start in column C.
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet["B1"], sheet["C1"], sheet["D1"] = "msisdn", "name", "note"
    for row in range(2, 60):
        sheet.cell(row=row, column=2).value = f"09{row:08d}"
        sheet.cell(row=row, column=3).value = f"KH {row}"
    for row in range(60, 120):
        sheet.cell(row=row, column=3).value = f"KH {row}"
        sheet.cell(row=row, column=5).value = "outside the header"
    workbook.save(tmp_path / "shifted.xlsx")

    whole = read_sheet(tmp_path / "shifted.xlsx", settings, split=False)
    halves = read_sheet(tmp_path / "shifted.xlsx", settings, split=True)

    assert halves[2] == "_SplitSheetReader"
    assert halves[:2] == whole[:2]
    assert whole[1][-1] == ["", "KH 119", ""]


def move_last_row_to_the_top(xml: bytes) -> bytes:
    rows = re.findall(rb"<row .*?</row>", xml, re.S)
    xml = xml.replace(rows[-1], b"")
    return xml.replace(rows[1], rows[1] + rows[-1])


@pytest.mark.parametrize(
    ("change", "children"),
    [
        # Rows out of order: the last row's XML comes second, so its cells fall
        # before the cut while the sheet puts them after it.
        pytest.param(move_last_row_to_the_top, 3, id="rows out of order"),
        # Rows numbered by their place: the second half cannot know its first row.
        pytest.param(
            lambda xml: re.sub(rb'(<row) r="[0-9]+"', rb"\1", xml),
            1,
            id="no row numbers",
        ),
        # A cell left of the header, below the cut: the columns would move.
        pytest.param(
            lambda xml: xml.replace(
                b'<c r="B150" t="inlineStr">', b'<c r="A150" t="inlineStr">'
            ),
            3,
            id="cell left of the header",
        ),
    ],
)
def test_sheet_that_cannot_be_cut_is_read_whole(
    tmp_path, settings, sheet_readers, change, children
):
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet["B1"], sheet["C1"] = "msisdn", "name"
    for row in range(2, 200):
        sheet.cell(row=row, column=2).value = f"09{row:08d}"
        sheet.cell(row=row, column=3).value = f"KH {row}"
    workbook.save(tmp_path / "odd.xlsx")
    rewrite_part(tmp_path / "odd.xlsx", SHEET, change)
    whole = read_sheet(tmp_path / "odd.xlsx", settings, split=False)
    sheet_readers.clear()

    halves = read_sheet(tmp_path / "odd.xlsx", settings, split=True)

    assert halves[2] != "_SplitSheetReader"
    assert halves[:2] == whole[:2]
    assert len(whole[1]) == 198
    # The halves parsed, if the cut could be made, then the whole sheet; every
    # child was stopped.
    assert len(sheet_readers) == children
    assert all(child.returncode is not None for child in sheet_readers)


def test_refusal_during_a_split_read_stops_the_half_parsing_and_leaves_no_files(
    tmp_path, settings, sheet_readers, monkeypatch
):
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(spreadsheets.tempfile, "tempdir", str(scratch))
    settings.IMPORT_XLSX_SPLIT_BYTES = 1
    settings.IMPORT_XLSX_MAX_RATIO = 10_000  # spaces compress well
    # 3 MB of spaces before row 151 and 3 MB after the last row: the cut falls at
    # row 151 and the first half's child starts, then the part inflates past its
    # declared size.
    path = write_xlsx(tmp_path / "liar.xlsx", [["msisdn"]] + [[i] for i in range(300)])
    spaces = b" " * 3_000_000
    rewrite_part(
        path,
        SHEET,
        lambda xml: xml.replace(b'<row r="151"', spaces + b'<row r="151"').replace(
            b"</sheetData>", spaces + b"</sheetData>"
        ),
    )
    with zipfile.ZipFile(path) as archive:
        size = archive.getinfo(SHEET).file_size
    patch_declared_size(path, SHEET, size - 10)

    message = refusal(path)

    assert "unpacks to more than" in message
    assert len(sheet_readers) == 1
    assert all(child.returncode is not None for child in sheet_readers)
    assert list(scratch.iterdir()) == []


def test_no_room_on_the_disk_for_the_halves_reads_the_sheet_whole(
    tmp_path, settings, monkeypatch
):
    rows = [["msisdn", "name"]] + [[f"09{i:08d}", f"KH {i}"] for i in range(300)]
    path = write_xlsx(tmp_path / "full.xlsx", rows)
    whole = read_sheet(path, settings, split=False)
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(spreadsheets.tempfile, "tempdir", str(scratch))
    written = []

    def write_until_full(self, data):
        written.append(len(data))
        if sum(written) > 20_000:
            raise OSError(28, "No space left on device")
        return len(data)

    monkeypatch.setattr(zipfile._ZipWriteFile, "write", write_until_full)

    halves = read_sheet(path, settings, split=True)

    assert sum(written) > 20_000  # the cut was under way
    assert halves[2] != "_SplitSheetReader"
    assert halves[:2] == whole[:2]
    assert len(whole[1]) == 300
    assert list(scratch.iterdir()) == []
