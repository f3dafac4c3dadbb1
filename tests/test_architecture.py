"""The package's shape: imports go down the layers, the core never imports streamlit, every subpackage states its
public API, and the project is installed so that it works from any folder."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CORE = ROOT / "facefake_core"

#: The layers, lowest first, as docs/architecture.md draws them.
LAYERS = {
    "config": 0, "errors": 0, "progress": 0,
    "imaging": 1, "safeload": 1, "serving": 1,
    "model": 2,
    "evaluation": 3, "training": 3,
    "analysis": 4, "demo": 4,
    "sources": 5,
    "cli": 6,
}


def _imports(path: Path) -> list[str]:
    """Absolute names of the facefake_core modules (or subpackages) that ``path`` imports."""
    rel = path.relative_to(ROOT).with_suffix("")
    package = list(rel.parts[:-1])
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            name = ".".join([*base, node.module] if node.module else base)
            out += [name] if node.module else [f"{name}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Import):
            out += [a.name for a in node.names]
    return [n for n in out if n.startswith("facefake_core")] + [n for n in out if n.split(".")[0] == "streamlit"]


def _layer_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else None


def _modules() -> list[Path]:
    return [p for p in CORE.rglob("*.py") if p.name not in ("__init__.py", "__main__.py")]


def test_every_module_belongs_to_a_layer():
    assert all(_layer_of(".".join(p.relative_to(ROOT).with_suffix("").parts)) for p in _modules())


@pytest.mark.parametrize("path", _modules(), ids=lambda p: str(p.relative_to(CORE)))
def test_imports_go_down_the_layers(path):
    own = _layer_of(".".join(path.relative_to(ROOT).with_suffix("").parts))
    for name in _imports(path):
        assert name.split(".")[0] != "streamlit", f"{path.name} imports streamlit"
        target = _layer_of(name)
        assert target is not None, f"{path.name} imports the top-level package {name}; import from a layer"
        if target != own:
            assert LAYERS[target] < LAYERS[own], f"{path.relative_to(CORE)} ({own}) imports {name} ({target})"


def test_cli_is_a_leaf():
    users = [p for p in CORE.rglob("*.py") if "cli" not in p.relative_to(CORE).parts and p.name != "__main__.py"
             and any(_layer_of(n) == "cli" for n in _imports(p))]
    assert users == []


@pytest.mark.parametrize("package", [p.parent.name for p in CORE.glob("*/__init__.py")])
def test_each_subpackage_states_its_public_api(package):
    import importlib

    mod = importlib.import_module(f"facefake_core.{package}")
    assert mod.__doc__ and mod.__all__, package
    assert all(hasattr(mod, name) for name in mod.__all__)


def test_modules_stay_short():
    """~300 lines each; none over 400 except a module that is only data (the allowlist table)."""
    long = {str(p.relative_to(CORE)): n for p in _modules() if (n := len(p.read_text().splitlines())) > 400}
    assert set(long) <= {"safeload/allowlist.py"}, long


def test_installed_package_and_command_work_from_any_folder(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    found = subprocess.run([sys.executable, "-c", "import facefake_core, sys; print(facefake_core.__file__)"],
                           cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert found.returncode == 0, found.stderr.splitlines()[-1:]
    assert Path(found.stdout.strip()).parent == CORE
    script = Path(sys.executable).with_name("facefake")
    assert script.exists(), "the facefake console script is not installed; run make setup"
    helped = subprocess.run([str(script), "--help"], cwd=tmp_path, env=env, capture_output=True, text=True,
                            timeout=120)
    assert helped.returncode == 0 and "evaluate" in helped.stdout
