"""`charter policy test`: runs a bundle's table-driven cases through the engine."""

from __future__ import annotations

from dataclasses import dataclass

from charter.policy.bundle import Bundle, Case
from charter.policy.engine import Decision, PolicyEngine


@dataclass(frozen=True)
class CaseResult:
    """The outcome of one case; `message` says why it failed, or what decided when it passed."""

    name: str
    passed: bool
    expected: str
    got: str
    policies: tuple[str, ...]
    message: str
    file: str = ""


def _check(case: Case, decision: Decision) -> CaseResult:
    expected = "allow" if case.expect_allow else "deny"
    got = "allow" if decision.allowed else "deny"
    explanation = decision.message(case.action)
    if got != expected:
        passed = False
        message = f"expected {expected}, got {got}: {explanation}"
        if decision.errors:
            message += " (" + "; ".join(decision.errors) + ")"
    elif case.policy is not None and case.policy not in decision.policies:
        passed = False
        decided = ", ".join(decision.policies) or "no policy"
        message = f"expected policy {case.policy!r} among the determining ones, got {decided}"
    else:
        passed, message = True, explanation
    return CaseResult(case.name, passed, expected, got, decision.policies, message, case.file)


def run_cases(bundle: Bundle) -> list[CaseResult]:
    """Run every case of the bundle; raises InvalidInput if the bundle does not validate."""
    engine = PolicyEngine(bundle, cache_size=0)
    return [
        _check(case, engine.decide(case.actor, case.action, case.resource, case.context))
        for case in bundle.cases
    ]
