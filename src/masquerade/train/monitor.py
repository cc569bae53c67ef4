"""What training reports besides its loss: held-out scores at each preview and the `report.html` page.

Why held out: the training loss is measured on the faces the net learns from, through the random warp, so
it keeps falling while the swap has stopped improving (or got worse). Faces the net never trains on are the
honest curve, and the automatic training plan (`plan.py`) moves on when that curve flattens.

The split is `validation`'s (by face name, so a resumed run holds out the same faces and stays exact); the
scores run in eval mode without gradients and draw no random numbers, so logging them changes no weight.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import torch

from . import distributed
from .config import TrainConfig
from .plan import PlanConfig, TrainingPlan
from .validation import Validator

IDENTITY_EVERY = 5  # previews between identity distances (dlib costs ~30 ms a face on a CPU)
REPORT = "report.html"


def make_validator(fs_a: Any, fs_b: Any, size: int, config: TrainConfig, device: torch.device,
                   main: bool) -> Validator | None:
    """The held-out split of both face sets (None when `holdout` is 0: train on every face, log no val_*).
    Only the main rank scores, so only it may embed identities."""
    if not config.holdout:
        return None
    return Validator(fs_a, fs_b, size, share=config.holdout, identity=None if main else False, device=device)


def held_out_scores(validator: Validator | None, net: torch.nn.Module, preview: int, main: bool = True) -> dict[str, float]:
    """The val_* keys for the metrics line of the run's `preview`-th preview (identity distances at every
    IDENTITY_EVERY-th, on the main rank). Non-finite values (a side with no held-out face) are left out:
    strict JSON."""
    if validator is None:
        return {}
    identity = main and preview > 0 and preview % IDENTITY_EVERY == 0
    scores = validator.scores(net, identity=identity)
    return {k: v for k, v in scores.items() if math.isfinite(v)}


def validation_error(scores: dict[str, float]) -> float | None:
    """What the training plan watches: 1 - the mean held-out training-window SSIM of both sides (lower is better)."""
    values = [scores[k] for k in ("val_ssim_gauss11_a", "val_ssim_gauss11_b") if k in scores]
    return 1.0 - sum(values) / len(values) if values else None


def write_report(model_dir: Path, metrics_path: Path, preview: Path | None) -> Path:
    """`report.html`: the curves of metrics.jsonl (plan switches marked) and the latest preview grid,
    written atomically so a browser or the UI never reads half a page."""
    from .curves import read_metrics, write_html

    lines = read_metrics(metrics_path) if metrics_path.is_file() else []
    return write_html(model_dir / REPORT, lines, [preview] if preview else [], title=f"Training report: {model_dir.name}")


# -- the automatic training plan (`--plan auto`) ------------------------------------------------------------
PLAN_CONFIG = PlanConfig()  # when phases may end (see plan.py); module-level so tests can shorten it


def make_plan(config: TrainConfig, validator: Validator | None, saved: dict[str, Any]) -> tuple[TrainingPlan | None, str | None]:
    """The run's plan (None: `--plan manual`, today's fixed settings) and a note when auto cannot run.
    A resumed run continues the plan its snapshot saved, so it switches exactly where an unbroken run would."""
    if config.plan != "auto":
        return None, None
    if validator is None or not config.previews:
        why = "--holdout 0" if validator is None else "--preview-every 0"
        return None, (f"--plan auto moves on by the held-out curves, which {why} turns off; trained with the "
                      "manual settings instead")
    if saved.get("plan"):
        return TrainingPlan.from_json(saved["plan"]), None
    return TrainingPlan.auto(gan=config.gan_weight > 0, config=PLAN_CONFIG), None


def observe(plan: TrainingPlan | None, step: int, scores: dict[str, float], ranks: distributed.Ranks,
            used: float | None = None) -> list[dict[str, Any]]:
    """Feed the plan this preview's held-out error and the share of the budget used (None: no budget; the same
    on every rank); the events to log. Every rank must call it: the error is averaged over ranks so all of them
    switch phase at the same step."""
    if plan is None:
        return []
    error = validation_error(scores)
    error = distributed.mean_over_ranks({"e": math.nan if error is None else error}, ranks)["e"]
    return plan.observe(step, error, used)
