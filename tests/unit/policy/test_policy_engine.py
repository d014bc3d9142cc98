"""The engine with the default bundle: the role baseline, the business-unit refinement,
denial messages and the decision cache."""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest

from charter.access import roles
from charter.domain.enums import Action, Role
from charter.domain.errors import InvalidInput
from charter.domain.identity import Actor
from charter.policy.bundle import bundle_from_files, default_bundle
from charter.policy.engine import PolicyEngine
from charter.policy.entities import (
    Resource,
    api_resource,
    dataset_resource,
    model_resource,
    principal_entity,
    role_entities,
    version_resource,
)

MODEL_ACTIONS = [
    Action.REGISTRY_READ,
    Action.ARTIFACT_READ,
    Action.ARTIFACT_WRITE,
    Action.MODEL_WRITE,
    Action.VERSION_WRITE,
    Action.PROMOTION_OVERRIDE,
    Action.VERSION_ALIAS,
]


@pytest.fixture(scope="module")
def engine() -> PolicyEngine:
    return PolicyEngine(default_bundle())


def actor(*held: Role, business_unit: str | None = "retail", name: str = "who") -> Actor:
    return Actor(principal_id=1, name=name, roles=frozenset(held), business_unit=business_unit)


ROLE_SETS: list[frozenset[Role]] = [frozenset()] + [
    frozenset(pair) for n in (1, 2) for pair in itertools.combinations(Role, n)
]


@pytest.mark.parametrize("held", ROLE_SETS, ids=lambda s: "+".join(sorted(s)) or "none")
def test_role_baseline_on_the_api_equals_roles_table(
    engine: PolicyEngine, held: frozenset[Role]
) -> None:
    who = actor(*held)
    # Calling a model always needs a purpose (an attribute, not a role): see roles.json.
    for action in roles.PERMISSIONS - {Action.MODEL_INVOKE}:
        decision = engine.decide_uncached(who, action, api_resource())
        assert decision.allowed == roles.allowed(who, action), (sorted(held), action)
        assert not decision.errors


def test_data_scientist_writes_models_and_versions_only_in_its_own_unit(
    engine: PolicyEngine,
) -> None:
    dana = actor(Role.DATA_SCIENTIST, business_unit="retail")
    own = model_resource("churn", "retail", "high", ["eu"])
    other = model_resource("fraud", "banking", "high", ["eu"])
    for action in (Action.MODEL_WRITE, Action.VERSION_WRITE):
        assert engine.decide(dana, action, own).allowed
        denied = engine.decide(dana, action, other)
        assert not denied.allowed
        assert denied.policies == ("data-scientist-own-business-unit-model",)
        assert denied.reasons[0].startswith("data scientists may change models")
    assert engine.decide(
        dana, Action.VERSION_WRITE, version_resource(own, 2, "dana", "none")
    ).allowed
    denied = engine.decide(dana, Action.VERSION_WRITE, version_resource(other, 2, "bo", "none"))
    assert denied.policies == ("data-scientist-own-business-unit-version",)
    # Reading is not refined, and neither are the other writes a data scientist holds.
    assert engine.decide(dana, Action.REGISTRY_READ, other).allowed
    assert engine.decide(dana, Action.ARTIFACT_WRITE, other).allowed
    assert engine.decide(dana, Action.DATASET_WRITE, dataset_resource("sales", "banking")).allowed


def test_a_data_scientist_without_a_business_unit_writes_only_unowned_models(
    engine: PolicyEngine,
) -> None:
    dana = actor(Role.DATA_SCIENTIST, business_unit=None)
    assert not engine.decide(
        dana, Action.MODEL_WRITE, model_resource("m", "retail", "high")
    ).allowed
    assert engine.decide(dana, Action.MODEL_WRITE, model_resource("m", None, "high")).allowed


@pytest.mark.parametrize("role", [r for r in Role if r is not Role.DATA_SCIENTIST])
def test_other_roles_are_unchanged_on_another_units_records(
    engine: PolicyEngine, role: Role
) -> None:
    who = actor(role, business_unit="retail")
    model = model_resource("fraud", "banking", "high", ["eu"])
    for action in MODEL_ACTIONS:
        assert engine.decide(who, action, model).allowed == roles.allowed(who, action)
        version = version_resource(model, 1, "bo", "none")
        assert engine.decide(who, action, version).allowed == roles.allowed(who, action)


def test_admin_may_do_everything_even_as_a_data_scientist(engine: PolicyEngine) -> None:
    ada = actor(Role.ADMIN, Role.DATA_SCIENTIST, business_unit="hq")
    model = model_resource("fraud", "banking", "high", ["eu"])
    for action in MODEL_ACTIONS:
        assert engine.decide(ada, action, model).allowed
        assert engine.decide(ada, action, version_resource(model, 1, "bo", "none")).allowed


def test_denial_messages_name_the_policy_or_the_roles_but_not_the_resource(
    engine: PolicyEngine,
) -> None:
    dana = actor(Role.DATA_SCIENTIST, business_unit="retail")
    secret = model_resource("secret-project", "banking", "high", ["eu"])
    forbidden = engine.decide(dana, Action.MODEL_WRITE, secret)
    message = forbidden.message(Action.MODEL_WRITE)
    assert "data-scientist-own-business-unit-model" in message
    assert "own business unit" in message
    assert "secret-project" not in message and "banking" not in message

    no_permit = engine.decide(dana, Action.PROMOTION_OVERRIDE, secret)
    assert no_permit.policies == () and no_permit.reasons == ()
    assert no_permit.message(Action.PROMOTION_OVERRIDE) == (
        "no policy permits promotion:override for roles data_scientist"
    )
    nobody = engine.decide(actor(), Action.TOKEN_SELF, api_resource())
    assert nobody.message(Action.TOKEN_SELF) == "no policy permits token:self for roles none"

    allowed = engine.decide(dana, Action.REGISTRY_READ, secret)
    assert allowed.message(Action.REGISTRY_READ) == (
        "registry:read is allowed by policy role-data-scientist"
    )
    assert allowed.bundle == default_bundle().digest


def test_an_evaluation_error_denies(engine: PolicyEngine) -> None:
    # A Model without business_unit makes the forbid fail to evaluate; Cedar would then
    # let the role's permit through. The engine must not.
    bare = Resource("Model", "churn", {"name": "churn"})
    decision = engine.decide(actor(Role.DATA_SCIENTIST), Action.MODEL_WRITE, bare)
    assert not decision.allowed
    assert decision.errors
    assert "could not evaluate" in decision.message(Action.MODEL_WRITE)


def test_changing_any_fact_changes_the_cached_answer() -> None:
    engine = PolicyEngine(default_bundle())
    dana = actor(Role.DATA_SCIENTIST, business_unit="retail")
    model = model_resource("churn", "retail", "high", ["eu"])
    assert engine.decide(dana, Action.MODEL_WRITE, model).allowed
    assert engine.decide(dana, Action.MODEL_WRITE, model).allowed  # served from the cache
    assert engine._cached.cache_info().hits == 1

    moved = model_resource("churn", "banking", "high", ["eu"])
    assert not engine.decide(dana, Action.MODEL_WRITE, moved).allowed
    assert not engine.decide(replace(dana, business_unit="hq"), Action.MODEL_WRITE, model).allowed
    assert engine.decide(replace(dana, roles=frozenset()), Action.MODEL_WRITE, model).policies == ()
    assert engine.decide(replace(dana, business_unit="retail"), Action.MODEL_WRITE, model).allowed
    assert not engine.decide(dana, Action.PROMOTION_OVERRIDE, model).allowed


def test_cache_keys_tell_apart_what_cedar_tells_apart() -> None:
    engine = PolicyEngine(default_bundle())
    dana = actor(Role.DATA_SCIENTIST)
    as_bool = Resource(
        "Model",
        "m",
        {
            "name": "m",
            "business_unit": "retail",
            "risk_tier": "high",
            "approved_regions": frozenset(),
            "flag": True,
        },
    )
    as_long = Resource(
        "Model",
        "m",
        {
            "name": "m",
            "business_unit": "retail",
            "risk_tier": "high",
            "approved_regions": frozenset(),
            "flag": 1,
        },
    )
    assert as_bool.key != as_long.key
    engine.decide(dana, Action.MODEL_WRITE, as_bool, {"n": True})
    engine.decide(dana, Action.MODEL_WRITE, as_bool, {"n": 1})
    engine.decide(dana, Action.MODEL_WRITE, as_long, {"n": 1})
    assert engine._cached.cache_info().misses == 3
    engine.decide(dana, Action.MODEL_WRITE, as_bool, {"n": True})
    assert engine._cached.cache_info().hits == 1


def test_resource_attributes_are_frozen_and_checked() -> None:
    model = model_resource("m", "retail", "high", ["eu", "us", "eu"])
    assert model.attrs["approved_regions"] == frozenset({"eu", "us"})
    assert model == model_resource("m", "retail", "high", ("us", "eu"))
    assert hash(model) == hash(model_resource("m", "retail", "high", ("us", "eu")))
    with pytest.raises(TypeError, match="'score' is float"):
        Resource("Model", "m", {"score": 0.5})  # type: ignore[dict-item]


def test_entities_have_the_documented_shape() -> None:
    ada = Actor(
        principal_id=1,
        name="ada",
        roles=frozenset({Role.ADMIN, Role.AUDITOR}),
        business_unit=None,
        region="eu",
    )
    assert principal_entity(ada) == {
        "uid": {"type": "Charter::Principal", "id": "ada"},
        "attrs": {
            "name": "ada",
            "kind": "user",
            "business_unit": "",
            "region": "eu",
            "purposes": [],
        },
        "parents": [
            {"type": "Charter::Role", "id": "admin"},
            {"type": "Charter::Role", "id": "auditor"},
        ],
    }
    assert {e["uid"]["id"] for e in role_entities()} == {r.value for r in Role}
    model = model_resource("churn", "retail", "high", ["eu"])
    version = version_resource(model, 3, "dana", "staging")
    assert [e["uid"]["id"] for e in version.entities()] == ["churn/3", "churn"]
    assert version.entities()[0]["parents"] == [{"type": "Charter::Model", "id": "churn"}]
    assert version.attrs["business_unit"] == "retail"


def test_the_engine_refuses_an_invalid_bundle() -> None:
    files = dict(default_bundle().files)
    files["broken.cedar"] = "permit(principal, action, resource);"
    with pytest.raises(InvalidInput, match=r"broken\.cedar: policy 1 has no @id"):
        PolicyEngine(bundle_from_files(files))
