"""`run_frames` in stages: the steps split into groups, each group on its own thread, joined by bounded queues.

Why: the sequential loop leaves a core idle for much of each batch. Decoding (PyAV), detection and hand
finding (MediaPipe), the model (torch), pasting (OpenCV, numpy) and encoding (libx264) all release the GIL
while they work, so on a 2-core machine the face finding of batch k+2, the model of batch k+1 and the
pasting of batch k can run at once. The outputs are the sequential loop's exactly: every group sees every
batch, one batch at a time, in order, so a step that keeps state over time (tracker, smoother) sees the
same sequence, and the sink gets the frames in order.

The groups (`split_steps`): everything before the model (decode and face finding: decoding costs ~1 ms a
frame, too little to earn a thread and a queue of its own), the model with the tensor steps after it (an
upscaler), the eyes step (the face mesh on swapped faces whose source's eyes are closing), the occlusion step
(MediaPipe's hands and the mask net: 10-11 ms a frame, convert's largest CPU stage beside detection), and the
other pixel steps (colour, sharpen, paste). With the occlusion step apart
from the paste, staged `lite` went from 1.14-1.26× to 1.25-1.30× the sequential loop on the three real clips
(idle 2-core box; `original` unchanged at 1.17-1.23×, its model step is the bottleneck there). The sink (watermark and encode, the
progress callback) stays on the calling thread, so Ctrl-C, progress reports and the writer behave as in the
sequential loop.

Failure: an exception in any group stops every group (each checks a shared stop flag whenever it waits on a
queue) and is raised on the calling thread, the same exception the sequential loop raises; an exception in
the sink, or Ctrl-C, stops the groups the same way. The groups are joined before `run_frames` returns or
raises, so the caller may close the steps at once. Memory: up to about 2 × groups + 1 batches are in flight
(the sequential loop holds one).
"""

from __future__ import annotations

import queue
import threading
import time
from typing import Callable, Iterable, Iterator

from ..records import Frame
from .pipeline import Batch, FaceStep, Sink, Step, Timings, batches, emit, run_steps

_END = object()  # put by a group after its last batch
_POLL_S = 0.05  # how often a waiting group looks at the stop flag


def split_steps(steps: list[Step]) -> list[list[Step]]:
    """The steps in groups that run on threads of their own: a new group starts at the model and at the first
    pixel step after it, and after the model a step that asks for a thread of its own (`own_thread`, the
    occlusion step) is a group alone. Without a step named "model" the steps stay one group after the
    decoding."""
    groups: list[list[Step]] = [[]]
    seen_model = False
    for step in steps:
        alone = getattr(step, "own_thread", False) or bool(groups[-1]) and getattr(groups[-1][-1], "own_thread", False)
        starts = (step.name == "model" and not seen_model) or (seen_model and alone) or (
            seen_model and isinstance(step, FaceStep) and not any(isinstance(s, FaceStep) for s in groups[-1]))
        if starts and groups[-1]:
            groups.append([])
        seen_model = seen_model or step.name == "model"
        groups[-1].append(step)
    return groups


class _Flow:
    """The stop flag, the first error, and queue waits that give up once the flag is set."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.error: BaseException | None = None
        self._lock = threading.Lock()

    def fail(self, exc: BaseException) -> None:
        with self._lock:
            if self.error is None:
                self.error = exc
        self.stop.set()

    def put(self, q: queue.Queue, item) -> bool:
        while not self.stop.is_set():
            try:
                q.put(item, timeout=_POLL_S)
                return True
            except queue.Full:
                pass
        return False

    def take(self, q: queue.Queue) -> Iterator:
        """What the group before puts in `q`, until it ends or the flow stops."""
        while not self.stop.is_set():
            try:
                item = q.get(timeout=_POLL_S)
            except queue.Empty:
                continue
            if item is _END:
                return
            yield item


def _run_group(flow: _Flow, source: Iterable[tuple[Batch, Batch]], steps: list[Step], out: queue.Queue,
               timings: Timings) -> None:
    """One thread: each batch of `source` through `steps`, then on to `out`; the first error stops every group."""
    try:
        for pair in source:
            if flow.stop.is_set():
                return
            run_steps(pair, steps, timings, flow.stop.is_set)
            if not flow.put(out, pair):
                return
        flow.put(out, _END)
    except BaseException as exc:  # noqa: BLE001 - handed to the calling thread, which raises it
        flow.fail(exc)


def run_frames_in_stages(frames: Iterable[Frame], steps: list[Step], sink: Sink, batch_size: int,
                         timings: Timings, warmup: Callable[[Frame], bool] | None = None, depth: int = 1) -> None:
    """`run_frames` with each step group on a thread (see the module doc); `depth`: batches each queue holds."""
    groups = split_steps(steps)
    flow = _Flow()
    queues = [queue.Queue(maxsize=depth) for _ in groups]
    sources = [batches(frames, batch_size, timings, warmup)] + [flow.take(q) for q in queues[:-1]]
    threads = [threading.Thread(target=_run_group, name=f"convert-stage-{i}", daemon=True,
                                args=(flow, source, group, out, timings))
               for i, (group, source, out) in enumerate(zip(groups, sources, queues))]
    for thread in threads:
        thread.start()
    try:
        for pair in flow.take(queues[-1]):
            emit(pair, sink, timings)
    except BaseException as exc:
        flow.fail(exc)
        raise
    finally:
        flow.stop.set()  # a finished run's groups have ended already; a failed one's end at their next wait
        for thread in threads:
            thread.join()
    if flow.error is not None:
        raise flow.error
