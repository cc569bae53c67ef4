"""A step's logged numbers kept on the device until someone reads them, and many steps read in one go.

Why: `float(loss)` blocks the host until the device has finished the step (`aten::_local_scalar_dense`), so
a loop that reads its losses every step can never queue the next step while the device runs this one. The
step returns its losses as a `LazyStats`; the training loop reads the steps it has kept in one host read
(`read_all`) at its check points (the guard's, previews, saves), and a progress consumer that reads a value
pays that one read itself (then the loop reuses it).
"""

from __future__ import annotations

from typing import Iterable, Iterator, Mapping

import torch


class LazyStats(Mapping[str, float]):
    """name → float, backed by 0-d tensors (and plain floats) until the first value is asked for."""

    def __init__(self, values: Mapping[str, torch.Tensor | float]):
        self._values = dict(values)
        self._floats: dict[str, float] | None = None

    def tensors(self) -> dict[str, torch.Tensor | float]:
        """The values as they are held: 0-d tensors on the device, or floats."""
        return dict(self._values)

    def _tensors(self) -> list[torch.Tensor]:
        return [v for v in self._values.values() if torch.is_tensor(v)]

    def _fill(self, numbers: Iterator[float]) -> None:
        self._floats = {k: next(numbers) if torch.is_tensor(v) else float(v) for k, v in self._values.items()}

    def _host(self) -> dict[str, float]:
        if self._floats is None:
            read_all([self])
        return self._floats  # type: ignore[return-value]

    def __getitem__(self, key: str) -> float:
        return self._host()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)

    def __repr__(self) -> str:
        return f"LazyStats({self._floats if self._floats is not None else self._values})"


def read_all(stats: Iterable[Mapping[str, float]]) -> None:
    """Bring every unread `LazyStats` among `stats` to the host with one device→host read (plain mappings
    of floats are left as they are). The values are the tensors' own, exactly: gathered in float64 (fp32 and
    bf16 convert exactly; MPS, which has no float64, holds no float64 to lose)."""
    pending = [s for s in stats if isinstance(s, LazyStats) and s._floats is None]
    tensors = [t.detach().reshape(()).to(torch.float32 if t.device.type == "mps" else torch.float64)
               for s in pending for t in s._tensors()]
    numbers = iter(torch.stack(tensors).tolist() if tensors else [])
    for s in pending:
        s._fill(numbers)
