"""The modelled Windows host and the shared Entra tenant / AD forest (``simulator.world``
builds them from a scenario).

State is what the runbook reads and changes (services, files, registry, agent config); every
change goes through a lock because one host runs several WinRM shells at once.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import itertools
import json
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any
from xml.dom import minidom
from xml.parsers.expat import ExpatError

from .contract import CmdletCall, Fault, FaultPlan, HostRecord, ProcessFactory, SimProcess

INSTALLER_SHARE = "\\\\fs01\\install"
INSTALLER_SHARE_PATH = INSTALLER_SHARE + "\\AADConnectProvisioningAgentSetup.exe"
INSTALLER_URL = "https://fs01.contoso.com/install/AADConnectProvisioningAgentSetup.exe"
# Who may read the file share (user -> password), as the file server's ACL would say.
DEFAULT_SHARE_READERS = {"CONTOSO\\svc-fileshare": "Share-Pass-1!"}
INSTALLER_CONTENT = (
    b"MZ-simulated AADConnectProvisioningAgentSetup.exe 1.1.2334.0 (cloudsync-bot test double)"
)
INSTALLER_SHA256 = hashlib.sha256(INSTALLER_CONTENT).hexdigest().upper()
MICROSOFT_SIGNER = (
    "CN=Microsoft Corporation, O=Microsoft Corporation, L=Redmond, S=Washington, C=US"
)
# What Windows builds for Microsoft's Authenticode signatures: intermediate, then root.
MICROSOFT_CHAIN = (
    "CN=Microsoft Code Signing PCA 2011, O=Microsoft Corporation, L=Redmond, S=Washington, C=US",
    "CN=Microsoft Root Certificate Authority 2011, O=Microsoft Corporation, L=Redmond, "
    "S=Washington, C=US",
)
# SHA-1 thumbprints of the certificates Windows ships for Microsoft's code signing (Microsoft
# PKI Repository, https://www.microsoft.com/pkiops/docs/repository.htm); a certificate the model
# does not know has a thumbprint derived from its subject (a self-made one).
KNOWN_THUMBPRINTS = {
    "CN=Microsoft Root Certificate Authority 2011, O=Microsoft Corporation, L=Redmond, "
    "S=Washington, C=US": "8F43288AD272F3103B6FB1428485EA3014C0BCFE",
    "CN=Microsoft Root Certificate Authority 2010, O=Microsoft Corporation, L=Redmond, "
    "S=Washington, C=US": "3B1EFD3A66EA28B16697394703A72CA340A05BD5",
    "CN=Microsoft Root Certificate Authority, DC=microsoft, DC=com": (
        "CDD4EEAE6000AC7F40C3802C171E30148030C072"
    ),
    MICROSOFT_CHAIN[0]: "F252E794FE438E35ACE6E53762C0A234A2C52135",
}
# The LocalMachine\Root store of a Windows Server: Microsoft's roots (scenario
# ``extra_trusted_roots`` adds thumbprints, as an admin or malware with admin rights could).
MICROSOFT_ROOT_THUMBPRINTS = tuple(
    tp for subject, tp in KNOWN_THUMBPRINTS.items() if "Root Certificate Authority" in subject
)
# What a simulated local attacker writes over a file (fault ``tamper``, SimHost.tamper_file).
TAMPERED_CONTENT = b"MZ-tampered copy (cloudsync-bot simulator)"
AGENT_DIR = "C:\\Program Files\\Microsoft Azure AD Connect Provisioning Agent"
AGENT_DLL = AGENT_DIR + "\\Microsoft.CloudSync.PowerShell.dll"
AGENT_EXE = AGENT_DIR + "\\AADConnectProvisioningAgent.exe"
AGENT_SERVICE = "AADConnectProvisioningAgent"
# The agent's .NET configuration file. Microsoft's cloud sync troubleshooting configures the
# outbound proxy in it (<system.net><defaultProxy>, added before </configuration>) and the FIPS
# setting (<runtime><enforceFIPSPolicy>); the rest of the installed file is not published, so
# the default below is an inferred minimal one: a <configuration> root without <system.net>.
AGENT_CONFIG = AGENT_DIR + "\\AADConnectProvisioningAgent.exe.config"
DEFAULT_AGENT_CONFIG = """<?xml version="1.0" encoding="utf-8"?>
<configuration>
  <startup>
    <supportedRuntime version="v4.0" sku=".NETFramework,Version=v4.7.1" />
  </startup>
  <appSettings>
    <add key="TraceFilename" value="AADConnectProvisioningAgent.log" />
  </appSettings>
</configuration>
"""
UPDATER_SERVICE = "AADConnectProvisioningAgentUpdater"
AGENT_REG = (
    "HKLM\\SOFTWARE\\Microsoft\\Azure AD Connect Agents\\Azure AD Connect Provisioning Agent"
)
DEFAULT_AGENT_VERSION = "1.1.2334.0"
# The agent's event channel, registered by its installer (Microsoft Learn, cloud sync
# troubleshooting); Application and System exist on every Windows Server.
AGENT_EVENT_CHANNEL = "Microsoft-AzureADConnect-ProvisioningAgent/Admin"
# Where the running agent writes its trace files, and its event channel (Microsoft Learn, "Cloud
# sync troubleshooting": https://learn.microsoft.com/en-us/entra/identity/hybrid/cloud-sync/how-to-troubleshoot)
TRACE_DIR = "C:\\ProgramData\\Microsoft\\Azure AD Connect Provisioning Agent\\Trace"
ADMIN_CHANNEL = AGENT_EVENT_CHANNEL
TLS_BASE = (
    "HKLM\\SYSTEM\\CurrentControlSet\\Control\\SecurityProviders\\SCHANNEL\\Protocols\\TLS 1.2"
)
DEFAULT_TENANT_ID = "8f6f1c1e-3b0a-4c57-9a51-2f1d5a7c0b11"
# Get-ExecutionPolicy -List order, highest precedence first (PowerShell's SecuritySupport,
# ExecutionPolicyScopePreferences); the two *Policy scopes are Group Policy.
EXECUTION_POLICY_SCOPES = ("MachinePolicy", "UserPolicy", "Process", "CurrentUser", "LocalMachine")
# What Windows Server answers when every scope is Undefined (about_Execution_Policies).
SERVER_DEFAULT_POLICY = "RemoteSigned"
# The Kds module's cmdlets (Microsoft.KeyDistributionService.Cmdlets): present on a domain
# controller or where the AD DS tools are installed, absent on a bare member server.
KDS_COMMANDS = ("Get-KdsRootKey", "Add-KdsRootKey", "Test-KdsRootKey")
ADSYNC_SERVICE = "ADSync"  # Microsoft Entra Connect Sync's sync engine


def reg_key(path: str) -> str:
    """Canonical registry key: HKLM\\... with any provider prefix removed."""
    p = path.strip().replace("/", "\\")
    low = p.lower()
    for prefix in ("microsoft.powershell.core\\registry::", "registry::"):
        if low.startswith(prefix):
            p = p[len(prefix) :]
            low = p.lower()
    for long, short in (("hkey_local_machine", "HKLM"), ("hkey_current_user", "HKCU")):
        if low.startswith(long):
            p = short + p[len(long) :]
    if len(p) > 4 and p[4] == ":" and p[:4].upper() in ("HKLM", "HKCU"):
        p = p[:4] + p[5:]
    return p.rstrip("\\")


def is_registry_path(path: str) -> bool:
    low = path.strip().lower()
    return low.startswith(
        ("hklm:", "hkcu:", "registry::", "hkey_", "microsoft.powershell.core\\registry")
    )


def file_key(path: str) -> str:
    p = path.strip().replace("/", "\\")
    if p.lower().startswith("filesystem::"):
        p = p[12:]
    while p.endswith("\\") and len(p) > 3:
        p = p[:-1]
    return p.lower()


@dataclass
class Service:
    name: str
    display_name: str
    status: str = "Running"
    start_type: str = "Automatic"
    start_name: str = "LocalSystem"
    path_name: str = ""
    pid: int = 0  # its process while Running (Win32_Service.ProcessId), 0 when stopped


@dataclass
class FileEntry:
    path: str
    content: bytes = b""
    version: str | None = None
    signer: str | None = None
    is_dir: bool = False
    chain: tuple[str, ...] = MICROSOFT_CHAIN  # the signer's issuers, root last
    written_at: float = field(default_factory=time.time)  # LastWriteTime (every write is new)


@dataclass
class Window:
    """A host's agent-registration window (Connect ... Restart-Service) in the tenant."""

    host: str
    session: str
    start: float
    end: float | None = None


class Tenant:
    """The Entra tenant plus the AD forest, shared by every host of a World."""

    def __init__(self, spec: dict[str, Any] | None = None) -> None:
        spec = dict(spec or {})
        self.lock = threading.RLock()
        self.tenant_id: str = spec.get("tenant_id", DEFAULT_TENANT_ID)
        self.accounts: dict[str, dict[str, Any]] = {
            k.lower(): _account(v) for k, v in (spec.get("accounts") or default_accounts()).items()
        }
        self.domains: dict[str, dict[str, Any]] = {
            k.lower(): _domain(k, v) for k, v in (spec.get("domains") or default_domains()).items()
        }
        self.forest_root: str = spec.get(
            "forest_root", next(iter(self.domains), "contoso.com")
        ).lower()
        self.agents: list[dict[str, Any]] = []
        self.writeback: bool = bool(spec.get("writeback", False))
        self.windows: list[Window] = []
        self.overlaps: list[dict[str, Any]] = []

    # ---- Entra sign-in ---------------------------------------------------------------
    def account(self, upn: str) -> dict[str, Any] | None:
        return self.accounts.get(upn.lower())

    # ---- AD ---------------------------------------------------------------------------
    def find_domain_user(self, user: str) -> tuple[str, str, dict[str, Any]] | None:
        """(domain fqdn, sam, admin record) for 'NETBIOS\\user' or 'user@fqdn'."""
        if "\\" in user:
            nb, sam = user.split("\\", 1)
            for fqdn, d in self.domains.items():
                if d["netbios"].lower() == nb.lower() or fqdn == nb.lower():
                    rec = _find_admin(d, sam)
                    return (fqdn, sam, rec) if rec is not None else None
            return None
        if "@" in user:
            sam, fqdn = user.split("@", 1)
            dom = self.domains.get(fqdn.lower())
            if dom is not None:
                found = _find_admin(dom, sam)
                return (fqdn.lower(), sam, found) if found is not None else None
        return None

    # ---- registration windows ------------------------------------------------------------
    def open_window(self, host: str, session: str) -> Window:
        with self.lock:
            for w in self.windows:
                if w.host == host and w.session == session and w.end is None:
                    return w
            w = Window(host, session, time.time())
            self.windows.append(w)
            return w

    def close_windows(self, host: str, session: str | None = None) -> None:
        with self.lock:
            for w in self.windows:
                if w.host == host and w.end is None and (session is None or w.session == session):
                    w.end = time.time()

    def earlier_overlapping(self, host: str, session: str) -> Window | None:
        """Another host's window that started before ours and is still open at ours."""
        with self.lock:
            mine = next(
                (
                    w
                    for w in self.windows
                    if w.host == host and w.session == session and w.end is None
                ),
                None,
            )
            if mine is None:
                return None
            for w in self.windows:
                if w.host == host:
                    continue
                if w.start <= mine.start and (w.end is None or w.end > mine.start):
                    self.overlaps.append({"earlier": w.host, "later": host, "t": time.time()})
                    return w
            return None

    def windows_overlapped(self) -> bool:
        """True if any two hosts' registration windows ever overlapped."""
        with self.lock:
            ws = list(self.windows)
        now = time.time()
        for a, b in itertools.combinations(ws, 2):
            if a.host == b.host:
                continue
            if a.start < (b.end or now) and b.start < (a.end or now):
                return True
        return False

    def state(self) -> dict[str, Any]:
        """What the tenant and forest keep across a restart (see :meth:`SimHost.state`): the
        registered agents, writeback and each domain's gMSAs; never accounts or passwords."""
        with self.lock:
            return {
                "agents": [dict(a) for a in self.agents],
                "writeback": self.writeback,
                "gmsas": {k: sorted(v["gmsas"]) for k, v in self.domains.items()},
            }

    def restore(self, state: Mapping[str, Any]) -> None:
        with self.lock:
            self.agents = [dict(a) for a in state.get("agents", [])]
            self.writeback = bool(state.get("writeback", self.writeback))
            for fqdn, gmsas in (state.get("gmsas") or {}).items():
                if fqdn in self.domains:
                    self.domains[fqdn]["gmsas"] = set(gmsas)

    def to_dict(self) -> dict[str, Any]:
        with self.lock:
            return {
                "tenant_id": self.tenant_id,
                "agents": list(self.agents),
                "writeback": self.writeback,
                "windows": [w.__dict__.copy() for w in self.windows],
                "overlaps": list(self.overlaps),
                "domains": {k: {"gmsas": sorted(v["gmsas"])} for k, v in self.domains.items()},
            }


def _find_admin(domain: dict[str, Any], sam: str) -> dict[str, Any] | None:
    for key, rec in domain["admins"].items():
        k_sam = key.split("\\")[-1].split("@")[0]
        if k_sam.lower() == sam.lower():
            return rec
    return None


def _account(v: dict[str, Any]) -> dict[str, Any]:
    return {
        "password": v.get("password", ""),
        "roles": list(v.get("roles", [])),
        "mfa_required": bool(v.get("mfa_required", False)),
    }


def _domain(fqdn: str, v: dict[str, Any]) -> dict[str, Any]:
    return {
        "fqdn": fqdn.lower(),
        "netbios": v.get("netbios", fqdn.split(".")[0].upper()),
        "admins": {
            k: {"password": a.get("password", ""), "expired": bool(a.get("expired", False))}
            for k, a in (v.get("admins") or {}).items()
        },
        "dcs": [d.lower() for d in v.get("dcs", [f"dc01.{fqdn.lower()}", f"dc02.{fqdn.lower()}"])],
        "unreachable_dcs": [d.lower() for d in v.get("unreachable_dcs", [])],
        "kds_root_key": bool(v.get("kds_root_key", True)),
        "gmsas": set(v.get("gmsas", [])),
    }


def default_accounts() -> dict[str, dict[str, Any]]:
    return {
        "hybrid-admin@contoso.onmicrosoft.com": {
            "password": "Hybrid-Pass-1!",
            "roles": ["Hybrid Identity Administrator"],
        },
        "global-admin@contoso.onmicrosoft.com": {
            "password": "Global-Pass-1!",
            "roles": ["Global Administrator"],
        },
        "mfa-admin@contoso.onmicrosoft.com": {
            "password": "Mfa-Pass-1!",
            "roles": ["Hybrid Identity Administrator"],
            "mfa_required": True,
        },
        "reader@contoso.onmicrosoft.com": {
            "password": "Reader-Pass-1!",
            "roles": ["Global Reader"],
        },
    }


def default_domains() -> dict[str, dict[str, Any]]:
    return {
        "contoso.com": {
            "netbios": "CONTOSO",
            "admins": {"CONTOSO\\Administrator": {"password": "Domain-Pass-1!"}},
            "dcs": ["dc01.contoso.com", "dc02.contoso.com"],
            "kds_root_key": True,
        },
        "fabrikam.com": {
            "netbios": "FABRIKAM",
            "admins": {"FABRIKAM\\Administrator": {"password": "Fabrikam-Pass-1!"}},
            "dcs": ["dc01.fabrikam.com"],
            "kds_root_key": True,
        },
    }


class SimHost:
    """One modelled Windows Server.

    ``processes`` gives the host its ProcessFactory (powershell.exe and cmd.exe builtins), so the
    model does not import the engine that runs on it: ``simulator.world`` wires the two.
    """

    def __init__(
        self,
        name: str,
        tenant: Tenant,
        spec: dict[str, Any] | None,
        processes: Callable[[SimHost], ProcessFactory],
    ) -> None:
        spec = dict(spec or {})
        self.name = name
        self.tenant = tenant
        self.spec_digest = spec_digest(spec)  # a saved state applies to the same spec only
        self.record = HostRecord()
        self.faults = FaultPlan(
            [Fault.from_dict(f) if isinstance(f, dict) else f for f in spec.get("faults", [])]
        )
        self.lock = threading.RLock()
        # Open file handles that deny others' writes: file key -> handle id -> (FileShare
        # words, owning process id). Windows refuses a write, rename or delete that a handle's
        # share mode does not grant; a process's handles close when it ends.
        self.file_handles: dict[str, dict[int, tuple[frozenset[str], int]]] = {}
        self._handle_ids = itertools.count(1)
        self.startup_cost_s = float(spec.get("startup_cost_s", 0.2))
        self.install_s = float(spec.get("install_s", 1.0))
        # None in the list: an installer run that reports no exit code at all
        self.installer_exit_codes: list[int | None] = list(spec.get("installer_exit_codes", [0]))
        # A child process the installer leaves running after it exits, {"name", "seconds"}:
        # Start-Process -Wait waits for it too (the whole process tree), WaitForExit does not.
        child = spec.get("installer_leftover_child")
        self.installer_leftover_child: dict[str, Any] | None = (
            {"name": "AADConnectAgentUpdaterSetup", "seconds": 3600.0, **child}
            if isinstance(child, dict)
            else ({"name": "AADConnectAgentUpdaterSetup", "seconds": 3600.0} if child else None)
        )
        self.os_caption: str = spec.get("os_caption", "Microsoft Windows Server 2022 Datacenter")
        self.os_version: str = spec.get("os_version", "10.0.20348")
        self.server_core: bool = bool(spec.get("server_core", False))
        self.memory_kb: int = int(spec.get("memory_kb", 8 * 1024 * 1024))
        self.free_disk_bytes: int = int(spec.get("free_disk_bytes", 60 * 1024**3))
        # Execution policy per scope (Get-ExecutionPolicy -List): ``execution_policy`` is the
        # LocalMachine one, ``execution_policies`` (scope -> policy) sets others, e.g. a Group
        # Policy ``{"MachinePolicy": "AllSigned"}``.
        self.execution_policies: dict[str, str] = dict.fromkeys(
            EXECUTION_POLICY_SCOPES, "Undefined"
        )
        self.execution_policies["LocalMachine"] = spec.get("execution_policy", "RemoteSigned")
        for scope, policy in (spec.get("execution_policies") or {}).items():
            self.execution_policies[_scope_name(scope)] = str(policy)
        # Commands this host lacks: the Kds module unless ``kds_module`` (default true)
        self.absent_commands: set[str] = (
            set() if spec.get("kds_module", True) else {c.lower() for c in KDS_COMMANDS}
        )
        self.domain: str = spec.get("domain", "contoso.com")
        self.login_user: str = spec.get("login_user", "contoso\\svc-cloudsync")
        self.outbound_443 = bool(spec.get("outbound_443", True))
        self.mfa_required = bool(spec.get("mfa_required", False))  # Conditional Access here
        self.agent_version: str = spec.get("agent_version", DEFAULT_AGENT_VERSION)
        # the agent's .exe.config as the installer leaves it, and the proxy the running agent
        # read from it when its service last started (None: the machine's defaults)
        self.agent_config_text: str = spec.get("agent_config", DEFAULT_AGENT_CONFIG)
        self.agent_proxy: str | None = None
        self.domain_property: str = spec.get("domain_property", "DomainName")
        # Invoke-WebRequest: URL -> file whose bytes it serves; modelled download time, and how
        # much slower it is with a progress bar (PowerShell issue 2138: orders of magnitude)
        share = spec.get("installer_path", INSTALLER_SHARE_PATH)
        self.web_files: dict[str, str] = {
            k.lower(): v for k, v in (spec.get("web_files") or {INSTALLER_URL: share}).items()
        }
        self.download_s = float(spec.get("download_s", 0.5))
        self.progress_slowdown = float(spec.get("progress_slowdown", 50.0))
        # the Agent Updater service the installer adds (Stopped/Disabled as a scenario setting)
        self.updater_status: str = spec.get("updater_status", "Running")
        self.updater_start_type: str = spec.get(
            "updater_start_type", "Disabled" if self.updater_status == "Stopped" else "Automatic"
        )
        # Group Policy "Turn on Module Logging" (event 4103, parameter bindings) and "Turn on
        # PowerShell Script Block Logging" (4104). Script blocks are recorded whatever the
        # setting (a superset for the tests' secret scans); module bindings only when on.
        self.module_logging = bool(spec.get("module_logging", False))
        self.script_block_logging = bool(spec.get("script_block_logging", False))
        # The second hop: a WinRM logon is a network logon and holds no credential it could pass
        # on to a file server, so a UNC path is refused unless this session mapped the share
        # with an explicit credential (New-PSDrive -Credential) or the host is set up for
        # CredSSP / delegation (Microsoft Learn, "Making the second hop in PowerShell Remoting").
        self.credssp_delegation = bool(spec.get("credssp_delegation", False))
        self.share_readers: dict[str, str] = {
            k.lower(): v for k, v in (spec.get("share_readers") or DEFAULT_SHARE_READERS).items()
        }
        # Authenticode lives in the file's bytes: content sha256 -> (signer, version), so a file
        # written here (pushed over WinRM, downloaded) shows the signature of what it contains.
        # sha256 -> (signer, version, chain): what a file with these bytes shows, wherever it
        # was written (copied, pushed, downloaded)
        self.signed_content: dict[str, tuple[str | None, str | None, tuple[str, ...]]] = {}
        # Who answers an https download (url -> bytes); a host in ``windows_auth_hosts`` wants
        # Windows authentication, which the network logon cannot give (the second hop again).
        self.downloads: dict[str, bytes] = {}
        self.windows_auth_hosts = [h.lower() for h in spec.get("windows_auth_hosts", [])]
        # WinRM's MaxEnvelopeSizekb (default 500): a bigger request envelope is refused, so a
        # client streaming a file must keep each Send under it.
        self.max_envelope_kb = int(spec.get("max_envelope_kb", 500))
        self.installer_running = False
        self.processes: dict[int, dict[str, Any]] = {}
        self._pids = itertools.count(4100, 4)
        self._live: list[SimProcess] = []
        self.services: dict[str, Service] = {}
        self.files: dict[str, FileEntry] = {}
        self.registry: dict[str, tuple[str, dict[str, Any]]] = {}
        self.agent_domains: list[str] = []
        self.agent_registered = False
        # event log channel (lower-case) -> its events, oldest first: {id, level, message, at};
        # scenario ``agent_errors``: [{id, message}] already in the agent's Admin channel
        self.event_logs: dict[str, list[dict[str, Any]]] = {"application": [], "system": []}
        self._seed_agent_errors(spec.get("agent_errors") or [])
        self._start = processes(self)
        self._seed(spec)

    # ---- initial state -----------------------------------------------------------------
    def _seed(self, spec: dict[str, Any]) -> None:
        self.services["winrm"] = Service(
            "WinRM",
            "Windows Remote Management (WS-Management)",
            "Running",
            "Automatic",
            "NT AUTHORITY\\NetworkService",
            "C:\\Windows\\System32\\svchost.exe -k NetworkService -p",
        )
        self.services["vaultsvc"] = Service(
            "VaultSvc",
            "Credential Manager",
            spec.get("vaultsvc_status", "Running"),
            spec.get("vaultsvc_start", "Manual"),
            "LocalSystem",
            "C:\\Windows\\system32\\lsass.exe",
        )
        adsync = spec.get("adsync")  # Entra Connect Sync on the same server: true or {status}
        if adsync:
            status = adsync.get("status", "Running") if isinstance(adsync, dict) else "Running"
            self.services[ADSYNC_SERVICE.lower()] = Service(
                ADSYNC_SERVICE,
                "Microsoft Azure AD Sync",
                status,
                "Automatic",
                "NT SERVICE\\ADSync",
                "C:\\Program Files\\Microsoft Azure AD Sync\\Bin\\miiserver.exe",
            )
        for d in (
            "C:\\",
            "C:\\Windows",
            "C:\\Windows\\TEMP",
            "C:\\Program Files",
            "C:\\ProgramData",
            "\\\\fs01\\install",
        ):
            self.files[file_key(d)] = FileEntry(d, is_dir=True)
        share = spec.get("installer_path", INSTALLER_SHARE_PATH)
        content = (
            spec["installer_content"].encode()
            if isinstance(spec.get("installer_content"), str)
            else INSTALLER_CONTENT
        )
        signer = spec.get("installer_signer", MICROSOFT_SIGNER)
        chain = tuple(spec.get("installer_chain", MICROSOFT_CHAIN))
        # Certificate trust (X509Chain): the thumbprint each known certificate has on this
        # host; ``installer_root_thumbprint`` gives the installer chain's root another one (a
        # root made with Microsoft's subject by someone else); the trusted root store; whether
        # revocation can be checked online (CRL/OCSP reachable) or from cached CRLs.
        self.thumbprints: dict[str, str] = {k.lower(): v for k, v in KNOWN_THUMBPRINTS.items()}
        if spec.get("installer_root_thumbprint") and chain:
            self.thumbprints[chain[-1].lower()] = str(spec["installer_root_thumbprint"]).upper()
        self.trusted_roots: set[str] = set(MICROSOFT_ROOT_THUMBPRINTS) | {
            str(t).upper() for t in spec.get("extra_trusted_roots", [])
        }
        self.revocation_online = bool(spec.get("revocation_online", True))
        self.revocation_cached = bool(spec.get("revocation_cached", self.revocation_online))
        self.signed_content[hashlib.sha256(content).hexdigest()] = (
            signer,
            self.agent_version,
            chain,
        )
        if spec.get("installer_available", True):
            folder = share.rsplit("\\", 1)[0]
            self.files.setdefault(file_key(folder), FileEntry(folder, is_dir=True))
            self.files[file_key(share)] = FileEntry(
                share,
                content,
                version=self.agent_version,
                signer=signer,
                chain=chain,
            )
            for url in spec.get("installer_urls", []):
                self.downloads[url.lower()] = content
        self.set_reg(
            "HKLM\\SOFTWARE\\Microsoft\\NET Framework Setup\\NDP\\v4\\Full",
            {"Release": int(spec.get("dotnet_release", 533320)), "Version": "4.8.09032"},
        )
        self.set_reg(
            "HKLM\\SOFTWARE\\Microsoft\\Windows NT\\CurrentVersion",
            {
                "ProductName": self.os_caption.replace("Microsoft ", ""),
                "CurrentBuild": self.os_version.split(".")[-1],
                "InstallationType": "Server Core" if self.server_core else "Server",
                "EditionID": "ServerDatacenter",
            },
        )
        self._seed_tls(spec)
        pre = spec.get("agent_installed")
        if pre:
            pre = pre if isinstance(pre, dict) else {}
            self.agent_version = pre.get("agent_version", self.agent_version)
            self.apply_install()
            self.agent_domains = list(pre.get("domains", []))
            gmsa = pre.get("gmsa")
            if gmsa:
                self.services[AGENT_SERVICE.lower()].start_name = gmsa
                self.agent_registered = True
                self.reg_values(AGENT_REG)["TenantID"] = self.tenant.tenant_id

    def _seed_tls(self, spec: dict[str, Any]) -> None:
        """TLS 1.2 registry values as the scenario's ``tls12`` says.

        ``default`` (the default): what Windows Server 2016-2022 ships with: TLS 1.2 is on and
        the SCHANNEL ``TLS 1.2`` keys do not exist; the .NET keys exist without the TLS values
        (Microsoft Learn, "Transport Layer Security (TLS) registry settings"). ``enabled`` /
        true: every value the cloud sync prerequisites ask for is set (``tls12_enabled_value``
        picks ``Enabled``, e.g. 4294967295 for 0xFFFFFFFF, which PowerShell reads as -1).
        ``disabled`` / false: SCHANNEL ``Enabled=0``, ``DisabledByDefault=1``.
        """
        mode = spec.get("tls12", "default")
        if isinstance(mode, bool):
            mode = "enabled" if mode else "disabled"
        dotnet64 = "HKLM\\SOFTWARE\\Microsoft\\.NETFramework\\v4.0.30319"
        dotnet32 = "HKLM\\SOFTWARE\\WOW6432Node\\Microsoft\\.NETFramework\\v4.0.30319"
        dotnet: dict[str, Any] = {}
        if mode == "enabled":
            enabled = dword(int(spec.get("tls12_enabled_value", 1)))
            for side in ("Client", "Server"):
                self.set_reg(f"{TLS_BASE}\\{side}", {"Enabled": enabled, "DisabledByDefault": 0})
            dotnet = {"SchUseStrongCrypto": 1, "SystemDefaultTlsVersions": 1}
        elif mode == "disabled":
            for side in ("Client", "Server"):
                self.set_reg(f"{TLS_BASE}\\{side}", {"Enabled": 0, "DisabledByDefault": 1})
        elif mode != "default":
            raise ValueError(f"tls12 must be default, enabled or disabled, not {mode!r}")
        self.set_reg(dotnet64, dict(dotnet))
        self.set_reg(dotnet32, dict(dotnet) if spec.get("tls12_wow64", True) else {})

    @property
    def execution_policy(self) -> str:
        """The effective policy: the first scope that is not Undefined, in precedence order."""
        for scope in EXECUTION_POLICY_SCOPES:
            policy = self.execution_policies.get(scope, "Undefined")
            if policy.lower() != "undefined":
                return policy
        return SERVER_DEFAULT_POLICY

    @execution_policy.setter
    def execution_policy(self, policy: str) -> None:
        self.execution_policies["LocalMachine"] = policy

    # ---- API promised to the WS-Man server ---------------------------------------------
    def start_process(
        self, command: str, arguments: list[str], *, delegated: bool = False
    ) -> SimProcess:
        """``delegated``: the logon holds the user's credential (CredSSP), not a network
        logon, so the process may reach file shares as that user."""
        proc = self._start(command, arguments, delegated=delegated)
        with self.lock:
            self._live = [p for p in self._live if not getattr(p, "finished", False)]
            self._live.append(proc)
        return proc

    def kill_all_processes(self) -> None:
        with self.lock:
            live = list(self._live)
            self._live.clear()
        for p in live:
            p.terminate()

    # ---- record helpers -----------------------------------------------------------------
    def log_script_block(self, text: str) -> None:
        with self.record.lock:
            self.record.script_blocks.append(text)

    def log_command_line(self, text: str) -> None:
        with self.record.lock:
            self.record.command_lines.append(text)

    def add_cmdlet_call(self, call: CmdletCall) -> None:
        with self.record.lock:
            self.record.cmdlets.append(call)

    def log_module_call(self, cmdlet: str, bound: Mapping[str, Any], pipeline: Any) -> None:
        """Event 4103: the cmdlet and each parameter binding's value as text."""
        bindings = {name: binding_text(value) for name, value in bound.items()}
        if pipeline:
            bindings["InputObject"] = binding_text(pipeline)
        with self.record.lock:
            self.record.module_log.append(
                {"event_id": 4103, "command": cmdlet, "bindings": bindings}
            )

    def next_pid(self) -> int:
        with self.lock:
            return next(self._pids)

    # ---- files and registry ---------------------------------------------------------------
    def set_reg(self, key: str, values: dict[str, Any]) -> None:
        with self.lock:
            k = reg_key(key)
            self.registry[k.lower()] = (k, dict(values))
            parts = k.split("\\")
            for i in range(1, len(parts)):
                parent = "\\".join(parts[:i])
                self.registry.setdefault(parent.lower(), (parent, {}))

    def reg_values(self, key: str) -> dict[str, Any]:
        with self.lock:
            k = reg_key(key)
            if k.lower() not in self.registry:
                self.set_reg(k, {})
            return self.registry[k.lower()][1]

    def get_reg(self, key: str) -> dict[str, Any] | None:
        with self.lock:
            got = self.registry.get(reg_key(key).lower())
            return dict(got[1]) if got else None

    def file(self, path: str) -> FileEntry | None:
        with self.lock:
            return self.files.get(file_key(path))

    def file_exists(self, path: str) -> bool:
        return self.file(path) is not None

    def put_file(self, entry: FileEntry) -> None:
        with self.lock:
            self.files[file_key(entry.path)] = entry

    def signature_of(self, content: bytes) -> dict[str, Any]:
        """The FileEntry fields (signer, version, chain) a file with these bytes shows
        (unsigned when unknown)."""
        known = self.signed_content.get(hashlib.sha256(content).hexdigest())
        if known is None:
            return {"signer": None, "version": None, "chain": ()}
        signer, version, chain = known
        return {"signer": signer, "version": version, "chain": chain}

    def tamper_file(self, path: str, content: bytes = TAMPERED_CONTENT) -> bool:
        """Another local process (an admin, malware with write access) rewrites an existing
        file: it shows the signature its new bytes carry. False when there is no such file or
        an open handle's share mode denies the write (recorded as ``file_tamper_refused``)."""
        with self.lock:
            old = self.files.get(file_key(path))
            if old is None or old.is_dir:
                return False
            if self.write_denied(path):
                self.record.event("file_tamper_refused", host=self.name, path=old.path)
                return False
            self.files[file_key(path)] = FileEntry(old.path, content, **self.signature_of(content))
        self.record.event("file_tampered", host=self.name, path=old.path)
        return True

    def open_handle(self, path: str, share: frozenset[str], owner: int) -> int | None:
        """Open ``path`` for reading with FileShare ``share``; None on a sharing violation: a
        handle already open denies reading, or this one's ``share`` denies the reading the open
        ones do (CreateFile: a new share mode must allow the access existing handles hold;
        Microsoft Learn, "Creating and Opening Files")."""
        with self.lock:
            if self.read_denied(path):
                return None
            held = self.file_handles.setdefault(file_key(path), {})
            if held and "read" not in share:
                return None
            handle = next(self._handle_ids)
            held[handle] = (share, owner)
            return handle

    def close_handle(self, path: str, handle: int) -> None:
        with self.lock:
            self.file_handles.get(file_key(path), {}).pop(handle, None)

    def release_handles(self, owner: int) -> None:
        """A process ended: Windows closes every handle it held."""
        with self.lock:
            for held in self.file_handles.values():
                for handle in [h for h, (_, o) in held.items() if o == owner]:
                    del held[handle]

    def write_denied(self, path: str) -> bool:
        """An open handle's FileShare denies writing ``path`` (a sharing violation)."""
        with self.lock:
            held = self.file_handles.get(file_key(path), {})
            return any("write" not in share for share, _ in held.values())

    def read_denied(self, path: str) -> bool:
        """An open handle's FileShare denies reading ``path`` (a sharing violation)."""
        with self.lock:
            held = self.file_handles.get(file_key(path), {})
            return any("read" not in share for share, _ in held.values())

    def thumbprint_of(self, subject: str) -> str:
        """The SHA-1 thumbprint of the certificate with this subject on this host."""
        known = self.thumbprints.get(subject.lower())
        return known or hashlib.sha1(subject.encode()).hexdigest().upper()

    def share_login(self, root: str, user: str, password: str) -> bool:
        """Would the file server behind ``root`` accept this user and password?"""
        if self.file(root) is None:
            return False
        return self.share_readers.get(user.lower()) == password

    def remove_file(self, path: str) -> bool:
        with self.lock:
            key = file_key(path)
            found = self.files.pop(key, None) is not None
            for k in [k for k in self.files if k.startswith(key + "\\")]:
                del self.files[k]
            return found

    def _seed_agent_errors(self, errors: list[dict[str, Any]]) -> None:
        for entry in errors:
            self.write_event(
                AGENT_EVENT_CHANNEL, int(entry.get("id", 0)), str(entry.get("message", "")), 2
            )

    def write_event(self, channel: str, event_id: int, message: str, level: int = 2) -> None:
        """An event in ``channel`` (level 2 = Error, 3 = Warning, 4 = Information)."""
        with self.lock:
            events = self.event_logs.setdefault(channel.lower(), [])
            events.append(
                {
                    "id": event_id,
                    "level": level,
                    "message": message,
                    "at": datetime.datetime.now(),
                    # the log's own sequence (EventLogRecord.RecordId): it orders events that
                    # share a timestamp, as Windows' newest-first reading does
                    "record": int(events[-1].get("record", len(events))) + 1 if events else 1,
                }
            )

    def event_channel_exists(self, channel: str) -> bool:
        """The agent's channel exists once its installer registered it (the agent installed)."""
        if channel.lower() == AGENT_EVENT_CHANNEL.lower():
            return self.installed()
        return channel.lower() in self.event_logs

    # ---- agent lifecycle --------------------------------------------------------------------
    def apply_install(self) -> None:
        """What a successful installer run leaves behind."""
        with self.lock:
            self.files[file_key(AGENT_DIR)] = FileEntry(AGENT_DIR, is_dir=True)
            self.files[file_key(AGENT_DLL)] = FileEntry(
                AGENT_DLL, b"dll", version=self.agent_version, signer=MICROSOFT_SIGNER
            )
            self.files[file_key(AGENT_EXE)] = FileEntry(
                AGENT_EXE, b"exe", version=self.agent_version, signer=MICROSOFT_SIGNER
            )
            svc = self.services.get(AGENT_SERVICE.lower())
            self.services[AGENT_SERVICE.lower()] = Service(
                AGENT_SERVICE,
                "Microsoft Azure AD Connect Provisioning Agent",
                "Running",
                "Automatic",
                svc.start_name if svc else "LocalSystem",
                f'"{AGENT_EXE}"',
            )
            self.services[UPDATER_SERVICE.lower()] = Service(
                UPDATER_SERVICE,
                "Microsoft Entra Connect Agent Updater",
                self.updater_status,
                self.updater_start_type,
                "LocalSystem",
                f'"{AGENT_DIR}\\AADConnectAgentUpdater.exe"',
            )
            self._start_tracing()
            if file_key(AGENT_CONFIG) not in self.files:
                self.files[file_key(AGENT_CONFIG)] = FileEntry(
                    AGENT_CONFIG, self.agent_config_text.encode("utf-8")
                )
            if not self.load_agent_config():  # a scenario's broken file: it cannot start
                self.services[AGENT_SERVICE.lower()].status = "Stopped"
            for started in (AGENT_SERVICE, UPDATER_SERVICE):
                self.service_started(started)
            values = self.reg_values(AGENT_REG)
            values["InstallDir"] = AGENT_DIR + "\\"
            values["Version"] = self.agent_version

    def service_started(self, name: str) -> None:
        """A service (re)started: its old process is gone, a new one runs from now, so
        ``Get-Process -Id (Win32_Service).ProcessId`` shows when it started."""
        with self.lock:
            svc = self.services.get(name.lower())
            if svc is None:
                return
            old = self.processes.get(svc.pid)
            if old is not None:
                old["exited"] = True
            if svc.status != "Running":
                svc.pid = 0
                return
            svc.pid = next(self._pids)
            exe = svc.path_name.strip('"')
            self.processes[svc.pid] = {
                "pid": svc.pid,
                "name": exe.rsplit("\\", 1)[-1].rsplit(".", 1)[0] or svc.name,
                "path": exe,
                "start": time.time(),
                "exited": False,
            }

    def load_agent_config(self) -> bool:
        """What the agent's service does as it starts: .NET reads its .exe.config, so a
        changed proxy takes effect only now. False when the file is not XML: the service then
        fails to start (.NET refuses a malformed configuration file; inferred, no public
        trace of the agent's own message)."""
        with self.lock:
            entry = self.files.get(file_key(AGENT_CONFIG))
        if entry is None:
            self.agent_proxy = None
            return True
        try:
            dom = minidom.parseString(entry.content)  # noqa: S318 (the host's own model file)
        except ExpatError:
            return False
        proxy = None
        root = dom.documentElement
        for net in _children(root, "system.net"):
            for default in _children(net, "defaultProxy"):
                if default.getAttribute("enabled").lower() == "false":
                    continue
                for element in _children(default, "proxy"):
                    proxy = element.getAttribute("proxyaddress") or None
        self.agent_proxy = proxy
        return True

    def installed(self) -> bool:
        return self.file_exists(AGENT_DLL)

    # ---- the running agent's traces and Admin events --------------------------------------
    def trace_path(self, name: str | None = None) -> str:
        """A trace file's path; by default today's (AzureADConnectProvisioningAgent_DATE.log)."""
        name = name or time.strftime("AzureADConnectProvisioningAgent_%Y%m%d.log")
        return TRACE_DIR + "\\" + name

    def _start_tracing(self) -> None:
        for folder in ("C:\\ProgramData\\Microsoft", TRACE_DIR.rsplit("\\", 1)[0], TRACE_DIR):
            self.files.setdefault(file_key(folder), FileEntry(folder, is_dir=True))
        self.event_logs.setdefault(ADMIN_CHANNEL.lower(), [])
        self.write_trace("Information: Provisioning agent service started.")
        self.log_event(ADMIN_CHANNEL, 1001, 4, "The provisioning agent service started.")

    def write_trace(self, text: str, name: str | None = None, at: float | None = None) -> str:
        """Append lines to a trace file as the agent does (a test plants content this way)."""
        path = self.trace_path(name)
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(at or time.time()))
        lines = "".join(f"{stamp} {line}\r\n" for line in text.splitlines() or [""])
        with self.lock:
            old = self.files.get(file_key(path))
            content = (old.content if old is not None else b"") + lines.encode("utf-8")
            self.files[file_key(path)] = FileEntry(path, content, written_at=at or time.time())
        return path

    def log_event(self, log: str, event_id: int, level: int, message: str) -> None:
        """Write an event (level 1 Critical, 2 Error, 3 Warning, 4 Information)."""
        self.write_event(log, event_id, message, level)

    # ---- state across a restart (the local console keeps it in its data folder) --------
    def state(self) -> dict[str, Any]:
        """What the runbook changed and a restart should find again: services, files,
        registry and the agent's own state, as JSON. Not the record, processes or anything
        the scenario gives (accounts, passwords, faults)."""
        with self.lock:
            return {
                "spec_digest": self.spec_digest,
                "services": {k: asdict(v) for k, v in self.services.items()},
                "files": {k: _file_state(v) for k, v in self.files.items()},
                "registry": {k: [n, _jsonable(v)] for k, (n, v) in self.registry.items()},
                "agent_domains": list(self.agent_domains),
                "agent_registered": self.agent_registered,
                "agent_version": self.agent_version,
                "execution_policies": dict(self.execution_policies),
                "event_logs": {
                    name: [{**e, "at": e["at"].isoformat()} for e in events]
                    for name, events in self.event_logs.items()
                },
            }

    def restore(self, state: Mapping[str, Any]) -> bool:
        """Take ``state`` (from :meth:`state`) if it was saved for this host's spec; False
        (and nothing changed) when the spec changed since, e.g. an edited ``sim:`` mapping."""
        if state.get("spec_digest") != self.spec_digest:
            return False
        with self.lock:
            self.services = {k: Service(**v) for k, v in state["services"].items()}
            self.files = {k: _file_entry(v) for k, v in state["files"].items()}
            self.registry = {k: (n, _from_jsonable(v)) for k, (n, v) in state["registry"].items()}
            self.agent_domains = list(state["agent_domains"])
            self.agent_registered = bool(state["agent_registered"])
            self.agent_version = str(state["agent_version"])
            self.execution_policies.update(state.get("execution_policies") or {})
            for name, events in (state.get("event_logs") or {}).items():
                self.event_logs[name] = [
                    {**e, "at": datetime.datetime.fromisoformat(e["at"])} for e in events
                ]
        # like a reboot: the running services get new processes, and the agent reads its
        # configuration file as it starts
        for svc in list(self.services.values()):
            svc.pid = 0
            self.service_started(svc.name)
        if not self.load_agent_config() and AGENT_SERVICE.lower() in self.services:
            self.services[AGENT_SERVICE.lower()].status = "Stopped"
        return True

    def service(self, name: str) -> Service | None:
        with self.lock:
            return self.services.get(name.lower())

    def to_dict(self) -> dict[str, Any]:
        with self.lock:
            return {
                "name": self.name,
                "installed": self.installed(),
                "agent_domains": list(self.agent_domains),
                "agent_registered": self.agent_registered,
                "services": {k: v.__dict__.copy() for k, v in self.services.items()},
                "record": self.record.to_dict(),
            }


def _children(node: Any, tag: str) -> list[Any]:
    return [c for c in node.childNodes if c.nodeType == c.ELEMENT_NODE and c.tagName == tag]


# Scenario keys that carry passwords: left out of a spec's digest, which is saved to disk.
SECRET_SPEC_KEYS = ("accounts", "share_readers")


def spec_digest(spec: Mapping[str, Any]) -> str:
    """sha256 of a host's scenario spec without its password-bearing keys."""
    public = {k: v for k, v in spec.items() if k not in SECRET_SPEC_KEYS}
    text = json.dumps(public, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"__b64__": base64.b64encode(value).decode("ascii")}
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def _from_jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"__b64__"}:
            return base64.b64decode(value["__b64__"])
        return {k: _from_jsonable(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_from_jsonable(v) for v in value]
    return value


def _file_state(entry: FileEntry) -> dict[str, Any]:
    data = asdict(entry)
    data["content"] = base64.b64encode(entry.content).decode("ascii")
    data["chain"] = list(entry.chain)
    return data


def _file_entry(data: Mapping[str, Any]) -> FileEntry:
    return FileEntry(
        path=data["path"],
        content=base64.b64decode(data["content"]),
        version=data.get("version"),
        signer=data.get("signer"),
        is_dir=bool(data.get("is_dir")),
        chain=tuple(data.get("chain") or ()),
        written_at=float(data.get("written_at") or time.time()),
    )


def _scope_name(scope: str) -> str:
    for name in EXECUTION_POLICY_SCOPES:
        if name.lower() == str(scope).lower():
            return name
    raise ValueError(f"execution policy scope must be one of {EXECUTION_POLICY_SCOPES}: {scope!r}")


def dword(value: int) -> int:
    """A REG_DWORD as PowerShell reads it: a signed Int32 (0xFFFFFFFF is -1)."""
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >= 1 << 31 else value


def binding_text(value: Any) -> str:
    """A bound value as Module Logging writes it: its text (ToString), lists joined with ", ";
    a SecureString or PSCredential shows only its type name, as in .NET."""
    if isinstance(value, (list, tuple)):
        return ", ".join(binding_text(v) for v in value)
    if isinstance(value, bytes):
        return "System.Byte[]"
    if isinstance(value, bool):
        return "True" if value else "False"
    return "" if value is None else str(value)
