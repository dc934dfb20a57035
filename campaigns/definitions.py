"""Campaign definition files: a campaign's whole definition as YAML, out and back in.

A file is checked completely before anything is written: `definition_parse` either
returns a clean definition (a dict shaped like `definition_export`'s) or raises
`DefinitionError` listing every problem with the key path and line it is on, such as
"line 12, phases[1].ends_on: not a date (YYYY-MM-DD)". `services.campaign_import`
writes a clean definition in one transaction.

The selection keys (`kind`, `rules`, `ranking`, `quotas`, `tiers`, `lists`,
`batch_count`) are checked by the rules engine (`eligibility.rules.ruleset_check`), whose
messages name the rule ("Rule 3: …").
"""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

import yaml
from django.utils.translation import gettext as _

from campaigns.models import Campaign, CampaignPhase, find_overlap
from campaigns.selection import selection_export
from eligibility.models import DomainError
from eligibility.rules import CAMPAIGN_KINDS, RuleSetError, ruleset_check

FORMAT_VERSION = 1

KEYS = (
    "version",
    "code",
    "name",
    "owning_unit",
    "description",
    "starts_on",
    "ends_on",
    "until_gifts_run_out",
    "region_scope",
    "phases",
    "batches",
    "kind",
    "rules",
    "ranking",
    "quotas",
    "tiers",
    "lists",
    "batch_count",
)
SELECTION_KEYS = ("kind", "rules", "ranking", "quotas", "tiers", "lists", "batch_count")
PHASE_KEYS = ("number", "name", "starts_on", "ends_on", "districts")
BATCH_KEYS = ("number", "name", "starts_on", "ends_on")
DISTRICT_KEYS = ("province", "district")

CODE_PATTERN = re.compile(r"^[-a-zA-Z0-9_]+$")
CODE_MAX = Campaign._meta.get_field("code").max_length
NAME_MAX = Campaign._meta.get_field("name").max_length
UNIT_MAX = Campaign._meta.get_field("owning_unit").max_length
PART_NAME_MAX = CampaignPhase._meta.get_field("name").max_length
NUMBER_MAX = 32767

HEADER = (
    "# Campaign definition, format version {version}.\n"
    "# Check it with `manage.py campaign_import FILE`; load it with --commit.\n"
)


class DefinitionError(DomainError):
    """A definition file with problems; `problems` lists each one, str() joins them."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("\n".join(problems))


def definition_export(*, campaign: Campaign) -> dict[str, Any]:
    """The campaign's whole definition, in the key order of the file."""
    return {
        "version": FORMAT_VERSION,
        "code": campaign.code,
        "name": campaign.name,
        "owning_unit": campaign.owning_unit,
        "description": campaign.description,
        "starts_on": campaign.starts_on,
        "ends_on": campaign.ends_on,
        "until_gifts_run_out": campaign.until_gifts_run_out,
        "region_scope": list(campaign.region_scope),
        "phases": [
            {
                "number": phase.number,
                "name": phase.name,
                "starts_on": phase.starts_on,
                "ends_on": phase.ends_on,
                "districts": [
                    {key: district[key] for key in DISTRICT_KEYS}
                    for district in phase.districts
                ],
            }
            for phase in campaign.phases.order_by("number")
        ],
        "batches": [
            {
                "number": batch.number,
                "name": batch.name,
                "starts_on": batch.starts_on,
                "ends_on": batch.ends_on,
            }
            for batch in campaign.batches.order_by("number")
        ],
        **selection_export(campaign),
    }


def definition_dump(definition: dict[str, Any]) -> str:
    """YAML text for a definition; dates stay unquoted so they read back as dates."""
    body = yaml.safe_dump(definition, allow_unicode=True, sort_keys=False, width=88)
    return HEADER.format(version=definition["version"]) + body


def definition_changes(*, campaign: Campaign, definition: dict[str, Any]) -> list[str]:
    """The top-level keys whose value in `definition` differs from the campaign's."""
    current = definition_export(campaign=campaign)
    return [key for key in KEYS if key != "version" and current[key] != definition[key]]


def definition_parse(text: str) -> dict[str, Any]:
    """Check a definition file's text; return the clean definition or raise."""
    try:
        root = yaml.compose(text, Loader=_Loader)
        data = yaml.load(text, Loader=_Loader)  # _Loader is a SafeLoader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = _("line %(line)s: ") % {"line": mark.line + 1} if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise DefinitionError(
            [where + _("not valid YAML (%(problem)s)") % {"problem": problem}]
        ) from exc
    checker = _Checker(root)
    definition = checker.definition(data)
    if checker.problems:
        raise DefinitionError(checker.problems)
    return definition


class _Loader(yaml.SafeLoader):
    """safe_load, except that dates stay text until checked.

    PyYAML turns 2021-06-31 into a ValueError with no key path; as text it reaches
    the checker, which names the field.
    """


_Loader.add_constructor("tag:yaml.org,2002:timestamp", _Loader.construct_yaml_str)


class _Checker:
    """Collects every problem of a parsed file, each named by its key path and line."""

    def __init__(self, root: yaml.Node | None):
        self.problems: list[str] = []
        self.lines: dict[str, int] = {}
        if root is not None:
            self._map_lines(root, "")

    def _map_lines(self, node: yaml.Node, path: str) -> None:
        self.lines[path] = node.start_mark.line + 1
        if isinstance(node, yaml.MappingNode):
            seen = set()
            for key_node, value_node in node.value:
                key = key_node.value
                child = f"{path}.{key}" if path else str(key)
                if key in seen:
                    self.problems.append(
                        self._where(child, key_node.start_mark.line + 1)
                        + _("duplicate key")
                    )
                seen.add(key)
                self._map_lines(value_node, child)
        elif isinstance(node, yaml.SequenceNode):
            for index, item in enumerate(node.value):
                self._map_lines(item, f"{path}[{index}]")

    def _where(self, path: str, line: int | None = None) -> str:
        line = line or self._line(path)
        prefix = _("line %(line)s, ") % {"line": line} if line else ""
        return f"{prefix}{path or _('file')}: "

    def _line(self, path: str) -> int | None:
        # A missing key has no line of its own; the mapping that lacks it does.
        while path and path not in self.lines:
            parent = re.sub(r"(\.[^.\[]+|\[\d+\])$", "", path)
            path = parent if parent != path else ""
        return self.lines.get(path)

    def problem(self, path: str, message: str) -> None:
        self.problems.append(self._where(path) + message)

    # -- the shape of a file

    def definition(self, data: Any) -> dict[str, Any]:
        if not isinstance(data, dict):
            self.problem("", _("expected a mapping of keys (code: …, name: …)"))
            return {}
        self._keys(data, "", KEYS)
        version = data.get("version")
        if "version" not in data:
            self.problem("version", _("missing"))
        elif version != FORMAT_VERSION or isinstance(version, bool):
            self.problem(
                "version",
                _("unsupported version %(found)r (this portal reads %(version)s)")
                % {"found": version, "version": FORMAT_VERSION},
            )
        result = {
            "version": FORMAT_VERSION,
            "code": self._code(data),
            "name": self._text(data, "name", "name", NAME_MAX, required=True),
            "owning_unit": self._text(data, "owning_unit", "owning_unit", UNIT_MAX),
            "description": self._text(data, "description", "description"),
            "starts_on": self._date(data, "starts_on", "starts_on"),
            "ends_on": self._date(data, "ends_on", "ends_on"),
            "until_gifts_run_out": self._bool(data, "until_gifts_run_out"),
            "region_scope": self._provinces(data),
            "phases": self._phases(data),
            "batches": self._batches(data),
        }
        self._ends_after_start(result, "")
        result.update(self._selection(data, result))
        return result

    def _selection(self, data: dict, result: dict) -> dict:
        kind = data.get("kind") or "other"
        if kind not in CAMPAIGN_KINDS:
            self.problem(
                "kind",
                _("unknown kind %(kind)r (one of: %(kinds)s)")
                % {"kind": kind, "kinds": ", ".join(CAMPAIGN_KINDS)},
            )
        selection = {
            "kind": kind,
            "rules": self._list(data, "rules", "rules"),
            "ranking": self._list(data, "ranking", "ranking"),
            "quotas": data.get("quotas") or {},
            "tiers": data.get("tiers") or {},
            "lists": self._list(data, "lists", "lists"),
            "batch_count": data.get("batch_count") or 1,
        }
        for key in ("quotas", "tiers"):
            if not isinstance(selection[key], dict):
                self.problem(key, _("expected a mapping"))
                selection[key] = {}
        for cell in selection["quotas"].get("cells") or []:
            # Cell values are compared as text with the data's (company 1 is "1").
            if isinstance(cell, dict) and isinstance(cell.get("key"), list):
                cell["key"] = [str(part) for part in cell["key"]]
        for key in ("rules", "ranking", "lists"):
            for index, item in enumerate(selection[key]):
                if not isinstance(item, dict):
                    self.problem(f"{key}[{index}]", _("expected a mapping"))
        if self.problems:
            return selection
        # A draft may have no rules yet; anything written must make sense.
        if selection["rules"]:
            starts_on = result.get("starts_on")
            document = {
                "rules": selection["rules"],
                "ranking": selection["ranking"],
                "quotas": selection["quotas"],
                "tiers": selection["tiers"],
                "lists": selection["lists"],
                "batches": selection["batch_count"],
            }
            try:
                ruleset_check(
                    document, reference=starts_on.replace(day=1) if starts_on else None
                )
            except RuleSetError as exc:
                self.problems.extend(exc.problems)
        return selection

    def _keys(self, data: dict, path: str, allowed: tuple[str, ...]) -> None:
        for key in data:
            if key not in allowed:
                where = f"{path}.{key}" if path else str(key)
                self.problem(
                    where,
                    _("unknown key (expected one of: %(keys)s)")
                    % {"keys": ", ".join(allowed)},
                )

    def _code(self, data: dict) -> str:
        code = data.get("code")
        if code is None:
            self.problem("code", _("missing"))
        elif not isinstance(code, str) or not CODE_PATTERN.match(code):
            self.problem(
                "code", _("must be letters, digits, hyphens or underscores, no spaces")
            )
        elif len(code) > CODE_MAX:
            self.problem(
                "code", _("longer than %(max)s characters") % {"max": CODE_MAX}
            )
        else:
            return code
        return ""

    def _text(
        self,
        data: dict,
        key: str,
        path: str,
        max_length: int | None = None,
        required: bool = False,
    ) -> str:
        value = data.get(key)
        if value is None or value == "":
            if required:
                self.problem(path, _("missing"))
            return ""
        if not isinstance(value, str):
            self.problem(path, _("must be text"))
            return ""
        if max_length and len(value) > max_length:
            self.problem(
                path, _("longer than %(max)s characters") % {"max": max_length}
            )
        return value

    def _date(
        self, data: dict, key: str, path: str, required: bool = False
    ) -> date | None:
        value = data.get(key)
        if value is None:
            if required:
                self.problem(path, _("missing"))
            return None
        if isinstance(value, date) and not isinstance(value, datetime):
            return value
        if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
            try:
                return date.fromisoformat(value)
            except ValueError:
                pass
        self.problem(path, _("not a date (YYYY-MM-DD)"))
        return None

    def _bool(self, data: dict, key: str) -> bool:
        value = data.get(key, False)
        if value is None:
            return False
        if not isinstance(value, bool):
            self.problem(key, _("must be true or false"))
            return False
        return value

    def _number(self, data: dict, path: str) -> int:
        value = data.get("number")
        if value is None:
            self.problem(f"{path}.number", _("missing"))
        elif isinstance(value, bool) or not isinstance(value, int):
            self.problem(f"{path}.number", _("must be a whole number"))
        elif not 1 <= value <= NUMBER_MAX:
            self.problem(f"{path}.number", _("must be 1 or more"))
        else:
            return value
        return 0

    def _list(self, data: dict, key: str, path: str) -> list:
        value = data.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            self.problem(path, _("must be a list"))
            return []
        return value

    def _ends_after_start(self, item: dict, path: str) -> None:
        starts_on, ends_on = item.get("starts_on"), item.get("ends_on")
        if starts_on and ends_on and ends_on < starts_on:
            where = f"{path}.ends_on" if path else "ends_on"
            self.problem(where, _("before starts_on"))

    def _provinces(self, data: dict) -> list[str]:
        provinces = []
        for index, value in enumerate(self._list(data, "region_scope", "region_scope")):
            if not isinstance(value, str) or not value.strip():
                self.problem(f"region_scope[{index}]", _("must be a province name"))
            else:
                provinces.append(value)
        return provinces

    def _mappings(self, data: dict, key: str, allowed: tuple[str, ...]):
        for index, item in enumerate(self._list(data, key, key)):
            path = f"{key}[{index}]"
            if not isinstance(item, dict):
                self.problem(path, _("expected a mapping (number: …, name: …)"))
                continue
            self._keys(item, path, allowed)
            yield path, item

    def _unique_numbers(self, parts: list[dict], key: str) -> None:
        seen: dict[int, int] = {}
        for index, part in enumerate(parts):
            number = part["number"]
            if number and number in seen:
                self.problem(
                    f"{key}[{index}].number",
                    _("number %(number)s is already used by %(key)s[%(other)s]")
                    % {"number": number, "key": key, "other": seen[number]},
                )
            seen.setdefault(number, index)

    def _phases(self, data: dict) -> list[dict]:
        problems_before = len(self.problems)
        phases = []
        for path, item in self._mappings(data, "phases", PHASE_KEYS):
            phase = {
                "number": self._number(item, path),
                "name": self._text(item, "name", f"{path}.name", PART_NAME_MAX),
                "starts_on": self._date(
                    item, "starts_on", f"{path}.starts_on", required=True
                ),
                "ends_on": self._date(item, "ends_on", f"{path}.ends_on"),
                "districts": self._districts(item, path),
            }
            self._ends_after_start(phase, path)
            phases.append(phase)
        self._unique_numbers(phases, "phases")
        # Overlaps are judged only on good dates: a bad end date reads as "runs on".
        if len(self.problems) > problems_before:
            return phases
        overlap = find_overlap(
            (phase["starts_on"], phase["ends_on"]) for phase in phases
        )
        if overlap:
            first, second = sorted(overlap)
            self.problem(
                f"phases[{second}]",
                _("overlaps phases[%(first)s]; phases must not share a day")
                % {"first": first},
            )
        return phases

    def _districts(self, item: dict, path: str) -> list[dict[str, str]]:
        districts = []
        for index, value in enumerate(
            self._list(item, "districts", f"{path}.districts")
        ):
            where = f"{path}.districts[{index}]"
            if not isinstance(value, dict):
                self.problem(where, _("expected {province: …, district: …}"))
                continue
            self._keys(value, where, DISTRICT_KEYS)
            district = {}
            for key in DISTRICT_KEYS:
                text = value.get(key)
                if not isinstance(text, str) or not text.strip():
                    self.problem(f"{where}.{key}", _("missing"))
                district[key] = text
            districts.append(district)
        return districts

    def _batches(self, data: dict) -> list[dict]:
        batches = []
        for path, item in self._mappings(data, "batches", BATCH_KEYS):
            batch = {
                "number": self._number(item, path),
                "name": self._text(item, "name", f"{path}.name", PART_NAME_MAX),
                "starts_on": self._date(item, "starts_on", f"{path}.starts_on"),
                "ends_on": self._date(item, "ends_on", f"{path}.ends_on"),
            }
            self._ends_after_start(batch, path)
            batches.append(batch)
        self._unique_numbers(batches, "batches")
        return batches
