"""Method registry. Each module in this package declares `METHODS = {"name": EstimatorClass}`;
`get(name)` finds them, so adding a method is adding one module."""
from __future__ import annotations

import difflib
import importlib
import pkgutil

from ..errors import UnknownNameError

_REGISTRY: dict[str, type] | None = None


def registry() -> dict[str, type]:
    global _REGISTRY
    if _REGISTRY is None:
        reg: dict[str, type] = {}
        for info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
            if info.name.startswith("_"):
                continue
            mod = importlib.import_module(f".{info.name}", __name__)
            reg.update(getattr(mod, "METHODS", {}))
        _REGISTRY = reg
    return _REGISTRY


def list_methods() -> list[str]:
    return sorted(registry())


def get(name: str) -> type:
    """The estimator class registered as `name` (case-insensitive, '_' and '-' alike)."""
    reg = registry()
    key = name.lower().replace("_", "-")
    if key in reg:
        return reg[key]
    close = difflib.get_close_matches(key, reg, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise UnknownNameError(f"unknown method {name!r}.{hint} Known methods: {', '.join(sorted(reg))}")


def __getattr__(name):  # deepclust.methods.DCEC etc.
    for cls in registry().values():
        if cls.__name__ == name:
            return cls
    raise AttributeError(name)
