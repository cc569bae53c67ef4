"""Ray plumbing shared by the jobs: connect, launch tasks with retries, collect results as they finish.

Ray is imported inside functions only, so `import masquerade.scale` works without the `scale` extra and
nothing imports Ray unless `--ray` is used.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from typing import Any, Callable, Iterator

from ..errors import MasqueradeError


@dataclass(frozen=True)
class RayOptions:
    """How a job uses the cluster (the stage's own settings stay in ExtractConfig / ConvertConfig)."""

    num_cpus: int | None = None  # local Ray only: CPUs to use (None: all); ignored when joining a cluster
    cpus_per_task: float = 1.0
    gpus_per_task: float = 0.0  # e.g. 0.5 runs two convert tasks per GPU
    max_retries: int = 2  # a task whose worker dies or that raises a non-user error is run again
    segment_seconds: float = 20.0  # long videos are cut at the first keyframe after this much video
    warmup_seconds: float = 1.0  # each segment first tracks faces through this much earlier video (no swap)


class TaskFailed(MasqueradeError):
    """A Ray task failed even after its retries; finished pieces are kept for the next run."""


@dataclass
class UserFailure:
    """A MasqueradeError raised in a worker, returned as a value so that Ray does not retry it."""

    error: MasqueradeError


def guarded(fn: Callable[..., Any], *args: Any) -> Any:
    """Run `fn` in a worker: user errors come back as values (no retry), anything else raises (retried)."""
    try:
        return fn(*args)
    except MasqueradeError as exc:
        return UserFailure(exc)


@contextlib.contextmanager
def ray_session(address: str | None, options: RayOptions) -> Iterator[Any]:
    """Use the Ray session already open in this process, or join `address` (None: RAY_ADDRESS or a new
    local instance) for the job and leave it afterwards."""
    try:
        import ray
    except ImportError:
        raise MasqueradeError("--ray needs the scale extra: pip install 'masquerade[scale]'") from None
    if ray.is_initialized():
        yield ray
        return
    kwargs: dict[str, Any] = {"address": address} if address else {"num_cpus": options.num_cpus}
    if not address and os.environ.get("MASQUERADE_HOME"):  # local workers sign with the same key
        kwargs["runtime_env"] = {"env_vars": {"MASQUERADE_HOME": os.environ["MASQUERADE_HOME"]}}
    try:
        ray.init(include_dashboard=False, logging_level="WARNING", **kwargs)
    except ConnectionError as exc:
        raise MasqueradeError(f"cannot reach the Ray cluster at {address!r} ({exc}); check --ray ADDRESS") from None
    try:
        yield ray
    finally:
        ray.shutdown()


def remote(ray: Any, fn: Callable[..., Any], options: RayOptions) -> Any:
    """`guarded(fn, ...)` as a Ray task with the job's resources and retries."""
    opts: dict[str, Any] = {"num_cpus": options.cpus_per_task, "max_retries": options.max_retries,
                            "retry_exceptions": True}
    if options.gpus_per_task:
        opts["num_gpus"] = options.gpus_per_task
    return ray.remote(**opts)(guarded)


def collect(ray: Any, pending: dict[Any, Any], on_done: Callable[[Any, Any], None]) -> None:
    """Wait for tasks, calling `on_done(key, result)` as each finishes (so its work is recorded at once).

    A failed task does not stop the others: they finish and are recorded, then the first error is raised.
    If the driver itself is interrupted, tasks still running are cancelled.
    """
    errors: list[BaseException] = []
    try:
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                key = pending.pop(ref)
                try:
                    result = ray.get(ref)
                except ray.exceptions.RayError as exc:
                    last = (str(exc).strip().splitlines() or [type(exc).__name__])[-1]
                    errors.append(TaskFailed(f"{key[0] if isinstance(key, tuple) else key}: a Ray task failed after "
                                             f"its retries ({last}); re-run the same command to resume"))
                    continue
                if isinstance(result, UserFailure):
                    errors.append(result.error)
                    continue
                on_done(key, result)
    except BaseException:
        refs = list(pending)
        for ref in refs:
            with contextlib.suppress(Exception):
                ray.cancel(ref, force=True)
        with contextlib.suppress(Exception):  # let the killed workers go (and their face-set locks with them)
            ray.wait(refs, num_returns=len(refs), timeout=60)  # before the caller may start the same job again
        raise
    if errors:
        raise errors[0]
