"""``cloudsync sim``: run the Windows host simulator's WinRM listeners until SIGINT/SIGTERM.

Prints one ``listening on <url>`` line per host (``listening on <url> (<HOST>)`` with
--scenario), flushed, once the sockets accept connections: callers wait for these lines.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from typing import Any, NoReturn

from simulator.server import ListenerSpec, SimCluster, load_scenario, parse_listen
from simulator.wsman.auth import Account


class _QuietParser(argparse.ArgumentParser):
    """argparse echoes offending values; an --account value holds a password."""

    def error(self, message: str) -> NoReturn:
        option = message.split(":", 1)[0] if message.startswith("argument ") else "arguments"
        self.exit(2, f"{self.prog}: error: invalid {option} (values not shown)\n")


def build_parser() -> argparse.ArgumentParser:
    ap = _QuietParser(prog="cloudsync sim", description=__doc__.splitlines()[0])
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
        sys.stdout.flush()
        sys.stderr.flush()
        stop.wait()
    finally:
        cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
