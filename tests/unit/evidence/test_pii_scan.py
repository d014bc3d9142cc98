"""PII scan on generated data with planted personal data, and clean columns left alone."""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import pytest

from charter.evidence import pii_scan as pii


def luhn_complete(prefix: str) -> str:
    for last in range(10):
        if pii.luhn(prefix + str(last)):
            return prefix + str(last)
    raise AssertionError


@pytest.fixture
def planted() -> pd.DataFrame:
    rng = random.Random(3)
    n = 300
    return pd.DataFrame(
        {
            "customer_id": range(n),
            "first_name": [rng.choice(["Ada", "Bo", "Cy"]) for _ in range(n)],
            "contact": [f"user{i}@example.org" for i in range(n)],
            "card": [luhn_complete(f"411111111111{i:03d}") for i in range(n)],
            "iban": ["DE89370400440532013000", "GB82WEST12345698765432"] * (n // 2),
            "ssn": ["123-45-6789", "078-05-1120", "000-12-3456"] * (n // 3),
            "nino": ["AB123456C", "QQ123456C", "JG 10 37 75 D"] * (n // 3),
            "ip": ["192.168.0.1", "2001:db8::1", "999.1.1.1"] * (n // 3),
            "phone": ["+44 20 7946 0958", "030 1234567"] * (n // 2),
            "date_of_birth": ["1980-01-02"] * n,
            "income": np.linspace(1000, 9000, n),
            "product_code": [f"{rng.randrange(10**15, 10**16)}" for _ in range(n)],
            "bad_card": ["4111111111111112"] * n,
        }
    )


def test_planted_pii_is_found_and_masked(planted: pd.DataFrame) -> None:
    report = pii.scan(planted)
    columns = report.columns
    assert report.rows_scanned == 300
    assert columns["contact"].kinds == {"email": 300}
    assert columns["card"].kinds == {"payment_card": 300}
    assert columns["iban"].kinds == {"iban": 300}
    assert columns["ssn"].kinds == {"us_ssn": 200}  # 000-.. is never issued
    assert columns["nino"].kinds == {"uk_nino": 200}  # QQ is not a valid prefix
    assert columns["ip"].kinds == {"ip_address": 200}
    assert columns["phone"].kinds == {"phone": 300}
    assert columns["date_of_birth"].kinds == {"date_of_birth": 300}
    assert columns["first_name"].by_name == "person_name"
    examples = columns["card"].examples["payment_card"]
    assert examples[0].endswith(planted["card"][0][-4:]) and "4111" not in examples[0]
    assert columns["contact"].examples["email"][0] == "u***@e***.org"
    text = str(report.to_json())
    assert "user0@example.org" not in text and "123-45-6789" not in text
    assert "DE89370400440532013000" not in text


def test_clean_columns_are_not_flagged(planted: pd.DataFrame) -> None:
    report = pii.scan(planted)
    for clean in ("customer_id", "income", "bad_card"):
        assert report.columns[clean].kinds == {}, clean
    # Random 16-digit product codes pass Luhn one time in ten; far from every row.
    assert report.columns["product_code"].kinds.get("payment_card", 0) < 60
    assert set(report.pii_columns) >= {"contact", "card", "first_name", "date_of_birth"}
    assert "income" not in report.pii_columns


def test_sample_rows_and_checksums(planted: pd.DataFrame) -> None:
    assert pii.scan(planted, sample_rows=10).rows_scanned == 10
    assert pii.iban("DE89 3704 0044 0532 0130 00") and not pii.iban("DE89370400440532013001")
    assert pii.luhn("4111 1111 1111 1111") and not pii.luhn("4111 1111 1111 1112")
    assert pii.nino("AB123456C") and not pii.nino("GB123456C")
