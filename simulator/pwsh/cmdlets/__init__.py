"""Cmdlet implementations; importing this package registers them all."""

import importlib

for _module in ("core", "objects", "system", "agent"):
    importlib.import_module(f"{__name__}.{_module}")
