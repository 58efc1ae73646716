"""The simulator's WS-Management listener: HTTP, NTLM, message encryption, shells."""

from workers.simulator.wsman.auth import Account
from workers.simulator.wsman.listener import WsmanServer
from workers.simulator.wsman.shells import HostLike

__all__ = ["Account", "HostLike", "WsmanServer"]
