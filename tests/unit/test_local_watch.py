"""The fleet watch in the local console: the schedule the housekeeping thread keeps (as beat's
``watch-fleet`` entry), the ``:sim`` commands that change a simulated agent, and the inventory's
``sim: {kds_root_key: false}`` reaching the simulated forest."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any

from bench.stack import make_config
from bot.local.fleet_watch import FIRST_ROUND_S, RoundResult, WatchTicker
from bot.local.sim_commands import sim_command
from bot.local.sim_world import simulated_world
from simulator.host import AGENT_SERVICE
from simulator.world import build_world
from workers.domain.config import load_config
from workers.domain.secrets import SecretsProvider
from workers.watch.detector import HostWatch


def test_the_first_round_comes_soon_then_one_per_interval() -> None:
    ticker = WatchTicker(300.0, start=1000.0)
    assert not ticker.due(1000.0 + FIRST_ROUND_S - 0.1)
    assert ticker.due(1000.0 + FIRST_ROUND_S)
    assert not ticker.due(1000.0 + FIRST_ROUND_S + 299.0)
    assert ticker.due(1000.0 + FIRST_ROUND_S + 300.0)
    # a long pause (a suspended laptop) gives one round, not the ones it missed
    assert ticker.due(1000.0 + 5000.0)
    assert not ticker.due(1000.0 + 5001.0)


def test_interval_zero_turns_the_watch_off() -> None:
    ticker = WatchTicker(0.0, start=0.0)
    assert not any(ticker.due(float(t)) for t in range(0, 10_000, 7))


def test_a_short_interval_comes_before_the_first_round_delay() -> None:
    ticker = WatchTicker(1.0, start=0.0)
    assert ticker.due(1.0) and ticker.due(2.0)


def _world_stack(**spec: Any) -> Any:
    world = build_world({"hosts": [{"name": "SYNC01", "startup_cost_s": 0, **spec}]})
    return SimpleNamespace(sim=SimpleNamespace(world=world))  # LocalStack's sim, its world only


def test_sim_stop_and_start_agent() -> None:
    stack = _world_stack(agent_installed={"gmsa": "contoso\\pGMSA_t$"})
    host = stack.sim.world.hosts["SYNC01"]
    assert "Stopped now" in sim_command(stack, ["stop-agent", "sync01"])
    assert host.service(AGENT_SERVICE).status == "Stopped"
    assert host.service(AGENT_SERVICE).pid == 0  # its process ended
    assert "Running now" in sim_command(stack, ["start-agent", "SYNC01"])
    assert host.service(AGENT_SERVICE).status == "Running"


def test_sim_command_refusals() -> None:
    stack = _world_stack()
    assert sim_command(stack, ["stop-agent"]).startswith("(usage:")
    assert sim_command(stack, ["reboot", "SYNC01"]).startswith("(usage:")
    assert "no simulated host 'NOPE'" in sim_command(stack, ["stop-agent", "NOPE"])
    assert "no agent service" in sim_command(stack, ["stop-agent", "SYNC01"])
    assert "no simulated hosts" in sim_command(SimpleNamespace(sim=None), ["stop-agent", "X"])


def test_inventory_sim_kds_root_key_false_reaches_the_forest(tmp_path: Path) -> None:
    hosts = {"NOKDS01": {"simulated": True, "sim": {"kds_root_key": False}}}
    config = load_config(make_config(tmp_path / "config", hosts))
    scenario = simulated_world(config, SecretsProvider(config))
    assert all(not d["kds_root_key"] for d in scenario["tenant"]["domains"].values())
    assert "kds_root_key" not in next(h for h in scenario["hosts"] if h["name"] == "NOKDS01")
    world = build_world(scenario)
    forest = world.hosts["SYNC01"].tenant  # one forest: every host of the tenant sees it
    assert forest.domains[forest.forest_root]["kds_root_key"] is False


def test_the_kds_root_key_stays_by_default_and_per_tenant(tmp_path: Path) -> None:
    hosts = {"NOKDS01": {"simulated": True, "tenant": "northwind", "sim": {"kds_root_key": False}}}
    config = load_config(make_config(tmp_path / "config", hosts, ("northwind",)))
    world = build_world(simulated_world(config, SecretsProvider(config)))
    north, contoso = world.hosts["NOKDS01"].tenant, world.hosts["SYNC01"].tenant
    assert north.domains[north.forest_root]["kds_root_key"] is False
    assert contoso.domains[contoso.forest_root]["kds_root_key"] is True


def test_the_round_line_says_what_was_read_and_posted() -> None:
    running = HostWatch(stable={"reach": "reachable", "service": "Running"})
    stopping = HostWatch(
        stable={"reach": "reachable", "service": "Running"}, pending={"service": ["Stopped", 1, 0]}
    )
    down = HostWatch(stable={"reach": "unreachable"}, error="timed out")
    result = RoundResult(
        read={"A": running, "B": stopping, "C": down},
        paused=["D"],
        notices=[{"channel": "C01OPS", "kind": "agent_stopped"}],
    )
    line = result.line(lambda c: {"C01OPS": "ops"}.get(c, c))
    assert line == (
        "(watch round: read 3 host(s): 1 agent Running, 1 agent Stopped, 1 unreachable (C); "
        "paused, not read: D; posted 1 notice(s) to #ops)"
    )
    assert "posted nothing (no change)" in RoundResult(read={"A": running}).line(str)
    waiting = RoundResult(read={"B": stopping}).line(str)
    assert "posted nothing (a change is posted once it held for two reads)" in waiting
    assert "did not finish" in RoundResult(finished=False).line(str)
