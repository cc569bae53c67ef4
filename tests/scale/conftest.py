"""One local Ray session per test module (2 CPUs), with its temp folder under pytest's (short paths:
Ray's socket names are length-limited), and workers that sign with the tests' isolated key."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(scope="module")
def ray_local(tmp_path_factory):
    ray = pytest.importorskip("ray")
    import ray.cloudpickle

    import scale_helpers

    ray.cloudpickle.register_pickle_by_value(scale_helpers)  # workers cannot import the tests folder
    temp = tmp_path_factory.mktemp("ray")
    home = tmp_path_factory.getbasetemp() / "masquerade-home"  # same as the autouse fixture in tests/conftest.py
    saved = os.environ.get("RAY_TMPDIR")
    os.environ["RAY_TMPDIR"] = str(temp)
    ray.init(num_cpus=2, include_dashboard=False, _temp_dir=str(temp), log_to_driver=False,
             logging_level="ERROR", runtime_env={"env_vars": {"MASQUERADE_HOME": str(home)}})
    try:
        yield ray
    finally:
        ray.shutdown()
        if saved is None:
            os.environ.pop("RAY_TMPDIR", None)
        else:
            os.environ["RAY_TMPDIR"] = saved
