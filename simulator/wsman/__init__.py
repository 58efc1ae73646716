"""The simulator's WS-Management listener: HTTP, NTLM, message encryption, shells."""

from simulator.wsman.auth import Account
from simulator.wsman.listener import WsmanServer
from simulator.wsman.shells import HostLike

__all__ = ["Account", "HostLike", "WsmanServer"]
