"""Row checks of an imported file, vectorised with Arrow compute kernels.

Each batch of rows (every cell a string) becomes typed columns plus, for the few rows
that have any, a list of problems. The kernels run in native code over whole columns,
so checking costs a fraction of what the database then spends writing the good rows:
the import writes each row once, as a raw COPY does, instead of staging it and
rewriting it.

Problems are coded `column:code[:argument];` and turned into sentences in the reader's
language by importers.describe_problems.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyarrow import csv as pa_csv

from eligibility.importers import KEY_COLUMNS, Column, columns_for
from eligibility.spreadsheets import TableFile

TRUTHY = ["1", "true", "yes", "y", "x", "có", "co"]
FALSY = ["0", "false", "no", "n", "không", "khong"]
MOBILE = r"[35789][0-9]{8}"

# Arrow types of our columns as they go to the database.
ARROW_TYPES = {
    "msisdn": pa.string(),
    "text": pa.string(),
    "choice": pa.string(),
    "date": pa.date32(),
    "cycle": pa.date32(),
    "money": pa.int64(),
    "int": pa.int64(),
    "flag": pa.bool_(),
    "decimal": pa.string(),  # checked here, stored as the database's numeric
}


def _matches(values: pa.Array, pattern: str) -> pa.Array:
    return pc.fill_null(pc.match_substring_regex(values, pattern), False)


def _int_or_null(values: pa.Array) -> pa.Array:
    return pc.cast(values, pa.int64())


def _fast_then_slow(s: pa.Array, fast: pa.Array, slow) -> pa.Array:
    """`fast` holds the values of the common spelling; `slow` reads the other rows.

    Most files use one spelling throughout, so the costly kernels (regexes) run only
    on the few rows the cheap ones could not read.
    """
    needs_slow = pc.and_(pc.is_valid(s), pc.is_null(fast))
    if not pc.any(needs_slow).as_py():
        return fast
    return pc.replace_with_mask(fast, needs_slow, slow(pc.filter(s, needs_slow)))


def _string_edges(s: pa.Array) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Start and end offsets of each string, and the data bytes; None if not plain."""
    if s.type != pa.string():
        return None
    _validity, offsets, data = s.buffers()
    bounds = np.frombuffer(offsets, np.int32)[s.offset : s.offset + len(s) + 1]
    return bounds[:-1], bounds[1:], np.frombuffer(data or b"", np.uint8)


def _cell_values(s: pa.Array) -> pa.Array:
    """A column's cells trimmed, with empty cells as null.

    Trimming copies every string, yet in most columns no cell begins or ends with
    anything but a printable ASCII character, which proves there is nothing to trim:
    two gathers of one byte per cell find that in a tenth of the time. Cells that
    begin or end with a space, a control or any non-ASCII byte (which may be Unicode
    whitespace) send the whole column through the trim.
    """
    edges = _string_edges(s)
    if edges is None:
        s = pc.utf8_trim_whitespace(s)
    else:
        starts, ends, data = edges
        filled = ends > starts
        first, last = data[starts[filled]], data[ends[filled] - 1]
        plain = (first > 0x20) & (first < 0x7F) & (last > 0x20) & (last < 0x7F)
        if not plain.all():
            s = pc.utf8_trim_whitespace(s)
        elif filled.all() and not s.null_count:
            return s  # nothing to trim, no empty cell
    return pc.if_else(pc.equal(s, ""), None, s)


_MOBILE_PREFIXES = pa.array(list("35789"))


def _msisdn(s: pa.Array) -> pa.Array:
    """84 + 9 digits from 0xxxxxxxxx or 84xxxxxxxxx in a few passes, others below."""
    length = pc.binary_length(s)
    national = pc.and_(pc.equal(length, 10), pc.starts_with(s, "0"))
    as_international = pc.binary_replace_slice(s, 0, 1, "84")
    if pc.all(national).as_py():  # one spelling throughout, as exports have it
        candidate = as_international
    else:
        international = pc.and_(pc.equal(length, 11), pc.starts_with(s, "84"))
        candidate = pc.if_else(
            national, as_international, pc.if_else(international, s, None)
        )
    mobile = pc.and_(
        pc.ascii_is_decimal(candidate),
        pc.is_in(pc.utf8_slice_codeunits(candidate, 2, 3), _MOBILE_PREFIXES),
    )
    fast = pc.if_else(mobile, candidate, None)
    return _fast_then_slow(s, fast, _msisdn_any_spelling)


def _msisdn_any_spelling(s: pa.Array) -> pa.Array:
    """84 + 9 digits from the usual spellings, or null."""
    scientific = _matches(s, r"^[1-9]\.[0-9]{8}[eE]\+?0*8$")
    float_zero = _matches(s, r"^[0-9]{9,11}\.0+$")
    separated = _matches(s, r"^[0-9 +().-]+$")
    cleaned = pc.case_when(
        pc.make_struct(scientific, float_zero, separated),
        pc.binary_join_element_wise(
            pc.utf8_slice_codeunits(s, 0, 1), pc.utf8_slice_codeunits(s, 2, 10), ""
        ),
        pc.replace_substring_regex(s, r"\.0+$", ""),
        pc.replace_substring_regex(s, r"[^0-9]", ""),
    )
    international = _matches(cleaned, rf"^84{MOBILE}$")
    national = _matches(cleaned, rf"^0{MOBILE}$")
    bare = _matches(cleaned, rf"^{MOBILE}$")
    return pc.case_when(
        pc.make_struct(international, national, bare),
        cleaned,
        pc.binary_join_element_wise("84", pc.utf8_slice_codeunits(cleaned, 1), ""),
        pc.binary_join_element_wise("84", cleaned, ""),
    )


def _days_in_month(y: pa.Array, m: pa.Array) -> pa.Array:
    leap = pc.and_(
        pc.equal(pc.bit_wise_and(y, 3), 0),
        pc.or_(
            pc.not_equal(pc.subtract(y, pc.multiply(pc.divide(y, 100), 100)), 0),
            pc.equal(pc.subtract(y, pc.multiply(pc.divide(y, 400), 400)), 0),
        ),
    )
    return pc.case_when(
        pc.make_struct(pc.equal(m, 2), pc.is_in(m, pa.array([4, 6, 9, 11]))),
        pc.if_else(leap, 29, 28),
        30,
        31,
    )


def _ymd_to_date(y: pa.Array, m: pa.Array, d: pa.Array) -> pa.Array:
    iso = pc.binary_join_element_wise(
        pc.cast(y, pa.string()),
        pc.utf8_lpad(pc.cast(m, pa.string()), 2, "0"),
        pc.utf8_lpad(pc.cast(d, pa.string()), 2, "0"),
        "-",
    )
    parsed = pc.strptime(iso, format="%Y-%m-%d", unit="s", error_is_null=True)
    return pc.cast(parsed, pa.date32())


def _parts(s: pa.Array, pattern: str, names: list[str]) -> dict[str, pa.Array]:
    found = pc.extract_regex(s, pattern)
    return {name: _int_or_null(pc.struct_field(found, name)) for name in names}


def _date(s: pa.Array) -> pa.Array:
    """A date written YYYY-MM-DD or DD/MM/YYYY (a time after it is ignored), or null."""
    # Arrow's own cast reads strict ISO dates, day of month checked, at about 10 ns
    # a value (strptime and the print back that catches its roll-overs cost 70x
    # more). DD/MM/YYYY, common in the operator's exports, is reordered first. One
    # other spelling or impossible date fails the cast for the whole batch, which
    # then takes the slower way below.
    iso = s
    if pc.any(pc.match_substring(s, "/")).as_py():
        iso = pc.replace_substring_regex(
            s, r"^([0-9]{2})/([0-9]{2})/([0-9]{4})$", r"\3-\2-\1"
        )
    try:
        parsed = pc.cast(iso, pa.date32())
    except pa.ArrowInvalid:
        return _date_spelled_otherwise(s)
    in_range = pc.and_(
        pc.greater_equal(pc.year(parsed), 1900), pc.less_equal(pc.year(parsed), 2100)
    )
    fast = pc.if_else(pc.fill_null(in_range, False), parsed, None)
    return _fast_then_slow(s, fast, _date_any_spelling)


def _date_spelled_otherwise(s: pa.Array) -> pa.Array:
    parsed = pc.strptime(s, format="%Y-%m-%d", unit="s", error_is_null=True)
    # strptime rolls 31/02 over into March: only a date that prints back as it was
    # written is taken on the fast path.
    exact = pc.equal(pc.strftime(parsed, format="%Y-%m-%d"), s)
    in_range = pc.and_(
        pc.greater_equal(pc.year(parsed), 1900), pc.less_equal(pc.year(parsed), 2100)
    )
    fast = pc.if_else(
        pc.fill_null(pc.and_(exact, in_range), False),
        pc.cast(parsed, pa.date32()),
        None,
    )
    return _fast_then_slow(s, fast, _date_any_spelling)


def _date_any_spelling(s: pa.Array) -> pa.Array:
    text = pc.replace_substring_regex(s, r" .*$", "")
    iso = _parts(
        text, r"^(?P<y>[0-9]{4})-(?P<m>[0-9]{1,2})-(?P<d>[0-9]{1,2})$", ["y", "m", "d"]
    )
    dmy = _parts(
        text, r"^(?P<d>[0-9]{1,2})/(?P<m>[0-9]{1,2})/(?P<y>[0-9]{4})$", ["y", "m", "d"]
    )
    y = pc.coalesce(iso["y"], dmy["y"])
    m = pc.coalesce(iso["m"], dmy["m"])
    d = pc.coalesce(iso["d"], dmy["d"])
    valid = pc.and_(
        pc.and_(pc.greater_equal(y, 1900), pc.less_equal(y, 2100)),
        pc.and_(
            pc.and_(pc.greater_equal(m, 1), pc.less_equal(m, 12)),
            pc.and_(pc.greater_equal(d, 1), pc.less_equal(d, _days_in_month(y, m))),
        ),
    )
    return pc.if_else(pc.fill_null(valid, False), _ymd_to_date(y, m, d), None)


def _cycle(s: pa.Array) -> pa.Array:
    """A billing cycle (first day of its month) from YYYY-MM[-DD], MM/YYYY or YYYYMM."""
    parsed = pc.strptime(s, format="%Y-%m", unit="s", error_is_null=True)
    in_range = pc.and_(
        pc.greater_equal(pc.year(parsed), 1990), pc.less_equal(pc.year(parsed), 2100)
    )
    fast = pc.if_else(pc.fill_null(in_range, False), pc.cast(parsed, pa.date32()), None)
    return _fast_then_slow(s, fast, _cycle_any_spelling)


def _cycle_any_spelling(s: pa.Array) -> pa.Array:
    text = pc.replace_substring_regex(s, r" .*$", "")
    forms = [
        _parts(
            text, r"^(?P<y>[0-9]{4})-(?P<m>[0-9]{1,2})(?P<d>-[0-9]{1,2})?$", ["y", "m"]
        ),
        _parts(text, r"^(?P<m>[0-9]{1,2})/(?P<y>[0-9]{4})$", ["y", "m"]),
        _parts(text, r"^(?P<y>[0-9]{4})(?P<m>[0-9]{2})$", ["y", "m"]),
    ]
    y = pc.coalesce(*(form["y"] for form in forms))
    m = pc.coalesce(*(form["m"] for form in forms))
    valid = pc.and_(
        pc.and_(pc.greater_equal(y, 1990), pc.less_equal(y, 2100)),
        pc.and_(pc.greater_equal(m, 1), pc.less_equal(m, 12)),
    )
    one = pa.repeat(pa.scalar(1, pa.int64()), len(s))
    return pc.if_else(pc.fill_null(valid, False), _ymd_to_date(y, m, one), None)


def _integer(s: pa.Array) -> pa.Array:
    # A batch of plain digits (the usual export) is cast in one pass; Arrow's cast
    # alone would also read "0x10" and "+5", which are not numbers to us.
    if (
        len(s) > s.null_count
        and pc.max(pc.binary_length(s)).as_py() <= 15
        and pc.all(pc.ascii_is_decimal(s)).as_py()
    ):
        return pc.cast(s, pa.int64())
    plain = pc.and_(pc.utf8_is_digit(s), pc.less_equal(pc.utf8_length(s), 15))
    fast = _int_or_null(pc.if_else(plain, s, None))
    return _fast_then_slow(s, fast, _integer_any_spelling)


def _integer_any_spelling(s: pa.Array) -> pa.Array:
    whole = _matches(s, r"^-?[0-9]{1,15}(\.0+)?$")
    digits = pc.replace_substring_regex(s, r"\.0+$", "")
    return _int_or_null(pc.if_else(whole, digits, None))


def _choice(s: pa.Array, column: Column) -> pa.Array:
    stored = sorted(set(column.choices.values()))
    exact = pc.index_in(s, value_set=pa.array(stored))
    if exact.null_count == s.null_count:  # every value spelled as we store it
        return pc.take(pa.array(stored), exact)
    spellings = list(column.choices)
    spelled = pc.index_in(pc.utf8_lower(s), value_set=pa.array(spellings))
    stored_for_spelling = pa.array([column.choices[x] for x in spellings])
    return pc.coalesce(
        pc.take(pa.array(stored), exact), pc.take(stored_for_spelling, spelled)
    )


def _flag(s: pa.Array) -> pa.Array:
    plain = pc.index_in(s, value_set=pa.array(["0", "1"]))
    if plain.null_count == s.null_count:  # only 0 and 1, as exports write them
        return pc.cast(plain, pa.bool_())
    lowered = pc.utf8_lower(s)
    return pc.case_when(
        pc.make_struct(
            pc.is_in(lowered, pa.array(TRUTHY)), pc.is_in(lowered, pa.array(FALSY))
        ),
        True,
        False,
    )


def _decimal(s: pa.Array) -> pa.Array:
    text = pc.replace_substring(s, ",", ".")
    well_formed = _matches(text, r"^[0-9]*\.?[0-9]+$")
    number = pc.cast(pc.if_else(well_formed, text, None), pa.float64())
    return pc.if_else(pc.fill_null(pc.less_equal(number, 1), False), text, None)


def typed_value(column: Column, s: pa.Array) -> pa.Array:
    """The column's typed values; null where the text is empty or wrong."""
    kind = column.kind
    if kind == "msisdn":
        return _msisdn(s)
    if kind == "text":
        return pc.if_else(
            pc.fill_null(pc.less_equal(pc.utf8_length(s), column.max_length), False),
            s,
            None,
        )
    if kind == "choice":
        return _choice(s, column)
    if kind in _READ_ONCE_PER_VALUE:
        # A batch repeats these values (6 billing cycles in 65.000 rows, a few
        # thousand contract dates): each distinct one is read once, and taken back
        # to its rows. Reading a cycle costs 3,6x the hashing; a whole number less.
        encoded = pc.dictionary_encode(s)
        values = _READ_ONCE_PER_VALUE[kind](encoded.dictionary)
        return pc.take(values, encoded.indices)
    if kind in {"money", "int"}:
        return _integer(s)
    if kind == "flag":
        return _flag(s)
    raise ValueError(kind)  # pragma: no cover - a programming error, not input


_READ_ONCE_PER_VALUE = {"date": _date, "cycle": _cycle, "decimal": _decimal}

PROBLEM_CODES = {
    "msisdn": "invalid_msisdn",
    "text": "too_long",
    "choice": "unknown_value",
    "date": "bad_date",
    "cycle": "bad_cycle",
    "money": "not_integer",
    "int": "not_integer",
    "flag": "bad_flag",
    "decimal": "bad_decimal",
}


def _default_scalar(column: Column) -> pa.Scalar:
    return pa.scalar(column.default, ARROW_TYPES[column.kind])


def _default(column: Column, length: int) -> pa.Array:
    return pa.repeat(_default_scalar(column), length)


def _json_escape(s: pa.Array) -> pa.Array:
    for raw, escaped in [
        ("\\", "\\\\"),
        ('"', '\\"'),
        ("\n", "\\n"),
        ("\r", "\\r"),
        ("\t", "\\t"),
    ]:
        s = pc.replace_substring(s, raw, escaped)
    return s


def _json_object(pairs: list[tuple[str, pa.Array]], length: int) -> pa.Array:
    """A JSON object per row of the non-empty cells of `pairs`, built column-wise."""
    if not pairs:
        return pa.array(["{}"] * length, pa.string())
    members = []
    for key, values in pairs:
        escaped_key = key.replace("\\", "\\\\").replace('"', '\\"')
        member = pc.binary_join_element_wise(
            f'"{escaped_key}":"', _json_escape(values), '"', ""
        )
        members.append(pc.fill_null(member, ""))
    joined = pc.binary_join_element_wise(*members, ",")
    joined = pc.utf8_trim(pc.replace_substring_regex(joined, ",{2,}", ","), ",")
    return pc.binary_join_element_wise("{", joined, "}", "")


@dataclass
class CheckedBatch:
    good: pa.Table  # typed values of the rows without problems, in target columns
    rejected: list[tuple[int, str, list]]  # (row number, problems, cells)
    keys: pa.Table | None  # row_no and key columns of rows whose key is valid
    rows: int  # non-blank rows in the batch


class BatchChecker:
    """Checks the batches of one file against our columns."""

    def __init__(
        self,
        *,
        kind: str,
        headers: list[str],
        column_map: dict[str, int],
        extra_name: str | None,
        collect_keys: bool = True,
        omit_empty_extra: bool = False,
    ):
        self.kind = kind
        self.headers = headers
        self.column_map = column_map
        self.columns = columns_for(kind)
        self.extra_name = extra_name
        # Off when the database finds repeated keys itself: no key table per batch.
        self.collect_keys = collect_keys
        mapped = set(column_map.values())
        self.extra_headers = [
            (i, header)
            for i, header in enumerate(headers)
            if i not in mapped and header
        ]
        # A file with no column beyond ours gives every row an empty extra object; a
        # sink whose table supplies that default is spared a column of "{}".
        self.omits_extra = bool(
            extra_name and omit_empty_extra and not self.extra_headers
        )

    def target_columns(self) -> list[str]:
        names = [c.name for c in self.columns]
        return names + ([self.extra_name] if self.extra_name else [])

    def check(self, batch: pa.RecordBatch, first_row_no: int) -> CheckedBatch:
        cells = [_cell_values(batch.column(i)) for i in range(batch.num_columns)]
        length = batch.num_rows
        row_no = pa.array(
            np.arange(first_row_no, first_row_no + length, dtype=np.int64)
        )
        # A row whose every cell is empty is a spreadsheet's padding, not data.
        blank = pa.repeat(pa.scalar(True), length)
        for cell in cells:
            blank = pc.and_(blank, pc.is_null(cell))
        not_blank = pc.invert(blank)
        if not pc.all(not_blank).as_py():
            cells = [pc.filter(c, not_blank) for c in cells]
            row_no = pc.filter(row_no, not_blank)
            raw = batch.filter(not_blank)
        else:
            raw = batch
        length = len(row_no)

        values: dict[str, pa.Array] = {}
        problem_masks: list[tuple[str, pa.Array]] = []
        for column in self.columns:
            index = self.column_map.get(column.name)
            if index is None:
                values[column.name] = _default(column, length)
                continue
            source = cells[index]
            value = typed_value(column, source)
            empty = pc.is_null(source)
            if column.not_empty:
                problem_masks.append((f"{column.name}:missing;", empty))
            wrong = pc.and_(pc.invert(empty), pc.is_null(value))
            problem_masks.append(
                (f"{column.name}:{PROBLEM_CODES[column.kind]};", wrong)
            )
            if column.kind == "money":
                problem_masks.append(
                    (f"{column.name}:negative;", pc.fill_null(pc.less(value, 0), False))
                )
            if column.kind == "int" and (
                column.min_value is not None or column.max_value is not None
            ):
                low = column.min_value if column.min_value is not None else -(2**62)
                high = column.max_value if column.max_value is not None else 2**62
                outside = pc.or_(pc.less(value, low), pc.greater(value, high))
                problem_masks.append(
                    (f"{column.name}:out_of_range;", pc.fill_null(outside, False))
                )
            values[column.name] = (
                pc.fill_null(value, _default_scalar(column))
                if column.default is not None
                else value
            )

        any_problem = pa.repeat(pa.scalar(False), length)
        for _code, mask in problem_masks:
            any_problem = pc.or_(any_problem, mask)
        bad = any_problem

        rejected = []
        if pc.any(bad).as_py():
            bad_indices = pc.indices_nonzero(bad).to_pylist()
            problems = {i: [] for i in bad_indices}
            for code, mask in problem_masks:
                for i in pc.indices_nonzero(mask).to_pylist():
                    problems[i].append(code)
            rows = row_no.to_pylist()
            raw_rows = raw.take(pa.array(bad_indices)).to_pylist()
            for i, cells_of_row in zip(bad_indices, raw_rows, strict=True):
                rejected.append(
                    (rows[i], "".join(problems[i]), list(cells_of_row.values()))
                )

        good_columns = {name: values[name] for name in (c.name for c in self.columns)}
        if self.extra_name and not self.omits_extra:
            pairs = [(header, cells[i]) for i, header in self.extra_headers]
            good_columns[self.extra_name] = _json_object(pairs, length)
        good_columns["row_no"] = row_no
        good = pa.table(good_columns)
        if rejected:  # filtering copies every column, even when it keeps every row
            good = good.filter(pc.invert(bad))

        if not self.collect_keys:
            return CheckedBatch(good=good, rejected=rejected, keys=None, rows=length)
        key_names = KEY_COLUMNS[self.kind]
        key_valid = pa.repeat(pa.scalar(True), length)
        for name in key_names:
            key_valid = pc.and_(key_valid, pc.is_valid(values[name]))
        # Numbers as integers: the keys of every row are held until the file is read.
        key_values = {
            name: pc.cast(values[name], pa.int64())
            if name == "msisdn"
            else values[name]
            for name in key_names
        }
        keys = pa.table({"row_no": row_no, **key_values}).filter(key_valid)
        return CheckedBatch(good=good, rejected=rejected, keys=keys, rows=length)


def find_duplicates(key_tables: list[pa.Table], key_names: list[str]) -> dict[int, int]:
    """Rows whose key an earlier row already had -> that earlier row's number."""
    if not key_tables:
        return {}
    keys = pa.concat_tables(key_tables)
    grouped = keys.group_by(key_names).aggregate(
        [("row_no", "min"), ("row_no", "count")]
    )
    repeated = grouped.filter(pc.greater(grouped["row_no_count"], 1))
    if repeated.num_rows == 0:
        return {}
    joined = keys.join(repeated, keys=key_names)
    later = joined.filter(pc.greater(joined["row_no"], joined["row_no_min"]))
    return dict(
        zip(later["row_no"].to_pylist(), later["row_no_min"].to_pylist(), strict=True)
    )


class _ChunkStream(io.RawIOBase):
    """A readable stream over an iterator of byte chunks, counting what was read."""

    def __init__(self, chunks: Iterator[bytes]):
        self.chunks = chunks
        self.pending = b""
        self.consumed = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while not self.pending:
            try:
                self.pending = next(self.chunks)
            except StopIteration:
                return 0
        size = min(len(buffer), len(self.pending))
        buffer[:size] = self.pending[:size]
        self.pending = self.pending[size:]
        self.consumed += size
        return size


ROWS_PER_BATCH = 50_000


class _NeedsCarefulReading(Exception):
    """A CSV file holds something only the careful reading handles."""


def _csv_batches(
    table: TableFile,
    names: list[str],
    stream: _ChunkStream | None,
    progress: Callable[[int, int], None] | None,
) -> Iterator[pa.RecordBatch]:
    """Arrow's reader over the file itself (stream None) or over the careful stream."""
    size = table.path.stat().st_size
    if stream is None:
        source = pa.OSFile(str(table.path))
    else:
        source = io.BufferedReader(stream, buffer_size=1 << 20)

    def position() -> int:
        return source.tell() if stream is None else stream.consumed

    # Blocks of 1 MB read as fast as bigger ones and keep the reader's memory near
    # 100 MB whatever the file's size (8 MB blocks: over 500 MB).
    reader = pa_csv.open_csv(
        source,
        read_options=pa_csv.ReadOptions(
            column_names=names, skip_rows=1, block_size=1 << 20
        ),
        parse_options=pa_csv.ParseOptions(
            delimiter=table.delimiter,
            newlines_in_values=True,
            # An empty line stays a row (of empty cells), so the rows after it
            # keep their numbers; a line of spaces fails the read.
            ignore_empty_lines=False,
        ),
        convert_options=pa_csv.ConvertOptions(
            column_types=dict.fromkeys(names, pa.string()),
            strings_can_be_null=False,
            quoted_strings_can_be_null=False,
        ),
    )
    # The reader's batches hold one block each (about 5.000 subscriber rows); the
    # checks cost a fixed overhead per batch and column, a quarter of their time at
    # that size, so they run on batches joined up to ROWS_PER_BATCH.
    pending: list[pa.RecordBatch] = []
    rows = 0
    with source:
        for batch in reader:
            if stream is None and _holds_nul(batch):
                raise _NeedsCarefulReading
            pending.append(batch)
            rows += batch.num_rows
            if rows >= ROWS_PER_BATCH:
                if progress:
                    progress(position(), size)
                yield pa.concat_batches(pending)
                pending, rows = [], 0
        if pending:
            if progress:
                progress(position(), size)
            yield pa.concat_batches(pending)


def _holds_nul(batch: pa.RecordBatch) -> bool:
    """Whether any cell holds a NUL byte, which PostgreSQL cannot store in text."""
    for column in batch.columns:
        data = column.buffers()[2]
        if data is not None and data.size and not np.frombuffer(data, np.uint8).all():
            return True
    return False


def _skip_rows(batches: Iterator[pa.RecordBatch], count: int) -> Iterator:
    """The batches without their first `count` rows."""
    for batch in batches:
        if count >= batch.num_rows:
            count -= batch.num_rows
            continue
        yield batch.slice(count) if count else batch
        count = 0


def read_batches(
    table: TableFile, progress: Callable[[int, int], None] | None = None
) -> Iterator[pa.RecordBatch]:
    """The file's data rows as batches of string columns c0, c1, ... in file order.

    A CSV file is first read by Arrow straight from disk. An empty line comes as a
    row of empty cells, as the careful way gives it; Arrow stops at what it cannot
    read as we would (a line of spaces, bytes that are not UTF-8, a line longer than
    a block), and a NUL byte is looked for in each batch. On any of them the file is
    read again the careful way, TableFile.iter_csv_bytes, which turns blank lines
    into empty rows and names the line of a bad byte, and the rows already handed on
    are skipped. Clean files, nearly all of them, are spared pushing every byte
    through Python: 0,8 of 1,9 CPU-seconds for 5,5 M billing rows.
    """
    names = [f"c{i}" for i in range(len(table.headers))]
    if table.format == "csv":
        handed_on = 0
        if table.newline == b"\n":
            try:
                for batch in _csv_batches(table, names, None, progress):
                    yield batch
                    handed_on += batch.num_rows
                return
            except (pa.ArrowInvalid, _NeedsCarefulReading):
                pass
        stream = _ChunkStream(table.iter_csv_bytes())
        batches = _csv_batches(table, names, stream, progress)
        yield from _skip_rows(batches, handed_on)
        return
    done = 0
    for batch in table.iter_xlsx_batches():
        done += batch.num_rows
        if progress:
            progress(done, 0)
        yield batch
