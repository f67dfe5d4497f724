"""confighub-types: a pydantic module from the hub's JSON Schema, used as the client's schema."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from confighub import ConfigClient
from confighub.codegen import generate, main

from realhub import Hub, wait_for

SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "A market-data downloader.",
    "properties": {
        "operational": {
            "type": "object",
            "properties": {
                "batch_size": {"type": "integer", "minimum": 1, "maximum": 10000, "default": 100, "description": "Rows per request."},
                "interval": {"type": "number", "exclusiveMinimum": 0, "default": 1.5},
                "max-retries": {"type": "integer", "minimum": 0, "default": 3},
                "mode": {"enum": ["live", "replay"], "default": "live"},
            },
        },
        "tickers": {"type": "array", "items": {"type": "string", "pattern": "^[A-Z.]{1,10}$"}, "maxItems": 50, "default": ["AAPL"]},
        "region": {"type": ["string", "null"]},
        "class": {"type": "string", "minLength": 1, "default": "equity"},
        "limits": {"type": "object", "additionalProperties": {"type": "integer"}},
    },
    "required": ["operational"],
}


def load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"generated_{path.stem}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_writes_a_module_whose_model_checks_and_types_the_config(hub: Hub, service: str, workdir: Path) -> None:
    hub.set_schema(service, SCHEMA)
    hub.create(service, {"operational": {"batch_size": 250, "max-retries": 5}, "tickers": ["MSFT", "BRK.B"]})
    out = workdir / "settings.py"
    assert main([service, "--url", hub.url, "--token", hub.admin_token, "--out", str(out)]) == 0
    module = load(out)
    assert module.SERVICE == service and module.SCHEMA_VERSION == 1

    # The defaults come from the model: no defaults need passing.
    with ConfigClient(service, hub=hub.url, token=hub.admin_token, schema=module.Settings) as client:
        client.ready(15)
        settings = client.settings
        assert settings.operational.batch_size == 250 and settings.operational.max_retries == 5
        assert settings.operational.interval == 1.5 and settings.operational.mode == "live"
        assert settings.tickers == ["MSFT", "BRK.B"] and settings.region is None and settings.class_ == "equity"
        # get() reads the config by the hub's names.
        assert client.get("operational.max-retries") == 5 and client.get("class") == "equity"
        hub.update(service, {"operational": {"batch_size": 300}})
        wait_for(lambda: client.settings.operational.batch_size == 300, what="the typed change")

    # Bounds hold in the model: what the hub's schema refuses, the model refuses too.
    # (Bounds of a setting's own; what lies inside lists and maps is the hub's schema's to check.)
    module.Settings(operational={"batch_size": 10000}, tickers=["MSFT"])
    with pytest.raises(ValueError):
        module.Settings(operational={"batch_size": 0})
    with pytest.raises(ValueError):
        module.Settings(operational={"mode": "sometimes"})
    with pytest.raises(ValueError):
        module.Settings(tickers=["A"] * 51)
    with pytest.raises(ValueError):
        module.Settings(**{"class": ""})


def test_check_exits_6_once_the_hubs_schema_moved_on(hub: Hub, service: str, workdir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    hub.set_schema(service, SCHEMA)
    out = workdir / "settings.py"
    arguments = ["--url", hub.url, "--token", hub.admin_token]
    assert main([service, *arguments, "--out", str(out)]) == 0
    assert main([service, *arguments, "--check", str(out)]) == 0
    changed = {**SCHEMA, "properties": {**SCHEMA["properties"], "extra_flag": {"type": "boolean", "default": False}}}
    hub.set_schema(service, changed)
    assert main([service, *arguments, "--check", str(out)]) == 6
    assert "out of date" in capsys.readouterr().err
    # Exit codes as the CLI's: no such service 2, a refused token 4, no hub 5.
    assert main(["no-such-service-here", *arguments]) == 2
    assert main([service, "--url", hub.url, "--token", "wrong", "--check", str(out)]) == 4
    assert main([service, "--url", "http://127.0.0.1:9", "--check", str(out)]) == 5


def test_the_generated_module_type_checks_a_service_with_mypy(workdir: Path) -> None:
    (workdir / "settings.py").write_text(generate("svc", 4, SCHEMA))
    (workdir / "service.py").write_text(
        "from confighub import ConfigClient\n"
        "from settings import Settings\n"
        "client = ConfigClient('svc', hub='http://127.0.0.1:9', schema=Settings)\n"
        "size: int = client.settings.operational.batch_size\n"
        "wrong: str = client.settings.operational.batch_size\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "--cache-dir=/dev/null", "service.py"],
        cwd=workdir, capture_output=True, text=True,
    )
    # The one mistake is found, and nothing else.
    assert result.returncode == 1, result.stdout + result.stderr
    errors = [line for line in result.stdout.splitlines() if ": error:" in line]
    assert len(errors) == 1 and "service.py:5" in errors[0] and "int" in errors[0], result.stdout


def test_names_that_would_shadow_the_module_and_object_defaults(workdir: Path) -> None:
    schema = {
        "type": "object",
        "properties": {
            "any": {"type": "object", "properties": {"x": {"type": "integer", "default": 1}}},
            "tags": {"type": "object", "additionalProperties": {"type": "string"}},
            "nested": {"type": "object", "properties": {"y": {"type": "integer"}}, "default": {"y": 5}},
        },
    }
    (workdir / "shadow.py").write_text(generate("svc", 1, schema))
    module = load(workdir / "shadow.py")
    settings = module.Settings(tags={"a": "b"})
    assert settings.any.x == 1 and settings.tags == {"a": "b"} and settings.nested.y == 5
