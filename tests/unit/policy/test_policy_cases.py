"""`charter policy test`: the default bundle's cases pass, and failures say why."""

from __future__ import annotations

import json

import pytest

from charter.domain.enums import Role
from charter.domain.errors import InvalidInput
from charter.policy.bundle import bundle_from_files, default_bundle, policy_infos
from charter.policy.cases import run_cases


def test_the_default_cases_pass_and_cover_every_role_and_policy() -> None:
    bundle = default_bundle()
    results = run_cases(bundle)
    failed = [f"{r.name}: {r.message}" for r in results if not r.passed]
    assert failed == []
    assert len(results) >= 20
    assert {role for case in bundle.cases for role in case.actor.roles} == set(Role)
    named = {case.policy for case in bundle.cases}
    assert {info.id for info in policy_infos(bundle)} <= named
    assert {r.expected for r in results} == {"allow", "deny"}


def cases_bundle(cases: list[dict[str, object]]) -> list[str]:
    files = dict(default_bundle().files)
    files["tests/extra.json"] = json.dumps(cases)
    return [
        f"{r.name} {r.passed} {r.expected} {r.got} {r.policies} {r.message}"
        for r in run_cases(bundle_from_files(files))
        if r.file == "tests/extra.json"
    ]


def case(expect: str, policy: str | None = None, **resource: object) -> dict[str, object]:
    out: dict[str, object] = {
        "name": f"{expect} {policy}",
        "principal": {"name": "dana", "roles": ["data_scientist"], "business_unit": "retail"},
        "action": "model:write",
        "resource": resource or {"type": "Api", "id": "charter"},
        "expect": expect,
    }
    if policy is not None:
        out["policy"] = policy
    return out


def test_a_wrong_expectation_fails_with_the_decision_explained() -> None:
    other = {
        "name": "m",
        "business_unit": "banking",
        "risk_tier": "high",
        "approved_regions": ["eu"],
    }
    assert cases_bundle(
        [
            case("allow"),
            case("deny"),
            case("allow", "role-data-scientist"),
            case("allow", "role-admin"),
            case("allow", type="Model", id="m", attrs=other),
        ]
    ) == [
        "allow None True allow allow ('role-data-scientist',) "
        "model:write is allowed by policy role-data-scientist",
        "deny None False deny allow ('role-data-scientist',) "
        "expected deny, got allow: model:write is allowed by policy role-data-scientist",
        "allow role-data-scientist True allow allow ('role-data-scientist',) "
        "model:write is allowed by policy role-data-scientist",
        "allow role-admin False allow allow ('role-data-scientist',) "
        "expected policy 'role-admin' among the determining ones, got role-data-scientist",
        "allow None False allow deny ('data-scientist-own-business-unit-model',) "
        "expected allow, got deny: model:write is denied by policy "
        "'data-scientist-own-business-unit-model': data scientists may change models and "
        "add versions only in their own business unit",
    ]


def test_an_invalid_bundle_runs_no_case() -> None:
    files = dict(default_bundle().files)
    files["roles.cedar"] += "\npermit (principal, action, resource);\n"
    with pytest.raises(InvalidInput, match="has no @id"):
        run_cases(bundle_from_files(files))
