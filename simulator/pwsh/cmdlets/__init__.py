"""Cmdlet implementations; importing this package registers them all.

Plain imports, not importlib, so that the import-cycle test sees every edge.
"""

from . import agent, core, filesystem, objects  # noqa: F401  (each module registers its cmdlets)
