"""The CLI's progress bars read a stage's stats at most every STATS_EVERY_S: a training step's losses stay on
the device until read, so a bar that read them at every report would make a GPU wait at every step."""

from __future__ import annotations

import io
from collections.abc import Mapping

from rich.console import Console

from masquerade.terminal import ProgressBars


class CountingStats(Mapping):
    def __init__(self):
        self.reads = 0

    def __getitem__(self, key):
        self.reads += 1
        return 0.25

    def __iter__(self):
        return iter(["loss_a"])

    def __len__(self):
        return 1


def test_bars_count_every_report_but_read_the_stats_at_most_twice_a_second():
    stats = CountingStats()
    with ProgressBars(Console(file=io.StringIO()), enabled=False) as bars:
        for done in range(1, 201):
            bars("train", done, 200, stats)
        task = bars._progress.tasks[0]
    assert task.completed == 200
    # the first report and the last (done == total) always draw their stats; 200 quick reports in between do not
    assert 2 <= stats.reads <= 4
    assert task.fields["stats"] == "loss_a 0.25"
