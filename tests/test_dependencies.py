"""The declared dependencies match the code (issue 16): every third-party module that src/ imports is pinned
in pyproject.toml (core or an extra), and every core pin is imported somewhere or says why it is there."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# import name -> distribution name, where they differ
DIST_OF = {"PIL": "pillow", "cv2": "opencv-python-headless", "skimage": "scikit-image", "c2pa": "c2pa-python",
           "dlib": "dlib-bin"}
# core pins that no module imports by name, and why they are pinned anyway
NOT_IMPORTED = {
    "opencv-contrib-python": "mediapipe pulls it into the same cv2 folder; install.sh puts the headless build back on top",
    "protobuf": "mediapipe needs protobuf < 5, which other packages would lift",
    "setuptools": "setuptools >= 81 drops pkg_resources, which face_recognition_models imports",
}


def _pins() -> tuple[set[str], set[str]]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    name = lambda spec: re.split(r"[=<>\[ ;]", spec, maxsplit=1)[0].lower()  # noqa: E731
    core = {name(d) for d in project["dependencies"]}
    extras = {name(d) for deps in project["optional-dependencies"].values() for d in deps}
    return core, extras


def _imported() -> dict[str, str]:
    """Top-level third-party module -> a file that imports it."""
    found: dict[str, str] = {}
    for path in sorted((ROOT / "src" / "masquerade").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                [node.module] if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module else []
            for module in names:
                top = module.split(".")[0]
                if top not in sys.stdlib_module_names and top != "masquerade":
                    found.setdefault(top, str(path.relative_to(ROOT)))
    return found


def test_every_imported_module_is_pinned():
    core, extras = _pins()
    missing = {m: where for m, where in _imported().items() if DIST_OF.get(m, m).lower() not in core | extras}
    assert not missing, f"imported but not declared in pyproject.toml: {missing}"


def test_every_core_pin_is_used():
    core, _ = _pins()
    used = {DIST_OF.get(m, m).lower() for m in _imported()}
    unused = core - used - set(NOT_IMPORTED)
    assert not unused, f"pinned in pyproject.toml but never imported (drop them, or say why in NOT_IMPORTED): {unused}"
