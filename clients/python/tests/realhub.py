"""A real hub for the tests: the gateway started as a process on an embedded database (PGlite) in a
temporary folder. CONFIGHUB_HUB_COMMAND names the command (default: `node dist/main.js` of the checkout
these tests sit in; npm test sets it)."""

from __future__ import annotations

import contextlib
import ctypes
import os
import shlex
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

READY_WITHIN = 90.0


def repository() -> Path:
    """The confighub checkout: CONFIGHUB_REPOSITORY, else the one these tests sit in."""
    configured = os.environ.get("CONFIGHUB_REPOSITORY")
    if configured:
        return Path(configured)
    for folder in Path(__file__).resolve().parents:
        if (folder / "package.json").is_file() and (folder / "clients" / "python").is_dir():
            return folder
    pytest.fail("no confighub checkout: set CONFIGHUB_REPOSITORY (npm test does)")


def hub_command() -> list[str]:
    configured = os.environ.get("CONFIGHUB_HUB_COMMAND")
    if configured:
        return shlex.split(configured)
    gateway = repository() / "dist" / "main.js"
    if not gateway.is_file():
        pytest.fail(f"no hub to test against: {gateway} is missing (npm install builds it), or set CONFIGHUB_HUB_COMMAND")
    return ["node", "--no-warnings", str(gateway)]


def _die_with_the_tests() -> None:
    """In the hub's process before it runs: a SIGKILL when the test process ends, however it ends (Linux)."""
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


class Hub:
    """One gateway process on its own data folder and port; it can be killed and started again on both."""

    def __init__(self, data_dir: str) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None
        self.log = Path(data_dir) / "gateway.log"

    def start(self) -> Hub:
        env = {**os.environ, "PORT": str(self.port), "HOST": "127.0.0.1", "CONFIGHUB_DATA_DIR": self.data_dir, "LOG_LEVEL": "warn"}
        for name in ("DATABASE_URL", "NATS_URL", "CONFIGHUB_ADMIN_TOKEN"):
            env.pop(name, None)
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                hub_command(), env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True, preexec_fn=_die_with_the_tests
            )
        deadline = time.monotonic() + READY_WITHIN
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the hub exited with {self.process.returncode}: {self.log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{self.url}/ready", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"the hub was not ready within {READY_WITHIN:g} s: {self.log.read_text()[-2000:]}")

    def kill(self) -> None:
        """Ends the process at once (SIGKILL), as a crash or a lost host would."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()

    @property
    def admin_token(self) -> str:
        return (Path(self.data_dir) / "admin-token").read_text().strip()

    def graphql(self, query: str, variables: dict[str, Any] | None = None, token: str | None = None) -> dict[str, Any]:
        response = httpx.post(
            f"{self.url}/graphql",
            json={"query": query, "variables": variables or {}},
            headers={"authorization": f"Bearer {token or self.admin_token}"},
            timeout=30,
        )
        body = response.json()
        assert not body.get("errors"), body["errors"]
        data: dict[str, Any] = body["data"]
        return data

    def write(
        self, field: str, input: dict[str, Any], selection: str = "... on ConfigWrite { config { version config } }", input_type: str | None = None
    ) -> dict[str, Any]:
        """Runs a mutation taking `input` (createConfig, updateConfig, setConfigSchema...) and returns its
        result, failing on a refusal."""
        input_type = input_type or f"{field[0].upper()}{field[1:]}Input"
        data = self.graphql(
            f"mutation($input: {input_type}!) {{ {field}(input: $input) {{ __typename {selection} ... on Error {{ message }} }} }}",
            {"input": input},
        )
        result: dict[str, Any] = data[field]
        assert "message" not in result, result
        return result

    def set_schema(self, service: str, schema: dict[str, Any]) -> int:
        version: int = self.write("setConfigSchema", {"service": service, "schema": schema, "reason": "test"}, "... on ConfigSchema { version }")["version"]
        return version

    def create(self, service: str, config: dict[str, Any]) -> int:
        version: int = self.write("createConfig", {"service": service, "config": config, "reason": "test"})["config"]["version"]
        return version

    def update(self, service: str, patch: dict[str, Any]) -> int:
        version: int = self.write("updateConfig", {"service": service, "patch": patch, "reason": "test"})["config"]["version"]
        return version

    def token(self, role: str, services: list[str]) -> str:
        data = self.graphql(
            "mutation($input: CreateTokenInput!) { createToken(input: $input) { __typename ... on CreatedToken { token } ... on Error { message } } }",
            {"input": {"name": f"py-{uuid.uuid4().hex[:8]}", "role": role, "services": services}},
        )
        token: str = data["createToken"]["token"]
        return token

    def instances(self, service: str) -> list[dict[str, Any]]:
        data = self.graphql(
            "query($service: String!) { config(service: $service) { ... on ServiceConfig { instances { instance status appliedVersion rejectedVersion error } } } }",
            {"service": service},
        )
        instances: list[dict[str, Any]] = data["config"]["instances"]
        return instances


@contextlib.contextmanager
def running_hub() -> Iterator[Hub]:
    """A hub on a temporary data folder, stopped and removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="confighub-py-hub-") as data_dir:
        running = Hub(data_dir).start()
        try:
            yield running
        finally:
            running.stop()


def wait_for(condition: Any, timeout: float = 10.0, what: str = "the condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not hold within {timeout:g} s")
        time.sleep(0.02)
