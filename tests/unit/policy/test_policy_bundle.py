"""Loading, validating, versioning and diffing policy bundles."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from charter.domain.enums import Action, Role
from charter.domain.errors import InvalidInput
from charter.domain.identity import Actor
from charter.policy.bundle import (
    Bundle,
    bundle_from_files,
    default_bundle,
    diff,
    load_bundle,
    policy_infos,
    validate,
)
from charter.policy.engine import PolicyEngine
from charter.policy.entities import api_resource

GOOD = """@id("x")
@reason("why")
permit (principal, action == Charter::Action::"registry:read", resource);
"""


def with_files(changes: dict[str, str | None]) -> Bundle:
    """The default bundle with files replaced, added, or (None) removed."""
    files = dict(default_bundle().files)
    for path, text in changes.items():
        if text is None:
            files.pop(path, None)
        else:
            files[path] = text
    return bundle_from_files(files)


def write(root: Path, files: dict[str, str]) -> None:
    for path, text in files.items():
        target = root / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")


def test_the_default_bundle_is_valid_and_complete() -> None:
    bundle = default_bundle()
    assert validate(bundle) == []
    assert "schema.cedarschema" in bundle.files and bundle.schema_file == "schema.cedarschema"
    assert set(bundle.policy_files) == {
        "roles.cedar",
        "business_unit.cedar",
        "promotions.cedar",
        "gate.cedar",
    }
    assert bundle.data["requirements"]["production"]["high"]["approvals"] == 2
    assert len(bundle.cases) >= 20
    ids = [info.id for info in policy_infos(bundle)]
    assert len(ids) == len(set(ids))
    # Each file's policies keep their @id in the concatenated text.
    assert all(f'@id("{i}")' in bundle.policies for i in ids)


def test_a_directory_loads_to_the_same_bundle_and_digest(tmp_path: Path) -> None:
    write(tmp_path, default_bundle().files)
    (tmp_path / ".hidden").write_text("ignored")
    loaded = load_bundle(tmp_path)
    assert loaded == default_bundle()
    assert loaded.digest == default_bundle().digest


def test_the_digest_changes_with_any_file() -> None:
    base = default_bundle().digest
    assert with_files({"roles.cedar": default_bundle().files["roles.cedar"] + "\n"}).digest != base
    assert with_files({"notes.md": "hello"}).digest != base
    assert bundle_from_files(dict(reversed(default_bundle().files.items()))).digest == base


def test_load_refuses_what_is_not_a_bundle(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="not a directory"):
        load_bundle(tmp_path / "missing")
    write(tmp_path, {"a.cedar": GOOD})
    with pytest.raises(InvalidInput, match=r"schema\.cedarschema or schema\.json"):
        load_bundle(tmp_path)
    (tmp_path / "schema.cedarschema").write_bytes(b"\xff\xfe")
    with pytest.raises(InvalidInput, match=r"schema\.cedarschema is not UTF-8"):
        load_bundle(tmp_path)


def test_validate_refuses_an_attribute_the_schema_does_not_have() -> None:
    problems = validate(
        with_files(
            {
                "extra.cedar": '@id("nick")\n@reason("r")\npermit (principal, action, resource)\n'
                'when { principal.nickname == "x" };\n'
            }
        )
    )
    assert len(problems) == 1
    assert problems[0].startswith("extra.cedar: policy 1 (nick) does not validate against")
    assert "nickname" in problems[0]


def test_validate_refuses_a_syntax_error_naming_the_file() -> None:
    problems = validate(with_files({"extra.cedar": GOOD + "permit (principal, action resource);"}))
    assert len(problems) == 1 and problems[0].startswith("extra.cedar: does not parse:")


def test_validate_refuses_policies_without_id_or_reason() -> None:
    problems = validate(
        with_files(
            {
                "extra.cedar": GOOD
                + '@reason("r")\npermit (principal, action, resource);\n'
                + '@id("y")\nforbid (principal, action, resource);\n'
            }
        )
    )
    assert problems == [
        'extra.cedar: policy 2 has no @id("...") annotation',
        'extra.cedar: policy 3 (y) has no @reason("...") annotation',
    ]


def test_validate_refuses_duplicate_ids_templates_and_unknown_actions() -> None:
    problems = validate(
        with_files(
            {
                "extra.cedar": """
@id("role-admin") @reason("r") permit (principal, action, resource);
@id("t") @reason("r") permit (principal == ?principal, action, resource);
@id("n") @reason("r") permit (principal, action == Charter::Action::"nope", resource);
"""
            }
        )
    )
    text = "\n".join(problems)
    assert "roles.cedar: policy 1 (role-admin) repeats an @id already used in extra.cedar" in text
    assert "extra.cedar: policy 2 is a template" in text
    assert (
        "extra.cedar: policy 3 (n) does not validate against schema.cedarschema: "
        'unrecognized action `Charter::Action::"nope"`'
    ) in text


def test_validate_refuses_a_bad_schema_data_or_case_file() -> None:
    assert validate(with_files({"schema.cedarschema": "namespace Charter { entity X "})) == [
        "schema.cedarschema: does not parse: error parsing schema: unexpected end of input"
    ]
    assert validate(with_files({"data.json": "[1]"})) == ["data.json: must hold a JSON object"]
    assert validate(with_files({"data.json": "{bad"}))[0].startswith("data.json: not valid JSON")
    assert validate(with_files({"tests/x.json": "{}"})) == [
        "tests/x.json: must hold a JSON list of cases"
    ]
    case = {
        "name": "c",
        "principal": {"name": "a", "roles": ["king"]},
        "action": "registry:read",
        "resource": {"type": "Api", "id": "charter"},
        "expect": "allow",
    }
    assert validate(with_files({"tests/x.json": json.dumps([case])})) == [
        "tests/x.json: case 0 (c): 'king' is not a valid Role"
    ]
    case["principal"] = {"name": "a", "roles": ["admin"], "colour": "red"}
    assert (
        "unknown keys ['colour']" in validate(with_files({"tests/x.json": json.dumps([case])}))[0]
    )
    case["principal"] = {"name": "a", "roles": ["admin"]}
    case["policy"] = "no-such-policy"
    assert validate(with_files({"tests/x.json": json.dumps([case])})) == [
        "tests/x.json: case 'c' expects policy 'no-such-policy', which no policy file defines"
    ]
    del case["policy"]
    case["resource"] = {"type": "Model", "id": "m", "attrs": {"name": "m"}}
    [problem] = validate(with_files({"tests/x.json": json.dumps([case])}))
    assert problem.startswith("tests/x.json: case 'c' does not fit schema.cedarschema:")


def test_validate_refuses_a_bundle_without_policies() -> None:
    problems = validate(
        with_files(
            {
                **{path: None for path in default_bundle().policy_files},
                **{path: None for path in default_bundle().files if path.startswith("tests/")},
            }
        )
    )
    assert problems == ["the bundle has no policy files (*.cedar); it would deny everything"]


def test_diff_shows_changed_added_and_removed_files() -> None:
    old = default_bundle()
    assert diff(old, old) == ""
    roles = old.files["roles.cedar"]
    new = with_files(
        {
            "roles.cedar": roles.replace("validators read everything", "validators read all"),
            "extra.cedar": GOOD,
            "business_unit.cedar": None,
            "tests/business_unit.json": None,
        }
    )
    text = diff(old, new)
    assert "--- a/roles.cedar\n+++ b/roles.cedar\n" in text
    assert '-@reason("validators read everything, upload and attach' in text
    assert '+@reason("validators read all, upload and attach' in text
    assert "Only in new: extra.cedar\n--- /dev/null\n+++ b/extra.cedar\n" in text
    assert "Only in old: business_unit.cedar\n--- a/business_unit.cedar\n+++ /dev/null\n" in text
    assert text.index("business_unit.cedar") < text.index("extra.cedar") < text.index("roles.cedar")


def test_file_names_must_stay_inside_the_bundle() -> None:
    files = dict(default_bundle().files)
    files["../escape.cedar"] = GOOD
    with pytest.raises(InvalidInput, match=r"'\.\./escape\.cedar'.*'\.\.'"):
        bundle_from_files(files)


def test_a_json_schema_works_too() -> None:
    schema = {
        "Charter": {
            "entityTypes": {"Role": {}, "Principal": {"memberOfTypes": ["Role"]}, "Api": {}},
            "actions": {
                "registry:read": {
                    "appliesTo": {"principalTypes": ["Principal"], "resourceTypes": ["Api"]}
                }
            },
        }
    }
    bundle = bundle_from_files({"schema.json": json.dumps(schema), "read.cedar": GOOD})
    assert validate(bundle) == []
    who = Actor(principal_id=1, name="x", roles=frozenset({Role.CONSUMER}))
    decision = PolicyEngine(bundle).decide(who, Action.REGISTRY_READ, api_resource())
    assert decision.allowed and decision.policies == ("x",) and decision.reasons == ("why",)
