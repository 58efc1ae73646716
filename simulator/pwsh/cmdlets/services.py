"""Windows services: ServiceController views, Get-Service and Restart-Service (the agent's
service starts only once the agent is installed).
"""

from __future__ import annotations

from typing import Any

from ...host import AGENT_SERVICE, SimHost
from ..commands import Ctx, Param, cmdlet
from ..members import LiveObject
from ..operators import wildcard_regex
from ..values import CIDict, as_list, to_str


class ServiceView(LiveObject):
    """System.ServiceProcess.ServiceController: reads the host's state on every access."""

    type_name = "System.ServiceProcess.ServiceController"

    def __init__(self, host: SimHost, name: str) -> None:
        self.host = host
        self.name = name

    def ps_props(self) -> CIDict:
        s = self.host.service(self.name)
        if s is None:
            return CIDict({"Name": self.name, "Status": "Stopped"})
        return CIDict(
            {
                "Status": s.status,
                "Name": s.name,
                "DisplayName": s.display_name,
                "ServiceName": s.name,
                "StartType": s.start_type,
                "CanStop": s.status == "Running",
            }
        )

    def ps_method(self, name: str, args: list[Any]) -> Any:
        if name in ("refresh", "waitforstatus"):
            return None
        raise AttributeError(name)

    def __str__(self) -> str:
        return "System.ServiceProcess.ServiceController"


def _service_names(ctx: Ctx) -> list[str]:
    if ctx.has("Name"):
        return [to_str(n) for n in as_list(ctx.get("Name"))]
    if ctx.has("InputObject"):
        return [
            x.name if isinstance(x, ServiceView) else to_str(x)
            for x in as_list(ctx.get("InputObject"))
        ]
    return [x.name if isinstance(x, ServiceView) else to_str(x) for x in (ctx.input or [])]


def _missing_service(ctx: Ctx, name: str, cmd: str) -> Exception:
    return ctx.non_terminating(
        f"Cannot find any service with service name '{name}'.",
        f"NoServiceFoundForGivenName,Microsoft.PowerShell.Commands.{cmd}",
        "ObjectNotFound",
        "Microsoft.PowerShell.Commands.ServiceCommandException",
        name,
    )


@cmdlet(
    "Get-Service",
    [
        Param("Name", position=0, aliases=("ServiceName",)),
        Param("DisplayName"),
        Param("InputObject"),
    ],
    pipeline=True,
)
def get_service(ctx: Ctx) -> list[Any]:
    if not ctx.has("Name") and not ctx.has("DisplayName"):
        with ctx.host.lock:
            names = sorted(s.name for s in ctx.host.services.values())
        return [ServiceView(ctx.host, n) for n in names]
    out: list[Any] = []
    if ctx.has("DisplayName"):
        rx = wildcard_regex(to_str(ctx.get("DisplayName")))
        with ctx.host.lock:
            names = [s.name for s in ctx.host.services.values() if rx.fullmatch(s.display_name)]
        return [ServiceView(ctx.host, n) for n in names]
    for n in _service_names(ctx):
        if "*" in n:
            rx = wildcard_regex(n)
            with ctx.host.lock:
                out.extend(
                    ServiceView(ctx.host, s.name)
                    for s in ctx.host.services.values()
                    if rx.fullmatch(s.name)
                )
            continue
        s = ctx.host.service(n)
        if s is None:
            raise _missing_service(ctx, n, "GetServiceCommand")
        out.append(ServiceView(ctx.host, s.name))
    return out


def _set_status(ctx: Ctx, status: str, cmd: str, event: str | None) -> list[Any]:
    out = []
    for n in _service_names(ctx):
        s = ctx.host.service(n)
        if s is None:
            raise _missing_service(ctx, n, cmd)
        if (
            status == "Running"
            and s.name.lower() == AGENT_SERVICE.lower()
            and not _agent_can_run(ctx.host)
        ):
            if ctx.host.installed():  # stopped, then it could not start again
                with ctx.host.lock:
                    s.status = "Stopped"
                ctx.host.service_started(s.name)
            raise ctx.non_terminating(
                f"Service 'Microsoft Azure AD Connect Provisioning Agent ({s.name})' cannot be started due to the following error: Cannot start service {s.name} on computer '.'.",  # noqa: E501
                f"CouldNotStartService,Microsoft.PowerShell.Commands.{cmd}",
                "OpenError",
                "Microsoft.PowerShell.Commands.ServiceCommandException",
                s.name,
            )
        with ctx.host.lock:
            s.status = status
        ctx.host.service_started(s.name)
        if event:
            ctx.host.record.event(event, host=ctx.host.name, service=s.name)
        if s.name.lower() == AGENT_SERVICE.lower() and event == "service_restarted":
            ctx.host.tenant.close_windows(ctx.host.name, ctx.session.session_id)
        if ctx.switch("PassThru"):
            out.append(ServiceView(ctx.host, s.name))
    return out


def _agent_can_run(host: SimHost) -> bool:
    """Installed, and its .exe.config readable (the service reads it as it starts)."""
    return host.installed() and host.load_agent_config()


SERVICE_PARAMS = [
    Param("Name", position=0, aliases=("ServiceName",)),
    Param("Force", switch=True),
    Param("PassThru", switch=True),
    Param("InputObject"),
    Param("NoWait", switch=True),
    Param("DisplayName"),
]


@cmdlet("Restart-Service", SERVICE_PARAMS, pipeline=True)
def restart_service(ctx: Ctx) -> list[Any]:
    return _set_status(ctx, "Running", "RestartServiceCommand", "service_restarted")
