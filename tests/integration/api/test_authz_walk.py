"""Walk every operation of the OpenAPI spec: 401 without a token, 403 with the wrong role."""

from __future__ import annotations

import importlib
import pkgutil
import re
from dataclasses import dataclass
from typing import Annotated, Any

import httpx
import pytest
from fastapi import APIRouter, Depends
from fastapi.routing import APIRoute
from sqlalchemy import update

import charter.api.routes as routes_pkg
from charter.access import principals, tokens
from charter.access.roles import ROLE_ACTIONS
from charter.api.app import PREFIX, PUBLIC_ROUTES, create_app
from charter.api.deps import ACTION_ATTR, IfMatch, require
from charter.api.routing import CharterRoute
from charter.domain.enums import Action, Role
from charter.domain.identity import Actor, PrincipalCreate, TokenCreate
from charter.settings import Settings
from charter.store import tables as t
from charter.store.engine import Database
from tests.conftest import Admin

PROBLEM = "application/problem+json"
PUBLIC_OPERATIONS = {("GET", p) for p in PUBLIC_ROUTES}
# Values that are well-formed, so a 401/403 can never be blamed on a malformed path.
PATH_VALUES = {
    "name": "no-such-thing",
    "alias": "champion",
    "version": "1",
    "token_id": "1",
    "run_id": "1",
    "sha256": "0" * 64,
    "path": "model.bin",
    "seq": "1",
    "request_id": "1",
    "key_id": "ed25519:" + "0" * 32,
}
# The lineage route needs `node`; query validation runs after authorization anyway,
# but a complete request proves the refusal comes from authorization alone.
QUERY_VALUES = {"node": "model:no-such-thing@1"}
Operation = tuple[str, str]


def _route_action(route: APIRoute) -> Action | None:
    pending = list(route.dependant.dependencies)
    while pending:
        dep = pending.pop()
        if dep.call is not None and hasattr(dep.call, ACTION_ATTR):
            return Action(getattr(dep.call, ACTION_ATTR))
        pending.extend(dep.dependencies)
    return None


def declared_actions() -> dict[Operation, Action | None]:
    """(method, path) -> the action its route declares, from every routes module."""
    found: dict[Operation, Action | None] = {}
    for info in pkgutil.iter_modules(routes_pkg.__path__):
        module = importlib.import_module(f"{routes_pkg.__name__}.{info.name}")
        router = getattr(module, "router", None)
        if not isinstance(router, APIRouter):
            continue
        for route in router.routes:
            assert isinstance(route, APIRoute), f"{module.__name__}: non-API route {route}"
            for method in route.methods:
                found[(method, PREFIX + route.path_format)] = _route_action(route)
    return found


def spec_operations(spec: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    methods = {"get", "put", "post", "patch", "delete", "head", "options"}
    return [
        (method.upper(), path, op)
        for path, item in spec["paths"].items()
        for method, op in item.items()
        if method in methods
    ]


def role_lacking(action: Action) -> Role | None:
    # Prefer the least-privileged role so the walk is not satisfied by a lucky choice.
    order = sorted(Role, key=lambda r: len(ROLE_ACTIONS[r]))
    return next((r for r in order if action not in ROLE_ACTIONS[r]), None)


def fill(path: str) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1).split(":")[0]
        return PATH_VALUES[name]

    return re.sub(r"\{([^}]+)\}", value, path)


@dataclass
class Caller:
    name: str
    token: str


def make_caller(db: Database, admin: Admin, name: str, roles: list[Role]) -> Caller:
    principals.create_principal(db, admin.actor, PrincipalCreate(name=name, roles=roles))
    issued = tokens.issue_token(db, admin.actor, TokenCreate(name="walk", principal=name))
    return Caller(name=name, token=issued.secret)


def strip_roles(db: Database, name: str) -> None:
    # No API can create a role-less principal; craft one to prove default deny covers
    # even the actions every role is granted (token:self).
    with db.transaction() as session:
        session.execute(update(t.Principal).where(t.Principal.name == name).values(roles=[]))


def send(http: httpx.Client, method: str, path: str, op: dict[str, Any], token: str | None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    params = {
        p["name"]: QUERY_VALUES.get(p["name"], "x")
        for p in op.get("parameters", [])
        if p["in"] == "query" and p.get("required")
    }
    kwargs: dict[str, Any] = {"headers": headers, "params": params}
    if "requestBody" in op:
        content = op["requestBody"].get("content", {})
        if "application/json" in content:
            kwargs["json"] = {}
        else:
            kwargs["content"] = b""
    return http.request(method, fill(path), **kwargs)


def assert_problem(response: httpx.Response, status: int, what: str) -> None:
    assert response.status_code == status, f"{what}: {response.status_code} {response.text}"
    assert response.headers["content-type"].startswith(PROBLEM), what
    if response.request.method == "HEAD":
        return  # HEAD answers carry no body by definition
    body = response.json()
    assert body["status"] == status, what
    assert body["detail"] and body["title"] and body["type"], what
    assert body["instance"] == response.request.url.path, what


def test_every_operation_refuses_without_token_and_with_wrong_role(
    server: str, db: Database, admin: Admin
) -> None:
    actions = declared_actions()
    with httpx.Client(base_url=server, timeout=30) as http:
        spec = http.get(f"{PREFIX}/openapi.json").json()
        operations = spec_operations(spec)
        in_spec = {(m, p) for m, p, _ in operations}
        # Every spec operation is a route we know the action of, and vice versa.
        assert in_spec == set(actions), in_spec ^ set(actions)
        assert in_spec >= PUBLIC_OPERATIONS

        callers = {
            role: make_caller(db, admin, f"walk-{role.value.replace('_', '-')}", [role])
            for role in Role
        }
        roleless = make_caller(db, admin, "walk-roleless", [Role.CONSUMER])
        strip_roles(db, roleless.name)

        walked: set[Operation] = set()
        for method, path, op in operations:
            if (method, path) in PUBLIC_OPERATIONS:
                assert actions[(method, path)] is None
                continue
            action = actions[(method, path)]
            assert action is not None, f"{method} {path} declares no action"
            what = f"{method} {path} ({action.value})"

            anonymous = send(http, method, path, op, None)
            assert_problem(anonymous, 401, f"{what} without a token")
            assert anonymous.headers.get("www-authenticate") == "Bearer", what

            bogus = send(http, method, path, op, "chr_not-a-real-token")
            assert_problem(bogus, 401, f"{what} with an unknown token")

            role = role_lacking(action)
            if role is None:
                # Granted to every role (only token:self); still denied without a role.
                assert action is Action.TOKEN_SELF, what
            else:
                denied = send(http, method, path, op, callers[role].token)
                assert_problem(denied, 403, f"{what} as {role.value}")
            nobody = send(http, method, path, op, roleless.token)
            assert_problem(nobody, 403, f"{what} as a principal without roles")
            walked.add((method, path))

        assert walked == in_spec - PUBLIC_OPERATIONS
        assert len(walked) >= 30  # sanity: the walk really visited the API


def test_public_routes_answer_without_token(server: str) -> None:
    with httpx.Client(base_url=server, timeout=30) as http:
        assert http.get(f"{PREFIX}/health").json()["status"] == "ok"
        assert http.get(f"{PREFIX}/openapi.json").status_code == 200
        assert http.get(f"{PREFIX}/docs").status_code == 200


def test_the_walk_knows_every_action_and_role() -> None:
    # Admin holds every action; every non-public route's action exists in the role map.
    assert ROLE_ACTIONS[Role.ADMIN] == frozenset(Action) - {Action.GATE_PROMOTE}
    for (method, path), action in declared_actions().items():
        if (method, path) not in PUBLIC_OPERATIONS:
            assert action is not None, f"{method} {path}"
    # The consumer role only manages its own tokens: everything else is refused.
    assert ROLE_ACTIONS[Role.CONSUMER] == frozenset({Action.TOKEN_SELF})


def test_create_app_refuses_a_route_without_an_action(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from charter.api.routes import system

    original = list(system.router.routes)

    def router_with_system_routes() -> APIRouter:
        router = APIRouter(route_class=CharterRoute)
        router.routes.extend(original)
        return router

    unguarded = router_with_system_routes()

    @unguarded.get("/forgotten")
    def forgotten() -> dict[str, str]:
        return {"open": "yes"}

    monkeypatch.setattr(system, "router", unguarded)
    with pytest.raises(RuntimeError, match=r"forgotten.* declares no action"):
        create_app(settings)

    guarded = router_with_system_routes()

    @guarded.get("/guarded")
    def guarded_route(actor: Annotated[Actor, Depends(require(Action.REGISTRY_READ))]) -> str:
        return actor.name

    monkeypatch.setattr(system, "router", guarded)
    assert f"{PREFIX}/guarded" in create_app(settings).openapi()["paths"]

    # Authorization must run first: a route whose If-Match could refuse before it is refused.
    misordered = router_with_system_routes()

    @misordered.patch("/misordered")
    def misordered_route(
        revision: IfMatch, actor: Annotated[Actor, Depends(require(Action.MODEL_WRITE))]
    ) -> int:
        return revision

    monkeypatch.setattr(system, "router", misordered)
    with pytest.raises(RuntimeError, match=r"misordered.* actor parameter before"):
        create_app(settings)

    # A plain APIRoute would skip the strict JSON decoding every body goes through.
    plain = router_with_system_routes()
    plain.routes.append(
        APIRoute("/plain", guarded_route, methods=["GET"])  # same guard, wrong class
    )
    monkeypatch.setattr(system, "router", plain)
    with pytest.raises(RuntimeError, match=r"plain.* must be CharterRoutes"):
        create_app(settings)
