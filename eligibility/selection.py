"""The selection engine: a clean rule set and a snapshot become SQL.

Everything happens in the database, as set-based SQL with window functions, on
PostgreSQL and (for the demo) SQLite alike:

    bill    one pass over the snapshot's billing rows in the widest window, one
            aggregate column per billing measure (GROUP BY msisdn), for the lines
            that pass the steps before the first one that reads billing (those who
            fail one of them leave the funnel there, counted apart)
    base    every subscriber with each measure, the number of the first step it
            fails (0: none), its quota cell, ranking keys, tier and sub-list
    ranked  the eligible, numbered overall and within their quota cell
    quota   the cell's seats; a cell that cannot fill its seats takes the next best
            of its sibling cells (spill-over); then the total cap
    final   selected or not, tier, list and batch (NTILE by rank within the list)

The eligible rows, selected or ranked below the cut, are inserted into the caller's
member table in the same statement; the statement returns the funnel (how many
subscribers each step removed). Values are inlined as SQL literals built here from
typed values only (numbers, dates, text with quotes doubled), so the statements run
without parameters and the text of a run can be logged and re-run as it is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Any

from django.db import connection
from django.utils.translation import gettext as _

from eligibility.fields import MSISDN_PATTERN
from eligibility.importers import SUBSCRIBER_COLUMNS
from eligibility.models import BillingRecord, NamedList, Snapshot, Subscriber
from eligibility.partitions import snapshot_rows_table
from eligibility.rules import (
    ATTRIBUTES,
    BANK_CHANNELS,
    BOOL,
    DATE,
    NUMBER,
    TEXT,
    RuleSetError,
    condition_text,
    cycles_between,
    fold,
    measure_identity,
    measure_kind,
    measure_text,
    month_of,
)

SUBSCRIBERS = Subscriber._meta.db_table
BILLING = BillingRecord._meta.db_table
LIST_ENTRIES = "eligibility_namedlistentry"
_CHOICE_COLUMNS = {
    column.name: column for column in SUBSCRIBER_COLUMNS if column.choices
}


@dataclass
class Context:
    """What the rule set refers to outside the snapshot, resolved by the caller."""

    snapshot: Snapshot
    # in_campaigns measure identity -> ids of the runs whose selected members count
    campaign_runs: dict[tuple, list[int]] = field(default_factory=dict)
    member_table: str = ""
    named_lists: dict[str, int] = field(default_factory=dict)


# -- literals ----------------------------------------------------------------------


def _is_postgres() -> bool:
    return connection.vendor == "postgresql"


def msisdn_literal(value: str) -> str:
    """A normalised number as the bigint the subscriber tables store."""
    text = str(value)
    if not re.fullmatch(MSISDN_PATTERN, text):
        raise RuleSetError(
            [_("%(value)r is not a number as 84 and nine digits.") % {"value": text}]
        )
    return text


def text_literal(value: str) -> str:
    value = str(value)
    if "\x00" in value:
        raise RuleSetError([_("A value contains a NUL character.")])
    return "'" + value.replace("'", "''") + "'"


def number_literal(value: Any) -> str:
    number = Decimal(str(value))
    if not number.is_finite():
        raise RuleSetError([_("%(value)s is not a number.") % {"value": value}])
    return format(number, "f")


def date_literal(value: date | str) -> str:
    if isinstance(value, str):
        value = date.fromisoformat(value)
    text = value.isoformat()
    return f"DATE '{text}'" if _is_postgres() else f"'{text}'"


def literal(value: Any, kind: str) -> str:
    if kind == NUMBER:
        return number_literal(value)
    if kind == DATE:
        return date_literal(value)
    if kind == BOOL:
        return "TRUE" if value else "FALSE"
    return text_literal(value)


def _year(expr: str) -> str:
    if _is_postgres():
        return f"CAST(EXTRACT(YEAR FROM {expr}) AS INTEGER)"
    return f"CAST(substr({expr}, 1, 4) AS INTEGER)"


def _month(expr: str) -> str:
    if _is_postgres():
        return f"CAST(EXTRACT(MONTH FROM {expr}) AS INTEGER)"
    return f"CAST(substr({expr}, 6, 2) AS INTEGER)"


def _day(expr: str) -> str:
    if _is_postgres():
        return f"CAST(EXTRACT(DAY FROM {expr}) AS INTEGER)"
    return f"CAST(substr({expr}, 9, 2) AS INTEGER)"


def _extra_text(name: str) -> str:
    if _is_postgres():
        return f"(s.extra ->> {text_literal(name)})"
    return f"json_extract(s.extra, {text_literal('$.' + _json_key(name))})"


def _json_key(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _extra_number(name: str) -> str:
    text = _extra_text(name)
    if _is_postgres():
        # A cell that is not a number is no value, not an error that stops the run.
        return (
            f"CASE WHEN {text} ~ '^\\s*-?[0-9]+(\\.[0-9]+)?\\s*$' "
            f"THEN CAST({text} AS NUMERIC) END"
        )
    return (
        f"CASE WHEN trim({text}) GLOB '*[0-9]*' AND trim({text}) NOT GLOB '*[^0-9.-]*' "
        f"THEN CAST({text} AS REAL) END"
    )


def _json_object(pairs: list[tuple[str, str]]) -> str:
    function = "jsonb_build_object" if _is_postgres() else "json_object"
    if not pairs:
        return f"{function}()"
    inner = ", ".join(f"{text_literal(key)}, {expr}" for key, expr in pairs)
    return f"{function}({inner})"


# -- checking against the snapshot --------------------------------------------------


def snapshot_cycles(snapshot: Snapshot) -> set[str]:
    """The billing cycles present in a snapshot, as YYYY-MM."""
    return set(snapshot.get_facts()["cycles"])


def ruleset_check_against_snapshot(ruleset: dict, *, snapshot: Snapshot | None) -> dict:
    """The clean rule set with place names and choice spellings resolved to the data.

    Raises RuleSetError for a missing snapshot, windows with cycles the snapshot does
    not hold, extra columns it does not have, named lists that do not exist, and
    places or values no subscriber has.
    """
    if snapshot is None:
        raise RuleSetError([_("The campaign has no snapshot: choose its data first.")])
    problems: list[str] = []
    resolved = {**ruleset}
    windows = []
    measures = [*ruleset["rules"], *ruleset["ranking"]]
    if ruleset["tiers"].get("measure"):
        measures.append(ruleset["tiers"]["measure"])
    measures += [item["when"] for item in ruleset["lists"] if item["when"]]
    for measure in measures:
        if measure.get("window"):
            windows.append((measure, measure["window"]))
    if windows:
        present = snapshot_cycles(snapshot)
        for measure, (first, last) in windows:
            wanted = [
                month_of(cycle)
                for cycle in cycles_between(
                    date.fromisoformat(first + "-01"), date.fromisoformat(last + "-01")
                )
            ]
            missing = [month for month in wanted if month not in present]
            if missing:
                shown = ", ".join(f"{m[5:]}/{m[:4]}" for m in missing)
                problems.append(
                    _(
                        "%(measure)s needs billing cycles the snapshot does not have: "
                        "%(missing)s."
                    )
                    % {"measure": measure_text(measure), "missing": shown}
                )
    extras = sorted(
        {m["attribute"] for m in measures if m["measure"] == "extra"}
        | {
            name[6:]
            for name in ruleset["quotas"].get("by", [])
            if name.startswith("extra.")
        }
    )
    for name in extras:
        if not _extra_exists(snapshot, name):
            problems.append(
                _("No subscriber of the snapshot has the extra column %(name)r.")
                % {"name": name}
            )
    list_names = {m["list"] for m in measures if m["measure"] == "in_list"}
    known_lists = dict(
        NamedList.objects.filter(name__in=list_names).values_list("name", "id")
    )
    for name in sorted(list_names - set(known_lists)):
        problems.append(_("There is no named list %(name)r.") % {"name": name})

    provinces = _distinct(snapshot, "province")
    districts = _distinct_pairs(snapshot)
    by_fold = {fold(p): p for p in provinces}
    scope = []
    for province in ruleset["scope"]:
        actual = by_fold.get(fold(province))
        if actual is None:
            problems.append(
                _("No subscriber of the snapshot lives in %(province)s (region scope).")
                % {"province": province}
            )
        else:
            scope.append(actual)
    resolved["scope"] = scope
    district_fold = {(fold(p), fold(d)): (p, d) for p, d in districts}
    phases = []
    for phase in ruleset["phases"]:
        places = []
        for place in phase.get("districts") or []:
            actual = district_fold.get(
                (fold(place["province"]), fold(place["district"]))
            )
            # A district with nobody in it is not an error: the phase still covers it.
            if actual:
                places.append({"province": actual[0], "district": actual[1]})
        phases.append(
            {
                "number": phase["number"],
                "districts": places,
                "all_remaining": not phase.get("districts"),
            }
        )
    resolved["phases"] = phases
    resolved["rules"] = [
        _resolve_values(rule, provinces, districts, problems)
        for rule in ruleset["rules"]
    ]
    resolved["lists"] = [
        {
            **item,
            "when": _resolve_values(item["when"], provinces, districts, problems)
            if item["when"]
            else None,
        }
        for item in ruleset["lists"]
    ]
    if problems:
        raise RuleSetError(problems)
    return resolved


def _extra_exists(snapshot: Snapshot, name: str) -> bool:
    with connection.cursor() as cursor:
        if _is_postgres():
            cursor.execute(
                f"SELECT 1 FROM {SUBSCRIBERS} WHERE snapshot_id = %s AND extra ? %s "
                "LIMIT 1",
                [snapshot.pk, name],
            )
        else:
            cursor.execute(
                f"SELECT 1 FROM {SUBSCRIBERS} WHERE snapshot_id = %s "
                "AND json_extract(extra, %s) IS NOT NULL LIMIT 1",
                [snapshot.pk, "$." + _json_key(name)],
            )
        return cursor.fetchone() is not None


def _distinct(snapshot: Snapshot, column: str) -> list[str]:
    return list(snapshot.get_facts()["provinces"])


def _distinct_pairs(snapshot: Snapshot) -> list[tuple[str, str]]:
    return [tuple(pair) for pair in snapshot.get_facts()["districts"]]


def _resolve_values(rule: dict, provinces, districts, problems: list[str]) -> dict:
    """Province and district names as the data spells them; choice spellings mapped."""
    key = rule["measure"]
    values = rule["value"] if isinstance(rule["value"], list) else [rule["value"]]
    if rule["op"] in {"is_empty", "is_not_empty"} or rule["op"] == "between":
        return rule
    if key in {"province", "district"}:
        known = provinces if key == "province" else sorted({d for _p, d in districts})
        by_fold = {}
        for name in known:
            by_fold.setdefault(fold(name), name)
        mapped = []
        for value in values:
            actual = by_fold.get(fold(value))
            if actual is None:
                problems.append(
                    _("%(rule)s: no subscriber of the snapshot has %(what)s %(value)s.")
                    % {
                        "rule": condition_text(rule),
                        "what": ATTRIBUTES[key].label,
                        "value": value,
                    }
                )
                mapped.append(value)
            else:
                mapped.append(actual)
        return {
            **rule,
            "value": mapped if isinstance(rule["value"], list) else mapped[0],
        }
    column = _CHOICE_COLUMNS.get(key)
    if column is not None:
        mapped = []
        for value in values:
            stored = column.choices.get(str(value).strip().lower())
            if stored is None:
                allowed = sorted(set(column.choices.values()) - {""})
                problems.append(
                    _("%(rule)s: %(value)r is not a %(what)s (one of: %(allowed)s).")
                    % {
                        "rule": condition_text(rule),
                        "value": value,
                        "what": ATTRIBUTES[key].label,
                        "allowed": ", ".join(allowed),
                    }
                )
                mapped.append(value)
            else:
                mapped.append(stored)
        return {
            **rule,
            "value": mapped if isinstance(rule["value"], list) else mapped[0],
        }
    return rule


# -- compiling ---------------------------------------------------------------------


# A typed NULL: PostgreSQL reads a bare NULL in a SELECT list as text.
NO_NUMBER = "CAST(NULL AS INTEGER)"
# How the SQL of a measure refers to a billing aggregate (see Compiler._bill).
BILL_REFERENCE = re.compile(r"\bb\.m[0-9]+\b")


@dataclass
class Step:
    """One step of the funnel: the condition a subscriber must meet to stay."""

    label: str
    sql: str


class Compiler:
    """SQL text for one clean, resolved rule set on one snapshot."""

    def __init__(self, ruleset: dict, context: Context):
        self.ruleset = ruleset
        self.context = context
        self.snapshot = context.snapshot
        reference = ruleset.get("reference_month")
        self.reference = date.fromisoformat(reference + "-01") if reference else None
        self.bill_columns: dict[tuple, tuple[str, str]] = {}
        self.windows: list[tuple[date, date]] = []
        # The steps base_select cut its rows by (see prefix).
        self.rows_prefix: list[Step] = []
        self.subscribers = snapshot_rows_table(SUBSCRIBERS, self.snapshot.pk)
        self.billing = snapshot_rows_table(BILLING, self.snapshot.pk)

    # measures ------------------------------------------------------------------

    def _window(self, measure: dict) -> tuple[date, date, int]:
        first, last = (date.fromisoformat(m + "-01") for m in measure["window"])
        self.windows.append((first, last))
        return first, last, len(cycles_between(first, last))

    def _bill(self, identity: tuple, function: str, expr: str, first, last) -> str:
        """Register a billing aggregate over a window; return its column in `b`."""
        if identity not in self.bill_columns:
            alias = f"m{len(self.bill_columns) + 1}"
            self.bill_columns[identity] = (alias, (function, expr, first, last))
        return "b." + self.bill_columns[identity][0]

    def _aggregate(self, function: str, expr: str, first, last, bounds) -> str:
        """An aggregate over its window; no filter when the window is the whole scan."""
        if (first, last) == bounds:
            return f"{function}({expr})"
        window = f"x.cycle BETWEEN {date_literal(first)} AND {date_literal(last)}"
        if _is_postgres():
            return f"{function}({expr}) FILTER (WHERE {window})"
        return f"{function}(CASE WHEN {window} THEN {expr} END)"

    def _revenue(self, column: str) -> str:
        if column == "information":
            return "(x.revenue_total - x.revenue_excluded)"
        return f"x.revenue_{column}"

    def measure_sql(self, measure: dict) -> str:
        key = measure["measure"]
        if key in ATTRIBUTES:
            return f"s.{key}"
        if key == "extra":
            if measure_kind(measure) == NUMBER:
                return _extra_number(measure["attribute"])
            return _extra_text(measure["attribute"])
        taken = self.snapshot.taken_on
        if key == "tenure_months":
            contract = "s.contract_date"
            return (
                f"({taken.year * 12 + taken.month} - ({_year(contract)} * 12 + "
                f"{_month(contract)}) - CASE WHEN {_day(contract)} > {taken.day} "
                "THEN 1 ELSE 0 END)"
            )
        if key == "age_years":
            born = "s.birth_date"
            return (
                f"({taken.year} - {_year(born)} - CASE WHEN {_month(born)} > "
                f"{taken.month} OR ({_month(born)} = {taken.month} AND {_day(born)} > "
                f"{taken.day}) THEN 1 ELSE 0 END)"
            )
        if key in {"revenue_avg", "revenue_sum"}:
            first, last, cycles = self._window(measure)
            total = self._bill(
                ("sum", measure["column"], first, last),
                "SUM",
                self._revenue(measure["column"]),
                first,
                last,
            )
            if key == "revenue_sum":
                return f"COALESCE({total}, 0)"
            if _is_postgres():
                return f"(CAST(COALESCE({total}, 0) AS NUMERIC) / {cycles})"
            return f"(COALESCE({total}, 0) * 1.0 / {cycles})"
        if key == "usage_share":
            first, last, _cycles = self._window(measure)
            total = self._bill(
                ("sum", "total", first, last), "SUM", "x.revenue_total", first, last
            )
            usage = self._bill(
                ("usage", first, last),
                "SUM",
                "x.revenue_voice + x.revenue_sms + x.revenue_data",
                first,
                last,
            )
            return f"(CASE WHEN {total} > 0 THEN 100.0 * {usage} / {total} END)"
        if key == "never_debt_blocked":
            first, last, _cycles = self._window(measure)
            blocked = self._bill(
                ("blocked", first, last),
                "MAX",
                "CASE WHEN x.debt_blocked THEN 1 ELSE 0 END",
                first,
                last,
            )
            return f"(COALESCE({blocked}, 0) = 0)"
        if key == "bank_paid_every_cycle":
            first, last, cycles = self._window(measure)
            channels = ", ".join(text_literal(c) for c in BANK_CHANNELS)
            paid = self._bill(
                ("bank_paid", first, last),
                "SUM",
                f"CASE WHEN x.paid AND x.payment_channel IN ({channels}) THEN 1 "
                "ELSE 0 END",
                first,
                last,
            )
            return f"(COALESCE({paid}, 0) = {cycles})"
        if key == "ownership_unchanged":
            first, _last, _cycles = self._window(measure)
            return (
                "(s.ownership_changed_on IS NULL OR s.ownership_changed_on < "
                f"{date_literal(first)})"
            )
        if key == "in_list":
            list_id = self.context.named_lists.get(measure["list"])
            if list_id is None:
                raise RuleSetError(
                    [_("There is no named list %(name)r.") % {"name": measure["list"]}]
                )
            return (
                f"(s.msisdn IN (SELECT CAST(l.msisdn AS BIGINT) FROM {LIST_ENTRIES} l "
                f"WHERE l.named_list_id = {int(list_id)}))"
            )
        if key == "in_campaigns":
            runs = self.context.campaign_runs.get(measure_identity(measure), [])
            if not runs or not self.context.member_table:
                return "(1 = 0)"
            ids = ", ".join(str(int(run)) for run in runs)
            return (
                f"(s.msisdn IN (SELECT CAST(c.msisdn AS BIGINT) "
                f"FROM {self.context.member_table} c "
                f"WHERE c.selected = TRUE AND c.run_id IN ({ids})))"
            )
        raise RuleSetError([_("Unknown measure %(key)r.") % {"key": key}])

    def condition_sql(self, condition: dict) -> str:
        kind = measure_kind(condition)
        expr = self.measure_sql(condition)
        op, value = condition["op"], condition.get("value")
        if kind == BOOL:
            sql = f"({expr}) = {'TRUE' if value else 'FALSE'}"
        elif op in {"is_empty", "is_not_empty"}:
            empty = (
                f"({expr} IS NULL OR {expr} = '')"
                if kind == TEXT
                else f"{expr} IS NULL"
            )
            sql = empty if op == "is_empty" else f"NOT {empty}"
        elif op in {"in", "not_in"}:
            items = ", ".join(literal(item, kind) for item in value)
            sql = f"{expr} {'IN' if op == 'in' else 'NOT IN'} ({items})"
        elif op == "between":
            sql = f"{expr} BETWEEN {literal(value[0], kind)} AND {literal(value[1], kind)}"
        else:
            sql = f"{expr} {'<>' if op == '!=' else op} {literal(value, kind)}"
        guard = condition.get("only_when")
        if guard:
            attribute = ATTRIBUTES[guard["attribute"]]
            items = ", ".join(literal(v, attribute.kind) for v in guard["values"])
            sql = f"(s.{attribute.key} NOT IN ({items}) OR ({sql}))"
        return f"({sql})"

    # the steps -------------------------------------------------------------------

    def steps(self) -> list[Step]:
        steps = []
        scope = self.ruleset["scope"]
        if scope:
            items = ", ".join(text_literal(p) for p in scope)
            steps.append(
                Step(
                    _("province in the campaign's region (%(provinces)s)")
                    % {"provinces": ", ".join(scope)},
                    f"(s.province IN ({items}))",
                )
            )
        for rule in self.ruleset["rules"]:
            steps.append(Step(condition_text(rule), self.condition_sql(rule)))
        phase = self.phase_sql()
        if phase:
            steps.append(
                Step(_("in a district of one of the phases"), f"({phase}) IS NOT NULL")
            )
        tier = self.tier_index_sql()
        if tier:
            steps.append(Step(_("in one of the tier bands"), f"({tier}) IS NOT NULL"))
        return steps

    def phase_sql(self) -> str | None:
        phases = self.ruleset.get("phases") or []
        if not phases:
            return None
        whens = []
        fallback = NO_NUMBER
        for phase in phases:
            if phase.get("all_remaining"):
                if fallback == NO_NUMBER:
                    fallback = str(int(phase["number"]))
                continue
            if not phase["districts"]:
                continue
            pairs = " OR ".join(
                f"(s.province = {text_literal(p['province'])} AND "
                f"s.district = {text_literal(p['district'])})"
                for p in phase["districts"]
            )
            whens.append(f"WHEN {pairs} THEN {int(phase['number'])}")
        if not whens:
            return fallback
        return f"CASE {' '.join(whens)} ELSE {fallback} END"

    def tier_value_sql(self) -> str | None:
        tiers = self.ruleset.get("tiers") or {}
        if not tiers.get("bands"):
            return None
        return self.measure_sql(tiers["measure"])

    def tier_index_sql(self) -> str | None:
        value = self.tier_value_sql()
        if value is None:
            return None
        whens = []
        for index, band in enumerate(self.ruleset["tiers"]["bands"], start=1):
            parts = []
            if band["min"] is not None:
                parts.append(f"{value} >= {number_literal(band['min'])}")
            if band["max"] is not None:
                parts.append(f"{value} < {number_literal(band['max'])}")
            whens.append(f"WHEN {' AND '.join(parts) or 'TRUE'} THEN {index}")
        return f"CASE {' '.join(whens)} END"

    def list_index_sql(self) -> str | None:
        lists = self.ruleset.get("lists") or []
        if not lists:
            return None
        whens = []
        for index, item in enumerate(lists, start=1):
            condition = self.condition_sql(item["when"]) if item["when"] else "TRUE"
            whens.append(f"WHEN {condition} THEN {index}")
        return f"CASE {' '.join(whens)} END"

    def dimension_sql(self, name: str) -> str:
        if name.startswith("extra."):
            return f"CAST({_extra_text(name[6:])} AS TEXT)"
        return f"CAST(s.{name} AS TEXT)"

    # the statements --------------------------------------------------------------

    def _bill_cte(self, passing: str | None = None) -> str:
        """The billing aggregates per line; with `passing`, only for the lines it keeps."""
        if not self.bill_columns:
            return ""
        first = min(window[0] for window in self.windows)
        last = max(window[1] for window in self.windows)
        aggregates = ", ".join(
            f"{self._aggregate(*aggregate, (first, last))} AS {alias}"
            for alias, aggregate in self.bill_columns.values()
        )
        only = (
            f" AND x.msisdn IN (SELECT s.msisdn FROM {self.subscribers} s WHERE "
            f"s.snapshot_id = {int(self.snapshot.pk)} AND {passing})"
            if passing
            else ""
        )
        return (
            f"bill AS (SELECT x.msisdn, {aggregates} FROM {self.billing} x "
            f"WHERE x.snapshot_id = {int(self.snapshot.pk)} AND x.cycle BETWEEN "
            f"{date_literal(first)} AND {date_literal(last)}{only} GROUP BY x.msisdn)"
        )

    @staticmethod
    def prefix(steps: list[Step]) -> list[Step]:
        """The steps before the first one that reads billing.

        A subscriber who fails one of them leaves the funnel there whatever their
        bills say, so billing is only aggregated for those who pass them all: for
        most programmes a small part of the snapshot (000: one line in 200).
        """
        prefix = []
        for step in steps:
            if BILL_REFERENCE.search(step.sql):
                break
            prefix.append(step)
        return prefix

    def prefix_funnel_select(self) -> str | None:
        """Where each subscriber leaves the funnel within the prefix (0: passes it).

        The prefix is the one `base_select` cut its rows by; None when it cut none.
        """
        prefix = self.rows_prefix
        if not prefix:
            return None
        whens = " ".join(
            f"WHEN NOT COALESCE({step.sql}, FALSE) THEN {index}"
            for index, step in enumerate(prefix, start=1)
        )
        return (
            f"SELECT CASE {whens} ELSE 0 END AS first_failed, COUNT(*) "
            f"FROM {self.subscribers} s WHERE s.snapshot_id = {int(self.snapshot.pk)} "
            "GROUP BY 1"
        )

    def base_select(
        self, *, msisdn: str | None = None, explain: bool = False
    ) -> tuple[str, str]:
        """(the bill CTE or '', the SELECT of the subscribers' rows).

        For a whole run the rows are those of the subscribers who pass the steps
        before billing is read (`prefix`); `prefix_funnel_select` counts the others.
        """
        steps = self.steps()
        self.step_labels = [step.label for step in steps]
        columns = [
            "s.msisdn",
            "s.full_name",
            "s.company",
            "s.province",
            "s.district",
        ]
        quotas = self.ruleset["quotas"]
        for index, name in enumerate(quotas.get("by") or [], start=1):
            columns.append(f"{self.dimension_sql(name)} AS d{index}")
        for index, key in enumerate(self.ruleset["ranking"], start=1):
            columns.append(f"{self.measure_sql(key)} AS k{index}")
        tier_value = self.tier_value_sql()
        columns.append(f"{tier_value or 'CAST(NULL AS NUMERIC)'} AS tv")
        columns.append(f"{self.tier_index_sql() or NO_NUMBER} AS ti")
        columns.append(f"{self.list_index_sql() or NO_NUMBER} AS li")
        columns.append(f"{self.phase_sql() or NO_NUMBER} AS phase")
        if explain:
            for index, step in enumerate(steps, start=1):
                columns.append(f"COALESCE({step.sql}, FALSE) AS c{index}")
            for index, rule in enumerate(self.ruleset["rules"], start=1):
                columns.append(f"{self.measure_sql(rule)} AS v{index}")
        whens = " ".join(
            f"WHEN NOT COALESCE({step.sql}, FALSE) THEN {index}"
            for index, step in enumerate(steps, start=1)
        )
        columns.append(
            f"CASE {whens} ELSE 0 END AS first_failed" if whens else "0 AS first_failed"
        )
        where = f"s.snapshot_id = {int(self.snapshot.pk)}"
        passing = None
        self.rows_prefix = []
        if msisdn is not None:
            where += f" AND s.msisdn = {msisdn_literal(msisdn)}"
        elif self.bill_columns and (prefix := self.prefix(steps)):
            self.rows_prefix = prefix
            passing = " AND ".join(f"COALESCE({step.sql}, FALSE)" for step in prefix)
            where += f" AND {passing}"
        bill = self._bill_cte(passing)
        if bill and msisdn is not None:
            bill = bill.replace(
                "GROUP BY x.msisdn",
                f"AND x.msisdn = {msisdn_literal(msisdn)} GROUP BY x.msisdn",
            )
        join = " LEFT JOIN bill b ON b.msisdn = s.msisdn" if bill else ""
        select = (
            f"SELECT {', '.join(columns)} FROM {self.subscribers} s{join} WHERE {where}"
        )
        return bill, select

    def order_by(self, alias: str) -> str:
        keys = []
        for index, key in enumerate(self.ruleset["ranking"], start=1):
            direction = "DESC" if key["order"] == "desc" else "ASC"
            keys.append(f"{alias}.k{index} {direction} NULLS LAST")
        keys.append(f"{alias}.msisdn ASC")
        return ", ".join(keys)

    def pipeline(self, base: str, run_id: int) -> tuple[list[str], str]:
        """(the CTEs after `base`, the SELECT of member rows) for the insert."""
        quotas = self.ruleset["quotas"]
        by = quotas.get("by") or []
        cells = quotas.get("cells") or []
        spill = quotas.get("spill_within") or []
        dims = [f"d{i}" for i in range(1, len(by) + 1)]
        ctes = []
        partition = (
            f"PARTITION BY {', '.join('e.' + d for d in dims)} " if cells else ""
        )
        ctes.append(
            "ranked AS (SELECT e.*, "
            f"ROW_NUMBER() OVER (ORDER BY {self.order_by('e')}) AS overall_rank, "
            f"ROW_NUMBER() OVER ({partition}ORDER BY {self.order_by('e')}) AS cell_rank "
            f"FROM {base} e WHERE e.first_failed = 0)"
        )
        if cells:
            rows = []
            for cell in cells:
                # Cell values are matched as the data spells them after folding.
                values = ", ".join(text_literal(v) for v in cell["key"])
                label = text_literal(" × ".join(cell["key"]))
                rows.append(f"({values}, {int(cell['seats'])}, {label})")
            cell_columns = ", ".join([*[f"c{d}" for d in dims], "seats", "label"])
            ctes.append(f"cells({cell_columns}) AS (VALUES {', '.join(rows)})")
            join = " AND ".join(f"q.c{d} = r.{d}" for d in dims)
            ctes.append(
                "quota AS (SELECT r.*, q.seats, q.label AS cell_label, "
                "CASE WHEN q.seats IS NOT NULL AND r.cell_rank <= q.seats THEN 1 "
                f"ELSE 0 END AS in_cell FROM ranked r LEFT JOIN cells q ON {join})"
            )
            if spill:
                spill_dims = [f"d{by.index(name) + 1}" for name in spill]
                group_cells = ", ".join(f"c.c{d}" for d in spill_dims)
                ctes.append(
                    "avail AS (SELECT cell_label, COUNT(*) AS n FROM quota "
                    "WHERE seats IS NOT NULL GROUP BY cell_label)"
                )
                ctes.append(
                    f"short AS (SELECT {', '.join(f'c.c{d} AS {d}' for d in spill_dims)}, "
                    "SUM(CASE WHEN c.seats > COALESCE(a.n, 0) THEN c.seats - "
                    "COALESCE(a.n, 0) ELSE 0 END) AS short FROM cells c "
                    f"LEFT JOIN avail a ON a.cell_label = c.label GROUP BY {group_cells})"
                )
                ctes.append(
                    "spill AS (SELECT q.msisdn, ROW_NUMBER() OVER (PARTITION BY "
                    f"{', '.join('q.' + d for d in spill_dims)} ORDER BY "
                    f"{self.order_by('q')}) AS spill_rank FROM quota q "
                    "WHERE q.seats IS NOT NULL AND q.in_cell = 0)"
                )
                short_join = " AND ".join(f"sh.{d} = q.{d}" for d in spill_dims)
                ctes.append(
                    "picked AS (SELECT q.*, CASE WHEN q.in_cell = 1 OR "
                    "sp.spill_rank <= sh.short THEN 1 ELSE 0 END AS picked, "
                    "CASE WHEN q.in_cell = 0 AND sp.spill_rank <= sh.short THEN 1 "
                    "ELSE 0 END AS spilled FROM quota q "
                    "LEFT JOIN spill sp ON sp.msisdn = q.msisdn "
                    f"LEFT JOIN short sh ON {short_join})"
                )
            else:
                ctes.append(
                    "picked AS (SELECT q.*, q.in_cell AS picked, 0 AS spilled FROM quota q)"
                )
        else:
            ctes.append(
                "picked AS (SELECT r.*, '' AS cell_label, 1 AS picked, 0 AS spilled "
                "FROM ranked r)"
            )
        total = quotas.get("total")
        if total:
            selected = (
                f"CASE WHEN p.picked = 1 AND ROW_NUMBER() OVER (PARTITION BY p.picked "
                f"ORDER BY {self.order_by('p')}) <= {int(total)} THEN 1 ELSE 0 END"
            )
        else:
            selected = "p.picked"
        ctes.append(f"final AS (SELECT p.*, {selected} AS sel FROM picked p)")

        bands = (self.ruleset.get("tiers") or {}).get("bands") or []
        lists = self.ruleset.get("lists") or []

        def by_tier(field_name: str) -> str:
            if not bands:
                return "''"
            whens = " ".join(
                f"WHEN {i} THEN {text_literal(band[field_name])}"
                for i, band in enumerate(bands, start=1)
            )
            return f"COALESCE(CASE f.ti {whens} END, '')"

        if lists:
            whens = " ".join(
                f"WHEN {i} THEN {text_literal(item['name'])}"
                for i, item in enumerate(lists, start=1)
            )
            list_name = f"COALESCE(CASE f.li {whens} END, {by_tier('list')})"
        else:
            list_name = by_tier("list")
        batches = int(self.ruleset.get("batches") or 1)
        batch = (
            f"CASE WHEN f.sel = 1 THEN NTILE({batches}) OVER (PARTITION BY f.sel, "
            f"{list_name} ORDER BY {self.order_by('f')}) END"
            if batches > 1
            else "CASE WHEN f.sel = 1 THEN 1 END"
        )
        values = [
            (measure_key(key), f"f.k{i}")
            for i, key in enumerate(self.ruleset["ranking"], start=1)
        ]
        if bands:
            values.append(("tier_value", "f.tv"))
        select = (
            f"SELECT {int(run_id)}, CAST(f.msisdn AS TEXT), f.sel = 1, f.overall_rank, "
            f"COALESCE(f.cell_label, ''), f.cell_rank, f.spilled = 1, "
            f"{by_tier('code')}, {by_tier('customer_group')}, {by_tier('gift_tier')}, "
            f"{by_tier('channel')}, {list_name}, {batch}, f.phase, "
            "COALESCE(f.full_name, ''), f.company, COALESCE(f.province, ''), "
            f"COALESCE(f.district, ''), {_json_object(values)} FROM final f"
        )
        return ctes, select


WORK_MEM = "256MB"

MEMBER_COLUMNS = (
    "run_id, msisdn, selected, rank, cell, cell_rank, spilled, tier, customer_group, "
    "gift_tier, channel, list_name, batch, phase, full_name, company, province, "
    'district, "values"'
)


def measure_key(measure: dict) -> str:
    """A short stable name for a measure in a member's values."""
    parts = [measure["measure"]]
    for name in ("attribute", "column", "list"):
        if measure.get(name):
            parts.append(str(measure[name]))
    if measure.get("window"):
        parts.append("..".join(measure["window"]))
    return ":".join(parts)


@dataclass
class Outcome:
    population: int
    funnel: list[dict]
    eligible: int
    selected: int


def selection_execute(
    *, ruleset: dict, context: Context, run_id: int, member_table: str
) -> Outcome:
    """Write the run's members and return the funnel; the caller owns the transaction."""
    compiler = Compiler(ruleset, context)
    bill, base = compiler.base_select()
    prefix_funnel = compiler.prefix_funnel_select()
    table = f"selection_base_{int(run_id)}"
    with_bill = f"WITH {bill} " if bill else ""
    with connection.cursor() as cursor:
        left_in_prefix = []
        if prefix_funnel:
            cursor.execute(prefix_funnel)
            left_in_prefix = [
                (0, step, count) for step, count in cursor.fetchall() if step
            ]
        if _is_postgres():
            # Sorts and hashes of a few million rows stay in memory instead of
            # spilling to disk, for this transaction only (the caller's).
            cursor.execute("SET LOCAL work_mem = %s", [WORK_MEM])
            # Every subscriber's row goes to a temporary table first, in a statement
            # of its own: a query holding an INSERT is never run in parallel, and the
            # billing aggregate over millions of rows is where parallel workers pay.
            cursor.execute(
                f"CREATE TEMP TABLE {table} ON COMMIT DROP AS {with_bill}{base}"
            )
            ctes, select = compiler.pipeline(table, run_id)
            cursor.execute(
                f"WITH {', '.join(ctes)}, ins AS (INSERT INTO {member_table} "
                f"({MEMBER_COLUMNS}) {select} RETURNING selected) "
                f"SELECT 0 AS part, first_failed AS step, COUNT(*) FROM {table} "
                "GROUP BY 2 UNION ALL SELECT 1, CASE WHEN selected THEN 1 ELSE 0 END, "
                "COUNT(*) FROM ins GROUP BY 2"
            )
            rows = left_in_prefix + cursor.fetchall()
            cursor.execute(f"DROP TABLE {table}")
        else:
            # SQLite has no INSERT inside WITH: the members are counted afterwards.
            cursor.execute(f"DROP TABLE IF EXISTS temp.{table}")
            cursor.execute(f"CREATE TEMP TABLE {table} AS {with_bill}{base}")
            ctes, select = compiler.pipeline(table, run_id)
            cursor.execute(
                f"INSERT INTO {member_table} ({MEMBER_COLUMNS}) "
                f"WITH {', '.join(ctes)} {select}"
            )
            cursor.execute(
                f"SELECT 0, first_failed, COUNT(*) FROM {table} GROUP BY 2 "
                f"UNION ALL SELECT 1, CASE WHEN selected THEN 1 ELSE 0 END, COUNT(*) "
                f"FROM {member_table} WHERE run_id = {int(run_id)} GROUP BY 2"
            )
            rows = left_in_prefix + cursor.fetchall()
            cursor.execute(f"DROP TABLE temp.{table}")
    failed: dict[int, int] = {}
    for part, step, count in rows:
        if part == 0:
            failed[step] = failed.get(step, 0) + count
    picked = {flag: count for part, flag, count in rows if part == 1}
    population = sum(failed.values())
    funnel, remaining = [], population
    for index, label in enumerate(compiler.step_labels, start=1):
        removed = failed.get(index, 0)
        remaining -= removed
        funnel.append({"step": label, "removed": removed, "remaining": remaining})
    eligible = failed.get(0, 0)
    return Outcome(
        population=population,
        funnel=funnel,
        eligible=eligible,
        selected=picked.get(1, 0),
    )


def selection_explain_row(
    *, ruleset: dict, context: Context, msisdn: str
) -> dict | None:
    """Every step's verdict and every rule's value for one subscriber, or None."""
    compiler = Compiler(ruleset, context)
    bill, base = compiler.base_select(msisdn=msisdn, explain=True)
    sql = f"WITH {bill} {base}" if bill else base
    with connection.cursor() as cursor:
        cursor.execute(sql)
        row = cursor.fetchone()
        if row is None:
            return None
        names = [column[0] for column in cursor.description]
    record = dict(zip(names, row, strict=True))
    record["msisdn"] = str(record["msisdn"])
    steps = [
        {"step": label, "passed": bool(record[f"c{index}"])}
        for index, label in enumerate(compiler.step_labels, start=1)
    ]
    values = [record[f"v{index}"] for index in range(1, len(ruleset["rules"]) + 1)]
    return {"record": record, "steps": steps, "rule_values": values}
