"""The benchmark's workload, shared by the Charter and MLflow runners (standard library only).

Both runners import this file (the MLflow one from its own virtualenv), so both register
exactly the same models, versions and tags and run exactly the same queries.
"""

from __future__ import annotations

import hashlib
import math
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

BUSINESS_UNITS = [f"bu{i}" for i in range(10)]
RISK_TIERS = ["minimal", "limited", "high", "unacceptable"]
REGIONS = ["eu-west", "us-east", "ap-south"]
DATASETS = 10  # datasets, each with DATASET_VERSIONS versions chained by derived_from
DATASET_VERSIONS = 5
BLOB_BYTES = 1024
SEARCH_TIER = "high"
QUERIES = ("point_lookup", "tag_search", "prefix_search", "lineage_depth5")


def model_name(index: int) -> str:
    return f"model-{index:04d}"


@dataclass(frozen=True)
class VersionPlan:
    """Version `seq` (0-based, global) of the workload, and everything it is registered with."""

    seq: int
    model: str
    model_index: int
    version: int  # 1-based, per model; registrations of a model happen in this order
    tags: dict[str, str]
    dataset: str  # training dataset name (Charter only; MLflow has no datasets in its registry)
    dataset_version: int
    run_index: int  # index of the model's training run (Charter only)

    def blob(self) -> bytes:
        """A distinct BLOB_BYTES-long payload per version, so no upload is deduplicated."""
        seed = hashlib.sha256(f"{self.model}@{self.version}".encode()).digest()
        return (seed * (BLOB_BYTES // len(seed) + 1))[:BLOB_BYTES]


def plan_version(seq: int, models: int) -> VersionPlan:
    # seq -> (business unit, tier) cycles through all 40 pairs evenly, so a two-tag
    # filter matches 1/40 of all versions (250 of 10,000), spread over the whole table.
    tags = {
        "business_unit": BUSINESS_UNITS[seq % len(BUSINESS_UNITS)],
        "risk_tier": RISK_TIERS[(seq // len(BUSINESS_UNITS)) % len(RISK_TIERS)],
    }
    if seq % 2 == 0:
        tags["region"] = REGIONS[seq % len(REGIONS)]
    model_index = seq % models
    return VersionPlan(
        seq=seq,
        model=model_name(model_index),
        model_index=model_index,
        version=seq // models + 1,
        tags=tags,
        dataset=f"dataset-{model_index % DATASETS:02d}",
        dataset_version=1 + (seq // models) % DATASET_VERSIONS,
        run_index=model_index,
    )


def model_risk_tier(index: int) -> str:
    return RISK_TIERS[index % len(RISK_TIERS)]


@dataclass(frozen=True)
class Sizes:
    versions: int
    models: int

    def check(self) -> None:
        if self.models < 1 or self.versions < self.models:
            raise SystemExit(
                f"--versions ({self.versions}) must be at least --models ({self.models}) >= 1"
            )
        if self.models > 10_000:
            raise SystemExit("--models must be at most 10000 (names are model-0000..model-9999)")

    def versions_of(self, model_index: int) -> int:
        """How many versions model `model_index` ends up with."""
        return len(range(model_index, self.versions, self.models))


class QueryPicker:
    """Deterministic random query parameters, identical for every system under test."""

    def __init__(self, sizes: Sizes, seed: int = 7) -> None:
        self.sizes = sizes
        self.rng = random.Random(seed)

    def point(self) -> tuple[str, int]:
        index = self.rng.randrange(self.sizes.models)
        return model_name(index), self.rng.randint(1, self.sizes.versions_of(index))

    def tag_pair(self) -> tuple[str, str]:
        # Fixed tier, varying unit: every pair has the same number of matches.
        return self.rng.choice(BUSINESS_UNITS), SEARCH_TIER

    def prefix(self) -> str:
        # "model-0K" matches 100 of 1,000 models (model-0K00..model-0K99).
        return f"model-{self.rng.randrange(math.ceil(self.sizes.models / 100)):02d}"

    def lineage_root(self) -> tuple[str, int]:
        """A version in the middle of its model's parent chain: depth 5 reaches both ways."""
        index = self.rng.randrange(self.sizes.models)
        count = self.sizes.versions_of(index)
        return model_name(index), max(1, (count + 1) // 2)


def percentiles(samples_ms: list[float]) -> dict[str, float]:
    """p50, p95, p99 by linear interpolation between closest ranks, plus mean and count."""
    ordered = sorted(samples_ms)
    if not ordered:
        raise ValueError("no samples")

    def at(q: float) -> float:
        pos = (len(ordered) - 1) * q
        low, high = math.floor(pos), math.ceil(pos)
        return ordered[low] + (ordered[high] - ordered[low]) * (pos - low)

    return {
        "p50": round(at(0.50), 3),
        "p95": round(at(0.95), 3),
        "p99": round(at(0.99), 3),
        "mean": round(sum(ordered) / len(ordered), 3),
        "n": len(ordered),
    }


def time_query(call: Callable[[], Any], samples: int, warmup: int) -> dict[str, float]:
    """Run `call` warmup + samples times, sequentially; milliseconds per call."""
    for _ in range(warmup):
        call()
    timings: list[float] = []
    for _ in range(samples):
        start = time.perf_counter()
        call()
        timings.append((time.perf_counter() - start) * 1000)
    return percentiles(timings)


def run_parallel(
    items: list[VersionPlan], worker: Callable[[int], Callable[[VersionPlan], None]], n: int
) -> float:
    """Register `items` from `n` threads (each with its own `worker(i)` callable).

    Items are handed out in order, and an item waits until the previous version of its
    model has been registered, so version numbers and parent links come out as planned.
    Returns the wall time in seconds; the first error in any thread is re-raised.
    """
    if n == 1:  # inline, so a profiler in the caller's thread sees the work
        start = time.perf_counter()
        register = worker(0)
        for item in items:
            register(item)
        return time.perf_counter() - start
    pending = iter(items)
    # The version before each model's first item in this batch was registered earlier.
    first: dict[str, int] = {}
    for plan in items:
        first[plan.model] = min(first.get(plan.model, plan.version), plan.version)
    done = {(model, version - 1) for model, version in first.items()}
    condition = threading.Condition()
    errors: list[BaseException] = []

    def loop(index: int) -> None:
        register = worker(index)
        while True:
            with condition:
                item = None if errors else next(pending, None)
                if item is None:
                    return
                while (item.model, item.version - 1) not in done and not errors:
                    condition.wait(0.5)
            try:
                register(item)
            except BaseException as exc:  # re-raised in the caller's thread below
                with condition:
                    errors.append(exc)
                    condition.notify_all()
                return
            with condition:
                done.add((item.model, item.version))
                condition.notify_all()

    elapsed = run_threads(loop, n)
    if errors:
        raise errors[0]
    return elapsed


def run_threads(loop: Callable[[int], None], n: int) -> float:
    """Run `loop(0)` .. `loop(n - 1)` in threads at once; the wall time until all end."""
    threads = [threading.Thread(target=loop, args=(i,), daemon=True) for i in range(n)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return time.perf_counter() - start
