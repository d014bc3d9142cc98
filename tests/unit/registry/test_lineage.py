"""Lineage built from registrations: upstream, downstream, depth limits and bad references."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from charter.artifacts.blobstore import LocalBlobStore
from charter.domain.common import DatasetVersionRef, ModelVersionRef
from charter.domain.enums import RiskTier
from charter.domain.errors import InvalidInput, NotFound
from charter.domain.registry import (
    DatasetCreate,
    DatasetVersionCreate,
    ModelCreate,
    ModelVersionCreate,
    RunCreate,
)
from charter.registry import datasets, models, registration, runs
from charter.registry.lineage import lineage
from charter.store.engine import Database
from tests.conftest import Admin

Body = Callable[..., ModelVersionCreate]
DIGEST = "sha256:" + "b" * 64


def _edges(graph: object) -> set[tuple[str, str, str]]:
    return {(e.source, e.target, e.relation) for e in graph.edges}  # type: ignore[attr-defined]


def _nodes(graph: object) -> set[str]:
    return {n.id for n in graph.nodes}  # type: ignore[attr-defined]


def test_parent_run_and_dataset_links(
    db: Database, blobs: LocalBlobStore, admin: Admin, version_body: Body
) -> None:
    datasets.create_dataset(db, admin.actor, DatasetCreate(name="raw"))
    datasets.create_dataset(db, admin.actor, DatasetCreate(name="loans"))
    datasets.create_dataset_version(
        db, admin.actor, "raw", DatasetVersionCreate(uri="s3://raw", digest=DIGEST)
    )
    dv = datasets.create_dataset_version(
        db,
        admin.actor,
        "loans",
        DatasetVersionCreate(
            uri="s3://loans",
            digest=DIGEST,
            derived_from=DatasetVersionRef(dataset="raw", version=1),
        ),
    )
    assert dv.derived_from == DatasetVersionRef(dataset="raw", version=1)
    run = runs.create_run(
        db,
        admin.actor,
        RunCreate(name="train", inputs=[DatasetVersionRef(dataset="loans", version=1)]),
    )
    models.create_model(db, admin.actor, ModelCreate(name="credit", risk_tier=RiskTier.HIGH))
    registration.create_version(db, blobs, admin.actor, "credit", version_body())
    registration.create_version(
        db,
        blobs,
        admin.actor,
        "credit",
        version_body(
            parent=ModelVersionRef(model="credit", version=1),
            run_id=run.id,
            training_datasets=[DatasetVersionRef(dataset="loans", version=1)],
        ),
    )
    up = lineage(db, "model:credit@2", "upstream", 5)
    assert up.root == "model:credit@2"
    assert _edges(up) == {
        ("model:credit@1", "model:credit@2", "parent"),
        (f"run:{run.id}", "model:credit@2", "produced"),
        ("dataset:loans@1", "model:credit@2", "trained_on"),
        ("dataset:loans@1", f"run:{run.id}", "input"),
        ("dataset:raw@1", "dataset:loans@1", "derived_from"),
    }
    assert _nodes(up) == {
        "model:credit@1",
        "model:credit@2",
        f"run:{run.id}",
        "dataset:loans@1",
        "dataset:raw@1",
    }
    one = lineage(db, "model:credit@2", "upstream", 1)
    assert "dataset:raw@1" not in _nodes(one)

    down = lineage(db, "dataset:raw@1", "downstream", 5)
    assert {f"run:{run.id}", "model:credit@2", "dataset:loans@1"} <= _nodes(down)
    assert "model:credit@1" not in _nodes(down)
    both = lineage(db, f"run:{run.id}", "both", 1)
    assert _nodes(both) == {f"run:{run.id}", "dataset:loans@1", "model:credit@2"}
    fetched = runs.get_run(db, run.id)
    assert fetched.inputs == [DatasetVersionRef(dataset="loans", version=1)]
    assert fetched.outputs == [ModelVersionRef(model="credit", version=2)]


def test_depth_limits_a_chain_of_parents(
    db: Database, blobs: LocalBlobStore, admin: Admin, version_body: Body
) -> None:
    models.create_model(db, admin.actor, ModelCreate(name="chain", risk_tier=RiskTier.MINIMAL))
    registration.create_version(db, blobs, admin.actor, "chain", version_body())
    for v in range(1, 8):
        registration.create_version(
            db,
            blobs,
            admin.actor,
            "chain",
            version_body(parent=ModelVersionRef(model="chain", version=v)),
        )
    graph = lineage(db, "model:chain@8", "upstream", 5)
    ancestors = _nodes(graph) - {"model:chain@8"}
    assert ancestors == {f"model:chain@{v}" for v in range(3, 8)}
    assert len(graph.edges) == 5
    assert len(_nodes(lineage(db, "model:chain@8", "upstream", 50))) == 8
    assert _nodes(lineage(db, "model:chain@1", "downstream", 2)) == {
        "model:chain@1",
        "model:chain@2",
        "model:chain@3",
    }


@pytest.mark.parametrize(
    "ref",
    [
        "model:credit",
        "model:@1",
        "model:credit@0",
        "model:credit@-1",
        "model:credit@ 1",
        "model:credit@1x",
        "run:abc",
        "run:",
        "table:x@1",
        "",
        "model:credit@" + "9" * 40,
        "run:" + "9" * 40,
    ],
)
def test_malformed_refs_are_invalid(db: Database, admin: Admin, ref: str) -> None:
    with pytest.raises(InvalidInput):
        lineage(db, ref, "upstream", 5)


@pytest.mark.parametrize(
    "ref",
    [
        "model:ghost@1",
        "dataset:ghost@1",
        "run:999",
        "run:999999999999999999",
        "model:ghost@4294967296",
    ],
)
def test_unknown_nodes_are_not_found(db: Database, admin: Admin, ref: str) -> None:
    with pytest.raises(NotFound):
        lineage(db, ref, "both", 5)


def test_bad_depth_and_direction(db: Database, admin: Admin) -> None:
    for depth in (0, 51):
        with pytest.raises(InvalidInput):
            lineage(db, "run:1", "upstream", depth)
    with pytest.raises(InvalidInput):
        lineage(db, "run:1", "sideways", 5)  # type: ignore[arg-type]
