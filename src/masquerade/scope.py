"""Process settings a job changes for its own duration, and gives back exactly as it found them.

Why this module: torch's CPU thread count, oneDNN's fp32 precision and environment variables belong to the
whole process, not to the code that set them. A stage that sets one and forgets it leaks its choice into
whatever runs next (the next command in a notebook, the next test, a convert after a training job), and
two jobs sharing a process would compute in each other's modes. So every such change is a context manager
that restores what it changed, on success and on error alike, and the web UI runs each job in a process of
its own (`ui/jobs.py`) so that even "for the duration of the job" means only that job.

Everything imports torch lazily: `scope` sits beside `errors` and `records` at the bottom of the layers.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from typing import Iterator, Mapping


@contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """While inside, torch uses `threads` CPU threads for intra-op work; `None` or 0 leaves it alone.

    The previous count is read on entry and set back on exit (torch has no "default" to return to: the
    count it started with depends on the machine and on OMP_NUM_THREADS)."""
    if not threads:
        yield
        return
    import torch

    saved = torch.get_num_threads()
    torch.set_num_threads(int(threads))
    try:
        yield
    finally:
        torch.set_num_threads(saved)


@contextmanager
def onednn_bf16(enabled: bool) -> Iterator[None]:
    """While inside, oneDNN computes fp32 convolutions and matmuls in bf16 ("bf16 math" on CPUs).

    Only the two settings it changes are saved and restored, each to its own previous value (which may be
    "none": inherit from the parent setting), so an outer scope's choice survives an inner one."""
    if not enabled:
        yield
        return
    import torch

    conv, mm = torch.backends.mkldnn.conv, torch.backends.mkldnn.matmul
    saved = conv.fp32_precision, mm.fp32_precision
    conv.fp32_precision = mm.fp32_precision = "bf16"
    try:
        yield
    finally:
        conv.fp32_precision, mm.fp32_precision = saved


@contextmanager
def cuda_fast_math(enabled: bool) -> Iterator[None]:
    """While inside, on CUDA: cuDNN times its convolution algorithms once per new shape and keeps the fastest
    (`cudnn.benchmark`; training's shapes never change), and fp32 matmuls run on TF32 tensor cores, as
    cuDNN's fp32 convolutions already do by default. A training job's choice, not the process's: a convert
    or a test after it computes as before.

    Set through the legacy `allow_tf32` flag, not `fp32_precision`: inductor (`--compile`) reads the matmul
    precision through `torch.get_float32_matmul_precision()`, which refuses to answer once the new API set it.
    On a GPU, cuDNN's timed choice may differ between processes, so a resumed run matches the uninterrupted
    one to rounding, not bit for bit (the CPU's exact resume is untouched: nothing changes there)."""
    if not enabled:
        yield
        return
    import torch

    cudnn, matmul = torch.backends.cudnn, torch.backends.cuda.matmul
    saved = cudnn.benchmark, matmul.allow_tf32
    cudnn.benchmark, matmul.allow_tf32 = True, True
    try:
        yield
    finally:
        cudnn.benchmark, matmul.allow_tf32 = saved


@contextmanager
def env_defaults(values: Mapping[str, str] | None) -> Iterator[None]:
    """While inside, each variable in `values` that the user has not set holds the given value.

    A variable the user set is left as it is (their choice wins); the ones set here are removed again on
    exit. For settings a library reads from the environment when it needs them (e.g. inductor's cache
    folder, read at compile time inside the training loop)."""
    added = [k for k in (values or {}) if k not in os.environ]
    for key in added:
        os.environ[key] = str(values[key])  # type: ignore[index]
    try:
        yield
    finally:
        for key in added:
            os.environ.pop(key, None)

