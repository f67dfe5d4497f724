"""The client's one core, run on an asyncio loop: the asyncio client runs it on yours, the thread-based
client on a loop of its own. The same behaviour as the TypeScript ConfigClient (src/client/configClient.ts):
defaults, overlaid by the last-known-good snapshot, overlaid by the hub; a fetch at start, every `ttl`
and after every reconnect or version gap; live changes over graphql-ws; a config that fails the check is
refused and reported, and the config in effect stays."""

from __future__ import annotations

import asyncio
import concurrent.futures
import copy
import json
import os
import socket
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Generic, Literal, TypeVar

import httpx

from ._backoff import Backoff
from ._documents import changed_paths, overlay, value_at
from ._live import LiveChange, follow_websocket
from ._operations import CLIENT_CONFIG, REPORT_INSTANCE
from ._snapshot import Snapshot, default_snapshot_file, now_iso, read_snapshot, write_snapshot
from ._transport import HubConnection, HubRequestError, hub_request
from .settings import Issue, SettingsCheck, SettingsInvalid

T = TypeVar("T")

ClientState = Literal["STARTING", "READY", "STALE", "ERROR"]
"""STARTING: the first fetch or live connection is under way (it runs its snapshot or defaults meanwhile).
READY: runs the hub's config and follows its changes. STALE: runs a snapshot or an older config, the hub or
its live updates away. ERROR: runs its defaults only."""

ConfigSource = Literal["defaults", "snapshot", "hub"]

LiveMode = Literal["graphql-ws", "none"]

NOT_FETCHED_YET = "no config fetched from the hub yet"
NOT_CONNECTED_YET = "live updates not connected yet"
# The longest error text the hub keeps for an instance (UTF-8 bytes); a longer one is cut here.
MAX_ERROR_BYTES = 2048


@dataclass(frozen=True)
class ClientStatus:
    state: ClientState
    since: datetime
    """When the client entered this state."""
    reason: str | None
    """Why it is not READY (None when it is)."""
    version: int | None
    """The hub version it runs; None on defaults only."""
    source: ConfigSource


@dataclass(frozen=True)
class ConfigRejection:
    """A version the client refused to apply; it kept the config it had."""

    version: int
    reason: str
    issues: list[Issue]
    at: datetime


@dataclass
class Options(Generic[T]):
    service: str
    hub: HubConnection
    defaults: dict[str, Any]
    check: SettingsCheck[T]
    environment: str = "production"
    snapshot_file: str | None = None
    live: LiveMode = "graphql-ws"
    ttl: float = 300.0
    backoff: Backoff = field(default_factory=Backoff)
    keepalive: float = 15.0
    instance_id: str = field(default_factory=lambda: f"{socket.gethostname()}:{os.getpid()}")
    report: bool = True
    on_listener_error: Callable[[BaseException], None] | None = None


def reportable_error(message: str | None) -> str | None:
    """An error message as the hub takes it: text only (no NUL, no lone surrogate), cut to the limit."""
    if message is None:
        return None
    encoded = message.replace("\x00", "").encode("utf-8", "replace")
    return encoded[:MAX_ERROR_BYTES].decode("utf-8", "ignore")


def _now() -> datetime:
    return datetime.now(timezone.utc)


class Engine(Generic[T]):
    """Holds the config in effect and follows the hub. Reads (`get`, `status`...) work from any thread;
    everything else runs on the loop `start` was called on."""

    def __init__(self, options: Options[T]) -> None:
        self.options = options
        self.defaults = copy.deepcopy(options.defaults)
        try:
            checked = options.check.check(copy.deepcopy(self.defaults))
        except SettingsInvalid as error:
            # Defaults that fail the service's own check are a bug in the service: say so at once.
            raise TypeError(f"ConfigClient({options.service}): the defaults fail the check: {error}") from None
        self.current: dict[str, Any] = checked.config
        self.settings: T = checked.settings
        self.version: int | None = None
        self.source: ConfigSource = "defaults"
        self.rejection: ConfigRejection | None = None
        self.snapshot_saved_at: str | None = None
        self.fetch_problem: str | None = NOT_FETCHED_YET
        self.live_problem: str | None = NOT_CONNECTED_YET if options.live != "none" else None

        self.change_listeners: list[Callable[[dict[str, Any], dict[str, Any], list[str]], None]] = []
        self.status_listeners: list[Callable[[ClientStatus], None]] = []
        self.reject_listeners: list[Callable[[ConfigRejection], None]] = []

        self.snapshot_file = options.snapshot_file
        if self.snapshot_file is not None:
            self._load_snapshot(self.snapshot_file)
        state, reason = self._compute_status()
        self.status = ClientStatus(state, _now(), reason, self.version, self.source)

        self.started = False
        self.closed = False
        self._tasks: list[asyncio.Task[None]] = []
        self._http: httpx.AsyncClient | None = None
        # Fetches: a refresh takes a ticket; the fetch loop serves every ticket taken before it started.
        self._wake: asyncio.Event | None = None
        self._requested = 0
        self._completed = 0
        self._fetched: asyncio.Condition | None = None
        self._ready: asyncio.Event | None = None
        # Reports: one request at a time, the latest state wins.
        self._report_wake: asyncio.Event | None = None
        self._report_heartbeat = False
        self._report_sending: asyncio.Future[None] | None = None
        self._last_reported = ""
        # Snapshots: written in order, one at a time, off the loop.
        self._writer = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="confighub-snapshot")
        self._writes: list[asyncio.Future[None]] = []

    # ---- reads (any thread) ----

    def get(self, path: str | None = None) -> Any:
        value = self.current if path is None else value_at(self.current, path)
        # Containers are copies: what one caller changes, nobody else reads.
        return copy.deepcopy(value) if isinstance(value, (dict, list)) else value

    # ---- the loop ----

    def start(self) -> None:
        """Starts fetching and following the hub on the running loop; returns at once."""
        if self.started or self.closed:
            return
        self.started = True
        self._wake = asyncio.Event()
        self._fetched = asyncio.Condition()
        self._ready = asyncio.Event()
        self._report_wake = asyncio.Event()
        self._http = httpx.AsyncClient(headers={"user-agent": "confighub-client-python/0.1"})
        self._request_refresh()
        self._tasks.append(asyncio.create_task(self._fetch_loop(), name="confighub-fetch"))
        self._tasks.append(asyncio.create_task(self._report_loop(), name="confighub-report"))
        if self.options.live == "graphql-ws":
            self._tasks.append(
                asyncio.create_task(
                    follow_websocket(
                        self.options.hub,
                        self.options.service,
                        self.options.environment,
                        self.options.instance_id,
                        lambda: self.version,
                        self.options.keepalive,
                        self.options.backoff,
                        self,
                        lambda: not self.closed,
                    ),
                    name="confighub-live",
                )
            )
        self._update_status()

    async def ready(self, timeout: float) -> ClientStatus:
        """Returns once READY; raises TimeoutError after `timeout` seconds (or RuntimeError once closed)."""
        if self.status.state == "READY":
            return self.status
        if self.closed or self._ready is None:
            raise RuntimeError(f"the client is {'closed' if self.closed else 'not started'}")
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            try:
                await asyncio.wait_for(self._ready.wait(), max(0.0, deadline - asyncio.get_running_loop().time()))
            except asyncio.TimeoutError:
                raise TimeoutError(f"not READY within {timeout:g} s: {self.status.state} ({self.status.reason})") from None
            status: ClientStatus = self.status
            if status.state == "READY":
                return status
            if self.closed:
                raise RuntimeError(f"closed before READY: {status.state} ({status.reason})")

    async def refresh(self) -> None:
        """Fetches the config now; returns once a fetch that started after this call has finished."""
        if self.closed or self._fetched is None:
            return
        ticket = self._request_refresh()
        async with self._fetched:
            await self._fetched.wait_for(lambda: self._completed >= ticket or self.closed)

    async def close(self) -> None:
        """Stops following the hub and releases every connection, task and thread; the last config stays readable."""
        if self.closed:
            return
        self.closed = True
        # A report on its way is let through (it says what this instance ran last); no new one starts.
        if self._report_sending is not None:
            await asyncio.gather(self._report_sending, return_exceptions=True)
        # Cancelled until they end: asyncio.wait_for in Python < 3.12 can swallow a cancellation that
        # arrives as what it waits for completes, and the loops also stop on `closed`.
        pending = {task for task in self._tasks if not task.done()}
        while pending:
            for task in pending:
                task.cancel()
            _, pending = await asyncio.wait(pending, timeout=0.5)
        await asyncio.gather(*self._writes, return_exceptions=True)
        self._writer.shutdown(wait=True)
        if self._http is not None:
            await self._http.aclose()
        if self._fetched is not None:
            async with self._fetched:
                self._fetched.notify_all()
        if self._ready is not None:
            self._ready.set()
        self.change_listeners.clear()
        self.status_listeners.clear()
        self.reject_listeners.clear()

    def _request_refresh(self) -> int:
        self._requested += 1
        if self._wake is not None:
            self._wake.set()
        return self._requested

    async def _fetch_loop(self) -> None:
        assert self._wake is not None and self._fetched is not None
        attempt = 0
        delay = 0.0
        while not self.closed:
            try:
                await asyncio.wait_for(self._wake.wait(), delay)
            except asyncio.TimeoutError:
                pass
            self._wake.clear()
            serving = self._requested
            try:
                fetched = await self._fetch_once()
            finally:
                # Waiters of refresh() are let go however the fetch ended.
                self._completed = serving
                async with self._fetched:
                    self._fetched.notify_all()
            if fetched:
                attempt, delay = 0, self.options.ttl
            else:
                delay = self.options.backoff.delay(attempt)
                attempt += 1

    async def _fetch_once(self) -> bool:
        assert self._http is not None
        # The instance id decides, while a rollout is under way, whether the candidate or the stable version is served.
        variables = {"service": self.options.service, "environment": self.options.environment, "instance": self.options.instance_id}
        try:
            data = await hub_request(self._http, self.options.hub, CLIENT_CONFIG, variables)
            if self.closed:
                return False
            result = data.get("config")
            if not isinstance(result, dict):
                raise HubRequestError("the hub answered no config", "GRAPHQL")
            if result.get("__typename") != "ServiceConfig":
                kind, message = result.get("__typename"), result.get("message")
                raise HubRequestError(f"the hub has no config: {message}" if kind == "NotFoundError" else f"{kind}: {message}", "GRAPHQL")
            self.fetch_problem = None
            self._offer(int(result["version"]), result["config"] if isinstance(result.get("config"), dict) else {})
            self._update_status()
            # Also a heartbeat: the fleet report shows when each instance last confirmed its version.
            self._report(heartbeat=True)
            return True
        except HubRequestError as error:
            self.fetch_problem = f"fetch failed: {error}"
        except (ValueError, KeyError, TypeError) as error:
            self.fetch_problem = f"fetch failed: the hub's answer is not a config: {error}"
        except Exception as error:  # noqa: BLE001 - the fetch loop must outlive any one failure
            self.fetch_problem = f"fetch failed: {error!r}"
        self._update_status()
        return False

    # ---- live updates (LiveHandlers) ----

    def change(self, change: LiveChange) -> None:
        if change.environment != self.options.environment or change.service != self.options.service or self.closed:
            return
        if self.version is not None and change.version <= self.version:
            return
        if self.version is not None and change.version == self.version + 1 and change.config is not None:
            self._offer(change.version, change.config)
            self._update_status()
            return
        # A gap (a change was missed), a deletion, or nothing to compare with: read what the hub has.
        self._request_refresh()

    def up(self) -> None:
        self.live_problem = None
        self._update_status()
        # Whatever changed while it was down: read it again (the subscription also replays it).
        self._request_refresh()

    def down(self, reason: str) -> None:
        self.live_problem = f"live updates down: {reason}"
        self._update_status()

    # ---- applying a version ----

    def _load_snapshot(self, file: str) -> None:
        snapshot, problem = read_snapshot(file, self.options.service, self.options.environment)
        if problem:
            self.fetch_problem = f"{self.fetch_problem}; {problem}"
        if snapshot is None:
            return
        try:
            checked = self.options.check.check(overlay(copy.deepcopy(self.defaults), snapshot.config))
        except SettingsInvalid as error:
            self.fetch_problem = f"{self.fetch_problem}; snapshot version {snapshot.version} fails the check: {error}"
            return
        self.current, self.settings = checked.config, checked.settings
        self.version = snapshot.version
        self.source = "snapshot"
        self.snapshot_saved_at = snapshot.saved_at

    def _offer(self, version: int, config: dict[str, Any]) -> None:
        """Applies a hub version if it is newer and passes the check; otherwise keeps the config and says why.
        Over a snapshot, the hub's version wins even when lower (its database may have been restored)."""
        if self.source == "hub" and self.version is not None and version <= self.version:
            return
        if self.rejection is not None and self.rejection.version == version:
            return
        try:
            checked = self.options.check.check(overlay(copy.deepcopy(self.defaults), copy.deepcopy(config)))
        except SettingsInvalid as error:
            self.rejection = ConfigRejection(version, str(error), error.issues, _now())
            for reject_listener in list(self.reject_listeners):
                self._call(reject_listener, self.rejection)
            self._report()
            return
        previous = self.current
        paths = changed_paths(previous, checked.config)
        self.current, self.settings = checked.config, checked.settings
        self.version = version
        self.source = "hub"
        if self.rejection is not None and self.rejection.version < version:
            self.rejection = None
        if self.snapshot_file is not None:
            snapshot = Snapshot(self.options.service, self.options.environment, version, config, now_iso())
            self._writes = [write for write in self._writes if not write.done()]
            write = asyncio.get_running_loop().run_in_executor(self._writer, write_snapshot, self.snapshot_file, snapshot)
            write.add_done_callback(self._snapshot_written)
            self._writes.append(write)
        # Listeners that read the status see the version they are called for.
        self._update_status()
        if paths:
            for change_listener in list(self.change_listeners):
                # Copies: what a callback changes is not the config in effect.
                self._call(change_listener, copy.deepcopy(checked.config), copy.deepcopy(previous), paths)
        self._report()

    def _snapshot_written(self, write: asyncio.Future[None]) -> None:
        if not write.cancelled() and write.exception() is not None:
            self._call(self._raise, RuntimeError(f"snapshot not written: {write.exception()}"))

    @staticmethod
    def _raise(error: BaseException) -> None:
        raise error

    # ---- status ----

    def _compute_status(self) -> tuple[ClientState, str | None]:
        problems = [problem for problem in (self.fetch_problem, self.live_problem) if problem is not None]
        problem = "; ".join(problems) or None
        if self.source == "hub" and problem is None:
            return "READY", None
        source = (
            f"snapshot version {self.version} saved {self.snapshot_saved_at}" if self.source == "snapshot" else f"version {self.version}"
        )
        # Until the first fetch and the first live connection have each come through, unless one failed.
        fetch_pending = self.fetch_problem is not None and self.fetch_problem.startswith(NOT_FETCHED_YET)
        live_pending = self.live_problem == NOT_CONNECTED_YET
        failed = (self.fetch_problem is not None and not fetch_pending) or (self.live_problem is not None and not live_pending)
        if (fetch_pending or live_pending) and not failed:
            serving = "defaults" if self.source == "defaults" else source
            return "STARTING", f"starting, serving {serving}: {problem}"
        if self.source == "defaults":
            return "ERROR", f"running on defaults only: {problem or 'no config from the hub'}"
        return "STALE", f"serving {source}: {problem}"

    def _update_status(self) -> None:
        state, reason = self._compute_status()
        before = self.status
        if before.state == state and before.reason == reason and before.version == self.version and before.source == self.source:
            return
        self.status = ClientStatus(state, before.since if before.state == state else _now(), reason, self.version, self.source)
        if self._ready is not None:
            if state == "READY":
                self._ready.set()
            else:
                self._ready.clear()
        for status_listener in list(self.status_listeners):
            self._call(status_listener, self.status)
        if before.state != state:
            self._report()

    # ---- the fleet report ----

    def _report(self, heartbeat: bool = False) -> None:
        # STARTING is not reported: the fleet hears of the state the start ends in.
        if not self.options.report or not self.started or self.closed or self._report_wake is None:
            return
        if self._compute_status()[0] == "STARTING":
            return
        self._report_heartbeat = self._report_heartbeat or heartbeat
        self._report_wake.set()

    def _report_input(self) -> dict[str, Any]:
        state, reason = self._compute_status()
        rejection = self.rejection
        return {
            "service": self.options.service,
            "environment": self.options.environment,
            "instance": self.options.instance_id,
            "status": ("ERROR" if self.source == "defaults" else "STALE") if state == "STARTING" else state,
            "appliedVersion": self.version,
            "rejectedVersion": rejection.version if rejection else None,
            "error": reportable_error(f"refused version {rejection.version}: {rejection.reason}" if rejection else reason),
        }

    async def _report_loop(self) -> None:
        assert self._report_wake is not None and self._http is not None
        while not self.closed:
            await self._report_wake.wait()
            self._report_wake.clear()
            heartbeat, self._report_heartbeat = self._report_heartbeat, False
            state = self._report_input()
            fingerprint = json.dumps(state, sort_keys=True)
            if not heartbeat and fingerprint == self._last_reported:
                continue
            self._report_sending = asyncio.ensure_future(self._send_report(state, fingerprint))
            try:
                await asyncio.shield(self._report_sending)
            finally:
                self._report_sending = None

    async def _send_report(self, state: dict[str, Any], fingerprint: str) -> None:
        assert self._http is not None
        try:
            data = await hub_request(self._http, self.options.hub, REPORT_INSTANCE, {"input": state})
        except Exception:  # noqa: BLE001
            # The hub is away: the next report (at the latest the next successful fetch) tries again.
            return
        if (data.get("reportInstance") or {}).get("__typename") == "ConfigInstance":
            self._last_reported = fingerprint

    # ---- callbacks ----

    def _call(self, listener: Callable[..., None], *arguments: Any) -> None:
        try:
            listener(*arguments)
        except Exception as error:  # noqa: BLE001 - a service's callback must not stop the client
            try:
                if self.options.on_listener_error is None:
                    raise error
                self.options.on_listener_error(error)
            except Exception as unhandled:  # noqa: BLE001 - nor may the handler of its errors
                warnings.warn(f"a confighub callback raised: {unhandled!r}", RuntimeWarning, stacklevel=2)


def snapshot_path(snapshot_file: str | None | Literal[False], service: str, environment: str) -> str | None:
    if snapshot_file is False:
        return None
    return os.path.abspath(snapshot_file) if snapshot_file else default_snapshot_file(service, environment)
