"""RFC 9162 (RFC 6962) Merkle tree hashing, compact frontier, and inclusion/consistency proofs.

Written by hand: no well-kept Python library offers RFC 9162 compact ranges together with
proof generation over caller-supplied storage and the RFC's verification algorithms.

Hashes are SHA-256 with the RFC's domain separation: a leaf is SHA-256(0x00 || entry), an
interior node SHA-256(0x01 || left || right), the empty tree SHA-256(""). Leaves are
indexed from 0. A perfect subtree "at level L, index i" covers leaves [i*2**L, (i+1)*2**L).

The compact frontier of a tree of `size` leaves is the list of roots of the perfect
subtrees given by the set bits of `size`, largest first: it is all an append needs, so the
log head stores it and an append costs O(log n) hashes.

Proof generation is generic over storage: the caller passes `subtree(start, end)`, the
hash of the tree over leaves [start, end). Only ranges produced by RFC 9162's PATH and
SUBPROOF recursion are asked for: perfect subtrees [i*2**L, (i+1)*2**L), and right edges
[start, size) of the tree the proof is for, where start is a multiple of a power of two
at least size - start.

Edge cases, as RFC 9162 defines them or as chosen here:
- the inclusion proof of the only leaf of a 1-leaf tree is empty;
- the consistency proof from a tree to itself (old_size == new_size) is empty, and it
  verifies only if the two roots are equal;
- old_size == 0 is refused by both `consistency_proof` and `verify_consistency`: the empty
  tree is a prefix of every tree, so there is nothing to prove (RFC 9162 defines proofs for
  0 < first), and a caller meeting size 0 should treat it before asking;
- the verifiers compute a root from the proof and compare it with the root they are given;
  they bind a proof to (index or sizes, root), so the root must come from a trusted (signed)
  tree head for that size.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable, Sequence

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

Subtree = Callable[[int, int], bytes]
"""Hash of the RFC 9162 tree over leaves [start, end)."""

_sha256 = hashlib.sha256


class ProofError(ValueError):
    """A proof does not prove what it claims, or cannot be checked as given."""


def leaf_hash(entry: bytes) -> bytes:
    """SHA-256(0x00 || entry): the hash of one log entry as a leaf."""
    return _sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 || left || right): the hash of an interior node."""
    return _sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly below n (n >= 2): RFC 9162's k."""
    return 1 << ((n - 1).bit_length() - 1)


def _popcount(n: int) -> int:
    return bin(n).count("1")


def _check_size(size: int) -> None:
    if size < 0:
        raise ValueError(f"a tree size cannot be negative, got {size}")


def _check_frontier(frontier: Sequence[bytes], size: int) -> None:
    _check_size(size)
    if len(frontier) != _popcount(size):
        raise ValueError(
            f"a frontier of a {size}-leaf tree holds {_popcount(size)} hashes "
            f"(one per set bit of the size), got {len(frontier)}"
        )


# ---------------------------------------------------------------------- frontier


def frontier_append(
    frontier: list[bytes], size: int, leaf: bytes
) -> tuple[list[bytes], list[tuple[int, int, bytes]]]:
    """Append one leaf hash to the tree of `size` leaves that `frontier` describes.

    Returns the new frontier (the input list is left alone) and the perfect subtrees this
    append completed, as (level, index, hash) with level >= 1, lowest level first. Callers
    keep some of them (tiles) so a proof need not read every leaf.
    """
    _check_frontier(frontier, size)
    if len(leaf) != HASH_SIZE:
        raise ValueError(f"a leaf hash is {HASH_SIZE} bytes, got {len(leaf)}")
    stack = list(frontier)
    completed: list[tuple[int, int, bytes]] = []
    node, level = leaf, 0
    # Each set low bit of size is a perfect subtree of the same height as `node` waiting
    # on its left: merge them, as binary addition carries.
    while size >> level & 1:
        node = node_hash(stack.pop(), node)
        level += 1
        completed.append((level, size >> level, node))
    stack.append(node)
    return stack, completed


def frontier_root(frontier: Sequence[bytes]) -> bytes:
    """The tree head (RFC 9162 MTH) of the tree the frontier describes."""
    if not frontier:
        return EMPTY_ROOT
    root = frontier[-1]
    for node in reversed(frontier[:-1]):
        root = node_hash(node, root)
    return root


def pack_frontier(frontier: Sequence[bytes]) -> bytes:
    """The frontier as one byte string (its hashes concatenated, largest subtree first)."""
    for node in frontier:
        if len(node) != HASH_SIZE:
            raise ValueError(f"a frontier hash is {HASH_SIZE} bytes, got {len(node)}")
    return b"".join(frontier)


def unpack_frontier(data: bytes, size: int) -> list[bytes]:
    """The frontier of a `size`-leaf tree from `pack_frontier`'s bytes."""
    _check_size(size)
    count = _popcount(size)
    if len(data) != count * HASH_SIZE:
        raise ValueError(
            f"the frontier of a {size}-leaf tree is {count} hashes of {HASH_SIZE} bytes "
            f"({count * HASH_SIZE} bytes), got {len(data)} bytes"
        )
    return [bytes(data[i : i + HASH_SIZE]) for i in range(0, len(data), HASH_SIZE)]


class TreeBuilder:
    """Streaming tree head computation: append leaf hashes one by one, read the root.

    Keeps only the frontier, so memory is O(log n); an append costs one interior hash on
    average.
    """

    __slots__ = ("_size", "_stack")

    def __init__(self) -> None:
        self._stack: list[bytes] = []
        self._size = 0

    @property
    def size(self) -> int:
        return self._size

    @property
    def frontier(self) -> list[bytes]:
        """A copy of the compact frontier, as `frontier_append` would give it."""
        return list(self._stack)

    def append(self, leaf: bytes) -> None:
        if len(leaf) != HASH_SIZE:
            raise ValueError(f"a leaf hash is {HASH_SIZE} bytes, got {len(leaf)}")
        stack, size = self._stack, self._size
        self._size = size + 1
        # Inlined node_hash and local names: a verifier appends a million leaves.
        sha256, pop = _sha256, stack.pop
        while size & 1:
            leaf = sha256(b"\x01" + pop() + leaf).digest()
            size >>= 1
        stack.append(leaf)

    def root(self) -> bytes:
        return frontier_root(self._stack)


def root_of(leaves: Sequence[bytes]) -> bytes:
    """RFC 9162 MTH of a list of leaf hashes (EMPTY_ROOT for none)."""
    builder = TreeBuilder()
    for leaf in leaves:
        builder.append(leaf)
    return builder.root()


def subtree_from_leaves(leaves: Sequence[bytes]) -> Subtree:
    """A `subtree` function over leaf hashes held in memory (memoised; for tests and tools)."""
    hashes = list(leaves)
    for i, leaf in enumerate(hashes):
        if len(leaf) != HASH_SIZE:
            raise ValueError(f"leaf hash {i} is {len(leaf)} bytes, not {HASH_SIZE}")

    @functools.cache
    def subtree(start: int, end: int) -> bytes:
        if not 0 <= start < end <= len(hashes):
            raise ValueError(
                f"subtree [{start}, {end}) is not a non-empty range of the "
                f"{len(hashes)} leaves held"
            )
        if end - start == 1:
            return hashes[start]
        k = _split(end - start)
        return node_hash(subtree(start, start + k), subtree(start + k, end))

    return subtree


# ---------------------------------------------------------------------- proofs


def _fetch(subtree: Subtree, start: int, end: int) -> bytes:
    node = subtree(start, end)
    if len(node) != HASH_SIZE:
        raise ValueError(
            f"subtree({start}, {end}) returned {len(node)} bytes, not a {HASH_SIZE}-byte hash"
        )
    return node


def inclusion_proof(index: int, size: int, subtree: Subtree) -> list[bytes]:
    """The audit path of leaf `index` in the tree of `size` leaves (RFC 9162 2.1.3.1 PATH)."""
    if size < 1:
        raise ValueError(f"an inclusion proof needs a tree of at least 1 leaf, got size {size}")
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} is outside a tree of {size} leaves (0..{size - 1})")
    # PATH recurses into the half holding the leaf and appends the other half's hash after
    # the deeper part of the path; walk down iteratively and reverse at the end.
    path: list[bytes] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index < start + k:
            path.append(_fetch(subtree, start + k, end))
            end = start + k
        else:
            path.append(_fetch(subtree, start, start + k))
            start += k
    path.reverse()
    return path


def consistency_proof(old_size: int, new_size: int, subtree: Subtree) -> list[bytes]:
    """The proof that the `old_size` tree is a prefix of the `new_size` tree.

    RFC 9162 2.1.4.1 PROOF(m, D[n]) = SUBPROOF(m, D[n], true); empty when the sizes are
    equal. old_size must be at least 1 (see the module docstring).
    """
    if old_size < 1:
        raise ValueError(
            f"old size must be at least 1, got {old_size}: the empty tree is a prefix of "
            "every tree, so there is nothing to prove"
        )
    if old_size > new_size:
        raise ValueError(
            f"old size {old_size} is larger than new size {new_size}; a log only grows"
        )
    proof: list[bytes] = []
    start, end, complete = 0, new_size, True
    while True:
        m, n = old_size - start, end - start
        if m == n:
            # SUBPROOF(m, D[m], b): nothing if D[m] is the whole old tree (the verifier
            # holds its root), else the root of this old subtree.
            if not complete:
                proof.append(_fetch(subtree, start, end))
            break
        k = _split(n)
        if m <= k:
            proof.append(_fetch(subtree, start + k, end))
            end = start + k
        else:
            proof.append(_fetch(subtree, start, start + k))
            start += k
            complete = False
    proof.reverse()
    return proof


# ---------------------------------------------------------------------- verification


def _check_hash(name: str, value: bytes) -> None:
    if len(value) != HASH_SIZE:
        raise ProofError(f"{name} is {len(value)} bytes, not a {HASH_SIZE}-byte SHA-256 hash")


def _check_path(proof: Sequence[bytes]) -> None:
    for i, node in enumerate(proof):
        _check_hash(f"proof hash {i}", node)


def _inclusion_length(index: int, size: int) -> int:
    # Below the node where the paths to `index` and to the last leaf fork, the tree is
    # perfect (one hash per level); above it, one hash per left-hand perfect subtree.
    inner = (index ^ (size - 1)).bit_length()
    return inner + _popcount(index >> inner)


def root_from_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes]) -> bytes:
    """The root that `proof` leads to from `leaf` at `index` (RFC 9162 2.1.3.2, steps 1-4).

    Raises ProofError if the arguments or the proof's shape cannot be right.
    """
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is outside a tree of {size} leaves")
    _check_hash("leaf hash", leaf)
    _check_path(proof)
    want = _inclusion_length(index, size)
    if len(proof) != want:
        raise ProofError(
            f"inclusion proof has {len(proof)} hashes; leaf {index} of a {size}-leaf tree "
            f"needs {want}"
        )
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise ProofError("inclusion proof is longer than the path to the root")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("inclusion proof is shorter than the path to the root")
    return r


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that `leaf` is at `index` in the `size`-leaf tree with head `root`.

    RFC 9162 2.1.3.2; raises ProofError saying what failed.
    """
    _check_hash("root hash", root)
    computed = root_from_inclusion(index, size, leaf, proof)
    if computed != root:
        raise ProofError(
            f"inclusion proof for leaf {index} of {size} leads to root {computed.hex()}, "
            f"not the expected {root.hex()}"
        )


def _consistency_length(old_size: int, new_size: int) -> int:
    # The inclusion path of the old tree's last leaf, minus the levels inside the old
    # tree's rightmost perfect subtree (whose root the proof starts from), plus that root
    # unless it is the whole old tree.
    inner = ((old_size - 1) ^ (new_size - 1)).bit_length()
    border = _popcount((old_size - 1) >> inner)
    shift = (old_size & -old_size).bit_length() - 1
    seed = 0 if old_size == 1 << shift else 1
    return seed + inner - shift + border


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> None:
    """Check that the `old_size` tree with `old_root` is a prefix of the `new_size` tree.

    RFC 9162 2.1.4.2 for 0 < old_size < new_size; for equal sizes the proof must be empty
    and the roots equal. Raises ProofError saying what failed.
    """
    if old_size < 1:
        raise ProofError(
            f"old size must be at least 1, got {old_size}: the empty tree is a prefix of "
            "every tree, so there is nothing to verify"
        )
    if old_size > new_size:
        raise ProofError(f"old size {old_size} is larger than new size {new_size}")
    _check_hash("old root", old_root)
    _check_hash("new root", new_root)
    _check_path(proof)
    if old_size == new_size:
        if proof:
            raise ProofError(
                f"a consistency proof between equal sizes is empty, got {len(proof)} hashes"
            )
        if old_root != new_root:
            raise ProofError(
                f"two trees of {old_size} leaves have different roots "
                f"{old_root.hex()} and {new_root.hex()}"
            )
        return
    want = _consistency_length(old_size, new_size)
    if len(proof) != want:
        raise ProofError(
            f"consistency proof has {len(proof)} hashes; {old_size} -> {new_size} needs {want}"
        )
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof is longer than the path to the root")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofError("consistency proof is shorter than the path to the root")
    if fr != old_root:
        raise ProofError(
            f"consistency proof leads to old root {fr.hex()}, not the expected "
            f"{old_root.hex()} for {old_size} leaves"
        )
    if sr != new_root:
        raise ProofError(
            f"consistency proof leads to new root {sr.hex()}, not the expected "
            f"{new_root.hex()} for {new_size} leaves"
        )
