"""Resource quantities against apimachinery/pkg/api/resource (quantity.go, suffix.go)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from almtui.kube.quantities import (
    QuantityError,
    cpu_millis,
    format_cpu,
    format_decimal_si,
    format_memory,
    parse_quantity,
    to_bytes,
)


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("0", "0"),
        ("1", "1"),
        ("250m", "0.25"),
        ("0.1", "0.1"),
        (".5", "0.5"),
        ("5.", "5"),
        ("100n", "0.0000001"),
        ("3u", "0.000003"),
        ("2k", "2000"),
        ("1M", "1000000"),
        ("1G", "1e9"),
        ("1T", "1e12"),
        ("1P", "1e15"),
        ("1E", "1e18"),  # "E" alone is exa, not an exponent
        ("1Ki", "1024"),
        ("128Mi", "134217728"),
        ("1Gi", "1073741824"),
        ("1.5Gi", "1610612736"),
        ("1Ti", str(2**40)),
        ("1Pi", str(2**50)),
        ("1Ei", str(2**60)),
        ("0.1Ki", "102.4"),
        ("1e3", "1000"),
        ("1E3", "1000"),
        ("1e-3", "0.001"),
        ("1E+2", "100"),
        ("-5", "-5"),
        ("+5m", "0.005"),
        ("007", "7"),
        ("0.0000000001", "1e-9"),  # rounded away from zero to nano precision
        ("1.0000000001", "1.000000001"),
        ("100Ei", str(2**63 - 1)),  # BinarySI is capped at MaxInt64
        ("  2  ", "2"),  # JSON decoding trims spaces
        ("-", "0"),  # upstream's parser quirks: a lone sign, a lone dot or a bare suffix is zero
        (".", "0"),
        ("m", "0"),
        ("Mi", "0"),
        ("8Ei", str(2**63 - 1)),
        ("-16Ei", str(-(2**63 - 1))),
        ("9223372036854775808", "9223372036854775808"),  # DecimalSI is not capped
    ],
)
def test_parse_quantity(text: str, value: str) -> None:
    assert parse_quantity(text) == Decimal(value)


@pytest.mark.parametrize(("number", "value"),
                         [(3, "3"), (0.5, "0.5"), (1e-07, "1e-7"), (1e16, "1e16"), (0, "0")])
def test_parse_json_numbers(number: float, value: str) -> None:
    assert parse_quantity(number) == Decimal(value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "quantities must match the regular expression"),
        ("1.5.5", "quantities must match the regular expression"),
        ("1 Gi", "quantities must match the regular expression"),
        ("1K", "unable to parse quantity's suffix"),
        ("1ki", "unable to parse quantity's suffix"),
        ("1e", "unable to parse quantity's suffix"),
        ("1m3", "unable to parse quantity's suffix"),
        ("1Mii", "unable to parse quantity's suffix"),
        ("Pi", "unable to parse numeric part of quantity"),  # no digits and no int64 fast path
        ("e-12", "unable to parse numeric part of quantity"),
        ("abc", "quantities must match the regular expression"),
    ],
)
def test_parse_errors(text: str, message: str) -> None:
    with pytest.raises(QuantityError, match=message.replace("(", r"\(")):
        parse_quantity(text)


@pytest.mark.parametrize("bad", [True, None, [], "NaN"])
def test_parse_rejects_non_quantities(bad: object) -> None:
    with pytest.raises(QuantityError):
        parse_quantity(bad)  # type: ignore[arg-type]


def test_quantity_error_is_value_error() -> None:
    assert issubclass(QuantityError, ValueError)


@pytest.mark.parametrize(
    ("v", "millis"),
    [("250m", 250), ("0.1", 100), ("1", 1000), (2, 2000), ("1n", 1), ("1500001u", 1501), ("0", 0),
     (0.25, 250), ("1k", 1_000_000)],
)
def test_cpu_millis_rounds_up(v: str | int | float, millis: int) -> None:
    assert cpu_millis(v) == millis


@pytest.mark.parametrize(
    ("v", "b"),
    [("128Mi", 134217728), ("1Gi", 2**30), ("1k", 1000), ("0.5", 1), ("1500m", 2), (512, 512), ("1e3", 1000)],
)
def test_to_bytes_rounds_up(v: str | int, b: int) -> None:
    assert to_bytes(v) == b


@pytest.mark.parametrize(
    ("millis", "text"),
    [(0, "0"), (1, "1m"), (10, "10m"), (100, "100m"), (250, "250m"), (1000, "1"), (1500, "1500m"),
     (2000, "2"), (12000, "12"), (1_000_000, "1k"), (2_500_000, "2500")],
)
def test_format_cpu(millis: int, text: str) -> None:
    assert format_cpu(millis) == text


@pytest.mark.parametrize(
    ("b", "text"),
    [(0, "0"), (512, "512"), (1000, "1k"), (1023, "1023"), (1024, "1Ki"), (1536, "1536"), (2000, "2000"),
     (134217728, "128Mi"), (2**30, "1Gi"), (3 * 2**30, "3Gi"), (2**60, "1Ei"), (1_000_000, "1000000"),
     (1024 * 1000, "1000Ki")],
)
def test_format_memory(b: int, text: str) -> None:
    assert format_memory(b) == text


def test_format_decimal_si() -> None:
    assert format_decimal_si(Decimal("0.25")) == "250m"
    assert format_decimal_si(1500) == "1500"
    assert format_decimal_si("1.5") == "1500m"
    assert format_decimal_si(Decimal("0.000000123")) == "123n"
    assert format_decimal_si(Decimal("-0.5")) == "-500m"
    assert format_decimal_si(0) == "0"


@given(st.integers(0, 10**12))
def test_cpu_round_trip(millis: int) -> None:
    assert cpu_millis(format_cpu(millis)) == millis


@given(st.integers(0, 2**62))
def test_memory_round_trip(b: int) -> None:
    assert to_bytes(format_memory(b)) == b


@given(st.integers(0, 2**32), st.sampled_from(["", "k", "M", "G", "Ki", "Mi", "Gi", "m"]))
def test_suffix_arithmetic(n: int, suffix: str) -> None:
    factor = {"": 1, "k": 10**3, "M": 10**6, "G": 10**9, "Ki": 2**10, "Mi": 2**20, "Gi": 2**30,
              "m": Decimal("0.001")}[suffix]
    assert parse_quantity(f"{n}{suffix}") == n * factor
