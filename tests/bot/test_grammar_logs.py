"""``/cloudsync logs HOST [--since SPAN]``: one known host, a strict time span (1m..7d)."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.grammar import Logs, UsageError, parse
from bot.help import USAGES
from workers.runbook.trace_logs import MAX_SINCE_S, SINCE_RE, parse_since, since_words

HOSTS = ("SYNC01", "SYNC02")


def test_logs_defaults_to_the_last_day() -> None:
    assert parse("logs sync01", HOSTS) == Logs("SYNC01", 24 * 3600)


def test_logs_takes_minutes_hours_and_days() -> None:
    assert parse("logs SYNC01 --since 30m", HOSTS) == Logs("SYNC01", 1800)
    assert parse("logs SYNC01 --since=24H", HOSTS) == Logs("SYNC01", 86400)
    assert parse("logs SYNC01 --since 7d", HOSTS) == Logs("SYNC01", 7 * 86400)


def test_logs_example_parses() -> None:
    assert isinstance(parse(USAGES["logs"].example, HOSTS), Logs)


def test_logs_refuses_what_is_not_a_span() -> None:
    for bad in ("8d", "169h", "0m", "24", "1w", "-5m", "24h;ls", "1.5h", "", "m"):
        result = parse(f"logs SYNC01 --since {bad}", HOSTS)
        assert isinstance(result, UsageError), bad
    assert "at most 7d" in parse("logs SYNC01 --since 8d", HOSTS).message  # type: ignore[union-attr]


def test_logs_needs_one_known_host() -> None:
    assert "Name the host" in parse("logs", HOSTS).message  # type: ignore[union-attr]
    assert "Unknown host" in parse("logs NOPE01", HOSTS).message  # type: ignore[union-attr]
    assert "one host" in parse("logs SYNC01,SYNC02", HOSTS).message  # type: ignore[union-attr]
    assert isinstance(parse("logs SYNC01 SYNC02", HOSTS), UsageError)
    assert isinstance(parse("logs SYNC01 --from 1h", HOSTS), UsageError)


@given(st.text(max_size=12))
def test_any_since_text_is_a_bounded_span_or_a_usage_error(text: str) -> None:
    result = parse(f"logs SYNC01 --since={text}", HOSTS)
    if isinstance(result, Logs):
        assert 60 <= result.since_s <= MAX_SINCE_S
        assert SINCE_RE.match(text.strip().lower())
    else:
        assert isinstance(result, UsageError)
        assert "<" not in result.message.replace("&lt;", "")  # echoed input is escaped


@given(st.integers(1, 10080), st.sampled_from([("m", 60), ("h", 3600), ("d", 86400)]))
def test_valid_spans_round_trip(n: int, unit: tuple[str, int]) -> None:
    seconds = n * unit[1]
    if seconds > MAX_SINCE_S:
        return
    assert parse_since(f"{n}{unit[0]}") == seconds
    assert parse_since(since_words(seconds)) == seconds
    assert re.fullmatch(r"[1-9][0-9]*[mhd]", since_words(seconds))


@pytest.mark.parametrize(
    ("seconds", "words"), [(1800, "30m"), (86400, "24h"), (3 * 3600, "3h"), (7 * 86400, "7d")]
)
def test_spans_are_said_as_the_help_writes_them(seconds: int, words: str) -> None:
    """The default is "24h" in the help and README, so the answer says "last 24h", not "1d"."""
    assert since_words(seconds) == words
