"""Safe, streaming readers for the subscriber files staff upload: CSV or XLSX.

``open_table`` decides the format from the file's first bytes (never from its name),
refuses a file that cannot be read with a message that names the problem, and reads
only the header row. ``TableFile.iter_rows`` then streams the data rows as lists of
text, and ``TableFile.iter_csv_bytes`` streams a CSV file's own bytes for PostgreSQL's
``COPY``. No function here holds a whole CSV file in memory.

An XLSX is a zip archive of XML parts, read with python-calamine. Its 0.9 API has no
streaming reader: get_sheet_by_index() loads the whole first sheet into a dense grid
(32 bytes per cell of the rectangle from the first used cell to the last, in Rust
memory), and only the conversion of rows to Python objects is lazy. So every part is
checked: count, declared sizes, compression ratio, that each part inflates to exactly
the size it declares, and that no worksheet spreads its cells over more than
IMPORT_XLSX_MAX_CELLS (default: 64 columns of Excel's 1,048,576 rows). Without that
last check a 2 KB file with one value in A1 and one in XFD1048576 makes calamine ask
for 512 GiB. Calamine runs in a child process under a memory limit
(eligibility.sheet_reader), started once the directory's declared sizes pass; the
parts are inflated and measured here meanwhile, and the child's rows are read only
once that passes too. A sheet of IMPORT_XLSX_SPLIT_BYTES or more is cut in two at a
row while it is inflated, and the halves are parsed by two children at once, one per
core (_SheetSplitter, _SplitSheetReader): 100.000 rows are read in 2,4 s instead of
3,0 s.
"""

import codecs
import copy
import csv
import io
import json
import logging
import re
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import unicodedata
import weakref
import zipfile
import zlib
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from itertools import chain
from operator import itemgetter
from pathlib import Path
from xml.parsers import expat

import pyarrow as pa
from django.conf import settings
from django.template.defaultfilters import filesizeformat
from django.utils.formats import number_format
from django.utils.translation import gettext as _

from eligibility.sheet_reader import without_trailing_blank_rows

__all__ = ["TableFile", "UnreadableFile", "open_table"]

logger = logging.getLogger(__name__)

_ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
_UTF8_BOM = codecs.BOM_UTF8
_UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
_EXCEL_SUFFIXES = (".xlsx", ".xlsm", ".xltx", ".xltm", ".xls", ".xlsb")

# The header must end within this many bytes: nobody names 30 columns in 64 KiB.
_HEAD_BYTES = 64 * 1024
# A line longer than this is not a subscriber record; refusing it bounds the memory
# iter_csv_bytes needs to carry an unfinished line from one chunk to the next.
_MAX_LINE_BYTES = 16 * 1024 * 1024
_READ_CHUNK = 1 << 20

# Below this size a part cannot do harm however well it compresses (a 900-byte
# styles.xml of repeated tags compresses 50 times); the ratio check starts here.
_RATIO_FLOOR_BYTES = 1 << 20
# A central directory record is 46 bytes plus the part's name, extra field and
# comment; Excel's are well under this, so a larger directory means too many parts.
_MAX_DIRECTORY_RECORD = 1024

# Excel's limits. The default cell budget is a full-height sheet 64 columns wide:
# what calamine needs for the largest table it would legitimately be given.
_EXCEL_ROWS = 1_048_576
_FAST_COLUMNS = 64
_DEFAULT_MAX_CELLS = _EXCEL_ROWS * _FAST_COLUMNS

_SHEET_FOLDERS = ("xl/worksheets/", "xl/chartsheets/", "xl/dialogsheets/")

# The rectangle a sheet's cells span is measured in up to three passes, each slower
# and more general than the one before. Times are for a sheet of 100,000 rows and 30
# columns (128 MB of XML), which calamine itself takes 3 to 5 s to load:
# 1. _WIDE_OR_ODD_CELL finds every cell whose start tag is not exactly <c r="REF"
#    (or <x:c r="REF") with REF inside A1:BL1048576. Excel, LibreOffice, Google
#    Sheets, openpyxl and xlsxwriter all write that form, so on their files it finds
#    nothing, which proves the sheet fits in the default budget. 0.6 s.
# 2. For wider sheets, _ODD_CELL checks that every cell still has that form, with
#    any reference, and _CELL_REF collects the references. 4 s.
# 3. For anything else (no r attribute, attributes in another order, single
#    quotes, lower case), _ExactBox follows calamine's rules with expat. 22 s:
#    slow, but no writer in common use needs it.
# The patterns start from the literal "c": starting from a character class is three
# times slower.
_FAST_ROW = (
    rb"(?:[1-9][0-9]{0,5}|10[0-3][0-9]{4}|104[0-7][0-9]{3}"
    rb"|1048[0-4][0-9]{2}|10485[0-6][0-9]|104857[0-6])"
)
_FAST_COLUMN = rb"(?:[A-Z]|A[A-Z]|B[A-L])"
_WIDE_OR_ODD_CELL = re.compile(
    rb'c(?<=[<:]c)(?! r="' + _FAST_COLUMN + _FAST_ROW + rb'")[\s/>]'
)
_ODD_CELL = re.compile(rb'c(?<=[<:]c)(?! r="[A-Z]{1,3}[1-9][0-9]{0,6}")[\s/>]')
_CELL_REF = re.compile(rb'c(?<=[<:]c) r="([A-Z]{1,3})([1-9][0-9]{0,6})"')
# Longer than any start of a match, so that a match cut by a chunk boundary is seen
# whole with the next chunk.
_SCAN_OVERLAP = 64
_REF = re.compile(r"([A-Za-z]*)([0-9]+)\Z")

_BLANK_LINE_AFTER = {
    b"\n": re.compile(rb"\n(?=[ \t\r]*\n)"),
    b"\r": re.compile(rb"\r(?=[ \t]*\r)"),
}
_BLANK_LINE_AT = {
    b"\n": re.compile(rb"[ \t\r]*\n"),
    b"\r": re.compile(rb"[ \t]*\r"),
}


class UnreadableFile(Exception):
    """The whole file is refused; str(exc) is the user-facing message."""


@dataclass
class TableFile:
    """A checked CSV or XLSX file whose header row has been read.

    ``headers`` holds the header cells, stripped and in Unicode NFC. For XLSX, empty
    cells at the end of the header row are dropped. For CSV every field of the header
    line is kept, even an empty one after a trailing delimiter, because PostgreSQL's
    COPY needs the file's real width; a column without a name is "".
    """

    path: Path
    original_name: str
    format: str
    headers: list[str]
    delimiter: str = ","
    # CSV: the byte that ends a line (b"\r" for old Mac files).
    _newline: bytes = field(default=b"\n", init=False, repr=False, compare=False)
    # XLSX: the child process that parsed the sheet for open_table, handed to the
    # first iter_rows() so that the sheet is parsed once per import, not twice.
    _pending_sheet: "_SheetReader | None" = field(
        default=None, init=False, repr=False, compare=False
    )

    @property
    def newline(self) -> bytes:
        """CSV: the byte that ends a line."""
        return self._newline

    def iter_rows(self) -> Iterator[list[str]]:
        """Yield the data rows (not the header) as lists of len(headers) strings.

        A missing or empty cell is "". Text is stripped. For XLSX, numbers that are
        whole come without a decimal part, other numbers as plain decimals, dates as
        YYYY-MM-DD (with " HH:MM:SS" when the time is not midnight), booleans as
        "1"/"0"; empty rows in the middle are yielded so that row numbers stay
        right, empty rows at the end are not. For CSV every record is yielded, a
        blank line as a row of "". Raises UnreadableFile on a bad byte or record.
        """
        if self.format == "xlsx":
            return self._xlsx_rows()
        return self._csv_rows()

    def iter_csv_bytes(self, chunk_size: int = 1 << 20) -> Iterator[bytes]:
        """Yield the whole CSV file, header line included, as UTF-8 without a BOM.

        Each chunk ends at the end of a line. A blank line (only spaces, tabs or
        carriage returns) outside quotes becomes len(headers) - 1 delimiters, which
        COPY ... (FORMAT csv) reads as a row of NULLs instead of failing on it, so the
        row numbers of the lines after it do not move. Raises UnreadableFile with the
        line number of the first byte that is not UTF-8, and ValueError for XLSX.
        """
        if self.format != "csv":
            raise ValueError("iter_csv_bytes() reads CSV files only; use iter_rows().")
        return self._csv_bytes(chunk_size)

    # --- CSV ------------------------------------------------------------------------

    def _csv_chunks(self, chunk_size: int) -> Iterator[tuple[bytes, int]]:
        """(chunk, its file offset): the file without its BOM, in chunks that end at a
        line end (but the last), each checked to be UTF-8 without NUL bytes."""
        newline = self._newline
        limit = max(_MAX_LINE_BYTES, chunk_size)
        with open(self.path, "rb") as stream:
            start = 0
            carry = b""
            first = True
            while True:
                block = stream.read(chunk_size)
                if first:
                    first = False
                    if block.startswith(_UTF8_BOM):
                        block = block[len(_UTF8_BOM) :]
                        start = len(_UTF8_BOM)
                if block:
                    cut = block.rfind(newline) + 1
                    if not cut:
                        carry += block
                        if len(carry) > limit:
                            raise UnreadableFile(self._long_line(start))
                        continue
                    # One copy per chunk: the carried start of a line and the
                    # block up to its last line end, joined.
                    data = b"".join((carry, memoryview(block)[:cut]))
                    carry = block[cut:]
                elif carry:
                    data = carry
                else:
                    return
                if b"\x00" in data:
                    line = self._line_at(start + data.index(b"\x00"))
                    raise UnreadableFile(_nul_byte(self.original_name, line))
                # Chunks end after a line end, and neither "\n" nor "\r" occurs
                # inside a UTF-8 sequence, so each chunk decodes on its own.
                if not data.isascii() and not _is_utf8(data):
                    try:
                        data.decode("utf-8")
                    except UnicodeDecodeError as exc:
                        line = self._line_at(start + exc.start)
                        message = _not_utf8(self.original_name, line, data, exc)
                        raise UnreadableFile(message) from None
                yield data, start
                start += len(data)
                if not block:
                    return

    def _line_at(self, offset: int) -> int:
        """The 1-based line holding the byte at offset; only computed for a message."""
        return 1 + self._count(self._newline, 0, offset)

    def _count(self, byte: bytes, begin: int, end: int) -> int:
        """How many times byte occurs in the file between two offsets."""
        found = 0
        with open(self.path, "rb") as stream:
            stream.seek(begin)
            left = end - begin
            while left > 0:
                block = stream.read(min(_READ_CHUNK, left))
                if not block:
                    break
                found += block.count(byte)
                left -= len(block)
        return found

    def _long_line(self, start: int) -> str:
        return _(
            "Line %(line)s of “%(name)s” is longer than %(limit)s without a line "
            "break, so the file is not a CSV export. Save it from Excel as "
            "“CSV UTF-8 (Comma delimited) (*.csv)” and upload it again."
        ) % {
            "line": self._line_at(start),
            "name": self.original_name,
            "limit": filesizeformat(_MAX_LINE_BYTES),
        }

    def _csv_bytes(self, chunk_size: int) -> Iterator[bytes]:
        newline = self._newline
        after = _BLANK_LINE_AFTER[newline]
        at = _BLANK_LINE_AT[newline]
        filler = self.delimiter.encode() * (len(self.headers) - 1)
        # A blank line inside a quoted field is part of the value, so a blank line
        # counts only where an even number of quotes precede it: the rule PostgreSQL
        # itself uses to find where a CSV line ends. Blank lines are rare, so the
        # quotes are counted only when one turns up, up to it, rereading earlier
        # chunks from the file if needed; otherwise counting them would cost a fifth
        # of the time this takes.
        in_quotes = False
        counted_to = 0  # file offset up to which in_quotes is known
        for data, start in self._csv_chunks(chunk_size):
            unterminated = -1
            if not data.endswith(newline):
                # The last line, without a line end: the patterns below need one.
                unterminated = data.rfind(newline) + 1
                data += newline
            begins = [match.end() for match in after.finditer(data)]
            if at.match(data):
                begins.insert(0, 0)
            if not begins:
                yield data if unterminated < 0 else data[:-1]
                continue
            if counted_to < start:
                in_quotes ^= self._count(b'"', counted_to, start) & 1
            pieces = []
            copied = counted = 0
            for begin in begins:
                in_quotes ^= data.count(b'"', counted, begin) & 1
                counted = begin
                if in_quotes:
                    continue
                end = data.index(newline, begin) + 1
                if begin == unterminated:
                    ending = b""
                elif data[begin:end].endswith(b"\r\n"):
                    ending = b"\r\n"
                else:
                    ending = newline
                pieces += (data[copied:begin], filler, ending)
                copied = end
            in_quotes ^= data.count(b'"', counted) & 1
            counted_to = start + len(data)
            pieces.append(data[copied:] if unterminated < 0 else data[copied:-1])
            yield b"".join(pieces)

    def _csv_rows(self) -> Iterator[list[str]]:
        width = len(self.headers)
        padding = [""] * width
        lines = (
            line
            for data, _start in self._csv_chunks(_READ_CHUNK)
            for line in io.StringIO(data.decode("utf-8"), newline="")
        )
        reader = csv.reader(lines, delimiter=self.delimiter)
        try:
            next(reader, None)  # the header, read by open_table
            for record in reader:
                row = [cell.strip() for cell in record[:width]]
                if len(row) < width:
                    row += padding[len(row) :]
                yield row
        except csv.Error as exc:
            raise UnreadableFile(
                _(
                    "Line %(line)s of “%(name)s” cannot be read as CSV (%(detail)s). "
                    "Check the quotes on that line, or save the file again from "
                    "Excel as “CSV UTF-8 (Comma delimited) (*.csv)”."
                )
                % {"line": reader.line_num, "name": self.original_name, "detail": exc}
            ) from None

    # --- XLSX -----------------------------------------------------------------------

    def iter_xlsx_batches(self) -> Iterator[pa.RecordBatch]:
        """The data rows of an XLSX as batches of string columns c0, c1, ...

        Cells become text as iter_rows() says, but are not stripped: the import's
        checks trim every cell. Empty rows are kept or dropped as iter_rows() says.
        """
        if self.format != "xlsx":
            raise ValueError("iter_xlsx_batches() reads XLSX files only.")
        sheet = self._pending_sheet
        self._pending_sheet = None
        if sheet is None:
            # Read again: check the file again too, it is only a path on disk.
            sheet = _parse_checked_sheet(self.path, self.original_name)
        return sheet.batches()

    def _xlsx_rows(self) -> Iterator[list[str]]:
        padding = [""] * len(self.headers)
        pending_blank = 0
        for batch in self.iter_xlsx_batches():
            columns = [column.to_pylist() for column in batch.columns]
            for cells in zip(*columns, strict=True):
                row = [cell.strip() for cell in cells]
                if not any(row):
                    # Held back until a row with data follows, so that a row of
                    # spaces at the end is dropped like an empty one.
                    pending_blank += 1
                    continue
                for _blank in range(pending_blank):
                    yield padding.copy()
                pending_blank = 0
                yield row


def open_table(path: Path | str, *, original_name: str) -> TableFile:
    """Check an uploaded file and read its header row; raise UnreadableFile if refused.

    The format is decided by the file's first bytes: a zip archive is read as XLSX,
    anything else as CSV text in UTF-8 (BOM optional) with "," or ";" as delimiter.
    """
    path = Path(path)
    with open(path, "rb") as stream:
        head = stream.read(_HEAD_BYTES)
    name = original_name
    if len(head) < _HEAD_BYTES and not head.removeprefix(_UTF8_BOM).strip():
        raise UnreadableFile(
            _(
                "The file “%(name)s” is empty. Export the data again and upload the "
                "new file."
            )
            % {"name": name}
        )
    if head.startswith(_ZIP_MAGICS):
        return _open_xlsx(path, name)
    if head.startswith(_OLE_MAGIC):
        raise UnreadableFile(
            _(
                "The file “%(name)s” is an Excel 97-2003 workbook (.xls) or a "
                "password-protected workbook, which the portal cannot read. Open it "
                "in Excel, remove any password, save it as “Excel Workbook (*.xlsx)” "
                "or “CSV UTF-8 (Comma delimited) (*.csv)” and upload it again."
            )
            % {"name": name}
        )
    return _open_csv(path, name, head)


# --- CSV header ---------------------------------------------------------------------


def _open_csv(path: Path, name: str, head: bytes) -> TableFile:
    if head.startswith(_UTF16_BOMS):
        raise UnreadableFile(
            _(
                "The file “%(name)s” is saved as Unicode text (UTF-16), which the "
                "portal cannot read. In Excel choose File > Save As > “CSV UTF-8 "
                "(Comma delimited) (*.csv)” and upload the new file."
            )
            % {"name": name}
        )
    text_head = head.removeprefix(_UTF8_BOM)
    kind = _markup_kind(text_head)
    if name.lower().endswith(_EXCEL_SUFFIXES):
        raise UnreadableFile(
            _(
                "The file “%(name)s” is not an Excel workbook: it is %(kind)s. "
                "Save it as .xlsx or .csv and upload it again."
            )
            % {"name": name, "kind": kind or _other_kind(text_head)}
        )
    if kind:
        raise UnreadableFile(
            _(
                "The file “%(name)s” is not a CSV file: it is %(kind)s. Save the data "
                "as .xlsx or “CSV UTF-8 (Comma delimited) (*.csv)” and upload it again."
            )
            % {"name": name, "kind": kind}
        )

    newline = _newline_of(text_head)
    end = text_head.find(newline)
    whole_file = len(head) < _HEAD_BYTES
    if end < 0 and not whole_file:
        raise UnreadableFile(
            _(
                "The first line of “%(name)s” is longer than %(limit)s without a line "
                "break, so it cannot be a header row. Check that the file is a CSV "
                "export and upload it again."
            )
            % {"name": name, "limit": filesizeformat(_HEAD_BYTES)}
        )
    # Decoding the whole head catches most files saved in another encoding here,
    # before an import starts; the rest is checked chunk by chunk while reading.
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        text = decoder.decode(text_head, final=whole_file)
    except UnicodeDecodeError as exc:
        line = text_head.count(newline, 0, exc.start) + 1
        raise UnreadableFile(_not_utf8(name, line, text_head, exc)) from None
    if "\x00" in text:
        line = text.count(newline.decode(), 0, text.index("\x00")) + 1
        raise UnreadableFile(_nul_byte(name, line))

    first_line = text[: text.find(newline.decode())] if end >= 0 else text
    delimiter = _sniff_delimiter(first_line)
    if end >= 0 and first_line.count('"') % 2:
        # A quoted header name holding a line break: let csv find where it ends.
        source = io.StringIO(text, newline="")
    else:
        source = io.StringIO(first_line, newline="")
    header = next(csv.reader(source, delimiter=delimiter), [])
    headers = [unicodedata.normalize("NFC", cell.strip()) for cell in header]
    _check_headers(name, headers, column_offset=0)
    table = TableFile(path, name, "csv", headers, delimiter)
    table._newline = newline
    return table


def _markup_kind(head: bytes) -> str:
    """What a text file that starts with "<" is, for a message; "" for other text."""
    start = head.lstrip()[:1024].lower()
    if not start.startswith(b"<"):
        return ""
    if b"urn:schemas-microsoft-com:office:spreadsheet" in head[:4096].lower() or (
        b"excel.sheet" in head[:4096].lower()
    ):
        return _("an Excel 2003 XML spreadsheet")
    if b"<html" in start or b"<!doctype html" in start or b"<table" in start:
        return _("a web page (HTML)")
    return _("an XML document")


def _other_kind(head: bytes) -> str:
    """What a file that is neither a workbook nor markup is, for a message."""
    if head.startswith(b"%PDF"):
        return _("a PDF document")
    try:
        codecs.getincrementaldecoder("utf-8")().decode(head[:4096])
    except UnicodeDecodeError:
        return _("a file of another kind, not a spreadsheet")
    if b"\x00" in head[:4096]:
        return _("a file of another kind, not a spreadsheet")
    return _("plain text")


def _newline_of(head: bytes) -> bytes:
    """b"\\r" for files whose lines end in a lone CR (old Mac Excel), else b"\\n"."""
    lf = head.find(b"\n")
    cr = head.find(b"\r")
    if cr >= 0 and (lf < 0 or cr < lf - 1):
        return b"\r"
    return b"\n"


def _sniff_delimiter(line: str) -> str:
    """ ";" when the header line has more semicolons than commas outside quotes."""
    bare = re.sub(r'"[^"]*"', "", line)
    return ";" if bare.count(";") > bare.count(",") else ","


def _not_utf8(name: str, line: int, data: bytes, exc: UnicodeDecodeError) -> str:
    return _(
        "The file “%(name)s” is not in UTF-8: line %(line)s contains the byte "
        "0x%(byte)s, which UTF-8 does not allow. The file looks like it was saved in "
        "another encoding, such as Windows-1258 (Vietnamese) or Windows-1252. In "
        "Excel choose File > Save As > “CSV UTF-8 (Comma delimited) (*.csv)” and "
        "upload the new file."
    ) % {"name": name, "line": line, "byte": f"{data[exc.start]:02X}"}


def _nul_byte(name: str, line: int) -> str:
    return _(
        "The file “%(name)s” is not CSV text: line %(line)s contains a NUL byte, which "
        "means the file is binary or saved as UTF-16. Save it as “CSV UTF-8 (Comma "
        "delimited) (*.csv)” or .xlsx and upload it again."
    ) % {"name": name, "line": line}


def _check_headers(name: str, headers: list[str], *, column_offset: int) -> None:
    if not any(headers):
        raise UnreadableFile(
            _(
                "The first row of “%(name)s” is empty. Row 1 must hold the column "
                "names: delete any empty rows above them and upload the file again."
            )
            % {"name": name}
        )
    seen: dict[str, list[int]] = {}
    for index, header in enumerate(headers):
        if header:
            seen.setdefault(header.casefold(), []).append(index)
    repeated = [indexes for indexes in seen.values() if len(indexes) > 1]
    if repeated:
        details = "; ".join(
            _("“%(header)s” in columns %(columns)s")
            % {
                "header": headers[indexes[0]],
                "columns": ", ".join(
                    _column_letter(column_offset + i) for i in indexes
                ),
            }
            for indexes in repeated
        )
        raise UnreadableFile(
            _(
                "The header row of “%(name)s” uses the same column name more than "
                "once (capitals and small letters count as the same): %(details)s. "
                "Give each column its own name and upload the file again."
            )
            % {"name": name, "details": details}
        )


def _column_letter(index: int) -> str:
    """0 -> "A", 27 -> "AB": how Excel names the column."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


# --- XLSX ---------------------------------------------------------------------------


def _open_xlsx(path: Path, name: str) -> TableFile:
    sheet = _parse_checked_sheet(path, name)
    try:
        if sheet.headers is None:
            raise UnreadableFile(
                _(
                    "The first sheet of “%(name)s” is empty. Put the data on the first "
                    "sheet, with the column names in row 1, and upload the file again."
                )
                % {"name": name}
            )
        _check_headers(name, sheet.headers, column_offset=sheet.column_offset)
    except UnreadableFile:
        sheet.close()
        raise
    table = TableFile(
        path=path, original_name=name, format="xlsx", headers=sheet.headers
    )
    table._pending_sheet = sheet
    # A table whose rows are never read must not leave its child waiting.
    weakref.finalize(table, sheet.close)
    return table


def _parse_checked_sheet(path: Path, name: str) -> "_SheetReader | _SplitSheetReader":
    """The first sheet parsed in a child process while the archive is checked here.

    The cheap checks of the archive's directory come first, so that a file refused
    by its declared sizes never reaches calamine at all. The parse then starts, and
    the parts are inflated and measured meanwhile; the child's output is read only
    once they pass. A large sheet is cut in two as it is inflated, and each half
    parsed in a child of its own (see _SheetSplitter).
    """
    unpacked_bytes = _check_directory(path, name)
    memory = _reader_memory(unpacked_bytes)
    split = _split_reader(path, name, memory)
    if split is not None:
        try:
            _check_contents(path, name, splitter=split.splitter)
            split.wait_for_parse()
            return split
        except _NotSplit:
            split.close()
        except BaseException:
            split.close()
            raise
        # The archive passed its checks; the sheet is read whole, in one child.
        sheet = _SheetReader(path, name, memory)
        check = None
    else:
        sheet = _SheetReader(path, name, memory)
        check = _check_contents
    try:
        if check is not None:
            check(path, name)
        sheet.wait_for_parse()
    except BaseException:
        sheet.close()
        raise
    return sheet


def _split_reader(path: Path, name: str, memory: int) -> "_SplitSheetReader | None":
    """A reader of the sheet in two halves, if it is worth cutting and can be."""
    sheet_part = _part_to_split(path)
    if sheet_part is None:
        return None
    try:
        return _SplitSheetReader(name, memory, sheet_part)
    except OSError:
        # No room for the halves on the disk: the sheet is read whole.
        logger.warning("Cannot make room to cut %s in two", name, exc_info=True)
        return None


def _part_to_split(path: Path) -> zipfile.ZipInfo | None:
    """The archive's only sheet part, when it is large enough to parse in halves."""
    with _open_archive(path, path.name) as archive:
        sheets = [
            info
            for info in archive.infolist()
            if info.filename.lower().startswith(_SHEET_FOLDERS)
        ]
    # With several sheets, telling which one calamine reads first would mean
    # copying its relationship lookup; such a workbook is read in one child.
    if len(sheets) != 1 or not sheets[0].filename.lower().startswith(_SHEET_FOLDERS[0]):
        return None
    if sheets[0].file_size < settings.IMPORT_XLSX_SPLIT_BYTES:
        return None
    return sheets[0]


# eligibility/sheet_reader.py runs as a script, so that the child imports neither
# Django nor the project.
_READER_SCRIPT = str(Path(__file__).with_name("sheet_reader.py"))


class _SheetReader:
    """The child process that parses a sheet with calamine (see sheet_reader)."""

    def __init__(
        self, path: Path, name: str, memory: int, half: tuple[str, int] | None = None
    ) -> None:
        self._name = name
        self._memory = memory
        self._errors = tempfile.TemporaryFile()
        self._process = subprocess.Popen(
            [
                sys.executable,
                "-I",
                _READER_SCRIPT,
                str(path),
                str(memory),
                str(settings.IMPORT_XLSX_READER_CPU_SECONDS),
                *(() if half is None else (half[0], str(half[1]))),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._errors,
        )
        self._stream: pa.ipc.RecordBatchStreamReader | None = None
        self.status: str | None = None  # the child's answer, once parsed
        self.headers: list[str] | None = None
        self.column_offset = 0

    def answer(self) -> dict[str, str]:
        """The metadata the child sends once calamine has parsed its sheet."""
        try:
            self._stream = pa.ipc.open_stream(self._process.stdout)
        except (pa.ArrowInvalid, OSError):
            raise UnreadableFile(self._failed()) from None
        metadata = {
            key.decode(): value.decode()
            for key, value in (self._stream.schema.metadata or {}).items()
        }
        self.status = metadata.get("status")
        return metadata

    def wait_for_parse(self) -> None:
        """Read the header the child sends once calamine has parsed the sheet."""
        metadata = self.answer()
        status = metadata.get("status")
        if status == "ok":
            self.headers = json.loads(metadata["headers"])
            self.column_offset = int(metadata["column_offset"])
        elif status == "password":
            raise UnreadableFile(
                _(
                    "The file “%(name)s” is password-protected. Remove the password "
                    "in Excel, save the file and upload it again."
                )
                % {"name": self._name}
            )
        elif status == "unreadable":
            raise UnreadableFile(
                _(
                    "The file “%(name)s” could not be read as an Excel workbook "
                    "(%(detail)s). Open it in Excel, save it again as .xlsx and upload "
                    "the new file."
                )
                % {"name": self._name, "detail": metadata.get("detail", "")}
            )
        elif status != "empty":
            raise UnreadableFile(self._failed())

    def batches(self) -> Iterator[pa.RecordBatch]:
        try:
            if self.status != "ok":
                return
            try:
                yield from self._stream
            except (pa.ArrowInvalid, OSError):
                raise UnreadableFile(self._failed()) from None
            if self._exit_code() != 0:
                raise UnreadableFile(self._failed())
        finally:
            self.close()

    def _exit_code(self) -> int:
        """How the child ended. It ends once its output is read, or has ended when the
        output breaks off; one that does neither is stopped."""
        try:
            return self._process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._process.kill()
            return self._process.wait()

    def close(self) -> None:
        """Stop the child if it still runs, and release what it held."""
        if self._process.poll() is None:
            self._process.kill()
        self._process.wait()
        self._process.stdout.close()
        self._errors.close()

    def _failed(self) -> str:
        """The message for a child that stopped without a well-formed answer."""
        code = self._exit_code()
        self._errors.seek(0)
        errors = self._errors.read(4000).decode(errors="replace")
        logger.warning(
            "Reading the sheet of %s stopped with exit code %s: %s",
            self._name,
            code,
            errors,
        )
        if code == -signal.SIGXCPU:
            return _(
                "The file “%(name)s” is refused: reading its sheet took more than "
                "%(seconds)s seconds of processor time, far more than a workbook of "
                "its size needs. Save the data as CSV UTF-8, or check the sheet in "
                "Excel, and upload it again."
            ) % {
                "name": self._name,
                "seconds": number_format(
                    settings.IMPORT_XLSX_READER_CPU_SECONDS, force_grouping=True
                ),
            }
        # Rust says "memory allocation of N bytes failed" and aborts; Python raises.
        if "memory allocation of" in errors or "MemoryError" in errors:
            return _(
                "The file “%(name)s” is refused: reading its sheet needs more than "
                "the %(limit)s of memory the portal allows for it, far more than its "
                "size explains. A cell may repeat a very long text many times. "
                "Save the data as CSV UTF-8, or check the sheet in Excel, and upload "
                "it again."
            ) % {"name": self._name, "limit": filesizeformat(self._memory)}
        return _(
            "The file “%(name)s” could not be read as an Excel workbook. Open it in "
            "Excel, save it again as .xlsx and upload the new file."
        ) % {"name": self._name}


class _NotSplit(Exception):
    """The sheet could not be read in halves; it is read whole instead."""


# What the splitter looks for, in a worksheet's XML. A prefix ("x:") is allowed, as
# some writers use one; calamine ignores it.
_NAME = rb"(?:[A-Za-z_][\w.\-]*:)?"
_ROOT_TAG = re.compile(rb"<(" + _NAME + rb")worksheet[\s>]")
_SHEET_DATA_TAG = re.compile(rb"<(" + _NAME + rb")sheetData(?:\s[^>]*)?(/?)>")
_ROW_ATTRIBUTE = re.compile(rb"""(?<![\w:.\-])r\s*=\s*["']([0-9]{1,7})["']""")
# The sheet data must start within this much XML: column widths and views come
# before it, a few kilobytes in Excel's files.
_MAX_SHEET_PREFIX = 1 << 20
# Bytes kept back from one chunk to the next, so that a row's start tag cut by a
# chunk boundary is seen whole; Excel's row tags are under 200 bytes.
_ROW_TAG_CARRY = 4096
# Where the sheet is cut. The first half's child starts once its last byte is
# inflated, the second's only once the whole sheet is, so a larger first half should
# end both at once; on 100.000 rows, 0,5 and 0,58 took the same time.
_FIRST_HALF_SHARE = 0.5


class _SheetSplitter:
    """Cuts a worksheet in two at a row while the check inflates it, and writes each
    half, with every other part of the archive, into a workbook of its own.

    The first half holds the XML up to the start tag of a row past
    _FIRST_HALF_SHARE of the sheet, closed with the end tags of the sheet data and
    the worksheet; the second half holds the XML before the sheet data (the same
    for both) and the rest. Each workbook is handed to on_half as soon as it is
    complete, with the 0-based index of the first row of the second half, taken
    from that row's r attribute. Where no such cut can be made (no r attribute on
    the row, no sheet data, no room on the disk), `failed` is set and nothing more
    is handed on.
    """

    def __init__(self, folder: Path, sheet: zipfile.ZipInfo, on_half) -> None:
        self.sheet_name = sheet.filename
        self.failed = False
        self._cut_at = int(sheet.file_size * _FIRST_HALF_SHARE)
        self._on_half = on_half
        self._paths = (folder / "first.xlsx", folder / "second.xlsx")
        self._workbooks = [
            zipfile.ZipFile(p, "w", zipfile.ZIP_STORED) for p in self._paths
        ]
        self._entries: list = []
        self._state = "prefix"
        self._pending = b""
        self._offset = 0  # bytes of the sheet received so far
        self._prefix = b""
        self._close_first = b""
        self._row_tag: re.Pattern | None = None
        self.first_row: int | None = None

    # -- every part --------------------------------------------------------------

    @contextmanager
    def part(self, info: zipfile.ZipInfo):
        """A consumer of the part's bytes as the check inflates them."""
        if self.failed:
            yield None
            return
        if info.filename == self.sheet_name:
            yield self._guarded(self._feed_sheet)
            return
        try:
            self._entries = [
                w.open(info.filename, "w", force_zip64=True) for w in self._workbooks
            ]
        except OSError:
            self._fail()
            yield None
            return

        def copy(chunk: bytes) -> None:
            for handle in self._entries:
                handle.write(chunk)

        yield self._guarded(copy)
        if not self.failed:
            try:
                for handle in self._entries:
                    handle.close()
            except OSError:
                self._fail()
        self._entries = []

    def finish(self) -> None:
        """The whole sheet was inflated and checked: the second half is complete."""
        if self._state != "second" or self.failed:
            self._fail()
            return
        try:
            self._entries[1].close()
            self._workbooks[1].close()
        except OSError:
            self._fail()
            return
        self._on_half(1, self._paths[1], self.first_row)

    def close(self) -> None:
        for handle in [*self._entries, *self._workbooks]:
            # A full disk fails the close as it failed the write; the files go anyway.
            with suppress(OSError, ValueError):
                handle.close()

    def _fail(self) -> None:
        self.failed = True
        self.close()

    def _guarded(self, feed: Callable[[bytes], None]) -> Callable[[bytes], None]:
        """feed, stopped by a write that fails: with no room for the halves on the
        disk, the sheet is read whole instead."""

        def guarded(chunk: bytes) -> None:
            if self.failed:
                return
            try:
                feed(chunk)
            except OSError:
                logger.warning("Cutting a sheet in two failed", exc_info=True)
                self._fail()

        return guarded

    # -- the sheet ----------------------------------------------------------------

    def _feed_sheet(self, chunk: bytes) -> None:
        if self.failed:
            return
        self._offset += len(chunk)
        self._pending += chunk
        if self._state == "prefix":
            self._find_sheet_data()
        elif self._state == "first":
            self._find_cut()
        else:
            self._entries[1].write(self._pending)
            self._pending = b""

    def _find_sheet_data(self) -> None:
        data = self._pending
        root = _ROOT_TAG.search(data)
        sheet_data = _SHEET_DATA_TAG.search(data)
        if root is None or sheet_data is None:
            if len(data) > _MAX_SHEET_PREFIX:
                self._fail()
            return
        prefix_name = sheet_data.group(1)
        if sheet_data.group(2) or sheet_data.start() < root.start():
            self._fail()  # <sheetData/>: no rows to share out
            return
        self._prefix = data[: sheet_data.end()]
        self._close_first = (
            b"</" + prefix_name + b"sheetData></" + root.group(1) + b"worksheet>"
        )
        self._row_tag = re.compile(rb"<" + re.escape(prefix_name) + rb"row[\s>/]")
        self._entries = [
            w.open(self.sheet_name, "w", force_zip64=True) for w in self._workbooks
        ]
        self._state = "first"
        self._find_cut()

    def _find_cut(self) -> None:
        data = self._pending
        start = self._offset - len(data)  # where data begins in the sheet
        search_from = max(0, self._cut_at - start)
        tag = self._row_tag.search(data, search_from)
        end = -1 if tag is None else data.find(b">", tag.start())
        if tag is None or end < 0:
            # Not yet: keep back what could be the start of a tag cut in two.
            keep = max(len(data) - _ROW_TAG_CARRY, search_from)
            if tag is not None:
                if len(data) - tag.start() > _ROW_TAG_CARRY:
                    self._fail()  # no row tag is that long
                    return
                keep = min(keep, tag.start())
            self._entries[0].write(data[:keep])
            self._pending = data[keep:]
            return
        row = _ROW_ATTRIBUTE.search(data, tag.start(), end)
        if row is None:
            # Rows numbered by their place: the second half could not know its own.
            self._fail()
            return
        self.first_row = int(row.group(1)) - 1
        self._entries[0].write(data[: tag.start()])
        self._entries[0].write(self._close_first)
        self._entries[0].close()
        self._workbooks[0].close()
        self._on_half(0, self._paths[0], self.first_row)
        self._entries[1].write(self._prefix)
        self._entries[1].write(data[tag.start() :])
        self._pending = b""
        self._state = "second"


class _SplitSheetReader:
    """A sheet parsed in two halves by two children at once (see _SheetSplitter).

    The rows come as one sheet parsed whole would give them: the first half's
    child reads the header and the rows before the cut, the second half's rows
    are lined up under the header's columns, the blank rows between the halves are
    put back, and blank rows at the end are dropped.
    """

    def __init__(self, name: str, memory: int, sheet: zipfile.ZipInfo) -> None:
        self._name = name
        self._memory = memory
        self._folder = Path(tempfile.mkdtemp(prefix="cskh-sheet-"))
        self._children: list[_SheetReader | None] = [None, None]
        try:
            self.splitter = _SheetSplitter(self._folder, sheet, self._start_child)
        except OSError:
            shutil.rmtree(self._folder, ignore_errors=True)
            raise
        self.headers: list[str] | None = None
        self.column_offset = 0
        self._second_offset = 0

    def _start_child(self, half: int, path: Path, first_row: int) -> None:
        flag = "--until-row" if half == 0 else "--from-row"
        self._children[half] = _SheetReader(
            path, self._name, self._memory, (flag, first_row)
        )

    def wait_for_parse(self) -> None:
        """Wait for both halves; raise _NotSplit if the sheet must be read whole."""
        first, second = self._children
        if first is None or second is None:
            raise _NotSplit
        answers = [first.answer(), second.answer()]
        if answers[0].get("status") != "ok" or answers[1].get("status") not in (
            "ok",
            "empty",
        ):
            # Rows out of order, or calamine refusing a half: the whole sheet, read
            # in one child, gives the answer a sheet read whole gives.
            raise _NotSplit
        self.column_offset = int(answers[0]["column_offset"])
        if answers[1]["status"] == "ok":
            self._second_offset = int(answers[1]["column_offset"])
            if self._second_offset < self.column_offset:
                raise _NotSplit  # cells left of the header: the columns would move
        else:
            second.close()
            self._children[1] = None
        self.headers = json.loads(answers[0]["headers"])

    def batches(self) -> Iterator[pa.RecordBatch]:
        try:
            first, second = self._children
            rows = 0
            for batch in first.batches():
                rows += batch.num_rows
                yield batch
            if second is None:
                return
            schema = pa.schema(
                [pa.field(f"c{i}", pa.string()) for i in range(len(self.headers))]
            )
            # Rows 1 to `rows` came from the first half; the second starts at
            # first_row. The rows between are blank in the sheet.
            gap = self.splitter.first_row - 1 - rows
            lined_up = (self._lined_up(batch, schema) for batch in second.batches())
            yield from without_trailing_blank_rows(
                chain([_blank_batch(schema, gap)], lined_up)
            )
        finally:
            self.close()

    def _lined_up(self, batch: pa.RecordBatch, schema: pa.Schema) -> pa.RecordBatch:
        """The second half's columns under the header's: column i of the header is
        column i - shift of the half."""
        shift = self._second_offset - self.column_offset
        blank = None
        columns = []
        for index in range(len(schema)):
            source = index - shift
            if 0 <= source < batch.num_columns:
                columns.append(batch.column(source))
            else:
                if blank is None:
                    blank = _blank_column(batch.num_rows)
                columns.append(blank)
        return pa.record_batch(columns, schema=schema)

    def close(self) -> None:
        for child in self._children:
            if child is not None:
                child.close()
        self.splitter.close()
        shutil.rmtree(self._folder, ignore_errors=True)


def _blank_column(rows: int) -> pa.StringArray:
    """`rows` cells of empty text."""
    offsets = pa.py_buffer(bytes(4 * (rows + 1)))
    return pa.StringArray.from_buffers(rows, offsets, pa.py_buffer(b""))


def _blank_batch(schema: pa.Schema, rows: int) -> pa.RecordBatch:
    return pa.record_batch([_blank_column(rows)] * len(schema), schema=schema)


def _is_utf8(data: bytes) -> bool:
    """Whether `data` is valid UTF-8; Arrow checks it at twice the speed of a decode,
    without building the text, and lets other threads run meanwhile."""
    try:
        pa.array([data], pa.binary()).cast(pa.string())
    except pa.ArrowInvalid:
        return False
    return True


def _max_cells() -> int:
    return getattr(settings, "IMPORT_XLSX_MAX_CELLS", _DEFAULT_MAX_CELLS)


def _reader_memory(unpacked_bytes: int) -> int:
    """The address space the child parsing a sheet may use, in bytes.

    Calamine's grid takes 32 bytes a cell, and a text cell as much again on the heap
    for short text, over the largest rectangle the checks let through. Longer text
    is bounded by the workbook's unpacked size, counted twice for a shared string
    and its copies; a gigabyte more is for Python, Arrow and a row being converted.
    A file that needs more, such as one shared string repeated in every cell, stops
    the child instead of exhausting the machine.
    """
    return 64 * _max_cells() + 2 * unpacked_bytes + 1024**3


def _open_archive(path: Path, name: str) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise UnreadableFile(_damaged(name, exc)) from None


def _check_directory(path: Path, name: str) -> int:
    """Refuse an XLSX whose directory shows it could exhaust memory or is not a
    workbook: what the parts declare, read without inflating any of them. Returns
    the size the parts declare, unpacked."""
    max_entries = settings.IMPORT_XLSX_MAX_ENTRIES
    max_total = settings.IMPORT_XLSX_MAX_TOTAL_BYTES
    max_entry = settings.IMPORT_XLSX_MAX_ENTRY_BYTES
    max_ratio = settings.IMPORT_XLSX_MAX_RATIO

    # zipfile builds an object per directory record before anyone can count them,
    # so the directory's own size is checked first, from the end record.
    entries, directory_size = _end_record(path, name)
    if entries > max_entries or directory_size > max_entries * _MAX_DIRECTORY_RECORD:
        raise UnreadableFile(_too_many_parts(name, max_entries))
    archive = _open_archive(path, name)
    with archive:
        infos = archive.infolist()
        if len(infos) > max_entries:
            raise UnreadableFile(_too_many_parts(name, max_entries))
        for info in infos:
            if info.file_size > max_entry:
                raise UnreadableFile(
                    _(
                        "The file “%(name)s” is refused: its part “%(part)s” would "
                        "unpack to %(size)s, more than the %(limit)s allowed for one "
                        "part. The file is damaged or is a “zip bomb”. If the data is "
                        "genuine, split it into smaller files or save it as CSV UTF-8, "
                        "then upload again."
                    )
                    % {
                        "name": name,
                        "part": info.filename,
                        "size": filesizeformat(info.file_size),
                        "limit": filesizeformat(max_entry),
                    }
                )
        total = sum(info.file_size for info in infos)
        if total > max_total:
            raise UnreadableFile(
                _(
                    "The file “%(name)s” is refused: it would unpack to %(size)s, more "
                    "than the %(limit)s allowed for a workbook. The file is damaged or "
                    "is a “zip bomb”. If the data is genuine, split it into smaller "
                    "files or save it as CSV UTF-8, then upload again."
                )
                % {
                    "name": name,
                    "size": filesizeformat(total),
                    "limit": filesizeformat(max_total),
                }
            )
        for info in infos:
            ratio = info.file_size / max(info.compress_size, 1)
            if info.file_size >= _RATIO_FLOOR_BYTES and ratio > max_ratio:
                raise UnreadableFile(
                    _(
                        "The file “%(name)s” is refused: its part “%(part)s” packs "
                        "%(size)s into %(packed)s, %(ratio)s times smaller, while real "
                        "spreadsheets compress at most %(limit)s times. The file is a "
                        "“zip bomb” or is damaged. Save the data again from Excel and "
                        "upload the new file."
                    )
                    % {
                        "name": name,
                        "part": info.filename,
                        "size": filesizeformat(info.file_size),
                        "packed": filesizeformat(info.compress_size),
                        "ratio": number_format(int(ratio), force_grouping=True),
                        "limit": number_format(max_ratio, force_grouping=True),
                    }
                )
        _check_workbook_parts(name, infos)
        for info in infos:
            if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED) or (
                info.flag_bits & 0x1
            ):
                raise UnreadableFile(
                    _(
                        "The file “%(name)s” uses encryption or a compression method "
                        "that Excel does not use for .xlsx files (part “%(part)s”). "
                        "Open it in Excel, save it as .xlsx and upload it again."
                    )
                    % {"name": name, "part": info.filename}
                )
    return total


def _check_contents(
    path: Path, name: str, splitter: "_SheetSplitter | None" = None
) -> None:
    """Inflate every part of an archive that passed _check_directory, to check that
    it holds what it declares and that no sheet spans too many cells.

    A splitter is handed every part as it is inflated: the other parts first, so
    that each half's workbook holds them before its sheet is complete."""
    archive = _open_archive(path, name)
    with archive:
        infos = archive.infolist()
        if splitter is None:
            for info in infos:
                _check_part(archive, info, name)
            return
        sheets = [info for info in infos if info.filename == splitter.sheet_name]
        for info in [info for info in infos if info not in sheets] + sheets:
            with splitter.part(info) as feed:
                _check_part(archive, info, name, also=feed)
        splitter.finish()


def _check_workbook_parts(name: str, infos: list[zipfile.ZipInfo]) -> None:
    names = [info.filename.lower() for info in infos]
    if len(set(names)) != len(names):
        # Calamine finds parts by name ignoring case; two parts that differ only in
        # case would let it read a part other than the one checked here.
        raise UnreadableFile(_damaged(name, _("two parts have the same name")))
    present = set(names)
    if "xl/workbook.bin" in present:
        raise UnreadableFile(
            _(
                "The file “%(name)s” is an Excel Binary Workbook (.xlsb), which the "
                "portal cannot read. Save it as “Excel Workbook (*.xlsx)” or “CSV "
                "UTF-8 (Comma delimited) (*.csv)” and upload it again."
            )
            % {"name": name}
        )
    if "mimetype" in present and "content.xml" in present:
        raise UnreadableFile(
            _(
                "The file “%(name)s” is an OpenDocument spreadsheet (.ods), which the "
                "portal cannot read. Save it as “Excel Workbook (*.xlsx)” or “CSV "
                "UTF-8 (Comma delimited) (*.csv)” and upload it again."
            )
            % {"name": name}
        )
    missing = [
        part
        for part in ("[Content_Types].xml", "xl/workbook.xml")
        if part.lower() not in present
    ]
    if missing:
        raise UnreadableFile(
            _(
                "The file “%(name)s” is not an Excel workbook: it is a zip archive "
                "without the parts every .xlsx file has (%(missing)s). Save the data "
                "from Excel as .xlsx or “CSV UTF-8 (Comma delimited) (*.csv)” and "
                "upload it again."
            )
            % {"name": name, "missing": ", ".join(missing)}
        )


def _check_part(
    archive: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    name: str,
    also: Callable[[bytes], None] | None = None,
) -> None:
    """Inflate one part to check it against its declared size and CRC.

    The size limits above trust the sizes the archive declares, and calamine inflates
    a part until its data ends, whatever the directory says. Inflating each part here
    first, without zipfile's own stop at the declared size, catches a part that
    unpacks to more. It costs 0.3 s on a 100,000-row sheet (128 MB of XML), under a
    tenth of calamine's own time, and is kept for that price.

    Worksheets are also measured for the rectangle their cells span, which calamine
    allocates in full. Every worksheet is measured, not only the first: telling
    which part calamine loads first would mean copying its relationship lookup, and
    any difference would let a part through unmeasured.

    `also` is given the part's bytes too, on the first pass.
    """
    if not info.filename.lower().startswith(_SHEET_FOLDERS):
        _inflate(archive, info, name, also)
        return
    max_cells = _max_cells()
    fast = _CellScan(_WIDE_OR_ODD_CELL)
    if also is None:
        _inflate(archive, info, name, fast.feed)
    else:

        def both(chunk: bytes) -> None:
            fast.feed(chunk)
            also(chunk)

        _inflate(archive, info, name, both)
    fast.finish()
    if not fast.odd and _EXCEL_ROWS * _FAST_COLUMNS <= max_cells:
        return
    refs = _CellScan(_ODD_CELL, collect=True)
    _inflate(archive, info, name, refs.feed)
    refs.finish()
    if not refs.odd:
        _check_span(name, info.filename, refs.first, refs.last, max_cells)
        return
    exact = _ExactBox(name, info.filename)
    _inflate(archive, info, name, exact.feed)
    exact.close()
    _check_span(name, info.filename, exact.first, exact.last, max_cells)


def _inflate(
    archive: zipfile.ZipFile,
    info: zipfile.ZipInfo,
    name: str,
    consume: Callable[[bytes], None] | None,
) -> None:
    probe = copy.copy(info)
    # zipfile stops at, and checks the CRC at, the declared size; set it past the
    # next read so that the check below sees any byte beyond it first.
    probe.file_size = info.file_size + _READ_CHUNK + 1
    size = 0
    try:
        with archive.open(probe) as stream:
            while chunk := stream.read(_READ_CHUNK):
                size += len(chunk)
                if size > info.file_size:
                    raise UnreadableFile(
                        _(
                            "The file “%(name)s” is refused: its part “%(part)s” "
                            "unpacks to more than the %(size)s the archive declares. "
                            "The file is damaged or was made to look smaller than it "
                            "is. Save the data again from Excel and upload the new "
                            "file."
                        )
                        % {
                            "name": name,
                            "part": info.filename,
                            "size": filesizeformat(info.file_size),
                        }
                    )
                if consume is not None:
                    consume(chunk)
    except (zipfile.BadZipFile, zlib.error, OSError, EOFError) as exc:
        raise UnreadableFile(_damaged(name, exc)) from None
    if size != info.file_size:
        raise UnreadableFile(
            _damaged(
                name,
                _("part “%(part)s” is shorter than declared") % {"part": info.filename},
            )
        )


def _end_record(path: Path, name: str) -> tuple[int, int]:
    """(number of parts, size of the central directory) from the zip end record."""
    with open(path, "rb") as stream:
        size = stream.seek(0, io.SEEK_END)
        tail_size = min(size, 22 + 0xFFFF)
        stream.seek(size - tail_size)
        tail = stream.read(tail_size)
        at = tail.rfind(b"PK\x05\x06")
        if at < 0 or len(tail) - at < 22:
            raise UnreadableFile(_damaged(name, _("the zip end record is missing")))
        entries, directory_size = struct.unpack("<HI", tail[at + 10 : at + 16])
        if entries == 0xFFFF or directory_size == 0xFFFFFFFF:
            # Zip64: the real counts are in a record the locator points to.
            locator = tail[at - 20 : at] if at >= 20 else b""
            if locator[:4] != b"PK\x06\x07":
                raise UnreadableFile(_damaged(name, _("the zip64 locator is missing")))
            (offset,) = struct.unpack("<Q", locator[8:16])
            stream.seek(offset)
            record = stream.read(56)
            if record[:4] != b"PK\x06\x06" or len(record) < 56:
                raise UnreadableFile(_damaged(name, _("the zip64 end record is bad")))
            entries, directory_size = struct.unpack("<QQ", record[32:48])
    return entries, directory_size


class _CellScan:
    """Looks for an odd cell start tag in a worksheet, chunk by chunk.

    With collect=True it also gathers the (row, column) span of the references.
    """

    def __init__(self, odd: re.Pattern, *, collect: bool = False) -> None:
        self._odd = odd
        self._collect = collect
        self._tail = b""
        self._first = True
        self.odd = False
        self.first: tuple[int, int] | None = None
        self.last: tuple[int, int] | None = None

    def feed(self, chunk: bytes) -> None:
        if self.odd:
            return
        if self._first:
            self._first = False
            # Byte patterns only work on an ASCII-compatible encoding: a UTF-16
            # sheet, allowed by XML, goes to the exact check.
            if not chunk.removeprefix(_UTF8_BOM).lstrip().startswith(b"<") or (
                b"\x00" in chunk[:64]
            ):
                self.odd = True
                return
        # Matches are counted up to the last _SCAN_OVERLAP bytes, which are carried
        # over and looked at again with the next chunk, together with the byte
        # before them for the patterns' look-behind.
        data = self._tail + chunk
        self._scan(data, 1 if self._tail else 0, len(data) - _SCAN_OVERLAP)
        self._tail = data[-(_SCAN_OVERLAP + 1) :]

    def finish(self) -> None:
        if not self.odd and self._tail:
            start = 1 if len(self._tail) > _SCAN_OVERLAP else 0
            self._scan(self._tail, start, len(self._tail))

    def _scan(self, data: bytes, start: int, limit: int) -> None:
        for match in self._odd.finditer(data, start):
            if match.start() < limit:
                self.odd = True
                return
            break
        if self._collect:
            refs = _CELL_REF.findall(data, start)
            if refs:
                rows = [int(row) - 1 for row in set(map(itemgetter(1), refs))]
                columns = [_column_index(c) for c in set(map(itemgetter(0), refs))]
                self._include((min(rows), min(columns)), (max(rows), max(columns)))

    def _include(self, first: tuple[int, int], last: tuple[int, int]) -> None:
        if self.first is None:
            self.first, self.last = first, last
            return
        self.first = (min(self.first[0], first[0]), min(self.first[1], first[1]))
        self.last = (max(self.last[0], last[0]), max(self.last[1], last[1]))


class _ExactBox:
    """The rectangle of cells a worksheet spans, counted the way calamine places them.

    Calamine takes a cell's position from its r attribute, or else from the row's r
    attribute and the cell's place in the row; the same rules are followed here with
    expat. Cells without a value count too, which can only overestimate.
    """

    def __init__(self, name: str, part: str) -> None:
        self._name = name
        self._part = part
        self._parser = expat.ParserCreate()
        self._parser.StartElementHandler = self._start
        self._parser.EndElementHandler = self._end
        self._parser.StartDoctypeDeclHandler = self._doctype
        self._row = 0
        self._column = 0
        self.first: tuple[int, int] | None = None
        self.last: tuple[int, int] | None = None

    def feed(self, chunk: bytes) -> None:
        try:
            self._parser.Parse(chunk, False)
        except expat.ExpatError as exc:
            raise UnreadableFile(self._bad_xml(exc)) from None

    def close(self) -> None:
        try:
            self._parser.Parse(b"", True)
        except expat.ExpatError as exc:
            raise UnreadableFile(self._bad_xml(exc)) from None

    def _bad_xml(self, exc: Exception) -> str:
        return _damaged(
            self._name,
            _("part “%(part)s” is not well-formed XML: %(detail)s")
            % {"part": self._part, "detail": exc},
        )

    def _doctype(self, *args) -> None:
        # Excel never writes a DTD, and its entities could expand without bound.
        raise UnreadableFile(
            _damaged(
                self._name,
                _("part “%(part)s” declares a document type") % {"part": self._part},
            )
        )

    def _start(self, tag: str, attributes: dict[str, str]) -> None:
        local = tag.rpartition(":")[2]
        if local == "c":
            ref = attributes.get("r")
            if ref is None:
                row, column = self._row, self._column
            else:
                parsed = _parse_ref(ref)
                if parsed is None or parsed[1] is None:
                    # Calamine stops on this reference with an error.
                    return
                row, column = parsed
                self._column = column
            self._column += 1
            self._include(row, column)
        elif local == "row":
            ref = attributes.get("r")
            parsed = _parse_ref(ref) if ref is not None else None
            if parsed is not None:
                self._row = parsed[0]

    def _end(self, tag: str) -> None:
        if tag.rpartition(":")[2] == "row":
            self._row += 1
            self._column = 0

    def _include(self, row: int, column: int) -> None:
        if self.first is None:
            self.first = self.last = (row, column)
            return
        self.first = (min(self.first[0], row), min(self.first[1], column))
        self.last = (max(self.last[0], row), max(self.last[1], column))


def _check_span(
    name: str,
    part: str,
    first: tuple[int, int] | None,
    last: tuple[int, int] | None,
    max_cells: int,
) -> None:
    """Refuse a sheet whose cells span a rectangle larger than max_cells."""
    if first is None:
        return
    rows = last[0] - first[0] + 1
    columns = last[1] - first[1] + 1
    if rows * columns <= max_cells:
        return
    raise UnreadableFile(
        _(
            "The file “%(name)s” is refused: a sheet (part “%(part)s”) has cells "
            "spread over %(rows)s rows and %(columns)s columns, as far as cell "
            "%(cell)s, more than the %(limit)s cells the portal can read. Delete the "
            "stray cells outside the table (in Excel, Ctrl+End shows the last used "
            "cell), save, and upload the file again, or save the sheet as CSV UTF-8."
        )
        % {
            "name": name,
            "part": part,
            "rows": number_format(rows, force_grouping=True),
            "columns": number_format(columns, force_grouping=True),
            "cell": _column_letter(last[1]) + str(last[0] + 1),
            "limit": number_format(max_cells, force_grouping=True),
        }
    )


def _column_index(letters: bytes | str) -> int:
    """b"A" -> 0, "ab" -> 27: the 0-based column an Excel column name stands for."""
    if isinstance(letters, bytes):
        letters = letters.decode("ascii")
    column = 0
    for letter in letters.upper():
        column = column * 26 + ord(letter) - 64
    return column - 1


def _parse_ref(ref: str) -> tuple[int, int | None] | None:
    """(row, column or None), 0-based, from "B12", "b12" or "12"; None if invalid."""
    match = _REF.match(ref)
    if match is None or int(match[2]) == 0:
        return None
    column = _column_index(match[1]) if match[1] else None
    return int(match[2]) - 1, column


def _too_many_parts(name: str, limit: int) -> str:
    return _(
        "The file “%(name)s” is refused: it holds more than %(limit)s parts, far more "
        "than an Excel workbook needs. It is damaged or is not a real spreadsheet. "
        "Save the data from Excel as .xlsx or CSV UTF-8 and upload it again."
    ) % {"name": name, "limit": number_format(limit, force_grouping=True)}


def _damaged(name: str, detail) -> str:
    return _(
        "The file “%(name)s” is damaged: it looks like an Excel workbook (a zip "
        "archive) but cannot be read (%(detail)s). Open it in Excel, save it again as "
        ".xlsx and upload the new file."
    ) % {"name": name, "detail": detail}
