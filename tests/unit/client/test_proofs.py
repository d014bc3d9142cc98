"""The SDK's local proof checks accept honest proofs and refuse every tampered part."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from charter.audit import merkle
from charter.audit.checkpoint import sign_checkpoint
from charter.audit.keys import verifier_key
from charter.client.proofs import ProofError, check_consistency, check_inclusion
from charter.domain.audit import AuditCheckpoint, ConsistencyProof, InclusionProof

ORIGIN = "charter.test/audit"
KEY = Ed25519PrivateKey.generate()
VERIFIER = verifier_key(ORIGIN, KEY.public_key())
OTHER = verifier_key(ORIGIN, Ed25519PrivateKey.generate().public_key())
ENTRIES = [f'{{"seq":{i},"action":"test"}}' for i in range(1, 41)]
LEAVES = [merkle.leaf_hash(e.encode()) for e in ENTRIES]


def subtree(start: int, end: int) -> bytes:
    return merkle.root_of(LEAVES[start:end])


def checkpoint(
    size: int, key: Ed25519PrivateKey = KEY, root: bytes | None = None
) -> AuditCheckpoint:
    signed = sign_checkpoint(ORIGIN, size, root or subtree(0, size), datetime.now(UTC), ORIGIN, key)
    return AuditCheckpoint(
        origin=signed.origin,
        size=signed.size,
        root_hash=signed.root.hex(),
        at=signed.at,
        key_name=signed.key_name,
        key_hash=signed.key_hash,
        note=signed.note,
    )


def inclusion(seq: int, size: int, signed: bool = True) -> InclusionProof:
    return InclusionProof(
        seq=seq,
        tree_size=size,
        leaf_hash=LEAVES[seq - 1].hex(),
        root_hash=subtree(0, size).hex(),
        proof=[p.hex() for p in merkle.inclusion_proof(seq - 1, size, subtree)],
        checkpoint=checkpoint(size) if signed else None,
    )


def consistency(old: int, new: int, signed: bool = True) -> ConsistencyProof:
    return ConsistencyProof(
        old_size=old,
        new_size=new,
        old_root=subtree(0, old).hex(),
        new_root=subtree(0, new).hex(),
        proof=[p.hex() for p in merkle.consistency_proof(old, new, subtree)],
        old_checkpoint=checkpoint(old) if signed else None,
        new_checkpoint=checkpoint(new) if signed else None,
    )


def flip(hex_hash: str) -> str:
    return ("0" if hex_hash[0] != "0" else "1") + hex_hash[1:]


@pytest.mark.parametrize(("seq", "size"), [(1, 1), (1, 2), (2, 2), (5, 13), (13, 13), (32, 40)])
def test_honest_inclusion_proofs_pass(seq: int, size: int) -> None:
    check_inclusion(inclusion(seq, size, signed=False))
    check_inclusion(inclusion(seq, size), VERIFIER, entry=ENTRIES[seq - 1])


@pytest.mark.parametrize(("old", "new"), [(1, 1), (1, 2), (3, 7), (4, 8), (8, 40), (39, 40)])
def test_honest_consistency_proofs_pass(old: int, new: int) -> None:
    check_consistency(consistency(old, new, signed=False))
    check_consistency(consistency(old, new), VERIFIER)


INCLUSION_TAMPERING: dict[str, Callable[[InclusionProof], InclusionProof]] = {
    "path node": lambda p: p.model_copy(update={"proof": [flip(p.proof[0]), *p.proof[1:]]}),
    "path dropped": lambda p: p.model_copy(update={"proof": p.proof[:-1]}),
    "path extended": lambda p: p.model_copy(update={"proof": [*p.proof, p.proof[0]]}),
    "leaf": lambda p: p.model_copy(update={"leaf_hash": flip(p.leaf_hash)}),
    "root": lambda p: p.model_copy(update={"root_hash": flip(p.root_hash)}),
    "seq": lambda p: p.model_copy(update={"seq": p.seq + 1}),
    "tree size": lambda p: p.model_copy(update={"tree_size": 8}),
    "seq outside": lambda p: p.model_copy(update={"seq": p.tree_size + 1}),
    "not hex": lambda p: p.model_copy(update={"leaf_hash": "zz" * 32}),
    "short hash": lambda p: p.model_copy(update={"root_hash": p.root_hash[:62]}),
}


@pytest.mark.parametrize("part", INCLUSION_TAMPERING)
def test_a_tampered_inclusion_proof_fails(part: str) -> None:
    tampered = INCLUSION_TAMPERING[part](inclusion(5, 13, signed=False))
    with pytest.raises(ProofError):
        check_inclusion(tampered)


def test_the_leaf_must_be_the_events_entry() -> None:
    with pytest.raises(ProofError, match="does not hash to the proof's leaf"):
        check_inclusion(inclusion(5, 13), entry=ENTRIES[5])


def test_a_checkpoint_must_state_the_proofs_root_and_size() -> None:
    other_root = inclusion(5, 13).model_copy(update={"checkpoint": checkpoint(13, root=b"\1" * 32)})
    with pytest.raises(ProofError, match="states root"):
        check_inclusion(other_root)  # even without a key: the server contradicts itself
    other_size = inclusion(5, 13).model_copy(update={"checkpoint": checkpoint(14)})
    with pytest.raises(ProofError, match="size 14"):
        check_inclusion(other_size)


def test_with_a_key_the_signed_note_is_what_counts() -> None:
    with pytest.raises(ProofError, match="no signed checkpoint"):
        check_inclusion(inclusion(5, 13, signed=False), VERIFIER)
    with pytest.raises(ProofError, match="does not verify"):
        check_inclusion(inclusion(5, 13), OTHER)
    # The fields beside the note agree with the proof, but the note signs another root.
    honest = inclusion(5, 13)
    lying = checkpoint(13, root=b"\1" * 32).model_copy(update={"root_hash": honest.root_hash})
    check_inclusion(honest.model_copy(update={"checkpoint": lying}))  # no key: not caught
    with pytest.raises(ProofError, match="states root"):
        check_inclusion(honest.model_copy(update={"checkpoint": lying}), VERIFIER)
    forged_note = honest.checkpoint.note.replace("\n13\n", "\n12\n", 1)  # type: ignore[union-attr]
    forged = honest.checkpoint.model_copy(update={"note": forged_note})  # type: ignore[union-attr]
    with pytest.raises(ProofError, match="does not verify"):
        check_inclusion(honest.model_copy(update={"checkpoint": forged}), VERIFIER)
    with pytest.raises(ProofError, match="malformed verifier key"):
        check_inclusion(honest, "not-a-key")


CONSISTENCY_TAMPERING: dict[str, Callable[[ConsistencyProof], ConsistencyProof]] = {
    "path node": lambda p: p.model_copy(update={"proof": [*p.proof[:-1], flip(p.proof[-1])]}),
    "path dropped": lambda p: p.model_copy(update={"proof": p.proof[1:]}),
    "old root": lambda p: p.model_copy(update={"old_root": flip(p.old_root)}),
    "new root": lambda p: p.model_copy(update={"new_root": flip(p.new_root)}),
    "roots swapped": lambda p: p.model_copy(
        update={"old_root": p.new_root, "new_root": p.old_root}
    ),
    "old size": lambda p: p.model_copy(update={"old_size": p.old_size + 1}),
    "new size": lambda p: p.model_copy(update={"new_size": 8}),
}


@pytest.mark.parametrize("part", CONSISTENCY_TAMPERING)
def test_a_tampered_consistency_proof_fails(part: str) -> None:
    tampered = CONSISTENCY_TAMPERING[part](consistency(3, 13, signed=False))
    with pytest.raises(ProofError):
        check_consistency(tampered)


def test_a_size_the_hashes_cannot_tell_apart_is_caught_by_the_checkpoint() -> None:
    # Leaf 5 sits in the same place in trees of 13 and 14 leaves, so the RFC 9162 check
    # alone accepts either size; the signed checkpoint is what binds the size to the root.
    honest = inclusion(5, 13)
    moved = honest.model_copy(update={"tree_size": 14, "checkpoint": None})
    check_inclusion(moved)
    with pytest.raises(ProofError, match="size 14"):
        check_inclusion(honest.model_copy(update={"tree_size": 14}))
    with pytest.raises(ProofError, match="no signed checkpoint of size 14"):
        check_inclusion(moved, VERIFIER)


def test_with_a_key_both_roots_must_be_signed() -> None:
    proof = consistency(3, 13)
    with pytest.raises(ProofError, match="size 3"):
        check_consistency(proof.model_copy(update={"old_checkpoint": None}), VERIFIER)
    with pytest.raises(ProofError, match="size 13"):
        check_consistency(proof.model_copy(update={"new_checkpoint": None}), VERIFIER)
    check_consistency(proof.model_copy(update={"old_checkpoint": None}))  # no key: fine
    with pytest.raises(ProofError, match="does not verify"):
        check_consistency(proof, OTHER)
