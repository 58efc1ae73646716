"""``cloudsync sim``: run the Windows host simulator's WinRM listeners until SIGINT/SIGTERM.

Prints one ``listening on <url>`` line per host (``listening on <url> (<HOST>)`` with
--scenario), flushed, once the sockets accept connections: callers wait for these lines. A
banner follows them: the scenario in effect, the installer's SHA-256 the hosts take as
Microsoft-signed, and the accounts each host accepts (user names, never passwords), so an
operator can match the bot's configuration to the host without reading the source.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Any, NoReturn

from simulator.host import INSTALLER_SHA256, default_accounts, default_domains
from simulator.server import ListenerSpec, SimCluster, load_scenario, parse_listen
from simulator.wsman.auth import Account


class _QuietParser(argparse.ArgumentParser):
    """argparse echoes offending values; an --account value holds a password."""

    def error(self, message: str) -> NoReturn:
        option = message.split(":", 1)[0] if message.startswith("argument ") else "arguments"
        self.exit(2, f"{self.prog}: error: invalid {option} (values not shown)\n")


def build_parser() -> argparse.ArgumentParser:
    ap = _QuietParser(
        prog="cloudsync sim",
        description=__doc__.splitlines()[0],
        epilog=_defaults_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    ap.add_argument("--listen", default="127.0.0.1:5985", help="loopback HOST:PORT (0 = any)")
    ap.add_argument(
        "--account",
        action="append",
        default=[],
        help="DOMAIN\\user:password allowed to log in (repeatable)",
    )
    ap.add_argument("--allow-basic", action="store_true", help="also accept Basic auth")
    ap.add_argument("--https", action="store_true", help="serve TLS with a self-signed cert")
    ap.add_argument("--scenario", help="YAML scenario file with tenant and hosts")
    ap.add_argument("--name", default="SIM01", help="host name without --scenario")
    ap.add_argument(
        "--startup-cost", type=float, default=None, help="seconds a powershell.exe start takes"
    )
    ap.add_argument(
        "--fqdn", help="the host's DNS name (its Kerberos SPN is HTTP/FQDN; needs --keytab)"
    )
    ap.add_argument(
        "--keytab",
        help="accept Kerberos for HTTP/FQDN with this keytab's keys, using the realm of the "
        "process's KRB5_CONFIG (needs gssapi: pip install 'cloudsync-bot-simulator[kerberos]')",
    )
    ap.add_argument(
        "--credssp",
        action="store_true",
        help="also accept CredSSP (Enable-WSManCredSSP -Role Server): its logons hold the "
        "user's credential and reach file shares; NTLM inside it, so not with --no-ntlm",
    )
    ap.add_argument(
        "--no-ntlm",
        action="store_true",
        help="refuse NTLM logons, as a server built to the cloud sync prerequisites does",
    )
    return ap


def _defaults_epilog() -> str:
    """What the built-in host (no --scenario) expects, for --help."""
    tenant = "".join(
        f"\n    {upn} ({', '.join(a['roles'])})" for upn, a in default_accounts().items()
    )
    admins = ", ".join(a for d in default_domains().values() for a in d["admins"])
    return (
        "Without --scenario: one host (--name, default SIM01) with the built-in tenant.\n"
        "  WinRM logons: only the --account users you give (DOMAIN\\user:password).\n"
        f"  Entra accounts:{tenant}\n"
        f"  Domain admins: {admins}.\n"
        f"  Installer SHA-256 taken as Microsoft-signed: {INSTALLER_SHA256}\n"
        "    (the inventory's tenants.<name>.installer.sha256 must say the same).\n"
        "With --scenario FILE: the file's tenant and hosts; the start-up banner lists them.\n"
        "Passwords are never printed."
    )


def _banner(cluster: SimCluster, scenario: str | None) -> list[str]:
    """The start-up banner: names and hashes only, never a password."""
    lines = [f"scenario: {scenario}" if scenario else "scenario: none (the built-in host)"]
    for name, srv in cluster.servers.items():
        host: Any = cluster.world.hosts[name]
        logons = sorted(f"{d}\\{u}" for d, u in srv.authenticator.accounts)
        tenant = host.tenant
        admins = sorted(a for d in tenant.domains.values() for a in d["admins"])
        signed = ", ".join(sorted(h.upper() for h in host.signed_content)) or "none"
        lines += [
            f"{name}: WinRM logons: {', '.join(logons) or 'none'}",
            f"{name}: Entra accounts: {', '.join(sorted(tenant.accounts)) or 'none'}",
            f"{name}: domain admins: {', '.join(admins) or 'none'}",
            f"{name}: installer SHA-256 taken as Microsoft-signed: {signed}",
        ]
    return lines


def _cluster(args: argparse.Namespace) -> tuple[SimCluster, bool]:
    defaults = ListenerSpec(
        listen=parse_listen(args.listen),
        https=args.https,
        allow_basic=args.allow_basic,
        accounts=list(args.account),
        allow_ntlm=not args.no_ntlm,
        fqdn=args.fqdn,
        keytab=args.keytab,
        allow_credssp=args.credssp,
    )
    if args.credssp and args.no_ntlm:
        raise ValueError("--credssp authenticates with NTLM inside it here: not with --no-ntlm")
    if args.keytab and not args.fqdn:
        raise ValueError("--keytab needs --fqdn (the SPN is HTTP/<fqdn>)")
    if args.scenario:
        scenario = load_scenario(args.scenario)
        if args.startup_cost is not None:
            for host in scenario["hosts"]:
                host["startup_cost_s"] = args.startup_cost
        return SimCluster.from_scenario(scenario, defaults), True
    from simulator.world import default_world  # loads the engine (tree-sitter) only when used

    state: dict[str, Any] = {}
    if args.startup_cost is not None:
        state["startup_cost_s"] = args.startup_cost
    world = default_world(args.name, **state)
    return SimCluster(world, dict.fromkeys(world.hosts, defaults)), False


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["sim"]:
        argv = argv[1:]
    args = build_parser().parse_args(argv)
    try:
        for spec in args.account:
            Account.parse(spec)
        cluster, named = _cluster(args)
    except (ValueError, OSError, ImportError) as exc:
        print(f"cloudsync sim: {exc}", file=sys.stderr)
        return 2
    except Exception as exc:  # a keytab without the SPN: gssapi's own words, no traceback
        if type(exc).__module__.startswith("gssapi"):
            print(f"cloudsync sim: cannot use the keytab: {exc}", file=sys.stderr)
            return 2
        raise
    if not any(srv.authenticator.accounts for srv in cluster.servers.values()):
        print("cloudsync sim: give at least one --account", file=sys.stderr)
        return 2
    stop = threading.Event()
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
    try:
        cluster.start()
    except OSError as exc:
        print(f"cloudsync sim: cannot listen: {exc}", file=sys.stderr)
        return 1
    try:
        for name, srv in cluster.servers.items():
            print(f"listening on {srv.url} ({name})" if named else f"listening on {srv.url}")
            if srv.ca_cert_path:
                print(f"{name}: CA certificate {srv.ca_cert_path}", file=sys.stderr)
        for line in _banner(cluster, args.scenario):
            print(line)
        sys.stdout.flush()
        sys.stderr.flush()
        stop.wait()
    finally:
        cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
