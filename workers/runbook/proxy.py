# ruff: noqa: E501  (PowerShell templates keep one statement a line)
"""The scripts of ``proxy set`` / ``proxy clear``: read, back up, edit and verify the agent's
``<defaultProxy>`` in its ``.exe.config``, always through .NET's XML DOM.

Microsoft's cloud sync troubleshooting ("Agent times out or certificate isn't valid") and FAQ
("How do I configure the provisioning agent to use a proxy server for outbound HTTP
communication?") configure the outbound proxy in ``AADConnectProvisioningAgent.exe.config``::

    <configuration><system.net>
      <defaultProxy enabled="true" useDefaultCredentials="true">
        <proxy usesystemdefault="true" proxyaddress="http://[proxy-server]:[proxy-port]" bypassonlocal="true"/>
      </defaultProxy>
    </system.net></configuration>

and the agent service must be restarted to read it. This runbook writes ``usesystemdefault=
"false"`` instead: "If set to True, subsequent attributes will override system proxy settings"
(Microsoft Learn, "<proxy> Element (Network Settings)"), so with False nothing of the service
account's own (WinINet) settings is mixed in and the agent uses exactly what was approved.

The bypass list holds .NET regular expressions, matched unanchored and case-insensitively
against ``scheme://host[:port]`` (Microsoft Learn, "<add> Element for bypasslist (Network
Settings)": "[a-z]+\\.contoso\\.com matches ... contoso.com.cpandl.com"; .NET Framework reference
source, ``WebProxy.IsMatchInBypassList``); one invalid expression silently drops the whole list
(``WebProxy.UpdateRegExList(canThrow: false)``). Users therefore name hosts, IPv4 addresses or
``*.domain`` (``workers.domain.validation.validate_bypass_entry``) and :func:`bypass_regex`
writes the escaped expression, anchored at both ends.

Only the agent's file is edited. The Agent Updater has its own ``.exe.config``, but Microsoft's
cloud sync pages document the proxy for the agent's file only, and they put the updater in
different folders over the years ("Azure AD Connect Provisioning Agent Updater" in older
pages); editing a file at a guessed path is riskier than leaving the updater on the machine's
default proxy settings. Every value reaches the scripts as a quoted literal through
:func:`workers.runbook.powershell.render` and into the XML only through ``SetAttribute``, so no
value is ever concatenated into XML or script text.
"""

from __future__ import annotations

from workers.runbook.powershell import render

CONFIG_NAME = "AADConnectProvisioningAgent.exe.config"


def bypass_regex(entry: str) -> str:
    """The .NET regular expression for one validated entry (a host name, an IPv4 address or
    ``*.domain``), matched against ``scheme://host[:port]``: anchored, dots escaped, any port.
    The entry holds only ``[a-z0-9.-]`` (and a leading ``*.``), so escaping the dots is all."""
    if entry.startswith("*."):
        host = r"(?:[a-z0-9-]+\.)+" + entry[2:].replace(".", r"\.")
    else:
        host = entry.replace(".", r"\.")
    return rf"^https?://{host}(?::\d+)?$"


# Loads the file into $doc; $loaded says whether it is XML (shared by both reads).
_LOAD = r"""
    $doc = New-Object -TypeName System.Xml.XmlDocument
    $doc.PreserveWhitespace = $true
    $loaded = $true
    try { $doc.Load($path) } catch { $loaded = $false }
"""

# Reads the file (when it exists and is XML: a file that is not is "not in place", so the backup
# still runs and the edit then fails on Load with .NET's message) and sets $ok: the
# <defaultProxy> holds exactly the approved proxy (three attributes on <proxy>, and the bypass list's children in order, by element name
# and address). XmlElement.GetAttribute returns '' for a missing attribute; SelectSingleNode
# returns $null when nothing matches.
_READ_SET = r"""
$path = <<config>>
$ok = $false
if (Test-Path -LiteralPath $path -PathType Leaf) {
<<LOAD>>
    $dp = $null
    if ($loaded) { $dp = $doc.SelectSingleNode('/configuration/system.net/defaultProxy') }
    $px = $null
    if ($null -ne $dp) { $px = $dp.SelectSingleNode('proxy') }
    if ($null -ne $px) {
        $have = @()
        foreach ($n in @($dp.SelectNodes('bypasslist/*'))) { $have += ($n.Name + ' ' + $n.GetAttribute('address')) }
        $want = @(<<want>>)
        $same = ($have.Count -eq $want.Count) -and (($have -join ' ') -ceq ($want -join ' '))
        $ok = $same -and ($dp.GetAttribute('enabled') -eq 'true') -and ($dp.GetAttribute('useDefaultCredentials') -eq 'true') -and ($px.Attributes.Count -eq 3) -and ($px.GetAttribute('usesystemdefault') -eq 'false') -and ($px.GetAttribute('bypassonlocal') -eq 'true') -and ($px.GetAttribute('proxyaddress') -ceq <<url>>)
    }
}
""".replace("<<LOAD>>\n", _LOAD.lstrip("\n"))

# Sets $ok: the file has no <defaultProxy> (the agent is back on the machine's defaults).
_READ_CLEAR = r"""
$path = <<config>>
$ok = $false
if (Test-Path -LiteralPath $path -PathType Leaf) {
<<LOAD>>
    if ($loaded) { $ok = $null -eq $doc.SelectSingleNode('/configuration/system.net/defaultProxy') }
}
""".replace("<<LOAD>>\n", _LOAD.lstrip("\n"))

_CHECK_TAIL = "$ok\n"

_BACKUP = r"""
$path = <<config>>
if (-not (Test-Path -LiteralPath $path -PathType Leaf)) { throw ('the agent configuration file ' + $path + ' was not found: is the agent installed?') }
$stamp = [DateTime]::UtcNow.ToString('yyyyMMddHHmmss')
$backup = $path + '.bak-' + $stamp
$n = 0
while (Test-Path -LiteralPath $backup) { $n = $n + 1; $backup = $path + '.bak-' + $stamp + '-' + $n }
Copy-Item -LiteralPath $path -Destination $backup
if (-not (Test-Path -LiteralPath $backup -PathType Leaf)) { throw ('the backup ' + $backup + ' was not written') }
[ordered]@{ summary = ('saved a copy of the agent configuration as ' + $backup); backup = $backup }
"""

# The DOM, not text: the existing <proxy> and <bypasslist> are removed and new ones created,
# each value set with SetAttribute (XmlDocument escapes it when saving).
_LOAD = r"""
$path = <<config>>
$doc = New-Object -TypeName System.Xml.XmlDocument
$doc.PreserveWhitespace = $true
$doc.Load($path)
$root = $doc.DocumentElement
if (($null -eq $root) -or ($root.Name -ne 'configuration')) { throw ($path + ' has no <configuration> root element: it was not changed') }
"""

_SET = r"""
$net = $root.SelectSingleNode('system.net')
if ($null -eq $net) { $net = $doc.CreateElement('system.net'); $null = $root.AppendChild($net) }
$dp = $net.SelectSingleNode('defaultProxy')
if ($null -eq $dp) { $dp = $doc.CreateElement('defaultProxy'); $null = $net.AppendChild($dp) }
$dp.SetAttribute('enabled', 'true')
$dp.SetAttribute('useDefaultCredentials', 'true')
foreach ($old in @($dp.SelectNodes('proxy'))) { $null = $dp.RemoveChild($old) }
foreach ($old in @($dp.SelectNodes('bypasslist'))) { $null = $dp.RemoveChild($old) }
$px = $doc.CreateElement('proxy')
$px.SetAttribute('usesystemdefault', 'false')
$px.SetAttribute('proxyaddress', <<url>>)
$px.SetAttribute('bypassonlocal', 'true')
$null = $dp.AppendChild($px)
$addresses = @(<<addresses>>)
if ($addresses.Count -gt 0) {
    $list = $doc.CreateElement('bypasslist')
    foreach ($address in $addresses) { $add = $doc.CreateElement('add'); $add.SetAttribute('address', $address); $null = $list.AppendChild($add) }
    $null = $dp.AppendChild($list)
}
$doc.Save($path)
[ordered]@{ summary = <<summary>>; proxy = <<url>>; bypass = $addresses }
"""

_CLEAR = r"""
$dp = $doc.SelectSingleNode('/configuration/system.net/defaultProxy')
if ($null -ne $dp) { $null = $dp.ParentNode.RemoveChild($dp) }
$doc.Save($path)
'agent proxy removed: the agent uses the machine''s default proxy settings again'
"""

_VERIFY = r"""
$svc = [string](Get-Service -Name <<service>>).Status
if (-not $ok) { throw <<mismatch>> }
if ($svc -ne 'Running') { throw ('the agent service is ' + $svc + ', not Running') }
[ordered]@{ summary = (<<done>> + '; agent service ' + $svc); status = $svc }
"""


# Whether the running agent has read the file as it is now: its process (Win32_Service.
# ProcessId) started after the file's last write. Only then may the restart be skipped, so a run
# that edited the file but stopped before the restart (a lost session, a cancel) restarts on its
# retry although the edit's check now passes; a repeat of a change already in force does not.
_RESTART_CHECK = r"""
$svc = Get-CimInstance -ClassName Win32_Service -Filter "Name='AADConnectProvisioningAgent'"
if (($null -eq $svc) -or ([string]$svc.State -ne 'Running') -or (-not $svc.ProcessId)) { return $false }
$proc = Get-Process -Id $svc.ProcessId -ErrorAction SilentlyContinue
$file = Get-Item -LiteralPath <<config>> -ErrorAction SilentlyContinue
if (($null -eq $proc) -or ($null -eq $file)) { return $false }
$proc.StartTime.ToUniversalTime().Ticks -gt $file.LastWriteTimeUtc.Ticks
"""


def restart_check_script(config: str) -> str:
    """``$true`` when the agent's process started after ``config`` was last written."""
    return render(_RESTART_CHECK, config=config)


def _want(bypass: tuple[str, ...]) -> list[str]:
    return ["add " + bypass_regex(entry) for entry in bypass]


def describe(url: str | None, bypass: tuple[str, ...]) -> str:
    """One line for summaries: the proxy and what bypasses it."""
    if url is None:
        return "no proxy (the machine's default settings apply)"
    shown = ", ".join(bypass) if bypass else "local names only"
    return f"proxy {url}, bypass: {shown}"


def read_script(config: str, url: str | None, bypass: tuple[str, ...]) -> str:
    """Sets ``$ok`` to whether the file already holds this proxy (None: no proxy)."""
    if url is None:
        return render(_READ_CLEAR, config=config)
    return render(_READ_SET, config=config, want=_want(bypass), url=url)


def check_script(config: str, url: str | None, bypass: tuple[str, ...]) -> str:
    """``$true`` when the file already holds this proxy (None: no proxy): the step is skipped."""
    return read_script(config, url, bypass) + _CHECK_TAIL


def backup_script(config: str) -> str:
    return render(_BACKUP, config=config)


def edit_script(config: str, url: str | None, bypass: tuple[str, ...]) -> str:
    load = render(_LOAD, config=config)
    if url is None:
        return load + _CLEAR
    addresses = [bypass_regex(entry) for entry in bypass]
    summary = "agent configuration now has " + describe(url, bypass)
    return load + render(_SET, url=url, addresses=addresses, summary=summary)


def verify_script(config: str, url: str | None, bypass: tuple[str, ...], service: str) -> str:
    wanted = describe(url, bypass)
    return read_script(config, url, bypass) + render(
        _VERIFY,
        service=service,
        mismatch=f"the agent configuration does not hold what was approved ({wanted})",
        done=f"the agent configuration has {wanted}",
    )
