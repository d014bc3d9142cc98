"""Charter side of the benchmark: register the workload and time queries in-process and over HTTP.

In-process means the service layer (`charter.registry.*` with a `Database` and an admin
`Actor`); HTTP means the SDK `charter.Client` against a `charter server` subprocess.
"""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from workload import (
    BUSINESS_UNITS,
    DATASET_VERSIONS,
    DATASETS,
    QueryPicker,
    Sizes,
    VersionPlan,
    model_name,
    model_risk_tier,
    percentiles,
    plan_version,
    run_parallel,
    run_threads,
    time_query,
)

from charter import __version__ as charter_version
from charter.access.tokens import authenticate
from charter.artifacts.blobstore import BlobStore, blobstore_from_url
from charter.client.client import Client
from charter.domain.artifacts import ManifestEntry
from charter.domain.common import DatasetVersionRef, ModelVersionRef
from charter.domain.enums import RiskTier
from charter.domain.identity import Actor
from charter.domain.registry import (
    DatasetCreate,
    DatasetVersionCreate,
    ModelCreate,
    ModelVersionCreate,
    RunCreate,
)
from charter.registry import datasets, lineage, models, registration, runs, versions
from charter.settings import Settings
from charter.setup import init_home
from charter.store.engine import Database

BLOB_PATH = "model.bin"
FLAVOR = "skops"


def log(message: str) -> None:
    print(f"[charter] {message}", file=sys.stderr, flush=True)


@dataclass
class Target:
    """One Charter installation under test: its home, database and admin credentials."""

    label: str
    settings: Settings
    db: Database
    blobs: BlobStore
    actor: Actor
    token: str
    run_ids: dict[int, int]


def prepare(label: str, home: Path, database_url: str | None) -> Target:
    settings = Settings(home=home, database_url=database_url)
    _, issued = init_home(settings, "admin")
    db = Database(settings.resolved_database_url, pool_size=4)
    return Target(
        label=label,
        settings=settings,
        db=db,
        blobs=blobstore_from_url(settings.resolved_artifact_url),
        actor=authenticate(db, issued.secret),
        token=issued.secret,
        run_ids={},
    )


def create_catalog(target: Target, sizes: Sizes) -> dict[str, Any]:
    """Datasets (with derived_from chains), models and one training run per model."""
    db, actor = target.db, target.actor
    for d in range(DATASETS):
        name = f"dataset-{d:02d}"
        datasets.create_dataset(db, actor, DatasetCreate(name=name, business_unit="bu0"))
        for v in range(1, DATASET_VERSIONS + 1):
            datasets.create_dataset_version(
                db,
                actor,
                name,
                DatasetVersionCreate(
                    uri=f"s3://bench-data/{name}/v{v}.parquet",
                    digest="sha256:" + hashlib.sha256(f"{name}@{v}".encode()).hexdigest(),
                    row_count=1000 * v,
                    data_region="eu-west",
                    legal_basis="contract",
                    derived_from=DatasetVersionRef(dataset=name, version=v - 1) if v > 1 else None,
                ),
            )
    start = time.perf_counter()
    for i in range(sizes.models):
        models.create_model(
            db,
            actor,
            ModelCreate(
                name=model_name(i),
                risk_tier=RiskTier(model_risk_tier(i)),
                business_unit=BUSINESS_UNITS[i % len(BUSINESS_UNITS)],
                tags={"risk_tier": model_risk_tier(i)},
            ),
        )
    models_s = time.perf_counter() - start
    for i in range(sizes.models):
        run = runs.create_run(
            db,
            actor,
            RunCreate(
                name=f"train-{model_name(i)}",
                params={"seed": i},
                inputs=[DatasetVersionRef(dataset=f"dataset-{i % DATASETS:02d}", version=1)],
            ),
        )
        target.run_ids[i] = run.id
    return {"models": sizes.models, "models_per_s": round(sizes.models / models_s, 1)}


def version_body(target: Target, plan: VersionPlan, entry: ManifestEntry) -> dict[str, Any]:
    return {
        "files": [entry],
        "flavor": FLAVOR,
        "description": f"version {plan.version} of {plan.model}",
        "tags": plan.tags,
        "training_datasets": [
            DatasetVersionRef(dataset=plan.dataset, version=plan.dataset_version)
        ],
        "parent": ModelVersionRef(model=plan.model, version=plan.version - 1)
        if plan.version > 1
        else None,
        "run_id": target.run_ids[plan.run_index],
    }


def register_inprocess(target: Target, plans: list[VersionPlan]) -> dict[str, Any]:
    upload_s = create_s = 0.0

    def register(plan: VersionPlan) -> None:
        nonlocal upload_s, create_s
        start = time.perf_counter()
        info = target.blobs.put_stream([plan.blob()])
        entry = ManifestEntry(path=BLOB_PATH, size=info.size, sha256=info.sha256)
        middle = time.perf_counter()
        created = registration.create_version(
            target.db,
            target.blobs,
            target.actor,
            plan.model,
            ModelVersionCreate(**version_body(target, plan, entry)),
        )
        create_s += time.perf_counter() - middle
        upload_s += middle - start
        if created.version != plan.version:
            raise RuntimeError(f"{plan.model}: got version {created.version}, not {plan.version}")

    elapsed = run_parallel(plans, lambda _: register, 1)
    return {
        "versions": len(plans),
        "concurrency": 1,
        "seconds": round(elapsed, 2),
        "per_s": round(len(plans) / elapsed, 1),
        "blob_put_ms_mean": round(upload_s * 1000 / len(plans), 3),
        "create_ms_mean": round(create_s * 1000 / len(plans), 3),
    }


def register_http(
    target: Target, url: str, plans: list[VersionPlan], concurrency: int, workdir: Path
) -> dict[str, Any]:
    files = workdir / "upload"
    files.mkdir(parents=True, exist_ok=True)
    for plan in plans:  # written before the clock starts: we time the upload, not the disk
        (files / f"{plan.seq}.bin").write_bytes(plan.blob())
    totals = {"upload": 0.0, "create": 0.0}
    lock = threading.Lock()
    clients: list[Client] = []

    def worker(_: int) -> Callable[[VersionPlan], None]:
        client = Client(url, target.token)
        clients.append(client)

        def register(plan: VersionPlan) -> None:
            start = time.perf_counter()
            entries = client.upload_path(files / f"{plan.seq}.bin")
            entry = ManifestEntry(path=BLOB_PATH, size=entries[0].size, sha256=entries[0].sha256)
            middle = time.perf_counter()
            created = client.create_version(plan.model, **version_body(target, plan, entry))
            with lock:
                totals["create"] += time.perf_counter() - middle
                totals["upload"] += middle - start
            if created.version != plan.version:
                raise RuntimeError(f"{plan.model}: got version {created.version}")

        return register

    try:
        elapsed = run_parallel(plans, worker, concurrency)
    finally:
        for client in clients:
            client.close()
    return {
        "versions": len(plans),
        "concurrency": concurrency,
        "seconds": round(elapsed, 2),
        "per_s": round(len(plans) / elapsed, 1),
        "blob_upload_ms_mean": round(totals["upload"] * 1000 / len(plans), 3),
        "create_ms_mean": round(totals["create"] * 1000 / len(plans), 3),
    }


def register_http_batches(
    target: Target,
    url: str,
    plans: list[VersionPlan],
    concurrency: int,
    batch_size: int,
    models: int,
) -> dict[str, Any]:
    """The same registrations, `batch_size` versions per request (POST /versions/batch),
    each version's 1 KB file inline: one request and one transaction per batch.

    Batches run concurrently, so they go in rounds of `models` consecutive plans (each
    model at most once), one round after the other: every version's parent, in the round
    before, is registered before its batch starts. The rate is over all rounds."""
    rounds = [plans[i : i + models] for i in range(0, len(plans), models)]
    bodies: list[list[tuple[list[VersionPlan], list[dict[str, Any]], dict[str, bytes]]]] = []
    for round_plans in rounds:  # built before the clock starts, like the single series' files
        batches = [round_plans[i : i + batch_size] for i in range(0, len(round_plans), batch_size)]
        if len({p.model for p in round_plans}) != len(round_plans):
            raise RuntimeError("a round holds two versions of one model: unsafe parent order")
        round_bodies = []
        for batch in batches:
            items, blobs = [], {}
            for plan in batch:
                data = plan.blob()
                entry = ManifestEntry(
                    path=BLOB_PATH, size=len(data), sha256=hashlib.sha256(data).hexdigest()
                )
                blobs[entry.sha256] = data
                items.append({"model": plan.model, **version_body(target, plan, entry)})
            round_bodies.append((batch, items, blobs))
        bodies.append(round_bodies)
    lock = threading.Lock()
    latencies: list[float] = []
    errors: list[BaseException] = []
    elapsed = 0.0
    for round_bodies in bodies:
        pending = iter(round_bodies)

        def loop(_: int, pending: Any = pending) -> None:
            with Client(url, target.token) as client:
                while True:
                    with lock:
                        job = None if errors else next(pending, None)
                    if job is None:
                        return
                    batch, items, blobs = job
                    start = time.perf_counter()
                    try:
                        created = client.create_versions(items, blobs)
                    except BaseException as exc:
                        with lock:
                            errors.append(exc)
                        return
                    with lock:
                        latencies.append((time.perf_counter() - start) * 1000)
                    if [v.version for v in created] != [p.version for p in batch]:
                        with lock:
                            errors.append(RuntimeError("batch numbered versions out of plan"))
                        return

        elapsed += run_threads(loop, concurrency)
        if errors:
            raise errors[0]
    return {
        "versions": len(plans),
        "batch_size": batch_size,
        "concurrency": concurrency,
        "rounds": len(rounds),
        "seconds": round(elapsed, 2),
        "per_s": round(len(plans) / elapsed, 1),
        "batch_ms": percentiles(latencies),
    }


def queries_inprocess(target: Target, sizes: Sizes, samples: int, warmup: int) -> dict[str, Any]:
    pick, db = QueryPicker(sizes), target.db

    def point() -> None:
        versions.get_version(db, *pick.point())

    def tag_search() -> None:
        unit, tier = pick.tag_pair()
        page = versions.list_versions(
            db, tags=[f"business_unit:{unit}", f"risk_tier:{tier}"], limit=100
        )
        if not page.items:
            raise RuntimeError("two-tag search found nothing")

    def prefix_search() -> None:
        if not models.list_models(db, name_prefix=pick.prefix(), limit=100).items:
            raise RuntimeError("prefix search found nothing")

    def lineage_walk() -> None:
        name, version = pick.lineage_root()
        graph = lineage.lineage(db, f"model:{name}@{version}", "both", 5)
        if len(graph.edges) < 2:
            raise RuntimeError(f"lineage of {name}@{version} is trivial")

    return {
        "point_lookup": time_query(point, samples, warmup),
        "tag_search": time_query(tag_search, samples, warmup),
        "prefix_search": time_query(prefix_search, samples, warmup),
        "lineage_depth5": time_query(lineage_walk, samples, warmup),
    }


def queries_http(client: Client, sizes: Sizes, samples: int, warmup: int) -> dict[str, Any]:
    pick = QueryPicker(sizes)

    def point() -> None:
        client.get_version(*pick.point())

    def tag_search() -> None:
        unit, tier = pick.tag_pair()
        page = client.search_versions(tag=[f"business_unit:{unit}", f"risk_tier:{tier}"], limit=100)
        if not page.items:
            raise RuntimeError("two-tag search found nothing")

    def prefix_search() -> None:
        if not client.list_models(name_prefix=pick.prefix(), limit=100).items:
            raise RuntimeError("prefix search found nothing")

    def lineage_walk() -> None:
        name, version = pick.lineage_root()
        if len(client.lineage(f"model:{name}@{version}", "both", 5).edges) < 2:
            raise RuntimeError(f"lineage of {name}@{version} is trivial")

    return {
        "point_lookup": time_query(point, samples, warmup),
        "tag_search": time_query(tag_search, samples, warmup),
        "prefix_search": time_query(prefix_search, samples, warmup),
        "lineage_depth5": time_query(lineage_walk, samples, warmup),
    }


def connection_reuse(url: str, token: str, sizes: Sizes, samples: int) -> dict[str, Any]:
    """Point lookup: SDK client (kept-alive), raw HTTP kept-alive, raw HTTP new connection each.

    A reused connection must not be slower than a new one (MLflow's is, by ~40 ms).
    """
    pick = QueryPicker(sizes, seed=11)
    auth = {"Authorization": f"Bearer {token}"}
    base = url + "/api/v1"
    with (
        Client(url, token) as sdk,
        httpx.Client(base_url=base, headers=auth) as keep,
        httpx.Client(base_url=base, headers={**auth, "Connection": "close"}) as close,
    ):

        def via(http: httpx.Client) -> Callable[[], None]:
            def call() -> None:
                name, version = pick.point()
                http.get(f"/models/{name}/versions/{version}").raise_for_status()

            return call

        return {
            "sdk_reused": time_query(lambda: sdk.get_version(*pick.point()), samples, 5),
            "reused_connection": time_query(via(keep), samples, 5),
            "new_connection": time_query(via(close), samples, 5),
        }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def running_server(target: Target, workers: int, workdir: Path) -> Iterator[str]:
    """`charter server` as a subprocess on a free loopback port, stopped on exit."""
    port = _free_port()
    env = {**os.environ, "CHARTER_HOME": str(target.settings.home)}
    env.pop("CHARTER_DATABASE_URL", None)
    if target.settings.database_url:
        env["CHARTER_DATABASE_URL"] = target.settings.database_url
    charter_bin = Path(sys.executable).parent / "charter"
    logfile = workdir / f"charter-server-{target.label}.log"
    with logfile.open("ab") as out:
        proc = subprocess.Popen(
            [
                str(charter_bin),
                "server",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--workers",
                str(workers),
                "--log-level",
                "warning",
            ],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # so stopping it also stops its worker processes
        )
        url = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 60
            while True:
                if proc.poll() is not None:
                    raise RuntimeError(f"charter server exited; see {logfile}")
                try:
                    if httpx.get(url + "/api/v1/health", timeout=2).is_success:
                        break
                except httpx.HTTPError:
                    pass
                if time.monotonic() > deadline:
                    raise RuntimeError(f"charter server did not start in 60 s; see {logfile}")
                time.sleep(0.2)
            yield url
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def bench(
    label: str,
    database_url: str | None,
    workdir: Path,
    sizes: Sizes,
    http_versions: int,
    batch_versions: int,
    batch_size: int,
    concurrency: int,
    workers: int,
    samples: int,
    warmup: int,
) -> dict[str, Any]:
    """The whole Charter run on one database: register, then query in-process and over HTTP."""
    workdir.mkdir(parents=True, exist_ok=True)
    target = prepare(label, workdir / "home", database_url)
    plans = [plan_version(i, sizes.models) for i in range(sizes.versions)]
    remote = http_versions + batch_versions
    local_plans = plans[: len(plans) - remote]
    http_plans = plans[len(plans) - remote : len(plans) - batch_versions]
    batch_plans = plans[len(plans) - batch_versions :]
    result: dict[str, Any] = {
        "system": "charter",
        "label": label,
        "version": charter_version,
        "store": target.db.engine.dialect.name,
    }
    try:
        log(f"{label}: creating datasets, {sizes.models} models and their runs")
        result["setup"] = create_catalog(target, sizes)
        log(f"{label}: registering {len(local_plans)} versions in-process")
        result["inprocess"] = {"registration": register_inprocess(target, local_plans)}
        with running_server(target, workers, workdir) as url:
            log(f"{label}: registering {len(http_plans)} versions over HTTP ({url})")
            registration = register_http(target, url, http_plans, concurrency, workdir)
            batched = None
            if batch_plans:
                log(f"{label}: registering {len(batch_plans)} versions in batches of {batch_size}")
                batched = register_http_batches(
                    target, url, batch_plans, concurrency, batch_size, sizes.models
                )
        result["http"] = {
            "registration": registration,
            "batch_registration": batched,
            "workers": workers,
        }
        if not target.db.is_sqlite:
            # What autovacuum does on a live database soon after a bulk load. Without it the
            # timings depend on when autovacuum happens to run: statistics taken midway gave
            # a two-tag search plan 3x slower, an unvacuumed table makes index-only scans
            # visit the heap, and a vacuum started during the timed queries competes with
            # them for the CPU (the point lookup measured 0.16 and 0.34 ms in two runs).
            log(f"{label}: VACUUM ANALYZE")
            with target.db.engine.connect().execution_options(
                isolation_level="AUTOCOMMIT"
            ) as connection:
                connection.exec_driver_sql("VACUUM ANALYZE")
        # In-process queries run with no server up, so nothing else competes for the CPU.
        log(f"{label}: in-process queries")
        result["inprocess"]["queries"] = queries_inprocess(target, sizes, samples, warmup)
        with running_server(target, workers, workdir) as url:
            log(f"{label}: HTTP queries")
            with Client(url, target.token) as client:
                result["http"]["queries"] = queries_http(client, sizes, samples, warmup)
            result["http"]["connection"] = connection_reuse(
                url, target.token, sizes, min(samples, 100)
            )
    finally:
        target.db.dispose()
    return result
