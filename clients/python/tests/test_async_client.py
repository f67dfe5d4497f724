"""The asyncio client against a real hub: the same core on the caller's loop."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from confighub import AsyncConfigClient, ClientStatus

from realhub import Hub

DEFAULTS: dict[str, Any] = {"operational": {"batch_size": 100}}


async def until(condition: Any, timeout: float = 10.0, what: str = "the condition") -> None:
    async def poll() -> None:
        while not condition():
            await asyncio.sleep(0.02)

    try:
        await asyncio.wait_for(poll(), timeout)
    except asyncio.TimeoutError:
        raise AssertionError(f"{what} did not hold within {timeout:g} s") from None


async def test_runs_the_hubs_config_and_calls_back_on_the_callers_loop(hub: Hub, service: str, workdir: Path) -> None:
    await asyncio.to_thread(hub.create, service, {"operational": {"batch_size": 3}})
    loop = asyncio.get_running_loop()
    seen: list[tuple[int, bool]] = []
    async with AsyncConfigClient(service, hub=hub.url, token=hub.admin_token, defaults=DEFAULTS) as client:
        status = await client.ready(15)
        assert status.state == "READY" and client.get("operational.batch_size") == 3
        client.watch("operational.batch_size", lambda value, previous: seen.append((value, asyncio.get_running_loop() is loop)))
        await asyncio.to_thread(hub.update, service, {"operational": {"batch_size": 4}})
        await until(lambda: seen == [(4, True)], what="the change on this loop")
    assert all(task.get_name() != "confighub-live" for task in asyncio.all_tasks())


async def test_reads_never_wait_and_start_on_defaults_with_the_hub_down(service: str, workdir: Path) -> None:
    from realhub import free_port

    statuses: list[ClientStatus] = []
    client = AsyncConfigClient(service, hub=f"http://127.0.0.1:{free_port()}", defaults=DEFAULTS)
    client.on_status(statuses.append)
    await client.start()
    assert client.get("operational.batch_size") == 100
    await until(lambda: client.status.state == "ERROR", what="ERROR")
    with pytest.raises(TimeoutError):
        await client.ready(0.1)
    await client.close()
    assert statuses[-1].state == "ERROR" and client.get("operational.batch_size") == 100


async def test_refresh_returns_after_a_fetch_that_started_after_it(hub: Hub, service: str, workdir: Path) -> None:
    await asyncio.to_thread(hub.create, service, {"operational": {"batch_size": 1}})
    async with AsyncConfigClient(service, hub=hub.url, token=hub.admin_token, defaults=DEFAULTS, live="none") as client:
        await client.ready(15)
        await asyncio.to_thread(hub.update, service, {"operational": {"batch_size": 2}})
        await client.refresh()
        assert client.get("operational.batch_size") == 2 and client.version == 2
        # Refreshes at once share the fetches they need.
        await asyncio.gather(*(client.refresh() for _ in range(20)))
        assert client.version == 2


async def test_a_deletion_then_a_restore_is_followed(hub: Hub, service: str, workdir: Path) -> None:
    await asyncio.to_thread(hub.create, service, {"operational": {"batch_size": 9}})
    async with AsyncConfigClient(service, hub=hub.url, token=hub.admin_token, defaults=DEFAULTS) as client:
        await client.ready(15)
        lifecycle = {"service": service, "reason": "test"}
        await asyncio.to_thread(hub.write, "deleteConfig", lifecycle, "", "ConfigLifecycleInput")
        # The config is gone from the hub: the client keeps what it runs, and says why it is not READY.
        await until(lambda: client.status.state == "STALE", what="STALE after the deletion")
        assert client.get("operational.batch_size") == 9 and "no config" in (client.status.reason or "")
        await asyncio.to_thread(hub.write, "restoreConfig", lifecycle, "", "ConfigLifecycleInput")
        await until(lambda: client.status.state == "READY", what="READY after the restore")
        assert client.get("operational.batch_size") == 9
