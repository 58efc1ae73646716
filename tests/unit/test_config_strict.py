"""Strict configuration: unknown keys, wrong types and missing required keys refuse the start,
naming the file, the key path and the keys allowed there."""

from __future__ import annotations

import copy
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from workers.domain import config_schema as schema
from workers.domain.config import REPO_ROOT, ConfigError, load_config

DEMO = REPO_ROOT / "config" / "demo"
EXAMPLE = REPO_ROOT / "config" / "example"
FILES = {
    "inventory.yaml": schema.INVENTORY,
    "policy.yaml": schema.POLICY_FILE,
    "secrets.yaml": schema.SECRETS_FILE,
}


def _demo_copy(target: Path, mutate: Callable[[dict[str, dict[str, Any]]], None]) -> Path:
    shutil.copytree(DEMO, target, dirs_exist_ok=True)
    data = {name: yaml.safe_load((DEMO / name).read_text()) for name in FILES}
    mutate(data)
    for name, content in data.items():
        (target / name).write_text(yaml.safe_dump(content), encoding="utf-8")
    return target


def _refused(tmp_path: Path, mutate: Callable[[dict[str, dict[str, Any]]], None]) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(_demo_copy(tmp_path / "cfg", mutate))
    return str(info.value)


@pytest.mark.parametrize("folder", [DEMO, EXAMPLE], ids=["demo", "example"])
def test_the_shipped_configurations_load(folder: Path) -> None:
    assert load_config(folder).hosts


def test_a_misspelt_approver_key_is_refused_not_any_host(tmp_path: Path) -> None:
    def mutate(d: dict[str, dict[str, Any]]) -> None:
        d["policy.yaml"]["policy"]["approvers"][0]["host_tag"] = ["lab"]

    message = _refused(tmp_path, mutate)
    assert "policy.yaml: policy.approvers[0].host_tag: unknown key" in message
    assert "allowed: groups, host_tags, users" in message


def test_a_misspelt_transport_is_refused(tmp_path: Path) -> None:
    def mutate(d: dict[str, dict[str, Any]]) -> None:
        d["inventory.yaml"]["hosts"]["SYNC01"]["transprt"] = "kerberos"

    message = _refused(tmp_path, mutate)
    assert "inventory.yaml: hosts.SYNC01.transprt: unknown key" in message
    assert "transport" in message


@pytest.mark.parametrize(
    ("file", "keys", "value", "expected"),
    [
        (
            "inventory.yaml",
            ["hosts", "SYNC01", "port"],
            "59x5",
            "hosts.SYNC01.port: must be a whole",
        ),
        ("inventory.yaml", ["hosts", "SYNC01", "port"], True, "hosts.SYNC01.port: must be a whole"),
        (
            "inventory.yaml",
            ["hosts", "SYNC01", "port"],
            70000,
            "hosts.SYNC01.port: must be between",
        ),
        ("inventory.yaml", ["hosts", "SYNC01", "simulated"], "yes", "simulated: must be true or"),
        ("inventory.yaml", ["hosts", "SYNC01", "tags"], "prod", "tags: must be a list of strings"),
        (
            "inventory.yaml",
            ["tenants", "contoso", "installer"],
            None,
            "installer: must be a mapping",
        ),
        ("policy.yaml", ["policy", "approvals_needed"], "two", "approvals_needed: must be a whole"),
        ("policy.yaml", ["policy", "approvers"], {"users": ["U1"]}, "approvers: must be a list"),
        ("policy.yaml", ["policy", "readers"], ["U01ALICE"], "policy.readers: must be a mapping"),
        (
            "policy.yaml",
            ["policy", "readers", "users"],
            "U01ALICE",
            "readers.users: must be a list",
        ),
        ("policy.yaml", ["policy", "channels"], None, "policy.channels: is empty"),
        ("secrets.yaml", ["secrets", "winrm", "user"], 12, "secrets.winrm.user: must be a string"),
    ],
)
def test_wrong_types_are_refused_with_their_path(
    tmp_path: Path, file: str, keys: list[str], value: Any, expected: str
) -> None:
    def mutate(d: dict[str, dict[str, Any]]) -> None:
        node = d[file]
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = value

    message = _refused(tmp_path, mutate)
    assert f"{file}: " in message and expected in message


@pytest.mark.parametrize(
    ("file", "keys", "expected"),
    [
        (
            "inventory.yaml",
            ["tenants", "contoso", "entra_admin"],
            "contoso.entra_admin: is required",
        ),
        ("inventory.yaml", ["tenants", "contoso", "installer", "sha256"], "sha256: is required"),
        ("inventory.yaml", ["hosts"], "inventory.yaml: hosts: is required"),
        ("policy.yaml", ["policy", "approvers"], "policy.yaml: policy.approvers: is required"),
        ("secrets.yaml", ["secrets", "winrm", "password"], "winrm.password: is required"),
    ],
)
def test_missing_required_keys_are_refused(
    tmp_path: Path, file: str, keys: list[str], expected: str
) -> None:
    def mutate(d: dict[str, dict[str, Any]]) -> None:
        node = d[file]
        for key in keys[:-1]:
            node = node[key]
        del node[keys[-1]]

    assert expected in _refused(tmp_path, mutate)


def test_readers_are_optional_and_parsed(tmp_path: Path) -> None:
    def mutate(d: dict[str, dict[str, Any]]) -> None:
        d["policy.yaml"]["policy"]["readers"] = {"users": ["U01ALICE"], "groups": ["S1"]}

    config = load_config(_demo_copy(tmp_path / "cfg", mutate))
    assert config.policy.readers == ("U01ALICE",) and config.policy.reader_groups == ("S1",)
    assert load_config(DEMO).policy.readers is None


def test_an_approver_rule_naming_nobody_is_refused(tmp_path: Path) -> None:
    def mutate(d: dict[str, dict[str, Any]]) -> None:
        d["policy.yaml"]["policy"]["approvers"].append({"host_tags": ["lab"]})

    assert "policy.approvers[1]: names no approver" in _refused(tmp_path, mutate)


# --- property: a random unknown key at any level is refused with its path ----------------


def _mappings(data: Any, shape: schema.Schema, path: str) -> Iterator[tuple[str, list[Any]]]:
    """(key path, route of keys) of every fixed-key mapping present in ``data``."""
    if isinstance(shape, schema.Fields) and isinstance(data, dict):
        yield path, []
        for key, spec in shape.keys.items():
            if key in data:
                for sub, route in _mappings(data[key], spec.schema, _join(path, key)):
                    yield sub, [key, *route]
    elif isinstance(shape, schema.MapOf) and isinstance(data, dict):
        for name, value in data.items():
            if isinstance(shape.value, schema.Fields) and value is None:
                value = data[name] = {}  # a bare ``SYNC01:`` is a mapping too
            for sub, route in _mappings(value, shape.value, _join(path, name)):
                yield sub, [name, *route]
    elif isinstance(shape, schema.ListOf) and isinstance(data, list):
        for i, item in enumerate(data):
            for sub, route in _mappings(item, shape.item, f"{path}[{i}]"):
                yield sub, [i, *route]


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


DEMO_DATA = {name: yaml.safe_load((DEMO / name).read_text()) for name in FILES}
LOCATIONS = [
    (file, path, route)
    for file, shape in FILES.items()
    for path, route in _mappings(copy.deepcopy(DEMO_DATA[file]), shape, "")
]


def _allowed_at(file: str, route: list[Any]) -> set[str]:
    shape: Any = FILES[file]
    for step in route:
        if isinstance(shape, schema.Fields):
            shape = shape.keys[step].schema
        elif isinstance(shape, schema.MapOf):
            shape = shape.value
        else:
            shape = shape.item
    return set(shape.keys)


def test_the_property_reaches_every_level() -> None:
    paths = {path for _, path, _ in LOCATIONS}
    assert {"", "hosts.SYNC01", "tenants.contoso.installer", "policy.approvers[0]"} <= paths
    assert {"policy.requesters", "secrets.winrm", "tenants.contoso.domains.contoso.com"} <= paths


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    where=st.sampled_from(LOCATIONS),
    key=st.text(st.characters(codec="ascii", categories=["L", "N", "Pc"]), min_size=1, max_size=12),
)
def test_a_random_unknown_key_at_any_level_is_refused_with_its_path(
    where: tuple[str, str, list[Any]], key: str
) -> None:
    file, path, route = where
    if key in _allowed_at(file, route):
        key = key + "_x"

    def mutate(d: dict[str, dict[str, Any]]) -> None:
        node: Any = d[file]
        for step in route:
            if node[step] is None:
                node[step] = {}
            node = node[step]
        node[key] = "x"

    with tempfile.TemporaryDirectory() as tmp, pytest.raises(ConfigError) as info:
        load_config(_demo_copy(Path(tmp) / "cfg", mutate))
    assert f"{file}: {_join(path, key)}: unknown key; allowed: " in str(info.value)
