"""The GraphQL operations the client sends, read from operations.graphql (shipped with the package)."""

from __future__ import annotations

import re
from importlib import resources

_START = re.compile(r"^(?:query|mutation|subscription) (\w+)", re.MULTILINE)


def _load() -> dict[str, str]:
    text = resources.files(__package__).joinpath("operations.graphql").read_text(encoding="utf-8")
    starts = list(_START.finditer(text))
    operations: dict[str, str] = {}
    for index, match in enumerate(starts):
        end = starts[index + 1].start() if index + 1 < len(starts) else len(text)
        operations[match.group(1)] = text[match.start() : end].strip()
    return operations


_OPERATIONS = _load()

CLIENT_CONFIG = _OPERATIONS["ClientConfig"]
CLIENT_CONFIG_CHANGED = _OPERATIONS["ClientConfigChanged"]
REPORT_INSTANCE = _OPERATIONS["ReportInstance"]
SERVICE_SCHEMA = _OPERATIONS["ServiceSchema"]
