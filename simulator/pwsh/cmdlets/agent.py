"""The cloud sync agent's cmdlets (Microsoft.CloudSync.PowerShell.dll), against the tenant model.

They exist only after Import-Module of the agent dll in this session, and the Entra sign-in
of Connect-AADCloudSyncAzureAD lives in the session, as on Windows.
"""

from __future__ import annotations

from typing import Any

from ...host import AGENT_REG, AGENT_SERVICE, SimHost
from ..commands import Ctx, Param, cmdlet
from ..values import PSCredential, PSObject, PSRuntimeError, as_list, to_bool, to_str

MODULE = "agent"
PERMISSION_TYPES = (
    "BasicRead",
    "PasswordHashSync",
    "PasswordWriteBack",
    "HybridExchangePermissions",
    "ExchangeMailPublicFolderPermissions",
    "UserGroupCreateDelete",
    "All",
)
MFA_MESSAGE = (
    "AADSTS50076: Due to a configuration change made by your administrator, or because you moved "
    "to a new location, you must use multi-factor authentication to access "
    "'1b730954-1685-4b74-9bfd-dac224a7b894'."
)
BAD_PASSWORD = "AADSTS50126: Error validating credentials due to invalid username or password."
HYBRID_ROLES = ("hybrid identity administrator", "global administrator")


def _cred(ctx: Ctx, name: str = "Credential") -> PSCredential:
    value = ctx.get(name)
    if isinstance(value, PSCredential):
        return value
    if value is None:
        # the real cmdlet would prompt: in a non-interactive session that fails like Get-Credential
        raise ctx.error(
            "PowerShell is in NonInteractive mode. Read and Prompt functionality is not available.",
            "System.InvalidOperationException",
            "InvalidOperation",
            "System.InvalidOperationException",
        )
    raise ctx.error(
        f"Cannot process argument transformation on parameter '{name}'. A command that prompts "
        "the user failed because the host program or the command type does not support user "
        "interaction.",
        f"ParameterArgumentTransformationError,{ctx.cmdlet.name}",
        "InvalidData",
        "System.Management.Automation.ParameterBindingArgumentTransformationException",
    )


def _entra_sign_in(ctx: Ctx, cred: PSCredential, roles: tuple[str, ...], role_text: str) -> str:
    tenant = ctx.host.tenant
    acct = tenant.account(cred.user)
    if acct is None or acct["password"] != cred.password.reveal():
        raise ctx.error(
            BAD_PASSWORD,
            "Microsoft.Identity.Client.MsalUiRequiredException",
            "AuthenticationError",
            "Microsoft.Identity.Client.MsalUiRequiredException",
        )
    # Conditional Access can demand MFA for every sign-in from one server (its location).
    if acct["mfa_required"] or ctx.host.mfa_required:
        raise ctx.error(
            MFA_MESSAGE,
            "Microsoft.Identity.Client.MsalUiRequiredException",
            "AuthenticationError",
            "Microsoft.Identity.Client.MsalUiRequiredException",
        )
    if not any(r.lower() in roles for r in acct["roles"]):
        raise ctx.error(
            f"The account '{cred.user}' does not have the {role_text} role in tenant "
            f"{tenant.tenant_id}. Sign in with an account that has it.",
            "UnauthorizedAccessException",
            "PermissionDenied",
            "System.UnauthorizedAccessException",
        )
    return cred.user


def _require_connected(ctx: Ctx) -> str:
    if not ctx.session.aad_account:
        raise ctx.error(
            "Not connected to Microsoft Entra ID: run Connect-AADCloudSyncAzureAD in this session first.",  # noqa: E501
            "InvalidOperationException",
            "InvalidOperation",
            "System.InvalidOperationException",
        )
    return ctx.session.aad_account


def _domain_admin(ctx: Ctx, cred: PSCredential, fqdn: str | None) -> str:
    """Check a domain admin credential; returns the domain fqdn it belongs to."""
    tenant = ctx.host.tenant
    found = tenant.find_domain_user(cred.user)
    if found is None:
        raise ctx.error(
            "The user name or password is incorrect.",
            "System.Security.Authentication.AuthenticationException",
            "AuthenticationError",
            "System.Security.Authentication.AuthenticationException",
        )
    dom, _sam, rec = found
    if rec["password"] != cred.password.reveal():
        raise ctx.error(
            "The user name or password is incorrect.",
            "System.Security.Authentication.AuthenticationException",
            "AuthenticationError",
            "System.Security.Authentication.AuthenticationException",
        )
    if rec["expired"]:
        raise ctx.error(
            "The user's password has expired. (LDAP error 49: 80090308: LdapErr: DSID-0C090447, "
            "comment: AcceptSecurityContext error, data 532, v4563)",
            "System.DirectoryServices.DirectoryServicesCOMException",
            "AuthenticationError",
            "System.DirectoryServices.DirectoryServicesCOMException",
        )
    if fqdn is not None and dom != fqdn.lower():
        raise ctx.error(
            f"The account '{cred.user}' is not a Domain Administrator of '{fqdn}'.",
            "UnauthorizedAccessException",
            "PermissionDenied",
            "System.UnauthorizedAccessException",
        )
    return dom


@cmdlet(
    "Connect-AADCloudSyncAzureAD",
    [Param("Credential", position=0), Param("Environment")],
    module=MODULE,
)
def connect(ctx: Ctx) -> list[Any]:
    cred = _cred(ctx)
    user = _entra_sign_in(ctx, cred, HYBRID_ROLES, "Hybrid Identity Administrator")
    ctx.session.aad_account = user
    ctx.host.tenant.open_window(ctx.host.name, ctx.session.session_id)
    ctx.host.record.event("aad_connected", host=ctx.host.name, session=ctx.session.session_id)
    return []


def _quarantine(ctx: Ctx, other: str) -> PSRuntimeError:
    ctx.host.record.event("registration_overlap", host=ctx.host.name, other=other)
    return ctx.error(
        "Agent registration failed: the connector was placed in quarantine because of a "
        "credential error (invalid_client: the client credentials are not valid). Another agent "
        f"registration in this tenant was in progress at the same time (on {other}); register "
        "agents one after another.",
        "System.Security.SecurityException",
        "SecurityError",
        "System.Security.SecurityException",
    )


def _register(ctx: Ctx, host: SimHost, logon: str) -> None:
    tenant = host.tenant
    other = tenant.earlier_overlapping(host.name, ctx.session.session_id)
    if other is not None:
        raise _quarantine(ctx, other.host)
    svc = host.service(AGENT_SERVICE)
    with host.lock:
        if svc is not None:
            svc.start_name = logon
        host.agent_registered = True
        host.reg_values(AGENT_REG)["TenantID"] = tenant.tenant_id
    with tenant.lock:
        tenant.agents = [a for a in tenant.agents if a["machine"] != host.name]
        tenant.agents.append({"machine": host.name, "status": "active", "gmsa": logon})
    host.record.event("agent_registered", host=host.name, gmsa=logon, tenant=tenant.tenant_id)


@cmdlet(
    "Add-AADCloudSyncGMSA",
    [Param("Credential", position=0), Param("CustomGMSAName")],
    module=MODULE,
)
def add_gmsa(ctx: Ctx) -> list[Any]:
    host = ctx.host
    tenant = host.tenant
    _require_connected(ctx)
    root = tenant.domains[tenant.forest_root]
    netbios = root["netbios"]
    if ctx.has("CustomGMSAName"):
        name = to_str(ctx.get("CustomGMSAName")).split("\\")[-1]
        if not name.endswith("$"):
            name += "$"
        if not any(g.lower() == name.lower() for g in root["gmsas"]):
            raise ctx.error(
                f"The gMSA '{name}' was not found in domain {tenant.forest_root}.",
                "ActiveDirectoryObjectNotFoundException",
                "ObjectNotFound",
                "System.DirectoryServices.ActiveDirectory.ActiveDirectoryObjectNotFoundException",
            )
        _register(ctx, host, f"{netbios}\\{name}")
        return []
    cred = _cred(ctx)
    _domain_admin(ctx, cred, tenant.forest_root)
    name = "provAgentgMSA$"
    with tenant.lock:
        exists = any(g.lower() == name.lower() for g in root["gmsas"])
        if not exists and not root["kds_root_key"]:
            raise ctx.error(
                "Unable to create gMSA because KDS may not be running on domain controller",
                "InvalidOperationException",
                "InvalidOperation",
                "System.InvalidOperationException",
            )
        if not exists:
            root["gmsas"].add(name)
    if not exists:
        host.record.event("gmsa_created", host=host.name, gmsa=f"{netbios}\\{name}")
    _register(ctx, host, f"{netbios}\\{name}")
    return []


@cmdlet(
    "Add-AADCloudSyncADDomain",
    [
        Param("DomainName", position=0),
        Param("Credential", position=1),
        Param("PreferredDomainControllers"),
        Param("SkipDomainControllerCheck", switch=True),
    ],
    module=MODULE,
)
def add_domain(ctx: Ctx) -> list[Any]:
    host = ctx.host
    tenant = host.tenant
    _require_connected(ctx)
    fqdn = to_str(ctx.get("DomainName")).lower()
    domain = tenant.domains.get(fqdn)
    if domain is None:
        raise ctx.error(
            "The specified domain either does not exist or could not be contacted.",
            "ActiveDirectoryObjectNotFoundException",
            "ObjectNotFound",
            "System.DirectoryServices.ActiveDirectory.ActiveDirectoryObjectNotFoundException",
        )
    for dc in as_list(ctx.get("PreferredDomainControllers")):
        name = to_str(dc).lower()
        if name in domain["unreachable_dcs"] or name not in domain["dcs"]:
            raise ctx.error(
                f"The specified domain either does not exist or could not be contacted. "
                f"(preferred domain controller '{to_str(dc)}')",
                "ActiveDirectoryServerDownException",
                "ConnectionError",
                "System.DirectoryServices.ActiveDirectory.ActiveDirectoryServerDownException",
            )
    _domain_admin(ctx, _cred(ctx), fqdn)
    with host.lock:
        if fqdn not in host.agent_domains:
            host.agent_domains.append(fqdn)
    host.record.event(
        "domain_added",
        host=host.name,
        domain=fqdn,
        preferred=[to_str(d) for d in as_list(ctx.get("PreferredDomainControllers"))],
    )
    return []


@cmdlet("Get-AADCloudSyncDomains", [], module=MODULE)
def get_domains(ctx: Ctx) -> list[Any]:
    with ctx.host.lock:
        domains = list(ctx.host.agent_domains)
    # The output's property names are not documented; the scenario's ``domain_property`` names
    # the one holding the FQDN (default DomainName), beside other string properties.
    key = ctx.host.domain_property
    return [
        PSObject({"Status": "Configured", key: d, "NetBiosName": d.split(".")[0].upper()})
        for d in domains
    ]


@cmdlet(
    "Set-AADCloudSyncPasswordWritebackConfiguration",
    [Param("Enable"), Param("Credential")],
    module=MODULE,
)
def set_writeback(ctx: Ctx) -> list[Any]:
    cred = _cred(ctx)
    _entra_sign_in(ctx, cred, ("global administrator",), "Global Administrator")
    enable = to_bool(ctx.get("Enable"))
    with ctx.host.tenant.lock:
        ctx.host.tenant.writeback = enable
    ctx.host.record.event("writeback_set", host=ctx.host.name, enabled=enable)
    return []


@cmdlet(
    "Set-AADCloudSyncPermissions",
    [
        Param("PermissionType"),
        Param("TargetDomain"),
        Param("TargetDomainCredential"),
        Param("EACredential"),
        Param("CustomGMSAName"),
    ],
    module=MODULE,
)
def set_permissions(ctx: Ctx) -> list[Any]:
    ptype = to_str(ctx.get("PermissionType"))
    match = next((p for p in PERMISSION_TYPES if p.lower() == ptype.lower()), None)
    if match is None:
        raise ctx.error(
            f"Cannot validate argument on parameter 'PermissionType'. The argument \"{ptype}\" does "  # noqa: E501
            f'not belong to the set "{",".join(PERMISSION_TYPES)}" specified by the ValidateSet '
            "attribute. Supply an argument that is in the set and then try the command again.",
            f"ParameterArgumentValidationError,{ctx.cmdlet.name}",
            "InvalidData",
            "System.Management.Automation.ParameterBindingValidationException",
        )
    tenant = ctx.host.tenant
    if ctx.has("EACredential"):
        _domain_admin(ctx, _cred(ctx, "EACredential"), tenant.forest_root)
        target = "forest"
    elif ctx.has("TargetDomain"):
        target = to_str(ctx.get("TargetDomain")).lower()
        _domain_admin(ctx, _cred(ctx, "TargetDomainCredential"), target)
    else:
        raise ctx.error(
            "Parameter set cannot be resolved using the specified named parameters.",
            f"AmbiguousParameterSet,{ctx.cmdlet.name}",
            "InvalidArgument",
            "System.Management.Automation.ParameterBindingException",
        )
    ctx.host.record.event("permissions_set", host=ctx.host.name, permission=match, target=target)
    return []


@cmdlet("Get-ADServiceAccount", [Param("Identity", position=0)])
def get_ad_service_account(ctx: Ctx) -> list[Any]:
    """The ActiveDirectory module's read of one (g)MSA by SAM account name, in the forest root
    (where Add-AADCloudSyncGMSA looks too). Not found raises ADIdentityNotFoundException with
    category ObjectNotFound, as the real cmdlet does:
    https://learn.microsoft.com/powershell/module/activedirectory/get-adserviceaccount"""
    tenant = ctx.host.tenant
    root_name = tenant.forest_root
    root = tenant.domains[root_name]
    wanted = to_str(ctx.get("Identity")).split("\\")[-1]
    sam = wanted if wanted.endswith("$") else wanted + "$"
    base = ",".join(f"DC={part}" for part in root_name.split("."))
    for name in sorted(root["gmsas"]):
        if name.lower() == sam.lower():
            return [
                PSObject(
                    {
                        "Name": name[:-1],
                        "SamAccountName": name,
                        "DistinguishedName": f"CN={name[:-1]},CN=Managed Service Accounts,{base}",
                        "ObjectClass": "msDS-GroupManagedServiceAccount",
                        "Enabled": True,
                    }
                )
            ]
    raise ctx.error(
        f"Cannot find an object with identity: '{wanted}' under: '{base}'.",
        "ActiveDirectoryCmdlet:Microsoft.ActiveDirectory.Management.ADIdentityNotFoundException,"
        "Microsoft.ActiveDirectory.Management.Commands.GetADServiceAccount",
        "ObjectNotFound",
        "Microsoft.ActiveDirectory.Management.ADIdentityNotFoundException",
    )
