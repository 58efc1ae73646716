"""The console's ``:sim`` commands: change a simulated host as the world outside the bot would
(an agent service that crashed, a person starting it again), so the fleet watch has something
to notice. Simulator only: they reach into the in-process simulator, never a real server."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from bot.local.stack import LocalStack

USAGE = "(usage: :sim stop-agent HOST | :sim start-agent HOST; simulated hosts only)"
STATUS = {"stop-agent": "Stopped", "start-agent": "Running"}


def sim_command(stack: LocalStack, words: list[str]) -> str:
    """Apply one ``:sim`` command; the line to print."""
    if len(words) != 2 or words[0] not in STATUS:
        return USAGE
    action, name = words
    if stack.sim is None:
        return "(no simulated hosts run in this console)"
    from simulator.host import AGENT_SERVICE

    hosts = {h.upper(): h for h in stack.sim.world.hosts}
    host = stack.sim.world.hosts.get(hosts.get(name.upper(), name))
    if host is None:
        known = ", ".join(sorted(stack.sim.world.hosts))
        return f"(no simulated host {name!r}; simulated: {known})"
    service = host.service(AGENT_SERVICE)
    if service is None:
        return f"(simulator: {host.name} has no agent service; install the agent first)"
    with host.lock:
        service.status = STATUS[action]
    host.service_started(service.name)  # its process ends (or a new one runs), as on Windows
    return f"(simulator: the agent service on {host.name} is {STATUS[action]} now)"
