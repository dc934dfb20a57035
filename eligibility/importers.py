"""Loading subscriber, billing and list files: our columns, staging, set-based checks.

A file goes through three steps, each one SQL statement over every row:

1. stage: every cell lands as text in an unlogged table, `row_no` numbering the rows in
   file order (PostgreSQL COPY; plain inserts on the embedded SQLite);
2. check: one scan writes each row that has a problem, with its problems and cells,
   to ImportRejection;
3. commit: in one transaction, the target's previous rows are replaced by the typed
   values of the rows without problems.

The SQL is written in PostgreSQL's dialect; `Dialect` covers the few spots where SQLite
differs, and eligibility.sqlfunctions gives SQLite the functions it lacks.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import connection
from django.utils.translation import gettext as _

from eligibility.models import ImportKind


def header_key(text: str) -> str:
    """A header as compared for mapping: lower case, no diacritics, single spaces."""
    text = text.replace("đ", "d").replace("Đ", "D")
    decomposed = unicodedata.normalize("NFKD", text)
    bare = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(bare.lower().replace("_", " ").split())


@dataclass(frozen=True)
class Column:
    """One of our columns: how a file's text becomes a typed value, and what is refused."""

    name: str
    kind: str  # msisdn, text, choice, date, money, int, flag, decimal, cycle
    required: bool = False  # the file must have the column
    not_empty: bool = False  # every row must have a value
    choices: dict[str, str] = field(default_factory=dict)  # spelling -> stored value
    max_length: int = 0
    min_value: int | None = None
    max_value: int | None = None
    aliases: tuple[str, ...] = ()  # header spellings seen in the operator's exports
    default: str = "NULL"  # SQL literal when the file lacks the column

    @property
    def label(self) -> str:
        return self.name


def _choices(*pairs: tuple[str, tuple[str, ...]]) -> dict[str, str]:
    spelled = {}
    for stored, spellings in pairs:
        spelled[stored.lower()] = stored
        for spelling in spellings:
            spelled[spelling.lower()] = stored
    return spelled


PAYMENT_CHOICES = _choices(
    ("cash", ("tiền mặt", "tien mat")),
    ("bank_online", ()),
    ("bank_auto_debit", ()),
    ("bank_collection", ()),
    ("bank_transfer", ()),
    ("prepaid_balance", ()),
)

SUBSCRIBER_COLUMNS = [
    Column(
        "msisdn",
        "msisdn",
        required=True,
        not_empty=True,
        aliases=("so thue bao", "thue bao", "so dien thoai", "isdn", "sdt", "so tb"),
    ),
    Column(
        "full_name",
        "text",
        max_length=200,
        aliases=("ho ten", "ho va ten", "ten khach hang", "ten kh", "ten thue bao"),
        default="''",
    ),
    Column(
        "subscription_type",
        "choice",
        required=True,
        not_empty=True,
        choices=_choices(
            ("prepaid", ("trả trước", "tra truoc", "tt")),
            ("postpaid", ("trả sau", "tra sau", "ts")),
        ),
        aliases=("loai thue bao", "loai tb", "hinh thuc"),
    ),
    Column(
        "status",
        "choice",
        required=True,
        not_empty=True,
        choices=_choices(
            ("2C", ("2 chiều", "2 chieu", "hoạt động 2 chiều")),
            ("1C", ("1 chiều", "1 chieu")),
            ("0C", ("chặn 2 chiều", "0 chieu")),
            ("CANCELLED", ("đã hủy", "huy", "cancelled")),
        ),
        aliases=("trang thai",),
    ),
    Column(
        "contract_date",
        "date",
        required=True,
        not_empty=True,
        aliases=("ngay hoa mang", "ngay ky hop dong", "ngay hop dong"),
    ),
    Column(
        "customer_type",
        "choice",
        required=True,
        not_empty=True,
        choices=_choices(
            ("individual", ("khcn", "cá nhân", "ca nhan")),
            ("enterprise", ("khdn", "doanh nghiệp", "doanh nghiep")),
        ),
        aliases=("loai khach hang", "loai kh", "doi tuong"),
    ),
    Column(
        "enterprise_role",
        "choice",
        choices=_choices(
            ("staff", ("nhân viên", "nhan vien")),
            ("head_of_department", ("trưởng phòng", "truong phong")),
            ("director", ("giám đốc", "giam doc")),
        ),
        aliases=("chuc vu",),
        default="''",
    ),
    Column(
        "company",
        "int",
        required=True,
        not_empty=True,
        min_value=1,
        max_value=9,
        aliases=("cong ty", "cty", "ma cong ty"),
    ),
    Column(
        "province",
        "text",
        required=True,
        not_empty=True,
        max_length=100,
        aliases=("tinh", "tinh/tp", "tinh thanh", "tinh/thanh pho"),
    ),
    Column(
        "district",
        "text",
        required=True,
        max_length=100,
        aliases=("quan huyen", "quan/huyen", "huyen"),
        default="''",
    ),
    Column("address", "text", max_length=300, aliases=("dia chi",), default="''"),
    Column("birth_date", "date", aliases=("ngay sinh",)),
    Column("nationality", "text", max_length=2, aliases=("quoc tich",), default="''"),
    Column("is_owner", "flag", aliases=("chinh chu",), default="FALSE"),
    Column(
        "record_standardized",
        "flag",
        aliases=("tttb chuan hoa", "chuan hoa tttb"),
        default="FALSE",
    ),
    Column("is_premium", "flag", aliases=("khcc",), default="FALSE"),
    Column(
        "loyalty_member", "flag", aliases=("hoi vien kndl", "kndl"), default="FALSE"
    ),
    Column(
        "loyalty_tier", "text", max_length=40, aliases=("hang hoi vien",), default="''"
    ),
    Column("loyalty_points", "int", aliases=("diem", "diem kndl"), default="0"),
    Column(
        "line_kind",
        "choice",
        choices=_choices(
            ("normal", ("thường", "thuong")),
            ("service", ("nghiệp vụ", "nghiep vu", "lien lac nghiep vu")),
            ("test", ("sim thử", "sim thu")),
        ),
        default="'normal'",
    ),
    Column("vlr_days_7", "int", min_value=0, max_value=7, default="0"),
    Column(
        "handset_network",
        "choice",
        choices=_choices(("2G", ()), ("3G", ()), ("4G", ()), ("5G", ())),
        default="''",
    ),
    Column(
        "handset_os",
        "choice",
        choices=_choices(("iOS", ()), ("Android", ()), ("other", ("khác", "khac"))),
        default="''",
    ),
    Column("sim_4g", "flag", default="FALSE"),
    Column("payment_method", "choice", choices=PAYMENT_CHOICES, default="''"),
    Column("package_code", "text", max_length=50, aliases=("goi cuoc",), default="''"),
    Column("mvas_idle_2m", "flag", default="FALSE"),
    Column("has_app", "flag", default="FALSE"),
    Column("churn_risk", "decimal"),
    Column("ownership_changed_on", "date"),
]

BILLING_COLUMNS = [
    SUBSCRIBER_COLUMNS[0],
    Column(
        "cycle", "cycle", required=True, not_empty=True, aliases=("chu ky", "ky cuoc")
    ),
    Column(
        "revenue_total",
        "money",
        required=True,
        not_empty=True,
        aliases=("doanh thu", "tong doanh thu", "cuoc"),
    ),
    Column("revenue_voice", "money", default="0"),
    Column("revenue_sms", "money", default="0"),
    Column("revenue_data", "money", default="0"),
    Column("revenue_excluded", "money", default="0"),
    Column("paid", "flag", default="FALSE"),
    Column("debt_blocked", "flag", default="FALSE"),
    Column("payment_channel", "choice", choices=PAYMENT_CHOICES, default="''"),
]

LIST_COLUMNS = [SUBSCRIBER_COLUMNS[0]]

COLUMNS_BY_KIND = {
    ImportKind.SUBSCRIBERS: SUBSCRIBER_COLUMNS,
    ImportKind.BILLING: BILLING_COLUMNS,
    ImportKind.NAMED_LIST: LIST_COLUMNS,
}

# The target's key: two good rows with the same key cannot both be imported.
KEY_COLUMNS = {
    ImportKind.SUBSCRIBERS: ["msisdn"],
    ImportKind.BILLING: ["msisdn", "cycle"],
    ImportKind.NAMED_LIST: ["msisdn"],
}


def columns_for(kind: str) -> list[Column]:
    return COLUMNS_BY_KIND[kind]


def guess_column_map(
    kind: str, headers: list[str], remembered: dict[str, str]
) -> dict[str, int]:
    """Our column -> file column index, from exact names, remembered and known aliases."""
    by_key = {}
    for index, header in enumerate(headers):
        by_key.setdefault(header_key(header), index)
    mapping: dict[str, int] = {}
    for column in columns_for(kind):
        candidates = [header_key(column.name)]
        candidates += [key for key, name in remembered.items() if name == column.name]
        candidates += list(column.aliases)
        for candidate in candidates:
            if candidate in by_key and by_key[candidate] not in mapping.values():
                mapping[column.name] = by_key[candidate]
                break
    return mapping


def missing_required(kind: str, column_map: dict[str, int]) -> list[str]:
    return [
        c.name for c in columns_for(kind) if c.required and c.name not in column_map
    ]


# --- SQL --------------------------------------------------------------------------


def sql_literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


class Dialect:
    """The spots where the embedded SQLite needs other SQL than PostgreSQL."""

    def __init__(self, vendor: str):
        self.vendor = vendor
        self.postgres = vendor == "postgresql"

    def matches(self, expr: str, pattern: str) -> str:
        op = "~" if self.postgres else "REGEXP"
        return f"({expr} {op} {sql_literal(pattern)})"

    def as_date(self, iso_expr: str) -> str:
        return f"CAST({iso_expr} AS date)" if self.postgres else iso_expr

    def as_bool(self, expr: str) -> str:
        return expr if self.postgres else f"CAST({expr} AS integer)"

    def json_object(self, pairs: list[tuple[str, str]]) -> str:
        if not pairs:
            return "'{}'"
        body = ", ".join(f"{sql_literal(key)}, {value}" for key, value in pairs)
        if self.postgres:
            return f"jsonb_strip_nulls(jsonb_build_object({body}))"
        return f"json_object({body})"

    def make_date(self, y: str, m: str, day: str) -> str:
        if self.postgres:
            return f"make_date({y}, {m}, {day})"
        return f"printf('%04d-%02d-%02d', {y}, {m}, {day})"

    @property
    def fence(self) -> str:
        """Ends a subquery the planner must not inline into the outer query."""
        return "OFFSET 0" if self.postgres else "LIMIT -1 OFFSET 0"

    def json_array(self, exprs: list[str]) -> str:
        body = ", ".join(exprs)
        return f"jsonb_build_array({body})" if self.postgres else f"json_array({body})"


@dataclass
class ColumnSql:
    """How one of our columns reads from a staged row: its typed value and its problem."""

    value: str
    problem: str  # SQL giving 'name:code;' or NULL
    # Intermediate values, one query level each, computed before `value`.
    steps: list[list[tuple[str, str]]] = field(default_factory=list)


def _days_in_month(y: str, m: str) -> str:
    leap = f"(({y}) % 4 = 0 AND (({y}) % 100 <> 0 OR ({y}) % 400 = 0))"
    return (
        f"(CASE WHEN ({m}) = 2 THEN (CASE WHEN {leap} THEN 29 ELSE 28 END) "
        f"WHEN ({m}) IN (4, 6, 9, 11) THEN 30 ELSE 31 END)"
    )


# Checks run on every cell of millions of rows. PostgreSQL's regular expressions cost
# microseconds a call, so the common spellings are recognised with translate(),
# length() and substr(), several times cheaper; regexes are kept for rare spellings.


def _only(expr: str, chars: str, rest: str = "") -> str:
    """`expr` holds nothing but `chars`, apart from the characters `rest`."""
    return f"(translate({expr}, '{chars}', '') = '{rest}')"


DIGITS = "0123456789"


def _lengths(expr: str, sep: str, *bounds: tuple[int, int]) -> str:
    return " AND ".join(
        f"length(split_part({expr}, '{sep}', {i})) BETWEEN {low} AND {high}"
        for i, (low, high) in enumerate(bounds, start=1)
    )


def _date_steps(d: Dialect, name: str, src: str) -> tuple[list, str]:
    """Steps and value of a date written YYYY-MM-DD or DD/MM/YYYY (a time is ignored)."""
    text, shape, fmt = f"dt_{name}", f"shape_{name}", f"fmt_{name}"
    y, m, day = f"y_{name}", f"m_{name}", f"d_{name}"
    iso = _lengths(text, "-", (4, 4), (1, 2), (1, 2))
    dmy = _lengths(text, "/", (1, 2), (1, 2), (4, 4))

    def part(iso_index: int, dmy_index: int) -> str:
        return (
            f"CAST(CASE {fmt} WHEN 'iso' THEN split_part({text}, '-', {iso_index}) "
            f"WHEN 'dmy' THEN split_part({text}, '/', {dmy_index}) END AS integer)"
        )

    steps = [
        [(text, f"split_part({src}, ' ', 1)")],
        [(shape, f"translate({text}, '{DIGITS}', '')")],
        [
            (
                fmt,
                f"(CASE WHEN {shape} = '--' AND {iso} THEN 'iso' "
                f"WHEN {shape} = '//' AND {dmy} THEN 'dmy' END)",
            )
        ],
        [(y, part(1, 3)), (m, part(2, 2)), (day, part(3, 1))],
    ]
    value = (
        f"(CASE WHEN {y} BETWEEN 1900 AND 2100 AND {m} BETWEEN 1 AND 12 "
        f"AND {day} BETWEEN 1 AND {_days_in_month(y, m)} "
        f"THEN {d.make_date(y, m, day)} END)"
    )
    return steps, value


def _cycle_steps(d: Dialect, name: str, src: str) -> tuple[list, str]:
    """Steps and value of a billing cycle: YYYY-MM, YYYY-MM-DD, MM/YYYY or YYYYMM."""
    text, shape, fmt = f"dt_{name}", f"shape_{name}", f"fmt_{name}"
    y, m = f"y_{name}", f"m_{name}"
    steps = [
        [(text, f"split_part({src}, ' ', 1)")],
        [(shape, f"translate({text}, '{DIGITS}', '')")],
        [
            (
                fmt,
                f"(CASE WHEN {shape} = '-' AND {_lengths(text, '-', (4, 4), (1, 2))} "
                f"THEN 'ym' WHEN {shape} = '--' AND "
                f"{_lengths(text, '-', (4, 4), (1, 2), (1, 2))} THEN 'ym' "
                f"WHEN {shape} = '/' AND {_lengths(text, '/', (1, 2), (4, 4))} THEN 'my' "
                f"WHEN {shape} = '' AND length({text}) = 6 THEN 'compact' END)",
            )
        ],
        [
            (
                y,
                f"CAST(CASE {fmt} WHEN 'ym' THEN split_part({text}, '-', 1) "
                f"WHEN 'my' THEN split_part({text}, '/', 2) "
                f"WHEN 'compact' THEN substr({text}, 1, 4) END AS integer)",
            ),
            (
                m,
                f"CAST(CASE {fmt} WHEN 'ym' THEN split_part({text}, '-', 2) "
                f"WHEN 'my' THEN split_part({text}, '/', 1) "
                f"WHEN 'compact' THEN substr({text}, 5, 2) END AS integer)",
            ),
        ],
    ]
    value = (
        f"(CASE WHEN {y} BETWEEN 1990 AND 2100 AND {m} BETWEEN 1 AND 12 "
        f"THEN {d.make_date(y, m, '1')} END)"
    )
    return steps, value


def _integer_steps(d: Dialect, name: str, src: str) -> tuple[list, str]:
    """Steps and value of a whole number of at most 15 digits, like -12 or 12.0."""
    whole, unsigned = f"whole_{name}", f"unsigned_{name}"
    steps = [
        [
            (
                whole,
                f"(CASE WHEN strpos({src}, '.') = 0 THEN {src} "
                f"WHEN {d.matches(src, r'^-?[0-9]+\.0+$')} "
                f"THEN split_part({src}, '.', 1) END)",
            )
        ],
        [
            (
                unsigned,
                f"(CASE WHEN substr({whole}, 1, 1) = '-' THEN substr({whole}, 2) "
                f"ELSE {whole} END)",
            )
        ],
    ]
    value = (
        f"(CASE WHEN length({unsigned}) BETWEEN 1 AND 15 AND {_only(unsigned, DIGITS)} "
        f"THEN CAST({whole} AS bigint) END)"
    )
    return steps, value


MOBILE_PREFIXES = "('3', '5', '7', '8', '9')"


def _msisdn_sql(d: Dialect, src: str) -> tuple[str, str]:
    local = (
        f"(length({src}) = 10 AND substr({src}, 1, 1) = '0' AND "
        f"substr({src}, 2, 1) IN {MOBILE_PREFIXES} AND {_only(src, DIGITS)})"
    )
    international = (
        f"(length({src}) = 11 AND substr({src}, 1, 2) = '84' AND "
        f"substr({src}, 3, 1) IN {MOBILE_PREFIXES} AND {_only(src, DIGITS)})"
    )
    # Rare spellings: separators, a spreadsheet's ".0", a scientific notation that
    # kept every digit, a number that lost its leading zero.
    digits = f"regexp_replace({src}, '[^0-9]', '', 'g')"
    sci = d.matches(src, r"^[1-9]\.[0-9]{8}[eE]\+?0*8$")
    sci_digits = f"(substr({src}, 1, 1) || substr({src}, 3, 8))"
    float_zero = d.matches(src, r"^[0-9]{9,11}\.0+$")
    float_digits = f"split_part({src}, '.', 1)"
    cleaned = (
        f"(CASE WHEN {sci} THEN {sci_digits} WHEN {float_zero} THEN {float_digits} "
        f"WHEN {d.matches(src, r'^[0-9 +().-]+$')} THEN {digits} END)"
    )
    value = (
        f"(CASE WHEN {local} THEN '84' || substr({src}, 2) "
        f"WHEN {international} THEN {src} "
        f"WHEN {d.matches(cleaned, r'^84[35789][0-9]{8}$')} THEN {cleaned} "
        f"WHEN {d.matches(cleaned, r'^0[35789][0-9]{8}$')} THEN '84' || substr({cleaned}, 2) "  # noqa: E501
        f"WHEN {d.matches(cleaned, r'^[35789][0-9]{8}$')} THEN '84' || {cleaned} END)"
    )
    return f"({value} IS NOT NULL)", value


def column_sql(d: Dialect, column: Column, src: str | None) -> ColumnSql:
    """SQL for one column, `src` naming the trimmed, NULL-if-empty staged cell.

    `value` is the typed value or NULL when the cell is empty or wrong; `problem` is
    written over `v_<name>`, the column that holds `value` one query level up.
    """
    if src is None:
        return ColumnSql(value="NULL", problem="NULL")
    name = column.name
    v = f"v_{name}"
    extra_checks = ""
    steps: list = []
    if column.kind == "msisdn":
        _valid, value = _msisdn_sql(d, src)
        code = "invalid_msisdn"
    elif column.kind == "text":
        value = f"(CASE WHEN length({src}) <= {column.max_length} THEN {src} END)"
        code = "too_long"
    elif column.kind == "choice":
        exact = " ".join(
            f"WHEN {sql_literal(stored)} THEN {sql_literal(stored)}"
            for stored in sorted(set(column.choices.values()))
        )
        spelled = " ".join(
            f"WHEN {sql_literal(spelling)} THEN {sql_literal(stored)}"
            for spelling, stored in column.choices.items()
        )
        # The canonical spelling first: lower() is the costly part.
        value = f"COALESCE(CASE {src} {exact} END, CASE lower({src}) {spelled} END)"
        code = "unknown_value"
    elif column.kind in {"date", "cycle"}:
        build = _date_steps if column.kind == "date" else _cycle_steps
        steps, value = build(d, name, src)
        code = "bad_date" if column.kind == "date" else "bad_cycle"
    elif column.kind in {"money", "int"}:
        steps, value = _integer_steps(d, name, src)
        code = "not_integer"
        if column.kind == "money":
            extra_checks = f"WHEN {v} < 0 THEN '{name}:negative;' "
        else:
            bounds = []
            if column.min_value is not None:
                bounds.append(f"{v} >= {column.min_value}")
            if column.max_value is not None:
                bounds.append(f"{v} <= {column.max_value}")
            if bounds:
                extra_checks = (
                    f"WHEN NOT ({' AND '.join(bounds)}) THEN '{name}:out_of_range;' "
                )
    elif column.kind == "flag":
        truthy = "('1', 'true', 'yes', 'y', 'x', 'có', 'co')"
        falsy = "('0', 'false', 'no', 'n', 'không', 'khong')"
        value = (
            f"(CASE {src} WHEN '1' THEN 1 WHEN '0' THEN 0 ELSE CASE "
            f"WHEN lower({src}) IN {truthy} THEN 1 WHEN lower({src}) IN {falsy} THEN 0 "
            f"END END)"
        )
        code = "bad_flag"
    elif column.kind == "decimal":
        text = f"replace({src}, ',', '.')"
        well_formed = d.matches(text, r"^[0-9]*\.?[0-9]+$")
        value = (
            f"(CASE WHEN {well_formed} AND CAST({text} AS numeric) <= 1 "
            f"THEN CAST({text} AS numeric) END)"
        )
        code = "bad_decimal"
    else:  # pragma: no cover - a programming error, not input
        raise ValueError(column.kind)
    missing = f"'{name}:missing;'" if column.not_empty else "NULL"
    return ColumnSql(
        value=value,
        problem=(
            f"(CASE WHEN {src} IS NULL THEN {missing} "
            f"WHEN {v} IS NULL THEN '{name}:{code};' {extra_checks}END)"
        ),
        steps=steps,
    )


@dataclass
class StagedFile:
    """SQL over one staged file, given its column mapping.

    The queries read the staged rows through two levels, each fenced with OFFSET 0 so
    PostgreSQL computes it once per row instead of inlining it into every expression
    that uses it: `cells` trims every cell (t0, t1, ...), `typed` turns each of our
    columns into its value or NULL (v_msisdn, ...). Problems and final values are
    then cheap expressions over those columns.
    """

    kind: str
    table: str
    headers: list[str]
    column_map: dict[str, int]
    dialect: Dialect

    @classmethod
    def for_job(cls, job) -> StagedFile:
        return cls(
            kind=job.kind,
            table=stage_table_name(job.pk),
            headers=job.headers,
            column_map=job.column_map,
            dialect=Dialect(connection.vendor),
        )

    def source(self, column: Column) -> str | None:
        index = self.column_map.get(column.name)
        return None if index is None else f"t{index}"

    def columns(self) -> dict[str, ColumnSql]:
        return {
            c.name: column_sql(self.dialect, c, self.source(c))
            for c in columns_for(self.kind)
        }

    def typed_rows(self) -> str:
        """Every non-blank staged row with its typed values, as a subquery."""
        width = len(self.headers)
        fence = self.dialect.fence
        trimmed = ", ".join(f"NULLIF(trim(s.c{i}), '') AS t{i}" for i in range(width))
        blank = " AND ".join(f"t{i} IS NULL" for i in range(width))
        columns = self.columns()
        query = (
            f"(SELECT cells.* FROM (SELECT s.row_no, {trimmed} FROM {self.table} s "
            f"{fence}) cells WHERE NOT ({blank}) {fence})"
        )
        depth = max((len(sql.steps) for sql in columns.values()), default=0)
        for level in range(depth):
            computed = [
                f"{expr} AS {alias}"
                for sql in columns.values()
                if level < len(sql.steps)
                for alias, expr in sql.steps[level]
            ]
            query = f"(SELECT q{level}.*, {', '.join(computed)} FROM {query} q{level} {fence})"
        typed = ", ".join(f"{sql.value} AS v_{name}" for name, sql in columns.items())
        return f"(SELECT steps.*, {typed} FROM {query} steps {fence})"

    def final_value(self, column: Column) -> str:
        sql = self.columns()[column.name]
        if sql.value == "NULL":
            return column.default
        if column.kind == "flag":
            return self.dialect.as_bool(
                f"COALESCE(v_{column.name} = 1, {column.default})"
            )
        return f"COALESCE(v_{column.name}, {column.default})"

    def extra_columns(self) -> list[tuple[str, str]]:
        mapped = set(self.column_map.values())
        return [
            (header, f"t{index}")
            for index, header in enumerate(self.headers)
            if index not in mapped and header
        ]

    def problems_sql(self) -> str:
        parts = [
            f"COALESCE({sql.problem}, '')"
            for sql in self.columns().values()
            if sql.problem != "NULL"
        ]
        return " || ".join(parts) or "''"

    def rejections_insert(self, job_id: int) -> str:
        """One scan: every row with a problem, or repeating an earlier row's key."""
        keys = [f"v_{name}" for name in KEY_COLUMNS[self.kind]]
        key_list = ", ".join(keys)
        key_valid = " AND ".join(f"{k} IS NOT NULL" for k in keys)
        return f"""
            INSERT INTO eligibility_importrejection (job_id, row_no, problems, cells)
            SELECT {int(job_id)}, row_no,
                   problems || CASE WHEN first_row < row_no
                                    THEN 'msisdn:duplicate:' || (first_row + 1) || ';'
                                    ELSE '' END,
                   '[]'
            FROM (
                SELECT row_no, {self.problems_sql()} AS problems,
                       CASE WHEN {key_valid}
                            THEN MIN(row_no) OVER (PARTITION BY {key_list})
                       END AS first_row
                FROM {self.typed_rows()} typed
            ) checked
            WHERE problems <> '' OR first_row < row_no
        """

    def rejected_cells_update(self, job_id: int) -> str:
        """The original cells of the rejected rows, for the rejects file."""
        cells = self.dialect.json_array([f"s.c{i}" for i in range(len(self.headers))])
        return f"""
            UPDATE eligibility_importrejection
            SET cells = {cells}
            FROM {self.table} s
            WHERE eligibility_importrejection.job_id = {int(job_id)}
              AND s.row_no = eligibility_importrejection.row_no
        """

    def count_sql(self) -> str:
        """The rows of the file, blank ones left out."""
        blank = " AND ".join(
            f"NULLIF(trim(s.c{i}), '') IS NULL" for i in range(len(self.headers))
        )
        return f"SELECT count(*) FROM {self.table} s WHERE NOT ({blank})"

    def good_rows_select(
        self, job_id: int, target_columns: list[str], fixed: dict
    ) -> str:
        """SELECT of the typed values of every row the check did not reject.

        Rows come in key order so the target's unique index grows at its right edge
        instead of being updated at random pages, several times faster on big files.
        """
        by_name = {c.name: c for c in columns_for(self.kind)}
        exprs = []
        for name in target_columns:
            if name in fixed:
                exprs.append(fixed[name])
            elif name in {"extra", "attributes"}:
                exprs.append(self.dialect.json_object(self.extra_columns()))
            else:
                exprs.append(self.final_value(by_name[name]))
        return f"""
            SELECT {", ".join(exprs)}
            FROM {self.typed_rows()} typed
            WHERE NOT EXISTS (
                SELECT 1 FROM eligibility_importrejection r
                WHERE r.job_id = {int(job_id)} AND r.row_no = typed.row_no
            )
            ORDER BY {", ".join(f"v_{name}" for name in KEY_COLUMNS[self.kind])}
        """


def stage_table_name(job_id: int) -> str:
    return f"eligibility_stage_{int(job_id)}"


PROBLEM_MESSAGES: dict[str, Callable[[str, str], str]] = {
    "missing": lambda col, arg: _("%(column)s is empty") % {"column": col},
    "invalid_msisdn": lambda col, arg: (
        _("%(column)s is not a Vietnamese mobile number (84 + 9 digits)")
        % {"column": col}
    ),
    "duplicate": lambda col, arg: _("repeats the number of row %(row)s") % {"row": arg},
    "too_long": lambda col, arg: _("%(column)s is too long") % {"column": col},
    "unknown_value": lambda col, arg: (
        _("%(column)s has a value we do not know") % {"column": col}
    ),
    "bad_date": lambda col, arg: (
        _("%(column)s is not a date (YYYY-MM-DD or DD/MM/YYYY)") % {"column": col}
    ),
    "bad_cycle": lambda col, arg: (
        _("%(column)s is not a billing cycle (YYYY-MM)") % {"column": col}
    ),
    "not_integer": lambda col, arg: (
        _("%(column)s is not a whole number") % {"column": col}
    ),
    "negative": lambda col, arg: _("%(column)s is negative") % {"column": col},
    "out_of_range": lambda col, arg: _("%(column)s is out of range") % {"column": col},
    "bad_flag": lambda col, arg: _("%(column)s must be 0 or 1") % {"column": col},
    "bad_decimal": lambda col, arg: (
        _("%(column)s must be a number from 0 to 1") % {"column": col}
    ),
}


def describe_problems(problems: str) -> str:
    """'msisdn:invalid_msisdn;cycle:bad_cycle;' -> a readable sentence per problem."""
    sentences = []
    for item in filter(None, problems.split(";")):
        column, _sep, rest = item.partition(":")
        code, _sep, arg = rest.partition(":")
        describe = PROBLEM_MESSAGES.get(code)
        sentences.append(describe(column, arg) if describe else item)
    return "; ".join(sentences)
