"""The `masquerade faces` command: curate a face set to one person and show its coverage (faceset/curate.py).

A module of its own so cli.py keeps one line per stage; like the other commands it only parses, calls the
stage function and prints.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import typer

SHOWN_PER_REASON = 200  # lines of a dry run's listing per reason (the counts are always whole)


def faces(
    config: Any,
    faceset: Path = typer.Argument(..., help="Face set folder (made by `masquerade extract`)."),
    dry_run: bool = typer.Option(False, "--dry-run", help="List what would be set aside, and why; move nothing."),
    restore: Optional[str] = typer.Option(None, "--restore", metavar="REASON|all",
                                          help="Put back the faces set aside for REASON (or all of them), then stop."),
) -> None:
    """Keep one person in a face set and show which angles and expressions it covers.

    Other people, near-duplicates, low-confidence, misaligned and blurry faces move to FACESET/set_aside/<reason>/
    (never deleted; --restore puts them back). The person kept is the one in --reference PHOTO, else the one
    with the most faces. coverage.png is a contact sheet by head yaw, pitch and expression with a count per bin.
    """
    from rich.markup import escape

    from .cli import console, out
    from .faceset.curate import curate
    from .faceset.curate import restore as restore_faces
    from .terminal import ProgressBars

    if restore is not None:
        n = restore_faces(faceset, None if restore == "all" else restore)
        out.print(f"[green]✓[/] {n} face(s) put back into {escape(str(faceset))}")
        return
    with ProgressBars(console) as bars:
        report = curate(faceset, config, dry_run=dry_run, progress=bars)
    verb = "would set aside" if dry_run else "set aside"
    if dry_run:
        for reason in report.set_aside:
            chosen = [d for d in report.decisions if d.reason == reason]
            for d in chosen[:SHOWN_PER_REASON]:
                out.print(f"  {reason:<15} {d.file}  {escape(d.why)}", highlight=False, soft_wrap=True)
            if len(chosen) > SHOWN_PER_REASON:
                out.print(f"  {reason:<15} ... and {len(chosen) - SHOWN_PER_REASON} more")
    counts = ", ".join(f"{n} {why}" for why, n in report.set_aside.items()) or "nothing"
    out.print(f"[green]✓[/] kept {report.kept} of {report.faces} faces ({escape(report.person)}); {verb}: {counts} "
              f"in {report.seconds:.1f}s ({report.embedded} faces embedded, the rest cached)", highlight=False,
              soft_wrap=True)
    if report.set_aside and not dry_run:
        out.print(f"  moved to {escape(str(Path(faceset) / 'set_aside'))}/<reason>/; put them back with "
                  f"`masquerade faces {escape(str(faceset))} --restore REASON` (or all)", highlight=False,
                  soft_wrap=True)
    if report.sheet:
        out.print(f"  coverage: {escape(report.sheet)} (counts in coverage.json)", highlight=False)
