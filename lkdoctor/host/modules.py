"""Importing optional numeric libraries without letting a broken install take the report down."""

from __future__ import annotations

import importlib
import sys
from typing import Any

#: Imported before threadpoolctl looks, since it only sees libraries already loaded.
NUMERIC_MODULES = ("numpy", "torch")


def import_if_installed(name: str) -> tuple[Any | None, str | None]:
    """``(module, None)``; ``(None, None)`` when not installed; ``(None, why)`` when broken."""
    if name in sys.modules and sys.modules[name] is not None:
        return sys.modules[name], None
    try:
        return importlib.import_module(name), None
    except ModuleNotFoundError as exc:
        if exc.name == name:
            return None, None
        return None, f"{name} is installed but cannot be imported: {exc}"
    except ImportError as exc:  # includes sys.modules[name] = None, the way to hide a module
        if name in sys.modules and sys.modules[name] is None:
            return None, None
        return None, f"{name} is installed but cannot be imported: {exc}"
    except Exception as exc:  # a broken install must not take the report down
        return None, f"{name} failed to import: {type(exc).__name__}: {exc}"
