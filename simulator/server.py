"""SimCluster: serve every host of a simulated World, one WinRM listener (port) per host.

Per-host listener keys in a scenario host dict (the engine ignores them):
``listen`` ("127.0.0.1:PORT", port 0 = any free port), ``https`` (bool), ``allow_basic`` (bool),
``accounts`` (list of "DOMAIN\\user:password"), ``operation_quota`` (int), ``ntlm`` (bool,
default true; false = a host that refuses NTLM, as the cloud sync prerequisites ask), ``fqdn``
(the host's DNS name, for its Kerberos SPN ``HTTP/<fqdn>``), ``keytab`` (a keytab holding
that SPN's keys: the host then accepts Kerberos) and ``credssp`` (bool: the host accepts CredSSP,
whose logons reach file shares).
"""

from __future__ import annotations

import copy
import dataclasses
from dataclasses import dataclass, field
from typing import Any

import yaml

from simulator.wsman import WsmanServer
from simulator.wsman.shells import DEFAULT_QUOTA, HostLike


@dataclass
class ListenerSpec:
    """How one host's listener is exposed."""

    listen: tuple[str, int] = ("127.0.0.1", 0)
    https: bool = False
    allow_basic: bool = False
    accounts: list[str] = field(default_factory=list)
    operation_quota: int = DEFAULT_QUOTA
    allow_ntlm: bool = True
    fqdn: str | None = None
    keytab: str | None = None
    allow_credssp: bool = False

    @classmethod
    def from_host_dict(
        cls, data: dict[str, Any], defaults: ListenerSpec | None = None
    ) -> ListenerSpec:
        """Read a scenario host dict; keys it lacks come from ``defaults`` (e.g. CLI flags)."""
        base = defaults or cls()
        listen = data.get("listen")
        return cls(
            listen=parse_listen(str(listen)) if listen else base.listen,
            https=bool(data.get("https", base.https)),
            allow_basic=bool(data.get("allow_basic", base.allow_basic)),
            accounts=list(data.get("accounts") or base.accounts),
            operation_quota=int(data.get("operation_quota", base.operation_quota)),
            allow_ntlm=bool(data.get("ntlm", base.allow_ntlm)),
            fqdn=str(data["fqdn"]) if data.get("fqdn") else base.fqdn,
            keytab=str(data["keytab"]) if data.get("keytab") else base.keytab,
            allow_credssp=bool(data.get("credssp", base.allow_credssp)),
        )


def parse_listen(text: str) -> tuple[str, int]:
    """'127.0.0.1:5985' -> ('127.0.0.1', 5985); loopback only, as this simulator must be."""
    host, sep, port = text.rpartition(":")
    if not sep:
        host, port = text, "0"
    host = host or "127.0.0.1"
    if not host.startswith("127.") and host != "localhost":
        raise ValueError(f"the simulator listens on loopback only, not {host}")
    return host, int(port)


def load_scenario(path: str) -> dict[str, Any]:
    """Read a YAML (or JSON) scenario file."""
    with open(path, encoding="utf-8") as fh:
        data = yaml.safe_load(fh) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: a scenario must be a mapping")
    data.setdefault("hosts", [])
    return data


class SimCluster:
    """Start/stop one WsmanServer per host of ``world``."""

    def __init__(self, world: Any, specs: dict[str, ListenerSpec] | None = None) -> None:
        self.world = world
        hosts: dict[str, HostLike] = world.hosts
        specs = specs or {}
        self.servers: dict[str, WsmanServer] = {}
        for name, host in hosts.items():
            spec = specs.get(name, ListenerSpec())
            self.servers[name] = WsmanServer(
                host,
                listen=spec.listen,
                accounts=spec.accounts,
                allow_basic=spec.allow_basic,
                https=spec.https,
                operation_quota=spec.operation_quota,
                allow_ntlm=spec.allow_ntlm,
                fqdn=spec.fqdn,
                keytab=spec.keytab,
                allow_credssp=spec.allow_credssp,
            )

    @classmethod
    def from_scenario(
        cls, scenario: dict[str, Any], defaults: ListenerSpec | None = None
    ) -> SimCluster:
        """Build the World with the engine and a listener per host (``defaults`` fill gaps)."""
        from simulator.world import build_world  # loads the engine (tree-sitter) only when used

        scenario = copy.deepcopy(scenario)
        world = build_world(scenario)
        specs: dict[str, ListenerSpec] = {}
        for host in scenario.get("hosts", []):
            spec = ListenerSpec.from_host_dict(host, defaults)
            if not host.get("listen") and defaults is not None and defaults.listen[1]:
                # A fixed default port serves only the first host that names none.
                defaults = dataclasses.replace(defaults, listen=(defaults.listen[0], 0))
            specs[str(host["name"])] = spec
        return cls(world, specs)

    @property
    def urls(self) -> dict[str, str]:
        return {name: srv.url for name, srv in self.servers.items()}

    def start(self) -> SimCluster:
        started: list[WsmanServer] = []
        try:
            for srv in self.servers.values():
                started.append(srv.start())
        except BaseException:
            for srv in started:
                srv.stop()
            raise
        return self

    def stop(self) -> None:
        for srv in self.servers.values():
            srv.stop()

    def __enter__(self) -> SimCluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
