"""Without --ray nothing imports Ray: the CLI, the stages and even `masquerade.scale` load without it."""

from __future__ import annotations

import subprocess
import sys


def test_nothing_imports_ray_until_a_ray_job_runs():
    code = ("import sys, masquerade.cli, masquerade.extract, masquerade.convert, masquerade.scale; "
            "assert 'ray' not in sys.modules, 'ray was imported'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)


def test_scale_uses_only_the_public_api_of_the_stages():
    """Ray jobs call the stages' public functions (no underscore names, no reaching into their modules)."""
    import ast
    from pathlib import Path

    import masquerade.scale

    stages = ("convert", "extract", "train", "evaluate")
    for path in Path(masquerade.scale.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.ImportFrom) or not node.module:
                continue
            parts = node.module.split(".")
            if node.level == 2 and parts[0] in stages or node.module.startswith(tuple(f"masquerade.{s}" for s in stages)):
                private = [a.name for a in node.names if a.name.startswith("_")]
                assert not private, f"{path.name} imports private {private} from {node.module}"
                assert len(parts) == 1, f"{path.name} reaches into {node.module}; import from the stage's package"
