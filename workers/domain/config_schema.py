"""The shape of each configuration file, checked before any value is read.

A misspelt key must not quietly become a default: ``host_tag:`` instead of ``host_tags:`` would
turn an approver rule into "any host", ``transprt:`` would fall back to the default transport.
So every mapping lists its keys, and an unknown key, a value of the wrong type or a missing
required key refuses the start with the file, the key path (``policy.approvers[0].host_tag``)
and the keys allowed there.

Why a small hand-written schema and not pydantic or jsonschema: neither is a dependency, the
three files are small, and the messages must say in plain words what to fix at which key path.
The schema checks *shape* only; ``config.py`` still checks values (names, patterns, choices).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


class SchemaError(ValueError):
    """The data does not have the shape of its file; ``str()`` is the whole message."""


@dataclass(frozen=True)
class Str:
    """A string (YAML turns unquoted ``0123`` or ``yes`` into other types: quote them)."""

    def describe(self) -> str:
        return "a string"


@dataclass(frozen=True)
class Int:
    def describe(self) -> str:
        return "a whole number"


@dataclass(frozen=True)
class Number:
    def describe(self) -> str:
        return "a number"


@dataclass(frozen=True)
class Bool:
    def describe(self) -> str:
        return "true or false"


@dataclass(frozen=True)
class ListOf:
    item: Schema

    def describe(self) -> str:
        return f"a list of {_plural(self.item)}"


@dataclass(frozen=True)
class MapOf:
    """A mapping whose keys are names chosen by the operator (hosts, tenants, secrets, ...)."""

    value: Schema

    def describe(self) -> str:
        return "a mapping of names"


@dataclass(frozen=True)
class FreeMap:
    """A mapping whose keys belong to another component (a simulated host's scenario)."""

    def describe(self) -> str:
        return "a mapping"


@dataclass(frozen=True)
class Key:
    schema: Schema
    required: bool = False
    nullable: bool = False  # an empty value (``KEY:``) is allowed and means "absent"


@dataclass(frozen=True)
class Fields:
    """A mapping with a fixed set of keys."""

    keys: dict[str, Key] = field(default_factory=dict)
    nullable: bool = False  # the whole mapping may be empty (``SYNC01:``)

    def describe(self) -> str:
        return "a mapping"


Schema = Str | Int | Number | Bool | ListOf | MapOf | FreeMap | Fields


def _plural(schema: Schema) -> str:
    return {
        Str: "strings",
        Int: "whole numbers",
        Number: "numbers",
        Bool: "booleans",
    }.get(type(schema), "mappings")


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _type_name(value: Any) -> str:
    if value is None:
        return "empty"
    return {
        bool: "a boolean",
        int: "a number",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "a mapping",
    }.get(type(value), type(value).__name__)


def check(data: Any, schema: Schema, file: Path | str, path: str = "") -> None:
    """Raise :class:`SchemaError` naming ``file: path`` at the first place ``data`` is off."""
    where = f"{file}: {path or '(top level)'}"

    def wrong() -> SchemaError:
        return SchemaError(f"{where}: must be {schema.describe()}, not {_type_name(data)}")

    if isinstance(schema, Str):
        if not isinstance(data, str):
            raise SchemaError(
                f"{where}: must be {schema.describe()}, not {_type_name(data)} "
                "(quote the value in YAML)"
            )
    elif isinstance(schema, Int):
        if isinstance(data, bool) or not isinstance(data, int):
            raise wrong()
    elif isinstance(schema, Number):
        if isinstance(data, bool) or not isinstance(data, int | float):
            raise wrong()
    elif isinstance(schema, Bool):
        if not isinstance(data, bool):
            raise wrong()
    elif isinstance(schema, ListOf):
        if not isinstance(data, list):
            raise wrong()
        for i, item in enumerate(data):
            check(item, schema.item, file, f"{path}[{i}]")
    elif isinstance(schema, MapOf):
        if not isinstance(data, Mapping):
            raise wrong()
        for name, value in data.items():
            if not isinstance(name, str):
                raise SchemaError(f"{where}: the name {name!r} must be a string (quote it in YAML)")
            check(value, schema.value, file, _join(path, name))
    elif isinstance(schema, FreeMap):
        if not isinstance(data, Mapping):
            raise wrong()
    else:
        _check_fields(data, schema, file, path, where)


def _check_fields(data: Any, schema: Fields, file: Path | str, path: str, where: str) -> None:
    if data is None and schema.nullable:
        return
    if not isinstance(data, Mapping):
        raise SchemaError(f"{where}: must be a mapping, not {_type_name(data)}")
    allowed = ", ".join(sorted(schema.keys))
    for key in data:
        if key not in schema.keys:
            raise SchemaError(f"{file}: {_join(path, str(key))}: unknown key; allowed: {allowed}")
    for key, spec in schema.keys.items():
        if key not in data:
            if spec.required:
                raise SchemaError(f"{file}: {_join(path, key)}: is required")
            continue
        value = data[key]
        if value is None and spec.nullable:
            continue
        if value is None and not isinstance(spec.schema, Fields):
            raise SchemaError(
                f"{file}: {_join(path, key)}: is empty; give {spec.schema.describe()} "
                "or remove the key"
            )
        check(value, spec.schema, file, _join(path, key))


# --- the three files ----------------------------------------------------------------------

_NAMES = ListOf(Str())

INSTALLER = Fields(
    {
        "source": Key(Str()),  # push (default) | share | url
        "path": Key(Str()),  # push: the installer's file on the worker
        "share_path": Key(Str()),  # share: \\server\share\...\AADConnectProvisioningAgentSetup.exe
        "share_credential": Key(Str()),  # share: secret name that may read the share
        "url": Key(Str()),  # url: https://... (no credentials, no Windows authentication)
        "sha256": Key(Str(), required=True),
        "signer": Key(Str()),
        "root_thumbprints": Key(ListOf(Str())),  # SHA-1 thumbprints beside Microsoft's roots
        "staging_dir": Key(Str()),
    }
)

TENANT = Fields(
    {
        "cloud": Key(Str()),
        "entra_admin": Key(Str(), required=True),
        "global_admin": Key(Str(), nullable=True),
        "enterprise_admin": Key(Str(), nullable=True),
        "forest_admin": Key(Str(), nullable=True),
        "domains": Key(MapOf(Fields({"admin": Key(Str(), required=True)}))),
        "installer": Key(INSTALLER, required=True),
        "kerberos_realm": Key(Str()),
    }
)

HOST = Fields(
    {
        "address": Key(Str()),
        "port": Key(Int()),
        "scheme": Key(Str()),
        "transport": Key(Str()),
        "message_encryption": Key(Str()),
        "cert_validation": Key(Str()),
        "ca_trust_path": Key(Str()),
        "credential": Key(Str()),
        "tenant": Key(Str()),
        "tags": Key(_NAMES),
        "simulated": Key(Bool()),
        "fqdn": Key(Str()),
        "installer_source": Key(Str()),  # overrides the tenant's installer source here
        "sim": Key(FreeMap()),  # the simulator's host scenario: its keys are the simulator's
    },
    nullable=True,
)

INVENTORY = Fields(
    {
        "tenants": Key(MapOf(TENANT), required=True),
        "hosts": Key(MapOf(HOST), required=True),
    }
)

_USERS_AND_GROUPS = Fields({"users": Key(_NAMES), "groups": Key(_NAMES)})

APPROVER_RULE = Fields({"users": Key(_NAMES), "groups": Key(_NAMES), "host_tags": Key(_NAMES)})

POLICY_FILE = Fields(
    {
        "users": Key(MapOf(Str())),  # Slack user id -> display name
        "channels": Key(MapOf(Str())),  # channel id -> name
        "policy": Key(
            Fields(
                {
                    "requesters": Key(_USERS_AND_GROUPS),
                    "approvers": Key(ListOf(APPROVER_RULE), required=True),
                    "approvals_needed": Key(Int()),
                    "approval_expiry_minutes": Key(Number()),
                    "channels": Key(_NAMES),
                    "group_cache_seconds": Key(Number()),
                    "max_hosts_per_request": Key(Int()),
                    "readers": Key(_USERS_AND_GROUPS, nullable=True),
                    # fleet watch: healthy agents a tenant needs, and where its notices go
                    "min_healthy_agents": Key(Int()),
                    "watch_channel": Key(Str()),
                }
            ),
            required=True,
        ),
    }
)

SECRETS_FILE = Fields(
    {
        "secrets": Key(
            MapOf(
                Fields({"user": Key(Str(), required=True), "password": Key(Str(), required=True)})
            ),
            required=True,
        )
    }
)
