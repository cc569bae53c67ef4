"""A module that is imported on first attribute access.

Why: `masquerade train --help` reads TrainConfig's option declarations (masquerade.options), and
train/config.py also holds the precision helpers that need torch. Binding `torch` to a stand-in that imports
the real module on first use keeps that help (and every other torch-free path) from paying torch's ~2 s import.
"""

from __future__ import annotations

import importlib
import sys
from types import ModuleType
from typing import Any, Callable


class LazyModule:
    """Stands in for `import NAME`; the first attribute read imports NAME and forwards to it."""

    def __init__(self, name: str):
        self._name = name
        self._module: ModuleType | None = None

    def __getattr__(self, attr: str) -> Any:
        if self._module is None:
            self._module = importlib.import_module(self._name)
        return getattr(self._module, attr)

    def __repr__(self) -> str:
        return f"<lazy module {self._name!r}{' (loaded)' if self._module is not None else ''}>"


def exports(package: str, where: dict[str, str]) -> Callable[[str], Any]:
    """A package's module-level `__getattr__` (PEP 562): name -> the submodule (`where[name]`) that defines it,
    imported on first use and then kept on the package. So `import masquerade.convert` (or `.models`) costs
    nothing until a stage function is used, and `--help` can read a config class without loading the stage."""
    def __getattr__(name: str) -> Any:
        if name not in where:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(f"{package}.{where[name]}"), name)
        setattr(sys.modules[package], name, value)
        return value
    return __getattr__
