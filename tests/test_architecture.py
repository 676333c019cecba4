"""The house rules' configuration covers the whole package: every module of embedstore sits in a layer of the
import-linter contract, and docs/architecture.md names every layered package (so a new package cannot slip past
`make lint` unlayered, or be missing from the map a newcomer reads)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")

ROOT = Path(__file__).resolve().parent.parent


def _contracts() -> dict[str, dict]:
    cfg = tomllib.loads((ROOT / "pyproject.toml").read_text())
    return {c["id"]: c for c in cfg["tool"]["importlinter"]["contracts"]}


def _layered() -> set[str]:
    names = set()
    for layer in _contracts()["layers"]["layers"]:
        for part in re.split(r"[|:]", layer):
            names.add(part.strip().strip("()"))
    return names


def _top_level_modules() -> set[str]:
    pkg = ROOT / "embedstore"
    mods = {f"embedstore.{p.stem}" for p in pkg.glob("*.py") if p.stem != "__init__"}
    mods |= {f"embedstore.{p.name}" for p in pkg.iterdir() if (p / "__init__.py").is_file()}
    return mods


def test_every_module_of_embedstore_is_in_a_layer():
    missing = sorted(_top_level_modules() - _layered())
    assert not missing, f"add to [tool.importlinter] layers in pyproject.toml: {missing}"
    assert "indexers" in _layered()


def test_contracts_enforce_independence_cycles_and_the_indexers_boundary():
    c = _contracts()
    assert c["layers"]["type"] == "layers" and c["no-cycles"]["type"] == "acyclic_siblings"
    tasks = next(layer for layer in c["layers"]["layers"] if "embedstore.probes" in layer)
    assert "|" in tasks and ":" not in tasks  # probes / projections / frames / performance are independent
    assert c["indexers-foundation-only"]["source_modules"] == ["indexers"]


def test_architecture_doc_names_every_layered_package():
    doc = (ROOT / "docs" / "architecture.md").read_text()
    missing = sorted(m for m in _layered() if f"`{m}`" not in doc)
    assert not missing, f"docs/architecture.md does not name {missing}"
