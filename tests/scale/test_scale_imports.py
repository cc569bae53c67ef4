"""Without --ray nothing imports Ray: the CLI, the stages and even `masquerade.scale` load without it."""

from __future__ import annotations

import subprocess
import sys


def test_nothing_imports_ray_until_a_ray_job_runs():
    code = ("import sys, masquerade.cli, masquerade.extract, masquerade.convert, masquerade.scale; "
            "assert 'ray' not in sys.modules, 'ray was imported'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
