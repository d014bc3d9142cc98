"""The registry over HTTP: pagination, every filter, concurrency, stages, aliases, files."""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from charter.client.client import Client
from charter.domain.artifacts import ManifestEntry
from charter.domain.errors import PermissionDenied, PreconditionFailed
from charter.store.engine import Database
from tests.conftest import Admin
from tests.support.stages import put_in_stage

API = "/api/v1"


def walk(http: httpx.Client, path: str, params: dict[str, Any], limit: int) -> list[dict[str, Any]]:
    """Every item of a list, page by page; checks page sizes and cursor termination."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(1000):
        query = {**params, "limit": limit, **({"cursor": cursor} if cursor else {})}
        response = http.get(path, params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["items"]) <= limit
        items.extend(page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            return items
        assert len(page["items"]) == limit, "only the last page may be short"
    raise AssertionError("pagination did not terminate")


@pytest.fixture
def http(server: str, admin: Admin) -> Iterator[httpx.Client]:
    headers = {"Authorization": f"Bearer {admin.token}"}
    with httpx.Client(base_url=server + API, headers=headers, timeout=60) as raw:
        yield raw


def member(client: Client, server: str, name: str, role: str) -> Client:
    client.create_principal(name, [role])
    return Client(server, client.create_token("tests", principal=name).secret)


@pytest.fixture
def artifact(client: Client, tmp_path: Path) -> list[ManifestEntry]:
    path = tmp_path / "model.bin"
    path.write_bytes(b"\x00\x01weights" * 512)
    return client.upload_path(path)


# --- pagination -----------------------------------------------------------------------------


def test_cursor_pagination_visits_every_item_exactly_once(
    client: Client, http: httpx.Client, artifact: list[ManifestEntry]
) -> None:
    names = [f"m{i:02d}" for i in range(25)]
    for name in names:
        client.create_model(name, "minimal")
    for i in range(10):
        client.create_version(names[i % 3], artifact, "skops")
        client.create_dataset(f"d{i}")
        client.create_run(name=f"r{i}")

    models = walk(http, "/models", {}, 7)
    assert [m["name"] for m in models] == names  # stable order: creation order
    sizes = []
    cursor = None
    while True:
        page = client.list_models(limit=7, cursor=cursor)
        sizes.append(len(page.items))
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert sizes == [7, 7, 7, 4]

    versions = walk(http, "/versions", {}, 7)
    assert len({(v["model"], v["version"]) for v in versions}) == len(versions) == 10
    assert len(walk(http, "/datasets", {}, 7)) == 10
    assert len({r["id"] for r in walk(http, "/runs", {}, 3)}) == 10
    assert len(walk(http, "/models/m00/versions", {}, 2)) == 4
    assert len(walk(http, "/principals", {}, 1)) == 1

    # Exactly a multiple of the page size: the last full page must not promise more.
    exact = walk(http, "/models", {"name_prefix": "m0"}, 5)
    assert [m["name"] for m in exact] == names[:10]
    # A model created while paging appears once, at the end.
    first = http.get("/models", params={"limit": 20}).json()
    client.create_model("zz-late", "minimal")
    rest = http.get("/models", params={"limit": 20, "cursor": first["next_cursor"]}).json()
    seen = [m["name"] for m in first["items"] + rest["items"]]
    assert seen == [*names, "zz-late"]


# --- filters --------------------------------------------------------------------------------


@dataclass
class Spec:
    name: str
    risk_tier: str
    business_unit: str | None = None
    business_owner: str | None = None
    technical_owner: str | None = None
    tags: dict[str, str] = field(default_factory=dict)


MODELS = [
    Spec("fraud-a", "high", "retail", "alice", None, {"team": "risk", "env": "prod"}),
    Spec("fraud-b", "limited", "retail", "bob", "alice", {"team": "risk"}),
    Spec("fraud_c", "high", "corporate", None, "bob", {"team": "risk", "env": "dev"}),
    Spec("fraudster", "minimal", None, None, None, {"env": "prod"}),
    Spec("credit-1", "high", "corporate", "bob", None, {"team": "credit", "env": "prod"}),
    Spec("credit-2", "unacceptable", "retail", None, None, {"src": "s3:bucket/x"}),
    Spec("churn", "minimal", "Retail", "alice", "alice", {}),
]
# (model, author, stage, tags) per version, in registration order.
VERSIONS = [
    ("fraud-a", "alice", "production", {"env": "prod", "gpu": "yes"}),
    ("fraud-a", "alice", "none", {"env": "dev"}),
    ("fraud-b", "bob", "staging", {"env": "prod"}),
    ("fraud_c", "bob", "archived", {}),
    ("credit-1", "alice", "staging", {"gpu": "no"}),
    ("credit-1", "admin", "production", {"env": "prod", "gpu": "no"}),
    ("churn", "bob", "none", {"src": "s3:bucket/x"}),
]


def _tag_match(tags: dict[str, str], filters: list[str]) -> bool:
    for item in filters:
        key, sep, value = item.partition(":")
        if key not in tags or (sep and tags[key] != value):
            return False
    return True


@pytest.fixture
def catalogue(
    client: Client, server: str, db: Database, artifact: list[ManifestEntry]
) -> Iterator[dict[str, Client]]:
    authors = {
        "admin": client,
        "alice": member(client, server, "alice", "data_scientist"),
        "bob": member(client, server, "bob", "data_scientist"),
    }
    # Noise a filter must not pick up: a dataset and run with the same tags.
    client.create_dataset("fraud-a", tags={"team": "risk"})
    for spec in MODELS:
        fields = {k: v for k, v in vars(spec).items() if k not in ("name", "risk_tier") and v}
        client.create_model(spec.name, spec.risk_tier, **fields)
    units = {spec.name: spec.business_unit for spec in MODELS}
    for model, author, stage, tags in VERSIONS:
        if author != "admin":
            # Data scientists register only in their own business unit (policy): move
            # the author into the model's unit first.
            unit = units[model]
            assert unit is not None
            client.update_principal(client.get_principal(author), business_unit=unit)
        created = authors[author].create_version(model, artifact, "skops", tags=tags)
        if stage != "none":
            put_in_stage(db, model, created.version, stage)
    yield authors
    for name in ("alice", "bob"):
        authors[name].close()


MODEL_FILTERS: list[tuple[dict[str, Any], Callable[[Spec], bool]]] = [
    ({"name": "fraud-a"}, lambda s: s.name == "fraud-a"),
    ({"name": "fraud"}, lambda s: False),
    ({"name_prefix": "fraud"}, lambda s: s.name.startswith("fraud")),
    # '_' is a LIKE wildcard; a prefix filter must treat it literally.
    ({"name_prefix": "fraud_"}, lambda s: s.name.startswith("fraud_")),
    ({"name_prefix": "credit-"}, lambda s: s.name.startswith("credit-")),
    ({"tag": ["team:risk"]}, lambda s: s.tags.get("team") == "risk"),
    ({"tag": ["env"]}, lambda s: "env" in s.tags),
    ({"tag": ["team:risk", "env:prod"]}, lambda s: _tag_match(s.tags, ["team:risk", "env:prod"])),
    ({"tag": ["team", "env:dev"]}, lambda s: _tag_match(s.tags, ["team", "env:dev"])),
    ({"tag": ["src:s3:bucket/x"]}, lambda s: s.tags.get("src") == "s3:bucket/x"),
    ({"tag": ["team:"]}, lambda s: s.tags.get("team") == ""),
    ({"owner": "alice"}, lambda s: "alice" in (s.business_owner, s.technical_owner)),
    ({"owner": "bob"}, lambda s: "bob" in (s.business_owner, s.technical_owner)),
    ({"business_unit": "retail"}, lambda s: s.business_unit == "retail"),
    ({"business_unit": "corporate"}, lambda s: s.business_unit == "corporate"),
    ({"risk_tier": "high"}, lambda s: s.risk_tier == "high"),
    ({"risk_tier": "unacceptable"}, lambda s: s.risk_tier == "unacceptable"),
    (
        {"risk_tier": "high", "business_unit": "corporate", "tag": ["team:risk"]},
        lambda s: (
            s.risk_tier == "high"
            and s.business_unit == "corporate"
            and s.tags.get("team") == "risk"
        ),
    ),
]


def _model_stages(name: str) -> set[str]:
    return {stage for model, _, stage, _ in VERSIONS if model == name}


@pytest.mark.usefixtures("catalogue")
def test_every_model_filter_returns_exactly_the_matching_set(http: httpx.Client) -> None:
    for params, predicate in MODEL_FILTERS:
        expected = {s.name for s in MODELS if predicate(s)}
        got = [m["name"] for m in walk(http, "/models", params, 2)]
        assert len(got) == len(set(got)), params
        assert set(got) == expected, params
    for stage in ("none", "staging", "production", "archived"):
        got = {m["name"] for m in walk(http, "/models", {"stage": stage}, 2)}
        assert got == {s.name for s in MODELS if stage in _model_stages(s.name)}, stage
    staged = {m["name"] for m in walk(http, "/models", {"stage": "production", "tag": "team"}, 5)}
    assert staged == {"fraud-a", "credit-1"}


VERSION_FILTERS: list[tuple[dict[str, Any], Callable[[str, str, str, dict[str, str]], bool]]] = [
    ({"tag": ["env:prod"]}, lambda m, a, st, tg: tg.get("env") == "prod"),
    ({"tag": ["gpu"]}, lambda m, a, st, tg: "gpu" in tg),
    ({"tag": ["env:prod", "gpu:no"]}, lambda m, a, st, tg: _tag_match(tg, ["env:prod", "gpu:no"])),
    ({"tag": ["src:s3:bucket/x"]}, lambda m, a, st, tg: tg.get("src") == "s3:bucket/x"),
    ({"stage": "staging"}, lambda m, a, st, tg: st == "staging"),
    ({"stage": "none"}, lambda m, a, st, tg: st == "none"),
    ({"model_prefix": "fraud"}, lambda m, a, st, tg: m.startswith("fraud")),
    ({"model_prefix": "fraud_"}, lambda m, a, st, tg: m.startswith("fraud_")),
    ({"model": "credit-1"}, lambda m, a, st, tg: m == "credit-1"),
    ({"owner": "alice"}, lambda m, a, st, tg: a == "alice"),
    ({"owner": "bob", "stage": "archived"}, lambda m, a, st, tg: a == "bob" and st == "archived"),
    ({"business_unit": "retail"}, lambda m, a, st, tg: _spec(m).business_unit == "retail"),
    ({"risk_tier": "high"}, lambda m, a, st, tg: _spec(m).risk_tier == "high"),
    (
        {"risk_tier": "high", "stage": "production", "tag": "env:prod"},
        lambda m, a, st, tg: (
            _spec(m).risk_tier == "high" and st == "production" and tg.get("env") == "prod"
        ),
    ),
]


def _spec(name: str) -> Spec:
    return next(s for s in MODELS if s.name == name)


def _expected_versions(predicate: Callable[[str, str, str, dict[str, str]], bool]) -> set[str]:
    numbers: dict[str, int] = {}
    expected = set()
    for model, author, stage, tags in VERSIONS:
        numbers[model] = numbers.get(model, 0) + 1
        if predicate(model, author, stage, tags):
            expected.add(f"{model}@{numbers[model]}")
    return expected


@pytest.mark.usefixtures("catalogue")
def test_every_version_filter_returns_exactly_the_matching_set(http: httpx.Client) -> None:
    for params, predicate in VERSION_FILTERS:
        got = [f"{v['model']}@{v['version']}" for v in walk(http, "/versions", params, 2)]
        assert len(got) == len(set(got)), params
        assert set(got) == _expected_versions(predicate), params
    # The per-model list takes the same filters, scoped to the model.
    got = {v["version"] for v in walk(http, "/models/fraud-a/versions", {"tag": "env:dev"}, 5)}
    assert got == {2}
    got = {v["version"] for v in walk(http, "/models/credit-1/versions", {"owner": "admin"}, 5)}
    assert got == {2}
    assert walk(http, "/models/fraud-a/versions", {"stage": "archived"}, 5) == []
    assert http.get("/models/nope/versions").status_code == 404


# --- optimistic concurrency -----------------------------------------------------------------


def test_two_writers_of_one_revision_one_wins(client: Client, server: str) -> None:
    client.create_model("shared", "high")
    with Client(server, client.create_token("second").secret) as other:
        mine, theirs = client.get_model("shared"), other.get_model("shared")
        assert mine.revision == theirs.revision
        updated = client.update_model(mine, description="mine")
        assert updated.revision == mine.revision + 1
        with pytest.raises(PreconditionFailed):
            other.update_model(theirs, description="theirs")
    assert client.get_model("shared").description == "mine"


def test_concurrent_patches_of_one_revision_exactly_one_succeeds(
    client: Client, http: httpx.Client, server: str
) -> None:
    client.create_model("raced", "high")
    etag = http.get("/models/raced").headers["etag"]
    token = http.headers["Authorization"]
    start = threading.Barrier(6)

    def patch(i: int) -> int:
        with httpx.Client(base_url=server + API, headers={"Authorization": token}) as own:
            start.wait()
            return own.patch(
                "/models/raced", json={"description": f"w{i}"}, headers={"If-Match": etag}
            ).status_code

    with ThreadPoolExecutor(6) as pool:
        codes = list(pool.map(patch, range(6)))
    assert sorted(codes) == [200] + [412] * 5
    final = http.get("/models/raced").json()
    assert final["revision"] == int(etag.strip('"')) + 1


# --- stages and aliases ---------------------------------------------------------------------


def test_aliases_set_move_and_delete(
    client: Client, server: str, http: httpx.Client, artifact: list[ManifestEntry]
) -> None:
    client.create_model("aliased", "minimal")
    for _ in range(3):
        client.create_version("aliased", artifact, "skops")
    assert client.set_alias("aliased", "champion", 1).version == 1
    assert client.set_alias("aliased", "challenger", 2).version == 2
    assert client.get_alias("aliased", "champion").version == 1
    assert client.get_model("aliased").aliases == {"champion": 1, "challenger": 2}

    with member(client, server, "ops", "ml_engineer") as ops:
        assert ops.set_alias("aliased", "champion", 3).version == 3  # move
    assert client.get_alias("aliased", "champion").version == 3
    assert client.get_version("aliased", 3).aliases == ["champion"]
    assert client.get_version("aliased", 1).aliases == []

    with member(client, server, "dora", "data_scientist") as dora:
        with pytest.raises(PermissionDenied):
            dora.set_alias("aliased", "champion", 1)
        with pytest.raises(PermissionDenied):
            dora.delete_alias("aliased", "champion")

    client.delete_alias("aliased", "champion")
    assert http.get("/models/aliased/aliases/champion").status_code == 404
    assert http.delete("/models/aliased/aliases/champion").status_code == 404
    assert client.get_model("aliased").aliases == {"challenger": 2}
    for bad in ("7", "latest"):
        response = http.put(f"/models/aliased/aliases/{bad}", json={"version": 1})
        assert response.status_code == 422, response.text


# --- concurrent version numbering -----------------------------------------------------------


def test_concurrent_registrations_number_versions_without_gaps(
    client: Client, server: str, artifact: list[ManifestEntry]
) -> None:
    client.create_model("busy", "high")
    token = client.create_token("workers").secret
    start = threading.Barrier(8)

    def register(_: int) -> int:
        with Client(server, token) as own:
            start.wait()
            return own.create_version("busy", artifact, "skops").version

    with ThreadPoolExecutor(8) as pool:
        numbers = list(pool.map(register, range(8)))
    assert sorted(numbers) == list(range(1, 9))
    listed = [v.version for v in client.list_versions("busy").items]
    assert sorted(listed) == list(range(1, 9))
    assert client.get_model("busy").latest_version == 8


# --- files ----------------------------------------------------------------------------------


def test_download_one_file_by_path(client: Client, http: httpx.Client, tmp_path: Path) -> None:
    root = tmp_path / "bundle"
    (root / "sub" / "deep").mkdir(parents=True)
    (root / "model.onnx").write_bytes(b"onnx-bytes" * 100)
    (root / "sub" / "deep" / "vocab.txt").write_text("a\nb\n")
    client.create_model("files", "minimal")
    client.register_version("files", root, "onnx")

    response = http.get("/models/files/versions/1/files/sub/deep/vocab.txt")
    assert response.status_code == 200
    assert response.content == b"a\nb\n"
    assert 'filename="vocab.txt"' in response.headers["content-disposition"]
    vocab_digest = hashlib.sha256(b"a\nb\n").hexdigest()
    assert response.headers["etag"] == f'"{vocab_digest}"'
    assert http.get("/models/files/versions/1/files/model.onnx").content == b"onnx-bytes" * 100
    missing = http.get("/models/files/versions/1/files/absent.bin")
    assert missing.status_code == 404 and "model.onnx" in missing.json()["detail"]
    assert http.get("/models/files/versions/2/files/model.onnx").status_code == 404


def test_stream_20_mb_upload_and_download_with_digest_check(
    client: Client, http: httpx.Client, tmp_path: Path
) -> None:
    source = tmp_path / "big.bin"
    digest = hashlib.sha256()
    with source.open("wb") as out:
        for _ in range(20):
            chunk = os.urandom(1 << 20)
            digest.update(chunk)
            out.write(chunk)
    client.create_model("large", "limited")
    seen: list[int] = []
    version = client.register_version("large", source, "onnx", progress=seen.append)
    assert sum(seen) == 20 << 20
    assert version.files[0].sha256 == digest.hexdigest()
    assert version.files[0].size == 20 << 20

    dest = tmp_path / "out"
    client.download_version("large", 1, dest)
    assert hashlib.sha256((dest / "big.bin").read_bytes()).hexdigest() == digest.hexdigest()

    streamed = hashlib.sha256()
    with http.stream("GET", f"/blobs/{digest.hexdigest()}") as response:
        assert response.status_code == 200
        assert response.headers["content-length"] == str(20 << 20)
        for chunk in response.iter_bytes():
            streamed.update(chunk)
    assert streamed.hexdigest() == digest.hexdigest()
    head = http.head(f"/blobs/{digest.hexdigest()}")
    assert head.status_code == 200 and head.headers["content-length"] == str(20 << 20)
