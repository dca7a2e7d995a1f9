"""Unit tests of the key schema (no Redis needed)."""

from __future__ import annotations

import dataclasses
import fnmatch

import pytest
from redis.crc import key_slot

from sdk._keys import GROUP, PREFIX, Keys


def _derived_names(keys: Keys) -> dict[str, str]:
    """Every fixed key/channel name of the queue (the ``init=False`` string fields)."""
    return {
        f.name: getattr(keys, f.name)
        for f in dataclasses.fields(keys)
        if not f.init and isinstance(getattr(keys, f.name), str)
    }


def _per_id_names(keys: Keys, some_id: str) -> dict[str, str]:
    return {
        "result": keys.result(some_id),
        "channel": keys.channel(some_id),
        "inbox": keys.inbox(some_id),
        "worker": keys.worker(some_id),
        "stream_for": keys.stream_for("high"),
    }


def test_every_name_carries_the_queue_hash_tag() -> None:
    keys = Keys("orders")
    assert PREFIX == "relayq"
    assert keys.base == "relayq:{orders}:"
    names = {**_derived_names(keys), **_per_id_names(keys, "abc123")}
    assert len(names) > 10
    for what, name in names.items():
        assert name.startswith("relayq:{orders}:"), what


def test_every_name_is_in_one_cluster_slot() -> None:
    keys = Keys("orders")
    slot = key_slot(b"{orders}")
    # ids chosen by callers may contain braces themselves: the first tag wins
    for some_id in ("abc123", "{evil}", "a}b{c"):
        names = {**_derived_names(keys), **_per_id_names(keys, some_id)}
        for what, name in names.items():
            assert key_slot(name.encode()) == slot, (what, name)


def test_names_are_distinct() -> None:
    keys = Keys("q")
    derived = _derived_names(keys)
    del derived["base"]  # the prefix itself, not a key
    per_id = _per_id_names(keys, "id1")
    values = list(derived.values()) + list(per_id.values())
    assert len(set(values)) == len(values)
    assert keys.result("x") != keys.result("y")
    assert keys.channel("x") != keys.result("x")


def test_known_layout() -> None:
    keys = Keys("q")
    assert keys.stream == "relayq:{q}:stream"
    assert keys.stream_for("default") == keys.stream
    assert keys.stream_for("high") == "relayq:{q}:stream:high"
    assert keys.tasks == "relayq:{q}:tasks"
    assert keys.delayed == "relayq:{q}:delayed"
    assert keys.result("t1") == "relayq:{q}:result:t1"
    assert keys.channel("t1") == "relayq:{q}:done:t1"
    assert GROUP == "workers"


def test_channels_are_distinct_per_task_and_under_the_queue_prefix() -> None:
    keys = Keys("q")
    task_ids = ("t1", "with:colons", "ünïcode", "{braces}")
    channels = [keys.channel(task_id) for task_id in task_ids]
    assert len(set(channels)) == len(task_ids)
    for task_id, channel in zip(task_ids, channels, strict=True):
        assert channel.startswith(keys.base) and channel.endswith(task_id)


def test_workers_pattern_matches_worker_keys() -> None:
    keys = Keys("q")
    assert fnmatch.fnmatchcase(keys.worker("host-1-abc"), keys.workers_pattern)
    assert not fnmatch.fnmatchcase(Keys("other").worker("w"), keys.workers_pattern)


def test_queues_do_not_share_names() -> None:
    a, b = Keys("a"), Keys("a:b")
    names_a = set(_derived_names(a).values()) | set(_per_id_names(a, "b:x").values())
    names_b = set(_derived_names(b).values()) | set(_per_id_names(b, "x").values())
    assert not names_a & names_b


@pytest.mark.parametrize("name", ["", "a{b", "a}b", "{q}"])
def test_invalid_queue_names(name: str) -> None:
    with pytest.raises(ValueError, match="queue_name"):
        Keys(name)


@pytest.mark.parametrize("name", ["default", "with:colon", "spaces are fine", "ünï", "a" * 200])
def test_valid_queue_names(name: str) -> None:
    keys = Keys(name)
    assert keys.queue_name == name
    assert keys.tasks == f"relayq:{{{name}}}:tasks"


def test_keys_is_a_frozen_value() -> None:
    keys = Keys("q")
    with pytest.raises(dataclasses.FrozenInstanceError):
        keys.tasks = "other"  # type: ignore[misc]
    assert Keys("q") == keys
    assert hash(Keys("q")) == hash(keys)
    assert Keys("r") != keys
