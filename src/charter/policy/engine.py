"""Access decisions: one Cedar evaluation per distinct request, through a bounded cache."""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import cedarpy

from charter.domain.enums import Action
from charter.domain.errors import InvalidInput
from charter.domain.identity import Actor
from charter.policy.bundle import Bundle, parse_schema, policy_infos, validate
from charter.policy.entities import (
    PrincipalFacts,
    Resource,
    action_uid,
    principal_entity_from_facts,
    principal_facts,
    role_entities,
    uid,
)
from charter.policy.gate_data import parse_gate_data

DEFAULT_CACHE_SIZE = 10_000


@dataclass(frozen=True)
class Decision:
    """The answer to one request and what made it.

    `policies` are the `@id`s of the determining policies (the permits that allowed, or the
    forbids that denied; none when nothing permitted), `reasons` their `@reason`s, `bundle`
    the digest of the bundle that decided. `errors` are Cedar evaluation errors: any error
    denies, because a forbid that failed to evaluate must not let a request through.
    """

    allowed: bool
    policies: tuple[str, ...]
    reasons: tuple[str, ...]
    bundle: str
    roles: tuple[str, ...] = ()
    errors: tuple[str, ...] = ()

    def message(self, action: Action | str) -> str:
        """What to tell the caller. Names policies and roles, never the resource or its
        attributes, so a denial reveals nothing the caller could not already see."""
        name = action.value if isinstance(action, Action) else action
        if self.allowed:
            plural = "policies" if len(self.policies) > 1 else "policy"
            return f"{name} is allowed by {plural} {', '.join(self.policies)}"
        if self.errors:
            return (
                f"{name} is denied: the policy bundle could not evaluate this request "
                f"({len(self.errors)} evaluation error(s), recorded for the operator)"
            )
        if self.policies:
            denials = "; ".join(
                f"policy {policy_id!r}: {reason}"
                for policy_id, reason in zip(self.policies, self.reasons, strict=True)
            )
            return f"{name} is denied by {denials}"
        roles = ", ".join(self.roles) or "none"
        return f"no policy permits {name} for roles {roles}"


def _freeze(value: object) -> object:
    """A hashable image of a JSON-like value that tells apart what Cedar tells apart."""
    if type(value) is str:
        return value
    if isinstance(value, Mapping):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, list | tuple):
        return ("list", tuple(_freeze(v) for v in value))
    # True == 1 == 1.0 in Python; Cedar sees a Bool, a Long and an error.
    return (type(value).__name__, value)


class _Request:
    """A request as the cache sees it: equal and hashed by its key alone, while carrying
    the objects the evaluation needs."""

    __slots__ = ("action", "context", "facts", "hash", "key", "resource")

    def __init__(
        self,
        facts: PrincipalFacts,
        action: Action,
        resource: Resource,
        context: Mapping[str, Any],
    ) -> None:
        self.facts = facts
        self.action = action
        self.resource = resource
        self.context = context
        self.key = (facts, action, resource.key, _freeze(context) if context else ())
        self.hash = hash(self.key)

    def __hash__(self) -> int:
        return self.hash

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Request) and self.key == other.key


class PolicyEngine:
    """Decides requests with one bundle; refuses a bundle that does not validate.

    Decisions are cached (LRU, `cache_size` entries) under everything Cedar is given: the
    principal's facts, the action, the resource's type, id, attributes and parents, and
    the context. The bundle is fixed for an engine, so a new bundle means a new engine
    with an empty cache, and a cached decision never outlives the facts it was made on.
    """

    def __init__(self, bundle: Bundle, cache_size: int = DEFAULT_CACHE_SIZE) -> None:
        problems = validate(bundle)
        if problems:
            raise InvalidInput(
                f"policy bundle {bundle.digest[:12]} is invalid: " + "; ".join(problems)
            )
        self.bundle = bundle
        self._policies = cedarpy.PolicySet.from_str(bundle.policies)
        self.infos = tuple(policy_infos(bundle))
        self.gate_data = parse_gate_data(bundle.data)[0]
        self._reasons = {info.id: info.reason for info in self.infos}
        # Roles and the schema's action hierarchy never change for a bundle: parse them once.
        self._base = cedarpy.Entities.from_json_str(
            json.dumps(role_entities()), schema=parse_schema(bundle)
        )
        self._cached = functools.lru_cache(maxsize=cache_size)(self._evaluate)

    def decide(
        self,
        actor: Actor,
        action: Action,
        resource: Resource,
        context: Mapping[str, Any] | None = None,
    ) -> Decision:
        """May `actor` perform `action` on `resource`? `context` holds JSON values."""
        return self._cached(_Request(principal_facts(actor), action, resource, context or {}))

    def decide_uncached(
        self,
        actor: Actor,
        action: Action,
        resource: Resource,
        context: Mapping[str, Any] | None = None,
    ) -> Decision:
        """`decide` without the cache (for tests and measurements)."""
        return self._evaluate(_Request(principal_facts(actor), action, resource, context or {}))

    def clear_cache(self) -> None:
        self._cached.cache_clear()

    def _evaluate(self, request: _Request) -> Decision:
        facts, resource = request.facts, request.resource
        delta = [principal_entity_from_facts(facts), *resource.entities()]
        try:
            entities = self._base.with_added_json_str(json.dumps(delta))
        except ValueError as exc:
            return self._failed(facts, f"entities refused: {exc}")
        result = cedarpy.is_authorized(
            {
                "principal": uid("Principal", facts[0]),
                "action": action_uid(request.action),
                "resource": uid(resource.type, resource.id),
                "context": dict(request.context),
            },
            self._policies,
            entities,
        )
        diagnostics = result.diagnostics
        if diagnostics.errors:
            return self._failed(facts, *diagnostics.errors)
        labels = diagnostics.id_annotations_by_reason
        ids = tuple(sorted(labels.get(pid) or pid for pid in diagnostics.reasons))
        return Decision(
            allowed=result.allowed,
            policies=ids,
            reasons=tuple(self._reasons.get(i, "") for i in ids),
            bundle=self.bundle.digest,
            roles=tuple(sorted(role.value for role in facts[1])),
        )

    def _failed(self, facts: PrincipalFacts, *errors: str) -> Decision:
        return Decision(
            allowed=False,
            policies=(),
            reasons=(),
            bundle=self.bundle.digest,
            roles=tuple(sorted(role.value for role in facts[1])),
            errors=tuple(errors),
        )
