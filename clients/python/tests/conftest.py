"""Fixtures: a real hub (realhub.py), a service name and a working folder of each test's own."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from realhub import Hub, running_hub


@pytest.fixture(scope="session")
def hub() -> Iterator[Hub]:
    """One hub for the tests that do not stop it."""
    with running_hub() as running:
        yield running


@pytest.fixture
def own_hub() -> Iterator[Hub]:
    """A hub of the test's own, for tests that kill it."""
    with running_hub() as running:
        yield running


@pytest.fixture
def service(request: pytest.FixtureRequest) -> str:
    """A service name of the test's own."""
    name = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40]
    return f"py-{name}-{uuid.uuid4().hex[:6]}"


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The test runs in a folder of its own (snapshots go under it)."""
    monkeypatch.chdir(tmp_path)
    return tmp_path
