"""The thread-based ConfigClient against a real hub."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from confighub import Backoff, ClientStatus, ConfigClient, ConfigRejection, HubConnection, SettingsModel, setting
from confighub._live import LiveChange

from realhub import Hub, free_port, wait_for

DEFAULTS: dict[str, Any] = {"operational": {"batch_size": 100, "interval_seconds": 60}, "features": {"dry_run": True}}


class Operational(SettingsModel):
    batch_size: int = setting(100, ge=1, le=1000)
    interval_seconds: int = setting(60, ge=1)


class Features(SettingsModel):
    dry_run: bool = setting(True)


class Settings(SettingsModel):
    operational: Operational = setting(factory=Operational)
    features: Features = setting(factory=Features)


def test_the_package_is_the_installed_one_not_this_folder() -> None:
    import confighub

    assert "site-packages" in confighub.__file__, confighub.__file__


def test_runs_the_hubs_config_and_follows_its_changes(hub: Hub, service: str, workdir: Path) -> None:
    hub.create(service, {"operational": {"batch_size": 250}})
    with ConfigClient(service, hub=hub.url, token=hub.admin_token, defaults=DEFAULTS) as client:
        status = client.ready(15)
        assert status.state == "READY" and status.source == "hub" and status.version == 1
        # The hub's settings over the defaults.
        assert client.get("operational.batch_size") == 250
        assert client.get("operational.interval_seconds") == 60
        assert client.get("features") == {"dry_run": True}
        assert client.get("no.such.setting") is None

        changes: list[tuple[Any, Any]] = []
        whole: list[list[str]] = []
        client.watch("operational.batch_size", lambda value, previous: changes.append((value, previous)))
        client.on_change(lambda new, old, paths: whole.append(paths))
        hub.update(service, {"operational": {"batch_size": 500}})
        wait_for(lambda: changes == [(500, 250)], what="the change callback")
        assert whole == [["operational", "operational.batch_size"]]
        assert client.version == 2
        # A change elsewhere does not call the watcher.
        hub.update(service, {"features": {"dry_run": False}})
        wait_for(lambda: client.version == 3, what="version 3")
        assert changes == [(500, 250)] and client.get("features.dry_run") is False


def test_reads_are_copies(hub: Hub, service: str, workdir: Path) -> None:
    hub.create(service, {"operational": {"batch_size": 7}})
    with ConfigClient(service, hub=hub.url, token=hub.admin_token, defaults=DEFAULTS) as client:
        client.ready(15)
        config = client.config
        config["operational"]["batch_size"] = 9
        client.get("operational")["batch_size"] = 9
        assert client.get("operational.batch_size") == 7


def test_starts_on_defaults_when_the_hub_is_down_then_on_the_snapshot(hub: Hub, service: str, workdir: Path) -> None:
    down = f"http://127.0.0.1:{free_port()}"
    # Nothing on disk, no hub: the defaults, ERROR, and why.
    with ConfigClient(service, hub=down, defaults=DEFAULTS) as client:
        assert client.get("operational.batch_size") == 100
        wait_for(lambda: client.status.state == "ERROR", what="ERROR")
        assert client.status.source == "defaults" and client.status.version is None
        assert "running on defaults only" in (client.status.reason or "") and "cannot reach the hub" in (client.status.reason or "")

    # A run against the hub leaves its snapshot...
    hub.create(service, {"operational": {"batch_size": 321}})
    with ConfigClient(service, hub=hub.url, token=hub.admin_token, defaults=DEFAULTS) as client:
        client.ready(15)
    snapshot = workdir / ".confighub" / "client" / f"{service}.production.json"
    saved = json.loads(snapshot.read_text())
    assert saved["service"] == service and saved["environment"] == "production" and saved["version"] == 1
    assert saved["config"] == {"operational": {"batch_size": 321}} and saved["savedAt"].endswith("Z")
    assert stat.S_IMODE(os.stat(snapshot).st_mode) == 0o600

    # ...which the next start runs while the hub is down: STALE, from the snapshot, at once.
    with ConfigClient(service, hub=down, defaults=DEFAULTS) as client:
        assert client.get("operational.batch_size") == 321
        assert client.status.source == "snapshot" and client.status.version == 1
        wait_for(lambda: client.status.state == "STALE", what="STALE")
        assert f"snapshot version 1 saved {saved['savedAt']}" in (client.status.reason or "")


def test_a_snapshot_of_another_service_or_not_json_is_not_used(hub: Hub, service: str, workdir: Path) -> None:
    snapshot = workdir / "snapshot.json"
    snapshot.write_text(json.dumps({"service": "other", "environment": "production", "version": 3, "config": {}, "savedAt": "x"}))
    client = ConfigClient(service, hub=f"http://127.0.0.1:{free_port()}", defaults=DEFAULTS, snapshot_file=str(snapshot))
    assert client.status.source == "defaults" and "belongs to other/production" in (client.status.reason or "")
    snapshot.write_text("{half")
    client = ConfigClient(service, hub=f"http://127.0.0.1:{free_port()}", defaults=DEFAULTS, snapshot_file=str(snapshot))
    assert client.status.source == "defaults" and "is not JSON" in (client.status.reason or "")


def test_refuses_a_version_that_fails_the_model_reports_it_and_keeps_its_config(hub: Hub, service: str, workdir: Path) -> None:
    hub.create(service, {"operational": {"batch_size": 200}})
    rejections: list[ConfigRejection] = []
    with ConfigClient(service, hub=hub.url, token=hub.admin_token, schema=Settings, instance_id="py-worker-1") as client:
        client.on_reject(rejections.append)
        client.ready(15)
        assert isinstance(client.settings, Settings) and client.settings.operational.batch_size == 200
        with pytest.raises((TypeError, ValueError)):
            client.settings.operational.batch_size = 3  # the model is read-only
        # The hub allows 5000 (it has no schema); this service's model does not.
        hub.update(service, {"operational": {"batch_size": 5000}})
        wait_for(lambda: len(rejections) == 1, what="the rejection")
        rejection = rejections[0]
        assert rejection.version == 2 and rejection.issues[0].path == "operational.batch_size"
        assert client.last_rejection == rejection
        assert client.get("operational.batch_size") == 200 and client.settings.operational.batch_size == 200 and client.version == 1
        # The hub hears of it: the instance runs version 1 and refused version 2, with why.
        wait_for(lambda: any(item["rejectedVersion"] == 2 for item in hub.instances(service)), what="the report of the refusal")
        instance = next(item for item in hub.instances(service) if item["instance"] == "py-worker-1")
        assert instance["appliedVersion"] == 1 and "refused version 2" in instance["error"] and "batch_size" in instance["error"]
        # A good version after it is applied and clears the refusal.
        hub.update(service, {"operational": {"batch_size": 300}})
        wait_for(lambda: client.version == 3, what="version 3")
        assert client.last_rejection is None and client.settings.operational.batch_size == 300
        wait_for(lambda: any(item["appliedVersion"] == 3 and item["rejectedVersion"] is None for item in hub.instances(service)), what="the report of version 3")


def test_defaults_that_fail_the_model_are_a_bug_said_at_once(service: str, workdir: Path) -> None:
    with pytest.raises(TypeError, match="the defaults fail the check"):
        ConfigClient(service, hub="http://127.0.0.1:9", schema=Settings, defaults={"operational": {"batch_size": 0}})


def test_a_gap_is_healed_by_reading_the_hub_and_older_versions_are_ignored(hub: Hub, service: str, workdir: Path) -> None:
    hub.create(service, {"operational": {"batch_size": 1}})
    with ConfigClient(service, hub=hub.url, token=hub.admin_token, defaults=DEFAULTS, live="none") as client:
        client.ready(15)
        hub.update(service, {"operational": {"batch_size": 2}})
        hub.update(service, {"operational": {"batch_size": 3}})
        assert client.version == 1  # no live updates: it has not heard
        loop = client._loop
        assert loop is not None
        # Version 3 arrives while 2 was missed: not applied as sent, but read from the hub.
        loop.call_soon_threadsafe(client._engine.change, LiveChange(service, "production", 3, "UPDATE", {"operational": {"batch_size": -1}}))
        wait_for(lambda: client.version == 3, what="the re-read")
        assert client.get("operational.batch_size") == 3
        # An older version is ignored.
        loop.call_soon_threadsafe(client._engine.change, LiveChange(service, "production", 2, "UPDATE", {"operational": {"batch_size": 2}}))
        client.refresh()
        assert client.version == 3 and client.get("operational.batch_size") == 3


def test_reads_again_every_ttl(hub: Hub, service: str, workdir: Path) -> None:
    hub.create(service, {"operational": {"batch_size": 1}})
    with ConfigClient(service, hub=hub.url, token=hub.admin_token, defaults=DEFAULTS, live="none", ttl=0.3) as client:
        client.ready(15)
        hub.update(service, {"operational": {"batch_size": 42}})
        wait_for(lambda: client.get("operational.batch_size") == 42, what="the TTL re-read")


def test_follows_the_hub_through_a_kill_and_a_restart(own_hub: Hub, service: str, workdir: Path) -> None:
    own_hub.create(service, {"operational": {"batch_size": 10}})
    statuses: list[ClientStatus] = []

    with ConfigClient(service, hub=own_hub.url, token=own_hub.admin_token, defaults=DEFAULTS, backoff=Backoff(0.05, 0.5), keepalive=2) as client:
        client.on_status(statuses.append)
        client.ready(15)
        own_hub.kill()
        # STALE as soon as either side notices (a fetch that fails can come before the socket's close); the
        # live side must notice too.
        wait_for(
            lambda: client.status.state == "STALE" and "live updates down" in (client.status.reason or ""),
            what="STALE, live updates down, after the kill",
        )
        assert client.get("operational.batch_size") == 10
        own_hub.start()
        client.ready(30)
        own_hub.update(service, {"operational": {"batch_size": 11}})
        wait_for(lambda: client.get("operational.batch_size") == 11, what="a change after the restart")
    states = [status.state for status in statuses]
    states = [state for index, state in enumerate(states) if index == 0 or states[index - 1] != state]
    assert states == ["STARTING", "READY", "STALE", "READY"] or states == ["READY", "STALE", "READY"], states


def test_a_refused_token_is_an_error_with_its_reason(hub: Hub, service: str, workdir: Path) -> None:
    hub.create(service, {"operational": {"batch_size": 1}})
    with ConfigClient(service, hub=HubConnection(hub.url, "not-a-token"), defaults=DEFAULTS) as client:
        wait_for(lambda: client.status.state == "ERROR", what="ERROR")
        assert client.get("operational.batch_size") == 100
        with pytest.raises(TimeoutError, match="not READY within"):
            client.ready(0.2)


def test_a_reader_token_of_the_service_is_enough(hub: Hub, service: str, workdir: Path) -> None:
    hub.create(service, {"operational": {"batch_size": 5}})
    token = hub.token("READER", [service])
    with ConfigClient(service, hub=hub.url, token=token, defaults=DEFAULTS) as client:
        assert client.ready(15).version == 1
        assert client.get("operational.batch_size") == 5
        assert "***" in repr(HubConnection(hub.url, token)) and token not in repr(HubConnection(hub.url, token))


def test_a_callback_that_raises_does_not_stop_the_client(hub: Hub, service: str, workdir: Path) -> None:
    hub.create(service, {"operational": {"batch_size": 1}})
    errors: list[BaseException] = []
    with ConfigClient(service, hub=hub.url, token=hub.admin_token, defaults=DEFAULTS, on_listener_error=errors.append) as client:
        client.ready(15)

        def broken(new: dict[str, Any], old: dict[str, Any], paths: list[str]) -> None:
            raise RuntimeError("boom")

        client.on_change(broken)
        hub.update(service, {"operational": {"batch_size": 2}})
        hub.update(service, {"operational": {"batch_size": 3}})
        wait_for(lambda: client.version == 3, what="version 3")
        assert [str(error) for error in errors] == ["boom", "boom"]


def test_close_ends_the_thread_and_keeps_the_last_config(hub: Hub, service: str, workdir: Path) -> None:
    hub.create(service, {"operational": {"batch_size": 77}})
    client = ConfigClient(service, hub=hub.url, token=hub.admin_token, defaults=DEFAULTS).start()
    client.ready(15)
    client.close()
    assert not any(thread.name.startswith("confighub") for thread in threading.enumerate())
    assert client.get("operational.batch_size") == 77
    client.close()  # twice is fine


def test_a_check_that_fails_on_a_config_refuses_it_and_the_client_goes_on(hub: Hub, service: str, workdir: Path) -> None:
    hub.create(service, {"operational": {"batch_size": 5}})

    def positive(config: dict[str, Any]) -> None:
        if not config["operational"]["batch_size"] > 0:  # a TypeError on a text
            raise ValueError("batch_size must be positive")

    rejections: list[ConfigRejection] = []
    with ConfigClient(service, hub=hub.url, token=hub.admin_token, defaults=DEFAULTS, schema=positive) as client:
        client.on_reject(rejections.append)
        client.ready(15)
        hub.update(service, {"operational": {"batch_size": "lots"}})
        wait_for(lambda: len(rejections) == 1, what="the refusal")
        assert "TypeError" in rejections[0].reason and client.get("operational.batch_size") == 5
        # Live updates still work: the next good version arrives.
        hub.update(service, {"operational": {"batch_size": 6}})
        wait_for(lambda: client.get("operational.batch_size") == 6, what="the next version")
        assert client.status.state == "READY"


def test_close_from_a_callback_ends_the_client(hub: Hub, service: str, workdir: Path) -> None:
    hub.create(service, {"operational": {"batch_size": 1}})
    client = ConfigClient(service, hub=hub.url, token=hub.admin_token, defaults=DEFAULTS).start()
    client.ready(15)
    client.on_change(lambda new, old, paths: client.close())
    hub.update(service, {"operational": {"batch_size": 2}})
    wait_for(lambda: not any(thread.name.startswith("confighub") for thread in threading.enumerate()), what="the thread's end")
    assert client.get("operational.batch_size") == 2
    client.refresh()  # closed: returns at once
    client.close()


def test_callbacks_and_settings_get_copies(hub: Hub, service: str, workdir: Path) -> None:
    hub.create(service, {"operational": {"batch_size": 1}})
    with ConfigClient(service, hub=hub.url, token=hub.admin_token, defaults=DEFAULTS) as client:
        client.ready(15)
        client.settings["operational"]["batch_size"] = 99

        def meddle(new: dict[str, Any], old: dict[str, Any], paths: list[str]) -> None:
            new["operational"]["batch_size"] = -1

        client.on_change(meddle)
        hub.update(service, {"operational": {"batch_size": 2}})
        wait_for(lambda: client.version == 2, what="version 2")
        assert client.get("operational.batch_size") == 2 and client.settings["operational"]["batch_size"] == 2


def _bucket(service: str, instance: str, environment: str = "production") -> int:
    """Where the hub puts an instance of a config (store/rollouts.ts, instanceBucket): 0..9999."""
    digest = hashlib.sha256(f"{service}\0{environment}\0{instance}".encode()).digest()
    return int.from_bytes(digest[:4], "big") % 10_000


def test_a_rollout_reaches_this_instance_only_once_its_step_comes(hub: Hub, service: str, workdir: Path) -> None:
    hub.create(service, {"operational": {"batch_size": 250}})
    ids = [f"{service}-pod-{n}" for n in range(64)]
    early = next(instance for instance in ids if _bucket(service, instance) < 5_000)
    late = next(instance for instance in ids if _bucket(service, instance) >= 5_000)
    with ConfigClient(service, hub=hub.url, token=hub.admin_token, defaults=DEFAULTS, instance_id=early, snapshot_file=False) as first, ConfigClient(
        service, hub=hub.url, token=hub.admin_token, defaults=DEFAULTS, instance_id=late, snapshot_file=False
    ) as second:
        first.ready(15)
        second.ready(15)
        write = hub.write(
            "updateConfig",
            {"service": service, "patch": {"operational": {"batch_size": 500}}, "reason": "canary", "rollout": {"steps": [50, 100], "bake": "1h"}},
            "... on ConfigWrite { config { version } rollout { id } }",
        )
        wait_for(lambda: first.version == 2, what="the candidate in the first step")
        time.sleep(0.5)
        # Outside the step: the stable version, read and live.
        assert second.version == 1 and second.get("operational.batch_size") == 250
        hub.write("promoteRollout", {"id": write["rollout"]["id"]}, "... on Rollout { percent }", "RolloutActionInput")
        wait_for(lambda: second.version == 2, what="the candidate once the step came")
        assert second.get("operational.batch_size") == 500
