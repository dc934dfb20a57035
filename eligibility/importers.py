"""Our columns for subscriber, billing and list files: names, kinds, the spellings we
accept, how file headers map onto them, and the sentences for each problem.

The checks themselves run in eligibility.checks; eligibility.services drives an import
from upload to commit.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable
from dataclasses import dataclass, field

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
    default: str | int | bool | None = None  # when the file lacks the column or cell


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
        default="",
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
        default="",
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
        default="",
    ),
    Column("address", "text", max_length=300, aliases=("dia chi",), default=""),
    Column("birth_date", "date", aliases=("ngay sinh",)),
    Column("nationality", "text", max_length=2, aliases=("quoc tich",), default=""),
    Column("is_owner", "flag", aliases=("chinh chu",), default=False),
    Column(
        "record_standardized",
        "flag",
        aliases=("tttb chuan hoa", "chuan hoa tttb"),
        default=False,
    ),
    Column("is_premium", "flag", aliases=("khcc",), default=False),
    Column("loyalty_member", "flag", aliases=("hoi vien kndl", "kndl"), default=False),
    Column(
        "loyalty_tier", "text", max_length=40, aliases=("hang hoi vien",), default=""
    ),
    # The database column is a 32-bit integer: a bigger value must be a rejected
    # row naming the column, not a failed import.
    Column(
        "loyalty_points",
        "int",
        min_value=-(2**31),
        max_value=2**31 - 1,
        aliases=("diem", "diem kndl"),
        default=0,
    ),
    Column(
        "line_kind",
        "choice",
        choices=_choices(
            ("normal", ("thường", "thuong")),
            ("service", ("nghiệp vụ", "nghiep vu", "lien lac nghiep vu")),
            ("test", ("sim thử", "sim thu")),
        ),
        default="normal",
    ),
    Column("vlr_days_7", "int", min_value=0, max_value=7, default=0),
    Column(
        "handset_network",
        "choice",
        choices=_choices(("2G", ()), ("3G", ()), ("4G", ()), ("5G", ())),
        default="",
    ),
    Column(
        "handset_os",
        "choice",
        choices=_choices(("iOS", ()), ("Android", ()), ("other", ("khác", "khac"))),
        default="",
    ),
    Column("sim_4g", "flag", default=False),
    Column("payment_method", "choice", choices=PAYMENT_CHOICES, default=""),
    Column("package_code", "text", max_length=50, aliases=("goi cuoc",), default=""),
    Column("mvas_idle_2m", "flag", default=False),
    Column("has_app", "flag", default=False),
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
    Column("revenue_voice", "money", default=0),
    Column("revenue_sms", "money", default=0),
    Column("revenue_data", "money", default=0),
    Column("revenue_excluded", "money", default=0),
    Column("paid", "flag", default=False),
    Column("debt_blocked", "flag", default=False),
    Column("payment_channel", "choice", choices=PAYMENT_CHOICES, default=""),
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
