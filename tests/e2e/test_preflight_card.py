"""Preflight problems reach the approval card in plain words with their fix, through the real
stack (Bolt over HTTP, Redis, a Celery worker, simulated hosts, loopback Slack): a forest without
a KDS root key, a Group Policy execution policy, Entra Connect Sync on the same server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.harness import E2EStack, start_stack
from tests.e2e.slack_helpers import buttons, wait_card

HOSTS: dict[str, Any] = {
    "GPO01": {"simulated": True, "sim": {"execution_policies": {"MachinePolicy": "Unrestricted"}}},
    "ADSYNC01": {"simulated": True, "sim": {"adsync": True}},
    "NOKDS01": {"simulated": True},
}


def _hosts(inventory: dict, policy: dict) -> None:  # type: ignore[type-arg]
    inventory["hosts"].update(HOSTS)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[E2EStack]:
    e2e = start_stack(tmp_path_factory.mktemp("preflight"), _hosts)
    try:
        yield e2e
    finally:
        e2e.stop()


def _approve_button(message: Any) -> bool:
    return any(b.get("action_id") == "approve" for b in buttons(message))


def test_group_policy_execution_policy_blocks_with_the_gpo_fix(stack: E2EStack) -> None:
    request = stack.submit("alice", "install GPO01 --domain contoso.com")
    message = wait_card(
        stack,
        request.id,
        "PowerShell execution policy is Unrestricted, set by Group Policy (MachinePolicy)",
        "Set-ExecutionPolicy cannot override Group Policy",
        "Turn on Script Execution",
    )
    assert not _approve_button(message)


def test_connect_sync_on_the_server_is_a_warning(stack: E2EStack) -> None:
    request = stack.submit("alice", "install ADSYNC01 --domain contoso.com")
    message = wait_card(
        stack,
        request.id,
        "Microsoft Entra Connect Sync is installed on this server (ADSync service Running)",
        "mutually exclusive scoping filters",
    )
    assert _approve_button(message)


def test_no_kds_root_key_blocks_with_the_fix(stack: E2EStack) -> None:
    assert stack.local.stack.sim is not None
    world = stack.local.stack.sim.world  # the demo configures two tenants: each its own forest
    forest = world.tenants["contoso"].domains["contoso.com"]
    forest["kds_root_key"] = False  # the forest's key removed (the simulator's world knob)
    try:
        request = stack.submit("alice", "install NOKDS01 --domain contoso.com")
    finally:
        forest["kds_root_key"] = True
    message = wait_card(
        stack,
        request.id,
        "no KDS root key was found in the forest",
        "Add-KdsRootKey -EffectiveTime ((Get-Date).AddHours(-10))",
    )
    assert not _approve_button(message)
