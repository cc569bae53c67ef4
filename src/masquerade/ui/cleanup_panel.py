"""The person steps' folded "Clean up this person's faces" part: keep one person in the face set and set the
rest aside (other people, near-identical frames, blurry or badly found faces), then show what the faces cover.

Why a check first and then *Set them aside*: a new user cannot judge settings, but can judge "12 faces of
someone else, 5 near-identical frames". The check is a dry run of `faceset.curate.curate` (the stage the
`masquerade faces` command calls) run as a job like finding faces, so its slow face-recognition step shows
progress and outlives a reload; *Set them aside* runs the same job again with what the check used. Nothing is
deleted: *Put them back* restores one reason's faces through the face set's own locked writer.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import gradio as gr

from ..faceset.curate import REASONS, CurateConfig
from ..media import IMAGE_SUFFIXES
from . import form
from .context import UIContext, active, guarded, job_html, latest, message, quiet, upload_dir
from .jobs import DONE
from .workspace import PathRefused, Workspace, check_name, discard_upload

REASON_WORDS = {  # (one, many): what each reason is called on the page
    "other_person": ("face of someone else", "faces of someone else"),
    "near_duplicate": ("near-identical frame", "near-identical frames"),
    "blurry": ("blurry face", "blurry faces"),
    "low_score": ("face the finder was unsure of", "faces the finder was unsure of"),
    "misaligned": ("face with its features found in the wrong places", "faces with their features found in the "
                                                                        "wrong places"),
    "removed": ("face you dropped", "faces you dropped"),
}
NO_PHOTO = "none: keep the person seen most often"
COVERAGE = ("Each box holds the faces seen from one angle or with one expression, and how many there are. "
            "**Empty boxes are angles or expressions the model will not have seen: film more of them.**")


def reason_words(reason: str, n: int) -> str:
    """'12 faces of someone else', '1 near-identical frame'; a reason the page does not know (set aside by
    another tool) still reads as words."""
    one, many = REASON_WORDS.get(reason, (f"face set aside as {reason.replace('_', ' ')}",
                                          f"faces set aside as {reason.replace('_', ' ')}"))
    return f"{n} {one if n == 1 else many}"


def counts_words(counts: dict[str, int]) -> str:
    """Counts per reason in the order the rules judge them, joined as a sentence: 'a, b and c'."""
    order = [r for r in REASONS if counts.get(r)] + sorted(r for r in counts if r not in REASONS and counts[r])
    parts = [reason_words(r, counts[r]) for r in order]
    return parts[0] if len(parts) == 1 else ", ".join(parts[:-1]) + " and " + parts[-1] if parts else "nothing"


def summary(result: dict[str, Any], name: str) -> str:
    """What a finished check or clean-up found, in plain words (no file names, flags or measurements)."""
    faces, kept, counts = result.get("faces", 0), result.get("kept", 0), result.get("set_aside") or {}
    who = ("the person in your photo" if result.get("reference") else "the person seen most often") \
        if result.get("one_person", True) else "everyone"
    if not counts:
        return message(f"all {faces} faces of {name} look right (keeping {who}): nothing to set aside.")
    if result.get("dry_run"):
        return message(f"keeping {who}, {kept} of the {faces} faces of {name} would stay. It would set aside "
                       f"{counts_words(counts)}. Nothing has changed yet: press *Set them aside* to do it.")
    return message(f"set aside {counts_words(counts)}; {kept} faces of {name} are left. Nothing was deleted: "
                   "*Put them back* below returns them.")


def put_back_choices(folder: Path | None) -> list[tuple[str, str]]:
    """(words, reason) for each reason that has faces set aside, and 'all of them' when there are several."""
    from ..faceset import FaceSet

    if folder is None or not folder.is_dir():
        return []
    counts = FaceSet.open(folder).set_aside_reasons()
    choices = [(reason_words(r, n), r) for r, n in counts.items()]
    return choices + [("all of them", "all")] if len(choices) > 1 else choices


def photos(ws: Workspace) -> list[tuple[str, str]]:
    """The reference photo's choices: none, or a photo already added (clips cannot show the person to keep)."""
    return [(NO_PHOTO, "")] + [(n, n) for n in ws.media() if Path(n).suffix.lower() in IMAGE_SUFFIXES]


class Panel:
    """Built in two steps: the widgets where the section sits on the page (`__init__`), then its events
    (`wire`), once the gallery it refreshes, built further down the page, exists."""

    def __init__(self, ctx: UIContext, side: str):
        self.ctx, self.side, p = ctx, side, side
        queue = ctx.queue
        with gr.Accordion("Clean up this person's faces", open=False, elem_id=f"{p}-clean"):
            gr.Markdown("Clips often hold other people, runs of near-identical frames and a few blurred or badly "
                        "found faces; a model trained on them learns a blend. *Check the faces* shows what would "
                        "be set aside and why; nothing changes until you press *Set them aside*, and nothing is "
                        "ever deleted.")
            with gr.Row():
                self.photo = gr.Dropdown(photos(ctx.ws), value="", label="Photo of the person to keep (optional)",
                                         info="Without one, the person seen in the most faces is kept.",
                                         elem_id=f"{p}-clean-photo", scale=3)
                self.upload = gr.File(label="Add a photo of the person to keep", file_count="single", height=120,
                                      file_types=["image"], type="filepath", elem_id=f"{p}-clean-upload", scale=2)
            self.fields = form.widgets(CurateConfig, f"{p}-clean", per_row=3)
            with gr.Row():
                self.check = gr.Button("Check the faces", variant="primary", elem_id=f"{p}-clean-check")
                self.apply = gr.Button("Set them aside", variant="stop", visible=False, elem_id=f"{p}-clean-apply")
            self.status = gr.HTML(job_html(latest(queue, "curate", person=side), empty="Not checked yet."),
                                  elem_id=f"{p}-clean-status")
            self.msg = gr.Markdown("", elem_id=f"{p}-clean-msg", elem_classes="mq-msg")
            with gr.Row():
                self.back = gr.Dropdown([], label="Faces set aside", info="Pick which to put back into the set.",
                                        elem_id=f"{p}-clean-back", scale=3)
                self.back_btn = gr.Button("Put them back", elem_id=f"{p}-clean-back-btn")
            gr.Markdown(f"**What the faces cover**  \n{COVERAGE}")
            self.show = gr.Button("Show what the faces cover", size="sm", elem_id=f"{p}-coverage-btn")
            self.sheet = gr.Image(label="What the faces cover", interactive=False, type="filepath",
                                  buttons=["fullscreen"], elem_id=f"{p}-coverage")
        self.seen = gr.State("")

    def folder(self, fs_name: str | None) -> Path:
        """The face set folder of the person's name, refused with what to do when there is none yet."""
        name = check_name(fs_name) if fs_name else None
        if not name or name not in self.ctx.ws.facesets():
            raise PathRefused(f"find the faces of person {self.side.upper()} first")
        return self.ctx.ws.resolve(name, "facesets")

    def folder_or_none(self, fs_name: str | None) -> Path | None:
        try:
            return self.folder(fs_name)
        except PathRefused:
            return None

    def busy(self) -> bool:
        queue = self.ctx.queue
        return active(latest(queue, "extract", person=self.side)) or active(latest(queue, "curate", person=self.side))

    def wire(self, timer: gr.Timer, name: gr.Dropdown, faces: list, show_faces: Callable[[str | None], tuple],
             dropped) -> None:
        """Connect the events. `faces` are the gallery's outputs that `show_faces(name)` fills; `dropped` is the
        event of the tab's *Drop chosen faces*, after which the put-back list gains "faces you dropped"."""
        ws, queue, side, who = self.ctx.ws, self.ctx.queue, self.side, f"person {self.side.upper()}"

        def shown_sheet(path: str | Path | None) -> Any:
            return str(ws.publish(ws.resolve(path) if isinstance(path, str) else path)) if path else None

        def on_photo(file: str | None):
            if not file:
                return gr.skip(), gr.skip(), gr.skip()
            if Path(file).suffix.lower() not in IMAGE_SUFFIXES:
                discard_upload(file, upload_dir())
                return gr.skip(), None, message("add a photo here, not a clip", ok=False)
            added, problems = ws.import_uploads([file], upload_dir())
            note = "  \n".join(message(p, ok=False) for p in problems)
            return gr.update(choices=photos(ws), value=added[0] if added else ""), None, note

        def on_check(fs_name: str | None, photo: str | None, *values: Any):
            folder = self.folder(fs_name)
            if photo:
                ws.resolve(photo, "uploads")
            if self.busy():
                raise PathRefused(f"the faces of {who} are being found or checked already; wait for that to finish")
            chosen = form.read(CurateConfig, list(self.fields), values)
            job = queue.submit("curate", {"faceset": folder.name, "person": side, "dry_run": True,
                                          "reference": photo or None, "settings": chosen}, "cpu",
                               title=f"Check the faces of {folder.name} ({who})")
            return job_html(job), gr.update(visible=False), ""

        def on_apply(fs_name: str | None):
            folder = self.folder(fs_name)
            checked = latest(queue, "curate", person=side)
            if checked is None or checked.status != DONE or not checked.params.get("dry_run") \
                    or checked.params.get("faceset") != folder.name:
                raise PathRefused(f"press *Check the faces* of {folder.name} first")
            if self.busy():
                raise PathRefused(f"the faces of {who} are being found or checked; wait for that to finish")
            job = queue.submit("curate", {**checked.params, "dry_run": False}, "cpu",
                               title=f"Set aside faces of {folder.name} ({who})")
            return job_html(job), gr.update(visible=False), ""

        def on_back(fs_name: str | None, reason: str | None):
            folder = self.folder(fs_name)
            if not reason:
                return (gr.skip(),) * (len(faces) + 2) + (message("pick which faces to put back first", ok=False),)
            if self.busy():
                raise PathRefused(f"the faces of {who} are being found or checked; wait for that to finish")
            from ..faceset.curate import coverage_sheet, restore

            n = restore(folder, None if reason == "all" else reason)
            left = put_back_choices(folder)
            return (*show_faces(folder.name), gr.update(choices=left, value=None),
                    shown_sheet(coverage_sheet(folder)), message(f"put back {n} face(s) into {folder.name}"))

        def on_show(fs_name: str | None):
            from ..faceset.curate import coverage_sheet

            folder = self.folder(fs_name)
            if self.busy():
                raise PathRefused(f"the faces of {who} are being found or checked; wait for that to finish")
            return shown_sheet(coverage_sheet(folder)), ""

        def on_name(fs_name: str | None):
            return gr.update(choices=put_back_choices(self.folder_or_none(fs_name)), value=None), None

        def tick(sig: str, current: str | None):
            job = latest(queue, "curate", person=side)
            new_sig = f"{job.id}:{job.status}:{job.progress.get('done')}" if job else ""
            n_out = 5 + len(faces)
            if new_sig == sig:
                return (gr.skip(),) * n_out + (sig,)
            ended = job is not None and not active(job) and not sig.startswith(f"{job.id}:{job.status}")
            if not ended:
                return (job_html(job),) + (gr.skip(),) * (n_out - 1) + (new_sig,)
            result, made = job.result or {}, job.params.get("faceset")
            if job.status != DONE:  # the status line says what went wrong
                return (job_html(job), "", gr.update(visible=False)) + (gr.skip(),) * (n_out - 3) + (new_sig,)
            mine = made == current
            can_apply = bool(result.get("dry_run") and result.get("set_aside")) and mine
            gallery = show_faces(made) if mine and not result.get("dry_run") else (gr.skip(),) * len(faces)
            back = gr.update(choices=put_back_choices(self.folder_or_none(made)), value=None) if mine else gr.skip()
            sheet = shown_sheet(result.get("sheet")) if mine else gr.skip()
            return (job_html(job), summary(result, made), gr.update(visible=can_apply), sheet, back, *gallery,
                    new_sig)

        self.upload.upload(guarded(on_photo, 3), [self.upload], [self.photo, self.upload, self.msg])
        self.check.click(guarded(on_check, 3), [name, self.photo, *self.fields.values()],
                         [self.status, self.apply, self.msg])
        self.apply.click(guarded(on_apply, 3), [name], [self.status, self.apply, self.msg])
        self.back_btn.click(guarded(on_back, len(faces) + 3), [name, self.back],
                            [*faces, self.back, self.sheet, self.msg])
        self.show.click(guarded(on_show, 2), [name], [self.sheet, self.msg])
        name.change(on_name, [name], [self.back, self.sheet])
        dropped.then(on_name, [name], [self.back, self.sheet])
        timer.tick(quiet(tick, 6 + len(faces)), [self.seen, name],
                   [self.status, self.msg, self.apply, self.sheet, self.back, *faces, self.seen],
                   show_progress="hidden")
