"""Dataset digests: deterministic over layout and construction, sensitive to every value."""

from __future__ import annotations

import hashlib
import json
import struct

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from charter.artifacts import tabular as datasets
from charter.artifacts.tabular import summarize
from charter.domain.errors import InvalidInput


def frame() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "age": np.array([31, 45, 27, 60], dtype="int64"),
            "income": [52_000.5, np.nan, 31_000.0, 88_250.25],
            "city": ["Lyon", "Porto", None, "Graz"],
            "member": [True, False, True, True],
        }
    )


def test_known_answer_pins_the_documented_serialisation() -> None:
    data = pd.DataFrame({"a": np.array([1, 2], dtype="int64"), "s": ["x", None]})
    labels = pd.Series([0.5, np.nan], name="y")
    header = {
        "features": [["a", "int64"], ["s", "string"]],
        "format": "charter.dataset/1",
        "target": [["y", "float64"]],
    }
    nan = struct.pack("<d", float("nan"))
    expected = hashlib.sha256(
        json.dumps(header, separators=(",", ":")).encode()
        + b"\n"
        + struct.pack("<q", 1)
        + b"s"
        + struct.pack("<Q", 1)
        + b"x"
        + struct.pack("<d", 0.5)
        + struct.pack("<q", 2)
        + b"\x00"
        + nan
    ).hexdigest()
    assert summarize(data, labels).digest == "sha256:" + expected


def test_memory_layout_and_byte_order_do_not_matter() -> None:
    base = np.arange(60, dtype="float64").reshape(12, 5) / 7
    reference = summarize(base).digest
    assert summarize(np.asfortranarray(base)).digest == reference
    assert summarize(base.astype(">f8")).digest == reference
    wide = np.zeros((12, 10))
    wide[:, ::2] = base
    assert summarize(wide[:, ::2]).digest == reference  # a strided view
    assert summarize(pd.DataFrame(base, columns=[f"x{i}" for i in range(5)])).digest == reference


def test_construction_order_and_index_do_not_matter() -> None:
    reference = summarize(frame()).digest
    by_rows = pd.DataFrame.from_records(
        [
            {"age": 31, "income": 52_000.5, "city": "Lyon", "member": True},
            {"age": 45, "income": np.nan, "city": "Porto", "member": False},
            {"age": 27, "income": 31_000.0, "city": None, "member": True},
            {"age": 60, "income": 88_250.25, "city": "Graz", "member": True},
        ]
    )
    assert summarize(by_rows).digest == reference
    reindexed = frame().set_axis([10, 3, 7, 1], axis=0)
    assert summarize(reindexed).digest == reference
    as_object = frame().astype({"city": object})
    assert summarize(as_object).digest == reference
    shuffled_then_sorted = frame().sample(frac=1, random_state=3).sort_values("age")
    assert summarize(shuffled_then_sorted).digest != reference  # row order is content


def test_chunk_size_does_not_matter(monkeypatch: pytest.MonkeyPatch) -> None:
    data = frame()
    rng = np.random.default_rng(0)
    big = pd.DataFrame({"x": rng.normal(size=1000), "s": [f"r{i}" for i in range(1000)]})
    reference = (summarize(data).digest, summarize(big).digest)
    monkeypatch.setattr(datasets, "CHUNK_BYTES", 1)
    assert (summarize(data).digest, summarize(big).digest) == reference


def test_every_change_changes_the_digest() -> None:
    reference = summarize(frame()).digest
    changed = frame()
    changed.loc[2, "income"] = 31_000.000001
    renamed = frame().rename(columns={"age": "years"})
    reordered = frame()[["income", "age", "city", "member"]]
    narrower = frame().astype({"age": "int32"})
    missing = frame()
    missing.loc[0, "city"] = None
    digests = {
        summarize(d).digest for d in (changed, renamed, reordered, narrower, missing, frame()[:3])
    }
    assert len(digests) == 6 and reference not in digests
    assert summarize(frame(), frame()["member"]).digest != reference


def test_every_nan_is_the_same_nan() -> None:
    quiet = np.array([1.0, np.nan])
    payload = np.array([1.0, 0.0])
    payload.view("uint64")[1] = 0x7FF8_0000_0000_0BAD
    assert np.isnan(payload[1])
    assert summarize(quiet).digest == summarize(payload).digest
    assert summarize(quiet).digest != summarize(np.array([1.0, 0.0])).digest


def test_schema_row_count_and_nullable() -> None:
    summary = summarize(frame(), pd.Series([0, 1, 0, 1], name="churned"))
    assert summary.row_count == 4
    assert [(c.name, c.type, c.nullable) for c in summary.columns] == [
        ("age", "int64", False),
        ("income", "float64", True),
        ("city", "string", True),
        ("member", "bool", False),
        ("churned", "int64", False),
    ]
    assert [c.name for c in summary.features] == ["age", "income", "city", "member"]
    assert [c.name for c in summary.target] == ["churned"]
    assert summary.kind == "pandas.DataFrame"


def test_numpy_columns_and_targets_are_named() -> None:
    summary = summarize(np.ones((3, 2)), np.array([0, 1, 1]))
    assert [c.name for c in summary.columns] == ["x0", "x1", "target"]
    assert summarize(np.ones((3, 2)), np.ones((3, 2))).columns[2].name == "target0"


def test_timezones_are_compared_in_utc() -> None:
    paris = pd.Series(pd.to_datetime(["2024-01-01 10:00"]).tz_localize("Europe/Paris"), name="t")
    utc = pd.Series(pd.to_datetime(["2024-01-01 09:00"]).tz_localize("UTC"), name="t")
    # Same instants, different declared zones: the zone is part of the type in the header.
    assert summarize(paris.to_frame()).columns[0].type.endswith("Europe/Paris]")
    assert summarize(paris.to_frame()).digest != summarize(utc.to_frame()).digest
    again = pd.Series(pd.to_datetime(["2024-01-01 09:00"]).tz_localize("UTC"), name="t")
    assert (
        summarize(again.dt.tz_convert("Europe/Paris").to_frame()).digest
        == summarize(paris.to_frame()).digest
    )


def test_categories_and_nullable_integers_hash_their_values() -> None:
    cats = pd.DataFrame({"c": pd.Categorical(["a", "b", "a"])})
    reordered = pd.DataFrame({"c": pd.Categorical(["a", "b", "a"], categories=["b", "a"])})
    assert summarize(cats).digest == summarize(reordered).digest  # same values, other codes
    ints = pd.DataFrame({"n": pd.array([1, None, 3], dtype="Int64")})
    summary = summarize(ints)
    assert summary.columns[0].type == "Int64" and summary.columns[0].nullable is True
    filled = summarize(pd.DataFrame({"n": pd.array([1, 2, 3], dtype="Int64")}))
    assert summary.digest != filled.digest and filled.columns[0].nullable is False


def test_bad_input_is_refused_clearly() -> None:
    with pytest.raises(InvalidInput, match="rows"):
        summarize(np.ones((3, 2)), np.ones(4))
    with pytest.raises(InvalidInput, match="dimensions"):
        summarize(np.ones((2, 2, 2)))
    with pytest.raises(InvalidInput, match="DataFrame"):
        summarize({"a": [1, 2]})


@settings(max_examples=40, deadline=None)
@given(
    hnp.arrays(
        dtype=st.sampled_from([np.dtype("float64"), np.dtype("int32"), np.dtype("bool")]),
        shape=hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=12),
    )
)
def test_any_array_hashes_the_same_in_any_layout(array: np.ndarray) -> None:
    reference = summarize(array).digest
    assert summarize(np.asfortranarray(array)).digest == reference
    assert summarize(array.astype(array.dtype.newbyteorder(">"))).digest == reference
    names = [f"x{i}" for i in range(array.shape[1])]
    assert summarize(pd.DataFrame(array, columns=names)).digest == reference
