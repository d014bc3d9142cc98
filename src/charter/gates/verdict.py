"""A gate outcome as people read it: every rule with pass or fail and a specific reason."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from charter.domain.gates import GateEvaluation, GateFacts, GateOutcome, GateRule


def _names(people: frozenset[str]) -> str:
    return ", ".join(sorted(people)) or "none yet"


# What the facts say for each default rule, appended to its reason so that a failing rule
# tells the reader what is missing rather than only what is required.
DETAILS: dict[str, Callable[[GateFacts], str]] = {
    "tier-not-deployable": lambda f: f"risk tier {f.risk_tier}, stage {f.target_stage}",
    "approvals-required": lambda f: (
        f"{len(f.approvers)} of {f.requirements.approvals} counted ({_names(f.approvers)})"
    ),
    "business-owner-signoff-required": lambda f: (
        f"business owner {f.business_owner!r} has not approved"
        if f.business_owner
        else "the model names no business owner; set one with `charter models update`"
    ),
    "region-not-approved": lambda f: (
        f"{f.region!r} is not in the approved regions ({_names(f.approved_regions)})"
    ),
    "data-residency": lambda f: (
        "training data from "
        + _names(f.training_data_regions - f.allowed_data_regions)
        + f"; allowed: {_names(f.allowed_data_regions)}"
    ),
    "independent-validation-required": lambda f: (
        "no validation report by a validator who is not an author of "
        f"{f.model}@{f.version} ({_names(f.run_authors | {f.author})})"
    ),
}


def render(facts: GateFacts, outcome: GateOutcome, now: datetime) -> GateEvaluation:
    failed = {v.rule: v for v in outcome.violations}
    rules: list[GateRule] = []
    for rule_id, reason in outcome.rules:
        violation = failed.pop(rule_id, None)
        if violation is None:
            rules.append(GateRule(rule=rule_id, passed=True, reason=reason))
            continue
        text = violation.reason or reason
        detail = DETAILS.get(rule_id)
        if detail is not None:
            text = f"{text}: {detail(facts)}"
        rules.append(
            GateRule(rule=rule_id, passed=False, reason=text, overridable=violation.overridable)
        )
    rules.extend(
        GateRule(rule=v.rule, passed=False, reason=v.reason, overridable=v.overridable)
        for v in failed.values()
    )
    return GateEvaluation(
        allowed=outcome.allowed,
        engine=outcome.engine,
        rules=rules,
        blocking=[rule.rule for rule in rules if not rule.passed],
        facts=facts.document(),
        evaluated_at=now,
    )
