"""The gate's data in a bundle's data.json: requirements per stage and risk tier, allowed
data regions, and how long a promotion request stays open."""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from charter.domain.enums import RiskTier, Stage
from charter.domain.gates import Requirements

DEFAULT_EXPIRY_DAYS = 14
# data.json states fairness limits as fractions; Cedar compares whole numbers, so the
# requirements hold them in basis points.
_FRACTIONS = {
    "max_demographic_parity_difference": "max_demographic_parity_bp",
    "max_equalized_odds_difference": "max_equalized_odds_bp",
}
_FLAGS = [f.name for f in fields(Requirements) if f.type in (bool, "bool")]
_KEYS = [*_FLAGS, "approvals", *_FRACTIONS]


@dataclass(frozen=True)
class GateData:
    requirements: dict[tuple[str, str], Requirements]
    allowed_data_regions: frozenset[str]
    expires_after_days: int

    def for_(self, stage: str, risk_tier: str) -> Requirements:
        """What `risk_tier` needs to enter `stage`.

        A stage the data does not mention (none, archived) needs nothing; a stage it does
        mention but a tier it leaves out is refused outright, since a gap in the table must
        not let a model through.
        """
        found = self.requirements.get((stage, risk_tier))
        if found is not None:
            return found
        if any(key[0] == stage for key in self.requirements):
            return Requirements(deployable=False)
        return Requirements()


def _requirements(where: str, value: object, problems: list[str]) -> Requirements:
    if not isinstance(value, dict):
        problems.append(f"{where} must be an object of requirement: value")
        return Requirements(deployable=False)
    out: dict[str, Any] = {}
    for key, item in value.items():
        if key not in _KEYS:
            problems.append(f"{where}.{key} is not a requirement; use {', '.join(_KEYS)}")
        elif key in _FRACTIONS:
            if type(item) not in (int, float) or not 0 <= item <= 1:
                problems.append(f"{where}.{key} must be a number from 0 to 1")
            else:
                out[_FRACTIONS[key]] = round(item * 10_000)
        elif key == "approvals":
            if type(item) is not int or not 0 <= item <= 100:
                problems.append(f"{where}.approvals must be a whole number from 0 to 100")
            else:
                out[key] = item
        elif type(item) is not bool:
            problems.append(f"{where}.{key} must be true or false")
        else:
            out[key] = item
    return Requirements(**out)


def parse_gate_data(data: dict[str, Any]) -> tuple[GateData, list[str]]:
    """Read the gate's part of data.json; problems say what to fix (an empty data.json is
    valid and gates nothing but what the policies themselves say)."""
    problems: list[str] = []
    requirements: dict[tuple[str, str], Requirements] = {}
    table = data.get("requirements", {})
    if not isinstance(table, dict):
        problems.append("data.json: requirements must be an object of stage -> tier -> ...")
        table = {}
    stages = {s.value for s in Stage}
    tiers = {t.value for t in RiskTier}
    for stage, per_tier in table.items():
        if stage not in stages:
            problems.append(f"data.json: requirements.{stage} is not a stage ({', '.join(stages)})")
            continue
        if not isinstance(per_tier, dict):
            problems.append(f"data.json: requirements.{stage} must be an object of tier -> ...")
            continue
        for tier, value in per_tier.items():
            if tier not in tiers:
                problems.append(
                    f"data.json: requirements.{stage}.{tier} is not a risk tier "
                    f"({', '.join(sorted(tiers))})"
                )
                continue
            where = f"data.json: requirements.{stage}.{tier}"
            requirements[(stage, tier)] = _requirements(where, value, problems)
    residency = data.get("data_residency", {})
    regions = residency.get("allowed_regions", []) if isinstance(residency, dict) else None
    if not isinstance(regions, list) or not all(isinstance(r, str) for r in regions):
        problems.append("data.json: data_residency.allowed_regions must be a list of strings")
        regions = []
    promotion = data.get("promotion", {})
    days = promotion.get("expires_after_days", DEFAULT_EXPIRY_DAYS)
    if not isinstance(promotion, dict) or type(days) is not int or not 1 <= days <= 365:
        problems.append("data.json: promotion.expires_after_days must be a whole number 1-365")
        days = DEFAULT_EXPIRY_DAYS
    return GateData(requirements, frozenset(regions), days), problems
