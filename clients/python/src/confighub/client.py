"""A service's runtime configuration from the hub, in both styles a Python service uses: `ConfigClient`
(a thread of its own; for plain, synchronous services and worker loops) and `AsyncConfigClient` (on your
asyncio loop; for FastAPI and the like). Both start at once from defaults and the last snapshot on disk,
then follow the hub; reads never wait on the network."""

from __future__ import annotations

import asyncio
import concurrent.futures
import copy
import os
import threading
from collections.abc import Callable, Coroutine, Mapping
from types import TracebackType
from typing import Any, Generic, Literal, TypeVar, cast, overload

from ._backoff import Backoff
from ._documents import value_at
from ._core import ClientStatus, ConfigRejection, Engine, LiveMode, Options, snapshot_path
from ._transport import DEFAULT_TIMEOUT, HubConnection
from .settings import SettingsCheck, function_check, is_model, model_check, no_check

T = TypeVar("T")
R = TypeVar("R")

ChangeListener = Callable[[dict[str, Any], dict[str, Any], list[str]], None]
"""Called with the new config, the old one and the dotted paths that changed."""


def _connection(hub: HubConnection | str | None, token: str | None, timeout: float) -> HubConnection:
    if isinstance(hub, HubConnection):
        return hub
    url = hub or os.environ.get("CONFIGHUB_URL")
    if not url:
        raise ValueError("no hub: pass hub='http://host:4000' or set CONFIGHUB_URL")
    return HubConnection(url, token if token is not None else os.environ.get("CONFIGHUB_TOKEN") or None, timeout)


def _check(schema: Any) -> SettingsCheck[Any]:
    if schema is None:
        return no_check()
    if is_model(schema):
        return model_check(schema)
    if callable(schema):
        return function_check(schema)
    raise TypeError("schema must be a pydantic model class or a function that checks a config")


class _Client(Generic[T]):
    """What both clients share: construction, reads and callbacks."""

    @overload
    def __init__(
        self,
        service: str,
        *,
        hub: HubConnection | str | None = None,
        token: str | None = None,
        defaults: T,
        schema: Callable[[dict[str, Any]], Any] | None = None,
        environment: str = "production",
        snapshot_file: str | Literal[False] | None = None,
        live: LiveMode = "graphql-ws",
        ttl: float = 300.0,
        backoff: Backoff = Backoff(),
        keepalive: float = 15.0,
        timeout: float = DEFAULT_TIMEOUT,
        instance_id: str | None = None,
        report: bool = True,
        on_listener_error: Callable[[BaseException], None] | None = None,
    ) -> None: ...

    @overload
    def __init__(
        self,
        service: str,
        *,
        hub: HubConnection | str | None = None,
        token: str | None = None,
        defaults: Mapping[str, Any] | None = None,
        schema: type[T],
        environment: str = "production",
        snapshot_file: str | Literal[False] | None = None,
        live: LiveMode = "graphql-ws",
        ttl: float = 300.0,
        backoff: Backoff = Backoff(),
        keepalive: float = 15.0,
        timeout: float = DEFAULT_TIMEOUT,
        instance_id: str | None = None,
        report: bool = True,
        on_listener_error: Callable[[BaseException], None] | None = None,
    ) -> None: ...

    def __init__(
        self,
        service: str,
        *,
        hub: HubConnection | str | None = None,
        token: str | None = None,
        defaults: Any = None,
        schema: Any = None,
        environment: str = "production",
        snapshot_file: str | Literal[False] | None = None,
        live: LiveMode = "graphql-ws",
        ttl: float = 300.0,
        backoff: Backoff = Backoff(),
        keepalive: float = 15.0,
        timeout: float = DEFAULT_TIMEOUT,
        instance_id: str | None = None,
        report: bool = True,
        on_listener_error: Callable[[BaseException], None] | None = None,
    ) -> None:
        """
        service: the service whose config this is. hub: the hub's base URL (or a HubConnection; default
        CONFIGHUB_URL), token: its API token (default CONFIGHUB_TOKEN). defaults: a value for every key,
        used until (and under) whatever the hub says (required without a model; a model's own defaults
        count). schema: a pydantic model (see confighub-types) or a function that checks a config; a
        config that fails it is refused. snapshot_file: where the
        last-known-good config is kept (default `.confighub/client/<service>.<environment>.json`; False
        keeps none). live: "graphql-ws" or "none". ttl: seconds between background re-reads. backoff:
        spacing of retries. keepalive: seconds between pings; a hub silent as long again is taken for
        gone. timeout: seconds a request may take. instance_id: this instance in the fleet report
        (default host:pid). report: tell the hub the version applied. on_listener_error: called when a
        callback raises (default: a RuntimeWarning).
        """
        if not service:
            raise ValueError("service is required")
        options = Options(
            service=service,
            hub=_connection(hub, token, timeout),
            defaults=dict(defaults or {}),
            check=_check(schema),
            environment=environment,
            snapshot_file=snapshot_path(snapshot_file, service, environment),
            live=live,
            ttl=ttl,
            backoff=backoff,
            keepalive=keepalive,
            report=report,
            on_listener_error=on_listener_error,
        )
        if instance_id is not None:
            options.instance_id = instance_id
        self._engine: Engine[T] = Engine(options)

    @property
    def service(self) -> str:
        return self._engine.options.service

    @property
    def environment(self) -> str:
        return self._engine.options.environment

    @property
    def instance_id(self) -> str:
        return self._engine.options.instance_id

    def get(self, path: str | None = None) -> Any:
        """The value at a dotted path of the config in effect (`get("operational.batch_size")`), None when
        missing; the whole config without a path. Never waits; objects and lists are copies."""
        return self._engine.get(path)

    @property
    def config(self) -> dict[str, Any]:
        """The whole config in effect (a copy)."""
        return self._engine.get()  # type: ignore[no-any-return]

    @property
    def settings(self) -> T:
        """The config in effect as the schema made it: the model instance (read-only), or a copy of the config."""
        settings = self._engine.settings
        # A plain dict (no model) is the engine's own: hand out a copy.
        return cast(T, copy.deepcopy(settings)) if isinstance(settings, dict) else settings

    @property
    def version(self) -> int | None:
        return self._engine.version

    @property
    def status(self) -> ClientStatus:
        """STARTING, READY, STALE or ERROR, since when and why."""
        return self._engine.status

    @property
    def last_rejection(self) -> ConfigRejection | None:
        """The last version refused (cleared when a later one is applied)."""
        return self._engine.rejection

    def on_change(self, listener: ChangeListener) -> Callable[[], None]:
        """Calls `listener(new, old, changed_paths)` after each change; returns a function that stops it."""
        return _subscribe(self._engine.change_listeners, listener)

    def watch(self, path: str, listener: Callable[[Any, Any], None]) -> Callable[[], None]:
        """Calls `listener(value, previous)` when the value at `path` (or anything under it) changes."""
        engine = self._engine

        def on_change(new: dict[str, Any], old: dict[str, Any], paths: list[str]) -> None:
            if path in paths:
                listener(engine.get(path), value_at(old, path))

        return self.on_change(on_change)

    def on_status(self, listener: Callable[[ClientStatus], None]) -> Callable[[], None]:
        """Calls `listener(status)` on every change of state or reason."""
        return _subscribe(self._engine.status_listeners, listener)

    def on_reject(self, listener: Callable[[ConfigRejection], None]) -> Callable[[], None]:
        """Calls `listener(rejection)` when a version fails the check (the config in effect stays)."""
        return _subscribe(self._engine.reject_listeners, listener)


def _subscribe(listeners: list[Any], listener: Any) -> Callable[[], None]:
    listeners.append(listener)

    def unsubscribe() -> None:
        if listener in listeners:
            listeners.remove(listener)

    return unsubscribe


class AsyncConfigClient(_Client[T]):
    """The client on your asyncio loop: callbacks run on it. `async with` starts and closes it."""

    async def start(self) -> AsyncConfigClient[T]:
        """Starts fetching and following the hub; returns at once (reads already work)."""
        self._engine.start()
        return self

    async def ready(self, timeout: float = 10.0) -> ClientStatus:
        """Returns once READY; raises TimeoutError after `timeout` seconds with the state it is in."""
        return await self._engine.ready(timeout)

    async def refresh(self) -> None:
        """Fetches the config now; returns once a fetch that started after this call has finished."""
        await self._engine.refresh()

    async def close(self) -> None:
        """Stops following the hub, releases every connection and task; the last config stays readable."""
        await self._engine.close()

    async def __aenter__(self) -> AsyncConfigClient[T]:
        return await self.start()

    async def __aexit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        await self.close()


class ConfigClient(_Client[T]):
    """The client on a thread of its own (a daemon thread running its asyncio loop): callbacks run on that
    thread, so keep them short and hand long work to your own. `with` starts and closes it."""

    _loop: asyncio.AbstractEventLoop | None = None
    _thread: threading.Thread | None = None

    def start(self) -> ConfigClient[T]:
        """Starts fetching and following the hub; returns at once (reads already work)."""
        if self._thread is not None or self._engine.closed:
            return self
        loop = asyncio.new_event_loop()
        running = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(running.set)
            loop.call_soon(self._engine.start)
            try:
                loop.run_forever()
            finally:
                loop.close()

        self._loop = loop
        self._thread = threading.Thread(target=run, name=f"confighub:{self.service}", daemon=True)
        self._thread.start()
        running.wait()
        return self

    def ready(self, timeout: float = 10.0) -> ClientStatus:
        """Blocks until READY; raises TimeoutError after `timeout` seconds with the state it is in."""
        return self._run(self._engine.ready(timeout))

    def refresh(self) -> None:
        """Fetches the config now; returns once a fetch that started after this call has finished."""
        if self._engine.closed:
            return
        self._run(self._engine.refresh())

    def close(self, timeout: float = 30.0) -> None:
        """Stops following the hub, ends the client's thread; the last config stays readable. Raises
        TimeoutError if that takes longer than `timeout` seconds (the thread is a daemon: it does not
        keep the process alive)."""
        if self._loop is None or self._thread is None:
            self._engine.closed = True
            return
        loop = self._loop
        if threading.current_thread() is self._thread:
            # From a callback: the close runs on the loop after it, then the loop ends.
            async def close_here() -> None:
                await self._engine.close()
                loop.stop()

            loop.create_task(close_here())
            return
        if not loop.is_closed() and self._thread.is_alive() and not self._engine.closed:
            try:
                self._run(self._engine.close(), timeout)
            finally:
                self._loop.call_soon_threadsafe(self._loop.stop)
        if threading.current_thread() is not self._thread:
            self._thread.join(timeout)
            if self._thread.is_alive():
                raise TimeoutError(f"the client's thread did not end within {timeout:g} s")

    def _run(self, work: Coroutine[Any, Any, R], timeout: float | None = None) -> R:
        if self._loop is None:
            work.close()
            raise RuntimeError("the client is not started: call start() first")
        if threading.current_thread() is self._thread:
            work.close()
            raise RuntimeError("a ConfigClient callback cannot wait on its own client")
        future = asyncio.run_coroutine_threadsafe(work, self._loop)
        try:
            return future.result(timeout)
        except concurrent.futures.TimeoutError:
            if future.done():
                raise  # the work's own TimeoutError (one type since Python 3.11)
            future.cancel()
            raise TimeoutError(f"the client did not finish within {timeout:g} s") from None

    def __enter__(self) -> ConfigClient[T]:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None) -> None:
        self.close()
