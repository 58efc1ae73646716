"""SimCluster (one listener per host) and the ``cloudsync sim`` command line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import winrm
from winrm.exceptions import InvalidCredentialsError

from simulator.server import ListenerSpec, SimCluster, load_scenario, parse_listen
from simulator.wsman.standin import StandInHost

ROOT = Path(__file__).resolve().parents[2]
USER, PASSWORD = "SIMDOM\\operator", "Op-Secret-1"


@dataclass
class StandInWorld:
    hosts: dict[str, StandInHost] = field(default_factory=dict)


def test_cluster_serves_each_host_on_its_own_port() -> None:
    world = StandInWorld({n: StandInHost(n) for n in ("SRV01", "SRV02")})
    specs = {
        "SRV01": ListenerSpec(accounts=[f"{USER}:{PASSWORD}"]),
        "SRV02": ListenerSpec(accounts=["SIMDOM\\other:Other-1"], https=True),
    }
    with SimCluster(world, specs) as cluster:
        urls = cluster.urls
        assert urls["SRV01"].startswith("http://127.0.0.1:")
        assert urls["SRV02"].startswith("https://127.0.0.1:")
        s1 = winrm.Session(urls["SRV01"], auth=(USER, PASSWORD), transport="ntlm")
        assert s1.run_cmd("hostname").std_out == b"SRV01\r\n"
        ca = cluster.servers["SRV02"].ca_cert_path
        s2 = winrm.Session(
            urls["SRV02"],
            auth=(USER, PASSWORD),
            transport="ntlm",
            server_cert_validation="validate",
            ca_trust_path=ca,
        )
        with pytest.raises(InvalidCredentialsError):
            s2.run_cmd("hostname")  # this account is not allowed on SRV02
    assert world.hosts["SRV02"].record.http_requests >= 1


def test_listener_keys_from_a_scenario_host(tmp_path: Path) -> None:
    path = tmp_path / "scenario.yaml"
    path.write_text(
        "hosts:\n"
        "  - name: SRV01\n"
        "    listen: 127.0.0.1:0\n"
        "    https: true\n"
        "    accounts: ['CONTOSO\\svc:pw:1']\n"
        "    operation_quota: 50\n"
        "  - name: SRV02\n",
        encoding="utf-8",
    )
    hosts = load_scenario(str(path))["hosts"]
    defaults = ListenerSpec(listen=("127.0.0.1", 5985), accounts=["D\\u:p"])
    first = ListenerSpec.from_host_dict(hosts[0], defaults)
    second = ListenerSpec.from_host_dict(hosts[1], defaults)
    assert (first.https, first.accounts, first.operation_quota) == (True, ["CONTOSO\\svc:pw:1"], 50)
    assert (second.listen, second.accounts, second.https) == (
        ("127.0.0.1", 5985),
        ["D\\u:p"],
        False,
    )
    with pytest.raises(ValueError):
        parse_listen("10.0.0.5:5985")


def test_cli_prints_listening_lines_and_stops_on_sigterm() -> None:
    pytest.importorskip("simulator.host")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "simulator.cli",
            "--listen",
            "127.0.0.1:0",
            "--account",
            f"{USER}:{PASSWORD}",
            "--startup-cost",
            "0",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().strip()
        assert line.startswith("listening on http://127.0.0.1:")
        url = line.removeprefix("listening on ")
        session = winrm.Session(url, auth=(USER, PASSWORD), transport="ntlm")
        result = session.run_ps("Write-Output 'hi'")
        assert (result.status_code, result.std_out.strip()) == (0, b"hi")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        assert PASSWORD not in (proc.stderr.read() if proc.stderr else "")


def test_cli_never_echoes_argument_values(capsys: pytest.CaptureFixture[str]) -> None:
    from simulator import cli

    with pytest.raises(SystemExit) as exc:
        cli.main(["sim", "--acount", "SIMDOM\\op:Hidden-Secret-9"])
    assert exc.value.code == 2
    assert cli.main(["--listen", "127.0.0.1:0", "--account", "no-domain:Hidden-Secret-9"]) == 2
    captured = capsys.readouterr()
    assert "Hidden-Secret-9" not in captured.out + captured.err
