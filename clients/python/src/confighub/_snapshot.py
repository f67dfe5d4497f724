"""The last-known-good config on disk: what a service starts from when the hub is away. The file is the
TypeScript client's (src/client/snapshot.ts), so a service can change language and keep it."""

from __future__ import annotations

import json
import os
import secrets
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any


@dataclass(frozen=True)
class Snapshot:
    service: str
    environment: str
    version: int
    config: dict[str, Any]
    saved_at: str
    """When it was written (ISO 8601, UTC)."""


def default_snapshot_file(service: str, environment: str) -> str:
    return os.path.abspath(os.path.join(".confighub", "client", f"{service}.{environment}.json"))


def now_iso() -> str:
    """The time as JavaScript's `Date.toISOString()` writes it: `2026-12-04T19:44:28.123Z`."""
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def read_snapshot(file: str, service: str, environment: str) -> tuple[Snapshot | None, str | None]:
    """The snapshot in `file`, or None with why it is unusable (None, None when there is none)."""
    try:
        with open(file, encoding="utf-8") as handle:
            text = handle.read()
    except FileNotFoundError:
        return None, None
    except OSError as error:
        return None, f"cannot read snapshot {file}: {error.strerror or error}"
    try:
        parsed = json.loads(text)
    except ValueError as error:
        return None, f"snapshot {file} is not JSON: {error}"
    if not isinstance(parsed, dict):
        return None, f"snapshot {file} has no version or config"
    if parsed.get("service") != service or parsed.get("environment") != environment:
        return None, f"snapshot {file} belongs to {parsed.get('service')}/{parsed.get('environment')}"
    version = parsed.get("version")
    config = parsed.get("config")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1 or not isinstance(config, dict):
        return None, f"snapshot {file} has no version or config"
    saved_at = parsed.get("savedAt")
    return Snapshot(service, environment, version, config, saved_at if isinstance(saved_at, str) else "unknown"), None


def write_snapshot(file: str, snapshot: Snapshot) -> None:
    """Writes atomically (a temporary file in the same folder, synced, then renamed): a crash leaves the
    old snapshot or the new one, never half of one. The file is readable by its owner only."""
    folder = os.path.dirname(file) or "."
    os.makedirs(folder, exist_ok=True)
    document = {
        "service": snapshot.service,
        "environment": snapshot.environment,
        "version": snapshot.version,
        "config": snapshot.config,
        "savedAt": snapshot.saved_at,
    }
    temporary = os.path.join(folder, f"{os.path.basename(file)}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
            handle.write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
            handle.flush()
            # On disk before the rename makes it the snapshot: a power cut must not leave an empty file.
            os.fsync(handle.fileno())
        os.replace(temporary, file)
    except BaseException:
        try:
            os.unlink(temporary)
        except FileNotFoundError:
            pass
        raise


__all__ = ["Snapshot", "default_snapshot_file", "now_iso", "read_snapshot", "write_snapshot"]
