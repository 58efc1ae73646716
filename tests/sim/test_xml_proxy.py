"""The modelled System.Xml.XmlDocument and the agent's .exe.config: the proxy scripts' edit on
the host's file, and .NET's strictness (null from SelectSingleNode, '' from GetAttribute,
exceptions from Load, RemoveChild and Save)."""

from __future__ import annotations

from xml.dom import minidom

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulator.host import AGENT_CONFIG, AGENT_SERVICE, SimHost
from simulator.pwsh.testing import run_encoded
from simulator.world import default_world
from workers.domain.validation import validate_bypass, validate_proxy_url
from workers.runbook import proxy
from workers.runbook.powershell import quote, render

URL = "http://proxy.contoso.com:8080"
BYPASS = ("*.contoso.com", "10.0.0.5")


def agent_host(**spec: object) -> SimHost:
    world = default_world(startup_cost_s=0, agent_installed={"gmsa": "CONTOSO\\pGMSA_1a$"}, **spec)
    return world.hosts["SIM01"]


def run(host: SimHost, script: str) -> tuple[str, str]:
    result = run_encoded(host, script)
    return result.stdout.strip(), result.stderr


def config_dom(host: SimHost) -> minidom.Document:
    entry = host.file(AGENT_CONFIG)
    assert entry is not None
    return minidom.parseString(entry.content)


def test_the_installed_agent_has_its_config_file_without_a_proxy() -> None:
    host = agent_host()
    dom = config_dom(host)
    assert dom.documentElement.tagName == "configuration"
    assert not dom.getElementsByTagName("defaultProxy")
    assert host.agent_proxy is None
    out, _ = run(host, proxy.check_script(AGENT_CONFIG, URL, BYPASS))
    assert out == "False"


def test_set_edits_the_file_through_the_dom_and_a_repeat_is_a_no_op() -> None:
    host = agent_host()
    _out, err = run(host, proxy.edit_script(AGENT_CONFIG, URL, BYPASS))
    assert not err, err
    dom = config_dom(host)
    (default,) = dom.getElementsByTagName("defaultProxy")
    assert default.getAttribute("enabled") == "true"
    assert default.getAttribute("useDefaultCredentials") == "true"
    (element,) = default.getElementsByTagName("proxy")
    assert dict(element.attributes.items()) == {
        "usesystemdefault": "false",
        "proxyaddress": URL,
        "bypassonlocal": "true",
    }
    addresses = [a.getAttribute("address") for a in default.getElementsByTagName("add")]
    assert addresses == [proxy.bypass_regex(b) for b in BYPASS]
    assert dom.getElementsByTagName("appSettings")  # the rest of the file is kept
    assert run(host, proxy.check_script(AGENT_CONFIG, URL, BYPASS))[0] == "True"
    # another URL or list is not "already set"
    assert run(host, proxy.check_script(AGENT_CONFIG, URL + "1", BYPASS))[0] == "False"
    assert run(host, proxy.check_script(AGENT_CONFIG, URL, BYPASS[:1]))[0] == "False"
    before = host.file(AGENT_CONFIG)
    run(host, proxy.edit_script(AGENT_CONFIG, URL, BYPASS))
    assert host.file(AGENT_CONFIG).content == before.content  # type: ignore[union-attr]


def test_set_replaces_an_existing_proxy_and_clear_removes_it() -> None:
    old = (
        '<?xml version="1.0" encoding="utf-8"?><configuration><system.net>'
        '<defaultProxy enabled="true"><proxy autoDetect="true" proxyaddress="http://old:3128"/>'
        '<bypasslist><clear/><add address="old\\.com$"/></bypasslist></defaultProxy>'
        "</system.net></configuration>"
    )
    host = agent_host(agent_config=old)
    assert host.agent_proxy == "http://old:3128"  # read when the service started
    assert run(host, proxy.check_script(AGENT_CONFIG, "http://old:3128", ()))[0] == "False"
    run(host, proxy.edit_script(AGENT_CONFIG, URL, ()))
    dom = config_dom(host)
    (element,) = dom.getElementsByTagName("proxy")
    assert not element.hasAttribute("autoDetect")
    assert not dom.getElementsByTagName("bypasslist")
    assert run(host, proxy.check_script(AGENT_CONFIG, URL, ()))[0] == "True"
    out, err = run(host, proxy.edit_script(AGENT_CONFIG, None, ()))
    assert not err and "removed" in out
    assert not config_dom(host).getElementsByTagName("defaultProxy")
    assert run(host, proxy.check_script(AGENT_CONFIG, None, ()))[0] == "True"


def test_backup_keeps_every_copy() -> None:
    host = agent_host()
    first, _ = run(host, proxy.backup_script(AGENT_CONFIG))
    second, _ = run(host, proxy.backup_script(AGENT_CONFIG))
    assert "saved a copy" in first and first != second
    backups = [e for k, e in host.files.items() if ".exe.config.bak-" in k]
    assert len(backups) == 2
    original = host.file(AGENT_CONFIG)
    assert all(b.content == original.content for b in backups)  # type: ignore[union-attr]


def test_xmldocument_is_strict_as_dotnet() -> None:
    host = agent_host()
    script = render(
        r"""
$doc = New-Object -TypeName System.Xml.XmlDocument
try { $doc.Load(<<missing>>) } catch { 'load: ' + $_.Exception.Message }
$doc.Load(<<config>>)
'none: ' + ($null -eq $doc.SelectSingleNode('/configuration/system.net'))
$add = $doc.SelectSingleNode('/configuration/appSettings/add')
'missing attribute: [' + $add.GetAttribute('nothing') + ']'
$other = $doc.CreateElement('x')
try { $null = $doc.DocumentElement.RemoveChild($other) } catch { 'remove: ' + $_.Exception.Message }
try { $doc.Save(<<nowhere>>) } catch { 'save: ' + $_.Exception.Message }
$bad = New-Object -TypeName System.Xml.XmlDocument
try { $bad.LoadXml('<configuration>') } catch { 'parse: ' + $_.Exception.Message }
""",
        missing="C:\\nothing\\here.config",
        config=AGENT_CONFIG,
        nowhere="C:\\nothing\\here.config",
    )
    out, _err = run(host, script)
    lines = out.splitlines()
    assert (
        'load: Exception calling "Load" with "1" argument(s): "Could not find file '
        "'C:\\nothing\\here.config'.\""
    ) in lines, out
    assert "none: True" in lines
    assert "missing attribute: []" in lines
    assert any("The node to be removed is not a child of this node." in x for x in lines)
    assert any("Could not find a part of the path" in x for x in lines)
    assert any(x.startswith('parse: Exception calling "LoadXml"') for x in lines), out


def test_a_broken_config_stops_the_agent_at_its_restart() -> None:
    host = agent_host()
    host.put_file(type(host.file(AGENT_CONFIG))(AGENT_CONFIG, b"<configuration>"))  # type: ignore[misc]
    _out, err = run(host, "Restart-Service -Name " + quote(AGENT_SERVICE))
    assert "cannot be started" in err
    assert host.service(AGENT_SERVICE).status == "Stopped"  # type: ignore[union-attr]


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(value=st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=40))
def test_any_attribute_value_survives_save_and_load_as_data(value: str) -> None:
    """SetAttribute escapes on Save: quotes, brackets and ampersands stay a value, never XML."""
    host = agent_host()
    script = render(
        r"""
$doc = New-Object -TypeName System.Xml.XmlDocument
$doc.PreserveWhitespace = $true
$doc.Load(<<config>>)
$doc.DocumentElement.SetAttribute('probe', <<value>>)
$doc.Save(<<config>>)
$again = New-Object -TypeName System.Xml.XmlDocument
$again.Load(<<config>>)
[Console]::Out.WriteLine('@@' + ($again.DocumentElement.GetAttribute('probe') -ceq <<value>>))
""",
        config=AGENT_CONFIG,
        value=value,
    )
    out, err = run(host, script)
    assert "@@True" in out, (value, out, err)
    dom = config_dom(host)
    assert dom.documentElement.getAttribute("probe") == value
    assert len(dom.documentElement.attributes) == 1


def test_the_agent_process_start_and_the_file_write_are_ordered_as_they_happened() -> None:
    """Win32_Service.ProcessId -> Get-Process StartTime, and Get-Item LastWriteTimeUtc: what the
    restart's check compares."""
    host = agent_host()
    check = proxy.restart_check_script(AGENT_CONFIG)
    assert run(host, check)[0] == "True"  # started after the installer wrote the file
    run(host, proxy.edit_script(AGENT_CONFIG, URL, ()))
    assert run(host, check)[0] == "False"  # written since: the agent has not read it
    first_pid = host.service(AGENT_SERVICE).pid  # type: ignore[union-attr]
    run(host, "Restart-Service -Name " + quote(AGENT_SERVICE))
    assert host.service(AGENT_SERVICE).pid != first_pid  # type: ignore[union-attr]
    assert host.processes[first_pid]["exited"]
    assert run(host, check)[0] == "True"
    assert host.agent_proxy == URL


_LABEL = st.from_regex(r"[a-z0-9](?:[a-z0-9-]{0,8}[a-z0-9])?", fullmatch=True)
_NAME = (
    st.lists(_LABEL, min_size=1, max_size=3)
    .map(".".join)
    .filter(lambda n: not n.replace(".", "").isdigit())
)


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    url=st.tuples(st.sampled_from(["http", "HTTP"]), _NAME, st.integers(1, 65535)).map(
        lambda t: f"{t[0]}://{t[1]}:{t[2]}"
    ),
    bypass=st.lists(st.one_of(_NAME, _NAME.map(lambda n: "*." + n)), max_size=4, unique=True),
)
def test_every_accepted_value_reaches_the_file_exactly(url: str, bypass: list[str]) -> None:
    """Validated, quoted by the one helper, read back by (modelled) PowerShell, set through the
    DOM: the file holds exactly the values, and the check then says 'already set'."""
    url = validate_proxy_url(url)
    entries = validate_bypass(bypass)
    host = agent_host()
    _out, err = run(host, proxy.edit_script(AGENT_CONFIG, url, entries))
    assert not err, err
    dom = config_dom(host)
    (element,) = dom.getElementsByTagName("proxy")
    assert element.getAttribute("proxyaddress") == url
    lists = dom.getElementsByTagName("bypasslist")
    written = [a.getAttribute("address") for b in lists for a in b.getElementsByTagName("add")]
    assert written == [proxy.bypass_regex(e) for e in entries]
    assert run(host, proxy.check_script(AGENT_CONFIG, url, entries))[0] == "True"
