"""A campaign's selection definition as a rule-set document, and back.

The admin edits rows (SelectionRule, RankingKey, QuotaCell, Tier, SubList and a few
campaign fields); the engine (eligibility.rules / eligibility.selection), definition
files and frozen runs use the plain document. These two functions are the only
translation between the two.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from campaigns.models import (
    Campaign,
    QuotaCell,
    RankingKey,
    SelectionRule,
    SubList,
    Tier,
)
from eligibility.models import NamedList
from eligibility.rules import (
    MEASURES,
    ORDERED_OPS,
    RuleSetError,
    parse_number,
    value_from_text,
)


def _measure_from_row(row) -> dict[str, Any]:
    key = row.measure
    measure: dict[str, Any] = {"measure": key}
    params = MEASURES[key].params if key in MEASURES else ()
    if "attribute" in params:
        measure["attribute"] = row.attribute
    if "column" in params:
        measure["column"] = row.revenue_column or "total"
    if "window" in params:
        measure["window"] = [row.window_from, row.window_to]
    if "list" in params:
        measure["list"] = row.named_list.name if row.named_list_id else ""
    if "campaign_kind" in params:
        measure["campaign_kind"] = row.campaign_kind
        if row.campaigns_since:
            measure["since"] = row.campaigns_since.isoformat()
    return measure


def _condition_from_row(row) -> dict[str, Any]:
    condition = _measure_from_row(row)
    condition["op"] = row.operator
    kind = MEASURES[row.measure].kind if row.measure in MEASURES else None
    if row.measure == "extra" and row.operator in ORDERED_OPS:
        kind = "number"
    try:
        condition["value"] = value_from_text(row.value, kind or "text", row.operator)
    except ValueError:
        condition["value"] = row.value
    return condition


def _row_value_text(condition: dict) -> str:
    value = condition.get("value")
    if value is None:
        return ""
    if condition.get("op") == "between":
        return f"{value[0]}..{value[1]}"
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def ruleset_from_campaign(campaign: Campaign) -> dict[str, Any]:
    """The campaign's selection definition as an unchecked rule-set document."""
    rules = []
    for row in campaign.selection_rules.select_related("named_list"):
        condition = _condition_from_row(row)
        if row.only_when_attribute:
            condition["only_when"] = {
                "attribute": row.only_when_attribute,
                "values": [
                    v.strip() for v in row.only_when_values.split(",") if v.strip()
                ],
            }
        rules.append(condition)
    ranking = []
    for row in campaign.ranking_keys.select_related("named_list"):
        key = _measure_from_row(row)
        key["order"] = "desc" if row.descending else "asc"
        ranking.append(key)
    cells = [
        {"key": [part.strip() for part in cell.key.split(",")], "seats": cell.seats}
        for cell in campaign.quota_cells.all()
    ]
    tier_measure = None
    if campaign.tier_measure:
        tier_measure = {"measure": campaign.tier_measure}
        params = MEASURES.get(campaign.tier_measure)
        params = params.params if params else ()
        if "column" in params:
            tier_measure["column"] = campaign.tier_revenue_column or "total"
        if "window" in params:
            tier_measure["window"] = [
                campaign.tier_window_from,
                campaign.tier_window_to,
            ]
    bands = [
        {
            "code": tier.code,
            "name": tier.name,
            "min": tier.min_value,
            "max": tier.max_value,
            "customer_group": tier.customer_group,
            "gift_tier": tier.gift_tier,
            "channel": tier.channel,
            "list": tier.list_name,
        }
        for tier in campaign.tiers.all()
    ]
    lists = []
    for row in campaign.sub_lists.select_related("named_list"):
        lists.append(
            {
                "name": row.name,
                "when": _condition_from_row(row) if row.measure else None,
            }
        )
    return {
        "scope": list(campaign.region_scope or []),
        "phases": [
            {"number": phase.number, "districts": list(phase.districts)}
            for phase in campaign.phases.order_by("number")
        ],
        "rules": rules,
        "ranking": ranking,
        "quotas": {
            "total": campaign.quota_total,
            "by": [p.strip() for p in campaign.quota_by.split(",") if p.strip()],
            "spill_within": [
                p.strip() for p in campaign.quota_spill_within.split(",") if p.strip()
            ],
            "cells": cells,
        },
        "tiers": {"measure": tier_measure, "bands": bands},
        "lists": lists,
        "batches": campaign.batch_count,
    }


def campaign_reference_month(campaign: Campaign) -> date | None:
    """n of relative windows: the first day of the campaign's first month."""
    if campaign.starts_on is None:
        return None
    return campaign.starts_on.replace(day=1)


# -- definition files: the selection part ----------------------------------------


def selection_export(campaign: Campaign) -> dict[str, Any]:
    """The selection keys of a definition file, readable and free of row ids."""
    document = ruleset_from_campaign(campaign)
    rules = [_readable(rule) for rule in document["rules"]]
    tiers = document["tiers"]
    return {
        "kind": str(campaign.kind),
        "rules": rules,
        "ranking": document["ranking"],
        "quotas": {
            key: value
            for key, value in document["quotas"].items()
            if value not in (None, [], "")
        },
        "tiers": {
            "measure": tiers["measure"],
            "bands": [
                {
                    key: (_plain(value) if key in {"min", "max"} else value)
                    for key, value in band.items()
                    if value not in (None, "")
                }
                for band in tiers["bands"]
            ],
        }
        if tiers["bands"]
        else {},
        "lists": [
            {
                "name": item["name"],
                **({"when": _readable(item["when"])} if item["when"] else {}),
            }
            for item in document["lists"]
        ],
        "batch_count": document["batches"],
    }


def _readable(condition: dict) -> dict:
    """A condition for a file: numbers as numbers, no empty parameters."""
    clean = {}
    for key, value in condition.items():
        if key != "value" and value in (None, "", []):
            continue
        clean[key] = value
    kind = (
        MEASURES[condition["measure"]].kind if condition["measure"] in MEASURES else ""
    )
    value = condition.get("value")
    if kind == "number" or (
        condition["measure"] == "extra" and condition["op"] in ORDERED_OPS
    ):
        clean["value"] = _numbers(value)
    return clean


def _numbers(value):
    if isinstance(value, list):
        return [_numbers(item) for item in value]
    try:
        return _plain(parse_number(value))
    except (ValueError, TypeError):
        return value


def _plain(value):
    if value is None:
        return None
    return int(value) if value == int(value) else float(value)


def _fill_measure(row, measure: dict, problems: list[str], where: str) -> None:
    row.measure = measure.get("measure") or ""
    row.attribute = measure.get("attribute") or ""
    row.revenue_column = measure.get("column") or ""
    window = measure.get("window") or ["", ""]
    row.window_from, row.window_to = (str(part) for part in window[:2])
    if measure.get("list"):
        named = NamedList.objects.filter(name=measure["list"]).first()
        if named is None:
            problems.append(
                _("%(where)s: there is no named list %(name)r.")
                % {"where": where, "name": measure["list"]}
            )
        row.named_list = named
    row.campaign_kind = measure.get("campaign_kind") or ""
    since = measure.get("since")
    row.campaigns_since = date.fromisoformat(str(since)) if since else None


@transaction.atomic
def selection_apply(*, campaign: Campaign, selection: dict[str, Any]) -> None:
    """Replace the campaign's selection rows with a checked definition's selection part."""
    problems: list[str] = []
    campaign.selection_rules.all().delete()
    campaign.ranking_keys.all().delete()
    campaign.quota_cells.all().delete()
    campaign.tiers.all().delete()
    campaign.sub_lists.all().delete()
    for position, rule in enumerate(selection.get("rules") or [], start=1):
        row = SelectionRule(campaign=campaign, position=position)
        where = _("Rule %(number)s") % {"number": position}
        _fill_measure(row, rule, problems, where)
        row.operator = rule.get("op") or ""
        row.value = _row_value_text(rule)
        guard = rule.get("only_when") or {}
        row.only_when_attribute = guard.get("attribute") or ""
        row.only_when_values = ", ".join(guard.get("values") or [])
        row.save()
    for position, key in enumerate(selection.get("ranking") or [], start=1):
        row = RankingKey(
            campaign=campaign, position=position, descending=key.get("order") != "asc"
        )
        _fill_measure(
            row, key, problems, _("Ranking key %(number)s") % {"number": position}
        )
        row.save()
    quotas = selection.get("quotas") or {}
    campaign.quota_total = quotas.get("total")
    campaign.quota_by = ", ".join(quotas.get("by") or [])
    campaign.quota_spill_within = ", ".join(quotas.get("spill_within") or [])
    QuotaCell.objects.bulk_create(
        QuotaCell(
            campaign=campaign,
            key=", ".join(str(part) for part in cell["key"]),
            seats=cell["seats"],
        )
        for cell in quotas.get("cells") or []
    )
    tiers = selection.get("tiers") or {}
    measure = tiers.get("measure") or {}
    campaign.tier_measure = measure.get("measure") or ""
    campaign.tier_revenue_column = measure.get("column") or ""
    window = measure.get("window") or ["", ""]
    campaign.tier_window_from, campaign.tier_window_to = (str(p) for p in window[:2])
    for position, band in enumerate(tiers.get("bands") or [], start=1):
        Tier.objects.create(
            campaign=campaign,
            position=position,
            code=band["code"],
            name=band.get("name") or band["code"],
            min_value=band.get("min"),
            max_value=band.get("max"),
            customer_group=band.get("customer_group") or "",
            gift_tier=band.get("gift_tier") or "",
            channel=band.get("channel") or "",
            list_name=band.get("list") or "",
        )
    for position, item in enumerate(selection.get("lists") or [], start=1):
        row = SubList(campaign=campaign, position=position, name=item["name"])
        when = item.get("when")
        if when:
            _fill_measure(
                row, when, problems, _("Sub-list %(name)s") % {"name": item["name"]}
            )
            row.operator = when.get("op") or ""
            row.value = _row_value_text(when)
        row.save()
    campaign.kind = selection.get("kind") or campaign.kind
    campaign.batch_count = selection.get("batch_count") or 1
    campaign.save()
    if problems:
        raise RuleSetError(problems)


def selection_copy(*, source: Campaign, target: Campaign) -> None:
    """Give `target` the selection definition of `source` (campaign copy)."""
    selection_apply(campaign=target, selection=selection_export(source))
