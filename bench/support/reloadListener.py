"""The Python side of bench:reload: a thread client and an asyncio client of one service, printing a JSON
line with the wall-clock time of each change they apply (and one when both are READY)."""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
from typing import Any

from confighub import AsyncConfigClient, ConfigClient

url, token, service = sys.argv[1:4]
DEFAULTS: dict[str, Any] = {"operational": {"batch_size": 1}}


LINES = threading.Lock()


def say(client: str, version: int | None) -> None:
    at = time.time() * 1000
    # The thread client calls back on its own thread: one line at a time.
    with LINES:
        sys.stdout.write(json.dumps({"client": client, "version": version, "at": at}) + "\n")
        sys.stdout.flush()


async def main() -> None:
    threaded = ConfigClient(service, hub=url, token=token, defaults=DEFAULTS, snapshot_file=False, report=False)
    threaded.on_change(lambda new, old, paths: say("python thread", threaded.version))
    threaded.start()
    async with AsyncConfigClient(service, hub=url, token=token, defaults=DEFAULTS, snapshot_file=False, report=False) as client:
        client.on_change(lambda new, old, paths: say("python asyncio", client.version))
        await client.ready(30)
        await asyncio.to_thread(threaded.ready, 30)
        with LINES:
            print(json.dumps({"ready": True}), flush=True)
        # Until the benchmark closes standard input.
        await asyncio.to_thread(sys.stdin.read)
    threaded.close()


asyncio.run(main())
