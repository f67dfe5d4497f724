"""Plain JSON documents: the overlay of defaults, snapshot and hub config, what changed between two
configs, and reading a dotted path. The same rules as the TypeScript client's (src/client/documents.ts)."""

from __future__ import annotations

from typing import Any

JsonObject = dict[str, Any]

_MISSING: Any = object()


def overlay(base: Any, over: Any) -> Any:
    """`over` on top of `base`: objects merge key by key, anything else (lists included) replaces."""
    if not isinstance(base, dict) or not isinstance(over, dict):
        return over
    merged = dict(base)
    for key, value in over.items():
        merged[key] = overlay(merged[key], value) if key in merged else value
    return merged


def changed_paths(previous: Any, following: Any) -> list[str]:
    """The dotted paths whose values differ, leaves and every object above them (a change of `a.b.c`
    reports `a`, `a.b` and `a.b.c`), sorted. Lists compare as whole values."""
    paths: set[str] = set()
    _collect(previous, following, "", paths)
    return sorted(paths)


def _collect(previous: Any, following: Any, prefix: str, paths: set[str]) -> bool:
    if isinstance(previous, dict) and isinstance(following, dict):
        changed = False
        for key in {**previous, **following}:
            path = f"{prefix}.{key}" if prefix else key
            if _collect(previous.get(key, _MISSING), following.get(key, _MISSING), path, paths):
                changed = True
        if changed and prefix:
            paths.add(prefix)
        return changed
    if same_value(previous, following):
        return False
    if prefix:
        paths.add(prefix)
    return True


def same_value(a: Any, b: Any) -> bool:
    """JSON equality: `1` and `True` differ, `1` and `1.0` do not (JSON has one number type)."""
    if a is _MISSING or b is _MISSING:
        return a is b
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_value(a[key], b[key]) for key in a)
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same_value(x, y) for x, y in zip(a, b))
    if isinstance(a, (dict, list)) or isinstance(b, (dict, list)):
        return False
    return bool(a == b)


def value_at(document: Any, path: str) -> Any:
    """The value at a dotted path (`operational.batch_size`); None when any step is missing."""
    if path == "":
        return document
    value = document
    for key in path.split("."):
        if isinstance(value, dict):
            value = value.get(key)
        elif isinstance(value, list) and key.isdigit() and int(key) < len(value):
            value = value[int(key)]
        else:
            return None
    return value
