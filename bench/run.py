"""`make bench`: Charter's registry vs MLflow's, on SQLite and PostgreSQL, in-process and HTTP.

Writes bench/results/latest.json and latest.md and prints Rich tables. See bench/README.md.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(BENCH), str(ROOT)]  # workload/report modules; tests.support.pgcluster

import charter_registry  # noqa: E402
import report  # noqa: E402
import sqlalchemy  # noqa: E402
from rich.console import Console  # noqa: E402
from workload import Sizes  # noqa: E402

from charter import __version__ as charter_version  # noqa: E402

MLFLOW_VENV = BENCH / ".venv-mlflow"
MLFLOW_PACKAGES = ["mlflow", "psycopg2-binary"]
console = Console(stderr=True)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--versions", type=int, default=10_000, help="model versions in total")
    parser.add_argument("--models", type=int, default=1_000, help="models they are spread over")
    parser.add_argument(
        "--http-versions",
        type=int,
        default=1_000,
        help="how many of the versions are registered over HTTP (at most half); "
        "the rest are registered in-process first",
    )
    parser.add_argument(
        "--batch-versions",
        type=int,
        default=3_000,
        help="Charter only: versions registered over HTTP in batches (POST /versions/batch), "
        "taken from the in-process share, in rounds of at most one version per model",
    )
    parser.add_argument("--batch-size", type=int, default=100, help="versions per batch request")
    parser.add_argument("--concurrency", type=int, default=4, help="HTTP registration clients")
    parser.add_argument("--workers", type=int, default=2, help="server worker processes (both)")
    parser.add_argument("--samples", type=int, default=200, help="timed calls per query")
    parser.add_argument("--warmup", type=int, default=10, help="untimed calls before each query")
    parser.add_argument("--skip-mlflow", action="store_true", help="run Charter only")
    parser.add_argument("--skip-postgres", action="store_true", help="SQLite only")
    parser.add_argument(
        "--mlflow-postgres", action="store_true", help="also run MLflow on PostgreSQL"
    )
    parser.add_argument(
        "--reuse-mlflow",
        type=Path,
        metavar="RESULTS_JSON",
        help="take MLflow's numbers from an earlier results file instead of rerunning it",
    )
    parser.add_argument("--output", type=Path, default=BENCH / "results" / "latest.json")
    args = parser.parse_args()
    Sizes(args.versions, args.models).check()
    if args.http_versions < 1 or args.concurrency < 1 or args.workers < 1 or args.samples < 1:
        parser.error("--http-versions, --concurrency, --workers and --samples must be >= 1")
    args.http_versions = min(args.http_versions, args.versions // 2)
    if not 1 <= args.batch_size <= 1_000:
        parser.error("--batch-size must be between 1 and 1000")
    # Batches go in rounds of at most one version per model, one round after the other
    # (charter_registry.register_http_batches), so any share up to the HTTP limit works.
    args.batch_versions = max(0, min(args.batch_versions, args.versions // 2 - args.http_versions))
    return args


def ensure_mlflow_venv() -> Path:
    """bench/.venv-mlflow with the newest installable mlflow; never touches the main venv."""
    python = MLFLOW_VENV / "bin" / "python"
    probe = [str(python), "-c", "import mlflow, psycopg2"]
    if python.exists() and subprocess.run(probe, capture_output=True).returncode == 0:
        return python
    console.print(f"[bold]creating {MLFLOW_VENV} and installing {' '.join(MLFLOW_PACKAGES)}")
    base = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base, "-m", "venv", str(MLFLOW_VENV)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", "--upgrade", "pip"], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "-q", *MLFLOW_PACKAGES], check=True)
    return python


def run_mlflow(python: Path, label: str, store_uri: str, workdir: Path, args: Any) -> Any:
    config = {
        "store_uri": store_uri,
        "label": label,
        "versions": args.versions,
        "models": args.models,
        "http_versions": args.http_versions,
        "concurrency": args.concurrency,
        "workers": args.workers,
        "samples": args.samples,
        "warmup": args.warmup,
        "workdir": str(workdir),
    }
    workdir.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("VIRTUAL_ENV", "PYTHON"))}
    with (workdir / "mlflow-runner.log").open("w") as errlog:
        proc = subprocess.Popen(
            [str(python), str(BENCH / "mlflow_registry.py"), json.dumps(config)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        assert proc.stderr is not None and proc.stdout is not None
        for message in proc.stderr:  # progress lines through, MLflow's INFO chatter to a file
            errlog.write(message)
            if message.startswith("[mlflow]"):
                console.print(message.rstrip(), markup=False)
        output = proc.stdout.read()
        if proc.wait() != 0:
            raise RuntimeError(f"MLflow runner failed; see {workdir / 'mlflow-runner.log'}")
    return json.loads(output)


def machine(mlflow_version: str | None) -> dict[str, Any]:
    cpu = "unknown"
    lscpu = shutil.which("lscpu")
    if lscpu:
        for row in subprocess.run([lscpu], capture_output=True, text=True).stdout.splitlines():
            if row.startswith("Model name:"):
                cpu = row.split(":", 1)[1].strip()
    mem_kb = 0
    for row in Path("/proc/meminfo").read_text().splitlines():
        if row.startswith("MemTotal:"):
            mem_kb = int(row.split()[1])
    os_name = platform.platform()
    release = Path("/etc/os-release")
    if release.exists():
        for row in release.read_text().splitlines():
            if row.startswith("PRETTY_NAME="):
                os_name = row.split("=", 1)[1].strip('"')
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gib": round(mem_kb / 1024**2, 1),
        "os": os_name,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "charter": charter_version,
        "sqlalchemy": sqlalchemy.__version__,
        "mlflow": mlflow_version,
    }


def main() -> None:
    args = parse_args()
    sizes = Sizes(args.versions, args.models)
    started = time.perf_counter()
    load_before = os.getloadavg()
    reused = json.loads(args.reuse_mlflow.read_text())["mlflow"] if args.reuse_mlflow else None
    mlflow_python = None if args.skip_mlflow or reused else ensure_mlflow_venv()
    results: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "parameters": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "charter": {},
        "mlflow": {},
    }
    common = {
        "sizes": sizes,
        "http_versions": args.http_versions,
        "batch_versions": args.batch_versions,
        "batch_size": args.batch_size,
        "concurrency": args.concurrency,
        "workers": args.workers,
        "samples": args.samples,
        "warmup": args.warmup,
    }
    work = Path(tempfile.mkdtemp(prefix="charter-bench-"))
    try:
        results["charter"]["sqlite"] = charter_registry.bench(
            "sqlite", None, work / "charter-sqlite", **common
        )
        if mlflow_python:
            uri = f"sqlite:///{work / 'mlflow-sqlite' / 'mlflow.db'}"
            (work / "mlflow-sqlite").mkdir()
            results["mlflow"]["sqlite"] = run_mlflow(
                mlflow_python, "sqlite", uri, work / "mlflow-sqlite", args
            )
        if not args.skip_postgres:
            from tests.support.pgcluster import SUPERUSER, TempPostgres

            with TempPostgres() as cluster:
                cluster.create_database("bench_charter")
                results["charter"]["postgresql"] = charter_registry.bench(
                    "postgresql",
                    cluster.url_for("bench_charter"),
                    work / "charter-postgresql",
                    **common,
                )
                if mlflow_python and args.mlflow_postgres:
                    cluster.create_database("bench_mlflow")
                    uri = f"postgresql+psycopg2://{SUPERUSER}@{cluster.host}:{cluster.port}/bench_mlflow"
                    results["mlflow"]["postgresql"] = run_mlflow(
                        mlflow_python, "postgresql", uri, work / "mlflow-postgresql", args
                    )
    except BaseException:
        console.print(f"[red]benchmark failed; its databases and logs are kept in {work}")
        raise
    shutil.rmtree(work, ignore_errors=True)
    if reused:
        results["mlflow"] = reused
    mlflow_version = next((r["version"] for r in results["mlflow"].values()), None)
    results["machine"] = machine(mlflow_version)
    results["machine"]["loadavg_before"] = [round(x, 2) for x in load_before]
    results["machine"]["loadavg_after"] = [round(x, 2) for x in os.getloadavg()]
    results["elapsed_s"] = round(time.perf_counter() - started, 1)
    results["targets"] = report.target_checks(results)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    args.output.with_suffix(".md").write_text(report.markdown(results))
    report.print_tables(results, Console(width=160))
    console.print(
        f"results: {args.output} and {args.output.with_suffix('.md')} "
        f"({results['elapsed_s']} s in total)"
    )


if __name__ == "__main__":
    main()
