"""The `masquerade` command: one thin Typer command per stage. No logic lives here.

Usage mistakes get Typer's usage message and exit code 2; user mistakes (`MasqueradeError`) one red line and
exit code 2; anything else is a bug: one line naming the log file that holds its traceback, exit code 1.
Imports stay light at module level so `--help` never loads torch.
"""

from __future__ import annotations

import contextlib
import sys
from pathlib import Path
from typing import Any, Callable, Iterator, List, Optional

import typer
from rich.console import Console
from typer.core import TyperGroup

from . import __version__
from .errors import MasqueradeError


class _Commands(TyperGroup):
    """The app's group: the stage commands (extract, train, convert) are built from their config classes'
    option declarations only when run or asked for --help, so no other command pays for importing them."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        from .cli_stages import deferred

        self.commands.update(deferred(_stages()))
        order = ["extract", "faces", "train", "train-upscaler", "train-mask", "evaluate", "convert", "verify", "demo",
                 "ui"]
        self.commands = {n: self.commands[n] for n in order + [n for n in self.commands if n not in order]
                         if n in self.commands}

    def resolve_command(self, ctx, args):
        name, cmd, rest = super().resolve_command(ctx, args)
        return name, getattr(cmd, "build", lambda: cmd)(), rest


app = typer.Typer(
    name="masquerade", cls=_Commands,
    help="Face swapping with the classic deepfake autoencoder. Every output is watermarked and signed as synthetic.",
    no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
)
console = Console(stderr=True)  # progress and errors
out = Console()


def _say_notes(notes) -> None:
    from rich.markup import escape

    for note in notes or ():
        console.print(f"[yellow]note:[/] {escape(str(note))}", highlight=False, soft_wrap=True)


def say_result_notes(result: object) -> None:
    """Print what a stage wants the user to know besides its result (e.g. that it resumed from an older snapshot)."""
    _say_notes(getattr(result, "notes", None))


def gpu_note(config: Any) -> None:
    """Before a command that computes: say so when a GPU sits unused because PyTorch cannot reach it."""
    from .models.store import unused_gpu_note

    note = unused_gpu_note(str(getattr(config, "device", "auto")))
    _say_notes([note] if note else [])


def _version(value: bool) -> None:
    if value:
        out.print(f"masquerade {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print the version and exit.")) -> None:
    """Masquerade: extract faces, train a swap model, convert videos, verify outputs."""


@contextlib.contextmanager
def ctrl_c_stops(saving: str) -> Iterator[Callable[[], bool]]:
    """The first Ctrl-C asks a long training loop to stop after its step and save; a second one aborts.

    Yields the `should_stop` callable the loop polls; the previous SIGINT handler is restored on exit.
    """
    import signal

    stop = {"now": False}

    def on_sigint(signum, frame):
        if stop["now"]:
            raise KeyboardInterrupt
        stop["now"] = True
        console.print(f"[yellow]stopping after this step and saving {saving} (Ctrl-C again to abort)[/]")

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield lambda: stop["now"]
    finally:
        signal.signal(signal.SIGINT, previous)


@app.command()
def verify(
    files: List[Path] = typer.Argument(..., help="Images or videos to check; a folder checks the images and videos in it."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object per file instead of a verdict line."),
) -> None:
    """Check files for Masquerade's marks: the signed C2PA manifest and the invisible watermark.

    Exit code 0: every file carries Masquerade marks; 1: at least one carries none; 2: a file could not be read.
    """
    import json

    from rich.markup import escape

    from .provenance import verify as run_verify
    from .provenance.verify import files_to_verify

    worst = 0
    for path in files_to_verify(files):
        verdict = run_verify(path)
        worst = max(worst, verdict.exit_code)
        if as_json:
            out.print_json(json.dumps(verdict.to_dict()))
        else:
            colour = {0: "green", 1: "yellow", 2: "red"}[verdict.exit_code]
            out.print(f"[{colour}]{escape(str(path))}[/]: {escape(verdict.summary)}", highlight=False, soft_wrap=True)
    raise typer.Exit(worst)


@app.command()
def demo(
    output: Path = typer.Option(Path("demo"), "-o", "--output", help="Folder for the demo's clips, model, output and report."),
    minutes: float = typer.Option(10.0, help="Time budget for the whole demo; training gets what the rest leaves."),
    frames: int = typer.Option(48, help="Frames per generated training clip."),
) -> None:
    """Run extract -> train -> convert -> verify -> evaluate on generated clips and write DIR/report.html.

    The material is made from two public-domain portraits that ship inside installed packages; nothing is
    downloaded. The swap model is trained from scratch within the budget.
    """
    from .demo import run_demo, summary_dict
    from .terminal import ProgressBars

    with ProgressBars(console) as bars:
        result = run_demo(output, minutes=minutes, frames=frames, progress=bars)
    say_result_notes(result)
    summary = summary_dict(result)
    ev = summary["evaluation"]
    rec = ev.get("reconstruction", {})
    ident = ev.get("identity", {})
    out.print(f"[green]✓[/] demo finished in {result.seconds / 60:.1f} min; model trained {result.train_steps} steps")
    for side, r in rec.items():
        out.print(f"  reconstruction {side.upper()}->{side.upper()} on held-out faces: SSIM (7×7 window) {r['ssim_box7']:.3f}, PSNR {r['psnr']:.1f} dB")
    if ident:
        out.print(f"  swapped face -> target distance {ident['distance_to_target']:.3f}, -> source {ident['distance_to_source']:.3f} "
                  f"(identity retrieval {ident['retrieval']:.0%})")
    for name, line in summary["verdicts"].items():
        out.print(f"  verify {name}: {line}")
    out.print(f"  report: {result.report}")


@app.command()
def ui(
    host: str = typer.Option("127.0.0.1", help="Address to bind; anything but loopback needs a login."),
    port: int = typer.Option(7860, help="Port to listen on."),
    auth_file: Optional[Path] = typer.Option(None, "--auth-file", help="File with user:password lines (chmod 600) the browser must log in with. Or set MASQUERADE_UI_AUTH=user:password. Mandatory off loopback."),
    auth: Optional[str] = typer.Option(None, "--auth", hidden=True),
    workspace: Path = typer.Option(Path("masquerade-workspace"), help="Folder for uploads, face sets, models, outputs and jobs."),
    max_upload_mb: int = typer.Option(2048, "--max-upload-mb", help="Largest accepted upload in MB."),
    open_browser: bool = typer.Option(False, "--open", help="Open the page in a browser."),
) -> None:
    """Start the local web UI (extract, train, convert, verify) over the same stage functions."""
    from .ui import serve

    if auth is not None:
        raise MasqueradeError("--auth was removed: a password on the command line is visible to every user of this "
                              "machine (ps). Put user:password in MASQUERADE_UI_AUTH, or in a file passed with --auth-file")
    serve(host=host, port=port, auth_file=auth_file, workspace=workspace, open_browser=open_browser,
          max_upload_bytes=max_upload_mb * 1024 * 1024, announce=lambda line: out.print(line, highlight=False, markup=False))


# -- the stage commands: their options are their config classes' fields (see cli_stages.py) --------------------
def _extract(
    config: Any,
    inputs: List[Path] = typer.Argument(..., help="Videos, images or folders of images to take faces from."),
    output: Path = typer.Option(..., "-o", "--output", help="Face set folder to create (or to resume)."),
    ray: bool = typer.Option(False, "--ray", help="Fan out one Ray task per input (needs the scale extra)."),
    ray_address: Optional[str] = typer.Option(None, "--ray-address", help="Ray cluster to join (default: a local one, or RAY_ADDRESS)."),
) -> None:
    """Find every face in the inputs, align it to the template, and save crops, masks and alignments.

    Re-running the same command after an interruption continues where it stopped.
    """
    from .extract import extract as run_extract
    from .terminal import ProgressBars

    with ProgressBars(console) as bars:
        if ray or ray_address:
            from .scale import ray_extract

            summary = ray_extract(inputs, output, config, address=ray_address, progress=bars)
        else:
            summary = run_extract(inputs, output, config, progress=bars)
    say_result_notes(summary)
    rejected = ", ".join(f"{n} {why}" for why, n in summary.rejected.items()) or "none"
    out.print(f"[green]✓[/] {summary.faces_kept} faces from {summary.frames_read} frames of {summary.sources} "
              f"source(s) in {summary.seconds:.1f}s -> {summary.output}")
    out.print(f"  frames without a face: {summary.frames_without_face}; faces rejected: {rejected}")
    for path in summary.sources_without_face:
        out.print(f"  [yellow]no face found in {path}[/]")


def _evaluate(
    config: Any,
    model: Path = typer.Option(..., "-m", "--model", help="Model folder."),
    source: Path = typer.Option(..., "--source", help="Video of the source identity to swap."),
    target_faces: Path = typer.Option(..., "--target-faces", help="Face set of the target identity."),
    holdout_a: Optional[Path] = typer.Option(None, "--holdout-a", help="Face set of A not used in training (reconstruction)."),
    holdout_b: Optional[Path] = typer.Option(None, "--holdout-b", help="Face set of B not used in training (reconstruction)."),
    max_frames: Optional[int] = typer.Option(None, "--max-frames", min=1, help="Measure only the first N frames."),
    as_json: bool = typer.Option(False, "--json", help="Print the metrics as JSON."),
) -> None:
    """Measure a swap: identity (face recognition), head pose, expression (incl. mouth/eye opening correlation with
    the source and blink agreement), flicker, watermark, reconstruction. --json adds the per-frame openings.

    The swap is made exactly as `convert` would make it with the same settings (--direction, --upscale, ...).
    """
    import json

    from .evaluate.run import evaluate as run_evaluate
    from .terminal import ProgressBars

    holdout = {k: v for k, v in (("a", holdout_a), ("b", holdout_b)) if v is not None} or None
    gpu_note(config)
    with ProgressBars(console) as bars:
        report = run_evaluate(model, source, target_faces, config, max_frames=max_frames, progress=bars,
                              holdout=holdout)
    say_result_notes(report)
    if as_json:
        out.print_json(json.dumps(report.to_dict(), default=float))
        return
    for key, value in report.to_dict().items():
        if key != "openings":  # per-frame lists: in --json only
            out.print(f"{key:>20}: {value}")


def _convert(
    config: Any,
    inputs: List[Path] = typer.Argument(..., help="Video, image or folder of images whose faces are replaced (several with --ray)."),
    model: Path = typer.Option(..., "-m", "--model", help="Model folder made by `masquerade train`."),
    output: Path = typer.Option(..., "-o", "--output", help="Output video (.mp4), image (.png/.jpg) or folder."),
    ray: bool = typer.Option(False, "--ray", help="Convert on Ray: long videos in parallel segments, many files as tasks."),
    ray_address: Optional[str] = typer.Option(None, "--ray-address", help="Ray cluster to join (default: a local one, or RAY_ADDRESS)."),
) -> None:
    """Swap faces in a video, image or folder with a trained model; keeps audio, fps and length.

    Every output is watermarked and carries a signed manifest saying it is synthetic.
    """
    from .convert import convert as run_convert
    from .terminal import ProgressBars

    gpu_note(config)
    with ProgressBars(console) as bars:
        if ray or ray_address:
            from .scale import ray_convert

            summary = ray_convert(inputs if len(inputs) > 1 else inputs[0], model, output, config,
                                  address=ray_address, progress=bars)
        else:
            if len(inputs) > 1:
                raise MasqueradeError("convert takes one input; pass several only with --ray (or loop in your shell)")
            summary = run_convert(inputs[0], model, output, config, progress=bars)
    say_result_notes(summary)
    out.print(f"[green]✓[/] {summary.frames} frames ({summary.faces_swapped} faces swapped, "
              f"{summary.frames_passed_through} passed through unchanged) in {summary.seconds:.1f}s "
              f"({summary.fps:.1f} frames/s) -> {summary.output}")


def _stages() -> dict:
    from . import cli_faces, cli_train
    from .cli_stages import Stage

    return {
        "extract": Stage(_extract, "masquerade.extract:ExtractConfig", "extract"),
        "faces": Stage(cli_faces.faces, "masquerade.faceset.curate:CurateConfig", "faces"),
        "train": Stage(cli_train.train, "masquerade.train.config:TrainConfig", "train", extra=cli_train.arch_option_flag,
                       file_extra=("model_options",), finish=cli_train.train_settings, epilog=cli_train.architectures),
        "train-upscaler": Stage(cli_train.train_upscaler, "masquerade.train.upscaler_config:UpscalerTrainConfig",
                                "train-upscaler"),
        "train-mask": Stage(cli_train.train_mask, "masquerade.train.occlusion_config:MaskTrainConfig", "train-mask"),
        "evaluate": Stage(_evaluate, "masquerade.convert.config:ConvertConfig", "evaluate",
                          skip=("preview", "start", "end")),
        "convert": Stage(_convert, "masquerade.convert.config:ConvertConfig", "convert"),
    }



def main(argv: Optional[list[str]] = None) -> int:
    """Run the app and return its exit code: 0 ok, 2 usage or user error, 1 a bug (traceback in a log), 130 Ctrl-C.

    See `terminal.run_guarded` for why every failure ends in one line.
    """
    from .terminal import run_guarded

    return run_guarded(lambda: app(args=argv, prog_name="masquerade", standalone_mode=True), console)


def entry() -> None:
    """The installed `masquerade` command: run, exit with main()'s code (stderr is left as it is: see terminal.py)."""
    sys.exit(main())


if __name__ == "__main__":
    entry()
