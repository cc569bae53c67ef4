"""Convert feeds the model exactly the crop training fed it: warp at the face set's size, then `resize_crop`."""

from __future__ import annotations

import numpy as np

from masquerade.convert import ConvertConfig, convert
from masquerade.extract import ExtractConfig, extract
from masquerade.faces.align import warp_to_crop
from masquerade.faceset import FaceSet
from masquerade.media import write_image
from masquerade.samples import make_clip
from stubs import PerfectModel


class RecordingModel(PerfectModel):
    """A 64 px identity 'model' trained (so its folder says) on 128 px face sets; keeps what it was fed."""

    def __init__(self, faceset_size):
        super().__init__(size=64)
        self.faceset_size = faceset_size
        self.inputs = []

    def swap(self, faces, direction):
        self.inputs.append((faces * 255).round().byte().permute(0, 2, 3, 1).numpy())
        return super().swap(faces, direction)


def test_convert_crop_matches_the_training_crop_within_one_grey_level(tmp_path):
    frame = make_clip("astronaut", frames=4, seed=3).frames[2]  # one frame of a generated clip
    still = write_image(tmp_path / "frame.png", frame)
    faces = FaceSet.open(extract([still], tmp_path / "faces", ExtractConfig(size=128)).output)
    training = faces.load_tensors(64).faces[0].permute(1, 2, 0).numpy()  # through the face set cache

    model = RecordingModel({"a": 128, "b": 256})
    convert(still, model, tmp_path / "out.png", ConvertConfig(color="none"))
    (fed,) = model.inputs[0]
    diff = np.abs(fed.astype(int) - training.astype(int))
    assert diff.max() <= 1, f"convert fed the model a crop up to {diff.max()} levels off the training crop"

    # Control: sampling the 64 px crop straight from the frame (what convert used to do) is visibly
    # different, so this test sees a mismatch of that kind.
    matrix = np.asarray(faces.records[0]["matrix"]) * (64 / 128)
    direct = warp_to_crop(frame, matrix, 64)
    assert np.abs(direct.astype(int) - training.astype(int)).max() > 8


def test_a_model_size_face_goes_back_exactly_where_it_was_cut():
    """A 64 px face made from a 256 px cut is pasted where its pixels came from: a resize maps pixel
    centres, so the 64 px crop's matrix is scaled *and* shifted (scaled alone, it lands 1.5 px off)."""
    from masquerade.convert.pipeline import FaceWork
    from masquerade.convert.steps import paste
    from masquerade.faces.align import resize_crop

    ys, xs = np.mgrid[:300, :300].astype(np.float64)
    blob = 255 * np.exp(-((xs - 131.3) ** 2 + (ys - 152.6) ** 2) / (2 * 9.0 ** 2))
    frame = np.repeat(blob[..., None], 3, 2).round().astype(np.uint8)
    matrix = np.array([[0.9, 0.1, -10.0], [-0.1, 0.9, 5.0]])  # frame -> 256 px crop: a turn, a scale and a shift
    face = FaceWork(0, None, {}, landmarks=np.array([[100.0, 100.0], [200.0, 200.0]]), matrix=matrix, base=256)
    for size in (64, 128, 256):
        face.face = resize_crop(warp_to_crop(frame, matrix, 256), size)
        face.mask = np.ones((size, size), np.float32)
        out = paste(np.zeros_like(frame), face, lambda under, over, mask: over, erode=0.0, blur=0.0)[..., 0].astype(float)
        centre = np.array([(out * xs).sum(), (out * ys).sum()]) / out.sum()
        assert np.abs(centre - (131.3, 152.6)).max() < 0.2, (size, centre)
