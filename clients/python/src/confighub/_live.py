"""Changes as they happen: a graphql-ws subscription to `configChanged`, resumed after the version the
client runs (the hub replays what was missed), kept connected with the client's backoff. The protocol is
graphql-ws's (`graphql-transport-ws`), spoken over the `websockets` package."""

from __future__ import annotations

import asyncio
import importlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI
from websockets.typing import Subprotocol

try:  # websockets >= 13: its asyncio implementation
    _client = importlib.import_module("websockets.asyncio.client")
except ImportError:  # websockets 10-12 (Debian 12 has 10.4)
    _client = importlib.import_module("websockets.client")
connect: Any = _client.connect

from ._backoff import Backoff
from ._operations import CLIENT_CONFIG_CHANGED
from ._transport import HubConnection, authorization, websocket_endpoint

# A session that lasted this long was healthy: the next reconnect starts the backoff over.
STEADY_SESSION = 10.0
# The largest message taken from the hub: a 256 KiB config with its change, with room to spare.
MAX_MESSAGE_BYTES = 8 * 1024 * 1024


@dataclass(frozen=True)
class LiveChange:
    """One committed change: the whole new document (None after a deletion)."""

    service: str
    environment: str
    version: int
    action: str
    config: dict[str, Any] | None


class LiveHandlers(Protocol):
    def change(self, change: LiveChange) -> None: ...

    def up(self) -> None:
        """Connected and following: what happened while down is being replayed."""

    def down(self, reason: str) -> None: ...


def parse_change(value: Any) -> LiveChange | None:
    """A `configChanged` payload, or None for anything that is not one."""
    if not isinstance(value, dict):
        return None
    version, config = value.get("version"), value.get("config")
    if not isinstance(value.get("service"), str) or not isinstance(value.get("environment"), str):
        return None
    if not isinstance(version, int) or isinstance(version, bool) or not (config is None or isinstance(config, dict)):
        return None
    return LiveChange(value["service"], value["environment"], version, str(value.get("action")), config)


def _describe(errors: Any) -> str:
    if isinstance(errors, list):
        return "; ".join(str(error.get("message", error)) if isinstance(error, dict) else str(error) for error in errors)
    return str(errors)


@dataclass
class _Session:
    connected_at: float | None = None
    received: bool = False

    def worked(self) -> bool:
        return self.connected_at is not None and (self.received or time.monotonic() - self.connected_at >= STEADY_SESSION)


async def follow_websocket(
    connection: HubConnection,
    service: str,
    environment: str,
    instance: str,
    after_version: Callable[[], int | None],
    keepalive: float,
    backoff: Backoff,
    handlers: LiveHandlers,
    running: Callable[[], bool],
) -> None:
    """Follows the service's changes until cancelled (or `running()` turns false), reconnecting after a
    backoff whenever a session ends."""
    attempt = 0
    while running():
        session = _Session()
        reason = await _session(connection, service, environment, instance, after_version(), keepalive, handlers, session)
        # A subscription refused right after connecting (no such config, a token without the right)
        # must not retry at the fastest pace forever: only a session that worked resets the backoff.
        if session.worked():
            attempt = 0
        if not running():
            return
        handlers.down(reason)
        await asyncio.sleep(backoff.delay(attempt))
        attempt += 1


async def _session(
    connection: HubConnection,
    service: str,
    environment: str,
    instance: str,
    after_version: int | None,
    keepalive: float,
    handlers: LiveHandlers,
    session: _Session,
) -> str:
    """One connection, from the handshake to its end; returns why it ended."""
    url = websocket_endpoint(connection.url)
    try:
        async with connect(
            url,
            subprotocols=[Subprotocol("graphql-transport-ws")],
            open_timeout=connection.timeout,
            # A hub that vanished without closing (host gone, network cut) answers no ping: the socket is
            # closed after `keepalive` more seconds instead of waiting for TCP to notice.
            ping_interval=keepalive,
            ping_timeout=keepalive,
            close_timeout=1,
            max_size=MAX_MESSAGE_BYTES,
        ) as socket:
            await socket.send(json.dumps({"type": "connection_init", "payload": authorization(connection)}))
            try:
                if not await asyncio.wait_for(_acknowledged(socket), connection.timeout):
                    return _closed_socket(socket)
            except asyncio.TimeoutError:
                return f"graphql-ws: no connection_ack within {connection.timeout:g} s"
            session.connected_at = time.monotonic()
            handlers.up()
            # The instance id: while a rollout is under way, its candidate comes once this instance is in its step.
            variables: dict[str, Any] = {"service": service, "environment": environment, "instance": instance}
            if after_version is not None:
                variables["afterVersion"] = after_version
            subscribe = {"id": "1", "type": "subscribe", "payload": {"query": CLIENT_CONFIG_CHANGED, "variables": variables}}
            await socket.send(json.dumps(subscribe))
            async for raw in socket:
                message = json.loads(raw)
                kind = message.get("type") if isinstance(message, dict) else None
                payload = message.get("payload") if isinstance(message, dict) else None
                if kind == "ping":
                    await socket.send('{"type":"pong"}')
                elif kind == "next":
                    result = payload if isinstance(payload, dict) else {}
                    if result.get("errors"):
                        return f"subscription: {_describe(result['errors'])}"
                    change = parse_change((result.get("data") or {}).get("configChanged"))
                    if change is not None:
                        session.received = True
                        handlers.change(change)
                elif kind == "error":
                    return f"graphql-ws: {_describe(payload)}"
                elif kind == "complete":
                    return "graphql-ws: the hub ended the subscription"
            return _closed_socket(socket)
    except ConnectionClosed as closed:
        return _closed(closed.rcvd.code if closed.rcvd else 1006, closed.rcvd.reason if closed.rcvd else "")
    except (InvalidHandshake, InvalidURI) as error:
        return f"graphql-ws: {error}"
    except (OSError, asyncio.TimeoutError) as error:
        return f"cannot reach the hub at {url}: {error or type(error).__name__}"
    except ValueError as error:
        return f"graphql-ws: the hub sent a message that is not JSON: {error}"
    except Exception as error:  # noqa: BLE001 - whatever fails ends this session, never the following
        return f"live updates failed: {error!r}"


async def _acknowledged(socket: Any) -> bool:
    """Waits for connection_ack; False when the hub closed the socket first."""
    async for raw in socket:
        message = json.loads(raw)
        if isinstance(message, dict) and message.get("type") == "connection_ack":
            return True
        if isinstance(message, dict) and message.get("type") == "ping":
            await socket.send('{"type":"pong"}')
    return False


def _closed_socket(socket: Any) -> str:
    # close_code/close_reason: websockets 10-12 and 14.1+ (absent on 13.x and 14.0).
    return _closed(getattr(socket, "close_code", None), getattr(socket, "close_reason", None))


def _closed(code: int | None, reason: str | None) -> str:
    return f"socket closed ({code if code is not None else 1006}{f' {reason}' if reason else ''})"
