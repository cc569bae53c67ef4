"""A face set's coverage at a glance: a contact sheet sorted by head yaw × pitch and by expression, with counts.

Why: a model only learns the angles and expressions its face set shows; a set with no faces turned to one
side or no open mouths swaps those frames badly, and nothing else tells the user before training. The sheet
(`coverage.png`) puts faces into a grid of yaw bins (columns) by pitch bins (rows) and a row of expression
bins, each cell with a few thumbnails and its count; an empty bin is a red 0, so the gaps stand out.
`coverage.json` holds the same counts. Readings come from the stored landmarks (no image is analysed):

- yaw: `faces.landmark_measures.yaw_proxy` (degrees-like; + is the face turned toward the image's left,
  as `evaluate.metrics.head_pose` reads it; checked on the real clips);
- pitch: the nose tip's drop below the eye line over face size (`faces.expression_reference`), against a typical
  frontal face's (`USUAL`): about -0.06 is a head tilted up, +0.06 down;
- expressions: mouth open (lip gap over 0.1 face), smile (mouth 15% wider than a typical face's at rest),
  eyes closed or cast down (lids under 0.3 of the set's own open level, `faces.landmark_measures.closed_frames`;
  on landmarks a downward glance reads as lids mostly shut, and so it looks to the model).
A face is in one yaw × pitch cell and in any number of expression bins; "neutral" is none of them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .. import atomic
from .core import FaceSet

SHEET, COUNTS = "coverage.png", "coverage.json"
YAW_EDGES = (-30.0, -12.0, 12.0, 30.0)
YAW_LABELS = ("yaw < -30", "-30..-12", "frontal", "12..30", "yaw > 30")
PITCH_EDGES = (-0.05, 0.05)  # nose drop minus a typical face's, over face size
PITCH_LABELS = ("up", "level", "down")
EXPRESSIONS = ("neutral", "mouth open", "smile", "eyes closed/down")
MOUTH_OPEN, SMILE_WIDTH = 0.1, 1.15
EYES_CLOSED = 0.3  # of the set's open level: stricter than a blink's 0.45, which took frowns and downcast eyes
THUMB, PER_CELL = 48, 3  # a cell shows PER_CELL × PER_CELL thumbnails of THUMB px
LABEL_H, PAD = 22, 6


def readings(fs: FaceSet, indices: list[int]) -> dict[str, np.ndarray]:
    """yaw, pitch (offset) and expression flags of the chosen faces, from their crop landmarks."""
    from ..faces.landmark_measures import closed_frames
    from ..faces.expression_reference import MEASURES, USUAL, measures

    if not indices:
        return {"yaw": np.zeros(0), "pitch": np.zeros(0), **{e: np.zeros(0, bool) for e in EXPRESSIONS}}
    m = measures(np.stack([fs.crop_landmarks(i) for i in indices]))
    col = {name: m[:, j].astype(np.float64) for j, name in enumerate(MEASURES)}
    mouth = np.nan_to_num(col["mouth"]) > MOUTH_OPEN
    smile = np.nan_to_num(col["smile"]) > SMILE_WIDTH * USUAL[1]
    closed = closed_frames(col["eyes"], EYES_CLOSED)
    return {"yaw": col["yaw"], "pitch": col["pitch"] - USUAL[2], "mouth open": mouth, "smile": smile,
            "eyes closed/down": closed, "neutral": ~(mouth | smile | closed)}


def bins(read: dict[str, np.ndarray]) -> dict[str, list[int]]:
    """Positions (into the readings) of the faces in each bin: "pitch|yaw" cells and expression names."""
    yaw = np.digitize(np.nan_to_num(read["yaw"]), YAW_EDGES)
    pitch = np.digitize(np.nan_to_num(read["pitch"]), PITCH_EDGES)
    out = {f"{p}|{y}": [] for p in PITCH_LABELS for y in YAW_LABELS}
    for k, (p, y) in enumerate(zip(pitch, yaw)):
        out[f"{PITCH_LABELS[p]}|{YAW_LABELS[y]}"].append(k)
    for e in EXPRESSIONS:
        out[e] = [int(k) for k in np.flatnonzero(read[e])]
    return out


def coverage(fs: FaceSet, indices: list[int], found: dict[str, list[int]] | None = None) -> dict:
    """The counts `coverage.json` holds: per pitch, then yaw bin; per expression; and the empty bins' names."""
    found = bins(readings(fs, indices)) if found is None else found
    grid = {p: {y: len(found[f"{p}|{y}"]) for y in YAW_LABELS} for p in PITCH_LABELS}
    return {"faces": len(indices), "pitch_yaw": grid, "expressions": {e: len(found[e]) for e in EXPRESSIONS},
            "empty": [name.replace("|", ", ") for name, members in found.items() if not members]}


def _cell(fs: FaceSet, indices: list[int], members: list[int], title: str) -> np.ndarray:
    """One bin: its name and count above up to PER_CELL² thumbnails picked evenly through the bin."""
    import cv2

    side = THUMB * PER_CELL
    cell = np.full((LABEL_H + side, side, 3), 40, np.uint8)
    if members:
        picks = [members[int(k)] for k in np.linspace(0, len(members) - 1, min(len(members), PER_CELL ** 2))]
        for n, k in enumerate(picks):
            thumb = cv2.resize(fs.crop(indices[k]), (THUMB, THUMB), interpolation=cv2.INTER_AREA)
            y, x = LABEL_H + (n // PER_CELL) * THUMB, (n % PER_CELL) * THUMB
            cell[y:y + THUMB, x:x + THUMB] = thumb
    colour = (235, 235, 235) if members else (255, 80, 80)
    cv2.putText(cell, f"{title}: {len(members)}", (3, LABEL_H - 7), cv2.FONT_HERSHEY_SIMPLEX, 0.4, colour, 1,
                cv2.LINE_AA)
    return cell


def sheet_image(fs: FaceSet, indices: list[int], found: dict[str, list[int]] | None = None) -> np.ndarray:
    """The contact sheet as RGB: pitch rows × yaw columns, then a row of expression bins."""
    import cv2

    found = bins(readings(fs, indices)) if found is None else found
    rows = []
    for p in PITCH_LABELS:
        rows.append([_cell(fs, indices, found[f"{p}|{y}"], f"{p} {y}") for y in YAW_LABELS])
    rows.append([_cell(fs, indices, found[e], e) for e in EXPRESSIONS])
    cw, ch = rows[0][0].shape[1], rows[0][0].shape[0]
    width = len(YAW_LABELS) * (cw + PAD) + PAD
    head = 28
    canvas = np.full((head + len(rows) * (ch + PAD) + PAD + 14, width, 3), 20, np.uint8)
    cv2.putText(canvas, f"{fs.root.name}: {len(indices)} faces by pitch (rows) x yaw (columns; + turned to the "
                        "image's left), then expression", (PAD, 19), cv2.FONT_HERSHEY_SIMPLEX, 0.45,
                (255, 255, 255), 1, cv2.LINE_AA)
    for r, row in enumerate(rows):
        y = head + r * (ch + PAD) + (14 if r == len(rows) - 1 else 0)
        for c, cell in enumerate(row):
            x = PAD + c * (cw + PAD)
            canvas[y:y + ch, x:x + cw] = cell
    return canvas


def write_sheet(fs: FaceSet, indices: list[int] | None = None) -> Path:
    """Write `coverage.png` and `coverage.json` of the chosen faces (all by default) into the face set; returns
    the PNG's path. Both are derived files, replaced atomically on every run."""
    from .core import encode_png

    indices = list(range(len(fs))) if indices is None else list(indices)
    found = bins(readings(fs, indices))
    atomic.write_bytes(fs.root / SHEET, encode_png(sheet_image(fs, indices, found)))
    atomic.write_json(fs.root / COUNTS, coverage(fs, indices, found))
    return fs.root / SHEET
