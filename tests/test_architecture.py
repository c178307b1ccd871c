"""The import contracts of pyproject.toml hold, and the node renders its SC overlay without Qt."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import grimp
import numpy as np
import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10: import-linter's own dependency
    import tomli as tomllib

from squid_core.exports.overlay import overlay_rgb

ROOT = Path(__file__).resolve().parent.parent
PYPROJECT = ROOT / "pyproject.toml"
QT = ("PySide6", "shiboken6", "pyqtgraph", "superqt", "qtpy")


def _contracts() -> dict[str, dict]:
    config = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))
    return {c["id"]: c for c in config["tool"]["importlinter"]["contracts"]}


@pytest.mark.parametrize("contract", ["core-no-gui", "viewer-qt-free"])
def test_import_contract_is_kept(contract: str) -> None:
    """import-linter's own entry point, in a child process: it reconfigures logging (and
    would silence this process's loggers)."""
    assert contract in _contracts()
    script = ("import sys; from importlinter.cli import lint_imports; "
              f"sys.exit(lint_imports(config_filename={str(PYPROJECT)!r}, "
              f"limit_to_contracts=({contract!r},), no_cache=True, no_logo=True))")
    run = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stdout + run.stderr
    assert "1 kept, 0 broken" in run.stdout


def test_every_viewer_module_without_qt_is_declared_qt_free() -> None:
    """A module of viewer/ that imports no Qt, directly or not, is on the Qt-free contract
    (or imports nothing at all, like a package's docstring-only __init__): what is free
    of Qt today stays so, or moves to squid_core."""
    graph = grimp.build_graph("viewer", "squid_core", include_external_packages=True)
    qt = [name for name in QT if name in graph.modules]
    assert "PySide6" in qt and "pyqtgraph" in qt  # the graph does see the viewer's Qt
    declared = set(_contracts()["viewer-qt-free"]["source_modules"])
    qt_free = {
        module for module in graph.find_descendants("viewer") | {"viewer"}
        if graph.find_modules_directly_imported_by(module)
        and not any(graph.chain_exists(importer=module, imported=name) for name in qt)
    }
    assert qt_free == declared


_NO_QT_SCRIPT = r"""
import importlib.abc, json, sys

BLOCKED = ("PySide6", "shiboken6", "pyqtgraph", "superqt", "qtpy")

class NoQt(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ImportError(f"{name} is blocked: this process has no GUI libraries")
        return None

sys.meta_path.insert(0, NoQt())
try:
    import PySide6  # noqa: F401
    sys.exit("the blocker let PySide6 through")
except ImportError:
    pass

import numpy as np
from squid_core.exports import secondary_capture
from squid_core.exports.overlay import overlay_rgb

pixels = np.linspace(0.0, 1.0, 48 * 64, dtype=np.float32).reshape(48, 64)
heat = np.linspace(0.0, 6.0, 48 * 64, dtype=np.float32).reshape(48, 64)
rgb = overlay_rgb(pixels, heat, 6.0)
sc = secondary_capture(rgb, None)
print(json.dumps({
    "rgb": rgb.tolist(),
    "sc_pixels_equal": bool((sc.pixel_array == rgb).all()),
    "photometric": str(sc.PhotometricInterpretation),
    "gui_modules": sorted(m for m in sys.modules if m.split(".")[0] in BLOCKED),
}))
"""


def test_sc_overlay_renders_in_a_process_without_qt() -> None:
    """The node's Secondary Capture overlay needs no GUI library: in a fresh interpreter
    where PySide6, pyqtgraph and superqt cannot be imported, it renders the same pixels."""
    run = subprocess.run([sys.executable, "-c", _NO_QT_SCRIPT], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout.strip().splitlines()[-1])
    assert out["gui_modules"] == []
    assert out["sc_pixels_equal"] and out["photometric"] == "RGB"
    pixels = np.linspace(0.0, 1.0, 48 * 64, dtype=np.float32).reshape(48, 64)
    heat = np.linspace(0.0, 6.0, 48 * 64, dtype=np.float32).reshape(48, 64)
    expected = overlay_rgb(pixels, heat, 6.0)
    assert np.array_equal(np.asarray(out["rgb"], dtype=np.uint8), expected)
    assert len(np.unique(expected.reshape(-1, 3), axis=0)) > 50  # the heatmap is in it
