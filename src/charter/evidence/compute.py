"""One entry point for computing evidence of a version, kind by kind."""

from __future__ import annotations

from collections.abc import Callable

from charter.artifacts.blobstore import BlobStore
from charter.domain.errors import InvalidInput
from charter.domain.evidence import ComputedKind, Evidence
from charter.domain.identity import Actor
from charter.evidence import supply_chain
from charter.evidence.documents import to_schema
from charter.gates.engine import Gate
from charter.store import tables as t
from charter.store.engine import Database

Producer = Callable[[Database, BlobStore, Gate, Actor, str, int], t.Evidence]

PRODUCERS: dict[ComputedKind, Producer] = {
    ComputedKind.ML_BOM: supply_chain.produce_bom,
    ComputedKind.VULNERABILITY_SCAN: lambda db, _blobs, gate, actor, model, version: (
        supply_chain.scan(db, gate, actor, model, version)
    ),
}


def run(
    db: Database,
    blobs: BlobStore,
    gate: Gate,
    actor: Actor,
    model: str,
    version: int,
    kinds: list[ComputedKind],
) -> list[Evidence]:
    """Produce each requested kind in turn (each its own transaction and audit event)."""
    unknown = [k.value for k in kinds if k not in PRODUCERS]
    if unknown:
        available = ", ".join(k.value for k in PRODUCERS)
        raise InvalidInput(f"kinds: {unknown} cannot be computed on request; use {available}")
    return [
        to_schema(PRODUCERS[kind](db, blobs, gate, actor, model, version), model, version)
        for kind in dict.fromkeys(kinds)
    ]
