"""Cedar entities for a decision, built from Charter's principals and resource descriptions."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from charter.domain.enums import Action, Role
from charter.domain.gates import GateFacts
from charter.domain.identity import Actor

NAMESPACE = "Charter"
API_ID = "charter"

AttrValue = str | int | bool | frozenset[str]
"""What a resource attribute may hold: the Cedar String, Long, Bool and Set<String> types."""


def uid(entity_type: str, entity_id: str) -> dict[str, str]:
    """The Cedar JSON uid of a Charter entity, e.g. uid("Role", "admin")."""
    return {"type": f"{NAMESPACE}::{entity_type}", "id": entity_id}


def action_uid(action: Action) -> dict[str, str]:
    return {"type": f"{NAMESPACE}::Action", "id": action.value}


PrincipalFacts = tuple[str, frozenset[Role], str, str, str, frozenset[str]]


def principal_facts(actor: Actor) -> PrincipalFacts:
    """Everything about an actor that a policy can see: (name, roles, business_unit, kind,
    region, purposes). The principal entity and the decision cache key are both made from
    this tuple, so the cache cannot key on less than the policies read."""
    return (
        actor.name,
        actor.roles,
        actor.business_unit or "",
        actor.attributes.get("kind", "user"),
        actor.region or "",
        actor.purposes,
    )


def principal_entity(actor: Actor) -> dict[str, Any]:
    """The Cedar entity of an actor: a `Charter::Principal` that is `in` each of its roles."""
    return principal_entity_from_facts(principal_facts(actor))


def principal_entity_from_facts(facts: PrincipalFacts) -> dict[str, Any]:
    name, roles, business_unit, kind, region, purposes = facts
    return {
        "uid": uid("Principal", name),
        "attrs": {
            "name": name,
            "kind": kind,
            "business_unit": business_unit,
            "region": region,
            "purposes": sorted(purposes),
        },
        "parents": [uid("Role", role.value) for role in sorted(roles)],
    }


def role_entities() -> list[dict[str, Any]]:
    """One `Charter::Role` entity per role; a principal is `in` the roles it holds."""
    return [{"uid": uid("Role", role.value), "attrs": {}, "parents": []} for role in Role]


def _normalise(name: str, value: object) -> AttrValue:
    if isinstance(value, str | bool | int):
        return value
    if isinstance(value, frozenset | set | list | tuple) and all(isinstance(v, str) for v in value):
        return frozenset(value)
    raise TypeError(
        f"resource attribute {name!r} is {type(value).__name__}; use str, int, bool "
        "or a collection of str"
    )


def _key_value(value: AttrValue) -> object:
    # True == 1 and hash(True) == hash(1), but Cedar tells Bool from Long, so the key must too.
    return ("bool", value) if isinstance(value, bool) else value


@dataclass(frozen=True)
class Resource:
    """What an action is performed on: a Cedar entity of type `Charter::<type>`.

    `attrs` values are str, int, bool or sets of str (lists and sets are frozen on
    construction); `parents` are the entities this one is `in`, with their own attributes.
    """

    type: str
    id: str
    attrs: Mapping[str, AttrValue] = field(default_factory=dict)
    parents: tuple[Resource, ...] = ()
    key: tuple[object, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        attrs = {name: _normalise(name, value) for name, value in self.attrs.items()}
        object.__setattr__(self, "attrs", attrs)
        object.__setattr__(self, "parents", tuple(self.parents))
        key = (
            self.type,
            self.id,
            tuple(sorted((name, _key_value(value)) for name, value in attrs.items())),
            tuple(parent.key for parent in self.parents),
        )
        object.__setattr__(self, "key", key)

    def __hash__(self) -> int:
        return hash(self.key)

    def entities(self) -> list[dict[str, Any]]:
        """Cedar JSON of this entity and, after it, every ancestor (each once)."""
        out: list[dict[str, Any]] = []
        seen: set[tuple[str, str]] = set()
        stack: list[Resource] = [self]
        while stack:
            entity = stack.pop()
            if (entity.type, entity.id) in seen:
                continue
            seen.add((entity.type, entity.id))
            out.append(
                {
                    "uid": uid(entity.type, entity.id),
                    "attrs": {
                        name: sorted(value) if isinstance(value, frozenset) else value
                        for name, value in entity.attrs.items()
                    },
                    "parents": [uid(p.type, p.id) for p in entity.parents],
                }
            )
            stack.extend(reversed(entity.parents))
        return out


def api_resource() -> Resource:
    """The singleton `Charter::Api::"charter"`: the resource of actions not about one record."""
    return _API


_API = Resource("Api", API_ID)


def model_resource(
    name: str,
    business_unit: str | None,
    risk_tier: str,
    approved_regions: Iterable[str] = (),
    invokers: Iterable[str] | None = None,
) -> Resource:
    """A `Charter::Model`; `invokers` are the principals its access grants name."""
    attrs: dict[str, AttrValue] = {
        "name": name,
        "business_unit": business_unit or "",
        "risk_tier": str(risk_tier),
        "approved_regions": frozenset(approved_regions),
    }
    if invokers is not None:
        attrs["invokers"] = frozenset(invokers)
    return Resource("Model", name, attrs)


def version_resource(model: Resource, version: int, author: str, stage: str) -> Resource:
    """A `Charter::ModelVersion` in `model` (made by `model_resource`).

    Cedar cannot read a parent's attributes, so the model's name, business unit and risk
    tier are repeated on the version for the policies that need them.
    """
    if model.type != "Model":
        raise TypeError(f"version_resource needs a Model resource, got {model.type}")
    return Resource(
        "ModelVersion",
        f"{model.id}/{version}",
        {
            "model": model.id,
            "version": version,
            "business_unit": model.attrs["business_unit"],
            "risk_tier": model.attrs["risk_tier"],
            "author": author,
            "stage": str(stage),
        },
        (model,),
    )


def dataset_resource(name: str, business_unit: str | None) -> Resource:
    return Resource("Dataset", name, {"name": name, "business_unit": business_unit or ""})


def promotion_resource(facts: GateFacts) -> Resource:
    """A `Charter::Promotion`: the gate's facts about one promotion, for the gate's rules
    and for the approval policies."""
    return Resource(
        "Promotion",
        f"{facts.model}/{facts.version}/{facts.target_stage}",
        {
            "model": facts.model,
            "version": facts.version,
            "business_unit": facts.business_unit,
            "risk_tier": facts.risk_tier,
            "author": facts.author,
            "run_authors": facts.run_authors,
            "business_owner": facts.business_owner,
            "requested_by": facts.requested_by,
            "target_stage": facts.target_stage,
            "region": facts.region,
            "approved_regions": facts.approved_regions,
            "training_data_regions": facts.training_data_regions,
            "metrics": facts.metrics,
            "model_card": facts.model_card,
            "transparency_notice": facts.transparency_notice,
            "independent_validation": facts.independent_validation,
            "approvals": len(facts.approvers),
            "business_owner_signed": facts.business_owner_signed,
            "break_glass": facts.break_glass,
            "signature_valid": facts.signature_valid,
            "ml_bom": facts.ml_bom,
            "vulnerability_scanned": facts.vulnerability_scanned,
            "high_vulnerabilities": facts.high_vulnerabilities,
            "pii_cleared": facts.pii_cleared,
            "fairness_evaluated": facts.fairness_evaluated,
            "demographic_parity_bp": facts.demographic_parity_bp,
            "equalized_odds_bp": facts.equalized_odds_bp,
            "model_card_complete": facts.model_card_complete,
        },
    )


def gate_context(facts: GateFacts) -> dict[str, Any]:
    """The gate's context: the requirements for this tier and stage, the allowed regions."""
    return {
        "requirements": facts.document()["requirements"],
        "allowed_data_regions": sorted(facts.allowed_data_regions),
    }
