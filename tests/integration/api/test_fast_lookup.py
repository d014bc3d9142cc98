"""The version point lookup's fast path answers exactly as the route would, and only when
nothing could differ: everything else reaches the route, which refuses and audits."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from charter.access import principals, tokens
from charter.api.fast_lookup import VersionLookupFastPath
from charter.client.client import Client
from charter.domain.enums import RiskTier, Role
from charter.domain.identity import PrincipalCreate, TokenCreate
from charter.policy import store as policy_store
from charter.settings import Settings
from charter.store import tables as t
from charter.store.engine import Database
from tests.conftest import Admin

URL = "/api/v1/models/credit/versions/{}"
# Headers the two answers may differ in: when, and the request's own id.
PER_REQUEST = {"date", "x-request-id"}


@pytest.fixture
def settings(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Settings:
    """The token cache and the policy bundle's hold for the whole test, so which requests
    are fast is certain: with the bundle's usual second, a slow machine lets it lapse
    between two requests, and the second one then (rightly) goes to the route."""
    monkeypatch.setattr(policy_store, "ACTIVE_TTL_SECONDS", 60.0)
    return settings.model_copy(update={"auth_cache_seconds": 60.0})


@pytest.fixture
def answered(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """What the fast path decided for each request it saw (True: it answered)."""
    seen: list[bool] = []
    real = VersionLookupFastPath._answer

    async def recording(self: VersionLookupFastPath, *args: object) -> bool:
        result = await real(self, *args)  # type: ignore[arg-type]
        seen.append(result)
        return result

    monkeypatch.setattr(VersionLookupFastPath, "_answer", recording)
    return seen


@pytest.fixture
def credit(client: Client, tmp_path: Path) -> None:
    client.create_model("credit", RiskTier.HIGH)
    for number in (1, 2):
        (tmp_path / "model.bin").write_bytes(b"weights %d" % number)
        client.register_version("credit", tmp_path / "model.bin", "skops", tags={"n": str(number)})


@pytest.fixture
def http(server: str, admin: Admin) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server, headers={"Authorization": f"Bearer {admin.token}"}) as c:
        yield c


def comparable(response: httpx.Response) -> tuple[int, bytes, dict[str, str]]:
    headers = {k: v for k, v in response.headers.items() if k not in PER_REQUEST}
    return response.status_code, response.content, headers


def test_the_fast_answer_is_the_routes_answer(
    http: httpx.Client, credit: None, answered: list[bool]
) -> None:
    for number in (1, 2):
        # A query string takes the request past the fast path, to the route (which ignores
        # parameters it does not declare); the token is remembered from then on.
        routed = http.get(URL.format(number), params={"via": "route"})
        fast = http.get(URL.format(number))
        assert answered == [True] * number  # only the second one came to the fast path
        assert comparable(fast) == comparable(routed)
        assert fast.status_code == 200 and fast.headers["etag"] == '"1"'
        assert json.loads(fast.content)["tags"] == {"n": str(number)}
        assert len(fast.headers["x-request-id"]) == 32
    given = http.get(URL.format(1), headers={"X-Request-ID": "trace-7"})
    assert answered[-1] is True and given.headers["x-request-id"] == "trace-7"


def test_misses_and_bad_paths_get_the_routes_problems(
    http: httpx.Client, credit: None, answered: list[bool]
) -> None:
    assert http.get(URL.format(1)).status_code == 200
    missing = http.get(URL.format(3))
    assert missing.status_code == 404 and "has no version 3" in missing.json()["detail"]
    assert http.get("/api/v1/models/debit/versions/1").status_code == 404
    too_big = http.get(URL.format(2**31))
    assert too_big.status_code == 422 and too_big.headers["content-type"].startswith(
        "application/problem+json"
    )
    assert http.get(URL.format(0)).status_code == 422
    # Written in a form the fast path leaves to the route, which parses it its own way.
    assert http.get(URL.format("01")).json()["version"] == 1
    assert answered == [True] + [False] * 5
    assert http.head(URL.format(1)).status_code == 405  # the route declares GET only


def test_refused_callers_reach_the_route_and_are_audited(
    server: str, db: Database, admin: Admin, credit: None, answered: list[bool]
) -> None:
    def token_of(name: str, role: Role) -> tokens.IssuedToken:
        principals.create_principal(db, admin.actor, PrincipalCreate(name=name, roles=[role]))
        return tokens.issue_token(db, admin.actor, TokenCreate(name="t", principal=name))

    consumer, reader = token_of("carl", Role.CONSUMER), token_of("vera", Role.VALIDATOR)
    url = server + URL.format(1)

    def get(secret: str | None, scheme: str = "Bearer") -> int:
        headers = {} if secret is None else {"Authorization": f"{scheme} {secret}"}
        return httpx.get(url, headers=headers).status_code

    assert [get(consumer.secret) for _ in range(2)] == [403, 403]  # consumers read no registry
    assert get(None) == 401 and get("not-a-token") == 401
    assert get(reader.secret) == 200 and get(reader.secret) == 200  # the second one is fast
    assert get(reader.secret, scheme="Basic") == 401  # a remembered secret, the wrong scheme
    assert answered == [False, False, False, False, False, True, False]
    with db.rows() as connection:
        denied = connection.execute(
            select(t.AuditEvent.seq).where(t.AuditEvent.action == "access.denied")
        ).all()
    assert len(denied) == 2
    # A revoked token is refused at once: the revocation voids this process's memory.
    tokens.revoke_token(db, admin.actor, reader.id)
    assert get(reader.secret) == 401
    assert answered[-1] is False
