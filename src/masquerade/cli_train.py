"""The training commands: `masquerade train`, `train-upscaler` and `train-mask` (train/).

A module of its own so cli.py keeps one line per stage; like the other commands these only parse, call the
stage function and print. Their options are their config classes' fields (cli_stages.py).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, List

import typer


def train(
    config: Any,
    faceset_a: Path = typer.Argument(..., help="Face set of identity A (made by `masquerade extract`)."),
    faceset_b: Path = typer.Argument(..., help="Face set of identity B."),
    output: Path = typer.Option(..., "-o", "--output", help="Model folder; an existing one is resumed exactly."),
) -> None:
    """Train a swap model: one shared encoder, one decoder per identity, each decoding a face and a mask.

    Ctrl-C saves a checkpoint and exits cleanly; run the same command again to resume exactly.

    Several GPUs or machines (distributed data parallel): start the same command under torchrun, e.g.
    `torchrun --nproc-per-node 4 -m masquerade train A B -o MODEL`. --batch-size is then per process (the
    global batch is N times larger); rank 0 writes checkpoints and shows progress; a run resumes under any
    number of processes. On CPU the processes talk over gloo. See docs/scaling.md.
    """
    from .cli import ctrl_c_stops, gpu_note, say_result_notes, console, out
    from .terminal import ProgressBars
    from .train import train as run_train
    from .train.distributed import env_ranks

    main_rank = env_ranks().main
    gpu_note(config)
    with ctrl_c_stops("a checkpoint") as stop, ProgressBars(console, enabled=main_rank) as bars:
        result = run_train(faceset_a, faceset_b, output, config, progress=bars, should_stop=stop)
    if not main_rank:
        return
    say_result_notes(result)
    ranks = f" on {result.world_size} processes" if result.world_size > 1 else ""
    out.print(f"[green]✓[/] model at step {result.step} ({result.steps_run} steps this run{ranks}, "
              f"{result.samples_per_second:.1f} samples/s, {result.precision}); loss A {result.loss_a:.4f}, loss B {result.loss_b:.4f} -> {result.model_dir}")
    if result.last_preview:
        out.print(f"  preview: {result.last_preview}")


def arch_option_flag() -> list:
    import inspect

    return [inspect.Parameter("arch_option", inspect.Parameter.KEYWORD_ONLY, annotation=List[str], default=typer.Option(
        [], "--arch-option", metavar="KEY=VALUE",
        help="An architecture setting of a NEW model, e.g. --arch-option variant=liae --arch-option d_dims=32 "
             "(repeatable; the settings of each architecture are its config's fields; saved with the model)."))]


def train_settings(values: dict[str, Any], flags: dict[str, Any]) -> dict[str, Any]:
    """--arch-option pairs over the file's [train.model_options]; a Path from the file or flag as text."""
    from .options import ConfigFileError, parse_pairs

    from_file = values.get("model_options", {})
    if not isinstance(from_file, dict):
        raise ConfigFileError(f"--config [train] model_options must be a table of architecture settings, not {from_file!r}")
    values["model_options"] = {**from_file, **parse_pairs(flags.get("arch_option") or (), "--arch-option")}
    if values.get("init_from") is not None:
        values["init_from"] = str(values["init_from"])
    return values


def architectures() -> str:
    from .models import CATALOGUE

    return "Architectures (--model):\n\n" + "\n\n".join(arch.line(name) for name, arch in CATALOGUE.items())


def train_upscaler(
    config: Any,
    faceset: Path = typer.Argument(..., help="Face set of the identity (256 px crops, from `masquerade extract`)."),
    model: Path = typer.Option(..., "-m", "--model", help="Model folder made by `masquerade train`; the upscaler is saved in it."),
    side: str = typer.Option(..., "--side", metavar="[a|b]", help="Which identity of the model the face set is: a or b."),
) -> None:
    """Train an identity upscaler: turns the model's decoded face of SIDE into a sharp 256 px face of that person.

    It learns from the face set alone (no downloaded weights); `convert` uses it by default (--upscale auto).
    Ctrl-C stops and saves what was learnt so far.
    """
    from .cli import ctrl_c_stops, gpu_note, say_result_notes, console, out
    from .terminal import ProgressBars
    from .train.upscaler import train_model_upscaler

    gpu_note(config)

    with ctrl_c_stops("the upscaler") as stop, ProgressBars(console) as bars:
        result = train_model_upscaler(faceset, model, side, config, progress=bars, should_stop=stop)
    say_result_notes(result)
    m = result.metrics
    out.print(f"[green]✓[/] upscaler for side {side} trained {result.steps} steps in {result.seconds:.0f}s -> {result.path}")
    if m:
        out.print(f"  held-out SSIM (training's Gaussian window) {m['ssim_gauss11_upscaled']:.3f} (bicubic "
                  f"{m['ssim_gauss11_bicubic']:.3f}); sharpness "
                  f"{m['sharpness_upscaled']:.2f} of the real faces' (bicubic {m['sharpness_bicubic']:.2f}), "
                  f"{int(m['faces'])} held-out faces")


def train_mask(
    config: Any,
    facesets: List[Path] = typer.Argument(..., help="Face sets to learn from (those of the model: A, B or both)."),
    model: Path = typer.Option(..., "-m", "--model", help="Model folder made by `masquerade train`; the mask is saved in it."),
) -> None:
    """Train the occlusion mask: finds hands and objects in front of a face, so convert keeps them in front.

    It learns from the face sets alone, with synthetic occluders pasted over the faces (no labels, no downloads);
    `masquerade train` already trains it briefly, this trains it again (default 2 minutes). Ctrl-C stops and saves.
    """
    from .cli import ctrl_c_stops, console, out
    from .terminal import ProgressBars
    from .train.occlusion import train_model_mask

    with ctrl_c_stops("the mask") as stop, ProgressBars(console) as bars:
        result = train_model_mask(facesets, model, config, progress=bars, should_stop=stop)
    m = result.metrics
    out.print(f"[green]✓[/] occlusion mask trained {result.steps} steps in {result.seconds:.0f}s -> {result.path}")
    if m:
        ious = ", ".join(f"{k[4:]} {v:.3f}" for k, v in m.items() if k.startswith("iou_"))
        out.print(f"  held-out IoU: {ious}; hull kept on clean faces {m['hull_kept_clean']:.3f}")
