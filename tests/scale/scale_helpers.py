"""Test helpers for the Ray jobs: clips with short GOPs (so they split), and stub models run in workers.

Workers cannot import this file (it is not in a package), so the conftest registers it with Ray's
cloudpickle to ship its classes by value.
"""

from __future__ import annotations

import os
from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from masquerade.faces.align import TEMPLATE_NAME


def write_gop_clip(path: Path, frames: list[np.ndarray], fps: float, gop: int, audio: bool = True) -> Path:
    """An H.264 MP4 with a keyframe every `gop` frames (plus a sine-tone AAC track)."""
    import av

    from masquerade.samples import mux_tone

    h, w = frames[0].shape[:2]
    with av.open(str(path), "w", format="mp4") as out:
        video = out.add_stream("libx264", rate=Fraction(fps).limit_denominator(1000))
        video.width, video.height, video.pix_fmt = w, h, "yuv420p"
        video.options = {"crf": "18", "preset": "veryfast", "g": str(gop), "keyint_min": str(gop)}
        sound = out.add_stream("aac", rate=16000, layout="mono") if audio else None
        for f in frames:
            out.mux(video.encode(av.VideoFrame.from_ndarray(f, format="rgb24")))
        out.mux(video.encode(None))
        if sound is not None:
            mux_tone(out, sound, len(frames) / fps)
    return Path(path)


class PerfectModel:
    """Returns its input face and a full mask (see tests/convert/test_convert.py)."""

    def __init__(self, size: int = 128) -> None:
        self.config = SimpleNamespace(size=size, coverage="face", template=TEMPLATE_NAME, architecture="identity-stub")
        self.faceset_size = None  # crops cut at `size`
        self.hash = "5eed" * 16

    def swap(self, faces, direction):
        import torch

        return faces.clone(), torch.ones_like(faces[:, :1])


class FlakyModel(PerfectModel):
    """Fails the first time any worker uses it (a marker file remembers): by raising, or by killing the worker."""

    def __init__(self, marker: Path, kill: bool) -> None:
        super().__init__()
        self.marker, self.kill = str(marker), kill

    def swap(self, faces, direction):
        try:
            fd = os.open(self.marker, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
        except FileExistsError:
            return super().swap(faces, direction)
        os.close(fd)
        if self.kill:
            os._exit(1)
        raise RuntimeError("injected failure on the first attempt")


def make_model_dir(path: Path, seed: int = 0) -> Path:
    """A real `lite` model folder with random weights: exercises the weights-in-the-object-store path."""
    import torch

    from masquerade.models import build_model
    from masquerade.models.manifest import ModelManifest
    from masquerade.models.store import MODEL_JSON, WEIGHTS, atomic_write_json, save_weights

    torch.manual_seed(seed)
    net = build_model("lite", {})
    path.mkdir(parents=True, exist_ok=True)
    digest = save_weights(net, path / WEIGHTS)
    manifest = ModelManifest.for_net("lite", net.config, TEMPLATE_NAME, "face", weights_sha256=digest)
    atomic_write_json(path / MODEL_JSON, manifest.to_dict())
    return path


def decoded(path: Path) -> list[np.ndarray]:
    from masquerade.media import read_frames

    return [f.image for f in read_frames(path)]


def frame_diffs(a: list[np.ndarray], b: list[np.ndarray]) -> list[tuple[int, float]]:
    """Per frame: (max absolute difference, PSNR in dB; inf when identical)."""
    out = []
    for x, y in zip(a, b):
        d = np.abs(x.astype(np.int16) - y.astype(np.int16))
        mse = float(np.mean(d.astype(np.float64) ** 2))
        out.append((int(d.max()), float("inf") if mse == 0 else 10 * np.log10(255 ** 2 / mse)))
    return out


def audio_packets(path: Path) -> list[bytes]:
    import av

    with av.open(str(path)) as c:
        return [bytes(p) for p in c.demux(c.streams.audio[0]) if p.size]
