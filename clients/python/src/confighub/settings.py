"""Typed settings: how a config is checked before it is applied, with pydantic models (1.10 or 2.x,
behind this one adapter) or any function of your own. Models written by `confighub-types` build on
`SettingsModel` and `setting`, which hide the differences between pydantic's two major versions."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Issue:
    """One reason a config was refused: where (a dotted path, "" for the whole) and what."""

    path: str
    message: str


class SettingsInvalid(ValueError):
    """Raised by a check that refuses a config; the client keeps the config it has."""

    def __init__(self, issues: list[Issue]) -> None:
        self.issues = issues
        super().__init__("; ".join(f"{issue.path or '(root)'}: {issue.message}" for issue in issues))


@dataclass(frozen=True)
class Checked(Generic[T]):
    config: dict[str, Any]
    """The config as checked (plain JSON values), what `get()` reads."""
    settings: T
    """What the check made of it: the model instance, or the same dict without a model."""


class SettingsCheck(Generic[T]):
    """Checks a candidate config (defaults overlaid): returns what to apply, or raises SettingsInvalid."""

    def __init__(self, check: Callable[[dict[str, Any]], Checked[T]]) -> None:
        self.check = check


def _pydantic_major() -> int:
    try:
        import pydantic
    except ImportError:
        return 0
    return int(pydantic.VERSION.split(".")[0])


PYDANTIC_MAJOR = _pydantic_major()


def is_model(value: Any) -> bool:
    if PYDANTIC_MAJOR == 0 or not isinstance(value, type):
        return False
    import pydantic

    return issubclass(value, pydantic.BaseModel)


def model_check(model: type[T]) -> SettingsCheck[T]:
    """The check a pydantic model makes: its validation, its issues, its JSON values."""
    import pydantic

    def check(candidate: dict[str, Any]) -> Checked[T]:
        try:
            if PYDANTIC_MAJOR >= 2:
                instance: Any = model.model_validate(candidate)  # type: ignore[attr-defined]
                plain = instance.model_dump(mode="json", by_alias=True)
            else:
                instance = model.parse_obj(candidate)  # type: ignore[attr-defined]
                plain = json.loads(instance.json(by_alias=True))
        except pydantic.ValidationError as error:
            raise SettingsInvalid(
                [Issue(".".join(str(step) for step in entry.get("loc", ())), str(entry.get("msg"))) for entry in error.errors()]
            ) from None
        except Exception as error:  # noqa: BLE001 - a validator that fails on a config refuses it
            raise SettingsInvalid([Issue("", f"{type(error).__name__}: {error}")]) from None
        return Checked(plain, instance)

    return SettingsCheck(check)


def function_check(function: Callable[[dict[str, Any]], Any]) -> SettingsCheck[Any]:
    """A check of your own: it returns the config to apply (or None to apply the candidate as it is), or
    raises SettingsInvalid (or ValueError) to refuse it."""

    def check(candidate: dict[str, Any]) -> Checked[Any]:
        try:
            result = function(candidate)
        except SettingsInvalid:
            raise
        except Exception as error:  # noqa: BLE001 - a check that fails on a config refuses it
            raise SettingsInvalid([Issue("", f"{type(error).__name__}: {error}")]) from None
        value = candidate if result is None else result
        if not isinstance(value, dict):
            raise SettingsInvalid([Issue("", f"the check returned {type(value).__name__}, not a config")])
        return Checked(value, value)

    return SettingsCheck(check)


def no_check() -> SettingsCheck[dict[str, Any]]:
    return SettingsCheck(lambda candidate: Checked(candidate, candidate))


if PYDANTIC_MAJOR >= 2:
    import pydantic as _pydantic

    class SettingsModel(_pydantic.BaseModel):
        """The base of generated settings models: read-only, unknown keys ignored."""

        # Patterns on Python's re (pydantic 2's default engine has no lookaround, ECMAScript patterns may).
        model_config = {"frozen": True, "extra": "ignore", "populate_by_name": True, "regex_engine": "python-re"}

elif PYDANTIC_MAJOR == 1:
    import pydantic as _pydantic

    class SettingsModel(_pydantic.BaseModel):  # type: ignore[no-redef]
        """The base of generated settings models: read-only, unknown keys ignored."""

        class Config:
            allow_mutation = False
            extra = "ignore"
            allow_population_by_field_name = True

else:

    class SettingsModel:  # type: ignore[no-redef]
        """Needs pydantic (pip install 'confighub-client[pydantic]')."""

        def __init_subclass__(cls, **kwargs: Any) -> None:
            raise ImportError("typed settings need pydantic: pip install 'confighub-client[pydantic]' (Debian: python3-pydantic)")


def setting(
    default: Any = ...,
    *,
    description: str | None = None,
    ge: float | None = None,
    gt: float | None = None,
    le: float | None = None,
    lt: float | None = None,
    min_length: int | None = None,
    max_length: int | None = None,
    pattern: str | None = None,
    min_items: int | None = None,
    max_items: int | None = None,
    alias: str | None = None,
    factory: Callable[[], Any] | None = None,
) -> Any:
    """A model field with JSON Schema's bounds, in the words of the installed pydantic. `alias` is the
    setting's name in the config when it is not a Python name; `factory` makes the default (a nested model)."""
    import pydantic

    bounds: dict[str, Any] = {"ge": ge, "gt": gt, "le": le, "lt": lt, "min_length": min_length, "max_length": max_length}
    if PYDANTIC_MAJOR >= 2:
        bounds.update(pattern=pattern)
        if min_items is not None:
            bounds["min_length"] = min_items
        if max_items is not None:
            bounds["max_length"] = max_items
    else:
        bounds.update(regex=pattern, min_items=min_items, max_items=max_items)
    bounds.update(alias=alias, description=description)
    kwargs = {key: value for key, value in bounds.items() if value is not None}
    if factory is not None:
        return pydantic.Field(default_factory=factory, **kwargs)
    if isinstance(default, (list, dict)):
        # A mutable default (a list, an object) is made anew for each instance.
        text = json.dumps(default)
        return pydantic.Field(default_factory=lambda: json.loads(text), **kwargs)
    return pydantic.Field(default, **kwargs)
