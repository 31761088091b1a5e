"""`edgemeter audit` across regions (issue 15 §5): every region's tables audited, then what only the
regions together can show.

Each region's credits table (and ledger) gets the single-table audit (ops/audit.py): its ledgers sum
to its balances, no request charged twice there. Across regions:

- **No viewer request is charged in two regions** (net of refunds): a request retried in another
  region after a timeout is voided in the first (docs/decisions.md, "Regional credits").
- **Transfers neither create nor lose credit.** A transfer's debit is the charge ``transfer:<id>``
  in its source, its credit the grant with idempotency key ``transfer:<id>`` in its target. A credit
  without a standing debit anywhere, or credited in two regions, is a mismatch. A standing debit
  not yet credited is **in flight**: reported with its amount, not a mismatch (the retrier finishes
  or reverses it; while the target is unreachable it stays in flight).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import typer

from functions.credits.data.models import ChargeRecordItem, GrantRecordItem, RefundRecordItem
from functions.credits.regions.transfers import transfer_request_id
from functions.credits.settings import Settings
from ops.audit import AuditReport, DynamoDBCredentials, audit_items, scan_credits_table, scan_ledger_table

_TRANSFER_PREFIX = transfer_request_id("")


@dataclass
class _RegionMoney:
    """What one region's credits table says about request ids and transfers."""

    standing_charges: set[str] = field(default_factory=set)  # charged, not refunded
    transfer_debits: dict[str, int] = field(default_factory=dict)  # transfer:<id> -> amount
    transfer_credits: set[str] = field(default_factory=set)  # transfer:<id> credited here


@dataclass(frozen=True, slots=True)
class RegionalAuditReport:
    regions: dict[str, AuditReport]
    problems: tuple[str, ...]
    in_flight: dict[str, int]  # transfer:<id> -> amount debited and not yet credited

    @property
    def ok(self) -> bool:
        return not self.problems and all(report.ok for report in self.regions.values())

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "problems": list(self.problems),
            "in_flight": self.in_flight,
            "in_flight_total": sum(self.in_flight.values()),
            "regions": {region: report.to_json_dict() for region, report in self.regions.items()},
        }


def _money_of(items: list[Any]) -> _RegionMoney:
    money = _RegionMoney()
    charged: dict[str, int] = {}
    refunded: set[str] = set()
    for item in items:
        if isinstance(item, ChargeRecordItem):
            charged[str(item.pk).split("#", 1)[1]] = int(item.amount)
        elif isinstance(item, RefundRecordItem):
            refunded.add(str(item.pk).split("#", 1)[1])
        elif isinstance(item, GrantRecordItem) and str(item.idempotency_key).startswith(_TRANSFER_PREFIX):
            money.transfer_credits.add(str(item.idempotency_key))
    for request_id, amount in charged.items():
        if request_id in refunded:
            continue
        if request_id.startswith(_TRANSFER_PREFIX):
            money.transfer_debits[request_id] = amount
        else:
            money.standing_charges.add(request_id)
    return money


def cross_region_problems(money: Mapping[str, _RegionMoney]) -> tuple[list[str], dict[str, int]]:
    """The mismatches only the regions together show, and the transfers in flight."""
    problems: list[str] = []
    charged_in: dict[str, list[str]] = defaultdict(list)
    credited_in: dict[str, list[str]] = defaultdict(list)
    debits: dict[str, int] = {}
    for region, found in money.items():
        for request_id in found.standing_charges:
            charged_in[request_id].append(region)
        for transfer in found.transfer_credits:
            credited_in[transfer].append(region)
        debits.update(found.transfer_debits)
    problems += [
        f"request {request_id} is charged in {', '.join(sorted(regions))}"
        for request_id, regions in sorted(charged_in.items())
        if len(regions) > 1
    ]
    for transfer, regions in sorted(credited_in.items()):
        if len(regions) > 1:
            problems.append(f"{transfer} is credited in {', '.join(sorted(regions))}")
        if transfer not in debits:
            problems.append(f"{transfer} is credited in {regions[0]} with no standing debit anywhere")
    in_flight = {transfer: amount for transfer, amount in debits.items() if transfer not in credited_in}
    return problems, in_flight


def run_regional_audit(
    settings_by_region: Mapping[str, Settings], *, credentials: DynamoDBCredentials | None = None
) -> RegionalAuditReport:
    """Scan each region's tables (their own settings: region, credits table, ledger) and audit."""
    reports: dict[str, AuditReport] = {}
    money: dict[str, _RegionMoney] = {}
    for region, settings in settings_by_region.items():
        items = list(scan_credits_table(settings, credentials=credentials))
        reports[region] = audit_items(iter(items), scan_ledger_table(settings, credentials=credentials))
        money[region] = _money_of(items)
    problems, in_flight = cross_region_problems(money)
    return RegionalAuditReport(regions=reports, problems=tuple(problems), in_flight=in_flight)


def regional_audit_settings(home: Settings, credits_tables: Mapping[str, str]) -> dict[str, Settings]:
    """Home's settings and, per credits region, the same with its region and credits table (its
    ledger by the default derived from that table, as the stacks name it)."""
    regions = {home.region: home}
    for region, table in credits_tables.items():
        update = {"region": region, "credits_table": table, "ledger_table": None}
        regions[region] = home.model_copy(update=update)
    return regions


def render_regional_report(report: RegionalAuditReport, render_region: Callable[[AuditReport], str]) -> str:
    lines: list[str] = []
    for region, region_report in report.regions.items():
        lines.append(f"[{region}]")
        lines.append(render_region(region_report))
    if report.in_flight:
        lines.append(f"in flight between regions: {sum(report.in_flight.values())} credits")
        lines += [f"  {transfer}: {amount}" for transfer, amount in sorted(report.in_flight.items())]
    lines += [f"  across regions: {problem}" for problem in report.problems]
    lines.append("regional audit: OK" if report.ok else "regional audit: MISMATCHES (see above)")
    return "\n".join(lines)


def audit_every_region(
    home: Settings,
    credits_tables: Mapping[str, str],
    *,
    credentials: DynamoDBCredentials | None,
    as_json: bool,
    render_region: Callable[[AuditReport], str],
) -> int:
    """What ``edgemeter audit`` does with ``EDGEMETER_CREDITS_REGIONS`` set: print, return the exit code
    (0 clean, 1 a mismatch in a region or across them)."""
    report = run_regional_audit(regional_audit_settings(home, credits_tables), credentials=credentials)
    if as_json:
        typer.echo(json.dumps(report.to_json_dict(), indent=2))
    else:
        typer.echo(render_regional_report(report, render_region))
    return 0 if report.ok else 1
