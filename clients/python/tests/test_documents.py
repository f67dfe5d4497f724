"""The rules the client shares with the TypeScript one: overlay, changed paths, dotted reads, backoff."""

from __future__ import annotations

from confighub import Backoff
from confighub._core import reportable_error
from confighub._documents import changed_paths, overlay, same_value, value_at


def test_overlay_merges_objects_and_replaces_everything_else() -> None:
    base = {"a": {"b": 1, "c": [1, 2]}, "d": 1}
    assert overlay(base, {"a": {"c": [3]}, "e": None}) == {"a": {"b": 1, "c": [3]}, "d": 1, "e": None}
    assert overlay(base, {"a": 5}) == {"a": 5, "d": 1}
    assert base == {"a": {"b": 1, "c": [1, 2]}, "d": 1}  # the base is not changed


def test_changed_paths_names_leaves_and_the_objects_above_them() -> None:
    assert changed_paths({"a": {"b": {"c": 1}}, "x": 1}, {"a": {"b": {"c": 2}}, "x": 1}) == ["a", "a.b", "a.b.c"]
    assert changed_paths({"l": [1, 2]}, {"l": [1, 2]}) == []
    assert changed_paths({"l": [1, 2]}, {"l": [2, 1]}) == ["l"]
    assert changed_paths({"gone": 1}, {"new": 1}) == ["gone", "new"]
    # JSON has one number type; true is not 1.
    assert changed_paths({"n": 1}, {"n": 1.0}) == [] and changed_paths({"n": 1}, {"n": True}) == ["n"]
    assert not same_value({"a": None}, {}) and same_value({"a": [1, {"b": 2}]}, {"a": [1, {"b": 2}]})


def test_value_at_reads_dotted_paths() -> None:
    document = {"a": {"b": [10, {"c": "x"}]}}
    assert value_at(document, "a.b.1.c") == "x" and value_at(document, "a.b.0") == 10
    assert value_at(document, "a.z.c") is None and value_at(document, "a.b.9") is None and value_at(document, "") == document


def test_backoff_has_full_jitter_under_a_growing_capped_ceiling() -> None:
    backoff = Backoff(initial=0.25, maximum=30, factor=2)
    assert [backoff.ceiling(attempt) for attempt in range(9)] == [0.25, 0.5, 1, 2, 4, 8, 16, 30, 30]
    assert backoff.ceiling(10_000) == 30  # a long outage does not overflow
    assert backoff.delay(3, lambda: 0.0) == 0 and backoff.delay(3, lambda: 0.999) < 2
    delays = [backoff.delay(20) for _ in range(2000)]
    assert 0 <= min(delays) < 3 and 27 < max(delays) < 30


def test_an_error_reported_to_the_hub_is_text_within_its_limit() -> None:
    assert reportable_error(None) is None
    assert reportable_error("a\x00b\ud800c") == "ab?c"
    cut = reportable_error("é" * 5000)
    assert cut is not None and len(cut.encode()) <= 2048 and set(cut) == {"é"}
