"""Checking the server's Merkle proofs and signed checkpoints locally, trusting only a key.

The hashes are recomputed here (RFC 9162). Without a key that only shows the server's
answers agree with each other; given the log's verifier key, obtained independently, the
checkpoint that states the root is verified here too, and a server lying about the log
is caught.
"""

from __future__ import annotations

from charter.audit import merkle
from charter.audit.checkpoint import CheckpointError, verify_checkpoint
from charter.audit.keys import KeyFileError, parse_verifier_key
from charter.domain.audit import AuditCheckpoint, ConsistencyProof, InclusionProof

__all__ = ["ProofError", "check_consistency", "check_inclusion"]

HASH_SIZE = 32  # SHA-256


class ProofError(ValueError):
    """A proof or the checkpoint beside it does not verify; the message says what is wrong."""


def _hash(value: str, what: str) -> bytes:
    try:
        digest = bytes.fromhex(value)
    except ValueError:
        raise ProofError(f"{what} {value!r} is not hex") from None
    if len(digest) != HASH_SIZE:
        raise ProofError(f"{what} is {len(digest)} bytes, a SHA-256 hash is {HASH_SIZE}")
    return digest


def _path(proof: list[str]) -> list[bytes]:
    return [_hash(node, f"proof node {i}") for i, node in enumerate(proof, start=1)]


def _check_checkpoint(
    checkpoint: AuditCheckpoint | None, size: int, root: bytes, verifier_key: str | None
) -> None:
    """The checkpoint, if any, must claim this size and root; with a key, it must exist
    and its signature must hold, and then its signed text is what is compared."""
    if checkpoint is None:
        if verifier_key is not None:
            raise ProofError(
                f"no signed checkpoint of size {size} comes with the proof, so the key cannot "
                "vouch for its root; ask for a proof at a checkpointed size"
            )
        return
    claimed_size = checkpoint.size
    claimed_root = _hash(checkpoint.root_hash, "checkpoint root hash")
    if verifier_key is not None:
        try:
            name, public_key = parse_verifier_key(verifier_key)
        except KeyFileError as exc:
            raise ProofError(str(exc)) from None
        try:
            signed = verify_checkpoint(checkpoint.note, name, public_key)
        except CheckpointError as exc:
            raise ProofError(f"the checkpoint of size {size} does not verify: {exc}") from None
        # The note is what was signed; the parsed fields beside it are the server's word.
        claimed_size, claimed_root = signed.size, signed.root
    if claimed_size != size:
        raise ProofError(f"the checkpoint is of size {claimed_size}, the proof of size {size}")
    if claimed_root != root:
        raise ProofError(
            f"the checkpoint of size {size} states root {claimed_root.hex()}, but the proof "
            f"leads to {root.hex()}"
        )


def check_inclusion(
    proof: InclusionProof, verifier_key: str | None = None, *, entry: str | None = None
) -> None:
    """Raise ProofError unless the leaf is at `seq` in the tree whose root the proof names.

    With `entry` (the event's canonical JSON), the leaf must also be that entry's hash; with
    `verifier_key`, the root must be the one a checkpoint signed by that key states.
    """
    if not 1 <= proof.seq <= proof.tree_size:
        raise ProofError(f"seq {proof.seq} is outside a tree of {proof.tree_size} events")
    leaf = _hash(proof.leaf_hash, "leaf hash")
    root = _hash(proof.root_hash, "root hash")
    if entry is not None and merkle.leaf_hash(entry.encode("utf-8")) != leaf:
        raise ProofError(f"the entry of event {proof.seq} does not hash to the proof's leaf")
    try:
        merkle.verify_inclusion(proof.seq - 1, proof.tree_size, leaf, _path(proof.proof), root)
    except ValueError as exc:
        raise ProofError(f"inclusion proof of event {proof.seq} does not verify: {exc}") from None
    _check_checkpoint(proof.checkpoint, proof.tree_size, root, verifier_key)


def check_consistency(proof: ConsistencyProof, verifier_key: str | None = None) -> None:
    """Raise ProofError unless the tree of `new_size` extends the tree of `old_size`.

    With `verifier_key`, both roots must be ones that checkpoints signed by that key state.
    """
    old_root = _hash(proof.old_root, "old root")
    new_root = _hash(proof.new_root, "new root")
    try:
        merkle.verify_consistency(
            proof.old_size, proof.new_size, old_root, new_root, _path(proof.proof)
        )
    except ValueError as exc:
        raise ProofError(
            f"consistency proof from size {proof.old_size} to {proof.new_size} does not "
            f"verify: {exc}"
        ) from None
    _check_checkpoint(proof.old_checkpoint, proof.old_size, old_root, verifier_key)
    _check_checkpoint(proof.new_checkpoint, proof.new_size, new_root, verifier_key)
