"""The occlude step: --mask combinations, occluders kept in front of the swap, colour matching ignoring them,
and a visible-face map that holds still over time."""

from __future__ import annotations

import numpy as np
import pytest

from masquerade.convert import ConvertConfig, convert
from masquerade.convert import occlusion as occ
from masquerade.convert import steps as steps_mod
from masquerade.convert.occlusion import VisibleSmoother, parse_mask
from masquerade.errors import MasqueradeError
from masquerade.faces.align import warp_to_frame
from masquerade.media import read_frames, write_image
from masquerade.samples import make_clip
from stubs import PerfectModel


class GreyModel(PerfectModel):
    """Swaps every face for flat grey, so what convert kept of the original is easy to see."""

    def swap(self, faces, direction):
        import torch

        return torch.full_like(faces, 0.5), torch.ones_like(faces[:, :1])


class SquareOccluder:
    """A stand-in mask net: the crop's lower middle (around the mouth) is covered, the rest is visible."""

    manifest = {"held_out": {}}

    @staticmethod
    def region(size: int) -> np.ndarray:
        m = np.ones((size, size), np.float32)
        m[int(size * 0.6):int(size * 0.9), int(size * 0.3):int(size * 0.7)] = 0
        return m

    def visible(self, crops, hulls):
        return np.stack([self.region(c.shape[0]) for c in crops])


def test_mask_choices_parse_in_one_order_and_refuse_unknown_names():
    assert parse_mask("hands+hull") == ("hull", "hands")
    assert parse_mask("auto") == ("hull", "model", "hands", "learned")
    for bad in ("", "hull+feet", "+"):
        with pytest.raises(MasqueradeError, match="--mask"):
            parse_mask(bad)
    with pytest.raises(MasqueradeError, match="--mask"):
        ConvertConfig(mask="hull+nose").validate()


def test_hull_and_model_alone_add_no_step():
    names = [s.name for s in steps_mod.build_steps(steps_mod.StepContext(PerfectModel(), ConvertConfig(mask="hull+model"), False, 128))]
    assert "occlude" not in names and names.index("colour") == names.index("model") + 1


def test_asking_for_a_learned_mask_the_model_lacks_is_one_line():
    ctx = steps_mod.StepContext(PerfectModel(), ConvertConfig(mask="hull+learned"), False, 128)
    with pytest.raises(MasqueradeError, match="train-mask"):
        occ.make_occlude(ctx)


def test_an_occluder_survives_convert_and_colour_matching_ignores_it(tmp_path, monkeypatch):
    frame = make_clip("astronaut", frames=1, seed=5).frames[0]
    write_image(tmp_path / "in.png", frame)
    seen = {}
    real_paste, real_match = steps_mod.paste, steps_mod.color.color["rct"]

    def spy_paste(image, face, *args):
        seen["face"] = face
        return real_paste(image, face, *args)

    def spy_match(face, target, mask):
        seen["colour_mask"] = mask.copy()
        return real_match(face, target, mask)

    monkeypatch.setattr(steps_mod, "paste", spy_paste)
    monkeypatch.setitem(steps_mod.color.color, "rct", spy_match)
    ctx_occ = SquareOccluder()
    monkeypatch.setattr(occ, "load_learned_beside", lambda model, device="cpu": ctx_occ)
    convert(tmp_path / "in.png", GreyModel(size=64), tmp_path / "out.png",
            ConvertConfig(mask="hull+model+learned", color="rct", erode=0.0, blur=0.0))
    out = next(iter(read_frames(tmp_path / "out.png"))).image.astype(int)
    face = seen["face"]
    size = face.face.shape[0]
    covered = SquareOccluder.region(size) == 0
    assert (seen["colour_mask"][covered] == 0).all()  # colour matching never saw the occluded pixels
    assert seen["colour_mask"][~covered].max() > 0.9
    h, w = frame.shape[:2]
    import cv2

    back = warp_to_frame(covered.astype(np.float32), face.matrix_for(size), w, h)
    inside = cv2.erode((back > 0.99).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    hull = warp_to_frame(face.hull, face.matrix_for(face.hull.shape[0]), w, h)
    swapped = cv2.erode(((hull > 0.99) & (back < 0.01)).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    assert inside.sum() > 200 and swapped.sum() > 1000
    diff = np.abs(out - frame.astype(int)).mean(axis=2)
    assert diff[inside].mean() < 2.0  # the occluder is the original's pixels (the watermark aside)
    assert diff[swapped].mean() > 15.0  # the rest of the face was swapped for grey


def test_the_visible_map_is_pulled_back_from_occluders_by_a_third_of_the_feather():
    from types import SimpleNamespace

    step = occ.OccludeFaces(SimpleNamespace(video=False, config=SimpleNamespace(blur=6.0)), ("hull",))
    hull = np.zeros((128, 128), np.float32)
    hull[14:114, 14:114] = 1  # a face 100 px wide: the feather is 6 px, the pull-back 2
    assert np.array_equal(step.clear_of_feather(hull.copy(), hull), hull)  # a clean face is left as it is
    visible = hull.copy()
    visible[40:80, 40:50] = 0  # two fingers with a 6 px gap between them
    visible[40:80, 56:66] = 0
    out = step.clear_of_feather(visible, hull)
    assert (out[40:80, 38:40] == 0).all() and (out[40:80, 37] == 1).all()  # 2 px beside a finger, no more
    assert (out[60, 52:54] == 1).all() and (out[60, 50:52] == 0).all()  # the gap's middle stays face
    assert (out <= visible).all()  # it only ever takes face away


def test_a_static_occluder_gives_a_steady_mask_and_a_new_one_shows_at_once():
    smoother = VisibleSmoother()
    raw = SquareOccluder.region(64)
    outs = []
    for i in range(30):
        noisy = raw.copy()
        if i % 2:  # the occluder's edge flickers one pixel row out and back in, every frame
            noisy[int(64 * 0.6) - 1, int(64 * 0.3):int(64 * 0.7)] = 0
        outs.append(smoother(noisy, i / 30))
    late = np.stack(outs[10:])
    assert np.abs(np.diff(late[:, 37], axis=0)).max() < 0.3  # the flickering row moves far less than 0..1
    steady = VisibleSmoother()
    same = [steady(raw, i / 30) for i in range(10)]
    assert all(np.array_equal(same[0], s) for s in same)  # nothing moves: the mask does not move either
    hand = raw.copy()
    hand[:20, :20] = 0
    now = steady(hand, 10 / 30)
    assert now[:20, :20].max() <= 0.31  # a hand that arrives is mostly in front from its first frame
    assert steady(hand, 11 / 30)[:20, :20].max() < 0.1  # and wholly by the next


def test_video_faces_get_their_visible_maps_smoothed_per_track(monkeypatch):
    from masquerade.convert import make_steps, run_frames
    from masquerade.convert.steps import close_steps
    from masquerade.records import Frame

    monkeypatch.setattr(occ, "load_learned_beside", lambda model, device="cpu": SquareOccluder())
    clip = make_clip("grace_hopper", frames=4, seed=2)
    steps = make_steps(PerfectModel(size=64), ConvertConfig(mask="hull+learned"), video=True)
    maps = []
    try:
        run_frames([Frame(i, i / 25, f, "clip") for i, f in enumerate(clip.frames)], steps,
                   lambda item: maps.extend(f.visible for f in item.faces), batch_size=2)
    finally:
        close_steps(steps)
    assert len(maps) == 4
    assert all(np.allclose(m, SquareOccluder.region(64)) for m in maps)


def _faces_of_one_still(mask: str) -> list:
    """The faces of one still of a generated portrait, after the convert steps with `--mask mask`."""
    from masquerade.convert import make_steps, run_frames
    from masquerade.convert.steps import close_steps
    from masquerade.records import Frame

    frame = make_clip("astronaut", frames=1, seed=5).frames[0]
    steps = make_steps(PerfectModel(size=64), ConvertConfig(mask=mask), video=False)
    faces = []
    try:
        run_frames([Frame(0, 0.0, frame, "still")], steps, lambda item: faces.extend(item.faces))
    finally:
        close_steps(steps)
    return faces


def test_a_learned_mask_that_would_eat_the_face_is_ignored_for_that_face(monkeypatch):
    class EatsFaces(SquareOccluder):
        def visible(self, crops, hulls):
            return np.zeros((len(crops),) + crops[0].shape[:2], np.float32)

    monkeypatch.setattr(occ, "load_learned_beside", lambda model, device="cpu": EatsFaces())
    faces = _faces_of_one_still("hull+learned")
    assert faces and np.array_equal(faces[0].mask, faces[0].hull)  # the hull alone, not an empty mask


def test_an_unsure_learned_mask_is_firmed_into_face_and_occluder(monkeypatch):
    class Unsure(SquareOccluder):
        """A net unsure of everything: 0.8 face where the face is, 0.3 face over the occluder."""

        def visible(self, crops, hulls):
            return np.stack([np.where(self.region(c.shape[0]) > 0.5, 0.8, 0.3).astype(np.float32) for c in crops])

    monkeypatch.setattr(occ, "load_learned_beside", lambda model, device="cpu": Unsure())
    faces = _faces_of_one_still("hull+learned")
    covered = SquareOccluder.region(64) < 0.5
    assert faces and (faces[0].visible[covered] == 0).all()  # the occluder is wholly kept, not 70% swapped
    assert (faces[0].visible[~covered] == 1).all()  # and the face wholly swapped, not 80%
    assert np.array_equal(occ.firm(np.array([0.0, 0.5, 1.0])), np.array([0.0, 0.5, 1.0], np.float32))
