"""Arrow batches as PostgreSQL's binary COPY format, built column by column.

The import's good rows used to travel as CSV: Arrow printed every number and date
as text and PostgreSQL parsed it back, which was most of the COPY's cost (5,5 M
billing rows: 7,9 s as CSV, 4,9 s as binary). Here each row is encoded without a
Python loop: the fixed-width fields (integers, dates, booleans, text of one length
throughout the batch) of every row are written at once into one NumPy record array
of big-endian values, and Arrow's element-wise join appends the variable fields
(length word, then bytes) to each row. The joined values, back to back, are the
COPY payload.

Format (PostgreSQL manual, "COPY ... Binary Format"): a header; per row an int16
field count and per field an int32 byte length (-1 for NULL) followed by the value
in the type's binary send format; an int16 -1 trailer.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from queue import Queue

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from psycopg.copy import LibpqWriter

HEADER = b"PGCOPY\n\xff\r\n\x00" + b"\x00\x00\x00\x00" + b"\x00\x00\x00\x00"
TRAILER = b"\xff\xff"

# Days from the Unix epoch (Arrow's date32) to PostgreSQL's (2000-01-01).
_PG_EPOCH_DAYS = 10_957
_NULL = np.array([-1], ">i4").tobytes()

# Binary widths of the fixed-width types we load.
_INT_WIDTHS = {"bigint": 8, "integer": 4, "smallint": 2}
_FIXED_WIDTHS = {**_INT_WIDTHS, "date": 4, "boolean": 1}


class UnsupportedColumn(Exception):
    """A column whose type or values this encoder does not write."""


@dataclass(frozen=True)
class TargetColumn:
    name: str
    sql_type: str  # as format_type() prints it, e.g. "character varying(11)"
    not_null: bool
    numeric_scale: int | None = None

    @property
    def base(self) -> str:
        if self.sql_type.startswith(("character varying", "text", "character(")):
            return "text"
        if self.sql_type.startswith("numeric"):
            return "numeric"
        return self.sql_type


def table_columns(cursor, table: str) -> dict[str, TargetColumn]:
    """The table's columns and their types, read from the catalogue."""
    cursor.execute(
        "SELECT attname, format_type(atttypid, atttypmod), attnotnull, "
        "CASE WHEN atttypid = 'numeric'::regtype AND atttypmod > 0 "
        "THEN (atttypmod - 4) & 65535 END "
        "FROM pg_attribute WHERE attrelid = %s::regclass AND attnum > 0 "
        "AND NOT attisdropped",
        [table],
    )
    return {
        name: TargetColumn(name, sql_type, not_null, scale)
        for name, sql_type, not_null, scale in cursor.fetchall()
    }


class CopyPlan:
    """How the rows of one COPY are encoded: its column order and each column's way.

    The order is fixed for the whole COPY and chosen so that most of a row is one
    run of fixed-width fields: fixed-width types that cannot be NULL, then those
    that can, then text, then the rest. Within each batch every run of fields
    that are fixed-width there (no NULL, text all of one length, as the numbers
    always are) is written as one record array.
    """

    def __init__(self, columns: list[TargetColumn]):
        for column in columns:
            supported = column.base in _FIXED_WIDTHS or column.base in {
                "text",
                "jsonb",
            }
            # Decimal text is cut to four decimals, exact only when the column
            # rounds to three or fewer (see _numeric_fields).
            if column.base == "numeric" and column.numeric_scale is not None:
                supported = column.numeric_scale <= 3
            if not supported:
                raise UnsupportedColumn(f"{column.name} {column.sql_type}")

        def rank(column: TargetColumn) -> int:
            if column.base in _FIXED_WIDTHS:
                return 0 if column.not_null else 1
            return 2 if column.base == "text" else 3

        self.columns = sorted(columns, key=rank)  # sorted() keeps ties in order

    @property
    def column_names(self) -> list[str]:
        return [column.name for column in self.columns]

    def encode(self, batch: pa.Table) -> pa.Buffer:
        """The rows of `batch` (a column per plan column, by name) as COPY rows."""
        length = batch.num_rows
        pieces: list[pa.Array] = []
        run: list[tuple[np.ndarray, str]] = []
        for column in self.columns:
            values = _as_array(batch[column.name])
            fixed = _fixed(column, values)
            if fixed is not None:
                run.append(fixed)
                continue
            if run or not pieces:
                pieces.append(
                    _record(run, length, first=not pieces, count=len(self.columns))
                )
                run = []
            pieces += _variable_fields(column, values)
        if run or not pieces:
            pieces.append(
                _record(run, length, first=not pieces, count=len(self.columns))
            )
        if len(pieces) == 1:
            return pieces[0].buffers()[2]
        rows = pc.binary_join_element_wise(*pieces, b"")
        offsets = np.frombuffer(rows.buffers()[1], np.int32)
        return rows.buffers()[2][offsets[rows.offset] : offsets[rows.offset + length]]


def _as_array(values) -> pa.Array:
    return values.combine_chunks() if isinstance(values, pa.ChunkedArray) else values


def _fixed(column: TargetColumn, values: pa.Array) -> tuple[np.ndarray, str] | None:
    """The column's values as NumPy values and their field dtype, if fixed-width here."""
    if values.null_count:
        return None
    base = column.base
    if base in _INT_WIDTHS:
        width = _INT_WIDTHS[base]
        if pa.types.is_string(values.type):
            # Digits checked as text (MSISDNs) into a number column.
            try:
                values = pc.cast(values, pa.int64())
            except pa.ArrowInvalid as error:
                raise UnsupportedColumn(f"{column.name}: {error}") from error
        numbers = values.to_numpy()
        dtype = f">i{width}"
        if width < 8 and len(numbers):
            info = np.iinfo(dtype)
            if numbers.min() < info.min or numbers.max() > info.max:
                raise UnsupportedColumn(f"{column.name}: a value is out of range")
        return numbers, dtype
    if base == "date":
        return pc.cast(values, pa.int32()).to_numpy() - _PG_EPOCH_DAYS, ">i4"
    if base == "boolean":
        return values.to_numpy(zero_copy_only=False), "u1"
    if base == "text" and len(values):
        low, high = pc.min_max(pc.binary_length(values)).values()
        if low == high and low.as_py() > 0:
            width = low.as_py()
            offsets = np.frombuffer(values.buffers()[1], np.int32)[
                values.offset : values.offset + len(values) + 1
            ]
            data = np.frombuffer(values.buffers()[2], np.uint8)
            data = data[offsets[0] : offsets[-1]].reshape(len(values), width)
            return data.view(np.dtype(f"V{width}")).ravel(), f"V{width}"
    return None


def _record(run, length: int, *, first: bool, count: int) -> pa.Array:
    """One binary value per row: the fields of `run`, each with its length word,
    after the row's field count when the run starts the row."""
    fields = [("count", ">i2")] if first else []
    for index, (_values, dtype) in enumerate(run):
        fields += [(f"l{index}", ">i4"), (f"v{index}", dtype)]
    record = np.empty(length, dtype=np.dtype(fields))
    if first:
        record["count"] = count
    for index, (values, dtype) in enumerate(run):
        record[f"l{index}"] = np.dtype(dtype).itemsize
        record[f"v{index}"] = values
    return _binary_of_width(record.view(np.uint8), record.itemsize, length)


def _binary_of_width(data: np.ndarray, width: int, length: int) -> pa.Array:
    """A binary Arrow array over `data`, `width` bytes a value, without copying."""
    offsets = np.arange(0, (length + 1) * width, width, dtype=np.int32)
    return pa.Array.from_buffers(
        pa.binary(), length, [None, pa.py_buffer(offsets), pa.py_buffer(data)]
    )


def _length_words(lengths: np.ndarray, nulls: np.ndarray | None) -> pa.Array:
    if nulls is not None:
        lengths = np.where(nulls, -1, lengths)
    words = np.ascontiguousarray(lengths, dtype=">i4")
    return _binary_of_width(words, 4, len(words))


def _variable_fields(column: TargetColumn, values: pa.Array) -> list[pa.Array]:
    """Length words and bytes of a column that is not fixed-width in this batch."""
    nulls = (
        pc.is_null(values).to_numpy(zero_copy_only=False) if values.null_count else None
    )
    base = column.base
    if base == "numeric":
        fields = _numeric_fields(values)
        return (
            [pc.if_else(pc.is_null(values), _NULL, fields)]
            if nulls is not None
            else [fields]
        )
    if base in _FIXED_WIDTHS:
        # NULLs in a fixed-width column: the value bytes where there is one.
        filled = pc.fill_null(values, False if base == "boolean" else 0)
        numbers, dtype = _fixed(column, filled)
        width = np.dtype(dtype).itemsize
        data = np.ascontiguousarray(numbers, dtype=dtype).view(np.uint8)
        data = pc.if_else(
            pc.is_null(values), b"", _binary_of_width(data, width, len(values))
        )
        return [_length_words(np.full(len(values), width), nulls), data]
    data = pc.cast(values, pa.binary())
    if nulls is not None:
        data = pc.fill_null(data, b"")
    lengths = pc.binary_length(data).to_numpy()
    if base == "jsonb":
        data = pc.binary_join_element_wise(b"\x01", data, b"")  # jsonb's version byte
        lengths = lengths + 1
    return [_length_words(lengths, nulls), data]


def _numeric_fields(values: pa.Array) -> pa.Array:
    """Checked decimal text ("0.008", "1", ".5") as numeric fields (NULL as 0).

    A numeric is sent as base-10000 digits. The integer part (below 10000) is one
    digit and the first four decimals another; later decimals are dropped, which
    is exact for a column of scale 3 or less: PostgreSQL rounds half up on the
    decimal after the scale, and the fourth is the last it looks at.
    """
    text = pc.fill_null(values, "0")
    # "1" -> "1.": every value then splits into a whole part and decimals.
    text = pc.if_else(
        pc.match_substring(text, "."), text, pc.binary_join_element_wise(text, ".", "")
    )
    parts = pc.split_pattern(text, ".", max_splits=1)
    whole_text = pc.list_element(parts, 0)
    whole = pc.cast(pc.if_else(pc.equal(whole_text, ""), "0", whole_text), pa.int64())
    whole = whole.to_numpy()
    decimals = pc.list_element(parts, 1)
    four = pc.utf8_slice_codeunits(pc.utf8_rpad(decimals, 4, "0"), 0, 4)
    fraction = pc.cast(four, pa.int64()).to_numpy()
    if len(whole) and whole.max() >= 10_000:
        raise UnsupportedColumn("numeric value too large")
    # Two digits (whole, fraction), weight 0, scale 4: numeric_recv takes the
    # digits as given and the column's type rounds them to its own scale.
    record = np.zeros(
        len(whole),
        dtype=np.dtype(
            [
                ("length", ">i4"),
                ("ndigits", ">i2"),
                ("weight", ">i2"),
                ("sign", ">u2"),
                ("dscale", ">i2"),
                ("whole", ">i2"),
                ("fraction", ">i2"),
            ]
        ),
    )
    record["length"] = 12
    record["ndigits"] = 2
    record["dscale"] = 4
    record["whole"] = whole
    record["fraction"] = fraction
    return _binary_of_width(record.view(np.uint8), record.itemsize, len(whole))


class BatchQueueWriter(LibpqWriter):
    """Sends COPY data from a thread of its own, at most `depth` batches waiting.

    The encoding of the next batch goes on while this one travels to PostgreSQL.
    psycopg's QueuedLibpqWriter does the same but queues up to 1.024 pieces of
    128 kB: when PostgreSQL falls behind, that is 128 MB held on top of the
    batches in hand. Here the wait is counted in whole batches.
    """

    def __init__(self, cursor, *, depth: int = 2):
        super().__init__(cursor)
        self._batches: Queue = Queue(maxsize=depth)
        self._thread: threading.Thread | None = None
        self._error: BaseException | None = None

    def _send(self) -> None:
        try:
            while (data := self._batches.get()) is not None:
                super().write(data)
        except BaseException as exc:  # handed to the writing thread
            self._error = exc
            while self._batches.get() is not None:  # free write() if it waits
                pass

    def write(self, data) -> None:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._send, name="copy-writer", daemon=True
            )
            self._thread.start()
        if self._error is not None:
            raise self._error
        self._batches.put(data)

    def finish(self, exc: BaseException | None = None) -> None:
        if self._thread is not None:
            self._batches.put(None)
            self._thread.join()
            self._thread = None
        if self._error is not None:
            raise self._error
        super().finish(exc)
