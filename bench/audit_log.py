"""`make bench-audit`: audit append throughput, its cost to a registry write, verify speed.

Runs on SQLite and on a throwaway PostgreSQL cluster (tests/support/pgcluster.py), prints
Rich tables and writes bench/results/audit.json and audit.md. See bench/README.md.
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import itertools
import json
import multiprocessing
import os
import shutil
import sqlite3
import ssl
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path[:0] = [str(BENCH), str(ROOT)]  # workload and run modules; tests.support.pgcluster

import psycopg  # noqa: E402
from rich.console import Console  # noqa: E402
from rich.table import Table  # noqa: E402
from sqlalchemy import func, insert, select, update  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402
from workload import percentiles  # noqa: E402

from charter.access.tokens import authenticate  # noqa: E402
from charter.audit import ledger, log, merkle  # noqa: E402
from charter.audit.verify import TrustedKeys, trusted_keys  # noqa: E402
from charter.domain.enums import RiskTier  # noqa: E402
from charter.domain.identity import SYSTEM_ACTOR, Actor  # noqa: E402
from charter.domain.registry import ModelCreate  # noqa: E402
from charter.registry import models  # noqa: E402
from charter.settings import Settings  # noqa: E402
from charter.setup import init_home  # noqa: E402
from charter.store import tables as t  # noqa: E402
from charter.store.engine import Database  # noqa: E402
from charter.store.migrate import upgrade  # noqa: E402
from charter.store.tables import utcnow  # noqa: E402

ACTION = "bench.append"
BATCH = 20_000  # rows per executemany when building the verification log
PER_TRANSACTION = 100  # events per transaction in the batched append series
WARMUP = 50  # untimed calls before each timed series (statement caches, connections)
REGISTRY_ROUNDS = 4  # with/without blocks alternate A B B A ..., so drift hits both alike
TARGET_APPENDS_PER_S = 5_000
TARGET_VERIFY_S = 10.0  # for 1,000,000 events
TARGET_EVENTS = 1_000_000
console = Console(stderr=True)


def say(message: str) -> None:
    console.print(f"[audit-bench] {message}", markup=False, highlight=False)


def change(i: int) -> dict[str, Any]:
    """A realistic small change (about 300 bytes of canonical JSON): a stage promotion."""
    version = i % 50 + 1
    return {
        "model": f"credit-risk-{i % 1000:04d}",
        "version": version,
        "before": {"stage": "staging", "revision": 3, "aliases": {}},
        "after": {"stage": "production", "revision": 4, "aliases": {"champion": version}},
        "reason": "promoted after the validator signed off the quarterly backtest",
        "tags": {"business_unit": f"bu{i % 10}", "risk_tier": "high", "region": "eu-west"},
    }


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.ArgumentDefaultsHelpFormatter
    )
    parser.add_argument(
        "--events", type=int, default=1_000_000, help="events in the verification log"
    )
    parser.add_argument(
        "--postgres-events",
        type=int,
        help="events in the PostgreSQL verification log (None: as many as --events); "
        "fewer if building it takes too long, and the tables say how many were used",
    )
    parser.add_argument("--appends", type=int, default=20_000, help="appends by the single writer")
    parser.add_argument("--writers", type=int, default=8, help="concurrent writer processes")
    parser.add_argument(
        "--per-writer", type=int, default=2_000, help="appends by each concurrent writer"
    )
    parser.add_argument(
        "--registry-writes",
        type=int,
        default=2_000,
        help="create_model calls with the audit log, and as many without it",
    )
    parser.add_argument("--skip-postgres", action="store_true", help="SQLite only")
    parser.add_argument(
        "--output",
        type=Path,
        default=BENCH / "results" / "audit.json",
        help="results file; the Markdown tables go beside it (.md)",
    )
    args = parser.parse_args()
    if args.postgres_events is None:
        args.postgres_events = args.events
    counts = ("events", "postgres_events", "appends", "writers", "per_writer", "registry_writes")
    for name in counts:
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.registry_writes < REGISTRY_ROUNDS:
        parser.error(f"--registry-writes must be at least {REGISTRY_ROUNDS}")
    return args


def migrated(url: str, pool_size: int = 2) -> Database:
    db = Database(url, pool_size=pool_size)
    upgrade(db.engine)
    return db


def rate(count: int, seconds: float) -> float:
    return round(count / seconds, 1) if seconds > 0 else float("inf")


# ---------------------------------------------------------------- 1. append throughput


def append_single(db: Database, count: int) -> dict[str, Any]:
    """One writer, one event per transaction, as every service write does."""
    for i in range(WARMUP):
        with db.transaction() as session:
            log.append(session, SYSTEM_ACTOR, ACTION, f"warmup:{i}", change(i))
    latencies: list[float] = []
    clock = time.perf_counter
    start = clock()
    for i in range(count):
        began = clock()
        with db.transaction() as session:
            log.append(session, SYSTEM_ACTOR, ACTION, f"item:{i}", change(i))
        latencies.append((clock() - began) * 1000)
    seconds = clock() - start
    return {
        "writers": 1,
        "events": count,
        "seconds": round(seconds, 3),
        "per_s": rate(count, seconds),
        "latency_ms": percentiles(latencies),
    }


def append_in_transactions(db: Database, count: int, per: int = PER_TRANSACTION) -> dict[str, Any]:
    """One writer, `per` events per transaction: the append's own cost, without a commit
    per event (a service that records several events, or the log's ceiling)."""
    latencies: list[float] = []
    clock = time.perf_counter
    start = clock()
    for first in range(0, count, per):
        began = clock()
        with db.transaction() as session:
            for i in range(first, min(first + per, count)):
                log.append(session, SYSTEM_ACTOR, ACTION, f"batch:{i}", change(i))
        latencies.append((clock() - began) * 1000 / per)
    seconds = clock() - start
    return {
        "writers": 1,
        "per_transaction": per,
        "events": count,
        "seconds": round(seconds, 3),
        "per_s": rate(count, seconds),
        "latency_ms": percentiles(latencies),
    }


def _writer(
    url: str, name: str, count: int, start: Barrier, results: Queue[tuple[str, Any]]
) -> None:
    """One writer process (its own engine, as a server replica has): append `count` events."""
    try:
        db = Database(url, pool_size=1)
        with db.transaction() as session:  # connect and compile before the clock starts
            log.append(session, SYSTEM_ACTOR, ACTION, f"warmup:{name}", change(0))
        start.wait(timeout=600)
        latencies: list[float] = []
        clock = time.perf_counter
        for i in range(count):
            began = clock()
            with db.transaction() as session:
                log.append(session, SYSTEM_ACTOR, ACTION, f"item:{name}-{i}", change(i))
            latencies.append((clock() - began) * 1000)
        results.put((name, latencies))
        db.dispose()
    except BaseException as exc:
        results.put((name, f"{type(exc).__name__}: {exc}"))
        start.abort()  # so the parent stops waiting for this writer at the start line
        raise


def append_concurrent(url: str, writers: int, per_writer: int) -> dict[str, Any]:
    """`writers` processes append at once; the clock runs from their common start to the
    last one's last commit, so process start-up and imports are not counted."""
    context = multiprocessing.get_context("spawn")
    start = context.Barrier(writers + 1)
    results: Queue[tuple[str, Any]] = context.Queue()
    processes = [
        context.Process(target=_writer, args=(url, str(n), per_writer, start, results))
        for n in range(writers)
    ]
    for process in processes:
        process.start()
    try:
        try:
            start.wait(timeout=600)
        except threading.BrokenBarrierError:
            name, outcome = results.get(timeout=60)
            raise RuntimeError(f"writer process {name} failed: {outcome}") from None
        began = time.perf_counter()
        latencies: list[float] = []
        for _ in range(writers):
            name, outcome = results.get(timeout=3600)
            if isinstance(outcome, str):
                raise RuntimeError(f"writer process {name} failed: {outcome}")
            latencies.extend(outcome)
        seconds = time.perf_counter() - began
    finally:
        start.abort()  # frees the writers still waiting if this process gave up
        for process in processes:
            process.join(timeout=60)
            if process.is_alive():
                process.kill()
    failed = [p.exitcode for p in processes if p.exitcode != 0]
    if failed:
        raise RuntimeError(f"writer processes exited with codes {failed}")
    events = writers * per_writer
    return {
        "writers": writers,
        "events": events,
        "seconds": round(seconds, 3),
        "per_s": rate(events, seconds),
        "latency_ms": percentiles(latencies),
    }


def check_log(db: Database, keys: TrustedKeys) -> dict[str, Any]:
    """Fail loudly unless the log is one gapless sequence that verifies."""
    size = ledger.head(db).size
    with db.rows() as connection:
        count, low, high = connection.execute(
            select(func.count(), func.min(t.AuditEvent.seq), func.max(t.AuditEvent.seq))
        ).one()
    # seq is the primary key, so count == max and min == 1 means no gaps.
    if count != size or (size and (low, high) != (1, size)):
        raise RuntimeError(
            f"the audit log is not gapless: head says {size} events, the table holds "
            f"{count} with seq {low}..{high}"
        )
    report = ledger.verify_database(db, keys)
    if not report.ok or report.size != size:
        raise RuntimeError(
            f"the audit log does not verify after the run: {report.as_dict()['problems'][:3]}"
        )
    return {"size": size, "gapless": True, "verified": True}


# ------------------------------------------------- 2. a registry write with and without


def _skip_append(
    session: Session, actor: Actor, action: str, subject: str, change: dict[str, Any]
) -> int:
    return 0


@contextmanager
def audit_switched_off() -> Iterator[None]:
    # The registry calls `audit.append` through the module (`from charter.audit import log
    # as audit`), so replacing the module attribute reaches every service function.
    real = log.append
    log.append = _skip_append
    try:
        yield
    finally:
        log.append = real


def registry_overhead(settings: Settings, writes: int) -> dict[str, Any]:
    """`create_model` `writes` times with the audit append and `writes` times without it."""
    _, issued = init_home(settings, "admin")
    db = Database(settings.resolved_database_url, pool_size=2)
    try:
        actor = authenticate(db, issued.secret)
        counter = itertools.count()

        def create() -> float:
            i = next(counter)
            body = ModelCreate(
                name=f"bench-model-{i:07d}",
                risk_tier=RiskTier.HIGH,
                business_unit=f"bu{i % 10}",
                description="a benchmark model",
                tags={"risk_tier": "high", "team": f"team-{i % 7}"},
            )
            began = time.perf_counter()
            models.create_model(db, actor, body)
            return (time.perf_counter() - began) * 1000

        for _ in range(WARMUP):
            create()
        with audit_switched_off():
            for _ in range(WARMUP):
                create()
        timings: dict[bool, list[float]] = {True: [], False: []}
        block = writes // REGISTRY_ROUNDS
        for round_ in range(REGISTRY_ROUNDS):
            for with_log in (True, False) if round_ % 2 == 0 else (False, True):
                n = block if round_ < REGISTRY_ROUNDS - 1 else writes - block * round_
                if with_log:
                    timings[True] += [create() for _ in range(n)]
                else:
                    with audit_switched_off():
                        timings[False] += [create() for _ in range(n)]
        keys = trusted_keys(k.verifier_key for k in ledger.list_keys(db))
        check = check_log(db, keys)
    finally:
        db.dispose()
    mean_with = sum(timings[True]) / len(timings[True])
    mean_without = sum(timings[False]) / len(timings[False])
    return {
        "writes": writes,
        "with_log": {
            "per_s": rate(len(timings[True]), sum(timings[True]) / 1000),
            "latency_ms": percentiles(timings[True]),
        },
        "without_log": {
            "per_s": rate(len(timings[False]), sum(timings[False]) / 1000),
            "latency_ms": percentiles(timings[False]),
        },
        "overhead_pct": round((mean_with / mean_without - 1) * 100, 1),
        "overhead_us": round((mean_with - mean_without) * 1000, 1),
        "check": check,
    }


# ------------------------------------------------------------- 3. verification speed


def bulk_fill(db: Database, count: int) -> dict[str, Any]:
    """Write `count` events exactly as `log.append` would, without its per-event round trips.

    Entry, leaf, frontier and tiles are made by the same functions append uses; only the
    inserts are batched. `verify_database` must then find nothing wrong, which checks this.
    """
    actor = log.actor_record(SYSTEM_ACTOR)
    if ledger.head(db).size:
        raise RuntimeError("the verification log must start empty")
    frontier: list[bytes] = []
    insert_event, insert_tile = insert(t.AuditEvent), insert(t.AuditTile)
    advance = update(t.AuditHead).where(t.AuditHead.id == 1)
    size, total_bytes = 0, 0
    started = time.perf_counter()
    while size < count:
        events: list[dict[str, Any]] = []
        tiles: list[dict[str, Any]] = []
        for seq in range(size + 1, min(size + BATCH, count) + 1):
            at, subject = utcnow(), f"item:{seq}"
            entry = log.canonical(
                {
                    "seq": seq,
                    "at": log.timestamp(at),
                    "action": ACTION,
                    "subject": subject,
                    "actor": actor,
                    "change": change(seq),
                }
            )
            encoded = entry.encode()
            total_bytes += len(encoded)
            leaf = merkle.leaf_hash(encoded)
            frontier, completed = merkle.frontier_append(frontier, seq - 1, leaf)
            tiles += [
                {"idx": index, "hash": node}
                for level, index, node in completed
                if level == log.TILE_LEVEL
            ]
            events.append(
                {
                    "seq": seq,
                    "at": at,
                    "actor": SYSTEM_ACTOR.name,
                    "action": ACTION,
                    "subject": subject,
                    "entry": entry,
                    "leaf": leaf,
                }
            )
        size += len(events)
        # One transaction per batch, head included: the log is consistent after each one
        # and SQLite's write-ahead log stays small.
        with db.engine.begin() as connection:
            connection.execute(insert_event, events)
            if tiles:
                connection.execute(insert_tile, tiles)
            connection.execute(advance.values(size=size, frontier=merkle.pack_frontier(frontier)))
        say(f"  built {size:,} of {count:,} events")
    seconds = time.perf_counter() - started
    return {
        "events": count,
        "bytes": total_bytes,
        "seconds": round(seconds, 3),
        "per_s": rate(count, seconds),
    }


def best_of(repeats: int, call: Callable[[], object]) -> float:
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        call()
        times.append(time.perf_counter() - began)
    return min(times)


def _verify_ok(db: Database, size: int) -> None:
    report = ledger.verify_database(db, trusted_keys([]))
    if not report.ok or report.size != size:
        problems = report.as_dict()["problems"][:3]
        raise RuntimeError(
            f"verify_database rejects the bulk-built log ({report.size} of {size} events): "
            f"{problems}; the bulk writer no longer builds what log.append builds"
        )


def _read_only(db: Database, size: int) -> None:
    for _row in ledger.event_rows(db, size):
        pass


def _hash_each(entries: list[bytes]) -> None:
    sha256 = hashlib.sha256
    for entry in entries:
        sha256(b"\x00" + entry).digest()


def _tree(leaves: list[bytes]) -> bytes:
    builder = merkle.TreeBuilder()
    append = builder.append
    for leaf in leaves:
        append(leaf)
    return builder.root()


def verify_speed(db: Database, repeats: int) -> dict[str, Any]:
    """Time `verify_database`, and beside it its parts' physical limits on the same bytes."""
    head = ledger.head(db)
    size = head.size
    _verify_ok(db, size)  # correctness first, and warms the page cache for every series
    verify_s = best_of(repeats, lambda: _verify_ok(db, size))
    read_s = best_of(repeats, lambda: _read_only(db, size))
    entries = [bytes(row[5]) for row in ledger.event_rows(db, size)]
    total = sum(map(len, entries))
    hash_s = best_of(repeats, functools.partial(_hash_each, entries))
    leaves = [merkle.leaf_hash(entry) for entry in entries]
    tree_s = best_of(repeats, functools.partial(_tree, leaves))
    if _tree(leaves) != head.root:
        raise RuntimeError("the raw tree over the stored entries does not match the head")
    leaves.clear()
    joined = b"".join(entries)
    entries.clear()  # a million entries and their concatenation need not coexist long
    one_call_s = best_of(repeats, functools.partial(hashlib.sha256, joined))
    mb = total / 1e6
    return {
        "events": size,
        "mb": round(mb, 1),
        "repeats": repeats,
        "verify_s": round(verify_s, 3),
        "verify_per_s": rate(size, verify_s),
        "verify_mb_s": round(mb / verify_s, 1),
        "read_rows_s": round(read_s, 3),
        "raw_hash_s": round(hash_s, 3),
        "raw_hash_mb_s": round(mb / hash_s, 1),
        "raw_tree_s": round(tree_s, 3),
        "one_call_sha256_mb_s": round(mb / one_call_s, 1),
        "other_s": round(verify_s - read_s - hash_s - tree_s, 3),
        "ratio_to_raw_hash": round(verify_s / hash_s, 2),
        "ratio_to_raw_hash_and_tree": round(verify_s / (hash_s + tree_s), 2),
    }


# ------------------------------------------------------------------ one backend


def bench_backend(
    label: str, url_for: Callable[[str], str], work: Path, args: argparse.Namespace
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    say(f"{label}: append, 1 writer x {args.appends:,}")
    url = url_for("append")
    db = migrated(url)
    try:
        single = append_single(db, args.appends)
        say(f"{label}: append, 1 writer x {args.appends:,}, {PER_TRANSACTION} per transaction")
        batched = append_in_transactions(db, args.appends)
        say(f"{label}: append, {args.writers} writer processes x {args.per_writer:,}")
        concurrent = append_concurrent(url, args.writers, args.per_writer)
        out["append"] = {
            "single": single,
            "batched": batched,
            "concurrent": concurrent,
            "check": check_log(db, trusted_keys([])),
        }
        if not db.is_sqlite:
            with db.rows() as connection:
                out["server_version"] = connection.exec_driver_sql("SHOW server_version").scalar()
    finally:
        db.dispose()
    say(f"{label}: create_model x {args.registry_writes:,} with and without the audit log")
    home = work / f"home-{label}"
    settings = Settings(home=home, database_url=None if label == "sqlite" else url_for("registry"))
    out["registry"] = registry_overhead(settings, args.registry_writes)
    events = args.events if label == "sqlite" else args.postgres_events
    say(f"{label}: building a {events:,}-event log for verification")
    db = migrated(url_for("verify"))
    try:
        out["build"] = bulk_fill(db, events)
        repeats = 3 if db.is_sqlite else 1
        say(f"{label}: timing verification (best of {repeats}) and raw hashing")
        out["verify"] = verify_speed(db, repeats)
    finally:
        db.dispose()
    return out


# --------------------------------------------------------------------- the report


def machine(load_before: tuple[float, float, float]) -> dict[str, Any]:
    from run import machine as registry_bench_machine  # the same fields as `make bench`

    info = registry_bench_machine(None)
    info.pop("mlflow", None)
    flags = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    info.update(
        {
            "sha_extensions": " sha_ni" in flags or " sha2" in flags,
            "openssl": ssl.OPENSSL_VERSION,
            "sqlite": sqlite3.sqlite_version,
            "psycopg": psycopg.__version__,
            "loadavg_before": [round(x, 2) for x in load_before],
            "loadavg_after": [round(x, 2) for x in os.getloadavg()],
        }
    )
    return info


LABELS = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
# (label, key in a backend's "verify" results, format spec), one table row each.
VERIFY_ROWS = [
    ("events in the log", "events", ","),
    ("entry bytes, MB", "mb", ",.1f"),
    ("timed runs (best taken)", "repeats", "d"),
    ("verify_database, s", "verify_s", ".3f"),
    ("verify_database, events/s", "verify_per_s", ",.0f"),
    ("verify_database, MB/s", "verify_mb_s", ",.1f"),
    ("reading the rows only, s", "read_rows_s", ".3f"),
    ("raw SHA-256(0x00 + entry), one call each, s", "raw_hash_s", ".3f"),
    ("raw SHA-256(0x00 + entry), MB/s", "raw_hash_mb_s", ",.1f"),
    ("raw RFC 9162 tree over the leaves, s", "raw_tree_s", ".3f"),
    ("rest: JSON parse, column checks (by difference), s", "other_s", ".3f"),
    ("verify ÷ raw hash", "ratio_to_raw_hash", ".2f"),
    ("verify ÷ (raw hash + raw tree)", "ratio_to_raw_hash_and_tree", ".2f"),
    ("SHA-256 in one call over all the bytes, MB/s", "one_call_sha256_mb_s", ",.1f"),
]


def target_checks(results: dict[str, Any]) -> list[dict[str, Any]]:
    checks: list[dict[str, Any]] = []
    sqlite = results["backends"].get("sqlite")
    if sqlite:
        single = sqlite["append"]["single"]["per_s"]
        batched = sqlite["append"]["batched"]["per_s"]
        checks.append(
            {
                "target": f"SQLite single-writer appends >= {TARGET_APPENDS_PER_S:,}/s, "
                "each event its own transaction",
                "met": single >= TARGET_APPENDS_PER_S,
                "actual": f"{single:,.0f}/s",
            }
        )
        checks.append(
            {
                "target": f"SQLite single-writer appends >= {TARGET_APPENDS_PER_S:,}/s inside "
                f"callers' transactions ({PER_TRANSACTION} per commit)",
                "met": batched >= TARGET_APPENDS_PER_S,
                "actual": f"{batched:,.0f}/s",
            }
        )
    for backend, data in results["backends"].items():
        verify = data["verify"]
        projected = verify["verify_s"] * TARGET_EVENTS / verify["events"]
        note = (
            "" if verify["events"] == TARGET_EVENTS else f" (projected from {verify['events']:,})"
        )
        checks.append(
            {
                "target": f"{LABELS[backend]}: verify 1,000,000 events < {TARGET_VERIFY_S:g} s",
                "met": projected < TARGET_VERIFY_S,
                "actual": f"{projected:.2f} s{note}; {verify['ratio_to_raw_hash']}x raw SHA-256",
            }
        )
    return checks


def report_tables(results: dict[str, Any]) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, headers, rows) for each table; rendered both with Rich and as Markdown."""
    backends = results["backends"]
    append_rows = []
    for backend, data in backends.items():
        for kind in ("single", "batched", "concurrent"):
            run = data["append"][kind]
            lat = run["latency_ms"]
            per = run.get("per_transaction", 1)
            append_rows.append(
                [
                    LABELS[backend],
                    str(run["writers"]),
                    str(per),
                    f"{run['events']:,}",
                    f"{run['seconds']:.2f}",
                    f"{run['per_s']:,.0f}",
                    f"{lat['p50']:.2f} / {lat['p95']:.2f} / {lat['p99']:.2f}",
                ]
            )
    registry_rows = []
    for backend, data in backends.items():
        reg = data["registry"]
        registry_rows.append(
            [
                LABELS[backend],
                f"{reg['writes']:,} + {reg['writes']:,}",
                f"{reg['with_log']['per_s']:,.0f}",
                f"{reg['without_log']['per_s']:,.0f}",
                f"{reg['overhead_pct']:+.1f} %",
                f"{reg['overhead_us']:+.0f} µs",
            ]
        )
    verify_rows = [
        [label, *(format(data["verify"][key], spec) for data in backends.values())]
        for label, key, spec in VERIFY_ROWS
    ]
    verify_rows.append(
        ["bulk build of the log, events/s"]
        + [f"{data['build']['per_s']:,.0f}" for data in backends.values()]
    )
    names = [LABELS[b] for b in backends]
    target_rows = [
        [c["target"], c["actual"], "yes" if c["met"] else "NO"] for c in results["targets"]
    ]
    return [
        (
            "Audit append throughput (latency per event)",
            [
                "backend",
                "writers",
                "events per transaction",
                "events",
                "seconds",
                "events/s",
                "latency ms p50 / p95 / p99",
            ],
            append_rows,
        ),
        (
            "Registry write (create_model) with and without the audit append",
            [
                "backend",
                "writes (with + without)",
                "with log /s",
                "without /s",
                "overhead",
                "per write",
            ],
            registry_rows,
        ),
        ("Full verification against raw hashing", ["measurement", *names], verify_rows),
        ("Targets", ["target", "actual", "met"], target_rows),
    ]


def print_tables(results: dict[str, Any], out: Console) -> None:
    for title, headers, rows in report_tables(results):
        table = Table(title=title, title_justify="left")
        for i, header in enumerate(headers):
            table.add_column(header, justify="left" if i == 0 else "right")
        for row in rows:
            table.add_row(*row)
        out.print(table)


def markdown(results: dict[str, Any]) -> str:
    m = results["machine"]
    parts = [
        f"Audit log benchmark, {results['date']}: {m['cpu']}, {m['cores']} cores, "
        f"Python {m['python']}, SQLite {m['sqlite']}, {m['openssl']}, load average "
        f"{m['loadavg_before'][0]} before and {m['loadavg_after'][0]} after.\n"
    ]
    for title, headers, rows in report_tables(results):
        parts.append(f"**{title}**\n")
        parts.append("| " + " | ".join(headers) + " |")
        parts.append("|" + "|".join(" --- " for _ in headers) + "|")
        parts += ["| " + " | ".join(row) + " |" for row in rows]
        parts.append("")
    return "\n".join(parts)


def main() -> None:
    args = parse_args()
    started = time.perf_counter()
    load_before = os.getloadavg()
    results: dict[str, Any] = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "parameters": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        "backends": {},
    }
    work = Path(tempfile.mkdtemp(prefix="charter-audit-bench-"))
    try:
        results["backends"]["sqlite"] = bench_backend(
            "sqlite", lambda name: f"sqlite:///{work / name}.db", work, args
        )
        if not args.skip_postgres:
            from tests.support.pgcluster import TempPostgres

            with TempPostgres() as cluster:

                def postgres_url(name: str) -> str:
                    cluster.create_database(f"bench_{name}")
                    return cluster.url_for(f"bench_{name}")

                results["backends"]["postgresql"] = bench_backend(
                    "postgresql", postgres_url, work, args
                )
    except BaseException:
        console.print(f"[red]audit benchmark failed; its databases are kept in {work}")
        raise
    shutil.rmtree(work, ignore_errors=True)
    results["machine"] = machine(load_before)
    if "postgresql" in results["backends"]:
        results["machine"]["postgresql"] = results["backends"]["postgresql"].pop("server_version")
    results["elapsed_s"] = round(time.perf_counter() - started, 1)
    results["targets"] = target_checks(results)
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(results, indent=2) + "\n")
    args.output.with_suffix(".md").write_text(markdown(results))
    print_tables(results, Console(width=160))
    console.print(
        f"results: {args.output} and {args.output.with_suffix('.md')} "
        f"({results['elapsed_s']} s in total)"
    )


if __name__ == "__main__":
    main()
