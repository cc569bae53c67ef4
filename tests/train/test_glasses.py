"""Synthetic glasses on training inputs: drawn around the eyes of the chosen faces' inputs only, the targets
as filmed, the other faces untouched, and a run without them draws exactly the numbers it always did."""

import torch

from masquerade.train.augment import AugmentDraw, AugmentSettings, apply, draw
from masquerade.train.glasses import FIELDS

SIZE = 128


def _faces(faceset_a, n=4):
    from masquerade.faceset import FaceSet

    t = FaceSet.open(faceset_a).load_tensors(size=SIZE)
    idx = torch.arange(n) % len(t.faces)
    px = torch.cat([t.faces[idx], t.masks[idx], torch.zeros(n, 1, SIZE, SIZE, dtype=torch.uint8)], 1)
    return px, t.landmarks[idx].float()


def _plain(d: AugmentDraw) -> AugmentDraw:
    return AugmentDraw(*(v for k, v in vars(d).items() if k != "glasses"))


def test_without_glasses_the_draws_are_unchanged():
    a = draw(torch.Generator().manual_seed(5), 6, AugmentSettings())
    b = draw(torch.Generator().manual_seed(5), 6, AugmentSettings(glasses=0.5))
    assert a.glasses is None and b.glasses is not None and b.glasses.shape == (6, FIELDS)
    for key, value in vars(a).items():
        if value is not None:
            assert torch.equal(value, getattr(b, key)), key


def test_glasses_go_on_the_inputs_around_the_eyes_and_nowhere_else(faceset_a):
    px, lms = _faces(faceset_a)
    d = draw(torch.Generator().manual_seed(1), len(px), AugmentSettings(glasses=1.0, warp=False))
    d.glasses[1, 0] = 0  # this face is not chosen
    worn, bare = apply(px, d, lms), apply(px, _plain(d), lms)
    assert torch.equal(worn.targets, bare.targets)  # the decoder is still asked for the face as filmed
    changed = (worn.inputs - bare.inputs).abs().amax(1) > 1e-4  # N×S×S
    assert not changed[1].any()
    for i in (0, 2, 3):
        ys, xs = torch.nonzero(changed[i], as_tuple=True)
        assert len(ys) > 100, i  # a frame was drawn
        eyes = lms[i, [33, 133, 263, 362]]
        eye_w = float((lms[i, 33] - lms[i, 133]).norm())
        # rims, bridge and glare within about a lens of the eyes' line; the arms run sideways, not down the face
        assert ys.float().min() >= eyes[:, 1].min() - 1.6 * eye_w and ys.float().max() <= eyes[:, 1].max() + 1.6 * eye_w, i
        assert lms[i, 13, 1] > ys.float().max()  # the mouth is left alone


def test_glasses_need_the_landmarks(faceset_a):
    """A bank without landmarks (the setting off) gives inputs as before even if a draw carries glasses."""
    px, lms = _faces(faceset_a)
    d = draw(torch.Generator().manual_seed(1), len(px), AugmentSettings(glasses=1.0, warp=False))
    assert torch.equal(apply(px, d).inputs, apply(px, _plain(d)).inputs)
