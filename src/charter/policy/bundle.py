"""Policy bundles: a directory of Cedar policies, their schema, data and test cases.

A bundle is read into an immutable `Bundle` whose digest names its version; `validate`
checks it with cedarpy against its own schema and checks Charter's own rules (every policy
carries `@id` and `@reason`, ids are unique); `diff` compares two bundles file by file.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib.resources import files as package_files
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

import cedarpy

from charter.domain.artifacts import canonical_json, validate_relative_path
from charter.domain.enums import Action, Role
from charter.domain.errors import InvalidInput
from charter.domain.identity import Actor
from charter.policy.entities import Resource, principal_entity
from charter.policy.gate_data import parse_gate_data

SCHEMA_FILES = ("schema.cedarschema", "schema.json")
DATA_FILE = "data.json"
CASES_DIR = "tests/"

_CASE_KEYS = {"name", "principal", "action", "resource", "context", "expect", "policy"}
_PRINCIPAL_KEYS = {"name", "roles", "business_unit", "kind", "region", "purposes"}
_RESOURCE_KEYS = {"type", "id", "attrs", "parents"}


@dataclass(frozen=True)
class Case:
    """One table-driven case: this principal doing this action on this resource is expected
    to be allowed or denied, optionally by a named policy."""

    name: str
    file: str
    actor: Actor
    action: Action
    resource: Resource
    context: dict[str, Any]
    expect_allow: bool
    policy: str | None = None


@dataclass(frozen=True)
class Bundle:
    """An immutable policy bundle; `digest` is its version.

    `problems` lists what could not be read (bad JSON in data.json or a case file, a
    malformed case); `validate` reports them with everything else.
    """

    files: dict[str, str]
    digest: str
    schema: str
    policies: str
    data: dict[str, Any]
    cases: tuple[Case, ...]
    problems: tuple[str, ...] = field(default=())

    @property
    def policy_files(self) -> dict[str, str]:
        return {path: text for path, text in self.files.items() if _is_policy_file(path)}

    @property
    def schema_file(self) -> str | None:
        return next((p for p in SCHEMA_FILES if p in self.files), None)


def _is_policy_file(path: str) -> bool:
    return path.endswith(".cedar") and not path.startswith(CASES_DIR)


def _read_tree(root: Traversable, prefix: str = "") -> dict[str, str]:
    out: dict[str, str] = {}
    for entry in sorted(root.iterdir(), key=lambda e: e.name):
        if entry.name.startswith(".") or entry.name == "__pycache__":
            continue
        path = f"{prefix}{entry.name}"
        if entry.is_dir():
            out.update(_read_tree(entry, f"{path}/"))
            continue
        try:
            out[path] = entry.read_bytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise InvalidInput(f"policy bundle file {path} is not UTF-8 text: {exc}") from exc
    return out


def load_bundle(path: Path) -> Bundle:
    """Read the bundle in directory `path`; raises InvalidInput if it is not one."""
    if not path.is_dir():
        raise InvalidInput(f"policy bundle {path} is not a directory")
    return bundle_from_files(_read_tree(path))


@functools.lru_cache(maxsize=1)
def default_bundle() -> Bundle:
    """The bundle shipped with Charter (package data under charter/policy/default)."""
    return bundle_from_files(_read_tree(package_files("charter.policy").joinpath("default")))


def bundle_digest(files: Mapping[str, str]) -> str:
    """SHA-256 over the canonical JSON of the sorted (path, SHA-256 of content) pairs."""
    listing = [
        [path, hashlib.sha256(files[path].encode("utf-8")).hexdigest()] for path in sorted(files)
    ]
    return hashlib.sha256(canonical_json(listing)).hexdigest()


def bundle_from_files(files: Mapping[str, str]) -> Bundle:
    """Build a bundle from its files (relative path -> text), e.g. as stored by a push."""
    for path in files:
        try:
            validate_relative_path(path)
        except ValueError as exc:
            raise InvalidInput(f"policy bundle file name {path!r}: {exc}") from exc
    files = dict(sorted(files.items()))
    schema_paths = [p for p in SCHEMA_FILES if p in files]
    if len(schema_paths) != 1:
        found = ", ".join(schema_paths) or "neither"
        raise InvalidInput(
            f"a policy bundle needs exactly one of {' or '.join(SCHEMA_FILES)} at its top "
            f"level; found {found}"
        )
    problems: list[str] = []
    policies = "\n".join(
        f"// file: {path}\n{text}" for path, text in files.items() if _is_policy_file(path)
    )
    data: dict[str, Any] = {}
    if DATA_FILE in files:
        try:
            loaded = json.loads(files[DATA_FILE])
        except json.JSONDecodeError as exc:
            problems.append(f"{DATA_FILE}: not valid JSON: {exc}")
        else:
            if isinstance(loaded, dict):
                data = loaded
            else:
                problems.append(f"{DATA_FILE}: must hold a JSON object")
    cases: list[Case] = []
    for path, text in files.items():
        if path.startswith(CASES_DIR) and path.endswith(".json"):
            cases.extend(_load_cases(path, text, problems))
    return Bundle(
        files=files,
        digest=bundle_digest(files),
        schema=files[schema_paths[0]],
        policies=policies,
        data=data,
        cases=tuple(cases),
        problems=tuple(problems),
    )


def _load_cases(path: str, text: str, problems: list[str]) -> list[Case]:
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        problems.append(f"{path}: not valid JSON: {exc}")
        return []
    if not isinstance(raw, list):
        problems.append(f"{path}: must hold a JSON list of cases")
        return []
    cases: list[Case] = []
    for index, item in enumerate(raw):
        label = f"{path}: case {index}"
        if isinstance(item, dict) and isinstance(item.get("name"), str):
            label = f"{label} ({item['name']})"
        try:
            cases.append(_parse_case(path, item))
        except (ValueError, TypeError, KeyError) as exc:
            problems.append(f"{label}: {exc}")
    return cases


def _object(value: object, what: str, allowed: set[str]) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ValueError(f"{what} must be a JSON object")
    unknown = set(value) - allowed
    if unknown:
        raise ValueError(
            f"{what} has unknown keys {sorted(unknown)}; allowed are {sorted(allowed)}"
        )
    return value


def _string(obj: Mapping[str, Any], key: str, what: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str):
        raise ValueError(f"{what} needs '{key}' as a string")
    return value


def _parse_resource(value: object, what: str) -> Resource:
    obj = _object(value, what, _RESOURCE_KEYS)
    attrs = obj.get("attrs", {})
    if not isinstance(attrs, dict):
        raise ValueError(f"{what}.attrs must be a JSON object")
    parents = obj.get("parents", [])
    if not isinstance(parents, list):
        raise ValueError(f"{what}.parents must be a list of resources")
    return Resource(
        _string(obj, "type", what),
        _string(obj, "id", what),
        attrs,
        tuple(_parse_resource(p, f"{what}.parents[{i}]") for i, p in enumerate(parents)),
    )


def _parse_case(path: str, item: object) -> Case:
    case = _object(item, "a case", _CASE_KEYS)
    principal = _object(case.get("principal"), "principal", _PRINCIPAL_KEYS)
    roles = principal.get("roles", [])
    if not isinstance(roles, list):
        raise ValueError("principal.roles must be a list of role names")
    attributes: dict[str, str] = {
        key: _string(principal, key, "principal") for key in ("kind",) if key in principal
    }
    region = _string(principal, "region", "principal") if "region" in principal else None
    purposes = principal.get("purposes", [])
    if not isinstance(purposes, list) or not all(isinstance(p, str) for p in purposes):
        raise ValueError("principal.purposes must be a list of strings")
    business_unit = principal.get("business_unit")
    if business_unit is not None and not isinstance(business_unit, str):
        raise ValueError("principal.business_unit must be a string")
    actor = Actor(
        principal_id=0,
        name=_string(principal, "name", "principal"),
        roles=frozenset(Role(r) for r in roles),
        business_unit=business_unit,
        region=region,
        purposes=frozenset(purposes),
        attributes=attributes,
    )
    expect = case.get("expect")
    if expect not in ("allow", "deny"):
        raise ValueError('\'expect\' must be "allow" or "deny"')
    context = case.get("context", {})
    if not isinstance(context, dict):
        raise ValueError("'context' must be a JSON object")
    policy = case.get("policy")
    if policy is not None and not isinstance(policy, str):
        raise ValueError("'policy' must be a policy @id string")
    return Case(
        name=_string(case, "name", "a case"),
        file=path,
        actor=actor,
        action=Action(_string(case, "action", "a case")),
        resource=_parse_resource(case.get("resource"), "resource"),
        context=context,
        expect_allow=expect == "allow",
        policy=policy,
    )


@dataclass(frozen=True)
class PolicyInfo:
    """One policy of a bundle: where it is and what its annotations say."""

    file: str
    position: int
    id: str
    reason: str
    effect: str = "permit"
    # The action ids the scope names; None when the scope is every action.
    actions: frozenset[str] | None = None
    # `@override("never")` on a gate rule: break-glass cannot set it aside.
    overridable: bool = True

    def applies_to(self, action: str) -> bool:
        """Whether the scope can match `action` (named, or every action); action groups
        are not expanded, so a gate rule must name its action."""
        return self.actions is None or action in self.actions


def _scope_actions(scope: dict[str, Any]) -> frozenset[str] | None:
    if scope.get("op") == "==":
        return frozenset({scope["entity"]["id"]})
    if scope.get("op") == "in":
        entities = scope.get("entities") or [scope.get("entity", {})]
        return frozenset(str(e.get("id", "")) for e in entities)
    return None


def _file_policies(path: str, text: str) -> tuple[list[PolicyInfo], list[str]]:
    """The policies of one file and what is wrong with their annotations; raises ValueError
    (cedarpy's parse error) if the file does not parse."""
    est = json.loads(cedarpy.policies_to_json_str(text))
    problems = [
        f"{_where(path, _position(parser_id), '')} is a template "
        "(has ?principal or ?resource slots); Charter does not link templates, "
        "so write it as a policy"
        for parser_id in est.get("templates", {})
    ]
    out: list[PolicyInfo] = []
    static = est.get("staticPolicies", {})
    # Cedar numbers the policies of a text policy0, policy1, ... in order; the JSON object
    # does not keep that order.
    for parser_id in sorted(static, key=_position):
        position = _position(parser_id)
        annotations = static[parser_id].get("annotations") or {}
        policy_id = annotations.get("id") or ""
        reason = annotations.get("reason") or ""
        where = _where(path, position, policy_id)
        if not policy_id:
            problems.append(f'{where} has no @id("...") annotation')
        if not reason:
            problems.append(f'{where} has no @reason("...") annotation')
        override = annotations.get("override")
        if override not in (None, "never"):
            problems.append(f'{where} has @override("{override}"); the only value is "never"')
        out.append(
            PolicyInfo(
                path,
                position,
                policy_id,
                reason,
                effect=static[parser_id].get("effect", "permit"),
                actions=_scope_actions(static[parser_id].get("action", {})),
                overridable=override != "never",
            )
        )
    return out, problems


def policy_infos(bundle: Bundle) -> list[PolicyInfo]:
    """Every policy of the bundle in file order; raises ValueError if a file does not parse."""
    return [
        info for path, text in bundle.policy_files.items() for info in _file_policies(path, text)[0]
    ]


def parse_schema(bundle: Bundle) -> cedarpy.Schema:
    """The bundle's schema, parsed; raises ValueError (cedarpy's message) if it does not."""
    if bundle.schema_file == "schema.json":
        return cedarpy.Schema.from_json_str(bundle.schema)
    return cedarpy.Schema.from_str(bundle.schema)


def _position(parser_id: str) -> int:
    """1-based position of a policy in its file from cedarpy's id for it ("policy0": 1)."""
    return int(parser_id.removeprefix("policy")) + 1


def _where(path: str, position: int, policy_id: str) -> str:
    return f"{path}: policy {position}" + (f" ({policy_id})" if policy_id else "")


def validate(bundle: Bundle) -> list[str]:
    """Every problem of the bundle, each naming its file; an empty list means valid."""
    problems = list(bundle.problems)
    schema_path = bundle.schema_file or "schema"
    schema: cedarpy.Schema | None = None
    try:
        schema = parse_schema(bundle)
    except ValueError as exc:
        problems.append(f"{schema_path}: does not parse: {exc}")
    if not bundle.policy_files:
        problems.append("the bundle has no policy files (*.cedar); it would deny everything")
    problems.extend(parse_gate_data(bundle.data)[1])
    seen: dict[str, str] = {}
    for path, text in bundle.policy_files.items():
        try:
            infos, annotation_problems = _file_policies(path, text)
        except ValueError as exc:
            problems.append(f"{path}: does not parse: {exc}")
            continue
        problems.extend(annotation_problems)
        for info in infos:
            if info.id and info.id in seen:
                problems.append(
                    f"{_where(path, info.position, info.id)} repeats an @id "
                    f"already used in {seen[info.id]}"
                )
            elif info.id:
                seen[info.id] = path
        if schema is not None:
            problems.extend(_schema_errors(path, text, schema, schema_path))
    for case in bundle.cases:
        if case.policy is not None and case.policy not in seen:
            problems.append(
                f"{case.file}: case {case.name!r} expects policy {case.policy!r}, "
                "which no policy file defines"
            )
        if schema is not None:
            entities = [principal_entity(case.actor), *case.resource.entities()]
            try:
                cedarpy.Entities.from_json_str(json.dumps(entities), schema=schema)
            except ValueError as exc:
                problems.append(
                    f"{case.file}: case {case.name!r} does not fit {schema_path}: {exc}"
                )
    return problems


def _schema_errors(path: str, text: str, schema: cedarpy.Schema, schema_path: str) -> list[str]:
    result = cedarpy.validate_policies(text, schema)
    labels = result.id_annotations_by_policy_id
    out: list[str] = []
    for error in result.errors:
        parser_id = error.policy_id
        message = error.error.removeprefix(f"for policy `{parser_id}`, ")
        position = _position(parser_id) if parser_id else 0
        where = _where(path, position, labels.get(parser_id, "")) if position else path
        out.append(f"{where} does not validate against {schema_path}: {message}")
    return out


def diff(old: Bundle, new: Bundle) -> str:
    """A unified diff of every changed file; files only in one bundle are named as such."""
    out: list[str] = []
    for path in sorted(set(old.files) | set(new.files)):
        before, after = old.files.get(path), new.files.get(path)
        if before == after:
            continue
        if before is None:
            out.append(f"Only in new: {path}\n")
        elif after is None:
            out.append(f"Only in old: {path}\n")
        out.extend(
            difflib.unified_diff(
                _lines(before),
                _lines(after),
                fromfile=f"a/{path}" if before is not None else "/dev/null",
                tofile=f"b/{path}" if after is not None else "/dev/null",
            )
        )
    return "".join(out)


def _lines(text: str | None) -> list[str]:
    if text is None:
        return []
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    return lines
