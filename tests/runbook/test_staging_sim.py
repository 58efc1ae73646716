"""Staging the installer against the simulator over real WinRM: pushed through the session in
Sends within the host's envelope size, its bytes never script text; url and preflight checks."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.runbook.conftest import SimEnv
from workers.domain.config import Config, InstallerSource
from workers.runbook import session as session_module
from workers.runbook.fleet import collect_preflight
from workers.runbook.session import RunbookSession
from workers.runbook.steps import INSTALLER_NAME, stage_step

STAGED = "C:\\ProgramData\\cloudsync\\" + INSTALLER_NAME


def open_session(env: SimEnv, host: str = "SYNC01") -> RunbookSession:
    conf = env.config.host(host)
    return RunbookSession(
        conf, env.secrets.get(conf.credential), operation_timeout_s=1, redactor=env.redactor
    )


def with_installer(config: Config, **changes: Any) -> Config:
    tenant = config.tenants["contoso"]
    inst = dataclasses.replace(tenant.installer, **changes)
    tenants = {**config.tenants, "contoso": dataclasses.replace(tenant, installer=inst)}
    return dataclasses.replace(config, tenants=tenants)


def big_installer(tmp_path: Path, size: int) -> tuple[Path, bytes, str]:
    data = os.urandom(size)
    path = tmp_path / "big" / INSTALLER_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path, data, hashlib.sha256(data).hexdigest().upper()


def test_a_pushed_file_arrives_whole_in_sends_within_the_envelope(
    sim_env: Callable[..., SimEnv], tmp_path: Path
) -> None:
    env = sim_env([{"name": "SYNC01", "script_block_logging": True, "module_logging": True}])
    path, data, sha = big_installer(tmp_path, 3 * 1024 * 1024 + 17)
    config = with_installer(env.config, path=str(path), sha256=sha)
    step = stage_step(config.tenants["contoso"], config.host("SYNC01"))
    assert step.upload is not None and step.upload.dest == STAGED
    with open_session(env) as session:
        outcome = session.run_step(step, {})
    # unsigned random bytes: everything up to the signature check passed
    assert outcome.status == "failed"
    assert "signature is not valid: NotSigned" in (outcome.error or "")
    staged = env.host("SYNC01").file(STAGED)
    assert staged is not None and staged.content == data
    sends_per_mb = outcome.requests / 3.0
    assert sends_per_mb < 12  # 144 KiB a Send, plus the prepare and the final step's requests
    record = env.host("SYNC01").record.to_dict()
    logged = "\n".join(record["script_blocks"]) + str(record["module_log"])
    chunk = base64.b64encode(data[: session_module.UPLOAD_CHUNK]).decode()
    assert chunk[:200] not in logged and len(record["script_blocks"]) < 10


def test_a_send_over_the_hosts_envelope_size_is_refused(
    sim_env: Callable[..., SimEnv], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The simulator enforces MaxEnvelopeSizekb: the chunking above is what keeps us under."""
    env = sim_env([{"name": "SYNC01", "max_envelope_kb": 150}])
    path, _data, sha = big_installer(tmp_path, 1024 * 1024)
    config = with_installer(env.config, path=str(path), sha256=sha)
    step = stage_step(config.tenants["contoso"], config.host("SYNC01"))
    from workers.runbook.session import SessionLost

    with open_session(env) as session, pytest.raises(SessionLost, match="sending the installer"):
        session.run_step(step, {})


def test_the_demo_installer_is_pushed_verified_and_then_skipped(
    sim_env: Callable[..., SimEnv],
) -> None:
    env = sim_env([{"name": "SYNC01"}])
    step = stage_step(env.config.tenants["contoso"], env.config.host("SYNC01"))
    with open_session(env) as session:
        first = session.run_step(step, {})
        assert first.status == "done", first.error
        assert "pushed over WinRM" in first.output["summary"]
        again = session.run_step(step, {})
    assert again.status == "skipped"
    assert again.requests <= 3  # the check answered: nothing was sent again


def test_a_worker_file_with_the_wrong_hash_is_never_sent(
    sim_env: Callable[..., SimEnv], tmp_path: Path
) -> None:
    env = sim_env([{"name": "SYNC01"}])
    path, _data, _sha = big_installer(tmp_path, 1000)
    config = with_installer(env.config, path=str(path))
    step = stage_step(config.tenants["contoso"], config.host("SYNC01"))
    with open_session(env) as session:
        outcome = session.run_step(step, {})
    assert outcome.status == "failed" and "nothing was sent" in (outcome.error or "")
    assert env.host("SYNC01").file(STAGED) is None


def test_url_staging_forces_tls12_and_downloads(sim_env: Callable[..., SimEnv]) -> None:
    url = "https://downloads.contoso.com/cloudsync/AADConnectProvisioningAgentSetup.exe"
    env = sim_env([{"name": "SYNC01", "installer_urls": [url]}])
    config = with_installer(env.config, source="url", url=url)
    step = stage_step(config.tenants["contoso"], config.host("SYNC01"))
    assert "[Net.ServicePointManager]::SecurityProtocol = [Net.SecurityProtocolType]::Tls12" in (
        step.script
    )
    with open_session(env) as session:
        outcome = session.run_step(step, {})
    assert outcome.status == "done", outcome.error
    assert "downloaded from" in outcome.output["summary"]


def _blockers(pre: Any) -> str:
    return " ".join(f"{p.what} {p.fix}" for p in pre.blockers)


def test_preflight_checks_the_source_where_it_is_read(
    sim_env: Callable[..., SimEnv], tmp_path: Path
) -> None:
    url = "https://intranet.contoso.com/AADConnectProvisioningAgentSetup.exe"
    public = "https://downloads.contoso.com/AADConnectProvisioningAgentSetup.exe"
    env = sim_env(
        [
            {
                "name": "SYNC01",
                "windows_auth_hosts": ["intranet.contoso.com"],
                "installer_urls": [public],
            }
        ]
    )
    ok = collect_preflight(env.config, env.secrets, "SYNC01")
    assert ok.ok is True, ok.to_dict()
    missing = with_installer(env.config, path=str(tmp_path / "nowhere.exe"))
    pre = collect_preflight(missing, env.secrets, "SYNC01")
    assert pre.ok is False and "is not on the worker" in _blockers(pre)
    wrong = with_installer(env.config, sha256="A" * 64)
    assert "not the pinned" in _blockers(collect_preflight(wrong, env.secrets, "SYNC01"))
    reachable = with_installer(env.config, source="url", url=public)
    assert collect_preflight(reachable, env.secrets, "SYNC01").ok is True
    intranet = with_installer(env.config, source="url", url=url)
    pre = collect_preflight(intranet, env.secrets, "SYNC01")
    assert pre.ok is False and "second hop" in _blockers(pre)
    share = InstallerSource(
        sha256=env.config.tenants["contoso"].installer.sha256,
        source="share",
        share_path="\\\\fs01\\install\\" + INSTALLER_NAME,
    )
    noshare = with_installer(
        env.config, **{f.name: getattr(share, f.name) for f in dataclasses.fields(share)}
    )
    pre = collect_preflight(noshare, env.secrets, "SYNC01")
    assert pre.ok is False and "second hop" in _blockers(pre)
    assert "share_mapped" not in [e["event"] for e in env.host("SYNC01").record.events]
    # no preflight changes the host: nothing staged
    assert env.host("SYNC01").file(STAGED) is None
