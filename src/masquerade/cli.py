"""The `masquerade` command: one thin Typer command per stage. No logic lives here.

User mistakes (`MasqueradeError`) become one red line and exit code 2; anything else is a bug and keeps
its traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import List, Optional

import typer
from rich.console import Console

from . import __version__
from .errors import MasqueradeError

app = typer.Typer(
    name="masquerade",
    help="Face swapping with the classic deepfake autoencoder. Every output is watermarked and signed as synthetic.",
    no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
)
console = Console(stderr=True)  # progress and errors; main() points it at the filtered real stderr
out = Console()


def _version(value: bool) -> None:
    if value:
        out.print(f"masquerade {__version__}")
        raise typer.Exit()


@app.callback()
def _root(version: bool = typer.Option(False, "--version", callback=_version, is_eager=True,
                                       help="Print the version and exit.")) -> None:
    """Masquerade: extract faces, train a swap model, convert videos, verify outputs."""


@app.command()
def extract(
    inputs: List[Path] = typer.Argument(..., help="Videos, images or folders of images to take faces from."),
    output: Path = typer.Option(..., "-o", "--output", help="Face set folder to create (or to resume)."),
    size: int = typer.Option(256, help="Side of the aligned face crops in pixels."),
    coverage: str = typer.Option("face", help="How much of the head a crop holds: face, whole_face or head."),
    every_nth: int = typer.Option(1, "--every-nth", help="Read only every n-th frame of videos."),
    min_face_size: int = typer.Option(40, "--min-face-size", help="Reject faces smaller than this (pixels)."),
    max_faces: int = typer.Option(1, "--max-faces", help="Faces to keep per frame, largest first."),
    blur_threshold: float = typer.Option(0.0, "--blur-threshold",
                                         help="Reject blurry crops: Laplacian variance below this (0 keeps all; about 50 drops strong motion blur)."),
    detector: str = typer.Option("mediapipe", help="Face detector backend."),
) -> None:
    """Find every face in the inputs, align it to the template, and save crops, masks and alignments.

    Re-running the same command after an interruption continues where it stopped.
    """
    from .extract import ExtractConfig, extract as run_extract
    from .terminal import ProgressBars

    config = ExtractConfig(size=size, coverage=coverage, every_nth=every_nth, min_face_size=min_face_size,
                           max_faces=max_faces, blur_threshold=blur_threshold, detector=detector)
    with ProgressBars(console) as bars:
        summary = run_extract(inputs, output, config, progress=bars)
    rejected = ", ".join(f"{n} {why}" for why, n in summary.rejected.items()) or "none"
    out.print(f"[green]✓[/] {summary.faces_kept} faces from {summary.frames_read} frames of {summary.sources} "
              f"source(s) in {summary.seconds:.1f}s -> {summary.output}")
    out.print(f"  frames without a face: {summary.frames_without_face}; faces rejected: {rejected}")
    for path in summary.sources_without_face:
        out.print(f"  [yellow]no face found in {path}[/]")


@app.command()
def demo(
    output: Path = typer.Option(Path("demo"), "-o", "--output", help="Folder for the demo's clips, face sets and report."),
    frames: int = typer.Option(48, help="Frames per generated clip."),
) -> None:
    """Run the pipeline end to end on clips generated from two public-domain portraits (no downloads)."""
    from .demo import run_demo
    from .terminal import ProgressBars

    with ProgressBars(console) as bars:
        result = run_demo(output, frames=frames, progress=bars)
    for side, summary in result.extract.items():
        out.print(f"[green]✓[/] identity {side.upper()}: {summary.faces_kept} faces from {summary.frames_read} frames "
                  f"of {result.clips[side]} -> {result.facesets[side]}")


def main(argv: Optional[list[str]] = None) -> int:
    """Console-script entry point: runs the app and maps user errors to one line and exit code 2."""
    try:
        app(args=argv, standalone_mode=False)
    except MasqueradeError as exc:
        console.print(f"[bold red]error:[/] {exc}", highlight=False, soft_wrap=True)
        return 2
    except KeyboardInterrupt:
        console.print("[yellow]interrupted[/]")
        return 130
    except typer.Exit as exc:
        return exc.exit_code
    except SystemExit as exc:  # click's own usage errors
        return exc.code if isinstance(exc.code, int) else 2
    except Exception as exc:  # click.ClickException (bad options) arrives here in non-standalone mode
        import click

        if isinstance(exc, click.exceptions.ClickException):
            exc.show()
            return 2
        if isinstance(exc, click.exceptions.Abort):
            return 130
        raise
    return 0


def entry() -> None:
    """The installed `masquerade` command: hide native start-up chatter, run, exit with main()'s code."""
    from .terminal import filter_native_stderr

    console.file = filter_native_stderr()
    sys.exit(main())


if __name__ == "__main__":
    entry()
