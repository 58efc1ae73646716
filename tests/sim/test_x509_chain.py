"""The simulator's X509Chain: ChainPolicy, Build()'s answer, ChainStatus and root thumbprints.

.NET (Microsoft Learn, X509Chain / X509ChainPolicy / X509ChainStatusFlags): Build returns false
when the chain has any error status; ChainStatus holds each status with its StatusInformation;
the policy defaults to RevocationMode Online, RevocationFlag ExcludeRoot and a zero
UrlRetrievalTimeout; setting an enum property to a name that is not a member fails.
"""

from __future__ import annotations

from typing import Any

from simulator.host import INSTALLER_SHARE_PATH, MICROSOFT_CHAIN
from simulator.pwsh.testing import run_encoded
from simulator.world import World, build_world

NS = "System.Security.Cryptography.X509Certificates"
FORGED = "0123456789ABCDEF0123456789ABCDEF01234567"
BUILD = (
    f"$sig = Get-AuthenticodeSignature '{INSTALLER_SHARE_PATH}'\n"
    f"$chain = [{NS}.X509Chain]::new()\n"
    "#POLICY#\n"
    "[string]$chain.Build($sig.SignerCertificate)\n"
    "foreach ($e in @($chain.ChainElements)) { [string]$e.Certificate.Thumbprint }\n"
    "foreach ($s in @($chain.ChainStatus)) { [string]$s.Status + ': ' + $s.StatusInformation }\n"
)


def make(**host: Any) -> World:
    """A host that may read the installer share directly (CredSSP), so a script can sign it."""
    spec = {"name": "SIM01", "startup_cost_s": 0, "install_s": 0, "credssp_delegation": True}
    return build_world({"hosts": [{**spec, **host}]})


def build(world: World, policy: str = "") -> list[str]:
    script = BUILD.replace("#POLICY#", policy)
    result = run_encoded(world.hosts["SIM01"], script)
    assert result.exit_code == 0, result.stderr
    return result.stdout.splitlines()


def test_microsofts_chain_builds_and_ends_at_the_2011_root() -> None:
    out = build(make())
    assert out[0] == "True"
    assert out[-1] == "8F43288AD272F3103B6FB1428485EA3014C0BCFE"
    assert len(out) == 4  # True, leaf, PCA 2011, root; no status


def test_policy_defaults_and_settable_members() -> None:
    w = make()
    script = (
        f"$chain = [{NS}.X509Chain]::new()\n"
        "[string]$chain.ChainPolicy.RevocationMode; [string]$chain.ChainPolicy.RevocationFlag\n"
        f"$chain.ChainPolicy.RevocationMode = [{NS}.X509RevocationMode]::Offline\n"
        f"$chain.ChainPolicy.RevocationFlag = [{NS}.X509RevocationFlag]::EntireChain\n"
        "$chain.ChainPolicy.UrlRetrievalTimeout = [TimeSpan]::FromSeconds(30)\n"
        "[string]$chain.ChainPolicy.RevocationMode; [string]$chain.ChainPolicy.RevocationFlag\n"
        "try { $chain.ChainPolicy.RevocationMode = 'Sometimes' } catch { 'refused' }\n"
    )
    out = run_encoded(w.hosts["SIM01"], script).stdout.splitlines()
    assert out == ["Online", "ExcludeRoot", "Offline", "EntireChain", "refused"]


def test_a_self_made_root_is_untrusted() -> None:
    w = make(installer_chain=[MICROSOFT_CHAIN[0], "CN=Totally Microsoft Root, O=Evil"])
    out = build(w)
    assert out[0] == "False"
    assert out[-1].startswith("UntrustedRoot: A certificate chain processed, but terminated")


def test_no_issuer_is_a_partial_chain() -> None:
    out = build(make(installer_chain=[]))
    assert out[0] == "False" and out[-1].startswith("PartialChain: ")


def test_microsofts_subject_with_another_thumbprint() -> None:
    forged = make(installer_root_thumbprint=FORGED)
    out = build(forged)
    assert out[0] == "False" and FORGED in out and out[-1].startswith("UntrustedRoot")
    # once someone adds it to the root store, Build() trusts it: only a thumbprint pin helps
    added = build(make(installer_root_thumbprint=FORGED, extra_trusted_roots=[FORGED]))
    assert added[0] == "True" and added[-1] == FORGED


def test_revocation_follows_the_policy_and_the_network() -> None:
    offline = make(revocation_online=False)
    out = build(offline)
    assert out[0] == "False"
    assert [line.split(":")[0] for line in out[-2:]] == [
        "RevocationStatusUnknown",
        "OfflineRevocation",
    ]
    assert (
        build(offline, f"$chain.ChainPolicy.RevocationMode = [{NS}.X509RevocationMode]::NoCheck")[0]
        == "True"
    )
    cached = make(revocation_online=False, revocation_cached=True)
    policy = f"$chain.ChainPolicy.RevocationMode = [{NS}.X509RevocationMode]::Offline"
    assert build(cached, policy)[0] == "True"
    assert build(cached)[0] == "False"  # Online still needs the network
