"""The package reads like the architecture: no module imports from a layer above its own.

From the bottom: models and exceptions, serialization, the storage interfaces, the backends,
the policy (``core``, with the producer side of tracing), the workers (with what observes
them), the configuration loaders, the public API, and the programs on top (``omniq``
command, demo, the gevent entry point).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import omniq

PACKAGE = Path(omniq.__file__).parent

#: Module prefix -> layer (lower may not import higher). The longest prefix decides.
LAYERS: dict[str, int] = {
    "omniq._version": 0,
    "omniq.exceptions": 0,
    "omniq.models": 0,
    "omniq.serialization": 1,
    "omniq.storage": 2,
    "omniq.backends": 3,
    "omniq.core": 4,
    # The producer's span and the trace context it writes into each call: the core's.
    "omniq.monitoring.otel": 4,
    "omniq.monitoring.tracing": 4,
    "omniq.workers": 5,
    # What observes the workers (their metrics and execution spans) is made with them.
    "omniq.monitoring": 5,
    # Store-level metrics read a store through the public API.
    "omniq.monitoring.prometheus": 7,
    "omniq.config": 6,
    "omniq.api": 7,
    "omniq.cli": 8,
    "omniq.demo": 8,
    "omniq.dashboard": 8,  # a program over the public API (and the store metrics)
    # A program, not a library module: it builds an OmniQ like the `omniq` command does.
    "omniq.workers.gevent_main": 8,
    "omniq": 8,  # the package's own __init__ re-exports the public API
}


def layer_of(module: str) -> int:
    candidates = [p for p in LAYERS if module == p or module.startswith(p + ".")]
    return LAYERS[max(candidates, key=len)]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imported(path: Path, module: str) -> set[str]:
    tree = ast.parse(path.read_text("utf-8"))
    found: set[str] = set()
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:  # relative import
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                found.add(f"{base}.{node.module}" if node.module else base)
            elif node.module:
                found.add(node.module)
    return {name for name in found if name == "omniq" or name.startswith("omniq.")}


MODULES = sorted((module_name(path), path) for path in PACKAGE.rglob("*.py"))


def test_every_module_has_a_layer() -> None:
    assert all(layer_of(module) >= 0 for module, _ in MODULES)


@pytest.mark.parametrize(("module", "path"), MODULES, ids=[m for m, _ in MODULES])
def test_no_import_from_a_higher_layer(module: str, path: Path) -> None:
    own = layer_of(module)
    upward = sorted(name for name in imported(path, module) if layer_of(name) > own)
    assert not upward, f"{module} (layer {own}) imports {upward} from above"
