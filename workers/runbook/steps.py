# ruff: noqa: E501  (PowerShell templates keep one statement a line)
"""The runbook as data: each step is a script, a read-only check beside it, and its policy.

A step whose check returns ``$true`` is skipped, which is what makes a redelivered or repeated run
safe: the installer, gMSA and domain steps each have a check that proves they are done. Values
enter scripts only through :func:`workers.runbook.powershell.render`; credentials are referred to
by NAME as ``$Secrets['name']`` and travel to the host as stdin data, never as script text.
Step ids are an interface (progress, retry --from, Slack): ``preflight``, ``stage``,
``install``, ``import``, ``connect``, ``gmsa``, ``domain:<fqdn>``, ``permissions``, ``restart``,
``writeback``, ``verify``; proxy set / clear add ``proxy_backup`` and ``proxy``
(``PROXY_ORDER``).
"""

from __future__ import annotations

import ntpath
from dataclasses import dataclass, replace
from typing import Literal

from workers.domain.config import HostConfig, InstallerSource, TenantConfig, installer_for
from workers.domain.model import ChangeKind, ChangeSpec, Cloud, DomainSpec
from workers.runbook import proxy
from workers.runbook.powershell import render

StepKind = Literal["read", "session", "change"]

AGENT_DIR = r"C:\Program Files\Microsoft Azure AD Connect Provisioning Agent"
AGENT_EXE = AGENT_DIR + r"\AADConnectProvisioningAgent.exe"
AGENT_MODULE = AGENT_DIR + r"\Microsoft.CloudSync.PowerShell.dll"
AGENT_KEY = r"HKLM:\SOFTWARE\Microsoft\Azure AD Connect Agents\Azure AD Connect Provisioning Agent"
AGENT_SERVICE = "AADConnectProvisioningAgent"
ADSYNC_SERVICE = "ADSync"  # Microsoft Entra Connect Sync (its sync engine service)
UPDATER_DISPLAY = "*Agent Updater*"  # "Microsoft Entra Connect Agent Updater" (older: Azure AD)
UPDATER_FIX = (
    "start it and set it to Automatic (Get-Service -DisplayName '*Agent Updater*' | "
    "Set-Service -StartupType Automatic -PassThru | Start-Service), or reinstall the agent; "
    "without it the agent is not updated automatically"
)
MICROSOFT_SIGNERS = (
    "CN=Microsoft Corporation, O=Microsoft Corporation, L=Redmond, S=Washington, C=US",
    "CN=Microsoft Corporation, OU=MOPR, O=Microsoft Corporation, L=Redmond, S=Washington, C=US",
)
# SHA-1 thumbprints of the roots Microsoft's code signing chains end at: Microsoft Root
# Certificate Authority 2011 and 2010, and the older Microsoft Root Certificate Authority
# (DC=microsoft, DC=com), as the Microsoft PKI Repository lists them
# (https://www.microsoft.com/pkiops/docs/repository.htm). The thumbprint, not the subject, is
# the pin: anyone can make a root with Microsoft's subject.
MICROSOFT_ROOT_THUMBPRINTS = (
    "8F43288AD272F3103B6FB1428485EA3014C0BCFE",  # Microsoft Root Certificate Authority 2011
    "3B1EFD3A66EA28B16697394703A72CA340A05BD5",  # Microsoft Root Certificate Authority 2010
    "CDD4EEAE6000AC7F40C3802C171E30148030C072",  # Microsoft Root Certificate Authority
)
# Online revocation checks may wait this long for a CRL/OCSP answer (see SIGNER_VERDICT).
REVOCATION_TIMEOUT_S = 30
INSTALLER_NAME = "AADConnectProvisioningAgentSetup.exe"
INSTALLER_PROCESS = "AADConnectProvisioningAgentSetup"
TRACE_DIR = r"C:\ProgramData\Microsoft\Azure AD Connect Provisioning Agent\Trace"
# The installer is a WiX Burn bundle; its standard bootstrapper's help reads "/log log.txt - logs
# to a specific file. By default a log file is created in %TEMP%" (WiX Toolset, wixstdba). A
# fixed path under C:\ProgramData outlives the WinRM user's %TEMP% and a failure can name it.
INSTALL_LOG = r"C:\ProgramData\cloudsync\logs\AADConnectProvisioningAgentSetup.log"
TLS12_KEY = r"HKLM:\SYSTEM\CurrentControlSet\Control\SecurityProviders\SCHANNEL\Protocols\TLS 1.2"
DOTNET_KEY = r"HKLM:\SOFTWARE\Microsoft\.NETFramework\v4.0.30319"
DOTNET32_KEY = r"HKLM:\SOFTWARE\WOW6432Node\Microsoft\.NETFramework\v4.0.30319"
NDP_KEY = r"HKLM:\SOFTWARE\Microsoft\NET Framework Setup\NDP\v4\Full"
DEFAULT_PERMISSIONS = ("BasicRead", "PasswordHashSync")
INSTALL_WAIT_POLLS = 150  # x 2 s: how long a check waits for a running installer to finish

ORDER = (
    "preflight",
    "stage",
    "install",
    "import",
    "connect",
    "gmsa",
    "domain",
    "permissions",
    "restart",
    "writeback",
    "verify",
)


# Steps a cancel does not interrupt once they have started: stopping PowerShell does not stop an
# installer (msiexec/burn keeps running), and one cut off half-way (its shell deleted, its
# process killed) can leave a partly installed agent: Windows Installer undoes a failed install
# itself, by running its rollback script (Microsoft Learn, "Rollback Installation"), which a
# killed installer never gets to. The run waits for the step to end, records its real outcome
# and duration, and stops after it.
RUNS_TO_COMPLETION = frozenset({"install"})


STAGE_DRIVE = "CloudSyncStage"  # the session-only PSDrive that maps the installer share


@dataclass(frozen=True)
class Upload:
    """A file the session streams to the host before the step's script runs (push staging).

    ``source``: the file on the worker; ``dest``: where the loader writes it on the host;
    ``sha256``: the pinned hash, checked on the worker before sending (and by the script on the
    host after). ``prepare``: run first with the step's check: makes the folder, or says the
    step is already done (then nothing is sent)."""

    source: str
    dest: str
    sha256: str
    prepare: str


class StepBuildError(ValueError):
    """The change cannot be turned into steps for this host (message is safe to show)."""


@dataclass(frozen=True)
class Step:
    """One unit of work on one host.

    ``check``: read-only script returning ``$true`` when the step's effect is already in place.
    ``check_when_idle``: a check used only when no change step before it was done in this run
    or, in an earlier attempt, after this step's last done (restart; see the runner).
    ``credentials``: secret NAMES the script reads from ``$Secrets``.
    ``transient``: regexes on the error text that make a failure worth retrying.
    ``registration``: runs under the tenant registration lock (one host of a tenant at a time).
    ``needs_connect``: needs the Entra sign-in of ``connect`` in the same session.
    ``skip_summary``: the words shown when the check passes (default "already done").
    """

    id: str
    title: str
    script: str
    check: str | None = None
    timeout_s: float = 300.0
    credentials: tuple[str, ...] = ()
    transient: tuple[str, ...] = ()
    kind: StepKind = "change"
    registration: bool = False
    retries: int = 0
    backoff_s: float = 5.0
    needs_connect: bool = False
    needs_import: bool = False
    check_when_idle: str | None = None
    upload: Upload | None = None
    skip_summary: str = ""  # what a passing check means, in words ("" = "already done")


# --- templates (values only through <<slots>>) ------------------------------------------------

PREFLIGHT = r"""
$facts = [ordered]@{}
$os = Get-CimInstance -ClassName Win32_OperatingSystem
$facts['os_caption'] = [string]$os.Caption
$facts['os_version'] = [string]$os.Version
$facts['os_sku'] = [string]$os.OperatingSystemSKU
$facts['installation_type'] = $null
try { $facts['installation_type'] = [string](Get-ItemProperty -Path 'HKLM:\SOFTWARE\Microsoft\Windows NT\CurrentVersion' -ErrorAction Stop).InstallationType } catch { }
$facts['dotnet_release'] = $null
try { $facts['dotnet_release'] = [int](Get-ItemProperty -Path <<ndp>> -ErrorAction Stop).Release } catch { }
$facts['tls12_client_enabled'] = $null
$facts['tls12_client_disabled_by_default'] = $null
try { $p = Get-ItemProperty -Path <<tls_client>> -ErrorAction Stop; $facts['tls12_client_enabled'] = $p.Enabled; $facts['tls12_client_disabled_by_default'] = $p.DisabledByDefault } catch { }
$facts['tls12_server_enabled'] = $null
$facts['tls12_server_disabled_by_default'] = $null
try { $p = Get-ItemProperty -Path <<tls_server>> -ErrorAction Stop; $facts['tls12_server_enabled'] = $p.Enabled; $facts['tls12_server_disabled_by_default'] = $p.DisabledByDefault } catch { }
$facts['sch_use_strong_crypto'] = $null
$facts['system_default_tls_versions'] = $null
try { $p = Get-ItemProperty -Path <<dotnet>> -ErrorAction Stop; $facts['sch_use_strong_crypto'] = $p.SchUseStrongCrypto; $facts['system_default_tls_versions'] = $p.SystemDefaultTlsVersions } catch { }
$facts['sch_use_strong_crypto_wow64'] = $null
$facts['system_default_tls_versions_wow64'] = $null
try { $p = Get-ItemProperty -Path <<dotnet32>> -ErrorAction Stop; $facts['sch_use_strong_crypto_wow64'] = $p.SchUseStrongCrypto; $facts['system_default_tls_versions_wow64'] = $p.SystemDefaultTlsVersions } catch { }
$facts['execution_policy'] = [string](Get-ExecutionPolicy)
$facts['execution_policies'] = [ordered]@{}
try { foreach ($e in @(Get-ExecutionPolicy -List)) { $facts['execution_policies'][[string]$e.Scope] = [string]$e.ExecutionPolicy } } catch { }
$facts['adsync_status'] = $null
try { $facts['adsync_status'] = [string](Get-Service -Name <<adsync>> -ErrorAction Stop).Status } catch { }
$facts['vaultsvc_start_type'] = $null
try { $facts['vaultsvc_start_type'] = [string](Get-Service -Name 'VaultSvc' -ErrorAction Stop).StartType } catch { }
$facts['agent_installed'] = [bool](Test-Path -Path <<agent_key>>)
$facts['agent_version'] = $null
if ($facts['agent_installed']) { try { $facts['agent_version'] = [string](Get-Item -Path <<agent_exe>> -ErrorAction Stop).VersionInfo.ProductVersion } catch { } }
$facts['free_disk_bytes'] = $null
try { $facts['free_disk_bytes'] = (Get-PSDrive -Name 'C' -ErrorAction Stop).Free } catch { }
if ($null -eq $facts['free_disk_bytes']) { try { $facts['free_disk_bytes'] = (Get-CimInstance -ClassName Win32_LogicalDisk -Filter "DeviceID='C:'" -ErrorAction Stop).FreeSpace } catch { } }
$facts
"""

# Staging: how the installer gets to the host (InstallerSource). The WinRM logon cannot read a
# share on its own (the second hop, Microsoft Learn "Making the second hop in PowerShell
# Remoting"): push streams it through the session, share maps the share with an explicit
# credential for this session only, url downloads it over HTTPS.
STAGE_PREPARE = r"""
$dir = <<staging_dir>>
$dest = [IO.Path]::Combine($dir, <<name>>)
if (-not (Test-Path -Path $dir)) { New-Item -ItemType Directory -Path $dir -Force | Out-Null }
if (Test-Path -Path $dest) { Remove-Item -Path $dest -Force }
'ready to receive ' + $dest
"""

STAGE_PUSH = r"""
$dest = [IO.Path]::Combine(<<staging_dir>>, <<name>>)
$how = 'pushed over WinRM'
"""

STAGE_SHARE = r"""
$src = <<source>>
$dir = <<staging_dir>>
$dest = [IO.Path]::Combine($dir, <<name>>)
if (-not (Test-Path -Path $dir)) { New-Item -ItemType Directory -Path $dir -Force | Out-Null }
New-PSDrive -Name <<drive>> -PSProvider FileSystem -Root <<root>> -Credential $Secrets[<<secret>>] | Out-Null
try { Copy-Item -Path $src -Destination $dest -Force } finally { Remove-PSDrive -Name <<drive>> -Force }
$how = 'copied from ' + $src
"""

STAGE_SHARE_DELEGATED = r"""
$src = <<source>>
$dir = <<staging_dir>>
$dest = [IO.Path]::Combine($dir, <<name>>)
if (-not (Test-Path -Path $dir)) { New-Item -ItemType Directory -Path $dir -Force | Out-Null }
Copy-Item -Path $src -Destination $dest -Force
$how = 'copied from ' + $src
"""

STAGE_URL = r"""
$dir = <<staging_dir>>
$dest = [IO.Path]::Combine($dir, <<name>>)
if (-not (Test-Path -Path $dir)) { New-Item -ItemType Directory -Path $dir -Force | Out-Null }
[Net.ServicePointManager]::SecurityProtocol = [Net.SecurityProtocolType]::Tls12
Invoke-WebRequest -Uri <<url>> -OutFile $dest -UseBasicParsing
$how = 'downloaded from ' + <<url>>
"""

STAGE_VERIFY = r"""
$hash = [string](Get-FileHash -Path $dest -Algorithm SHA256).Hash
if ($hash -ne <<sha256>>) { Remove-Item -Path $dest -Force; throw ('installer SHA-256 mismatch: expected ' + <<sha256>> + ', got ' + $hash) }
$sig = Get-AuthenticodeSignature -FilePath $dest
if ([string]$sig.Status -ne 'Valid') { throw ('installer signature is not valid: ' + [string]$sig.Status) }
#SIGNER_VERDICT#
if ($signerProblem) { throw $signerProblem }
[ordered]@{ summary = ('installer ' + $how + ' to ' + $dest + ', SHA-256 and signature verified'); path = $dest; sha256 = $hash }
"""

STAGE_CHECK = r"""
if (Test-Path -Path <<agent_key>>) { return $true }
$dest = [IO.Path]::Combine(<<staging_dir>>, <<name>>)
if (-not (Test-Path -Path $dest)) { return $false }
$hash = [string](Get-FileHash -Path $dest -Algorithm SHA256).Hash
$sig = Get-AuthenticodeSignature -FilePath $dest
#SIGNER_VERDICT#
($hash -eq <<sha256>>) -and ([string]$sig.Status -eq 'Valid') -and ($null -eq $signerProblem)
"""

# Sets $signerProblem ($null when fine) for the signature in $sig: the signer's subject is one of
# Microsoft's forms (or the inventory's); the chain Windows builds for it must be trusted
# (Build() returns $true) and end at a root whose thumbprint is pinned.
# Chain policy, chosen deliberately (Microsoft Learn, X509ChainPolicy: RevocationMode,
# RevocationFlag, UrlRetrievalTimeout; X509RevocationMode: "Online: revocation checks that are
# not possible with cached revocation data should attempt to make live requests to update the
# cache", "Offline: ... can only be performed with cached revocation data"):
# - RevocationMode Online: the agent itself needs outbound HTTP to Microsoft's revocation
#   endpoints (cloud sync prerequisites: 443, and 80 for revocation checks), so a server that
#   can run the agent can check; Offline would fail on a server whose CRL cache is empty or
#   stale, and NoCheck would accept a revoked signing certificate. Where the check cannot be
#   made, Build() is $false (RevocationStatusUnknown / OfflineRevocation) and the stage refuses
#   with that reason: allowing port 80 is the fix, not skipping the check.
# - UrlRetrievalTimeout: a bounded wait ("A value of Zero means there are no limits").
# - RevocationFlag ExcludeRoot: the leaf and intermediates are checked; a root is trusted as
#   the store holds it (X509RevocationFlag, Microsoft Learn).
# https://learn.microsoft.com/dotnet/api/system.security.cryptography.x509certificates.x509chainpolicy
# https://learn.microsoft.com/dotnet/api/system.security.cryptography.x509certificates.x509revocationmode
SIGNER_VERDICT = r"""
$signerProblem = $null
$subject = [string]$sig.SignerCertificate.Subject
if (-not (@(<<signers>>) -contains $subject)) { $signerProblem = 'installer signed by an unexpected subject: ' + $subject }
else {
    $chain = [System.Security.Cryptography.X509Certificates.X509Chain]::new()
    $chain.ChainPolicy.RevocationMode = [System.Security.Cryptography.X509Certificates.X509RevocationMode]::Online
    $chain.ChainPolicy.RevocationFlag = [System.Security.Cryptography.X509Certificates.X509RevocationFlag]::ExcludeRoot
    $chain.ChainPolicy.UrlRetrievalTimeout = [TimeSpan]::FromSeconds(<<revocation_timeout>>)
    $trusted = $chain.Build($sig.SignerCertificate)
    $els = @($chain.ChainElements)
    $root = $null
    if ($els.Count -gt 1) { $root = $els[$els.Count - 1].Certificate }
    if (-not $trusted) {
        $why = 'no chain status given'
        $first = @($chain.ChainStatus) | Select-Object -First 1
        if ($null -ne $first) { $why = [string]$first.Status + ': ' + ([string]$first.StatusInformation).Trim() }
        $signerProblem = 'installer signature chain is not trusted on this server (' + $why + ')'
    }
    elseif (($null -eq $root) -or (-not (@(<<roots>>) -contains [string]$root.Thumbprint))) {
        $signerProblem = 'installer signature chain ends at a root that is not a pinned Microsoft root: ' + [string]$root.Subject + ' (thumbprint ' + [string]$root.Thumbprint + ')'
    }
}
""".strip()

INSTALL = r"""
$exe = [IO.Path]::Combine(<<staging_dir>>, <<name>>)
$log = <<log>>
$logDir = [IO.Path]::GetDirectoryName($log)
if (-not (Test-Path -Path $logDir)) { New-Item -ItemType Directory -Path $logDir -Force | Out-Null }
if (-not (Test-Path -Path $exe)) { throw ('the staged installer ' + $exe + ' is gone since the stage step verified it; it was not run. Retry: the stage step stages and verifies it again') }
$fs = [IO.File]::Open($exe, [IO.FileMode]::Open, [IO.FileAccess]::Read, [IO.FileShare]::Read)
try {
#INSTALL_RECHECK#
$p = Start-Process -FilePath $exe -ArgumentList <<arguments>> -NoNewWindow -PassThru
$null = $p.Handle
$p.WaitForExit()
} finally { $fs.Dispose() }
$raw = $p.ExitCode
if ($null -eq $raw) { throw ('installer exit code unknown (the process reported none): not treated as success; see the installer log ' + $log + ' and ' + <<trace>>) }
$code = [int]$raw
if ($code -eq 0) { [ordered]@{ summary = 'installer finished (exit 0)'; exit_code = 0; reboot_pending = $false; log = $log } }
elseif ($code -eq 3010) { [ordered]@{ summary = 'installer finished (exit 3010): a reboot is pending'; exit_code = 3010; reboot_pending = $true; log = $log } }
elseif ($code -eq 1618) { throw 'installer exit 1618: another installation is in progress' }
else { throw ('installer exit ' + $code + '; see the installer log ' + $log + ' and ' + <<trace>>) }
"""

# The exact file about to run is verified again, right before Start-Process: the stage step's
# verdict is about the file as it was then, and anyone with write access to the staging folder
# could have swapped it since (the installer runs with the install account's rights). INSTALL
# holds it open with FileShare.Read ($fs) from this hash until the installer exits: Windows
# then refuses anyone's write, rename or delete of it (a share mode without Write / Delete),
# while reading, which Get-AuthenticodeSignature and Start-Process (CreateProcess) need, is
# still granted. The hash is read through that very handle.
INSTALL_RECHECK = r"""
$hash = [string](Get-FileHash -InputStream $fs -Algorithm SHA256).Hash
$sig = Get-AuthenticodeSignature -FilePath $exe
#SIGNER_VERDICT#
if ($hash -ne <<sha256>>) { throw ('the staged installer changed after the stage step verified it (its SHA-256 is now ' + $hash + ', not the approved ' + <<sha256>> + '); it was not run. Remove ' + $exe + ' (keep a copy to examine), find out who or what can write to ' + <<staging_dir>> + ', then retry: the stage step stages and verifies it again') }
if ([string]$sig.Status -ne 'Valid') { $signerProblem = 'installer signature is not valid: ' + [string]$sig.Status }
if ($signerProblem) { throw ('the staged installer is the approved file but its signature no longer passes on this server, so it was not run: ' + $signerProblem) }
""".strip()

INSTALL_CHECK = r"""
$n = 0
while ($n -lt <<polls>>) {
    $running = Get-Process -Name <<process>> -ErrorAction SilentlyContinue
    if (-not $running) { break }
    Start-Sleep -Seconds 2
    $n = $n + 1
}
Test-Path -Path <<agent_key>>
"""

IMPORT = r"""
Import-Module -Name <<module>>
'cloud sync module loaded'
"""

CONNECT = r"""
Connect-AADCloudSyncAzureAD -Credential $Secrets[<<secret>>] | Out-Null
'signed in to Entra ID as ' + $Secrets[<<secret>>].UserName
"""

GMSA_CREATE = r"""
Add-AADCloudSyncGMSA -Credential $Secrets[<<secret>>] | Out-Null
$svc = Get-CimInstance -ClassName Win32_Service -Filter "Name='AADConnectProvisioningAgent'"
'agent service logs on as ' + [string]$svc.StartName
"""

GMSA_CUSTOM = r"""
Add-AADCloudSyncGMSA -CustomGMSAName <<gmsa>> | Out-Null
$svc = Get-CimInstance -ClassName Win32_Service -Filter "Name='AADConnectProvisioningAgent'"
'agent service logs on as ' + [string]$svc.StartName
"""

GMSA_CHECK = r"""
$svc = Get-CimInstance -ClassName Win32_Service -Filter "Name='AADConnectProvisioningAgent'"
if (-not $svc) { return $false }
$acct = [string]$svc.StartName
$acct -like '*$'
"""

GMSA_CUSTOM_CHECK = r"""
$svc = Get-CimInstance -ClassName Win32_Service -Filter "Name='AADConnectProvisioningAgent'"
if (-not $svc) { return $false }
$acct = [string]$svc.StartName
$name = $acct
if ($acct -match '\\') { $name = ($acct -split '\\')[1] }
$name -eq <<gmsa>>
"""

DOMAIN = r"""
Add-AADCloudSyncADDomain -DomainName <<fqdn>> -Credential $Secrets[<<secret>>] | Out-Null
'added domain ' + <<fqdn>>
"""

DOMAIN_WITH_DCS = r"""
Add-AADCloudSyncADDomain -DomainName <<fqdn>> -Credential $Secrets[<<secret>>] -PreferredDomainControllers <<dcs>> | Out-Null
'added domain ' + <<fqdn>> + ' (preferred DCs: ' + (<<dcs_text>>) + ')'
"""

DOMAIN_CHECK = r"""
$want = <<fqdn>>
$found = $false
foreach ($d in @(Get-AADCloudSyncDomains)) {
    if ($d -is [string]) { if ($d -eq $want) { $found = $true }; continue }
    foreach ($p in @($d.PSObject.Properties)) { if (($p.Value -is [string]) -and ($p.Value -eq $want)) { $found = $true } }
}
$found
"""

PERMISSION_EA = (
    "Set-AADCloudSyncPermissions -PermissionType <<ptype>> -EACredential $Secrets[<<secret>>]"
    " | Out-Null"
)
PERMISSION_DOMAIN = (
    "Set-AADCloudSyncPermissions -PermissionType <<ptype>> -TargetDomain <<fqdn>>"
    " -TargetDomainCredential $Secrets[<<secret>>] | Out-Null"
)
PERMISSIONS_DONE = "'granted ' + <<summary>>"

RESTART = r"""
Restart-Service -Name <<service>>
'agent service ' + [string](Get-Service -Name <<service>>).Status
"""

RESTART_IDLE_CHECK = r"""
[string](Get-Service -Name <<service>>).Status -eq 'Running'
"""

WRITEBACK = r"""
Set-AADCloudSyncPasswordWritebackConfiguration -Enable <<enable>> -Credential $Secrets[<<secret>>] | Out-Null
<<summary>>
"""

VERIFY = r"""
$svc = Get-Service -Name <<service>>
$cim = Get-CimInstance -ClassName Win32_Service -Filter "Name='AADConnectProvisioningAgent'"
$ver = [string](Get-Item -Path <<agent_exe>>).VersionInfo.ProductVersion
$status = [string]$svc.Status
$logon = [string]$cim.StartName
if ($status -ne 'Running') { throw ('the agent service is ' + $status + ', not Running') }
if (-not ($logon -like '*$')) { throw ('the agent service logs on as ' + $logon + ', not a gMSA') }
$updater = $null
$upd = @(Get-Service -DisplayName <<updater>> -ErrorAction SilentlyContinue)
if ($upd.Count -gt 0) { $updater = [string]$upd[0].Status }
$warnings = @()
if ($null -eq $updater) { $warnings += <<updater_missing>> }
elseif ($updater -ne 'Running') { $warnings += ('the Agent Updater service is ' + $updater + ': ' + <<updater_fix>>) }
$shown = 'not found'
if ($null -ne $updater) { $shown = $updater }
$summary = 'agent ' + $ver + ' running as ' + $logon + '; updater ' + $shown
if ($warnings.Count -gt 0) { $summary = $summary + '. WARNING: ' + ($warnings -join '; ') }
[ordered]@{ summary = $summary; status = $status; logon = $logon; version = $ver; updater = $updater; warnings = $warnings }
"""

# --- step builders ----------------------------------------------------------------------------


def preflight_script() -> str:
    return render(
        PREFLIGHT,
        ndp=NDP_KEY,
        tls_client=TLS12_KEY + r"\Client",
        tls_server=TLS12_KEY + r"\Server",
        dotnet=DOTNET_KEY,
        dotnet32=DOTNET32_KEY,
        agent_key=AGENT_KEY,
        agent_exe=AGENT_EXE,
        adsync=ADSYNC_SERVICE,
    )


def preflight_step() -> Step:
    return Step(
        "preflight",
        "Check prerequisites (read-only)",
        preflight_script(),
        timeout_s=120,
        kind="read",
        retries=2,
        backoff_s=2,
    )


def installer_signers(configured: str) -> list[str]:
    """Subjects accepted for the installer's signer: Microsoft's forms plus the inventory's.

    The SHA-256 stays the pin; the signer check only rejects a file Microsoft did not sign.
    Microsoft's code-signing certificates have used more than one subject form over the years
    (older ones with ``OU=MOPR``), and their chains end at Microsoft's published roots
    ("Microsoft Root Certificate Authority 2010/2011", Microsoft PKI Repository,
    https://www.microsoft.com/pkiops/docs/repository.htm).
    """
    return list(dict.fromkeys([*MICROSOFT_SIGNERS, configured]))


def installer_roots(configured: tuple[str, ...]) -> list[str]:
    """Root thumbprints accepted at the end of the signer's chain: Microsoft's pinned roots
    plus the inventory's ``installer.root_thumbprints`` (validated as 40 hex digits)."""
    return list(dict.fromkeys([*MICROSOFT_ROOT_THUMBPRINTS, *(t.upper() for t in configured)]))


def _with_signer_verdict(template: str, inst: InstallerSource) -> str:
    verdict = render(
        SIGNER_VERDICT,
        signers=installer_signers(inst.signer),
        roots=installer_roots(inst.root_thumbprints),
        revocation_timeout=REVOCATION_TIMEOUT_S,
    )
    return template.replace("#SIGNER_VERDICT#", verdict)


def share_root(unc: str) -> str:
    """``\\\\server\\share`` of a validated UNC path."""
    server, share = unc[2:].split("\\")[:2]
    return "\\\\" + server + "\\" + share


def stage_step(tenant: TenantConfig, host: HostConfig | None = None) -> Step:
    """Get the installer onto the host as the inventory says (push, share or url)."""
    inst = installer_for(tenant, host) if host is not None else tenant.installer
    common = {"staging_dir": inst.staging_dir, "name": INSTALLER_NAME}
    verify = render(_with_signer_verdict(STAGE_VERIFY, inst), sha256=inst.sha256)
    check = render(
        _with_signer_verdict(STAGE_CHECK, inst),
        agent_key=AGENT_KEY,
        sha256=inst.sha256,
        **common,
    )
    step = Step(
        "stage",
        "Stage and verify the installer",
        "",
        check=check,
        timeout_s=900,
        retries=2,
        backoff_s=5,
    )
    if inst.source == "share":
        return _share_stage(step, inst, host, verify)
    if inst.source == "url":
        assert inst.url is not None  # config requires it for this source
        script = render(STAGE_URL, url=inst.url, **common)
        return replace(
            step, title="Download over HTTPS and verify the installer", script=script + verify
        )
    if inst.path is None:
        raise StepBuildError(f"tenant '{tenant.name}': installer.path is needed for push staging")
    upload = Upload(
        source=inst.path,
        dest=ntpath.join(inst.staging_dir, INSTALLER_NAME),
        sha256=inst.sha256,
        prepare=render(STAGE_PREPARE, **common),
    )
    return replace(
        step,
        title="Push the installer over WinRM and verify it",
        script=render(STAGE_PUSH, **common) + verify,
        upload=upload,
    )


def _share_stage(step: Step, inst: InstallerSource, host: HostConfig | None, verify: str) -> Step:
    assert inst.share_path is not None  # config requires it for this source
    common = {"staging_dir": inst.staging_dir, "name": INSTALLER_NAME, "source": inst.share_path}
    title = "Copy the installer from the share and verify it"
    if inst.share_credential and inst.share_path.startswith("\\\\"):
        script = render(
            STAGE_SHARE,
            drive=STAGE_DRIVE,
            root=share_root(inst.share_path),
            secret=inst.share_credential,
            **common,
        )
        return replace(
            step, title=title, script=script + verify, credentials=(inst.share_credential,)
        )
    # Works only where the WinRM login is delegated (CredSSP); preflight blocks it elsewhere
    # with the second-hop explanation (workers.runbook.staging), before anything runs.
    return replace(step, title=title, script=render(STAGE_SHARE_DELEGATED, **common) + verify)


def install_step(tenant: TenantConfig, cloud: Cloud, host: HostConfig | None = None) -> Step:
    """Verify the staged installer again, run it and judge its exit code.

    The SHA-256 and the signature verdict of the stage step are checked once more on the exact
    file right before ``Start-Process`` (``INSTALL_RECHECK``), with the file held open with
    ``FileShare.Read`` from the hash until the installer exits: a file swapped between the two
    steps is refused and never started, and none can be swapped after the hash.

    ``[int]$null`` is 0 in PowerShell, so a missing exit code is a failure, never a success.
    It waits on the installer process itself (``.WaitForExit()``), not ``Start-Process -Wait``,
    which waits for the whole process tree (a job object in PowerShell's StartProcessCommand,
    Process.cs), so a child the installer leaves running would hang the step. Reading
    ``$p.Handle`` first keeps ``ExitCode`` readable for a ``-NoNewWindow`` process started
    without ``-Wait`` (PowerShell issue 5421).
    """
    arguments = ["/quiet", "/log", INSTALL_LOG]
    if cloud is Cloud.USGOV or tenant.cloud is Cloud.USGOV:
        arguments.append("ENVIRONMENTNAME=AzureUSGovernment")
    inst = installer_for(tenant, host) if host is not None else tenant.installer
    recheck = render(
        _with_signer_verdict(INSTALL_RECHECK, inst),
        sha256=inst.sha256,
        staging_dir=inst.staging_dir,
    )
    return Step(
        "install",
        "Install the provisioning agent",
        render(
            INSTALL,
            staging_dir=inst.staging_dir,
            name=INSTALLER_NAME,
            arguments=arguments,
            log=INSTALL_LOG,
            trace=TRACE_DIR,
        ).replace("#INSTALL_RECHECK#", recheck),
        check=render(
            INSTALL_CHECK, polls=INSTALL_WAIT_POLLS, process=INSTALLER_PROCESS, agent_key=AGENT_KEY
        ),
        timeout_s=1800,
        transient=(r"exit 1618",),
        retries=4,
        backoff_s=30,
    )


def import_step() -> Step:
    return Step(
        "import",
        "Load the cloud sync PowerShell module",
        render(IMPORT, module=AGENT_MODULE),
        timeout_s=120,
        kind="session",
    )


def connect_step(tenant: TenantConfig) -> Step:
    secret = tenant.entra_admin_secret
    return Step(
        "connect",
        "Sign in to Entra ID",
        render(CONNECT, secret=secret),
        timeout_s=300,
        credentials=(secret,),
        kind="session",
        registration=True,
        needs_import=True,
    )


def gmsa_step(tenant: TenantConfig, gmsa: str | None) -> Step:
    if gmsa:
        return Step(
            "gmsa",
            f"Use the existing gMSA {gmsa}",
            render(GMSA_CUSTOM, gmsa=gmsa),
            check=render(GMSA_CUSTOM_CHECK, gmsa=gmsa),
            registration=True,
            needs_connect=True,
            needs_import=True,
        )
    secret = tenant.forest_admin_secret
    if not secret:
        raise StepBuildError(
            f"tenant '{tenant.name}' has no forest_admin secret: it is needed to create the "
            "gMSA (or name an existing one with gmsa=NAME$)"
        )
    return Step(
        "gmsa",
        "Create or reuse the agent gMSA",
        render(GMSA_CREATE, secret=secret),
        check=GMSA_CHECK.strip(),
        credentials=(secret,),
        registration=True,
        needs_connect=True,
        needs_import=True,
    )


def domain_step(tenant: TenantConfig, domain: DomainSpec) -> Step:
    """Add one AD domain to the agent; skipped when ``Get-AADCloudSyncDomains`` already lists it.

    The output property names of ``Get-AADCloudSyncDomains`` are not documented (the release
    notes only say later versions show more), so the check does not read one property name: a
    domain counts as configured when any string property of any returned object equals the FQDN
    (``-eq`` on strings is case-insensitive, as DNS names are).
    """
    conf = tenant.domains.get(domain.fqdn.lower())
    if conf is None:
        known = ", ".join(sorted(tenant.domains)) or "none"
        raise StepBuildError(
            f"domain {domain.fqdn} is not configured for tenant '{tenant.name}' "
            f"(configured: {known}); add it with its admin secret to inventory.yaml"
        )
    if domain.preferred_dcs:
        script = render(
            DOMAIN_WITH_DCS,
            fqdn=conf.fqdn,
            secret=conf.admin_secret,
            dcs=list(domain.preferred_dcs),
            dcs_text=", ".join(domain.preferred_dcs),
        )
    else:
        script = render(DOMAIN, fqdn=conf.fqdn, secret=conf.admin_secret)
    return Step(
        f"domain:{conf.fqdn}",
        f"Add the AD domain {conf.fqdn}",
        script,
        check=render(DOMAIN_CHECK, fqdn=conf.fqdn),
        credentials=(conf.admin_secret,),
        registration=True,
        needs_connect=True,
        needs_import=True,
    )


def permission_types(change: ChangeSpec) -> tuple[str, ...]:
    """The types to grant: as asked, else BasicRead + PasswordHashSync (+ PasswordWriteBack).

    The default covers what cloud sync does out of the box (read the directory, sync password
    hashes) and writeback when it is being enabled in the same change.
    """
    if change.permissions:
        return tuple(dict.fromkeys(change.permissions))
    types = list(DEFAULT_PERMISSIONS)
    if change.writeback:
        types.append("PasswordWriteBack")
    return tuple(types)


def permissions_step(change: ChangeSpec, tenant: TenantConfig) -> Step:
    types = permission_types(change)
    lines: list[str] = []
    creds: list[str] = []
    target = change.permissions_domain
    if target is None and tenant.enterprise_admin_secret:
        creds.append(tenant.enterprise_admin_secret)
        for ptype in types:
            lines.append(render(PERMISSION_EA, ptype=ptype, secret=tenant.enterprise_admin_secret))
        where = "forest-wide"
    else:
        domains = [target] if target else [d.fqdn for d in change.domains]
        if not domains:
            raise StepBuildError(
                "permissions need a target domain or an enterprise_admin secret for the tenant"
            )
        for fqdn in domains:
            conf = tenant.domains.get(fqdn.lower())
            if conf is None:
                raise StepBuildError(f"domain {fqdn} is not configured for tenant '{tenant.name}'")
            creds.append(conf.admin_secret)
            for ptype in types:
                lines.append(
                    render(PERMISSION_DOMAIN, ptype=ptype, fqdn=conf.fqdn, secret=conf.admin_secret)
                )
        where = "on " + ", ".join(domains)
    summary = f"{', '.join(types)} {where}"
    lines.append(render(PERMISSIONS_DONE, summary=summary))
    return Step(
        "permissions",
        f"Grant gMSA permissions ({', '.join(types)})",
        "\n".join(lines),
        credentials=tuple(dict.fromkeys(creds)),
        registration=True,
        needs_import=True,
    )


def restart_step(*, when_needed: bool) -> Step:
    return Step(
        "restart",
        "Restart the agent service",
        render(RESTART, service=AGENT_SERVICE),
        timeout_s=180,
        registration=True,
        check_when_idle=render(RESTART_IDLE_CHECK, service=AGENT_SERVICE) if when_needed else None,
    )


def writeback_step(tenant: TenantConfig, enable: bool) -> Step:
    secret = tenant.global_admin_secret
    if not secret:
        raise StepBuildError(
            f"tenant '{tenant.name}' has no global_admin secret: password writeback needs a "
            "Global Administrator"
        )
    word = "enabled" if enable else "disabled"
    return Step(
        "writeback",
        f"{'Enable' if enable else 'Disable'} password writeback",
        render(WRITEBACK, enable=enable, secret=secret, summary=f"password writeback {word}"),
        credentials=(secret,),
        registration=True,
        needs_connect=True,
        needs_import=True,
    )


def verify_step() -> Step:
    """Agent service Running as a gMSA (else the step fails), and the updater's state.

    Microsoft's cloud sync troubleshooting expects the "Microsoft Entra Connect Agent Updater"
    service Running beside the agent (it keeps the agent up to date); its service name is not
    documented, so it is found by display name. Stopped or missing is a warning in the summary
    with the fix, not a failure: the agent itself works.
    """
    return Step(
        "verify",
        "Verify the agent (read-only)",
        render(
            VERIFY,
            service=AGENT_SERVICE,
            agent_exe=AGENT_EXE,
            updater=UPDATER_DISPLAY,
            updater_fix=UPDATER_FIX,
            updater_missing="the Agent Updater service was not found: " + UPDATER_FIX,
        ),
        timeout_s=120,
        kind="read",
        retries=2,
        backoff_s=2,
    )


AGENT_CONFIG = AGENT_DIR + "\\" + proxy.CONFIG_NAME
PROXY_ORDER = ("preflight", "proxy_backup", "proxy", "restart", "verify")


def proxy_steps(change: ChangeSpec) -> list[Step]:
    """proxy set / clear: back up the agent's config, edit its <defaultProxy>, restart, verify.

    The backup and the edit share one check (the file already holds the approved proxy); the
    restart's check asks whether the agent started after the file's last write. A repeat skips
    all three; a retry after an edit that was never followed by a restart still restarts.
    """
    url = change.proxy_url if change.kind is ChangeKind.PROXY_SET else None
    if change.kind is ChangeKind.PROXY_SET and url is None:
        raise StepBuildError("proxy set needs a proxy URL")
    bypass = change.proxy_bypass if url is not None else ()
    check = proxy.check_script(AGENT_CONFIG, url, bypass)
    what = proxy.describe(url, bypass)
    return [
        preflight_step(),
        Step(
            "proxy_backup",
            "Back up the agent configuration file",
            proxy.backup_script(AGENT_CONFIG),
            check=check,
            timeout_s=60,
            skip_summary="not needed: the proxy is already set as approved",
        ),
        Step(
            "proxy",
            f"Set the agent's {what}" if url else "Remove the agent's proxy setting",
            proxy.edit_script(AGENT_CONFIG, url, bypass),
            check=check,
            timeout_s=60,
            skip_summary="already set: the configuration holds the approved proxy setting",
        ),
        replace(
            restart_step(when_needed=False),
            check=proxy.restart_check_script(AGENT_CONFIG),
            skip_summary="not needed: the agent started after its configuration was last written",
        ),
        Step(
            "verify",
            "Verify the proxy setting and the agent service (read-only)",
            proxy.verify_script(AGENT_CONFIG, url, bypass, AGENT_SERVICE),
            timeout_s=120,
            kind="read",
            retries=2,
            backoff_s=2,
        ),
    ]


def _full_steps(change: ChangeSpec, tenant: TenantConfig, host: HostConfig) -> list[Step]:
    kind = change.kind
    if kind is ChangeKind.INSTALL:
        if not change.domains:
            raise StepBuildError("an install needs at least one domain")
        steps = [
            preflight_step(),
            stage_step(tenant, host),
            install_step(tenant, change.cloud, host),
            import_step(),
            connect_step(tenant),
            gmsa_step(tenant, change.gmsa),
            *(domain_step(tenant, d) for d in change.domains),
        ]
        if change.gmsa or change.permissions:
            steps.append(permissions_step(change, tenant))
        steps.append(restart_step(when_needed=True))
        if change.writeback is not None:
            steps.append(writeback_step(tenant, change.writeback))
        steps.append(verify_step())
        return steps
    if kind is ChangeKind.DOMAIN_ADD:
        if not change.domains:
            raise StepBuildError("domain_add needs at least one domain")
        return [
            preflight_step(),
            import_step(),
            connect_step(tenant),
            *(domain_step(tenant, d) for d in change.domains),
            restart_step(when_needed=True),
            verify_step(),
        ]
    if kind is ChangeKind.WRITEBACK:
        if change.writeback is None:
            raise StepBuildError("writeback needs on or off")
        return [
            preflight_step(),
            import_step(),
            connect_step(tenant),
            writeback_step(tenant, change.writeback),
            verify_step(),
        ]
    if kind is ChangeKind.PERMISSIONS:
        return [preflight_step(), import_step(), permissions_step(change, tenant), verify_step()]
    if kind is ChangeKind.RESTART:
        return [preflight_step(), restart_step(when_needed=False), verify_step()]
    if kind in (ChangeKind.PROXY_SET, ChangeKind.PROXY_CLEAR):
        return proxy_steps(change)
    raise StepBuildError(f"unknown change kind {kind}")


def build_steps(
    change: ChangeSpec,
    host: HostConfig,
    tenant: TenantConfig,
    *,
    from_step: str | None = None,
    timeouts: dict[str, float] | None = None,
) -> list[Step]:
    """The steps of ``change`` on ``host``.

    ``from_step`` (retry --from) keeps that step and the ones after it, plus ``preflight``
    (always re-checked) and the session steps (``import``, ``connect``) the kept steps need,
    since a new session has neither the module nor the sign-in. ``timeouts`` overrides
    ``timeout_s`` by step id or id prefix before ':' (e.g. ``{"domain": 60}``).
    """
    if host.tenant != tenant.name:
        raise StepBuildError(f"host {host.name} belongs to tenant '{host.tenant}'")
    steps = _full_steps(change, tenant, host)
    if from_step is not None:
        ids = [s.id for s in steps]
        if from_step not in ids:
            raise StepBuildError(
                f"there is no step '{from_step}' in this change; steps: {', '.join(ids)}"
            )
        start = ids.index(from_step)
        kept = steps[start:]
        need_connect = any(s.needs_connect for s in kept)
        need_import = need_connect or any(s.needs_import for s in kept)
        head = [
            s
            for s in steps[:start]
            if s.id == "preflight"
            or (s.id == "import" and need_import)
            or (s.id == "connect" and need_connect)
        ]
        steps = head + kept
    if timeouts:
        steps = [
            replace(s, timeout_s=timeouts.get(s.id, timeouts.get(s.id.split(":")[0], s.timeout_s)))
            for s in steps
        ]
    return steps


def registration_probe(steps: list[Step]) -> tuple[str, list[str]] | None:
    """A read-only script answering, for each later step that needs the sign-in, whether its
    check already passes: ``{step_id: bool}``. None when some such step has no check (then
    ``connect`` must run). Lets a repeated run skip ``connect`` and never send its secret.
    """
    later = [s for s in steps if s.needs_connect]
    if not later or any(s.check is None for s in later):
        return None
    parts = ["$probe = [ordered]@{}"]
    for step in later:
        assert step.check is not None
        parts.append(render("$probe[<<key>>] = ((& {", key=step.id))
        parts.append(step.check.strip())
        parts.append("}) -eq $true)")
    parts.append("$probe")
    return "\n".join(parts), [s.id for s in later]
