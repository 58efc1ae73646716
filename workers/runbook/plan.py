"""What an approver sees and approves: per host, the steps with their exact scripts.

Secrets appear only as ``$Secrets['name']`` references plus the (non-secret) user name. The
approval is bound to :func:`plan_hash`, a sha256 over the change, the plan and the preflight
fingerprints, so approving one thing can never run another.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from workers.domain.config import Config
from workers.domain.model import ChangeSpec
from workers.runbook.steps import StepBuildError, build_steps


@dataclass(frozen=True)
class PlanStep:
    id: str
    title: str
    kind: str
    script: str
    check: str | None
    credentials: tuple[tuple[str, str], ...]  # (secret name, user name)
    registration: bool
    # push staging: the file the worker streams to the host (source, dest, pinned sha256), so
    # the approval binds to exactly which bytes go where
    upload: tuple[tuple[str, str], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "id": self.id,
            "title": self.title,
            "kind": self.kind,
            "script": self.script,
            "check": self.check,
            "credentials": [{"secret": n, "user": u} for n, u in self.credentials],
            "registration": self.registration,
        }
        if self.upload:
            out["upload"] = dict(self.upload)
        return out


@dataclass
class HostPlan:
    host: str
    tenant: str
    steps: list[PlanStep] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    error: str | None = None  # the change cannot be built for this host

    def secret_uses(self) -> list[tuple[str, str]]:
        """(secret name, step id) for every secret a step of this plan signs in with."""
        return [(name, step.id) for step in self.steps for name, _user in step.credentials]

    def to_dict(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "tenant": self.tenant,
            "steps": [s.to_dict() for s in self.steps],
            "warnings": list(self.warnings),
            "error": self.error,
        }


@dataclass
class Plan:
    hosts: list[HostPlan]
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(h.error is None for h in self.hosts)

    def to_dict(self) -> dict[str, Any]:
        return {"hosts": [h.to_dict() for h in self.hosts], "warnings": list(self.warnings)}


def _host_warnings(config: Config, name: str) -> list[str]:
    host = config.host(name)
    out: list[str] = []
    if host.insecure:
        out.append(
            f"{host.name}: certificate validation is OFF for this host (cert_validation: "
            "ignore): the connection can be intercepted"
        )
    if host.scheme == "http" and host.transport not in ("ntlm", "kerberos", "credssp"):
        out.append(f"{host.name}: transport {host.transport} over http is not encrypted")
    if host.ntlm:
        demo = " (a simulated demo host)" if host.simulated else ""
        out.append(
            f"{host.name}{demo}: WinRM signs in with NTLM. The cloud sync prerequisites say NTLM "
            "should not be enabled on the Windows Server that runs the provisioning agent, and "
            "should be disabled if it is: give the tenant a kerberos_realm and the host its fqdn "
            "to sign in with Kerberos"
        )
    return out


def render_plan(change: ChangeSpec, config: Config, *, from_step: str | None = None) -> Plan:
    hosts: list[HostPlan] = []
    warnings: list[str] = []
    if len(change.hosts) > 1:
        warnings.append(
            "hosts of one tenant register one after another (install agents one at a time)"
        )
    for name in change.hosts:
        host = config.host(name)
        plan = HostPlan(host=host.name, tenant=host.tenant, warnings=_host_warnings(config, name))
        tenant = config.tenants[host.tenant]
        try:
            steps = build_steps(change, host, tenant, from_step=from_step)
        except StepBuildError as exc:
            plan.error = str(exc)
            hosts.append(plan)
            continue
        for step in steps:
            creds = tuple((n, config.secrets[n].user) for n in step.credentials)
            plan.steps.append(
                PlanStep(
                    id=step.id,
                    title=step.title,
                    kind=step.kind,
                    script=step.script.strip(),
                    check=step.check.strip() if step.check else None,
                    credentials=creds,
                    registration=step.registration,
                    upload=(
                        (
                            ("source", step.upload.source),
                            ("dest", step.upload.dest),
                            ("sha256", step.upload.sha256),
                        )
                        if step.upload
                        else ()
                    ),
                )
            )
        hosts.append(plan)
    return Plan(hosts=hosts, warnings=warnings)


def plan_hash(change: ChangeSpec, plan: Plan, preflight_fingerprints: dict[str, str]) -> str:
    """sha256 of a canonical JSON of what was approved."""
    payload = {
        "change": change.to_dict(),
        "plan": plan.to_dict(),
        "preflight": {k.upper(): v for k, v in sorted(preflight_fingerprints.items())},
    }
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(canonical.encode("ascii")).hexdigest()
