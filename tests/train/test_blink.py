"""Synthetic blinks: a face-set crop whose lids are slid down reads as closed to the face mesh, only the eyes'
band moves, the landmarks move with their pixels and give the measures, and a run without it draws exactly the
numbers it always did."""

import numpy as np
import pytest
import torch

from masquerade.faces import create_detector
from masquerade.faces.landmark_measures import eye_opening
from masquerade.train.augment import AugmentDraw, AugmentSettings, apply, draw
from masquerade.faces.eyelids import blink_grid, blink_landmarks, lid_box

SIZE = 128


def _blinked(face: torch.Tensor, landmarks: torch.Tensor, closure: float):
    one = torch.ones(1)
    d = AugmentDraw(torch.zeros(1), one, torch.zeros(1, 2), one, torch.zeros(1), one, one, None,
                    blink=torch.tensor([closure]))
    return apply(face, d, landmarks)


@pytest.fixture(scope="module")
def crop(faceset_a):
    from masquerade.faceset import FaceSet

    t = FaceSet.open(faceset_a).load_tensors(size=SIZE)
    px = torch.cat([t.faces[:1], t.masks[:1], torch.zeros(1, 1, SIZE, SIZE, dtype=torch.uint8)], 1)
    return px, t.landmarks[:1].float()


def _mesh_eye_opening(detector, batch) -> float:
    import cv2

    image = (batch.targets[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)
    image = cv2.copyMakeBorder(cv2.resize(image, (256, 256)), 96, 96, 96, 96, cv2.BORDER_REPLICATE)
    return eye_opening(detector.detect(image)[0].landmarks)


def test_shut_eyes_read_as_closed_to_the_face_mesh_and_half_shut_as_between(crop):
    """The mesh, run on the augmented pixels, sees what the moved landmarks say: open as filmed at 0, below
    the blink threshold (45% of the open level) at 1, in between at 0.5."""
    px, lms = crop
    detector = create_detector(video=False)
    read = {c: _mesh_eye_opening(detector, _blinked(px, lms, c)) for c in (0.0, 0.5, 1.0)}
    detector.close()
    said = {c: eye_opening(_blinked(px, lms, c).landmarks[0].numpy()) for c in (0.0, 0.5, 1.0)}
    assert read[1.0] < 0.45 * read[0.0] and said[1.0] < 0.45 * said[0.0], (read, said)
    assert read[1.0] < read[0.5] < read[0.0] and said[1.0] < said[0.5] < said[0.0], (read, said)
    assert abs(read[0.5] - said[0.5]) < 0.25 * said[0.0], (read, said)


def test_only_the_band_above_each_eye_moves(crop):
    px, lms = crop
    plain, shut = _blinked(px, lms, 0.0), _blinked(px, lms, 1.0)
    assert torch.equal(plain.landmarks, lms) and torch.allclose(plain.targets, px[:, :3].float() / 255, atol=1e-6)
    changed = (shut.targets - plain.targets).abs().amax(1)[0] > 1e-6
    ys, xs = torch.nonzero(changed, as_tuple=True)
    eyes = lms[0, [33, 133, 263, 362, 159, 145, 386, 374]]
    eye_width = float((lms[0, 33] - lms[0, 133]).norm())
    assert len(ys) > 20  # the lids moved
    assert float(ys.max()) <= float(eyes[:, 1].max()) + 1  # nothing below the lower lids
    assert float(ys.min()) >= float(eyes[:, 1].min()) - 0.6 * eye_width  # nor above the lids' skin
    assert float(xs.min()) >= float(eyes[:, 0].min()) - 1 and float(xs.max()) <= float(eyes[:, 0].max()) + 1
    moved = (shut.landmarks - lms)[0].norm(dim=1) > 1e-4
    assert moved[[159, 386]].all() and not moved[[145, 374, 33, 263, 1, 13, 14]].any()  # upper lids, not lower ones


def test_the_landmarks_move_with_their_pixels(crop):
    """The grid of the blinked face, read at a moved point, samples the open-eyed face where the point was."""
    px, lms = crop
    closure = torch.tensor([0.8])
    moved = blink_landmarks(lms, closure)
    upper = [159, 158, 160, 386, 385, 387]
    pts = moved[:, upper]
    grid = ((pts + 0.5) * (2 / SIZE) - 1).view(1, 1, -1, 2)
    back = (blink_grid(grid, lms, closure, SIZE).view(-1, 2) + 1) * (SIZE / 2) - 0.5
    assert torch.allclose(back, lms[0, upper], atol=1e-3), (back, lms[0, upper])
    assert float((moved - lms)[0, upper, 1].min()) > 1.0  # and they did move down (pixels at 128 px)


def test_without_blinks_the_draws_are_the_old_ones_and_with_them_a_share_of_faces_closes():
    g1, g2 = torch.Generator().manual_seed(3), torch.Generator().manual_seed(3)
    old, new = draw(g1, 400, AugmentSettings(turn=6.0)), draw(g2, 400, AugmentSettings(turn=6.0, blink=0.25))
    assert old.blink is None and new.blink.shape == (400,)
    for name in ("angle", "scale", "shift", "flip", "bright", "contrast", "sat", "offsets", "turn"):
        assert torch.equal(getattr(old, name), getattr(new, name))
    closed = new.blink > 0
    assert 0.17 < float(closed.float().mean()) < 0.33
    assert float(new.blink[closed].min()) >= 0.25 and float(new.blink.max()) <= 1.0


def test_training_batches_carry_the_measures_of_the_blinking_faces(faceset_a, sample_pair):
    """The trainer's sampler: the eye measure is read off the closed lids, so the decoder is told the eyes it
    must draw; the faces left open, and every other measure, are as without blinks."""
    from masquerade.faces.expression_reference import MEASURES
    from masquerade.faceset import FaceSet
    from masquerade.train.data import load_bank

    fs = FaceSet.open(faceset_a)
    assert load_bank(fs, 64, torch.device("cpu")).landmarks is None  # only when asked
    bank = load_bank(fs, 64, torch.device("cpu"), blink=True)
    assert bank.landmarks.shape == (len(bank), 478, 2) and bank.depth is None  # no depth maps without the turn
    still, blinking = sample_pair(bank, 16, blink=0.5)
    eyes = MEASURES.index("eyes")
    before, after = still.measures[:, eyes], blinking.measures[:, eyes]
    shut = (after - before).abs() > 1e-3  # the faces whose eyes were closed (0.25-1 of the way)
    assert 2 <= int(shut.sum()) <= 14
    assert (after[shut] < 0.9 * before[shut]).all() and (after[shut] < 0.5 * before[shut]).any()
    others = [i for i in range(len(MEASURES)) if i != eyes]
    torch.testing.assert_close(blinking.measures[:, others], still.measures[:, others], atol=0.02, rtol=0)
    assert float((blinking.targets - still.targets)[shut].abs().mean()) > 1e-3  # their pixels moved too
    assert torch.equal(blinking.targets[~shut], still.targets[~shut])  # the others' did not


def test_the_lids_edge_keeps_its_width_and_the_corners_join_the_still_face(crop, monkeypatch):
    """A shut eye is drawn from the skin above it, not from the dark crease and lashes smeared down: just above
    the lid's new place a pixel samples about 0.8 of a pixel of the open face (an even stretch: under 0.6), and
    the curve fades with the lid's move towards the corners, so no step shows between columns."""
    from masquerade.faces import eyelids

    px, lms = crop
    line = (torch.arange(SIZE, dtype=torch.float32) + 0.5) * (2 / SIZE) - 1
    gy, gx = torch.meshgrid(line, line, indexing="ij")
    grid = torch.stack([gx, gy], -1)[None]

    def sampled_rows() -> torch.Tensor:
        return (blink_grid(grid, lms, torch.tensor([1.0]), SIZE)[0, ..., 1] + 1) * (SIZE / 2) - 0.5

    curved = sampled_rows()
    monkeypatch.setattr(eyelids, "_EVEN", 1.0)
    even = sampled_rows()
    new_lid = blink_landmarks(lms, torch.tensor([1.0]))[0]
    x, y = int(round(float(new_lid[159, 0]))), int(float(new_lid[159, 1]))
    span, even_span = (float(rows[y, x] - rows[y - 3, x]) / 3 for rows in (curved, even))
    assert 0.75 < span < 1.3 and even_span < 0.65, (span, even_span)
    # no step at the warp's sides: in the outermost columns the lid moves (the even warp's), the curve is faded out
    # (without the fade the curve alone moved them 1.5 px: a visible step)
    moving = (even - torch.arange(SIZE, dtype=torch.float32)[:, None]).abs().amax(0) > 1e-3
    sides = moving & ~(moving.roll(1) & moving.roll(-1))  # moving columns beside a still one
    assert int(sides.sum()) >= 4  # two sides of two eyes
    for col in torch.nonzero(sides).flatten().tolist():
        assert float((curved[:, col] - even[:, col]).abs().max()) < 0.6, col


def test_a_wink_moves_one_eye(crop):
    """Two closures a face (right eye, left eye): only the right eye's lid moves."""
    px, lms = crop
    moved = blink_landmarks(lms, torch.tensor([[1.0, 0.0]]))
    shift = (moved - lms)[0].norm(dim=1)
    assert shift[159] > 1.0 and shift[386] < 1e-6
    assert torch.equal(blink_landmarks(lms, torch.tensor([0.7])), blink_landmarks(lms, torch.tensor([[0.7, 0.7]])))


def test_every_point_a_blink_moves_lies_in_the_lids_box(crop):
    """`lid_box` bounds what any closure moves, so convert can warp that rectangle alone."""
    px, lms = crop
    x0, y0, x1, y1 = lid_box(lms[0])
    line = (torch.arange(SIZE, dtype=torch.float32) + 0.5) * (2 / SIZE) - 1
    gy, gx = torch.meshgrid(line, line, indexing="ij")
    grid = torch.stack([gx, gy], -1)[None]
    for closure in ([1.0, 1.0], [0.4, 0.9]):
        moved = (blink_grid(grid, lms, torch.tensor([closure]), SIZE) != grid).any(-1)[0]
        ys, xs = torch.nonzero(moved, as_tuple=True)
        assert len(ys) > 20
        # the landmarks' crop pixels put pixel (i, j)'s centre at (j, i)
        assert x0 <= float(xs.min()) and float(xs.max()) <= x1, (closure, x0, x1)
        assert y0 <= float(ys.min()) and float(ys.max()) <= y1, (closure, y0, y1)
