"""Cmdlet implementations; importing this package registers them all.

Plain imports, not importlib, so that the import-cycle test sees every edge.
"""

from . import (  # noqa: F401  (each module registers its cmdlets)
    agent,
    cim,
    core,
    directory,
    drives,
    eventlog,
    filesystem,
    items,
    logs,
    modules,
    network,
    objects,
    processes,
    progress,
    registry,
    security,
    services,
)
