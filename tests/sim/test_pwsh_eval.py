"""Language semantics of the simulator's PowerShell evaluator (engine level, no HTTP)."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.host import SimHost
from simulator.pwsh.testing import clean_clixml, run_encoded
from simulator.world import default_world


@pytest.fixture(scope="module")
def host() -> SimHost:
    return default_world(startup_cost_s=0, install_s=0).hosts["SIM01"]


def out(host: SimHost, script: str) -> str:
    r = run_encoded(host, script)
    assert r.stderr == "", clean_clixml(r.stderr)
    return r.stdout


CASES = [
    ("$a = 1; $a += 2; $a", "3"),
    ("$A = 'x'; $a", "x"),
    ("'it''s'", "it's"),
    ('$v = 5; "v=$v and $($v * 2)"', "v=5 and 10"),
    ('$h = @{Prop = 1}; "$h.Prop"', "System.Collections.Hashtable.Prop"),
    ('"tab`there `"q`" ""d"" `$no"', 'tab\there "q" "d" $no'),
    ("@'\nraw $x\n'@", "raw $x"),
    ('$x = 7; @"\nval $x\n"@', "val 7"),
    ("$h = @{a = 1; 'B' = 2}; $h.b + $h['A']", "3"),
    ("$o = [ordered]@{z = 1; a = 2}; $o.Keys -join ','", "z,a"),
    ("$p = [pscustomobject]@{Name = 'n'}; $p.name", "n"),
    ("[int]'42' + 1", "43"),
    ("[string]5 + 5", "55"),
    ("[bool]'x'", "True"),
    ("[version]'1.1.2334.0' -ge [version]'1.1.100.0'", "True"),
    ("@(1, 2, 3).Count", "3"),
    ("@().Count", "0"),
    ("$a = 'a', 'b'; $a[1]", "b"),
    ("(1, 2, 3, 4) -gt 2 -join ','", "3,4"),
    ("'abc' -like 'A*'", "True"),
    ("'abc' -notlike 'b*'", "True"),
    ("'abc' -match '^a(b)'; $Matches[1]", "True\r\nb"),
    ("@('x', 'y') -contains 'Y'", "True"),
    ("'y' -in @('x', 'y')", "True"),
    ("'y' -notin @('x')", "True"),
    ("'{0}-{1}' -f 'a', 2", "a-2"),
    ("'a,b' -split ','", "a\r\nb"),
    ("'hello' -replace 'l', 'L'", "heLLo"),
    ("-not $false -and !$null", "True"),
    ("$true -or $(throw 'never')", "True"),
    ("7 / 2; 6 / 2; 2 * 3 - 1", "3.5\r\n3\r\n5"),
    ("'ab'.ToUpper().Contains('B')", "True"),
    ("' x '.Trim().Length", "1"),
    ("'a.b.c'.Split('.')[2]", "c"),
    ("'Cloud'.StartsWith('cl')", "False"),
    ("'abc'.Replace('b', 'x')", "axc"),
    ("$h = @{k = 1}; $h.ContainsKey('K')", "True"),
    ("(5).ToString()", "5"),
    ("if ($false) { 1 } elseif ($true) { 2 } else { 3 }", "2"),
    ("$i = 0; while ($true) { $i++; if ($i -ge 3) { break } }; $i", "3"),
    ("foreach ($x in 1, 2, 3) { if ($x -eq 2) { continue }; $x }", "1\r\n3"),
    ("for ($i = 0; $i -lt 2; $i++) { $i }", "0\r\n1"),
    ("$sb = { param($n) $n * 2 }; & $sb 4", "8"),
    ("& { 'inner' }", "inner"),
    ("$r = & ([scriptblock]::Create('1 + 1')); $r", "2"),
    ("1, 2, 3 | Where-Object { $_ -gt 1 } | ForEach-Object { $PSItem * 10 }", "20\r\n30"),
    ("(1, 2, 3 | Measure-Object).Count", "3"),
    ("3, 1, 2 | Sort-Object", "1\r\n2\r\n3"),
    ("[pscustomobject]@{a = 1; b = 2} | Select-Object -ExpandProperty b", "2"),
    (
        "try { throw 'boom' } catch { $_.Exception.Message; $_.FullyQualifiedErrorId; $_.ToString() }",  # noqa: E501
        "boom\r\nboom\r\nboom",
    ),
    (
        'try { Get-Service nope -ErrorAction Stop } catch { "$($_.CategoryInfo.Category)" }',
        "ObjectNotFound",
    ),
    ("try { 'a' } finally { 'f' }", "a\r\nf"),
    ("function Add2($x) { return $x + 2 }; Add2 3", "5"),
    (
        "@{a = 1; b = @(1, 2); c = $null; d = $true} | ConvertTo-Json -Compress",
        '{"a":1,"b":[1,2],"c":null,"d":true}',
    ),
    ('$o = \'{"A": {"b": [1, 2]}}\' | ConvertFrom-Json; $o.a.B[1]', "2"),
    (
        "$s = ConvertTo-SecureString 'pw' -AsPlainText -Force; \"$s\"",
        "System.Security.SecureString",
    ),
    (
        "$c = New-Object PSCredential('u', (ConvertTo-SecureString 'pw' -AsPlainText -Force)); $c.UserName; $c.GetNetworkCredential().Password",  # noqa: E501
        "u\r\npw",
    ),
    ("[Environment]::MachineName", "SIM01"),
    ("[IO.Path]::Combine('C:\\a', 'b.txt')", "C:\\a\\b.txt"),
    ("$null -eq $nothing", "True"),
    ("Write-Output 'a' 'b'", "a\r\nb"),
    ("Write-Host 'h'", "h"),
    ("$x = $null; $x.Count", "0"),
    ("(Get-Date).ToString('yyyy').Length", "4"),
    ("[Console]::Out.WriteLine('direct')", "direct"),
    ("Get-Service nope -ErrorAction SilentlyContinue; $?", "False"),
    ("$a = 1..3; $a.Count", "3"),
    ("'{0:N1}' -f 2.25", "2.3"),
    (
        "Get-Service WinRM | Select-Object Name,Status | ConvertTo-Json -Compress",
        '{"Name":"WinRM","Status":"Running"}',
    ),
    (
        "[Net.ServicePointManager]::SecurityProtocol = [Net.SecurityProtocolType]::Tls12; "
        "[Net.ServicePointManager]::SecurityProtocol",
        "Tls12",
    ),
    ("Test-NetConnection login.microsoftonline.com -Port 443 -InformationLevel Quiet", "True"),
]


@pytest.mark.parametrize(("script", "expected"), CASES)
def test_semantics(host: SimHost, script: str, expected: str) -> None:
    assert out(host, script) == expected + "\r\n"


def test_hashtable_default_format(host: SimHost) -> None:
    text = out(host, "@{Name1 = 'v'}")
    assert "Name" in text and "Value" in text and "Name1" in text


def test_object_list_format(host: SimHost) -> None:
    assert "A : 1" in out(host, "[pscustomobject]@{A = 1}")


def test_exit_code(host: SimHost) -> None:
    r = run_encoded(host, "'x'; exit 7; 'never'")
    assert (r.stdout, r.exit_code) == ("x\r\n", 7)


def test_uncaught_throw_is_clixml_and_exit_1(host: SimHost) -> None:
    r = run_encoded(host, "'before'; throw 'kaput'; 'after'")
    assert r.stdout == "before\r\n"
    assert r.exit_code == 1
    assert r.stderr.startswith(
        '#< CLIXML\r\n<Objs Version="1.1.0.1" xmlns="http://schemas.microsoft.com/powershell/2004/04"><S S="Error">kaput_x000D__x000A_</S>'  # noqa: E501
    )
    assert r.stderr.endswith("</Objs>")
    assert clean_clixml(r.stderr).splitlines()[0] == "kaput"


def test_unknown_command_message(host: SimHost) -> None:
    r = run_encoded(host, "Get-Nothing")
    text = clean_clixml(r.stderr)
    assert (
        "The term 'Get-Nothing' is not recognized as the name of a cmdlet, function, script file, "
        "or operable program. Check the spelling of the name, or if a path was included, verify "
        "that the path is correct and try again." in text
    )
    assert "CommandNotFoundException" in text
    assert r.exit_code == 1


def test_unknown_and_ambiguous_parameter(host: SimHost) -> None:
    r = run_encoded(
        host,
        "try { Get-Service -Bogus x } catch { $_.Exception.Message; $_.FullyQualifiedErrorId }",
    )
    lines = r.stdout.splitlines()
    assert lines[0] == "A parameter cannot be found that matches parameter name 'Bogus'."
    assert lines[1].startswith("NamedParameterNotFound")
    r = run_encoded(host, "try { Start-Process x.exe -W } catch { $_.FullyQualifiedErrorId }")
    assert r.stdout.startswith("AmbiguousParameter")


def test_prefix_and_colon_parameters(host: SimHost) -> None:
    assert out(host, "(Get-Service -N WinRM).Status") == "Running\r\n"
    assert out(host, "Get-Service -Name:WinRM | Select-Object -ExpandProperty Name") == "WinRM\r\n"


def test_statement_terminating_error_continues_script(host: SimHost) -> None:
    r = run_encoded(host, "Get-Service nope; 'next'")
    assert r.stdout == "next\r\n"
    assert "Cannot find any service with service name 'nope'." in clean_clixml(r.stderr)
    assert r.exit_code == 0


def test_error_action_preference_stop(host: SimHost) -> None:
    r = run_encoded(host, "$ErrorActionPreference = 'Stop'; Get-Service nope; 'never'")
    assert r.stdout == ""
    assert r.exit_code == 1


def test_silently_continue(host: SimHost) -> None:
    r = run_encoded(host, "$s = Get-Service nope -ErrorAction SilentlyContinue; $null -eq $s")
    assert (r.stdout, r.stderr) == ("True\r\n", "")


def test_pywinrm_cleans_our_clixml(host: SimHost) -> None:
    r = run_encoded(host, "Write-Error 'first <&> problem'")
    assert "first <&> problem" in clean_clixml(r.stderr)


QUOTES = "'\u2018\u2019\u201a\u201b"


def ps_quote(s: str) -> str:
    out = s
    for q in QUOTES:
        out = out.replace(q, q + q)
    return "'" + out + "'"


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=["Cs"], blacklist_characters="\x00")))
def test_single_quote_round_trip(s: str) -> None:
    h = default_world(startup_cost_s=0).hosts["SIM01"]
    r = run_encoded(h, f"$v = {ps_quote(s)}; [Console]::Out.Write(($v | ConvertTo-Json -Compress))")
    import json

    assert r.stderr == ""
    assert json.loads(r.stdout) == s


def test_chars_casts_and_string_builder_as_dotnet() -> None:
    """[int][char] is the code point while [int]'5' parses; StringBuilder.Append returns the
    builder; Int32.ToString('x4') is .NET's hex format."""
    from simulator.pwsh.testing import run_encoded
    from simulator.world import default_world

    host = default_world("SIM01", startup_cost_s=0).hosts["SIM01"]
    script = (
        "$sb = [System.Text.StringBuilder]::new(); "
        "foreach ($c in 'Aé'.ToCharArray()) { [void]$sb.Append(([int]$c).ToString('x4')) }; "
        "$sb.ToString() + ' ' + [int]'5' + ' ' + [char]66"
    )
    r = run_encoded(host, script)
    assert r.exit_code == 0, r.stderr
    assert r.stdout.strip() == "004100e9 5 B"
