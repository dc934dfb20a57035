"""Rule sets: what care staff say about who is eligible, checked and put in words.

A rule set is a plain document (JSON-safe dicts and lists) so that it can be frozen on
a selection run, written to a definition file and compared:

    {
      "reference_month": "2019-10",          # n of relative windows (n-5..n-3)
      "scope": ["Hồ Chí Minh"],              # provinces; empty means no limit
      "phases": [{"number": 1, "districts": [{"province": …, "district": …}]}],
      "rules": [condition, …],               # all must hold, in this order
      "ranking": [{**measure, "order": "desc"}, …],
      "quotas": {"total": 36, "by": ["company", "customer_type"],
                 "spill_within": ["company"],
                 "cells": [{"key": ["1", "individual"], "seats": 4}, …]},
      "tiers": {"measure": measure, "bands": [{"code", "name", "min", "max",
                "customer_group", "gift_tier", "channel", "list"}, …]},
      "lists": [{"name": "Danh sách 1", "when": condition}, {"name": "…"}],
      "batches": 4,
    }

A measure is {"measure": key, plus its parameters: "attribute" (extra column),
"column" (revenue), "window" ([from, to] as "n-5" or "2018-09"), "list" (named list
name), "campaign_kind" and "since" (campaign membership)}. A condition is a measure
plus "op", "value" and optionally "only_when": {"attribute": …, "values": […]}.

`ruleset_check` returns the document cleaned (values typed, windows resolved to
cycles) or raises `RuleSetError` listing every problem in words staff understand.
Nothing here touches the database; `eligibility.selection` compiles the clean document
to SQL and checks it against a snapshot.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from datetime import date
from decimal import Decimal, InvalidOperation
from typing import Any

from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from eligibility.models import DomainError


class RuleSetError(DomainError):
    """A rule set with problems; `problems` lists each, str() joins them."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


NUMBER, TEXT, BOOL, DATE = "number", "text", "bool", "date"


@dataclass(frozen=True)
class Measure:
    key: str
    kind: str  # NUMBER, TEXT, BOOL or DATE
    label: Any  # lazy text
    params: tuple[str, ...] = ()
    group: str = "attribute"  # attribute, derived, exclusion
    unit: Any = ""


_M = Measure

# Built-in columns of the subscribers file, by type.
_ATTRIBUTES = [
    _M("subscription_type", TEXT, gettext_lazy("subscription type")),
    _M("status", TEXT, gettext_lazy("status")),
    _M("customer_type", TEXT, gettext_lazy("customer type")),
    _M("enterprise_role", TEXT, gettext_lazy("enterprise role")),
    _M("company", NUMBER, gettext_lazy("company")),
    _M("province", TEXT, gettext_lazy("province")),
    _M("district", TEXT, gettext_lazy("district")),
    _M("nationality", TEXT, gettext_lazy("nationality")),
    _M("is_owner", BOOL, gettext_lazy("registered owner")),
    _M("record_standardized", BOOL, gettext_lazy("record standardised")),
    _M("is_premium", BOOL, gettext_lazy("premium customer")),
    _M("loyalty_member", BOOL, gettext_lazy("loyalty member")),
    _M("loyalty_tier", TEXT, gettext_lazy("loyalty tier")),
    _M("loyalty_points", NUMBER, gettext_lazy("loyalty points")),
    _M("line_kind", TEXT, gettext_lazy("line kind")),
    _M(
        "vlr_days_7",
        NUMBER,
        gettext_lazy("days in VLR (last 7)"),
        unit=gettext_lazy("days"),
    ),
    _M("handset_network", TEXT, gettext_lazy("handset network")),
    _M("handset_os", TEXT, gettext_lazy("handset OS")),
    _M("sim_4g", BOOL, gettext_lazy("4G SIM")),
    _M("payment_method", TEXT, gettext_lazy("payment method")),
    _M("package_code", TEXT, gettext_lazy("package")),
    _M("mvas_idle_2m", BOOL, gettext_lazy("idle mVAS for 2 months")),
    _M("has_app", BOOL, gettext_lazy("has My MobiFone")),
    _M("churn_risk", NUMBER, gettext_lazy("churn risk")),
    _M("contract_date", DATE, gettext_lazy("contract date")),
    _M("birth_date", DATE, gettext_lazy("birth date")),
    _M("ownership_changed_on", DATE, gettext_lazy("ownership changed on")),
]
_DERIVED = [
    _M(
        "tenure_months",
        NUMBER,
        gettext_lazy("tenure"),
        group="derived",
        unit=gettext_lazy("months"),
    ),
    _M(
        "age_years",
        NUMBER,
        gettext_lazy("age"),
        group="derived",
        unit=gettext_lazy("years"),
    ),
    _M(
        "revenue_avg",
        NUMBER,
        gettext_lazy("average revenue per cycle"),
        ("column", "window"),
        "derived",
        gettext_lazy("đ"),
    ),
    _M(
        "revenue_sum",
        NUMBER,
        gettext_lazy("total revenue"),
        ("column", "window"),
        "derived",
        gettext_lazy("đ"),
    ),
    _M(
        "usage_share",
        NUMBER,
        gettext_lazy("share of voice + SMS + data in revenue"),
        ("window",),
        "derived",
        "%",
    ),
    _M(
        "never_debt_blocked",
        BOOL,
        gettext_lazy("never blocked for debt"),
        ("window",),
        "derived",
    ),
    _M(
        "bank_paid_every_cycle",
        BOOL,
        gettext_lazy("paid by bank every cycle"),
        ("window",),
        "derived",
    ),
    _M(
        "ownership_unchanged",
        BOOL,
        gettext_lazy("ownership unchanged"),
        ("window",),
        "derived",
    ),
    _M("extra", TEXT, gettext_lazy("extra column"), ("attribute",), "derived"),
    _M("in_list", BOOL, gettext_lazy("on the named list"), ("list",), "exclusion"),
    _M(
        "in_campaigns",
        BOOL,
        gettext_lazy("member of other campaigns"),
        ("campaign_kind", "since"),
        "exclusion",
    ),
]
MEASURES: dict[str, Measure] = {m.key: m for m in _ATTRIBUTES + _DERIVED}
ATTRIBUTES: dict[str, Measure] = {m.key: m for m in _ATTRIBUTES}

REVENUE_COLUMNS = {
    "total": gettext_lazy("total"),
    "information": gettext_lazy("information (total − excluded)"),
    "voice": gettext_lazy("voice"),
    "sms": gettext_lazy("SMS"),
    "data": gettext_lazy("data"),
    "excluded": gettext_lazy("excluded"),
}
BANK_CHANNELS = ("bank_online", "bank_auto_debit", "bank_collection", "bank_transfer")

OPERATORS = {
    "=": "=",
    "!=": "≠",
    "<": "<",
    "<=": "≤",
    ">": ">",
    ">=": "≥",
    "in": gettext_lazy("in"),
    "not_in": gettext_lazy("not in"),
    "between": gettext_lazy("between"),
    "is_empty": gettext_lazy("is empty"),
    "is_not_empty": gettext_lazy("is not empty"),
}
ORDERED_OPS = {"<", "<=", ">", ">=", "between"}
OPS_BY_KIND = {
    NUMBER: set(OPERATORS),
    DATE: set(OPERATORS) - {"in", "not_in"},
    TEXT: {"=", "!=", "in", "not_in", "is_empty", "is_not_empty"},
    BOOL: {"="},
}
CHANNELS = (
    "online_choice",
    "home_delivery",
    "store_pickup",
    "home_visit",
    "call",
    "trip",
)
CAMPAIGN_KINDS = (
    "gift_online",
    "gift_by_spend",
    "outbound_call",
    "sim_swap",
    "overseas_trip",
    "other",
)

_RELATIVE = re.compile(r"^n\s*(?:([-+])\s*(\d{1,3}))?$", re.I)
_ABSOLUTE = re.compile(r"^(\d{4})-(\d{1,2})$|^(\d{1,2})/(\d{4})$")
_THOUSANDS = re.compile(r"^-?\d{1,3}(\.\d{3})+$")


def fold(text: str) -> str:
    """Lower case without diacritics or province prefixes, to match place names."""
    text = unicodedata.normalize("NFD", str(text).replace("đ", "d").replace("Đ", "D"))
    text = "".join(c for c in text if unicodedata.category(c) != "Mn").lower()
    text = re.sub(r"[.\-_,]", " ", text)
    text = re.sub(r"^(thanh pho|tp|tinh)\s+", "", text.strip())
    return " ".join(text.split())


# -- values as staff type them ------------------------------------------------------


def parse_number(text: Any) -> Decimal:
    """550000, 550.000 (Vietnamese thousands), 0,8 or 0.8 -> Decimal; ValueError else."""
    if isinstance(text, bool):
        raise ValueError(text)
    if isinstance(text, int | float | Decimal):
        return Decimal(str(text))
    text = str(text).strip().replace(" ", "").replace("đ", "")
    if _THOUSANDS.match(text):
        text = text.replace(".", "")
    text = text.replace(",", ".")
    try:
        return Decimal(text)
    except InvalidOperation as exc:
        raise ValueError(text) from exc


def parse_bool(text: Any) -> bool:
    if isinstance(text, bool):
        return text
    folded = fold(str(text))
    if folded in {"1", "yes", "true", "co", "dung", "x"}:
        return True
    if folded in {"0", "no", "false", "khong", "sai"}:
        return False
    raise ValueError(text)


def parse_date(text: Any) -> date:
    if isinstance(text, date):
        return text
    text = str(text).strip()
    match = re.fullmatch(r"(\d{1,2})/(\d{1,2})/(\d{4})", text)
    if match:
        day, month, year = (int(part) for part in match.groups())
        return date(year, month, day)
    return date.fromisoformat(text)


def _plain(value: Decimal) -> int | float:
    """A JSON-safe number: int when whole."""
    return int(value) if value == value.to_integral_value() else float(value)


def value_from_text(text: str, kind: str, op: str) -> Any:
    """The admin's one-line value in the document's form; ValueError on bad input."""
    text = (text or "").strip()
    if op in {"is_empty", "is_not_empty"}:
        return None
    if op in {"in", "not_in"}:
        return [part.strip() for part in re.split(r"[,;\n]", text) if part.strip()]
    if op == "between":
        parts = re.split(r"\s*(?:\.\.|–|—|\bto\b|\bđến\b)\s*", text)
        if len(parts) != 2:
            raise ValueError(text)
        return [part.strip() for part in parts]
    if kind == BOOL:
        return parse_bool(text)
    return text


def month_of(value: date) -> str:
    return f"{value.year:04d}-{value.month:02d}"


def add_months(month: date, count: int) -> date:
    index = month.year * 12 + month.month - 1 + count
    return date(index // 12, index % 12 + 1, 1)


def parse_cycle(text: str, reference: date | None) -> date:
    """'n-5' (needs the reference month), '2018-09' or '09/2018' -> first of month."""
    text = str(text).strip()
    relative = _RELATIVE.match(text)
    if relative:
        if reference is None:
            raise LookupError(text)
        sign, count = relative.groups()
        offset = int(count or 0) * (-1 if sign == "-" else 1)
        return add_months(reference, offset)
    absolute = _ABSOLUTE.match(text)
    if absolute:
        year, month = (
            (absolute.group(1), absolute.group(2))
            if absolute.group(1)
            else (absolute.group(4), absolute.group(3))
        )
        if 1 <= int(month) <= 12:
            return date(int(year), int(month), 1)
    raise ValueError(text)


def cycles_between(first: date, last: date) -> list[date]:
    cycles, current = [], first
    while current <= last:
        cycles.append(current)
        current = add_months(current, 1)
    return cycles


# -- checking a document -------------------------------------------------------------


class _Checker:
    def __init__(self, reference: date | None):
        self.reference = reference
        self.problems: list[str] = []

    def problem(self, where: str, message: str) -> None:
        self.problems.append(f"{where}: {message}")

    def measure(self, raw: dict, where: str, kinds: set[str] | None = None) -> dict:
        key = raw.get("measure")
        measure = MEASURES.get(key)
        if measure is None:
            self.problem(
                where,
                _("unknown measure %(key)r; choose one of the list")
                % {"key": key or ""},
            )
            return {}
        clean: dict[str, Any] = {"measure": key}
        if "attribute" in measure.params:
            name = str(raw.get("attribute") or "").strip()
            if not name:
                self.problem(where, _("name the extra column"))
            clean["attribute"] = name
        if "column" in measure.params:
            column = raw.get("column") or "total"
            if column not in REVENUE_COLUMNS:
                self.problem(
                    where,
                    _("unknown revenue %(column)r (one of: %(known)s)")
                    % {"column": column, "known": ", ".join(REVENUE_COLUMNS)},
                )
            clean["column"] = column
        if "window" in measure.params:
            clean["window"] = self.window(raw.get("window"), where)
        if "list" in measure.params:
            name = str(raw.get("list") or "").strip()
            if not name:
                self.problem(where, _("choose the named list"))
            clean["list"] = name
        if "campaign_kind" in measure.params:
            kind = raw.get("campaign_kind") or ""
            since = raw.get("since")
            if kind and kind not in CAMPAIGN_KINDS:
                self.problem(
                    where, _("unknown campaign kind %(kind)r") % {"kind": kind}
                )
            if bool(kind) != bool(since):
                self.problem(
                    where,
                    _(
                        "give both a campaign kind and a start date, or neither "
                        "(campaigns running now)"
                    ),
                )
            clean["campaign_kind"] = kind
            if since:
                try:
                    clean["since"] = parse_date(since).isoformat()
                except ValueError:
                    self.problem(where, _("%(value)r is not a date") % {"value": since})
        if kinds is not None and measure.kind not in kinds:
            self.problem(
                where,
                _("%(measure)s cannot be used here") % {"measure": measure.label},
            )
        return clean

    def window(self, raw: Any, where: str) -> list[str]:
        if not isinstance(raw, list | tuple) or len(raw) != 2 or not all(raw):
            self.problem(where, _("give the window's first and last cycle"))
            return []
        try:
            first, last = (parse_cycle(part, self.reference) for part in raw)
        except LookupError:
            self.problem(
                where,
                _(
                    "a window relative to the campaign month (n-…) needs the "
                    "campaign's start date"
                ),
            )
            return []
        except ValueError as exc:
            self.problem(
                where,
                _("%(value)r is not a cycle (write n-3 or 2018-09)")
                % {"value": str(exc)},
            )
            return []
        if last < first:
            self.problem(where, _("the window ends before it starts"))
            return []
        return [month_of(first), month_of(last)]

    def typed(self, raw: Any, kind: str, where: str) -> Any:
        try:
            if kind == NUMBER:
                return _plain(parse_number(raw))
            if kind == DATE:
                return parse_date(raw).isoformat()
            if kind == BOOL:
                return parse_bool(raw)
            text = str(raw).strip()
            if not text:
                raise ValueError(raw)
            return text
        except (ValueError, TypeError):
            expected = {
                NUMBER: _("a number"),
                DATE: _("a date (dd/mm/yyyy)"),
                BOOL: _("yes or no"),
                TEXT: _("a value"),
            }[kind]
            self.problem(
                where,
                _("%(value)r is not %(expected)s")
                % {"value": raw if raw is not None else "", "expected": expected},
            )
            return None

    def condition(self, raw: Any, where: str, guard: bool = True) -> dict:
        if not isinstance(raw, dict):
            self.problem(where, _("expected a rule (measure, op, value)"))
            return {}
        clean = self.measure(raw, where)
        if not clean:
            return {}
        kind = measure_kind(clean)
        op = raw.get("op")
        if clean["measure"] == "extra" and op in ORDERED_OPS:
            # Extra columns arrive as text; ordered comparisons read them as numbers.
            kind = NUMBER
        if op not in OPS_BY_KIND[kind]:
            self.problem(
                where,
                _("operator %(op)r cannot compare %(measure)s (use one of: %(ops)s)")
                % {
                    "op": op or "",
                    "measure": MEASURES[clean["measure"]].label,
                    "ops": ", ".join(o for o in OPERATORS if o in OPS_BY_KIND[kind]),
                },
            )
            return {}
        clean["op"] = op
        value = raw.get("value")
        if op in {"is_empty", "is_not_empty"}:
            clean["value"] = None
        elif op in {"in", "not_in"}:
            values = value if isinstance(value, list) else None
            if not values:
                self.problem(where, _("list at least one value for 'in'"))
                return {}
            clean["value"] = [self.typed(item, kind, where) for item in values]
        elif op == "between":
            if not isinstance(value, list | tuple) or len(value) != 2:
                self.problem(
                    where, _("'between' needs two values, e.g. 550000..700000")
                )
                return {}
            low, high = (self.typed(item, kind, where) for item in value)
            if low is not None and high is not None and low > high:
                self.problem(
                    where,
                    _("'between' goes from %(low)s up to %(high)s, not down")
                    % {"low": low, "high": high},
                )
            clean["value"] = [low, high]
        else:
            if value is None or value == "":
                self.problem(where, _("give a value"))
                return {}
            clean["value"] = self.typed(value, kind, where)
        only_when = raw.get("only_when")
        if only_when and guard:
            attribute = only_when.get("attribute")
            values = only_when.get("values") or []
            if attribute not in ATTRIBUTES or ATTRIBUTES[attribute].kind not in {
                TEXT,
                NUMBER,
            }:
                self.problem(
                    where,
                    _("'only when' needs a subscriber attribute, not %(name)r")
                    % {"name": attribute or ""},
                )
            elif not values:
                self.problem(where, _("'only when' needs at least one value"))
            else:
                clean["only_when"] = {
                    "attribute": attribute,
                    "values": [str(v).strip() for v in values],
                }
        return clean


def measure_kind(measure: dict) -> str:
    if measure["measure"] == "extra" and measure.get("op") in ORDERED_OPS:
        return NUMBER
    return MEASURES[measure["measure"]].kind


def measure_identity(measure: dict) -> tuple:
    """What makes two measures the same value (same key and parameters)."""
    return tuple(
        (key, tuple(value) if isinstance(value, list) else value)
        for key, value in sorted(measure.items())
        if key not in {"op", "value", "only_when", "order"}
    )


def ruleset_check(document: dict, *, reference: date | None) -> dict:
    """The clean rule set, or RuleSetError naming every problem.

    `reference` is the first day of the campaign month (n); relative windows need it.
    """
    checker = _Checker(reference)
    clean: dict[str, Any] = {
        "reference_month": month_of(reference) if reference else None,
        "scope": [p for p in document.get("scope") or [] if str(p).strip()],
        "phases": document.get("phases") or [],
    }
    rules = document.get("rules") or []
    if not rules:
        checker.problems.append(
            _("The campaign has no eligibility rules: add at least one rule.")
        )
    clean["rules"] = []
    for index, raw in enumerate(rules, start=1):
        where = _("Rule %(number)s") % {"number": index}
        condition = checker.condition(raw, where)
        if condition:
            clean["rules"].append(condition)
    if len(clean["rules"]) == len(rules):
        _check_contradictions(clean["rules"], checker)

    clean["ranking"] = []
    for index, raw in enumerate(document.get("ranking") or [], start=1):
        where = _("Ranking key %(number)s") % {"number": index}
        measure = checker.measure(raw, where, kinds={NUMBER, DATE, BOOL})
        if measure:
            order = raw.get("order", "desc")
            if order not in {"asc", "desc"}:
                checker.problem(where, _("order must be asc or desc"))
            measure["order"] = order
            clean["ranking"].append(measure)

    clean["quotas"] = _check_quotas(document.get("quotas") or {}, checker)
    clean["tiers"] = _check_tiers(document.get("tiers") or {}, checker)
    clean["lists"] = _check_lists(document.get("lists") or [], checker)
    batches = document.get("batches") or 1
    if isinstance(batches, bool) or not isinstance(batches, int) or batches < 1:
        checker.problems.append(
            _("Batches per list must be a whole number, 1 or more.")
        )
        batches = 1
    clean["batches"] = batches
    if checker.problems:
        raise RuleSetError(checker.problems)
    return clean


def _interval(condition: dict) -> tuple | None:
    """(low, low_open, high, high_open) a numeric or date condition allows, or None."""
    op, value = condition["op"], condition["value"]
    if op == "=":
        return (value, False, value, False)
    if op == ">":
        return (value, True, None, False)
    if op == ">=":
        return (value, False, None, False)
    if op == "<":
        return (None, False, value, True)
    if op == "<=":
        return (None, False, value, False)
    if op == "between":
        return (value[0], False, value[1], False)
    return None


def _check_contradictions(rules: list[dict], checker: _Checker) -> None:
    """Two rules on the same measure (and guard) that no subscriber can both meet."""
    groups: dict[tuple, list[tuple[int, dict]]] = {}
    for index, rule in enumerate(rules, start=1):
        guard = rule.get("only_when") or {}
        key = (
            measure_identity(rule),
            guard.get("attribute"),
            tuple(guard.get("values") or ()),
        )
        groups.setdefault(key, []).append((index, rule))
    for members in groups.values():
        for i, (first_no, first) in enumerate(members):
            for second_no, second in members[i + 1 :]:
                if _contradict(first, second):
                    checker.problems.append(
                        _(
                            "Rules %(first)s and %(second)s contradict each other: "
                            "no subscriber can meet both (%(a)s; %(b)s)."
                        )
                        % {
                            "first": first_no,
                            "second": second_no,
                            "a": condition_text(first),
                            "b": condition_text(second),
                        }
                    )


def _contradict(a: dict, b: dict) -> bool:
    if {a["op"], b["op"]} == {"is_empty", "is_not_empty"}:
        return True
    if "is_empty" in {a["op"], b["op"]} and {a["op"], b["op"]} != {"is_empty"}:
        return True
    allowed_a, allowed_b = _allowed_set(a), _allowed_set(b)
    if allowed_a is not None and allowed_b is not None:
        if not allowed_a & allowed_b:
            return True
    for allowed, other in ((allowed_a, b), (allowed_b, a)):
        if allowed is not None and other["op"] in {"!=", "not_in"}:
            excluded = set(
                other["value"] if other["op"] == "not_in" else [other["value"]]
            )
            if allowed <= excluded:
                return True
    ia, ib = _interval(a), _interval(b)
    if ia and ib:
        low, low_open = _tighter(ia[0], ia[1], ib[0], ib[1], lower=True)
        high, high_open = _tighter(ia[2], ia[3], ib[2], ib[3], lower=False)
        if low is not None and high is not None:
            if low > high or (low == high and (low_open or high_open)):
                return True
    return False


def _allowed_set(condition: dict) -> set | None:
    if condition["op"] == "=":
        return {condition["value"]}
    if condition["op"] == "in":
        return set(condition["value"])
    return None


def _tighter(a, a_open, b, b_open, *, lower: bool):
    if a is None:
        return b, b_open
    if b is None:
        return a, a_open
    if a == b:
        return a, a_open or b_open
    if (a > b) == lower:
        return a, a_open
    return b, b_open


def _attribute_list(raw: Any) -> list[str]:
    if isinstance(raw, str):
        raw = raw.split(",")
    return [str(item).strip() for item in raw or [] if str(item).strip()]


def _check_quotas(raw: dict, checker: _Checker) -> dict:
    total = raw.get("total")
    if total is not None and (
        isinstance(total, bool) or not isinstance(total, int) or total < 1
    ):
        checker.problems.append(_("The total quota must be a whole number, 1 or more."))
        total = None
    by = _attribute_list(raw.get("by"))
    spill = _attribute_list(raw.get("spill_within"))
    for name in by:
        if name not in ATTRIBUTES and not name.startswith("extra."):
            checker.problems.append(
                _("Quota by %(name)r: not an attribute of subscribers.")
                % {"name": name}
            )
    for name in spill:
        if name not in by:
            checker.problems.append(
                _(
                    "Spill-over within %(name)r: it must be one of the quota table's "
                    "attributes (%(by)s)."
                )
                % {"name": name, "by": ", ".join(by) or "—"}
            )
    if spill and len(spill) == len(by):
        checker.problems.append(
            _(
                "Spill-over within every attribute of the quota table leaves no "
                "sibling cell; name fewer attributes."
            )
        )
    cells, seen = [], {}
    for index, cell in enumerate(raw.get("cells") or [], start=1):
        key = cell.get("key")
        key = _attribute_list(key)
        seats = cell.get("seats")
        if len(key) != len(by):
            checker.problems.append(
                _(
                    "Quota cell %(number)s (%(key)s) needs one value for each of: "
                    "%(by)s."
                )
                % {"number": index, "key": ", ".join(key), "by": ", ".join(by) or "—"}
            )
            continue
        if isinstance(seats, bool) or not isinstance(seats, int) or seats < 0:
            checker.problems.append(
                _("Quota cell %(key)s: seats must be a whole number.")
                % {"key": ", ".join(key)}
            )
            continue
        folded = tuple(fold(part) for part in key)
        if folded in seen:
            checker.problems.append(
                _("Quota cell %(key)s appears twice.") % {"key": ", ".join(key)}
            )
            continue
        seen[folded] = index
        cells.append({"key": key, "seats": seats})
    if by and not cells:
        checker.problems.append(
            _("Quota by %(by)s has no cells: give each cell its seats.")
            % {"by": ", ".join(by)}
        )
    return {"total": total, "by": by, "spill_within": spill, "cells": cells}


def _check_tiers(raw: dict, checker: _Checker) -> dict:
    bands = raw.get("bands") or []
    if not bands:
        return {"measure": None, "bands": []}
    measure = raw.get("measure") or {}
    where = _("Tier measure")
    clean_measure = checker.measure(measure, where, kinds={NUMBER}) if measure else {}
    if not measure:
        checker.problems.append(
            _("Tiers need a measure to band, e.g. average revenue.")
        )
    clean_bands, spans = [], []
    for index, band in enumerate(bands, start=1):
        where = _("Tier %(code)s") % {"code": band.get("code") or index}
        low = band.get("min")
        high = band.get("max")
        low = checker.typed(low, NUMBER, where) if low not in (None, "") else None
        high = checker.typed(high, NUMBER, where) if high not in (None, "") else None
        if low is not None and high is not None and high <= low:
            checker.problem(where, _("the band is empty: 'below' must exceed 'from'"))
        channel = band.get("channel") or ""
        if channel and channel not in CHANNELS:
            checker.problem(
                where, _("unknown fulfilment %(channel)r") % {"channel": channel}
            )
        if not band.get("code"):
            checker.problem(where, _("give the tier a code"))
        clean_bands.append(
            {
                "code": str(band.get("code") or ""),
                "name": str(band.get("name") or band.get("code") or ""),
                "min": low,
                "max": high,
                "customer_group": str(band.get("customer_group") or ""),
                "gift_tier": str(band.get("gift_tier") or ""),
                "channel": channel,
                "list": str(band.get("list") or ""),
            }
        )
        spans.append((low, high, band.get("code")))
    ordered = sorted(spans, key=lambda s: (s[0] is not None, s[0] or 0))
    for (_low_a, high_a, code_a), (low_b, _high_b, code_b) in zip(
        ordered, ordered[1:], strict=False
    ):
        if high_a is None or (low_b is None) or low_b < high_a:
            checker.problems.append(
                _("Tiers %(a)s and %(b)s overlap; a subscriber must fall in one band.")
                % {"a": code_a, "b": code_b}
            )
    return {"measure": clean_measure or None, "bands": clean_bands}


def _check_lists(raw: list, checker: _Checker) -> list:
    lists = []
    for index, item in enumerate(raw, start=1):
        name = str(item.get("name") or "").strip()
        where = _("Sub-list %(name)s") % {"name": name or index}
        if not name:
            checker.problem(where, _("give the list a name"))
        when = item.get("when")
        condition = checker.condition(when, where, guard=False) if when else None
        if when and not condition:
            continue
        if condition is None and index != len(raw):
            checker.problem(
                where,
                _("a sub-list without a condition takes everyone left; put it last"),
            )
        lists.append({"name": name, "when": condition})
    return lists


# -- words -------------------------------------------------------------------------


def _cycle_text(month: str) -> str:
    year, number = month.split("-")
    return f"{number}/{year}"


def measure_text(measure: dict) -> str:
    """'average information revenue per cycle 09/2018–08/2019' and the like."""
    definition = MEASURES[measure["measure"]]
    key = measure["measure"]
    if key == "extra":
        return str(measure.get("attribute", ""))
    label = str(definition.label)
    if key in {"revenue_avg", "revenue_sum"}:
        column = measure.get("column", "total")
        label = f"{label} ({REVENUE_COLUMNS[column]})"
    if key == "in_list":
        label = f"{label} «{measure.get('list', '')}»"
    if key == "in_campaigns":
        if measure.get("campaign_kind"):
            label = _("member of a campaign of kind %(kind)s since %(since)s") % {
                "kind": CAMPAIGN_KIND_LABELS.get(
                    measure["campaign_kind"], measure["campaign_kind"]
                ),
                "since": date.fromisoformat(measure["since"]).strftime("%d/%m/%Y"),
            }
        else:
            label = _("member of another campaign running now")
    window = measure.get("window")
    if window:
        label = f"{label} {_cycle_text(window[0])}–{_cycle_text(window[1])}"
    return label


CAMPAIGN_KIND_LABELS = {
    "gift_online": gettext_lazy("gift chosen online"),
    "gift_by_spend": gettext_lazy("gift by spend band"),
    "outbound_call": gettext_lazy("outbound care calls"),
    "sim_swap": gettext_lazy("SIM swap at home"),
    "overseas_trip": gettext_lazy("overseas trip"),
    "other": gettext_lazy("other"),
}


def value_text(value: Any, kind: str) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(value_text(item, kind) for item in value)
    if kind == BOOL:
        return _("yes") if value else _("no")
    if kind == NUMBER:
        return number_format(value, use_l10n=True, force_grouping=True)
    if kind == DATE:
        return date.fromisoformat(value).strftime("%d/%m/%Y")
    return str(value)


def condition_text(condition: dict) -> str:
    """A condition in words: 'tenure ≥ 240 months', 'not on the named list «…»'."""
    kind = measure_kind(condition)
    label = measure_text(condition)
    op, value = condition["op"], condition.get("value")
    if kind == BOOL:
        text = label if value else _("not %(what)s") % {"what": label}
    elif op == "between":
        text = _("%(what)s between %(low)s and %(high)s") % {
            "what": label,
            "low": value_text(value[0], kind),
            "high": value_text(value[1], kind),
        }
    elif op in {"is_empty", "is_not_empty"}:
        text = f"{label} {OPERATORS[op]}"
    else:
        unit = MEASURES[condition["measure"]].unit
        shown = value_text(value, kind)
        if unit and op not in {"in", "not_in"}:
            shown = f"{shown} {unit}" if unit != "%" else f"{shown}%"
        text = f"{label} {OPERATORS[op]} {shown}"
    guard = condition.get("only_when")
    if guard:
        text += " " + _("(only when %(attribute)s is %(values)s)") % {
            "attribute": ATTRIBUTES[guard["attribute"]].label,
            "values": ", ".join(guard["values"]),
        }
    return text


def ruleset_summary(ruleset: dict) -> list[str]:
    """The rule set in words, one line per part, for the admin and the run."""
    lines = []
    if ruleset.get("scope"):
        lines.append(
            _("Province in %(provinces)s") % {"provinces": ", ".join(ruleset["scope"])}
        )
    conditions = [condition_text(rule) for rule in ruleset.get("rules", [])]
    if conditions:
        and_word = _("AND")
        lines.append(f" {and_word} ".join(conditions))
    ranking = [
        f"{measure_text(key)} "
        + (_("highest first") if key["order"] == "desc" else _("lowest first"))
        for key in ruleset.get("ranking", [])
    ]
    ranking.append(_("then by number (tie-break)"))
    lines.append(_("Ranked by %(keys)s") % {"keys": ", ".join(ranking)})
    quotas = ruleset.get("quotas") or {}
    if quotas.get("cells"):
        cells = "; ".join(
            f"{', '.join(cell['key'])}: {cell['seats']}" for cell in quotas["cells"]
        )
        line = _("Quota by %(by)s: %(cells)s") % {
            "by": ", ".join(quotas["by"]),
            "cells": cells,
        }
        if quotas.get("spill_within"):
            line += "; " + _("a short cell fills from its siblings within %(dims)s") % {
                "dims": ", ".join(quotas["spill_within"])
            }
        lines.append(line)
    if quotas.get("total"):
        lines.append(_("At most %(total)s members") % {"total": quotas["total"]})
    tiers = ruleset.get("tiers") or {}
    if tiers.get("bands"):
        bands = []
        for band in tiers["bands"]:
            low = value_text(band["min"], NUMBER) if band["min"] is not None else "…"
            high = value_text(band["max"], NUMBER) if band["max"] is not None else "…"
            bands.append(f"{band['name']} [{low}; {high})")
        lines.append(
            _("Tiers by %(measure)s: %(bands)s")
            % {"measure": measure_text(tiers["measure"]), "bands": "; ".join(bands)}
        )
    for item in ruleset.get("lists", []):
        if item["when"]:
            lines.append(
                _("List %(name)s: %(when)s")
                % {"name": item["name"], "when": condition_text(item["when"])}
            )
        else:
            lines.append(_("List %(name)s: everyone else") % {"name": item["name"]})
    if ruleset.get("batches", 1) > 1:
        lines.append(
            _("Each list split by rank into %(count)s batches")
            % {"count": ruleset["batches"]}
        )
    return lines
