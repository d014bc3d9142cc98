"""Tests for RFC 9162 Merkle hashing, the compact frontier and inclusion/consistency proofs."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from charter.audit.merkle import (
    EMPTY_ROOT,
    HASH_SIZE,
    ProofError,
    TreeBuilder,
    consistency_proof,
    frontier_append,
    frontier_root,
    inclusion_proof,
    leaf_hash,
    node_hash,
    pack_frontier,
    root_from_inclusion,
    root_of,
    subtree_from_leaves,
    unpack_frontier,
    verify_consistency,
    verify_inclusion,
)


def h(text: str) -> bytes:
    return bytes.fromhex(text)


# ------------------------------------------------------------- published vectors
#
# From github.com/transparency-dev/merkle (Go), testonly/constants.go: the leaf inputs of
# the RFC 6962 test data, every perfect node of the 8-leaf tree by (level, index), the
# roots for sizes 0..8 and the compact ranges (frontiers) for sizes 0..8.

LEAF_INPUTS = [
    h(""),
    h("00"),
    h("10"),
    h("2021"),
    h("3031"),
    h("40414243"),
    h("5051525354555657"),
    h("606162636465666768696a6b6c6d6e6f"),
]
NODE_HASHES = [
    [
        h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
        h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
        h("0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7"),
        h("07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7"),
        h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        h("4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658"),
        h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
        h("46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1"),
    ],
    [
        h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
        h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
        h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
        h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
    ],
    [
        h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
    ],
    [
        h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
    ],
]
EMPTY_TREE_HASH = h("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
ROOT_HASHES = [
    EMPTY_TREE_HASH,
    h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
    h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"),
    h("aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77"),
    h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
    h("4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4"),
    h("76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef"),
    h("ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c"),
    h("5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"),
]
_N = NODE_HASHES
COMPACT_TREES: list[list[bytes]] = [
    [],
    [_N[0][0]],
    [_N[1][0]],
    [_N[1][0], _N[0][2]],
    [_N[2][0]],
    [_N[2][0], _N[0][4]],
    [_N[2][0], _N[1][2]],
    [_N[2][0], _N[1][2], _N[0][6]],
    [_N[3][0]],
]

# From github.com/transparency-dev/merkle, proof/verify_test.go: inclusion proofs as
# (1-based leaf number, tree size, proof) and consistency proofs as (size1, size2, proof)
# over the leaves above, and the two junk hashes its corruption probes use.
SOME_HASH = h("abacaba000000000000000000000000000000000000000000060061e00123456")
INCLUSION_VECTORS: list[tuple[int, int, list[bytes]]] = [
    (1, 1, []),
    (
        1,
        8,
        [
            h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
    ),
    (
        6,
        8,
        [
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
    (3, 3, [h("fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125")]),
    (
        2,
        5,
        [
            h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ],
    ),
]
CONSISTENCY_VECTORS: list[tuple[int, int, list[bytes]]] = [
    (1, 1, []),
    (
        1,
        8,
        [
            h("96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"),
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"),
        ],
    ),
    (
        6,
        8,
        [
            h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
    (
        2,
        5,
        [
            h("5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"),
            h("bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"),
        ],
    ),
    (
        6,
        7,
        [
            h("0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"),
            h("b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f"),
            h("d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"),
        ],
    ),
]

LEAVES = [leaf_hash(entry) for entry in LEAF_INPUTS]
SUBTREE = subtree_from_leaves(LEAVES)


def test_hashes_match_rfc6962_test_data() -> None:
    # From github.com/transparency-dev/merkle, rfc6962/rfc6962_test.go.
    assert EMPTY_ROOT == EMPTY_TREE_HASH == hashlib.sha256(b"").digest()
    assert len(EMPTY_ROOT) == HASH_SIZE
    assert leaf_hash(b"") == h("6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d")
    assert leaf_hash(b"L123456") == h(
        "395aa064aa4c29f7010acfe3f25db9485bbd4b91897b6ad7ad547639252b4d56"
    )
    assert node_hash(b"N123", b"N456") == h(
        "aa217fe888e47007fa15edab33c2b492a722cb106c64667fc2b044444de66bbb"
    )


def test_every_node_of_the_reference_tree() -> None:
    for level, row in enumerate(NODE_HASHES):
        for index, want in enumerate(row):
            assert SUBTREE(index << level, (index + 1) << level) == want, (level, index)


def test_roots_for_every_size_match_the_reference() -> None:
    builder = TreeBuilder()
    frontier: list[bytes] = []
    completed: dict[tuple[int, int], bytes] = {}
    for size in range(len(LEAVES) + 1):
        assert root_of(LEAVES[:size]) == ROOT_HASHES[size]
        assert builder.size == size
        assert builder.root() == ROOT_HASHES[size]
        assert frontier == COMPACT_TREES[size]
        assert builder.frontier == COMPACT_TREES[size]
        assert frontier_root(frontier) == ROOT_HASHES[size]
        if size < len(LEAVES):
            builder.append(LEAVES[size])
            frontier, done = frontier_append(frontier, size, LEAVES[size])
            completed.update({(level, index): node for level, index, node in done})
    assert completed == {
        (level, index): node
        for level, row in enumerate(NODE_HASHES)
        if level >= 1
        for index, node in enumerate(row)
    }


def inclusion_probes(
    index: int, size: int, proof: list[bytes], root: bytes, leaf: bytes
) -> list[tuple[str, int, int, bytes, list[bytes], bytes]]:
    """transparency-dev/merkle's corruptInclusionProof: every one of these must fail."""
    probes = [
        ("index - 1", index - 1, size, leaf, proof, root),
        ("index + 1", index + 1, size, leaf, proof, root),
        ("index ^ 2", index ^ 2, size, leaf, proof, root),
        ("size * 2", index, size * 2, leaf, proof, root),
        ("size / 2", index, size // 2, leaf, proof, root),
        ("wrong leaf", index, size, b"WrongLeaf", proof, root),
        ("wrong leaf of the right length", index, size, SOME_HASH, proof, root),
        ("empty root", index, size, leaf, proof, EMPTY_TREE_HASH),
        ("random root", index, size, leaf, proof, SOME_HASH),
        ("trailing garbage", index, size, leaf, [*proof, b""], root),
        ("trailing root", index, size, leaf, [*proof, root], root),
        ("preceding garbage", index, size, leaf, [b"", *proof], root),
        ("preceding root", index, size, leaf, [root, *proof], root),
    ]
    for i in range(len(proof)):
        flipped = list(proof)
        flipped[i] = bytes([flipped[i][0] ^ 8]) + flipped[i][1:]
        probes.append((f"proof[{i}] bit 3 flipped", index, size, leaf, flipped, root))
    if proof:
        probes.append(("removed component", index, size, leaf, proof[:-1], root))
    if len(proof) > 1:
        probes.append(
            ("inserted component", index, size, leaf, [proof[0], SOME_HASH, *proof[1:]], root)
        )
    return probes


@pytest.mark.parametrize(("leaf", "size", "want"), INCLUSION_VECTORS)
def test_published_inclusion_proofs(leaf: int, size: int, want: list[bytes]) -> None:
    index, root = leaf - 1, ROOT_HASHES[size]
    assert inclusion_proof(index, size, SUBTREE) == want
    assert root_from_inclusion(index, size, LEAVES[index], want) == root
    verify_inclusion(index, size, LEAVES[index], want, root)
    for desc, i, n, leaf_, proof, root_ in inclusion_probes(index, size, want, root, LEAVES[index]):
        assert rejects(verify_inclusion, i, n, leaf_, proof, root_), desc


def consistency_probes(
    size1: int, size2: int, root1: bytes, root2: bytes, proof: list[bytes]
) -> list[tuple[str, int, int, bytes, bytes, list[bytes]]]:
    """transparency-dev/merkle's corruptConsistencyProof: every one of these must fail."""
    probes = [
        ("size1 - 1", size1 - 1, size2, root1, root2, proof),
        ("size1 + 1", size1 + 1, size2, root1, root2, proof),
        ("size1 ^ 2", size1 ^ 2, size2, root1, root2, proof),
        ("size2 * 2", size1, size2 * 2, root1, root2, proof),
        ("size2 / 2", size1, size2 // 2, root1, root2, proof),
        ("wrong root1", size1, size2, b"WrongRoot", root2, proof),
        ("wrong root2", size1, size2, root1, b"WrongRoot", proof),
        ("swapped roots", size1, size2, root2, root1, proof),
        ("empty proof", size1, size2, root1, root2, []),
        ("trailing garbage", size1, size2, root1, root2, [*proof, b""]),
        ("trailing root1", size1, size2, root1, root2, [*proof, root1]),
        ("trailing root2", size1, size2, root1, root2, [*proof, root2]),
        ("preceding garbage", size1, size2, root1, root2, [b"", *proof]),
        ("preceding root1", size1, size2, root1, root2, [root1, *proof]),
        ("preceding root2", size1, size2, root1, root2, [root2, *proof]),
        ("preceding proof[0]", size1, size2, root1, root2, [proof[0], *proof]),
        ("truncated proof", size1, size2, root1, root2, proof[:-1]),
    ]
    for i in range(len(proof)):
        flipped = list(proof)
        flipped[i] = bytes([flipped[i][0] ^ 16]) + flipped[i][1:]
        probes.append((f"proof[{i}] bit 4 flipped", size1, size2, root1, root2, flipped))
    return probes


@pytest.mark.parametrize(("size1", "size2", "want"), CONSISTENCY_VECTORS)
def test_published_consistency_proofs(size1: int, size2: int, want: list[bytes]) -> None:
    root1, root2 = ROOT_HASHES[size1], ROOT_HASHES[size2]
    assert consistency_proof(size1, size2, SUBTREE) == want
    verify_consistency(size1, size2, root1, root2, want)
    if not want:
        return
    for desc, n1, n2, r1, r2, proof in consistency_probes(size1, size2, root1, root2, want):
        assert rejects(verify_consistency, n1, n2, r1, r2, proof), desc


def test_published_single_entry_and_degenerate_inclusion_cases() -> None:
    # transparency-dev/merkle proof/verify_test.go, TestVerifyInclusionSingleEntry and
    # TestVerifyInclusion: a 1-leaf tree's root is its leaf and its proof is empty.
    one = leaf_hash(b"data")
    verify_inclusion(0, 1, one, [], one)
    for leaf, root in [(one, b""), (b"", one), (b"", b"")]:
        with pytest.raises(ProofError):
            verify_inclusion(0, 1, leaf, [], root)
    for index, size in [(0, 0), (0, 1), (1, 0), (2, 1)]:
        for leaf, root in [(SOME_HASH, b""), (b"", EMPTY_TREE_HASH), (SOME_HASH, EMPTY_TREE_HASH)]:
            with pytest.raises(ProofError):
                verify_inclusion(index, size, leaf, [], root)


def test_published_degenerate_consistency_cases() -> None:
    # transparency-dev/merkle proof/verify_test.go, TestVerifyConsistency, except that
    # size 0 is refused here (see merkle's docstring) where Go accepts it.
    a, b = ROOT_HASHES[1], ROOT_HASHES[2]
    verify_consistency(1, 1, a, a, [])
    for size1, size2, root1, root2, proof in [
        (1, 1, a, b, []),
        (1, 0, a, b, []),
        (2, 1, a, b, []),
        (1, 2, a, b, []),
        (1, 1, EMPTY_TREE_HASH, b, []),
        (1, 1, EMPTY_TREE_HASH, EMPTY_TREE_HASH, [EMPTY_TREE_HASH]),
        (0, 0, EMPTY_TREE_HASH, EMPTY_TREE_HASH, []),
        (0, 1, EMPTY_TREE_HASH, a, []),
    ]:
        with pytest.raises(ProofError):
            verify_consistency(size1, size2, root1, root2, proof)


# From github.com/transparency-dev/merkle, proof/proof_test.go (TestInclusion and
# TestConsistency): which nodes make up a proof, as (level, index) node IDs, plus the slice
# [begin, end) of IDs that are hashed together into one ephemeral node of the proof.
Node = tuple[int, int]
Shape = tuple[list[Node], tuple[int, int]]
NONE = (0, 0)
INCLUSION_SHAPES: list[tuple[int, int, Shape]] = [  # (size, index, shape)
    (1, 0, ([], NONE)),
    (2, 0, ([(0, 1)], NONE)),
    (2, 1, ([(0, 0)], NONE)),
    (3, 1, ([(0, 0), (0, 2)], NONE)),
    (7, 0, ([(0, 1), (1, 1), (0, 6), (1, 2)], (2, 4))),
    (7, 1, ([(0, 0), (1, 1), (0, 6), (1, 2)], (2, 4))),
    (7, 2, ([(0, 3), (1, 0), (0, 6), (1, 2)], (2, 4))),
    (7, 3, ([(0, 2), (1, 0), (0, 6), (1, 2)], (2, 4))),
    (7, 4, ([(0, 5), (0, 6), (2, 0)], NONE)),
    (7, 5, ([(0, 4), (0, 6), (2, 0)], NONE)),
    (7, 6, ([(1, 2), (2, 0)], NONE)),
    (4, 2, ([(0, 3), (1, 0)], NONE)),
    (5, 3, ([(0, 2), (1, 0), (0, 4)], NONE)),
    (6, 3, ([(0, 2), (1, 0), (1, 2)], NONE)),
    (6, 4, ([(0, 5), (2, 0)], NONE)),
    (15, 10, ([(0, 11), (1, 4), (0, 14), (1, 6), (3, 0)], (2, 4))),
    (31, 24, ([(0, 25), (1, 13), (0, 30), (1, 14), (3, 2), (4, 0)], (2, 4))),
    (
        95,
        81,
        ([(0, 80), (1, 41), (2, 21), (0, 94), (1, 46), (2, 22), (4, 4), (6, 0)], (3, 6)),
    ),
]
CONSISTENCY_SHAPES: list[tuple[int, int, Shape]] = [  # (size1, size2, shape)
    (1, 2, ([(0, 1)], NONE)),
    (1, 4, ([(0, 1), (1, 1)], NONE)),
    (1, 6, ([(0, 1), (1, 1), (1, 2)], NONE)),
    (2, 3, ([(0, 2)], NONE)),
    (2, 8, ([(1, 1), (2, 1)], NONE)),
    (3, 7, ([(0, 2), (0, 3), (1, 0), (0, 6), (1, 2)], (3, 5))),
    (4, 7, ([(0, 6), (1, 2)], (0, 2))),
    (5, 7, ([(0, 4), (0, 5), (0, 6), (2, 0)], NONE)),
    (6, 7, ([(1, 2), (0, 6), (2, 0)], NONE)),
    (7, 8, ([(0, 6), (0, 7), (1, 2), (2, 0)], NONE)),
    (1, 1, ([], NONE)),
    (2, 2, ([], NONE)),
    (3, 3, ([], NONE)),
    (4, 4, ([], NONE)),
    (5, 5, ([], NONE)),
    (7, 7, ([], NONE)),
    (8, 8, ([], NONE)),
    (2, 4, ([(1, 1)], NONE)),
    (3, 5, ([(0, 2), (0, 3), (1, 0), (0, 4)], NONE)),
    (3, 6, ([(0, 2), (0, 3), (1, 0), (1, 2)], NONE)),
    (4, 6, ([(1, 2)], NONE)),
    (1, 7, ([(0, 1), (1, 1), (0, 6), (1, 2)], (2, 4))),
    (10, 15, ([(1, 4), (1, 5), (0, 14), (1, 6), (3, 0)], (2, 4))),
    (24, 31, ([(3, 2), (0, 30), (1, 14), (2, 6), (4, 0)], (1, 4))),
    (
        81,
        95,
        ([(0, 80), (0, 81), (1, 41), (2, 21), (0, 94), (1, 46), (2, 22), (4, 4), (6, 0)], (4, 7)),
    ),
]
SHAPE_LEAVES = [leaf_hash(i.to_bytes(2, "big")) for i in range(100)]
SHAPE_SUBTREE = subtree_from_leaves(SHAPE_LEAVES)


def shape_ranges(shape: Shape) -> list[tuple[int, int]]:
    """The leaf range each proof hash covers; the ephemeral node covers its children's."""
    ids, (begin, end) = shape
    ranges = [(index << level, (index + 1) << level) for level, index in ids]
    if begin < end:
        group = ranges[begin:end]
        ranges[begin:end] = [(min(s for s, _ in group), max(e for _, e in group))]
    return ranges


@pytest.mark.parametrize(("size", "index", "shape"), INCLUSION_SHAPES)
def test_inclusion_proofs_use_the_published_nodes(size: int, index: int, shape: Shape) -> None:
    want = [reference_mth(SHAPE_LEAVES[s:e]) for s, e in shape_ranges(shape)]
    assert inclusion_proof(index, size, SHAPE_SUBTREE) == want


@pytest.mark.parametrize(("size1", "size2", "shape"), CONSISTENCY_SHAPES)
def test_consistency_proofs_use_the_published_nodes(size1: int, size2: int, shape: Shape) -> None:
    want = [reference_mth(SHAPE_LEAVES[s:e]) for s, e in shape_ranges(shape)]
    assert consistency_proof(size1, size2, SHAPE_SUBTREE) == want


def test_published_bad_proof_arguments_are_refused() -> None:
    # proof/proof_test.go's error cases.
    for size, index in [(0, 0), (0, 1), (1, 2), (0, 3), (7, 8)]:
        with pytest.raises(ValueError, match="tree"):
            inclusion_proof(index, size, SHAPE_SUBTREE)
    for size1, size2 in [(5, 0), (9, 8)]:
        with pytest.raises(ValueError, match="larger than new size"):
            consistency_proof(size1, size2, SHAPE_SUBTREE)


def bit_ceil(n: int) -> int:
    return 1 if n <= 1 else 1 << (n - 1).bit_length()


def mtc_subtrees(limit: int) -> list[tuple[int, int]]:
    """The subtrees [start, end) with end <= limit whose start is 0 or a multiple of
    bit_ceil(end - start), in the order the vectors enumerate them."""
    return [
        (start, end)
        for end in range(1, limit + 1)
        for start in range(end)
        if start == 0 or start % bit_ceil(end - start) == 0
    ]


def test_accumulated_vectors_of_the_merkle_tree_certs_draft() -> None:
    # From github.com/transparency-dev/merkle, testonly/vectors_test.go, which reproduces
    # the "Subtree Test Vectors" appendix of draft-ietf-plants-merkle-tree-certs: over the
    # 130 entries d[i] = bytes([i]), every subtree's hash, and every inclusion proof of
    # each of its entries inside it, folded into one running SHA-256 each. An inclusion
    # proof inside a subtree is RFC 9162's PATH over that subtree's leaves.
    leaves = [leaf_hash(bytes([i])) for i in range(130)]
    subtree = subtree_from_leaves(leaves)
    hashes, proofs = hashlib.sha256(), hashlib.sha256()
    for start, end in mtc_subtrees(130):
        hashes.update(f"[{start}, {end}) {subtree(start, end).hex()}\n".encode())

        def shifted(a: int, b: int, start: int = start) -> bytes:
            return subtree(start + a, start + b)

        for index in range(start, end):
            proof = inclusion_proof(index - start, end - start, shifted)
            line = f"{index} [{start}, {end})" + "".join(f" {p.hex()}" for p in proof)
            proofs.update(f"{line}\n".encode())
    assert hashes.hexdigest() == "94a95384a8c69acea9b50d035a58285b3a777cb7a724005faa5e1f1e1190007f"
    assert proofs.hexdigest() == "ac2a8f989e44d99e399db448050ff5f19757df53cfb716aa81015d3955d8163f"


# ------------------------------------------------------------- reference from the RFC
#
# Straight from RFC 9162 2.1.1 (MTH), 2.1.3.1 (PATH) and 2.1.4.1 (SUBPROOF), recursive
# and unoptimised, over a list of leaf hashes.


def reference_mth(leaves: Sequence[bytes]) -> bytes:
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return leaves[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return hashlib.sha256(b"\x01" + reference_mth(leaves[:k]) + reference_mth(leaves[k:])).digest()


def reference_path(m: int, leaves: Sequence[bytes]) -> list[bytes]:
    n = len(leaves)
    if n == 1:
        return []
    k = 1
    while k * 2 < n:
        k *= 2
    if m < k:
        return [*reference_path(m, leaves[:k]), reference_mth(leaves[k:])]
    return [*reference_path(m - k, leaves[k:]), reference_mth(leaves[:k])]


def reference_subproof(m: int, leaves: Sequence[bytes], b: bool) -> list[bytes]:
    n = len(leaves)
    if m == n:
        return [] if b else [reference_mth(leaves)]
    k = 1
    while k * 2 < n:
        k *= 2
    if m <= k:
        return [*reference_subproof(m, leaves[:k], b), reference_mth(leaves[k:])]
    return [*reference_subproof(m - k, leaves[k:], False), reference_mth(leaves[:k])]


def make_leaves(seed: int, size: int) -> list[bytes]:
    entries = [f"{seed}:{i}".encode() for i in range(size)]
    leaves = [leaf_hash(e) for e in entries]
    assert leaves == [hashlib.sha256(b"\x00" + e).digest() for e in entries]
    return leaves


def flip(proof: list[bytes], i: int, bit: int) -> list[bytes]:
    out = list(proof)
    out[i] = (
        out[i][: bit // 8] + bytes([out[i][bit // 8] ^ (1 << bit % 8)]) + out[i][bit // 8 + 1 :]
    )
    return out


def rejects(check: Callable[..., None], *args: object) -> bool:
    try:
        check(*args)
    except ProofError:
        return True
    return False


SEEDS = st.integers(0, 2**32)


@settings(max_examples=60, deadline=None)
@given(SEEDS, st.integers(0, 300))
def test_all_ways_of_computing_the_root_agree(seed: int, size: int) -> None:
    leaves = make_leaves(seed, size)
    want = reference_mth(leaves)
    builder = TreeBuilder()
    for leaf in leaves:
        builder.append(leaf)
    assert builder.size == size
    assert builder.root() == want
    assert root_of(leaves) == want
    frontier: list[bytes] = []
    for n, leaf in enumerate(leaves):
        frontier, _ = frontier_append(frontier, n, leaf)
    assert frontier_root(frontier) == want
    assert frontier == builder.frontier
    assert frontier_root(unpack_frontier(pack_frontier(frontier), size)) == want
    if size:
        assert subtree_from_leaves(leaves)(0, size) == want


@settings(max_examples=40, deadline=None)
@given(SEEDS, st.integers(1, 300))
def test_frontier_holds_the_perfect_subtrees_and_appends_complete_the_right_nodes(
    seed: int, size: int
) -> None:
    leaves = make_leaves(seed, size)
    frontier: list[bytes] = []
    completed: dict[tuple[int, int], bytes] = {}
    for n, leaf in enumerate(leaves):
        before = list(frontier)
        new, done = frontier_append(frontier, n, leaf)
        assert frontier == before, "frontier_append changed its input"
        assert [level for level, _, _ in done] == list(range(1, len(done) + 1))
        for level, index, node in done:
            assert (level, index) not in completed
            # The node ends exactly at the leaf just appended.
            assert (index + 1) << level == n + 1
            completed[level, index] = node
        frontier = new
    # Every perfect subtree above the leaves was reported once, with the right hash.
    assert completed == {
        (level, index): reference_mth(leaves[index << level : (index + 1) << level])
        for level in range(1, size.bit_length())
        for index in range(size >> level)
    }
    # The frontier is the roots of the perfect subtrees the size's set bits describe.
    want, start = [], 0
    for level in reversed(range(size.bit_length())):
        if size >> level & 1:
            want.append(reference_mth(leaves[start : start + (1 << level)]))
            start += 1 << level
    assert frontier == want


@settings(max_examples=80, deadline=None)
@given(SEEDS, st.integers(1, 300), st.data())
def test_inclusion_proofs_verify_and_tampering_fails(
    seed: int, size: int, data: st.DataObject
) -> None:
    leaves = make_leaves(seed, size)
    index = data.draw(st.integers(0, size - 1), label="index")
    root, leaf = reference_mth(leaves), leaves[index]
    proof = inclusion_proof(index, size, subtree_from_leaves(leaves))
    assert proof == reference_path(index, leaves)
    verify_inclusion(index, size, leaf, proof, root)

    for i in range(len(proof)):
        bit = data.draw(st.integers(0, 8 * HASH_SIZE - 1), label=f"bit of proof[{i}]")
        bad = flip(proof, i, bit)
        assert rejects(verify_inclusion, index, size, leaf, bad, root)
    bit = data.draw(st.integers(0, 8 * HASH_SIZE - 1), label="bit of leaf")
    bad_leaf = flip([leaf], 0, bit)[0]
    assert rejects(verify_inclusion, index, size, bad_leaf, proof, root)
    bad_root = flip([root], 0, bit)[0]
    assert rejects(verify_inclusion, index, size, leaf, proof, bad_root)
    if size > 1:
        other = data.draw(st.integers(0, size - 1).filter(lambda i: i != index), label="other")
        assert rejects(verify_inclusion, other, size, leaf, proof, root)
        # The right leaf of another index is not proven by this index's path either.
        assert rejects(verify_inclusion, other, size, leaves[other], proof, root)
    # A proof is bound to its tree: it does not verify against another size's root.
    for wrong in {index + 1, size - 1, size + 1, size * 2} - {size}:
        if wrong > index:
            wrong_root = reference_mth(make_leaves(seed, wrong))
            assert rejects(verify_inclusion, index, wrong, leaf, proof, wrong_root)
    assert rejects(verify_inclusion, index, size, leaf, [*proof, root], root)
    if proof:
        assert rejects(verify_inclusion, index, size, leaf, proof[:-1], root)
    if len(proof) > 1:
        assert rejects(verify_inclusion, index, size, leaf, proof[::-1], root)


@settings(max_examples=80, deadline=None)
@given(SEEDS, st.integers(1, 300), st.data())
def test_consistency_proofs_verify_and_tampering_fails(
    seed: int, new_size: int, data: st.DataObject
) -> None:
    leaves = make_leaves(seed, new_size)
    old_size = data.draw(st.integers(1, new_size), label="old_size")
    old_root, new_root = reference_mth(leaves[:old_size]), reference_mth(leaves)
    proof = consistency_proof(old_size, new_size, subtree_from_leaves(leaves))
    assert proof == reference_subproof(old_size, leaves, True)
    verify_consistency(old_size, new_size, old_root, new_root, proof)

    def fails(m: int, n: int, r1: bytes, r2: bytes, p: list[bytes]) -> bool:
        return rejects(verify_consistency, m, n, r1, r2, p)

    for i in range(len(proof)):
        bit = data.draw(st.integers(0, 8 * HASH_SIZE - 1), label=f"bit of proof[{i}]")
        assert fails(old_size, new_size, old_root, new_root, flip(proof, i, bit))
    bit = data.draw(st.integers(0, 8 * HASH_SIZE - 1), label="bit of a root")
    assert fails(old_size, new_size, flip([old_root], 0, bit)[0], new_root, proof)
    assert fails(old_size, new_size, old_root, flip([new_root], 0, bit)[0], proof)
    if old_size < new_size:
        assert fails(old_size, new_size, new_root, old_root, proof)
        assert fails(old_size, new_size, old_root, new_root, proof[:-1])
        assert fails(old_size, new_size, old_root, new_root, [*proof, proof[-1]])
        assert fails(old_size, new_size, old_root, new_root, [proof[0], *proof])
        # A different earlier history is not consistent with this log.
        forked = make_leaves(seed + 1, old_size)
        assert fails(old_size, new_size, reference_mth(forked), new_root, proof)
    # Bound to both sizes: other sizes with their own roots do not verify.
    for wrong in {old_size - 1, old_size + 1, new_size} - {old_size, 0}:
        if wrong <= new_size:
            r = reference_mth(leaves[:wrong])
            assert fails(wrong, new_size, r, new_root, proof)
    for wrong in {new_size - 1, new_size + 1, new_size * 2} - {new_size}:
        if wrong >= old_size:
            r = reference_mth(make_leaves(seed, wrong))
            assert fails(old_size, wrong, old_root, r, proof)


def test_every_proof_of_small_trees_matches_the_rfc_and_verifies() -> None:
    leaves = make_leaves(7, 40)
    subtree = subtree_from_leaves(leaves)
    roots = [reference_mth(leaves[:n]) for n in range(len(leaves) + 1)]
    for n in range(1, len(leaves) + 1):
        for m in range(n):
            proof = inclusion_proof(m, n, subtree)
            assert proof == reference_path(m, leaves[:n]), (m, n)
            verify_inclusion(m, n, leaves[m], proof, roots[n])
        for m in range(1, n + 1):
            proof = consistency_proof(m, n, subtree)
            assert proof == reference_subproof(m, leaves[:n], True), (m, n)
            verify_consistency(m, n, roots[m], roots[n], proof)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.binary(min_size=0, max_size=40), max_size=70))
def test_tree_builder_equals_root_of_for_arbitrary_entries(entries: list[bytes]) -> None:
    leaves = [leaf_hash(e) for e in entries]
    builder = TreeBuilder()
    for n, leaf in enumerate(leaves):
        assert builder.size == n
        assert builder.root() == root_of(leaves[:n])
        builder.append(leaf)
    assert builder.root() == root_of(leaves) == reference_mth(leaves)


# ------------------------------------------------------------- arguments and errors


def test_frontier_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match=r"5-leaf tree holds 2 hashes .* got 1"):
        frontier_append([LEAVES[0]], 5, LEAVES[1])
    with pytest.raises(ValueError, match="leaf hash is 32 bytes, got 3"):
        frontier_append([], 0, b"abc")
    with pytest.raises(ValueError, match="cannot be negative"):
        frontier_append([], -1, LEAVES[0])
    with pytest.raises(ValueError, match=r"7-leaf tree is 3 hashes .*\(96 bytes\), got 64"):
        unpack_frontier(b"\x00" * 64, 7)
    with pytest.raises(ValueError, match="0-leaf tree is 0 hashes"):
        unpack_frontier(b"\x00" * 32, 0)
    with pytest.raises(ValueError, match="frontier hash is 32 bytes"):
        pack_frontier([b"short"])
    assert unpack_frontier(b"", 0) == []
    assert unpack_frontier(pack_frontier(COMPACT_TREES[7]), 7) == COMPACT_TREES[7]
    assert frontier_root([]) == EMPTY_ROOT
    with pytest.raises(ValueError, match="leaf hash is 32 bytes"):
        TreeBuilder().append(b"entry, not its hash")


def test_proof_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match=r"leaf index 8 is outside a tree of 8 leaves \(0..7\)"):
        inclusion_proof(8, 8, SUBTREE)
    with pytest.raises(ValueError, match="leaf index -1"):
        inclusion_proof(-1, 8, SUBTREE)
    with pytest.raises(ValueError, match="at least 1 leaf, got size 0"):
        inclusion_proof(0, 0, SUBTREE)
    with pytest.raises(ValueError, match="old size must be at least 1, got 0"):
        consistency_proof(0, 5, SUBTREE)
    with pytest.raises(ValueError, match="old size 6 is larger than new size 5"):
        consistency_proof(6, 5, SUBTREE)
    with pytest.raises(ValueError, match=r"subtree\(4, 8\) returned 3 bytes"):
        inclusion_proof(0, 8, lambda start, end: b"bad")
    with pytest.raises(ValueError, match=r"subtree \[0, 9\) is not a non-empty range of the 8"):
        SUBTREE(0, 9)
    with pytest.raises(ValueError, match="leaf hash 1 is 2 bytes"):
        subtree_from_leaves([LEAVES[0], b"ab"])


def test_proof_errors_say_what_failed() -> None:
    proof = inclusion_proof(5, 8, SUBTREE)
    root = ROOT_HASHES[8]
    with pytest.raises(ProofError, match="outside a tree of 8 leaves"):
        verify_inclusion(8, 8, LEAVES[5], proof, root)
    with pytest.raises(ProofError, match="has 2 hashes; leaf 5 of a 8-leaf tree needs 3"):
        verify_inclusion(5, 8, LEAVES[5], proof[:2], root)
    with pytest.raises(ProofError, match="proof hash 1 is 31 bytes"):
        verify_inclusion(5, 8, LEAVES[5], [proof[0], proof[1][:31], proof[2]], root)
    with pytest.raises(ProofError, match="root hash is 0 bytes"):
        verify_inclusion(5, 8, LEAVES[5], proof, b"")
    with pytest.raises(ProofError, match=f"leads to root .*not the expected {root.hex()}"):
        verify_inclusion(5, 8, LEAVES[4], proof, root)

    proof = consistency_proof(3, 8, SUBTREE)
    old, new = ROOT_HASHES[3], ROOT_HASHES[8]
    with pytest.raises(ProofError, match="has 3 hashes; 3 -> 8 needs 4"):
        verify_consistency(3, 8, old, new, proof[:3])
    with pytest.raises(ProofError, match=r"leads to old root .* for 3 leaves"):
        verify_consistency(3, 8, ROOT_HASHES[4], new, proof)
    with pytest.raises(ProofError, match=r"leads to new root .* for 8 leaves"):
        verify_consistency(3, 8, old, ROOT_HASHES[7], proof)
    with pytest.raises(ProofError, match="old size 9 is larger than new size 8"):
        verify_consistency(9, 8, old, new, proof)
    with pytest.raises(ProofError, match="at least 1, got 0"):
        verify_consistency(0, 8, EMPTY_ROOT, new, [])
    with pytest.raises(ProofError, match="between equal sizes is empty, got 1"):
        verify_consistency(8, 8, new, new, [new])
    with pytest.raises(ProofError, match="two trees of 8 leaves have different roots"):
        verify_consistency(8, 8, new, old, [])
    with pytest.raises(ProofError, match="old root is 4 bytes"):
        verify_consistency(3, 8, b"abcd", new, proof)
    assert issubclass(ProofError, ValueError)
