"""The promotion gate on the embedded Cedar engine: one decision over the gate's rules."""

from __future__ import annotations

from charter.domain.enums import Action
from charter.domain.gates import GateFacts, GateOutcome, Violation
from charter.domain.identity import Actor
from charter.policy.engine import PolicyEngine
from charter.policy.entities import gate_context, promotion_resource

GATE = Action.GATE_PROMOTE


def rules(engine: PolicyEngine) -> tuple[tuple[str, str], ...]:
    """(id, reason) of every gate rule: each forbid whose scope names gate:promote."""
    return tuple(
        (info.id, info.reason)
        for info in engine.infos
        if info.effect == "forbid" and info.actions is not None and GATE.value in info.actions
    )


def evaluate(engine: PolicyEngine, facts: GateFacts, version: int) -> GateOutcome:
    """One cached Cedar decision: the forbids that fire are the rules that block.

    The gate's rules read only the promotion and its context, so the principal is the
    requester by name alone; that keeps equal facts on one cache entry.
    """
    requester = Actor(principal_id=0, name=facts.requested_by or "unknown", roles=frozenset())
    decision = engine.decide(requester, GATE, promotion_resource(facts), gate_context(facts))
    label = f"cedar bundle {version} ({engine.bundle.digest[:12]})"
    known = rules(engine)
    if decision.errors:
        reason = "the policy bundle could not evaluate the gate: " + "; ".join(decision.errors)
        return GateOutcome(
            False, (Violation("gate-error", reason, False),), known, label, decision.errors
        )
    if decision.allowed:
        return GateOutcome(True, (), known, label)
    if not decision.policies:
        reason = "no policy permits gate:promote; the bundle needs a gate base permit"
        return GateOutcome(False, (Violation("gate-no-permit", reason, False),), known, label)
    overridable = {info.id: info.overridable for info in engine.infos}
    violations = tuple(
        Violation(pid, reason, overridable.get(pid, True))
        for pid, reason in zip(decision.policies, decision.reasons, strict=True)
    )
    return GateOutcome(False, violations, known, label)
