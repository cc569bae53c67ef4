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
def convert(
    input: Path = typer.Argument(..., help="Video, image or folder of images whose faces are replaced."),
    model: Path = typer.Option(..., "-m", "--model", help="Model folder made by `masquerade train`."),
    output: Path = typer.Option(..., "-o", "--output", help="Output video (.mp4), image (.png/.jpg) or folder."),
    direction: str = typer.Option("a2b", help="a2b puts identity B's face on A's head; b2a the other way."),
    face: str = typer.Option("largest", help="Whose face to swap: largest, all, or a person's index (0 = leftmost)."),
    reference: Optional[Path] = typer.Option(None, help="Photo of the person to swap (picked by face recognition)."),
    color: str = typer.Option("rct", help="Colour matching: rct (Reinhard, Lab), hist (histogram) or none."),
    blend: str = typer.Option("alpha", help="Blending: alpha (feathered) or poisson (seamless clone)."),
    erode: float = typer.Option(2.0, help="Shrink the mask by this % of the face width (negative grows it)."),
    blur: float = typer.Option(6.0, help="Feather the mask edge over this % of the face width."),
    sharpen: float = typer.Option(0.0, help="Sharpen the upscaled face (0 = off, 0.5 = moderate)."),
    smooth: bool = typer.Option(True, "--smooth/--no-smooth", help="Steady faces over time (One-Euro filter)."),
    batch_size: int = typer.Option(8, "--batch-size", help="Frames whose faces run through the model together."),
    device: str = typer.Option("auto", help="auto, cpu, cuda or mps."),
    crf: int = typer.Option(18, help="H.264 quality of the output video (lower is better and bigger)."),
    preview: int = typer.Option(0, help="Write a side-by-side PNG of N frames (original | swapped) instead."),
) -> None:
    """Swap faces in a video, image or folder with a trained model; keeps audio, fps and length.

    Every output is watermarked and carries a signed manifest saying it is synthetic.
    """
    from .convert import ConvertConfig, convert as run_convert
    from .terminal import ProgressBars

    config = ConvertConfig(direction=direction, face=face, reference=reference, color=color, blend=blend, erode=erode,
                           blur=blur, sharpen=sharpen, smooth=smooth, batch_size=batch_size, device=device, crf=crf,
                           preview=preview)
    with ProgressBars(console) as bars:
        summary = run_convert(input, model, output, config, progress=bars)
    out.print(f"[green]✓[/] {summary.frames} frames ({summary.faces_swapped} faces swapped, "
              f"{summary.frames_passed_through} passed through unchanged) in {summary.seconds:.1f}s "
              f"({summary.fps:.1f} frames/s) -> {summary.output}")


@app.command()
def verify(
    files: List[Path] = typer.Argument(..., help="Images or videos to check."),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object per file instead of a verdict line."),
) -> None:
    """Check files for Masquerade's marks: the signed C2PA manifest and the invisible watermark.

    Exit code 0: every file carries Masquerade marks; 1: at least one carries none; 2: a file could not be read.
    """
    import json

    from .provenance import verify as run_verify

    worst = 0
    for path in files:
        verdict = run_verify(path)
        worst = max(worst, verdict.exit_code)
        if as_json:
            out.print_json(json.dumps(verdict.to_dict()))
        else:
            colour = {0: "green", 1: "yellow", 2: "red"}[verdict.exit_code]
            out.print(f"[{colour}]{path}[/]: {verdict.summary}", highlight=False, soft_wrap=True)
    raise typer.Exit(worst)


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
        code = app(args=argv, standalone_mode=False)  # click returns typer.Exit's code in this mode
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
    return code if isinstance(code, int) else 0


def entry() -> None:
    """The installed `masquerade` command: hide native start-up chatter, run, exit with main()'s code."""
    from .terminal import filter_native_stderr

    console.file = filter_native_stderr()
    sys.exit(main())


if __name__ == "__main__":
    entry()
