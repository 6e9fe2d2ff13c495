"""IntOrString scaling, Go durations, RFC 3339 times and kubectl's HumanDuration."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from almtui.kube.durations import (
    format_go_duration,
    format_micro_time,
    format_rfc3339,
    human_age,
    parse_argo_duration,
    parse_go_duration,
    parse_rfc3339,
)
from almtui.kube.intstr import resolve_fenceposts, scaled_value

# --------------------------------------------------------------------------- intstr


@pytest.mark.parametrize(
    ("v", "total", "round_up", "expected"),
    [
        (3, 10, True, 3),
        ("25%", 3, True, 1),
        ("25%", 3, False, 0),
        ("25%", 4, False, 1),
        ("50%", 5, True, 3),
        ("50%", 5, False, 2),
        ("100%", 7, False, 7),
        ("0%", 7, True, 0),
        ("+10%", 10, True, 1),
        ("150%", 2, True, 3),
    ],
)
def test_scaled_value(v: int | str, total: int, round_up: bool, expected: int) -> None:
    assert scaled_value(v, total, round_up) == expected


def test_scaled_value_defaults_and_errors() -> None:
    assert scaled_value(None, 10, True, default="20%") == 2
    assert scaled_value(None, 10, True, default=4) == 4
    with pytest.raises(ValueError, match="nil value for IntOrString"):
        scaled_value(None, 10, True)
    with pytest.raises(ValueError, match="string is not a percentage"):
        scaled_value("3", 10, True)
    with pytest.raises(ValueError, match=r'invalid value "x%"'):
        scaled_value("x%", 10, True)
    with pytest.raises(ValueError, match=r'invalid value "1\.5%"'):
        scaled_value("1.5%", 10, True)
    with pytest.raises(ValueError, match="neither int nor percentage"):
        scaled_value(True, 10, True)


@pytest.mark.parametrize(
    ("surge", "unavailable", "desired", "expected"),
    [
        ("25%", "25%", 3, (1, 0)),
        ("25%", "25%", 4, (1, 1)),
        ("25%", "25%", 10, (3, 2)),
        (0, "1%", 2, (0, 1)),  # both zero -> unavailable 1
        ("0%", "0%", 10, (0, 1)),
        (None, None, 5, (0, 1)),
        (2, 0, 5, (2, 0)),
        ("1%", "25%", 1, (1, 0)),
    ],
)
def test_resolve_fenceposts(
    surge: int | str | None, unavailable: int | str | None, desired: int, expected: tuple[int, int]
) -> None:
    assert resolve_fenceposts(surge, unavailable, desired) == expected


def test_resolve_fenceposts_rejects_bad_values() -> None:
    with pytest.raises(ValueError):
        resolve_fenceposts("x%", 1, 3)


# --------------------------------------------------------------------------- Go durations


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("1h0m0s", 3600),
        ("90s", 90),
        ("1.5h", 5400),
        ("300ms", 0.3),
        ("2m30s", 150),
        ("0", 0),
        ("-1m", -60),
        ("+3s", 3),
        ("1us", 1e-6),
        ("1µs", 1e-6),
        ("1μs", 1e-6),
        ("10ns", 1e-8),
        (".5s", 0.5),
        ("5.s", 5),
        ("1h30m20.5s", 5420.5),
        ("72h", 259200),
    ],
)
def test_parse_go_duration(text: str, seconds: float) -> None:
    assert parse_go_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", 'time: invalid duration ""'),
        ("1", 'time: missing unit in duration "1"'),
        ("1x", 'time: unknown unit "x" in duration "1x"'),
        (".s", 'time: invalid duration ".s"'),
        ("-", 'time: invalid duration "-"'),
        ("1h 2m", 'time: unknown unit "h " in duration "1h 2m"'),
    ],
)
def test_parse_go_duration_errors(text: str, message: str) -> None:
    with pytest.raises(ValueError) as exc:
        parse_go_duration(text)
    assert str(exc.value) == message


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (3600, "1h0m0s"),
        (30, "30s"),
        (90, "1m30s"),
        (0, "0s"),
        (0.3, "300ms"),
        (1.5, "1.5s"),
        (1.5e-6, "1.5µs"),
        (1e-9, "1ns"),
        (-90, "-1m30s"),
        (3661.5, "1h1m1.5s"),
        (86400, "24h0m0s"),
        (60, "1m0s"),
        (0.001, "1ms"),
    ],
)
def test_format_go_duration(seconds: float, text: str) -> None:
    assert format_go_duration(seconds) == text


@given(st.integers(-(10**15), 10**15))
def test_go_duration_round_trip(ns: int) -> None:
    text = format_go_duration(ns / 1e9)
    assert round(parse_go_duration(text) * 1e9) == round(ns / 1e9 * 1e9)


@pytest.mark.parametrize(
    ("v", "seconds"),
    [(30, 30), ("30", 30), ("30s", 30), ("5m", 300), ("1h", 3600), ("1.5s", 1), ("1m30s", 90)],
)
def test_parse_argo_duration(v: int | str, seconds: float) -> None:
    assert parse_argo_duration(v) == seconds


@pytest.mark.parametrize("bad", ["abc", "", "99999999999", True, 1.5])
def test_parse_argo_duration_errors(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_argo_duration(bad)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- RFC 3339


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-26T21:39:39Z", datetime(2026, 11, 26, 21, 39, 39, tzinfo=UTC)),
        ("2026-11-26T21:39:39.123456Z", datetime(2026, 11, 26, 21, 39, 39, 123456, tzinfo=UTC)),
        ("2026-11-26T21:39:39.123456789Z", datetime(2026, 11, 26, 21, 39, 39, 123456, tzinfo=UTC)),
        ("2026-11-26T21:39:39.5Z", datetime(2026, 11, 26, 21, 39, 39, 500000, tzinfo=UTC)),
        ("2026-11-26T23:39:39+02:00", datetime(2026, 11, 26, 21, 39, 39, tzinfo=UTC)),
        ("2026-11-26T20:09:39-01:30", datetime(2026, 11, 26, 21, 39, 39, tzinfo=UTC)),
    ],
)
def test_parse_rfc3339(text: str, expected: datetime) -> None:
    parsed = parse_rfc3339(text)
    assert parsed == expected
    assert parsed.tzinfo is UTC


@pytest.mark.parametrize(
    "bad",
    [
        "",
        "2026-11-26",
        "2026-11-26 21:39:39Z",
        "2026-11-26T21:39:39",
        "2026-13-01T00:00:00Z",
        "2026-11-26T21:39:39+25:00",
        "now",
    ],
)
def test_parse_rfc3339_errors(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_rfc3339(bad)


def test_format_times() -> None:
    dt = datetime(2026, 11, 26, 21, 39, 39, 123456, tzinfo=UTC)
    assert format_rfc3339(dt) == "2026-11-26T21:39:39Z"
    assert format_micro_time(dt) == "2026-11-26T21:39:39.123456Z"
    assert format_micro_time(dt.replace(microsecond=0)) == "2026-11-26T21:39:39.000000Z"
    local = dt.astimezone(timezone(timedelta(hours=5)))
    assert format_rfc3339(local) == "2026-11-26T21:39:39Z"
    assert format_rfc3339(datetime(2026, 1, 2, 3, 4, 5)) == "2026-01-02T03:04:05Z"  # naive = UTC


@given(st.datetimes(min_value=datetime(1971, 1, 1), max_value=datetime(2200, 1, 1), timezones=st.just(UTC)))
def test_rfc3339_round_trips(dt: datetime) -> None:
    assert parse_rfc3339(format_micro_time(dt)) == dt
    assert parse_rfc3339(format_rfc3339(dt)) == dt.replace(microsecond=0)


# --------------------------------------------------------------------------- HumanDuration


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (-3, "<invalid>"),
        (-1.5, "0s"),
        (0, "0s"),
        (5, "5s"),
        (119, "119s"),
        (120, "2m"),
        (150, "2m30s"),
        (599, "9m59s"),
        (600, "10m"),
        (3 * 3600 - 1, "179m"),
        (3 * 3600, "3h"),
        (3 * 3600 + 300, "3h5m"),
        (8 * 3600, "8h"),
        (47 * 3600, "47h"),
        (48 * 3600, "2d"),
        (50 * 3600, "2d2h"),
        (8 * 86400, "8d"),
        (729 * 86400, "729d"),
        (730 * 86400, "2y"),
        (731 * 86400, "2y1d"),
        (8 * 365 * 86400, "8y"),
    ],
)
def test_human_age(seconds: float, text: str) -> None:
    assert human_age(seconds) == text
