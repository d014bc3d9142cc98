"""MLflow side of the benchmark; runs inside bench/.venv-mlflow and prints JSON results.

Usage (run.py does this): .venv-mlflow/bin/python bench/mlflow_registry.py '<config JSON>'
Config keys: store_uri, label, versions, models, http_versions, concurrency, workers,
samples, warmup, workdir. Progress goes to stderr; stdout holds only the result JSON.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

# Keep MLflow from phoning home or printing tips into our JSON.
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")
os.environ.setdefault("DO_NOT_TRACK", "true")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")

import mlflow
import requests
from mlflow.tracking import MlflowClient

sys.path.insert(0, str(Path(__file__).resolve().parent))
from workload import (
    QueryPicker,
    Sizes,
    VersionPlan,
    model_name,
    model_risk_tier,
    plan_version,
    run_parallel,
    time_query,
)


def log(message: str) -> None:
    print(f"[mlflow] {message}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def register(client: MlflowClient, plan: VersionPlan) -> None:
    created = client.create_model_version(
        name=plan.model,
        # MLflow records the source URI and uploads nothing at this call.
        source=f"s3://bench-artifacts/{plan.model}/{plan.version}",
        tags=plan.tags,
        description=f"version {plan.version} of {plan.model}",
    )
    if int(created.version) != plan.version:
        raise RuntimeError(f"{plan.model}: got version {created.version}, planned {plan.version}")


def start_server(cfg: dict[str, Any]) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    artifacts = Path(cfg["workdir"]) / "mlflow-artifacts"
    artifacts.mkdir(parents=True, exist_ok=True)
    bindir = Path(sys.executable).parent
    logfile = open(Path(cfg["workdir"]) / "mlflow-server.log", "wb")  # noqa: SIM115
    proc = subprocess.Popen(
        [
            str(bindir / "mlflow"),
            "server",
            "--backend-store-uri",
            cfg["store_uri"],
            "--default-artifact-root",
            str(artifacts),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(cfg["workers"]),
        ],
        stdout=logfile,
        stderr=subprocess.STDOUT,
        # Its own session, so stopping it also stops the workers it forks.
        start_new_session=True,
        # The registry needs no background job runner; its polling would only steal CPU
        # from MLflow's own server on this 2-core machine.
        env={**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"},
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"mlflow server exited with {proc.returncode}; see {logfile.name}")
        try:
            if requests.get(url + "/health", timeout=2).ok:
                return proc, url
        except requests.RequestException:
            pass
        time.sleep(0.25)
    stop_server(proc)
    raise RuntimeError("mlflow server did not become ready within 120 s")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def queries(client: MlflowClient, sizes: Sizes, samples: int, warmup: int) -> dict[str, Any]:
    pick = QueryPicker(sizes)

    def point() -> None:
        name, version = pick.point()
        client.get_model_version(name, str(version))

    def tag_search() -> None:
        unit, tier = pick.tag_pair()
        found = client.search_model_versions(
            f"tags.business_unit = '{unit}' AND tags.risk_tier = '{tier}'", max_results=100
        )
        if not found:
            raise RuntimeError("two-tag search found nothing")

    def prefix_search() -> None:
        found = client.search_registered_models(f"name LIKE '{pick.prefix()}%'", max_results=100)
        if not found:
            raise RuntimeError("prefix search found nothing")

    return {
        "point_lookup": time_query(point, samples, warmup),
        "tag_search": time_query(tag_search, samples, warmup),
        "prefix_search": time_query(prefix_search, samples, warmup),
        "lineage_depth5": None,  # MLflow's registry has no lineage query
    }


def connection_reuse(url: str, sizes: Sizes, samples: int) -> dict[str, Any]:
    """Point lookup: MlflowClient, raw REST kept-alive, raw REST with a new connection each."""
    pick = QueryPicker(sizes, seed=11)
    endpoint = url + "/api/2.0/mlflow/model-versions/get"
    sdk = MlflowClient(tracking_uri=url, registry_uri=url)
    keep, close = requests.Session(), requests.Session()
    close.headers["Connection"] = "close"

    def via(session: requests.Session) -> Any:
        def call() -> None:
            name, version = pick.point()
            params = {"name": name, "version": str(version)}
            session.get(endpoint, params=params, timeout=30).raise_for_status()

        return call

    def sdk_call() -> None:
        name, version = pick.point()
        sdk.get_model_version(name, str(version))

    result = {
        "sdk_reused": time_query(sdk_call, samples, 5),
        "reused_connection": time_query(via(keep), samples, 5),
        "new_connection": time_query(via(close), samples, 5),
    }
    keep.close()
    close.close()
    return result


def main() -> None:
    cfg = json.loads(sys.argv[1])
    sizes = Sizes(cfg["versions"], cfg["models"])
    sizes.check()
    http_count = cfg["http_versions"]
    plans = [plan_version(i, sizes.models) for i in range(sizes.versions)]
    local_plans, http_plans = plans[: len(plans) - http_count], plans[len(plans) - http_count :]
    result: dict[str, Any] = {
        "system": "mlflow",
        "label": cfg["label"],
        "version": mlflow.__version__,
        "store": cfg["store_uri"].split("://")[0],
    }

    client = MlflowClient(tracking_uri=cfg["store_uri"], registry_uri=cfg["store_uri"])
    client.search_registered_models(max_results=1)  # creates and migrates the schema
    log(f"{cfg['label']}: creating {sizes.models} models")
    start = time.perf_counter()
    for index in range(sizes.models):
        client.create_registered_model(
            model_name(index), tags={"risk_tier": model_risk_tier(index)}
        )
    models_s = time.perf_counter() - start
    log(f"{cfg['label']}: registering {len(local_plans)} versions in-process")
    local_s = run_parallel(local_plans, lambda _: lambda p: register(client, p), 1)
    result["setup"] = {"models": sizes.models, "models_per_s": round(sizes.models / models_s, 1)}
    result["inprocess"] = {
        "registration": {
            "versions": len(local_plans),
            "concurrency": 1,
            "seconds": round(local_s, 2),
            "per_s": round(len(local_plans) / local_s, 1),
        }
    }

    proc, url = start_server(cfg)
    try:
        log(f"{cfg['label']}: registering {len(http_plans)} versions over HTTP ({url})")

        def http_worker(_: int) -> Any:
            remote = MlflowClient(tracking_uri=url, registry_uri=url)
            return lambda plan: register(remote, plan)

        http_s = run_parallel(http_plans, http_worker, cfg["concurrency"])
    finally:
        stop_server(proc)
    result["http"] = {
        "registration": {
            "versions": len(http_plans),
            "concurrency": cfg["concurrency"],
            "seconds": round(http_s, 2),
            "per_s": round(len(http_plans) / http_s, 1),
        },
        "workers": cfg["workers"],
    }
    # In-process queries run with no server up, so nothing else competes for the CPU.
    log(f"{cfg['label']}: in-process queries")
    result["inprocess"]["queries"] = queries(client, sizes, cfg["samples"], cfg["warmup"])
    proc, url = start_server(cfg)
    try:
        log(f"{cfg['label']}: HTTP queries")
        remote = MlflowClient(tracking_uri=url, registry_uri=url)
        result["http"]["queries"] = queries(remote, sizes, cfg["samples"], cfg["warmup"])
        result["http"]["connection"] = connection_reuse(url, sizes, min(cfg["samples"], 100))
    finally:
        stop_server(proc)
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
