"""Counting the host reads of a stretch of training: the moments the host waits for a tensor's value.

Why: a GPU runs ahead of Python only while nothing asks for a number. `float(t)`, `t.item()`, `bool(t)` and
`int(t)` all go through `aten::_local_scalar_dense`, which the PyTorch profiler sees on every device;
`.tolist()` and `.numpy()` read without that op, so they are counted by wrapping them for the duration. The
benchmark (`bench/train.py`) and the tests count a window of steps with this, on the CPU as on a GPU.
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator

import torch

SCALAR_OP = "aten::_local_scalar_dense"


@dataclass
class HostReads:
    """What a counted stretch read: `scalar` calls of SCALAR_OP, `bulk` calls of `.tolist()`/`.numpy()`, and
    apart, `adam_counters`: the CPU fused Adam kernel's reads of its own step counters (one per weight
    tensor; host memory on the CPU, nothing to wait for; CUDA's fused Adam keeps them on the device and reads
    none; every torch Adam on the CPU reads them)."""

    scalar: int = 0
    bulk: int = 0
    adam_counters: int = 0
    where: list[str] = field(default_factory=list)  # where each read was made, for a failure message

    @property
    def total(self) -> int:
        return self.scalar + self.bulk


ADAM_KERNELS = ("aten::_fused_adam_", "aten::_fused_adamw_")


@contextmanager
def counting_host_reads(where: bool = False) -> Iterator[HostReads]:
    """Count the host reads made inside (filled in on exit); `where`: also record each scalar read's Python
    caller (slower: the profiler records stacks)."""
    import sys

    counts = HostReads()
    originals = {name: getattr(torch.Tensor, name) for name in ("tolist", "numpy")}

    def counted(name):
        def read(self, *args, **kwargs):
            frame = sys._getframe(1)
            counts.bulk += 1
            counts.where.append(f"{name} at {frame.f_code.co_filename}:{frame.f_lineno}")
            return originals[name](self, *args, **kwargs)
        return read

    try:
        for name in originals:
            setattr(torch.Tensor, name, counted(name))
        with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU], with_stack=where) as prof:
            yield counts
    finally:
        for name, fn in originals.items():
            setattr(torch.Tensor, name, fn)
    for event in prof.events():
        if event.name != SCALAR_OP:
            continue
        callers, up = [], event.cpu_parent
        while up is not None:
            callers.append(up.name)
            up = up.cpu_parent
        if any(name in ADAM_KERNELS for name in callers):
            counts.adam_counters += 1
            continue
        counts.scalar += 1
        if where:
            ours = [name for name in callers if "masquerade" in name] or callers[:3]
            counts.where.append(f"{SCALAR_OP} in {' < '.join(ours[:3])}")
