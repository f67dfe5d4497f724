"""confighub-types: a pydantic settings module from a service's JSON Schema on the hub, the Python
counterpart of `confighub types`. The module holds one model per object of the schema, with its bounds,
defaults and descriptions; pass its top model to the client as `schema=` and `client.settings` is typed.

    confighub-types polygon-historical-downloader --out settings.py
    confighub-types polygon-historical-downloader --check settings.py   # exit 6 when the hub's schema moved on
"""

from __future__ import annotations

import argparse
import json
import keyword
import os
import re
import sys
from dataclasses import dataclass, field
from typing import Any

import httpx

from ._operations import SERVICE_SCHEMA
from ._transport import DEFAULT_TIMEOUT, HubRequestError, answer, graphql_endpoint

# The CLI's exit codes (src/cli/errors.ts).
EXIT_USAGE, EXIT_NOT_FOUND, EXIT_AUTH, EXIT_UNREACHABLE, EXIT_OUT_OF_DATE = 1, 2, 4, 5, 6

# Names a field may not take: pydantic's own attributes (1.10 and 2.x).
_TAKEN = {
    "Config", "construct", "copy", "dict", "fields", "from_orm", "json", "parse_file", "parse_obj", "parse_raw",
    "schema", "schema_json", "update_forward_refs", "validate",
}
_BOUNDS = [
    ("minimum", "ge"), ("exclusiveMinimum", "gt"), ("maximum", "le"), ("exclusiveMaximum", "lt"),
    ("minLength", "min_length"), ("maxLength", "max_length"), ("minItems", "min_items"), ("maxItems", "max_items"),
]


def class_name(words: str) -> str:
    """`polygon-historical-downloader` -> `PolygonHistoricalDownloader`."""
    parts = [part for part in re.split(r"[^A-Za-z0-9]+", words) if part]
    name = "".join(part[0].upper() + part[1:] for part in parts) or "Settings"
    return f"S{name}" if name[0].isdigit() else name


def field_name(setting: str) -> str:
    """A Python name for a setting (the setting's own when it is one)."""
    name = re.sub(r"\W", "_", setting, flags=re.ASCII) or "_"
    if name[0].isdigit():
        name = f"f_{name}"
    if keyword.iskeyword(name) or name in _TAKEN or name.startswith(("model_", "_")):
        name = f"{name.lstrip('_') or 'field'}_"
    return name


def _literal(value: Any) -> str:
    """A JSON value as Python source."""
    return repr(json.loads(json.dumps(value)))


# The module's own names: no class may take one.
_MODULE_NAMES = {"Any", "Dict", "List", "Literal", "Optional", "Union", "SettingsModel", "setting", "SERVICE", "SCHEMA_VERSION", "Settings"}


@dataclass
class _Module:
    classes: list[str] = field(default_factory=list)
    names: set[str] = field(default_factory=lambda: set(_MODULE_NAMES))

    def unique(self, name: str) -> str:
        candidate, number = name, 2
        while candidate in self.names:
            candidate, number = f"{name}{number}", number + 1
        self.names.add(candidate)
        return candidate


def _has_defaults(schema: dict[str, Any]) -> bool:
    """True when the defaults fill this object: every setting has a default or is such an object."""
    properties = schema.get("properties")
    if not isinstance(properties, dict):
        return False
    required = set(schema.get("required") or [])
    for name, child in properties.items():
        if not isinstance(child, dict):
            continue
        if "default" not in child and not _has_defaults(child) and name in required:
            return False
    return True


def _annotation(schema: Any, module: _Module, hint: str) -> str:
    if not isinstance(schema, dict):
        return "Any"
    if "const" in schema:
        return f"Literal[{_literal(schema['const'])}]"
    if isinstance(schema.get("enum"), list) and schema["enum"] and all(isinstance(item, (str, int, bool)) or item is None for item in schema["enum"]):
        values = [item for item in schema["enum"] if item is not None]
        inner = f"Literal[{', '.join(_literal(item) for item in values)}]" if values else "None"
        return f"Optional[{inner}]" if None in schema["enum"] and values else inner
    for combinator in ("anyOf", "oneOf"):
        if isinstance(schema.get(combinator), list):
            members = [_annotation(member, module, f"{hint}Option") for member in schema[combinator]]
            return "Any" if "Any" in members else f"Union[{', '.join(dict.fromkeys(members))}]"
    kinds = schema.get("type")
    kinds = [kinds] if isinstance(kinds, str) else kinds if isinstance(kinds, list) else []
    nullable = "null" in kinds
    kinds = [kind for kind in kinds if kind != "null"]
    if len(kinds) != 1:
        annotation = "Any" if not kinds else f"Union[{', '.join(_annotation({**schema, 'type': kind}, module, hint) for kind in kinds)}]"
    else:
        annotation = _single(kinds[0], schema, module, hint)
    return f"Optional[{annotation}]" if nullable and annotation != "Any" else annotation


def _single(kind: str, schema: dict[str, Any], module: _Module, hint: str) -> str:
    if kind == "integer":
        return "int"
    if kind == "number":
        return "float"
    if kind == "string":
        return "str"
    if kind == "boolean":
        return "bool"
    if kind == "array":
        return f"List[{_annotation(schema.get('items'), module, f'{hint}Item')}]"
    if kind == "object":
        if isinstance(schema.get("properties"), dict) and schema["properties"]:
            return _model(schema, module, hint)
        extra = schema.get("additionalProperties")
        return f"Dict[str, {_annotation(extra, module, f'{hint}Value')}]" if isinstance(extra, dict) else "Dict[str, Any]"
    return "Any"


def _model(schema: dict[str, Any], module: _Module, hint: str) -> str:
    """Writes the model of an object schema (its nested models first); returns its class name."""
    name = module.unique(class_name(hint))
    required = set(schema.get("required") or [])
    lines = [f"class {name}(SettingsModel):"]
    if isinstance(schema.get("description"), str):
        lines.append(f"    {_docstring(schema['description'])}")
    used: set[str] = set()
    for setting, child in sorted(schema["properties"].items()):
        child = child if isinstance(child, dict) else {}
        python_name = field_name(setting)
        while python_name in used:
            python_name += "_"
        used.add(python_name)
        annotation = _annotation(child, module, setting)
        arguments: list[str] = []
        if "default" in child and isinstance(child["default"], dict) and annotation in module.names:
            # An object's default as its model (pydantic does not validate defaults).
            arguments.append(f"factory=lambda: {annotation}(**{_literal(child['default'])})")
        elif "default" in child:
            arguments.append(_literal(child["default"]))
        elif isinstance(child.get("properties"), dict) and _has_defaults(child) and annotation.isidentifier():
            arguments.append(f"factory={annotation}")
        elif setting in required:
            arguments.append("...")
        else:
            if not annotation.startswith("Optional[") and annotation != "Any":
                annotation = f"Optional[{annotation}]"
            arguments.append("None")
        for keyword_name, argument in _BOUNDS:
            if isinstance(child.get(keyword_name), (int, float)) and not isinstance(child.get(keyword_name), bool):
                arguments.append(f"{argument}={child[keyword_name]!r}")
        pattern = child.get("pattern")
        if isinstance(pattern, str) and _python_pattern(pattern):
            arguments.append(f"pattern={pattern!r}")
        if python_name != setting:
            arguments.append(f"alias={setting!r}")
        if isinstance(child.get("description"), str):
            arguments.append(f"description={child['description']!r}")
        lines.append(f"    {python_name}: {annotation} = setting({', '.join(arguments)})")
    if len(lines) == 1:
        lines.append("    pass")
    module.classes.append("\n".join(lines))
    return name


def _python_pattern(pattern: str) -> bool:
    """True when Python's `re` reads the (ECMAScript) pattern; one it cannot is left to the hub's check."""
    try:
        re.compile(pattern)
    except re.error:
        return False
    return True


def _docstring(text: str) -> str:
    return '"""' + text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"') + '"""'


def generate(service: str, version: int, schema: dict[str, Any]) -> str:
    """The settings module of a service's schema version."""
    module = _Module()
    if not isinstance(schema.get("properties"), dict):
        schema = {**schema, "properties": {}}
    top = _model(schema, module, f"{class_name(service)}Settings")
    header = f'''"""Settings of {service}, from its JSON Schema version {version} on the hub.

Written by confighub-types: do not edit. Run `confighub-types {service} --out <this file>` after the
schema changes; `--check <this file>` exits 6 when it is out of date.

    client = ConfigClient({service!r}, schema={top})
    client.settings  # a {top}
"""

from typing import Any, Dict, List, Literal, Optional, Union

from confighub import SettingsModel, setting

SERVICE = {service!r}
SCHEMA_VERSION = {version}
'''
    body = "\n\n\n".join(module.classes)
    return f"{header}\n\n{body}\n\n\nSettings = {top}\n"


def fetch_schema(url: str, token: str | None, service: str, version: int | None, timeout: float = DEFAULT_TIMEOUT) -> tuple[int, dict[str, Any]]:
    """The schema the hub keeps for a service (its newest, or `version`)."""
    headers = {"content-type": "application/json", **({"authorization": f"Bearer {token}"} if token else {})}
    endpoint = graphql_endpoint(url)
    try:
        response = httpx.post(endpoint, headers=headers, timeout=timeout, content=json.dumps({"query": SERVICE_SCHEMA, "variables": {"service": service, "version": version}}))
    except httpx.TimeoutException as error:
        raise HubRequestError(f"the hub at {endpoint} did not answer within {timeout:g} s", "TIMEOUT") from error
    except httpx.HTTPError as error:
        raise HubRequestError(f"cannot reach the hub at {endpoint}: {error or type(error).__name__}", "NETWORK") from error
    data = answer(response.status_code, response.reason_phrase, response.text)
    found = data.get("configSchema")
    if not isinstance(found, dict) or not isinstance(found.get("schema"), dict):
        raise LookupError(f"{service} has no schema{f' version {version}' if version else ''} on the hub")
    return int(found["version"]), found["schema"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="confighub-types", description="Write a pydantic settings module from a service's JSON Schema on the hub.")
    parser.add_argument("service")
    parser.add_argument("--url", default=os.environ.get("CONFIGHUB_URL", "http://127.0.0.1:4000"), help="the hub (default CONFIGHUB_URL or http://127.0.0.1:4000)")
    parser.add_argument("--token", default=os.environ.get("CONFIGHUB_TOKEN"), help="an API token (default CONFIGHUB_TOKEN)")
    parser.add_argument("--schema-version", type=int, help="a given version of the schema (default the newest)")
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--out", help="write the module to this file (default: standard output)")
    target.add_argument("--check", help="exit 6 when this file is not what would be written now")
    arguments = parser.parse_args(argv)
    try:
        version, schema = fetch_schema(arguments.url, arguments.token, arguments.service, arguments.schema_version)
    except LookupError as error:
        print(f"confighub-types: {error}", file=sys.stderr)
        return EXIT_NOT_FOUND
    except HubRequestError as error:
        print(f"confighub-types: {error}", file=sys.stderr)
        return EXIT_AUTH if error.code in ("UNAUTHENTICATED", "FORBIDDEN") else EXIT_UNREACHABLE if error.retryable else EXIT_USAGE
    text = generate(arguments.service, version, schema)
    if arguments.check:
        try:
            with open(arguments.check, encoding="utf-8") as handle:
                current = handle.read()
        except OSError as error:
            print(f"confighub-types: cannot read {arguments.check}: {error.strerror}", file=sys.stderr)
            return EXIT_OUT_OF_DATE
        if current != text:
            print(f"confighub-types: {arguments.check} is out of date: the hub has schema version {version} of {arguments.service}", file=sys.stderr)
            return EXIT_OUT_OF_DATE
        print(f"{arguments.check} is up to date (schema version {version})", file=sys.stderr)
        return 0
    if arguments.out:
        temporary = f"{arguments.out}.{os.getpid()}.tmp"
        with open(temporary, "w", encoding="utf-8") as handle:
            handle.write(text)
        os.replace(temporary, arguments.out)
        print(f"wrote {arguments.out} (schema version {version} of {arguments.service})", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
