"""The files in deploy/, loaded for the tests (unit: static checks; e2e: a real Synapse)."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
TEMPLATE = DEPLOY / "homeserver.yaml"


def synapse_init() -> ModuleType:
    spec = importlib.util.spec_from_file_location("synapse_init", DEPLOY / "synapse_init.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module
