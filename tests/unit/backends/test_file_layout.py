"""File names whose sorted order is the claim order, and names for any id."""

from __future__ import annotations

import random
import struct

import pytest

from omniq.backends.file.event_log import parse_cursor
from omniq.backends.file.layout import (
    entry_key,
    float_key,
    id_of,
    name_of,
    new_stamp,
    parse_entry,
    priority_key,
)
from omniq.backends.file.location import Location, mask
from omniq.exceptions import ConfigurationError


def test_float_keys_sort_like_the_floats() -> None:
    rng = random.Random(7)
    values = [0.0, -0.0, 1e-300, -1e-300, 1.7e9, 1.7e9 + 1e-6, -5.5, 2.0**60, -(2.0**60)]
    values += [rng.uniform(-1e10, 1e10) for _ in range(500)]
    values += [struct.unpack(">d", rng.randbytes(8))[0] for _ in range(500)]
    values = [v for v in values if v == v]  # no NaN
    assert sorted(values, key=float_key) == sorted(values)
    assert all(len(float_key(v)) == 16 for v in values)


def test_priority_keys_put_the_highest_first() -> None:
    priorities = [-(2**70), -5, 0, 3, 10, 2**62, 2**70]  # beyond 64 bits: clamped
    assert sorted(priorities, key=priority_key) == sorted(priorities, reverse=True)


def test_entries_parse_back_and_sort_in_claim_order() -> None:
    early, late = new_stamp(), new_stamp()
    assert early < late
    key = entry_key("emails", 5, 1_700_000_000.25, early, "task-1")
    name = key.rsplit("/", 1)[1]
    assert parse_entry(name) == (float_key(1_700_000_000.25), early, "task-1")
    assert parse_entry("not-an-entry") is None
    names = [
        entry_key("q", 0, 10.0, late, "b"),
        entry_key("q", 0, 10.0, early, "a"),
        entry_key("q", 0, 5.0, late, "c"),
    ]
    assert [parse_entry(n.rsplit("/", 1)[1])[2] for n in sorted(names)] == ["c", "a", "b"]  # type: ignore[index]


@pytest.mark.parametrize(
    "identifier", ["plain-id_1", "with space", "a/b", "..", ".hidden", "ü:x%", "line\n"]
)
def test_any_id_gets_a_safe_file_name(identifier: str) -> None:
    name = name_of(identifier)
    assert "/" not in name
    assert not name.startswith(".")
    assert id_of(name) == identifier
    assert "\n" not in name


def test_cursors_are_checked() -> None:
    assert parse_cursor("12:3") == (12, 3)
    with pytest.raises(ConfigurationError, match="'nope'"):
        parse_cursor("nope")
    with pytest.raises(ConfigurationError, match=r"'12:3\\n'"):
        parse_cursor("12:3\n")


def test_secrets_are_masked_in_locations() -> None:
    assert mask("s3://user:hunter2@host/x") == "s3://user:***@host/x"
    location = Location(
        "s3://bucket/prefix", "p", {"secret": "abc123", "endpoint_url": "http://u:pw@h:9"}
    )
    assert "abc123" not in location.scrub("failed with abc123")
    assert "pw" not in location.display
