"""Unit tests of the key schema (no Redis needed)."""

from __future__ import annotations

import dataclasses
import fnmatch

import pytest
from redis.crc import key_slot

from sdk._keys import GROUP, PREFIX, Keys, lua_prelude


def _derived_names(keys: Keys) -> dict[str, str]:
    """Every fixed key/channel name of the queue (the ``init=False`` string fields)."""
    return {
        f.name: getattr(keys, f.name)
        for f in dataclasses.fields(keys)
        if not f.init and isinstance(getattr(keys, f.name), str)
    }


def _per_id_names(keys: Keys, some_id: str) -> dict[str, str]:
    return {
        "task": keys.task(some_id),
        "result": keys.result(some_id),
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
    assert keys.task("x") != keys.result("x") != keys.inbox("x")


def test_known_layout() -> None:
    keys = Keys("q")
    assert keys.stream == "relayq:{q}:stream"
    assert keys.stream_for("default") == keys.stream
    assert keys.stream_for("high") == "relayq:{q}:stream:high"
    assert keys.task("t1") == "relayq:{q}:task:t1"
    assert keys.delayed == "relayq:{q}:delayed"
    assert keys.result("t1") == "relayq:{q}:result:t1"
    assert keys.inbox("c1") == "relayq:{q}:inbox:c1"
    assert keys.control == "relayq:{q}:control"
    assert GROUP == "workers"


def test_task_keys_are_distinct_per_task_and_found_by_the_pattern() -> None:
    keys = Keys("q")
    task_ids = ("t1", "with:colons", "ünïcode", "{braces}")
    names = [keys.task(task_id) for task_id in task_ids]
    assert len(set(names)) == len(task_ids)
    for task_id, name in zip(task_ids, names, strict=True):
        assert name.startswith(keys.base) and name.endswith(task_id)
        assert fnmatch.fnmatchcase(name, keys.tasks_pattern)
        assert keys.task_id_of(name) == task_id
    assert not fnmatch.fnmatchcase(keys.result("t1"), keys.tasks_pattern)


def test_lua_prelude_builds_the_same_names() -> None:
    prelude = lua_prelude()
    assert prelude.startswith("local BASE = KEYS[1]")
    keys = Keys("q")
    # every fixed name Lua uses is the base plus the same suffix Python uses
    for name in ("delayed", "wake", "dead", "crons", "control"):
        suffix = getattr(keys, name)[len(keys.base) :]
        assert f"BASE .. '{suffix}'" in prelude, name
    assert "'task:'" in prelude and "'result:'" in prelude and "'inbox:'" in prelude


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
    assert keys.task("t") == f"relayq:{{{name}}}:task:t"


def test_keys_is_a_frozen_value() -> None:
    keys = Keys("q")
    with pytest.raises(dataclasses.FrozenInstanceError):
        keys.stream = "other"  # type: ignore[misc]
    assert Keys("q") == keys
    assert hash(Keys("q")) == hash(keys)
    assert Keys("r") != keys
