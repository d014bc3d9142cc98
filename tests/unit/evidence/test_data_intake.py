"""Data intake: masking, deterministic tokenisation without the key in the record, drops."""

from __future__ import annotations

import pandas as pd
import pytest

from charter.evidence import data_intake as intake
from charter.evidence import pii_scan


def test_mask_tokenise_drop() -> None:
    frame = pd.DataFrame(
        {"email": ["a@b.com", None, "a@b.com"], "card": ["4111111111111111"] * 3, "x": [1, 2, 3]}
    )
    actions = {
        "email": intake.IntakeAction.TOKENISE,
        "card": intake.IntakeAction.MASK,
        "x": intake.IntakeAction.DROP,
    }
    out, record = intake.transform(frame, actions, b"secret-key")
    assert list(out.columns) == ["email", "card"]
    assert out["email"][0] == out["email"][2] != "a@b.com" and pd.isna(out["email"][1])
    assert set(out["card"]) == {"***"}
    assert record["key_id"] == intake.key_id(b"secret-key") and "secret" not in str(record)
    other, _ = intake.transform(frame, actions, b"another-key")
    assert other["email"][0] != out["email"][0]
    assert pii_scan.scan(out).pii_columns == []
    with pytest.raises(ValueError, match="not in the table"):
        intake.transform(frame, {"ssn": intake.IntakeAction.MASK}, b"k")
