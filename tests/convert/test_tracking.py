import numpy as np
import pytest

from masquerade.convert.tracking import FaceTracker, ReferenceMatcher, select
from masquerade.records import Detection


def det(cx: float, cy: float, size: float, score: float = 0.9) -> Detection:
    h = size / 2
    return Detection((cx - h, cy - h, cx + h, cy + h), score, np.zeros((478, 2), np.float32))


def _ids_by_x(tracked, xs):
    """Map each expected face (by its true centre x) to the id the tracker gave the detection there."""
    out = {}
    for tid, d in tracked:
        cx = (d.box[0] + d.box[2]) / 2
        out[min(xs, key=lambda x: abs(x - cx))] = tid
    return out


def test_ids_survive_shuffled_order_and_a_missed_stretch_of_fast_motion():
    rng = np.random.default_rng(0)
    tracker = FaceTracker(max_age=5)
    ids_a, ids_b = set(), set()
    for f in range(30):
        a = det(100 + 20 * f, 200, 80)  # 20 px per frame: after a 2-frame miss it is 60 px (0.75 faces) away
        b = det(900 - 8 * f, 220, 120)
        dets = [a] if f in (10, 11) else [a, b]
        dets = [b] if f in (20, 21) else dets
        rng.shuffle(dets)
        tracked = tracker.update(dets)
        assert [t for t, _ in tracked] == sorted(t for t, _ in tracked)
        for tid, d in tracked:
            (ids_a if d is a else ids_b).add(tid)
        assert len(tracked) == len(dets)
    assert len(ids_a) == 1 and len(ids_b) == 1 and ids_a != ids_b


def test_a_face_gone_longer_than_max_age_comes_back_as_a_new_track():
    tracker = FaceTracker(max_age=3)
    first = tracker.update([det(100, 100, 80)])[0][0]
    for _ in range(4):
        tracker.update([])
    assert not tracker.tracks
    again = tracker.update([det(100, 100, 80)])[0][0]
    assert again != first


def test_largest_picks_the_consistently_bigger_face_and_does_not_flip():
    rng = np.random.default_rng(1)
    tracker = FaceTracker()
    per_frame_flips, chosen, prev_bigger = 0, [], None
    for f in range(60):
        sa, sb = 100 + rng.normal(0, 8), 94 + rng.normal(0, 8)  # A is bigger on average, not in every frame
        a, b = det(150, 200, sa), det(450, 200, sb)
        bigger = "a" if sa > sb else "b"
        per_frame_flips += prev_bigger is not None and bigger != prev_bigger
        prev_bigger = bigger
        dets = [b] if f == 40 else [b, a]
        tracked = tracker.update(dets)
        sel = select(tracker, tracked, "largest")
        if f == 40:
            assert sel == []  # only B is visible: swap nobody rather than the wrong person
        elif f >= 5:
            chosen.append(sel == [next(t for t, d in tracked if d is a)])
    assert per_frame_flips > 10  # a per-frame "biggest face" rule would have flipped back and forth
    assert all(chosen)


def test_index_selection_counts_first_appearance_then_left_to_right():
    rng = np.random.default_rng(2)
    tracker = FaceTracker()
    xs = [400, 100, 250]
    for f in range(20):
        dets = [det(x + 2 * f, 200, 90) for x in xs]
        if f >= 10:
            dets.append(det(30, 400, 60))  # a newcomer at the far left gets the next number, shifts nobody
        rng.shuffle(dets)
        tracked = tracker.update(dets)
        by_x = _ids_by_x(tracked, xs + ([30] if f >= 10 else []))
        assert by_x[100] == 0 and by_x[250] == 1 and by_x[400] == 2
        assert select(tracker, tracked, 1) == [by_x[250]]
        assert select(tracker, tracked, "1") == [by_x[250]]
        assert select(tracker, tracked, "all") == sorted(by_x.values())
        if f >= 10:
            assert by_x[30] == 3
    assert select(tracker, tracked, 7) == []
    with pytest.raises(ValueError):
        select(tracker, tracked, "biggest")


def test_track_state_lives_and_dies_with_the_track():
    tracker = FaceTracker(max_age=1)
    tid = tracker.update([det(100, 100, 80)])[0][0]
    tracker.tracks[tid].state["smoother"] = "per-track smoother"
    tracker.update([det(104, 100, 80)])
    assert tracker.tracks[tid].state["smoother"] == "per-track smoother"
    tracker.update([])
    tracker.update([])
    assert tid not in tracker.tracks


PEOPLE = {"ann": np.array([1.0, 0.2, 0.0, 0.1]), "bob": np.array([0.1, 1.0, 0.3, 0.0])}


def test_reference_matcher_picks_the_right_person_with_a_stub_embedding():
    rng = np.random.default_rng(3)
    calls = []
    where = {}  # detection id -> person, what a real embedding would read from the pixels

    def embed(image, detection):
        calls.append(detection)
        return PEOPLE[where[id(detection)]] + rng.normal(0, 0.25, 4)  # noisy: one frame can mislead

    tracker = FaceTracker()
    matcher = ReferenceMatcher(embed, PEOPLE["bob"] * 3.0, threshold=0.8, refresh=5)
    image = np.zeros((480, 640, 3), np.uint8)
    for f in range(40):
        ann, bob = det(150 + f, 200, 100), det(450 - f, 200, 100)
        where[id(ann)], where[id(bob)] = "ann", "bob"
        dets = [ann, bob] if f % 2 else [bob, ann]
        tracked = tracker.update(dets)
        bob_id = next(t for t, d in tracked if d is bob)
        assert matcher(tracked, image) == [bob_id]
    assert len(calls) <= 2 * 8  # embedded on the first frame and then every 5th, not every frame
    stranger = ReferenceMatcher(embed, np.array([0.0, 0.0, 0.0, 1.0]), threshold=0.8)
    assert stranger(tracked, image) == []
    with pytest.raises(ValueError):
        ReferenceMatcher(embed, np.ones(3))(tracked, image)
