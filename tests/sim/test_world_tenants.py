"""A simulated world of several tenants: each configured tenant gets a simulated tenant of its
own (its own agents and registration windows), so registrations of different tenants may run at
once without the quarantine a shared tenant answers to overlapping registrations."""

from __future__ import annotations

from pathlib import Path

from bench.stack import make_config
from bot.local.sim_world import simulated_world
from simulator.world import build_world
from workers.domain.config import load_config
from workers.domain.secrets import SecretsProvider


def test_hosts_belong_to_their_named_tenant() -> None:
    world = build_world(
        {
            "tenants": {"a": {}, "b": {}},
            "hosts": [{"name": "A1", "tenant": "a"}, {"name": "B1", "tenant": "b"}, {"name": "X1"}],
        }
    )
    assert world.hosts["A1"].tenant is world.tenants["a"]
    assert world.hosts["B1"].tenant is world.tenants["b"]
    assert world.hosts["X1"].tenant is world.tenant  # no tenant named: the default one
    world.tenants["a"].open_window("A1", "s1")
    world.tenants["b"].open_window("B1", "s2")
    assert world.tenants["b"].earlier_overlapping("B1", "s2") is None  # not the same tenant


def test_a_config_of_several_tenants_simulates_each(tmp_path: Path) -> None:
    hosts = {"T2H1": {"simulated": True, "tenant": "northwind"}}
    config = load_config(make_config(tmp_path / "config", hosts, ("northwind",)))
    scenario = simulated_world(config, SecretsProvider(config))
    assert set(scenario["tenants"]) == {"contoso", "northwind"}
    by_name = {h["name"]: h for h in scenario["hosts"]}
    assert by_name["T2H1"]["tenant"] == "northwind"
    assert by_name["SYNC01"]["tenant"] == "contoso"
    world = build_world(scenario)
    assert world.hosts["T2H1"].tenant is not world.hosts["SYNC01"].tenant
