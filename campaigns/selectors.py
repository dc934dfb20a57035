"""Reads of campaigns for pages, exports and the demo."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Any

from django.db.models import QuerySet
from django.utils.formats import number_format
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy as _l

from campaigns.models import (
    Campaign,
    CampaignEvent,
    ProvinceDistrict,
    SelectionMember,
    SelectionRun,
)
from eligibility.models import DomainError, NamedList
from eligibility.rules import condition_text
from eligibility.selection import Context, measure_key, selection_explain_row
from eligibility.selectors import msisdn_normalise, spreadsheet_safe


def campaign_get_by_code(*, code: str) -> Campaign:
    """The campaign with this code, or a DomainError naming the code."""
    campaign = Campaign.objects.filter(code=code).first()
    if campaign is None:
        raise DomainError(_("No campaign has the code %(code)s.") % {"code": code})
    return campaign


def campaign_events(*, campaign: Campaign) -> QuerySet[CampaignEvent]:
    """The campaign's history, oldest first, with who did each thing."""
    return campaign.events.select_related("actor").order_by("created_at", "id")


def province_districts(
    *, provinces: list[str] | None = None, is_central: bool | None = None
) -> list[dict[str, str]]:
    """Districts as phases store them ({province, district}), in table order.

    Filling a phase: `is_central=True` gives programme 003's phase 1, `False` the rest.
    """
    rows = ProvinceDistrict.objects.all()
    if provinces is not None:
        rows = rows.filter(province__in=provinces)
    if is_central is not None:
        rows = rows.filter(is_central=is_central)
    return [row.as_dict() for row in rows.order_by("province", "district")]


# --- Selection runs: pages, explanations, exports ------------------------------------


def selection_members(*, run: SelectionRun, selected: bool | None = True) -> QuerySet:
    """A run's members in rank order; selected=None gives everyone eligible."""
    members = SelectionMember.objects.filter(run=run)
    if selected is not None:
        members = members.filter(selected=selected)
    return members.order_by("rank")


def selection_explain(*, run: SelectionRun, msisdn_text: str) -> dict[str, Any]:
    """Why a number is, or is not, on the run's list, in words for a complaint call.

    The run's frozen rules are evaluated again for this one subscriber of the run's
    snapshot, so the answer names the first rule that kept the number out and the
    value the number had; a number that passed every rule shows its rank, its quota
    cell and where the cut fell.
    """
    msisdn = msisdn_normalise(msisdn_text or "")
    answer: dict[str, Any] = {
        "msisdn": msisdn,
        "status": "",
        "message": "",
        "steps": [],
        "failed_step": None,
        "member": None,
        "values": [],
    }
    if msisdn is None:
        answer["status"] = "invalid_number"
        answer["message"] = _("%(text)s is not a Vietnamese mobile number.") % {
            "text": msisdn_text
        }
        return answer
    shown = "0" + msisdn[2:]
    member = SelectionMember.objects.filter(run=run, msisdn=msisdn).first()
    answer["member"] = member
    context = Context(
        snapshot=run.snapshot,
        member_table=SelectionMember._meta.db_table,
        named_lists=dict(NamedList.objects.values_list("name", "id")),
        campaign_runs=_frozen_campaign_runs(run),
    )
    row = selection_explain_row(ruleset=run.ruleset, context=context, msisdn=msisdn)
    if row is None and member is None:
        answer["status"] = "not_in_snapshot"
        answer["message"] = _(
            "%(number)s is not in the snapshot %(snapshot)s, so no rule could select it."
        ) % {"number": shown, "snapshot": run.snapshot}
        return answer
    if row is not None:
        answer["steps"] = row["steps"]
        answer["values"] = [
            {"rule": condition_text(rule), "value": _value_text(value)}
            for rule, value in zip(
                run.ruleset["rules"], row["rule_values"], strict=True
            )
        ]
        failed = next((step for step in row["steps"] if not step["passed"]), None)
        if failed is not None and member is None:
            answer["status"] = "excluded"
            answer["failed_step"] = failed["step"]
            value = next(
                (v["value"] for v in answer["values"] if v["rule"] == failed["step"]),
                None,
            )
            message = _("%(number)s is not on the list: it fails “%(step)s”.") % {
                "number": shown,
                "step": failed["step"],
            }
            if value not in (None, ""):
                message += " " + _("Its value: %(value)s.") % {"value": value}
            answer["message"] = message
            return answer
    if member is None:
        # Passed every rule now but not a member: the data changed after the run.
        answer["status"] = "excluded"
        answer["message"] = _(
            "%(number)s meets the rules on today's data but was not eligible when run "
            "%(run)s was made; the snapshot has been re-imported since."
        ) % {"number": shown, "run": run.number}
        return answer
    where = (
        _("rank %(rank)s overall, %(cell_rank)s in cell %(cell)s")
        % {"rank": member.rank, "cell_rank": member.cell_rank, "cell": member.cell}
        if member.cell
        else _("rank %(rank)s") % {"rank": member.rank}
    )
    if member.selected:
        answer["status"] = "selected"
        extra = []
        if member.spilled:
            extra.append(_("it took a seat its sibling cell could not fill"))
        if member.tier:
            extra.append(_("tier %(tier)s") % {"tier": member.tier})
        if member.list_name:
            extra.append(_("list %(list)s") % {"list": member.list_name})
        if member.batch:
            extra.append(_("batch %(batch)s") % {"batch": member.batch})
        answer["message"] = _("%(number)s is on the list at %(where)s.") % {
            "number": shown,
            "where": where,
        } + (" (" + "; ".join(str(e) for e in extra) + ")" if extra else "")
    else:
        answer["status"] = "below_cut"
        seats = {
            " × ".join(cell["key"]): cell["seats"]
            for cell in (run.ruleset.get("quotas") or {}).get("cells") or []
        }
        if member.cell in seats:
            cut = _("its cell has %(seats)s seats") % {"seats": seats[member.cell]}
        else:
            cut = _("the list holds %(total)s") % {
                "total": (run.ruleset.get("quotas") or {}).get("total") or "—"
            }
        answer["message"] = _(
            "%(number)s meets every rule but ranked below the cut: %(where)s, and "
            "%(cut)s."
        ) % {"number": shown, "where": where, "cut": cut}
    return answer


def _frozen_campaign_runs(run: SelectionRun) -> dict:
    """Campaign memberships as they stand; the explanation says what excludes now."""
    from campaigns.services import _selection_context

    return _selection_context(campaign=run.campaign, ruleset=run.ruleset).campaign_runs


def _value_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, Decimal | float):
        return number_format(
            round(Decimal(str(value)), 2), use_l10n=True, force_grouping=True
        )
    if isinstance(value, int):
        return number_format(value, use_l10n=True, force_grouping=True)
    return str(value)


EXPORT_COLUMNS = [
    ("rank", _l("rank")),
    ("msisdn", _l("MSISDN")),
    ("full_name", _l("full name")),
    ("company", _l("company")),
    ("province", _l("province")),
    ("district", _l("district")),
    ("cell", _l("quota cell")),
    ("cell_rank", _l("rank in cell")),
    ("spilled", _l("filled a sibling cell")),
    ("tier", _l("tier")),
    ("customer_group", _l("customer group")),
    ("gift_tier", _l("gift tier")),
    ("channel", _l("fulfilment")),
    ("list_name", _l("list")),
    ("batch", _l("batch")),
    ("phase", _l("phase")),
    ("selected", _l("selected")),
]


def selection_export_filename(*, run: SelectionRun, file_format: str) -> str:
    return f"{run.campaign.code}-run{run.number}.{file_format}"


def selection_export_write(
    *, run: SelectionRun, file_format: str, stream, selected_only: bool = True
) -> int:
    """Write the run's list to a binary stream as XLSX or CSV; return the row count.

    Rows are read in chunks in rank order and written as they come (openpyxl's
    write-only workbook), so a list of a million stays within bounded memory. Cells
    that Excel would run as formulas are neutralised.
    """
    value_keys = [measure_key(key) for key in run.ruleset.get("ranking", [])]
    if (run.ruleset.get("tiers") or {}).get("bands"):
        value_keys.append("tier_value")
    header = [str(label) for _name, label in EXPORT_COLUMNS] + value_keys
    members = selection_members(run=run, selected=True if selected_only else None)
    fields = [name for name, _label in EXPORT_COLUMNS]

    def rows():
        for member in members.values(*fields, "values").iterator(chunk_size=5000):
            line = [member[name] for name in fields]
            line[1] = "0" + line[1][2:]
            line += [member["values"].get(key) for key in value_keys]
            yield line

    count = 0
    if file_format == "csv":
        text = io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")
        writer = csv.writer(text)
        writer.writerow(header)
        for line in rows():
            writer.writerow([spreadsheet_safe(value) for value in line])
            count += 1
        text.flush()
        text.detach()
        return count
    if file_format != "xlsx":
        raise DomainError(
            _("Unknown export format %(format)s.") % {"format": file_format}
        )
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=run.campaign.code[:31])
    sheet.append(header)
    for line in rows():
        sheet.append(
            [
                spreadsheet_safe(value) if isinstance(value, str) else value
                for value in line
            ]
        )
        count += 1
    workbook.save(stream)
    return count
