"""examples/tick-aggregator-py: its generated settings match the hub's schema, and it hot-reloads."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from queue import Empty, Queue
from typing import Any

from confighub.codegen import main as confighub_types

from realhub import Hub, repository, wait_for

EXAMPLE = repository() / "examples" / "tick-aggregator-py"


def test_its_settings_module_is_what_confighub_types_writes_from_the_hub(hub: Hub) -> None:
    assert confighub_types(["tick-aggregator", "--url", hub.url, "--token", hub.admin_token, "--check", str(EXAMPLE / "settings.py")]) == 0


def test_the_worker_applies_a_new_window_while_it_runs_and_stops_cleanly(hub: Hub, tmp_path: Path) -> None:
    token = hub.token("READER", ["tick-aggregator"])
    env = {**os.environ, "CONFIGHUB_URL": hub.url, "CONFIGHUB_TOKEN": token, "AGGREGATOR_SNAPSHOT_FILE": str(tmp_path / "snapshot.json")}
    worker = subprocess.Popen([sys.executable, "worker.py"], cwd=EXAMPLE, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: Queue[dict[str, Any]] = Queue()

    def read() -> None:
        assert worker.stdout is not None
        for line in worker.stdout:
            lines.put(json.loads(line))

    threading.Thread(target=read, daemon=True).start()

    def until(matches: Any, timeout: float = 20.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
            except Empty:
                raise AssertionError("the worker did not log what was expected") from None
            if matches(line):
                return line

    try:
        until(lambda line: line["msg"] == "hub status" and line["state"] == "READY")
        window = 250 + int(time.time()) % 100  # a value the hub does not have yet
        version = hub.update("tick-aggregator", {"operational": {"aggregation_window_ms": window}})
        applied = until(lambda line: line["msg"] == "config applied" and line["version"] == version)
        assert applied["changed"] == ["operational.aggregation_window_ms"]
        until(lambda line: line["msg"] == "bar" and line["window_ms"] == window, timeout=5)
        # The snapshot on disk follows (written off the client's loop).
        snapshot = tmp_path / "snapshot.json"
        wait_for(lambda: json.loads(snapshot.read_text())["config"]["operational"]["aggregation_window_ms"] == window, what="the snapshot")
    finally:
        worker.send_signal(signal.SIGTERM)
        status = worker.wait(timeout=30)
    assert status == 0
    until(lambda line: line["msg"] == "stopped", timeout=5)
