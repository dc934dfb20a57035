"""The first sheet of an XLSX, parsed in a child process and streamed back as Arrow.

python-calamine loads a whole sheet into a dense grid of the rectangle its cells span,
and a file that makes it ask for more memory than there is aborts the process that
asked: a 2 KB file with one value in A1 and one in XFD1048576 asks for 512 GiB. The
portal checks every archive for that before it reads a row
(eligibility.spreadsheets._check_archive), but the check inflates and scans the whole
sheet, which takes a quarter of calamine's own time. So the parse runs here, in a
child process under an address-space limit, while the portal's process runs the
check; the portal reads the rows only once the check has passed, and kills the child
when it fails. Whatever the file does to calamine, the portal's process never runs it.

This module imports neither Django nor the project, so the child starts with only
python-calamine and pyarrow:
`python -I eligibility/sheet_reader.py PATH MEMORY_BYTES CPU_SECONDS`.

What the child writes on stdout is an Arrow IPC stream. The metadata of its schema
says how the parse went:
- status "ok": headers (a JSON list) and column_offset, then the data rows in record
  batches of string columns c0, c1, ... (see cell_text);
- status "empty": the first sheet holds no cell;
- status "password": the workbook is encrypted;
- status "unreadable": calamine refused it; detail says why.

A large sheet is parsed in two halves at once, one child each (see
eligibility.spreadsheets._SheetSplitter): the portal cuts the sheet's XML at a row
and writes each half into a workbook of its own. The child of the first half is
given --until-row R, the index of the first row of the second half, and answers as
above; the child of the second half is given --from-row R and sends its rows from R
on, every row and every column of its cells' rectangle, with column_offset in the
metadata, for the portal to line up under the header. Either child answers status
"overlap" when its cells reach into the other half's rows (rows written out of
order); the portal then reads the whole sheet in one child.
"""

from __future__ import annotations

import datetime
import json
import resource
import sys
import threading
import unicodedata
from decimal import Decimal
from itertools import batched, chain, islice

# Rows a batch sent to the portal holds. Smaller batches start the check and the
# COPY sooner and leave less to do after the last one: 100.000 rows imported in
# 5,0 s with batches of 10.000 to 20.000 rows, 5,3–5,5 s with 50.000 (measured in
# turns); 5.000 was slower again (the check's cost per batch).
ROWS_PER_BATCH = 20_000


def cell_text(value) -> str:
    """Text for a value calamine returns; strings come stripped."""
    kind = type(value)
    if kind is float:
        if value.is_integer():
            # 901234567.0 is how Excel stores the number 901234567.
            return str(int(value))
        text = repr(value)
        if "e" in text:
            text = format(Decimal(text), "f")
        return text
    if kind is bool:
        return "1" if value else "0"
    if kind is int:
        return str(value)
    if kind is datetime.date:
        return value.isoformat()
    if kind is datetime.datetime:
        # Excel stores a time as a fraction of a day; round away the float noise.
        if value.microsecond >= 500_000:
            value += datetime.timedelta(seconds=1)
        value = value.replace(microsecond=0)
        if value.time() == datetime.time(0):
            return value.date().isoformat()
        return value.strftime("%Y-%m-%d %H:%M:%S")
    if kind is datetime.time:
        return value.replace(microsecond=0).isoformat()
    if kind is datetime.timedelta:
        seconds = round(value.total_seconds())
        return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"
    if kind is str:
        return value.strip()
    return str(value)


def header_cells(first_row: list) -> list[str]:
    """The header row as text, stripped, in Unicode NFC, without empty cells at its end."""
    headers = [
        unicodedata.normalize("NFC", v.strip() if type(v) is str else cell_text(v))
        for v in first_row
    ]
    while headers and not headers[-1]:
        headers.pop()
    return headers


def _text_column(cells: list):
    """A column's cells as an Arrow array of text (see cell_text).

    A column of text, as every column of a sheet saved from a CSV and most of a
    typical export, is joined into one string with NUL between the cells, which
    XML cannot hold, and Arrow's array is made from its bytes: 0,17 s for the
    3 million cells of 100.000 rows, against 0,30 s for Arrow reading each Python
    string. A number, date or boolean makes the join fail; such a column is turned
    into text cell by cell. Text is not stripped here; the import's checks trim it.
    """
    import numpy as np
    import pyarrow as pa

    try:
        joined = "\0".join(cells)
    except TypeError:
        return pa.array(
            [v if type(v) is str else cell_text(v) for v in cells], pa.string()
        )
    data = joined.encode()
    count = len(cells)
    ends = np.flatnonzero(np.frombuffer(data, np.uint8) == 0)
    if len(ends) != count - 1 or len(data) >= 2**31:
        # A cell holding NUL (Excel's escape _x0000_), or more text than 32-bit
        # offsets can address: Arrow reads the strings one by one.
        return pa.array(cells, pa.string())
    # Cell k starts after the k-th NUL, k bytes further on than once the NULs are
    # taken out.
    offsets = np.empty(count + 1, np.int32)
    offsets[0] = 0
    offsets[1:count] = ends + 1 - np.arange(1, count)
    offsets[count] = len(data) - (count - 1)
    return pa.StringArray.from_buffers(
        count, pa.py_buffer(offsets), pa.py_buffer(data.replace(b"\0", b""))
    )


def sheet_batches(
    rows, width: int, schema, rows_per_block: int = ROWS_PER_BATCH, *, trim=True
):
    """The data rows as record batches of width text columns, in file order.

    calamine gives every row as a list as wide as the sheet. Each block of rows is
    laid end to end in one list and a column is a slice of it with a step: a fifth
    of the time that turning rows into columns with zip() takes. Empty rows in the
    middle are kept so that row numbers stay right; empty rows at the end are
    dropped: a sheet that declares a million rows but fills ten ends with blank rows
    nobody wants. With trim=False every row is kept, for the caller to trim.
    """
    batches = _grid_batches(rows, width, schema, rows_per_block)
    return without_trailing_blank_rows(batches) if trim else batches


def _grid_batches(rows, width: int, schema, rows_per_block: int):
    import pyarrow as pa

    for block in batched(rows, rows_per_block):
        cells = list(chain.from_iterable(block))
        grid_width = len(cells) // len(block)
        if len(cells) != grid_width * len(block) or grid_width < width:
            # Not a rectangle: never seen from calamine, handled all the same.
            cells = list(chain.from_iterable(_padded(row, width) for row in block))
            grid_width = width
        columns = [_text_column(cells[i::grid_width]) for i in range(width)]
        yield pa.record_batch(columns, schema=schema)


def without_trailing_blank_rows(batches):
    """The batches with the blank rows at the end of the stream dropped.

    A blank row is held back until a row with data follows, in this batch or a
    later one, so blank rows in the middle keep their place.
    """
    held_blank: list = []  # blank rows not yet known to come before data
    for batch in batches:
        if not batch.num_rows:
            continue
        last_filled = _last_true(_any_filled(batch.columns))
        if last_filled < 0:
            held_blank.append(batch)
            continue
        yield from held_blank
        held_blank = []
        yield batch.slice(0, last_filled + 1)
        if last_filled + 1 < batch.num_rows:
            held_blank.append(batch.slice(last_filled + 1))


def _padded(row: list, width: int) -> list:
    row = row[:width]
    return row + [""] * (width - len(row)) if len(row) < width else row


def _any_filled(columns):
    """Per row, whether any of the columns holds a non-empty cell."""
    import pyarrow.compute as pc

    filled = pc.not_equal(pc.binary_length(columns[0]), 0)
    for column in columns[1:]:
        filled = pc.or_(filled, pc.not_equal(pc.binary_length(column), 0))
    return filled


def _last_true(mask) -> int:
    """The index of the last true value of a boolean array, or -1."""
    import numpy as np

    found = np.flatnonzero(mask.to_numpy(zero_copy_only=False))
    return int(found[-1]) if len(found) else -1


def _write_status(out, status: str, **details: str) -> None:
    import pyarrow as pa

    schema = pa.schema([], metadata={"status": status, **details})
    pa.ipc.new_stream(out, schema).close()


def write_sheet(
    path: str,
    out,
    rows_per_block: int = ROWS_PER_BATCH,
    *,
    until_row: int | None = None,
    from_row: int | None = None,
) -> None:
    """Parse the first sheet of the workbook at path and write it to out (see above)."""
    from python_calamine import CalamineError, CalamineWorkbook, PasswordError

    # pyarrow takes a tenth of a second to import: done while calamine parses, which
    # lets other threads run.
    arrow = threading.Thread(target=__import__, args=("pyarrow",))
    arrow.start()
    try:
        with CalamineWorkbook.from_path(path) as workbook:
            sheet = workbook.get_sheet_by_index(0) if workbook.sheet_names else None
    except PasswordError:
        arrow.join()
        _write_status(out, "password")
        return
    except CalamineError as exc:
        arrow.join()
        _write_status(out, "unreadable", detail=str(exc))
        return
    arrow.join()
    import pyarrow as pa

    if from_row is not None:
        _write_rest(sheet, out, from_row, rows_per_block)
        return
    if until_row is not None and sheet is not None and sheet.end is not None:
        if sheet.end[0] >= until_row:
            _write_status(out, "overlap")
            return
    rows = iter(sheet.iter_rows()) if sheet is not None and sheet.start else iter(())
    first = next(rows, None)
    if first is None:
        _write_status(out, "empty")
        return
    headers = header_cells(first)
    width = len(headers)
    schema = pa.schema(
        [pa.field(f"c{i}", pa.string()) for i in range(width)],
        metadata={
            "status": "ok",
            "headers": json.dumps(headers),
            "column_offset": str(sheet.start[1]),
        },
    )
    with pa.ipc.new_stream(out, schema) as writer:
        if not width:
            return
        for batch in sheet_batches(rows, width, schema, rows_per_block):
            writer.write_batch(batch)


def _write_rest(sheet, out, from_row: int, rows_per_block: int) -> None:
    """The second half of a sheet: its rows from from_row on, as they are."""
    import pyarrow as pa

    if sheet is None or sheet.start is None:
        _write_status(out, "empty")
        return
    if sheet.start[0] < from_row:
        _write_status(out, "overlap")
        return
    width = sheet.end[1] - sheet.start[1] + 1
    schema = pa.schema(
        [pa.field(f"c{i}", pa.string()) for i in range(width)],
        metadata={"status": "ok", "column_offset": str(sheet.start[1])},
    )
    # calamine yields the rows above the rectangle as empty rows: skipped here.
    rows = islice(sheet.iter_rows(), from_row, None)
    with pa.ipc.new_stream(out, schema) as writer:
        for batch in sheet_batches(rows, width, schema, rows_per_block, trim=False):
            writer.write_batch(batch)


def main(argv: list[str]) -> int:
    path, memory, seconds = argv[1], int(argv[2]), int(argv[3])
    half = {}
    if len(argv) == 6 and argv[4] in ("--until-row", "--from-row"):
        half = {argv[4][2:].replace("-", "_"): int(argv[5])}
    # The memory limit turns an allocation no real sheet needs into a quick abort of
    # this process alone, and the processor-time limit ends a parse that would never
    # finish; no core file is left behind.
    resource.setrlimit(resource.RLIMIT_AS, (memory, memory))
    resource.setrlimit(resource.RLIMIT_CPU, (seconds, seconds + 5))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    with open(sys.stdout.fileno(), "wb", closefd=False) as out:
        try:
            write_sheet(path, out, **half)
        except BrokenPipeError:
            # The portal stopped reading: its check refused the file.
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
