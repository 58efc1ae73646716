"""TLS 1.2 as Windows Server 2016-2022 really leave it, judged by preflight.

Sources: Microsoft Learn, "Prerequisites for Microsoft Entra Cloud Sync", section "TLS
requirements" (the values it asks for), and "Transport Layer Security (TLS) registry settings"
(https://learn.microsoft.com/windows-server/security/tls/tls-registry-settings: the SCHANNEL
values only override the OS default, under which TLS 1.2 is on since Windows Server 2016; the
same page's examples write ``Enabled=0xFFFFFFFF``, a REG_DWORD that PowerShell reads as -1).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from bot.blocks.words import facts_line
from simulator.pwsh.testing import run_encoded
from simulator.world import build_world
from tests.runbook.conftest import SimEnv
from workers.runbook.fleet import collect_preflight
from workers.runbook.preflight import evaluate, tls12_state
from workers.runbook.steps import DOTNET32_KEY

BASE: dict[str, Any] = {
    "os_caption": "Microsoft Windows Server 2022 Datacenter",
    "os_version": "10.0.20348",
    "installation_type": "Server",
    "dotnet_release": 533320,
    "execution_policy": "RemoteSigned",
    "vaultsvc_start_type": "Manual",
    "agent_installed": False,
    "free_disk_bytes": 50 << 30,
    # what the preflight script reports when no TLS value exists
    "tls12_client_enabled": None,
    "tls12_client_disabled_by_default": None,
    "tls12_server_enabled": None,
    "tls12_server_disabled_by_default": None,
    "sch_use_strong_crypto": None,
    "sch_use_strong_crypto_wow64": None,
}
SET = {
    "tls12_client_enabled": 1,
    "tls12_client_disabled_by_default": 0,
    "tls12_server_enabled": 1,
    "tls12_server_disabled_by_default": 0,
    "sch_use_strong_crypto": 1,
}


def test_keys_absent_is_a_warning_quoting_the_prerequisite() -> None:
    verdict = evaluate(BASE)
    assert verdict.ok and not verdict.blockers
    (warning,) = verdict.warnings
    assert "not set" in warning.what and "by default" in warning.what
    assert "TLS requirements" in warning.fix and "SchUseStrongCrypto=1" in warning.fix


@pytest.mark.parametrize(
    "change",
    [
        {"tls12_client_enabled": 0},
        {"tls12_server_enabled": 0},
        {"tls12_client_disabled_by_default": 1},
        {"tls12_server_disabled_by_default": 1},
        {"sch_use_strong_crypto": 0},
        {"sch_use_strong_crypto_wow64": 0},
    ],
)
def test_explicitly_disabled_blocks(change: dict[str, Any]) -> None:
    verdict = evaluate({**BASE, **SET, **change})
    assert not verdict.ok
    assert "explicitly disabled" in verdict.blockers[0].what
    assert "TLS 1.2\\Client" in verdict.blockers[0].fix


def test_any_nonzero_enabled_is_on() -> None:
    # 0xFFFFFFFF as PowerShell reads the DWORD
    facts = {**BASE, **SET, "tls12_client_enabled": -1, "tls12_server_enabled": -1}
    assert tls12_state(facts) == "enabled"
    assert evaluate(facts).ok and not evaluate(facts).warnings


def test_card_names_the_case() -> None:
    assert "TLS 1.2: on by OS default" in facts_line(BASE)
    assert "TLS 1.2: on (registry values set)" in facts_line({**BASE, **SET})
    assert "TLS 1.2: OFF (explicitly disabled" in facts_line(
        {**BASE, **SET, "tls12_server_enabled": 0}
    )


def test_simulated_registry_defaults_and_variants() -> None:
    tls = "HKLM:\\SYSTEM\\CurrentControlSet\\Control\\SecurityProviders\\SCHANNEL\\Protocols\\TLS 1.2\\Client"  # noqa: E501
    script = f"Test-Path -Path '{tls}'; (Get-ItemProperty '{DOTNET32_KEY}').SchUseStrongCrypto"

    def run(**spec: Any) -> str:
        world = build_world({"hosts": [{"name": "SIM01", "startup_cost_s": 0, **spec}]})
        return str(run_encoded(world.hosts["SIM01"], script).stdout)

    assert run() == "False\r\n"  # Windows Server 2022 as shipped: no SCHANNEL TLS 1.2 key
    assert run(tls12="enabled") == "True\r\n1\r\n"
    assert run(tls12="disabled") == "True\r\n"
    world = build_world(
        {"hosts": [{"name": "SIM01", "tls12": True, "tls12_enabled_value": 0xFFFFFFFF}]}
    )
    assert run_encoded(world.hosts["SIM01"], f"(Get-ItemProperty '{tls}').Enabled").stdout == (
        "-1\r\n"
    )


def test_default_2022_host_passes_preflight_with_a_warning(
    sim_env: Callable[..., SimEnv],
) -> None:
    env = sim_env([{"name": "SYNC01"}, {"name": "OLDTLS01", "tls12": "disabled"}])
    good = collect_preflight(env.config, env.secrets, "SYNC01")
    assert good.ok, good
    assert good.facts["tls12_client_enabled"] is None
    assert good.facts["sch_use_strong_crypto_wow64"] is None
    assert any("TLS 1.2 registry values are not set" in w.what for w in good.warnings)
    bad = collect_preflight(env.config, env.secrets, "OLDTLS01")
    assert not bad.ok
    assert any("TLS 1.2 is explicitly disabled" in b.what for b in bad.blockers)
