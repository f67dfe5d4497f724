"""GraphQL over HTTP to a hub (the TypeScript client's src/client/transport.ts, with httpx)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

import httpx

HubErrorCode = Literal["UNAUTHENTICATED", "FORBIDDEN", "NETWORK", "TIMEOUT", "HTTP", "GRAPHQL"]

DEFAULT_TIMEOUT = 10.0


@dataclass(frozen=True)
class HubConnection:
    """Where a hub answers and how to talk to it."""

    url: str
    """Base URL of the hub, e.g. `http://127.0.0.1:4000` (`/graphql` is appended)."""
    token: str | None = None
    """An API token, sent as `Authorization: Bearer <token>`. Keep it in the service's environment."""
    timeout: float = DEFAULT_TIMEOUT
    """Seconds one request (or a WebSocket handshake) may take before it fails with TIMEOUT."""

    def __repr__(self) -> str:
        # A token never appears in logs or tracebacks.
        return f"HubConnection(url={self.url!r}, token={'***' if self.token else None}, timeout={self.timeout})"


class HubRequestError(Exception):
    """A request that did not produce data: the hub was unreachable, refused us, or answered with errors."""

    def __init__(self, message: str, code: HubErrorCode, status: int | None = None, errors: list[dict[str, Any]] | None = None) -> None:
        super().__init__(message)
        self.code: HubErrorCode = code
        self.status = status
        """The HTTP status, when the hub answered."""
        self.errors: list[dict[str, Any]] = errors or []
        """The GraphQL errors of the response, if any."""

    @property
    def retryable(self) -> bool:
        """True for failures worth retrying later (the hub is away or overloaded), False for refusals."""
        if self.code in ("NETWORK", "TIMEOUT"):
            return True
        if self.code == "HTTP":
            return self.status is None or self.status >= 500 or self.status == 429
        return False


def graphql_endpoint(url: str) -> str:
    """`<url>/graphql`, tolerating a trailing slash or a URL that already names the endpoint."""
    base = url.rstrip("/")
    return base if base.endswith("/graphql") else f"{base}/graphql"


def websocket_endpoint(url: str) -> str:
    endpoint = graphql_endpoint(url)
    return "ws" + endpoint[4:] if endpoint.startswith("http") else endpoint


def authorization(connection: HubConnection) -> dict[str, str]:
    return {"authorization": f"Bearer {connection.token}"} if connection.token else {}


async def hub_request(http: httpx.AsyncClient, connection: HubConnection, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    """Sends one GraphQL operation and returns its `data`; raises HubRequestError as the TypeScript client
    does: 401/403 and errors coded UNAUTHENTICATED/FORBIDDEN keep those codes, an unreachable hub is
    NETWORK, a slow one TIMEOUT, other statuses HTTP, other GraphQL errors GRAPHQL."""
    endpoint = graphql_endpoint(connection.url)
    headers = {"content-type": "application/json", "accept": "application/graphql-response+json, application/json", **authorization(connection)}
    try:
        response = await http.post(endpoint, headers=headers, content=json.dumps({"query": query, "variables": variables}), timeout=connection.timeout)
    except httpx.TimeoutException as error:
        raise HubRequestError(f"the hub at {endpoint} did not answer within {connection.timeout:g} s", "TIMEOUT") from error
    except httpx.HTTPError as error:
        raise HubRequestError(f"cannot reach the hub at {endpoint}: {error or type(error).__name__}", "NETWORK") from error
    return answer(response.status_code, response.reason_phrase, response.text)


def answer(status: int, reason: str, text: str) -> dict[str, Any]:
    """The `data` of a GraphQL response, or the HubRequestError it stands for."""
    body = _parse_body(text)
    errors: list[dict[str, Any]] = [error for error in (body or {}).get("errors") or [] if isinstance(error, dict)]
    first = str(errors[0].get("message")) if errors else None
    if status == 401:
        raise HubRequestError(first or "the hub refused the credentials (401)", "UNAUTHENTICATED", status, errors)
    if status == 403:
        raise HubRequestError(first or "the token may not do this (403)", "FORBIDDEN", status, errors)
    for error in errors:
        code = (error.get("extensions") or {}).get("code")
        if code in ("UNAUTHENTICATED", "FORBIDDEN"):
            raise HubRequestError(str(error.get("message")), code, status, errors)
    if errors:
        raise HubRequestError("; ".join(str(error.get("message")) for error in errors), "GRAPHQL", status, errors)
    data = (body or {}).get("data")
    if status >= 300 or not isinstance(data, dict):
        raise HubRequestError(f"the hub answered {status} {reason}".strip(), "HTTP", status)
    return data


def _parse_body(text: str) -> dict[str, Any] | None:
    try:
        parsed = json.loads(text)
    except ValueError:
        return None
    if not isinstance(parsed, dict) or ("data" not in parsed and not isinstance(parsed.get("errors"), list)):
        return None
    return parsed
