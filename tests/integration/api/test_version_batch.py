"""Batch registration over HTTP: many versions in one request, all or nothing."""

from __future__ import annotations

import base64
import hashlib
import json
import socket
from http.client import HTTPResponse
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from charter.audit import ledger
from charter.client.client import Client
from charter.client.version_batch import VersionToRegister
from charter.domain.errors import InvalidInput, PermissionDenied
from charter.store.engine import Database
from tests.conftest import Admin

API = "/api/v1"


def _file(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def _entry(data: bytes, path: str = "model.bin") -> dict[str, Any]:
    return {"path": path, "size": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@pytest.fixture
def catalog(client: Client) -> int:
    """Models a (retail) and b (banking), dataset d@1 and a run; returns the run's id."""
    client.create_model("a", "minimal", business_unit="retail")
    client.create_model("b", "minimal", business_unit="banking")
    client.create_dataset("d")
    client.create_dataset_version("d", uri="s3://data/d1", digest="sha256:" + "1" * 64)
    return client.create_run(name="train").id


def test_a_batch_records_each_version_as_one_registration_would(
    signed_server: str, admin: Admin, catalog: int, tmp_path: Path, db: Database
) -> None:
    big = _file(tmp_path, "big.bin", b"w" * ((1 << 20) + 1))  # streamed up, not inline
    a1 = tmp_path / "a1"
    a1.mkdir()
    _file(a1, "model.skops", b"first")
    _file(a1, "config.json", b"{}")
    head_before = ledger.head(db).size
    with Client(signed_server, admin.token) as client:
        created = client.register_versions(
            [
                VersionToRegister(
                    "a",
                    a1,
                    "skops",
                    {
                        "training_datasets": [{"dataset": "d", "version": 1}],
                        "run_id": catalog,
                        "tags": {"risk_tier": "minimal"},
                    },
                ),
                VersionToRegister(
                    "a",
                    _file(tmp_path, "second.skops", b"second"),
                    "skops",
                    {"parent": {"model": "a", "version": 1}, "description": "retrained"},
                ),
                VersionToRegister("b", big, "onnx"),
            ]
        )
        assert [(v.model, v.version) for v in created] == [("a", 1), ("a", 2), ("b", 1)]
        assert client.get_model("a").latest_version == 2
        assert client.get_model("b").latest_version == 1
        second = client.get_version("a", 2)
        assert second.parent is not None and second.parent.version == 1
        assert second.description == "retrained"
        first = client.get_version("a", 1)
        assert {f.path for f in first.files} == {"model.skops", "config.json"}
        assert first.tags == {"risk_tier": "minimal"} and first.run_id == catalog
        edges = {(e.source, e.relation) for e in client.lineage("model:a@1", "upstream", 1).edges}
        assert {("dataset:d@1", "trained_on"), (f"run:{catalog}", "produced")} <= edges
        child = client.lineage("model:a@2", "upstream", 1).edges
        assert ("model:a@1", "parent") in {(e.source, e.relation) for e in child}
        for model, version in (("a", 1), ("a", 2), ("b", 1)):
            assert client.signature(model, version).valid
        client.download_version("b", 1, tmp_path / "out")
        assert (tmp_path / "out" / "big.bin").read_bytes() == big.read_bytes()
        events = client.audit_events(limit=100).items
    new = [e for e in events if e.seq > head_before]
    actions = [e.action for e in new]
    assert actions.count("version.create") == 3
    assert actions.count("evidence.signature") == 3
    # Three inline files in the batch; the big one came through its own upload.
    assert actions.count("blob.upload") == 4
    created_event = next(e for e in new if e.subject == "model:a@2")
    assert created_event.entry is not None
    after = json.loads(created_event.entry)["change"]["after"]
    assert after == second.model_dump(mode="json", exclude={"environment"})
    assert {e.subject for e in new if e.action == "version.create"} == {
        "model:a@1",
        "model:a@2",
        "model:b@1",
    }


def test_one_bad_item_fails_the_batch_and_records_nothing(
    client: Client, catalog: int, db: Database
) -> None:
    data = b"weights"
    items = [
        {"model": "a", "files": [_entry(data)], "flavor": "skops"},
        {
            "model": "b",
            "files": [_entry(data)],
            "flavor": "skops",
            "training_datasets": [{"dataset": "d", "version": 7}],
        },
    ]
    head_before = ledger.head(db).size
    with pytest.raises(InvalidInput, match=r"versions\[1\] \(model 'b'\): training_datasets: "):
        client.create_versions(items, {hashlib.sha256(data).hexdigest(): data})
    assert client.get_model("a").latest_version is None
    assert client.list_versions("a").items == []
    assert ledger.head(db).size == head_before
    with pytest.raises(InvalidInput, match=r"versions\[0\] \(model 'ghost'\): no model named"):
        client.create_versions([{**items[0], "model": "ghost"}], {_entry(data)["sha256"]: data})
    with pytest.raises(InvalidInput, match=r"versions\[0\] \(model 'a'\): file 'model.bin': no"):
        client.create_versions([{**items[0], "files": [_entry(b"never uploaded")]}])
    with pytest.raises(InvalidInput, match=r"versions\[0\] \(model 'a'\): parent: model 'a' has"):
        client.create_versions(
            [{**items[0], "parent": {"model": "a", "version": 1}}], {_entry(data)["sha256"]: data}
        )
    assert ledger.head(db).size == head_before
    assert client.get_model("a").latest_version is None


@pytest.mark.parametrize(
    ("blobs", "message"),
    [
        ({"0" * 64: _b64(b"x")}, "its bytes hash to a different SHA-256"),
        ({hashlib.sha256(b"x").hexdigest(): "not base64!"}, "not valid base64"),
        ({hashlib.sha256(b"x").hexdigest(): _b64(b"x")}, "is not a file of any version"),
        ({"NOT-A-DIGEST": _b64(b"x")}, "String should match pattern"),
    ],
)
def test_bad_inline_blobs_are_refused_with_a_reason(
    http: httpx.Client, catalog: int, blobs: dict[str, str], message: str, db: Database
) -> None:
    head_before = ledger.head(db).size
    body = {"versions": [{"model": "a", "files": [_entry(b"w")], "flavor": "skops"}]}
    response = http.post("/versions/batch", json={**body, "blobs": blobs})
    assert response.status_code == 422, response.text
    assert message in response.text
    assert ledger.head(db).size == head_before


def test_an_inline_file_over_1_mib_and_an_empty_batch_are_refused(
    http: httpx.Client, catalog: int
) -> None:
    data = b"w" * ((1 << 20) + 1)
    body = {
        "versions": [{"model": "a", "files": [_entry(data)], "flavor": "skops"}],
        "blobs": {hashlib.sha256(data).hexdigest(): _b64(data)},
    }
    response = http.post("/versions/batch", json=body)
    assert response.status_code == 422
    assert "must be uploaded with PUT /api/v1/blobs/{sha256} first" in response.text
    response = http.post("/versions/batch", json={"versions": []})
    assert response.status_code == 422 and "at least 1 item" in response.text


def test_a_body_declared_over_the_limit_is_refused_before_it_is_read(
    server: str, admin: Admin
) -> None:
    address = urlsplit(server)
    with socket.create_connection((address.hostname, address.port), timeout=10) as sock:
        sock.sendall(
            b"POST /api/v1/versions/batch HTTP/1.1\r\nHost: x\r\n"
            b"Authorization: Bearer " + admin.token.encode() + b"\r\n"
            b"Content-Type: application/json\r\nContent-Length: 500000000\r\n\r\n{"
        )
        # Parsed as a client would: headers and body may come in separate segments.
        answer = HTTPResponse(sock)
        answer.begin()
        body = answer.read().decode()
    assert answer.status == 413, body
    assert "the limit is" in body


def test_a_batch_into_another_units_model_is_denied_and_records_nothing(
    client: Client, server: str, catalog: int, db: Database
) -> None:
    client.create_principal("dana", ["data_scientist"], business_unit="retail")
    data = b"weights"
    blobs = {hashlib.sha256(data).hexdigest(): data}
    items = [
        {"model": "a", "files": [_entry(data)], "flavor": "skops"},
        {"model": "b", "files": [_entry(data)], "flavor": "skops"},  # banking's model
    ]
    with Client(server, client.create_token("t", principal="dana").secret) as dana:
        with pytest.raises(PermissionDenied, match="version:write"):
            dana.create_versions(items, blobs)
        assert client.get_model("a").latest_version is None
        assert not client.blob_exists(next(iter(blobs)))  # a refused batch stores no bytes
        created = dana.create_versions(items[:1], blobs)  # her own unit's model alone
    assert [(v.model, v.version, v.author) for v in created] == [("a", 1, "dana")]
    denials = client.audit_events(action="access.denied").items
    assert any(e.subject == "model:b" for e in denials)


@pytest.fixture
def http(server: str, admin: Admin) -> httpx.Client:
    return httpx.Client(
        base_url=server + API, headers={"Authorization": f"Bearer {admin.token}"}, timeout=60
    )


def test_the_sdk_cuts_batches_at_the_limits_and_streams_what_does_not_fit(
    client: Client, catalog: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import charter.client.version_batch as sdk

    monkeypatch.setattr(sdk, "MAX_BATCH_VERSIONS", 2)
    monkeypatch.setattr(sdk, "INLINE_TOTAL_MAX", 10)  # bytes: two 4-byte files per batch
    sent: list[tuple[int, int]] = []
    send = Client.create_versions

    def counting(self: Client, versions: Any, blobs: Any = None) -> Any:
        sent.append((len(versions), len(blobs or {})))
        return send(self, versions, blobs)

    monkeypatch.setattr(Client, "create_versions", counting)
    paths = [_file(tmp_path, f"m{i}.bin", b"w%03d" % i) for i in range(5)]
    paths.append(_file(tmp_path, "wide.bin", b"x" * 11))  # over the inline total: streamed
    created = client.register_versions([VersionToRegister("a", p, "skops") for p in paths])
    assert [v.version for v in created] == [1, 2, 3, 4, 5, 6]
    assert sent == [(2, 2), (2, 2), (2, 1)]
    for version, path in zip(range(1, 7), paths, strict=True):
        client.download_version("a", version, tmp_path / f"out{version}")
        assert (tmp_path / f"out{version}" / path.name).read_bytes() == path.read_bytes()


def test_concurrent_batches_over_the_same_models_number_every_version_once(
    server: str, admin: Admin, catalog: int, db: Database
) -> None:
    from concurrent.futures import ThreadPoolExecutor

    client_count, per_batch = 4, 6

    def one_batch(index: int) -> list[tuple[str, int]]:
        # Each batch names the models in its own order; the server locks them by name.
        order = ["a", "b"] if index % 2 else ["b", "a"]
        items, blobs = [], {}
        for i in range(per_batch):
            data = b"batch %d item %d" % (index, i)
            blobs[hashlib.sha256(data).hexdigest()] = data
            items.append({"model": order[i % 2], "files": [_entry(data)], "flavor": "skops"})
        with Client(server, admin.token) as mine:
            return [(v.model, v.version) for v in mine.create_versions(items, blobs)]

    with ThreadPoolExecutor(client_count) as pool:
        results = list(pool.map(one_batch, range(client_count)))
    numbers: dict[str, list[int]] = {"a": [], "b": []}
    for result in results:
        for model, version in result:
            numbers[model].append(version)
    half = client_count * per_batch // 2
    assert sorted(numbers["a"]) == list(range(1, half + 1))
    assert sorted(numbers["b"]) == list(range(1, half + 1))
    for result in results:  # each batch's versions of one model are consecutive
        for model in ("a", "b"):
            mine = [v for m, v in result if m == model]
            assert mine == list(range(mine[0], mine[0] + len(mine)))
    report = ledger.verify_database(db, {})
    assert report.ok, report.problems
