"""Data-parallel training over several processes (torchrun): who this process is, and the few collectives.

`torchrun` sets RANK, WORLD_SIZE and LOCAL_RANK; without them everything here is a no-op for one process,
so the single-machine path runs the same loop. The autoencoder is wrapped in torch's
`DistributedDataParallel` (gradients averaged in buckets, overlapping the backward pass).

How data is split: every rank holds the same random generator and draws the random numbers of the *global*
batch (world × per-rank batch), then trains on its own slice of it. So N ranks with batch B see exactly the
faces and augmentations one process with batch N·B would: their loss curves agree, and a checkpoint (whose
RNG state is that shared generator's) resumes under any number of ranks.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Iterable

import torch
from torch import nn


@dataclass(frozen=True)
class Ranks:
    """This process's place in the job. `Ranks()` is the single-process case."""

    rank: int = 0
    world: int = 1
    local_rank: int = 0
    owns_group: bool = False  # True when `setup` started the process group (and `teardown` ends it)

    @property
    def main(self) -> bool:
        """Rank 0 alone writes checkpoints, previews and metrics, and reports progress."""
        return self.rank == 0

    @property
    def enabled(self) -> bool:
        return self.world > 1

    def my_slice(self, batch: int) -> slice:
        """This rank's part of a global batch of `batch × world` items."""
        return slice(self.rank * batch, (self.rank + 1) * batch)


def env_ranks() -> Ranks:
    """The ranks torchrun announced in the environment (one process when it did not)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    return Ranks(int(os.environ.get("RANK", "0")), world, int(os.environ.get("LOCAL_RANK", "0")))


def setup(device: torch.device) -> tuple[Ranks, torch.device]:
    """Join the process group torchrun prepared (NCCL on CUDA, gloo on CPU) and pick this rank's device."""
    ranks = env_ranks()
    if not ranks.enabled:
        return ranks, device
    import torch.distributed as dist

    if device.type == "cuda":
        device = torch.device("cuda", ranks.local_rank % torch.cuda.device_count())
        torch.cuda.set_device(device)
    owns = False
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
        owns = True
    return Ranks(ranks.rank, ranks.world, ranks.local_rank, owns), device


def teardown(ranks: Ranks, wait: bool = True) -> None:
    """Leave the job: wait for every rank (after a normal end) and close the group `setup` opened."""
    if ranks.enabled:
        import torch.distributed as dist

        if wait:
            dist.barrier()
        if ranks.owns_group:
            dist.destroy_process_group()


def barrier(ranks: Ranks) -> None:
    if ranks.enabled:
        import torch.distributed as dist

        dist.barrier()


def max_over_ranks(values: list[float], ranks: Ranks) -> list[float]:
    """Each value's largest over the ranks, on every rank: one all-reduce per step makes the ranks agree on a
    stop flag (Ctrl-C reaches them at slightly different steps) and on the clock of a time budget."""
    if not ranks.enabled:
        return [float(v) for v in values]
    import torch.distributed as dist

    t = _for_backend(torch.tensor([float(v) for v in values], dtype=torch.float64))
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return t.tolist()


def mean_over_ranks(stats: dict[str, float], ranks: Ranks) -> dict[str, float]:
    """Average logged numbers over ranks, so progress and metrics describe the global batch, not rank 0's."""
    if not ranks.enabled:
        return stats
    import torch.distributed as dist

    t = _for_backend(torch.tensor(list(stats.values()), dtype=torch.float64))
    dist.all_reduce(t)
    return dict(zip(stats, (t / ranks.world).tolist()))


def mean_tensors_over_ranks(stats: dict[str, torch.Tensor | float], ranks: Ranks) -> dict[str, torch.Tensor | float]:
    """`mean_over_ranks` for a step's 0-d loss tensors, left on the device: one all-reduce of them stacked,
    and no host read (the loop reads them at its check points, `lazy_stats`)."""
    if not ranks.enabled or not stats:
        return stats
    import torch.distributed as dist

    device = next((v.device for v in stats.values() if torch.is_tensor(v)), torch.device("cpu"))
    t = _for_backend(torch.stack([torch.as_tensor(v, dtype=torch.float64, device=device).reshape(())
                                  for v in stats.values()]))
    dist.all_reduce(t)
    return dict(zip(stats, (t / ranks.world).unbind()))


def _for_backend(t: torch.Tensor) -> torch.Tensor:
    """NCCL reduces only GPU tensors; gloo takes them where they are."""
    import torch.distributed as dist

    return t.cuda() if dist.get_backend() == "nccl" else t


def data_parallel(net: nn.Module, ranks: Ranks, device: torch.device) -> nn.Module:
    """`net` wrapped for DDP (its parameters broadcast from rank 0), or `net` itself for one process."""
    if not ranks.enabled:
        return net
    from torch.nn.parallel import DistributedDataParallel

    ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(net, device_ids=ids, gradient_as_bucket_view=True)


def average_gradients(params: Iterable[torch.Tensor], ranks: Ranks) -> None:
    """All-reduce and average gradients in one flat buffer (the GAN critic, which is not DDP-wrapped)."""
    if not ranks.enabled:
        return
    import torch.distributed as dist

    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= ranks.world
    offset = 0
    for g in grads:
        g.copy_(flat[offset:offset + g.numel()].view_as(g))
        offset += g.numel()
