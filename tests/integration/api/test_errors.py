"""Errors are RFC 9457 problem+json, say what to fix, and a failed write changes nothing."""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import func, select

from charter.settings import Settings
from charter.store import engine
from charter.store import tables as t
from charter.store.engine import Database
from tests.conftest import Admin

PROBLEM = "application/problem+json"
API = "/api/v1"
JSON = {"Content-Type": "application/json"}
LISTS = ["/models", "/versions", "/datasets", "/runs", "/principals", "/tokens"]


@pytest.fixture
def http(server: str, admin: Admin) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {admin.token}"}
    with httpx.Client(base_url=server + API, headers=headers, timeout=30) as client:
        yield client


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """Assert an RFC 9457 body with `status`; return it."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["type"].startswith("https://")
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    assert body["instance"] == response.request.url.path
    assert body["request_id"] == response.headers["x-request-id"]
    return body


def fields(body: dict[str, Any]) -> set[str]:
    return {issue["field"] for issue in body["errors"]}


def snapshot(http: httpx.Client, db: Database) -> dict[str, Any]:
    """Everything a write could change: every list, in full, and the audit log's length."""
    state: dict[str, Any] = {}
    for path in LISTS:
        response = http.get(path, params={"limit": 1000})
        assert response.status_code == 200, response.text
        state[path] = response.json()
    with db.reading() as session:
        state["audit"] = session.execute(
            select(func.count()).select_from(t.AuditEvent)
        ).scalar_one()
    return state


def upload(http: httpx.Client, data: bytes) -> dict[str, Any]:
    sha = hashlib.sha256(data).hexdigest()
    response = http.put(f"/blobs/{sha}", content=data)
    assert response.status_code == 201, response.text
    return {"path": "model.bin", "size": len(data), "sha256": sha}


@pytest.fixture
def seeded(http: httpx.Client) -> dict[str, Any]:
    """A model with one version, a dataset with one version, and a run."""
    assert http.post("/models", json={"name": "credit", "risk_tier": "high"}).status_code == 201
    entry = upload(http, b"weights" * 100)
    created = http.post("/models/credit/versions", json={"files": [entry], "flavor": "skops"})
    assert created.status_code == 201, created.text
    assert http.post("/datasets", json={"name": "loans"}).status_code == 201
    run = http.post("/runs", json={"name": "train"})
    assert run.status_code == 201
    return {"entry": entry, "run_id": run.json()["id"]}


def test_unknown_model_is_404_problem(http: httpx.Client) -> None:
    body = problem(http.get("/models/nope"), 404)
    assert body["code"] == "not_found"
    assert "nope" in body["detail"]
    problem(http.get("/models/nope/versions/1"), 404)
    problem(http.get("/datasets/nope"), 404)
    problem(http.get("/runs/999"), 404)


def test_duplicate_model_name_is_409_and_changes_nothing(
    http: httpx.Client, db: Database, seeded: dict[str, Any]
) -> None:
    before = snapshot(http, db)
    body = problem(http.post("/models", json={"name": "credit", "risk_tier": "minimal"}), 409)
    assert "credit" in body["detail"] and "already exists" in body["detail"]
    assert snapshot(http, db) == before
    assert http.get("/models/credit").json()["risk_tier"] == "high"


BAD_BODIES: list[tuple[str, str, dict[str, Any], str]] = [
    ("/models", "bad risk tier", {"name": "m1", "risk_tier": "extreme"}, "risk_tier"),
    ("/models", "unknown field", {"name": "m1", "risk_tier": "high", "colour": "red"}, "colour"),
    ("/models", "name with spaces", {"name": "my model", "risk_tier": "high"}, "name"),
    ("/models", "missing tier", {"name": "m1"}, "risk_tier"),
    (
        "/models",
        "NUL in text",
        {"name": "m1", "risk_tier": "high", "description": "a\x00b"},
        "body",
    ),
    (
        "/models",
        "bad region",
        {"name": "m1", "risk_tier": "high", "approved_regions": ["EU W"]},
        "",
    ),
    ("/runs", "NUL in param", {"params": {"k": "v\x00"}}, "body"),
    ("/datasets", "name too long", {"name": "d" * 129}, "name"),
    ("/principals", "no roles", {"name": "bob", "roles": []}, "roles"),
    ("/principals", "unknown role", {"name": "bob", "roles": ["overlord"]}, "roles"),
    ("/tokens", "empty name", {"name": ""}, "name"),
]


def test_invalid_body_is_422_with_fields_and_changes_nothing(
    http: httpx.Client, db: Database, seeded: dict[str, Any]
) -> None:
    # One server for all cases: each runs in milliseconds, a fresh server takes a second.
    before = snapshot(http, db)
    for path, case, payload, field in BAD_BODIES:
        body = problem(http.post(path, json=payload), 422)
        assert body["code"] == "invalid_input", case
        assert body["errors"], case
        for issue in body["errors"]:
            assert issue["field"] and issue["message"], (case, issue)
        if field:
            assert any(f.startswith(field) for f in fields(body)), (case, body["errors"])
        if field == "body":  # refused while decoding: the message says where
            assert " at " in body["errors"][0]["message"], (case, body["errors"])
    assert snapshot(http, db) == before


def test_version_body_errors_change_nothing(
    http: httpx.Client, db: Database, seeded: dict[str, Any]
) -> None:
    entry = seeded["entry"]
    before = snapshot(http, db)
    cases: list[dict[str, Any]] = [
        {"files": [], "flavor": "skops"},
        {"files": [{**entry, "path": "../escape"}], "flavor": "skops"},
        {"files": [{**entry, "size": entry["size"] + 1}], "flavor": "skops"},
        {"files": [{**entry, "sha256": "f" * 64}], "flavor": "skops"},
        {"files": [entry, entry], "flavor": "skops"},
        {"files": [entry], "flavor": "skops", "run_id": 10**6},
        {
            "files": [entry],
            "flavor": "skops",
            "training_datasets": [{"dataset": "x", "version": 1}],
        },
        {"files": [entry], "flavor": "skops", "parent": {"model": "credit", "version": 99}},
        {"files": [entry], "flavor": "skops", "code": {"commit": "not-hex"}},
    ]
    for payload in cases:
        body = problem(http.post("/models/credit/versions", json=payload), 422)
        assert body["detail"], payload
    files = json.dumps([entry])
    for raw in [
        f'{{"files": {files}, "flavor": "skops", "metrics": {{"acc": NaN}}}}',
        f'{{"files": {files}, "flavor": "skops", "metrics": {{"acc": -Infinity}}}}',
        f'{{"files": {files}, "flavor": "skops", "params": {{"alpha": NaN}}}}',
    ]:
        problem(http.post("/models/credit/versions", content=raw, headers=JSON), 422)
    assert snapshot(http, db) == before
    assert http.get("/models/credit").json()["latest_version"] == 1


def test_malformed_json_and_wrong_shapes_are_422(http: httpx.Client) -> None:
    headers = {"Content-Type": "application/json"}
    problem(http.post("/models", content=b"{not json", headers=headers), 422)
    problem(http.post("/models", content=b"[1, 2]", headers=headers), 422)
    problem(http.post("/models", content=b"", headers=headers), 422)
    problem(http.post("/models", content=b'"a string"', headers=headers), 422)
    # Non-finite numbers are valid Python JSON but not storable: refused, not stored as null.
    body = problem(http.post("/runs", content=b'{"metrics": {"auc": NaN}}', headers=JSON), 422)
    assert any(f.startswith("metrics") for f in fields(body))
    problem(http.post("/runs", content=b'{"metrics": {"auc": Infinity}}', headers=JSON), 422)
    problem(http.post("/runs", content=b'{"params": {"lr": NaN}}', headers=JSON), 422)
    deep = "[" * 5000 + "]" * 5000
    response = http.post("/runs", content=f'{{"params": {{"x": {deep}}}}}', headers=headers)
    assert response.status_code in (400, 422)
    assert "JSON" in problem(response, response.status_code)["detail"]
    nested = "[" * 50 + "]" * 50
    body = problem(
        http.post("/runs", content=f'{{"params": {{"x": {nested}}}}}', headers=JSON), 422
    )
    assert "nested" in body["detail"]


def test_bad_query_and_path_values_are_422(http: httpx.Client, seeded: dict[str, Any]) -> None:
    body = problem(http.get("/models", params={"limit": -1}), 422)
    assert fields(body) == {"query.limit"}
    problem(http.get("/models", params={"limit": 0}), 422)
    problem(http.get("/models", params={"limit": 10**30}), 422)
    problem(http.get("/models", params={"limit": "ten"}), 422)
    problem(http.get("/models", params={"risk_tier": "extreme"}), 422)
    problem(http.get("/versions", params={"stage": "prod"}), 422)
    problem(http.get("/models", params={"tag": ":value"}), 422)
    problem(http.get(f"/runs/{10**30}"), 422)
    problem(http.get(f"/runs/{2**63}"), 422)
    problem(http.get("/runs/0"), 422)
    problem(http.get("/runs/-5"), 422)
    problem(http.get(f"/models/credit/versions/{10**30}"), 422)
    problem(http.get(f"/models/credit/versions/{2**31 + 1}"), 422)
    problem(http.delete(f"/tokens/{10**40}"), 422)
    problem(http.get("/models/has space"), 422)
    problem(http.get("/lineage", params={"node": "model:credit@1", "depth": 10**20}), 422)
    problem(http.get("/lineage", params={"node": "nonsense"}), 422)
    problem(http.get("/lineage"), 422)


def test_invalid_cursor_is_422(http: httpx.Client, seeded: dict[str, Any]) -> None:
    for cursor in ["garbage!", "eyJhZnRlciI6LTF9", "eyJ4IjoxfQ", "e30", "bnVsbA", "x" * 201]:
        body = problem(http.get("/models", params={"cursor": cursor}), 422)
        assert "cursor" in body["detail"]
    problem(http.get("/versions", params={"cursor": "%%%"}), 422)
    problem(http.get("/runs", params={"cursor": "W10"}), 422)


def test_patch_needs_if_match_and_refuses_stale_revision(
    http: httpx.Client, db: Database, seeded: dict[str, Any]
) -> None:
    current = http.get("/models/credit")
    etag = current.headers["etag"]
    assert etag == f'"{current.json()["revision"]}"'
    before = snapshot(http, db)

    body = problem(http.patch("/models/credit", json={"description": "x"}), 428)
    assert "If-Match" in body["detail"]
    stale = f'"{current.json()["revision"] - 1}"'
    body = problem(
        http.patch("/models/credit", json={"description": "x"}, headers={"If-Match": stale}), 412
    )
    assert "revision" in body["detail"]
    problem(
        http.patch("/models/credit", json={"description": "x"}, headers={"If-Match": "abc"}), 422
    )
    problem(
        http.patch("/models/credit", json={"description": "x"}, headers={"If-Match": '"9' * 20}),
        422,
    )
    for path in ["/datasets/loans", f"/runs/{seeded['run_id']}", "/models/credit/versions/1"]:
        problem(http.patch(path, json={}), 428)
        problem(http.patch(path, json={}, headers={"If-Match": '"999"'}), 412)
    assert snapshot(http, db) == before

    ok = http.patch("/models/credit", json={"description": "x"}, headers={"If-Match": etag})
    assert ok.status_code == 200
    assert ok.headers["etag"] == f'"{ok.json()["revision"]}"'


def test_unknown_route_and_wrong_method_are_problems(http: httpx.Client) -> None:
    body = problem(http.get("/no-such-route"), 404)
    assert "/api/v1/no-such-route" in body["detail"]
    problem(http.get("/api/v2/models"), 404)
    response = http.delete("/models")
    body = problem(response, 405)
    assert response.headers["allow"] == "GET, POST"
    assert "GET, POST" in body["detail"]
    response = http.put("/models/credit", json={})
    problem(response, 405)
    assert response.headers["allow"] == "GET, PATCH"


def test_blob_with_wrong_digest_is_422_and_not_stored(
    http: httpx.Client, db: Database, settings: Settings, seeded: dict[str, Any]
) -> None:
    store = Path(settings.resolved_artifact_url)
    files_before = sorted(p for p in store.rglob("*") if p.is_file())
    before = snapshot(http, db)
    claimed = hashlib.sha256(b"what I said").hexdigest()
    body = problem(http.put(f"/blobs/{claimed}", content=b"what I sent"), 422)
    assert body["code"] == "integrity_error"
    assert http.head(f"/blobs/{claimed}").status_code == 404
    problem(http.get(f"/blobs/{claimed}"), 404)
    actual = hashlib.sha256(b"what I sent").hexdigest()
    assert http.head(f"/blobs/{actual}").status_code == 404
    assert sorted(p for p in store.rglob("*") if p.is_file()) == files_before
    spool = settings.home / "tmp"
    assert not any(spool.iterdir()), "the upload spool must be cleaned up"
    problem(http.put("/blobs/NOT-A-DIGEST", content=b"x"), 422)
    problem(http.put("/blobs/" + "A" * 64, content=b"x"), 422)
    assert snapshot(http, db) == before


def test_failing_identity_writes_change_nothing(
    http: httpx.Client, db: Database, seeded: dict[str, Any]
) -> None:
    before = snapshot(http, db)
    problem(http.post("/principals", json={"name": "admin", "roles": ["auditor"]}), 409)
    problem(http.post("/tokens", json={"name": "t", "principal": "ghost"}), 404)
    problem(http.post("/tokens", json={"name": "t", "expires_at": "2001-01-01T00:00:00Z"}), 422)
    problem(http.post("/tokens", json={"name": "t", "expires_at": "2999-01-01T00:00:00"}), 422)
    problem(http.delete("/tokens/999"), 404)
    admin = http.get("/principals/admin")
    problem(
        http.patch(
            "/principals/admin", json={"active": False}, headers={"If-Match": admin.headers["etag"]}
        ),
        409,
    )
    problem(
        http.patch(
            "/models/credit",
            json={"business_owner": "ghost"},
            headers={"If-Match": http.get("/models/credit").headers["etag"]},
        ),
        422,
    )
    problem(http.put("/models/credit/aliases/latest", json={"version": 1}), 422)
    problem(http.put("/models/credit/aliases/champ", json={"version": 7}), 404)
    problem(http.delete("/models/credit/aliases/champ"), 404)
    assert snapshot(http, db) == before


def test_unauthenticated_variants_are_401(server: str) -> None:
    with httpx.Client(base_url=server + API, timeout=30) as anon:
        for headers in [
            {},
            {"Authorization": "Bearer"},
            {"Authorization": "Basic YWRtaW46YWRtaW4="},
            {"Authorization": "Bearer chr_" + "x" * 43},
            {"Authorization": "Bearer " + "y" * 5000},
        ]:
            response = anon.get("/models", headers=headers)
            body = problem(response, 401)
            assert response.headers["www-authenticate"] == "Bearer"
            assert "token" in body["detail"]


UNSTORABLE_BODIES: list[tuple[str, str]] = [
    # Strings PostgreSQL cannot store, in fields without their own NUL check.
    ("/tokens", '{"name": "laptop\\u0000"}'),
    ("/datasets/loans/versions", '{"uri": "s3://b/\\u0000", "digest": "sha256:' + "a" * 64 + '"}'),
    ("/runs", '{"environment": {"python": "3.11", "packages": {"numpy\\u0000": "2"}}}'),
    ("/runs", '{"metrics": {"auc\\u0000": 0.5}}'),
    # Lone surrogates: valid JSON escapes, but no UTF-8 encoding exists to store or return.
    ("/runs", '{"params": {"x": "\\ud800"}}'),
    ("/runs", '{"params": {"\\udfff": 1}}'),
    ("/models", '{"name": "m9", "risk_tier": "high", "tags": {"k": "\\ud83d"}}'),
    # Dates whose UTC form falls outside years 1-9999.
    ("/runs", '{"started_at": "0001-01-01T00:00:00+01:00"}'),
    ("/runs", '{"started_at": "9999-12-31T23:59:59-01:00"}'),
    ("/tokens", '{"name": "t", "expires_at": "9999-12-31T23:59:59-01:00"}'),
]


def test_unstorable_values_are_422_and_change_nothing(
    http: httpx.Client, db: Database, seeded: dict[str, Any]
) -> None:
    before = snapshot(http, db)
    for path, raw in UNSTORABLE_BODIES:
        body = problem(http.post(path, content=raw, headers=JSON), 422)
        assert body["code"] == "invalid_input", raw
    assert snapshot(http, db) == before


def test_nul_in_any_string_query_parameter_is_422(
    http: httpx.Client, seeded: dict[str, Any]
) -> None:
    # Walk the spec so a new string filter is covered the day it is added.
    spec = http.get("/openapi.json").json()
    path_values = {"name": "credit", "version": "1", "run_id": str(seeded["run_id"])}
    checked = 0
    for path, item in spec["paths"].items():
        operation = item.get("get")
        if operation is None or "{sha256}" in path or "{path}" in path:
            continue
        concrete = path.removeprefix(API)
        for key, value in path_values.items():
            concrete = concrete.replace("{" + key + "}", value)
        for param in operation.get("parameters", []):
            schema = param.get("schema", {})
            kinds = [schema.get("type")] + [s.get("type") for s in schema.get("anyOf", [])]
            if param["in"] != "query" or "enum" in str(schema) or "string" not in kinds:
                continue
            for bad in ("a\x00b", "\x00"):
                response = http.get(concrete, params={param["name"]: bad})
                assert response.status_code in (404, 422), (path, param["name"], response.text)
                problem(response, response.status_code)
                checked += 1
    assert checked >= 30


def test_an_unexpected_error_is_a_500_problem_and_keeps_the_connection(
    settings: Settings,
) -> None:
    import threading
    import time

    import uvicorn

    from charter.api.app import create_app
    from tests.conftest import free_port

    app = create_app(settings)

    def broken() -> None:
        raise RuntimeError("a bug")

    # Added after create_app, bypassing its checks: the only way to provoke a real bug.
    app.router.add_api_route(f"{API}/broken", broken, methods=["GET"])
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="critical"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.01)
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}{API}", timeout=30) as client:
            body = problem(client.get("/broken"), 500)
            assert body["code"] == "internal"
            assert "a bug" not in body["detail"]  # internals stay in the log
            # The same kept-alive connection still serves the next request.
            assert client.get("/health").status_code == 200
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def test_a_version_number_past_the_column_is_a_422_not_a_500(http: httpx.Client) -> None:
    for path in ("/models/a/versions/2147483648", "/models/a/versions/2147483648/files/x"):
        response = http.get(path)
        assert response.status_code == 422, response.text
    assert http.get("/models/a/versions/2147483647").status_code == 404


@pytest.mark.parametrize(
    ("failure", "detail"),
    [
        (sa_exc.OperationalError("SELECT 1", {}, OSError("connection refused")), "unreachable"),
        (sa_exc.TimeoutError("QueuePool limit reached"), "no free database connection"),
    ],
)
def test_an_unavailable_database_is_a_503_to_retry(
    http: httpx.Client, monkeypatch: pytest.MonkeyPatch, failure: Exception, detail: str
) -> None:
    def fail(*_: object) -> None:
        raise failure

    monkeypatch.setattr(Database, "point_read", fail)
    response = http.get("/models/credit/versions/1")
    body = problem(response, 503)
    assert detail in body["detail"] and response.headers["retry-after"] == "1"


@pytest.mark.parametrize("backend", ["sqlite"])
def test_a_sqlite_write_lock_held_past_the_timeout_is_a_503_that_records_nothing(
    http: httpx.Client, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine, "SQLITE_BUSY_TIMEOUT_MS", 50)
    holder = sqlite3.connect(db.url.split("///", 1)[1], isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process, say, in a long write
    try:
        response = http.post("/models", json={"name": "held", "risk_tier": "minimal"})
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    body = problem(response, 503)
    assert "busy or unreachable" in body["detail"] and response.headers["retry-after"] == "1"
    assert http.get("/models/held").status_code == 404
    assert http.post("/models", json={"name": "held", "risk_tier": "minimal"}).status_code == 201
