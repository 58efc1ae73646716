"""A simulated World from a scenario: the tenant plus hosts, each wired to the PowerShell engine.

The one place that knows both the model (``simulator.host``) and the engine
(``simulator.pwsh.process``), so neither imports the other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .host import SimHost, Tenant
from .pwsh.process import process_factory


@dataclass
class World:
    tenant: Tenant
    hosts: dict[str, SimHost] = field(default_factory=dict)
    tenants: dict[str, Tenant] = field(default_factory=dict)  # more tenants, by name


HOST_KEYS_FOR_SERVER = ("listen", "https", "allow_basic", "accounts", "operation_quota")


def build_world(scenario: dict[str, Any]) -> World:
    """A tenant plus hosts from a scenario dict (unknown host keys belong to the server).

    ``tenants`` (name -> tenant spec) adds tenants of their own, each with its own agents and
    registration windows; a host with ``tenant: NAME`` belongs to that one, any other host to
    ``tenant``."""
    world = World(tenant=Tenant(scenario.get("tenant")))
    world.tenants = {str(n): Tenant(t) for n, t in (scenario.get("tenants") or {}).items()}
    for h in scenario.get("hosts") or [{"name": "SIM01"}]:
        spec = {k: v for k, v in h.items() if k not in HOST_KEYS_FOR_SERVER}
        tenant = world.tenants.get(str(spec.get("tenant", "")), world.tenant)
        for upn in spec.get("mfa_for", []) or []:
            acct = tenant.account(upn)
            if acct is not None:
                acct["mfa_required"] = True
        host = SimHost(spec.get("name", "SIM01"), tenant, spec, process_factory)
        world.hosts[host.name] = host
    return world


def default_world(name: str = "SIM01", **state: Any) -> World:
    """One host with the defaults, host keys overridable (e.g. startup_cost_s=0)."""
    tenant_spec = state.pop("tenant", None)
    return build_world({"tenant": tenant_spec, "hosts": [{"name": name, **state}]})


STATE_VERSION = 1


def world_state(world: World) -> dict[str, Any]:
    """The state a restart should find again (``SimHost.state``, ``Tenant.state``), as JSON."""
    return {
        "version": STATE_VERSION,
        "tenant": world.tenant.state(),
        "tenants": {name: t.state() for name, t in world.tenants.items()},
        "hosts": {name: h.state() for name, h in world.hosts.items()},
    }


def restore_world(world: World, state: dict[str, Any]) -> tuple[list[str], list[str]]:
    """Apply a saved :func:`world_state`: the hosts restored, and those left fresh because
    their scenario spec changed since (or they are new). The tenants keep their agents as
    Entra would, whatever happened to a server."""
    if state.get("version") != STATE_VERSION:
        return [], sorted(world.hosts)
    world.tenant.restore(state.get("tenant") or {})
    for name, tenant in world.tenants.items():
        tenant.restore((state.get("tenants") or {}).get(name) or {})
    saved = state.get("hosts") or {}
    restored, fresh = [], []
    for name, host in sorted(world.hosts.items()):
        if name in saved and host.restore(saved[name]):
            restored.append(name)
        else:
            fresh.append(name)
    return restored, fresh
