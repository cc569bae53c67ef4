import pytest
import torch

from masquerade.faceset import FaceSet
from masquerade.models import build_model
from masquerade.train.validation import (
    FaceSubset, Validator, held_out, holdout_key, reconstruction_scores, split_faceset, split_names,
)


class Echo:
    """A 'net' whose render returns its input (perfect reconstruction), or noise when `broken`."""

    def __init__(self, broken: bool = False):
        self.broken = broken

    def render(self, x, identity):
        face = torch.rand_like(x) if self.broken else x
        return face, torch.ones_like(x[:, :1])


def test_split_is_deterministic_near_the_share_and_stable_as_the_set_grows():
    names = [f"00_{i:06d}_0.png" for i in range(4000)]
    split = split_names(names)
    assert split == split_names(list(names))
    assert 0.04 < len(split.held) / len(names) < 0.06
    assert sorted(split.train + split.held) == list(range(len(names)))
    grown = names + [f"01_{i:06d}_0.png" for i in range(1000)]
    held_before = {names[i] for i in split.held}
    held_after = {grown[i] for i in split_names(grown).held}
    assert held_before <= held_after  # nothing held out before is trained on after the set grew
    assert all(holdout_key(n) < 0.05 for n in held_before)


def test_small_sets_still_hold_one_face_out_and_share_zero_holds_none():
    names = [f"f{i}.png" for i in range(6)]
    split = split_names(names)
    assert len(split.held) == 1 and len(split.train) == 5
    assert split_names(names, share=0.0).held == []
    assert split_names(["only.png"]).held == []  # never the only face
    with pytest.raises(ValueError):
        split_names(names, share=1.0)


def test_subset_and_held_out_faces_come_from_the_face_set(faceset_a):
    fs = FaceSet.open(faceset_a)
    split = split_faceset(fs, share=0.2)
    assert split.held and split.train
    sub = FaceSubset(fs, split.train)
    t = sub.load_tensors(64)
    full = fs.load_tensors(64)
    assert t.faces.shape == (len(split.train), 3, 64, 64)
    assert torch.equal(t.faces[0], full.faces[split.train[0]])
    assert [r["file"] for r in sub.records] == [fs.records[i]["file"] for i in split.train]
    held = held_out(fs, split.held, 64, eval_size=128)
    assert held.inputs.shape[-1] == 64 and held.targets.shape[-1] == 128 and held.masks.shape[1] == 1


def test_reconstruction_scores_tell_a_perfect_net_from_a_broken_one(faceset_a):
    fs = FaceSet.open(faceset_a)
    held = held_out(fs, split_faceset(fs, share=0.3).held, 64)
    perfect = reconstruction_scores(Echo(), held, "a")
    assert perfect["ssim_gauss11"] == pytest.approx(1.0, abs=1e-4) and perfect["l1"] == pytest.approx(0.0, abs=1e-6)
    broken = reconstruction_scores(Echo(broken=True), held, "a")
    assert broken["ssim_gauss11"] < 0.2 and broken["l1"] > 0.15
    # at a larger evaluation size a 64 px face loses detail; an "upscaler" that knows the answer does not
    big = held_out(fs, split_faceset(fs, share=0.3).held, 64, eval_size=128)
    bicubic = reconstruction_scores(Echo(), big, "a")
    oracle = reconstruction_scores(Echo(), big, "a", upscaler=lambda x: big.targets.float() / 255)
    assert 0.5 < bicubic["ssim_gauss11"] < 0.99 and oracle["ssim_gauss11"] == pytest.approx(1.0, abs=1e-4)


@pytest.mark.slow
def test_validator_scores_a_real_net_and_restores_its_mode(faceset_a, faceset_b):
    v = Validator(FaceSet.open(faceset_a), FaceSet.open(faceset_b), 64, share=0.2, identity=False)
    assert len(v.train_sets["a"]) + len(v.held["a"]) == len(FaceSet.open(faceset_a))
    net = build_model("lite", dict(e_dims=8, ae_dims=32, d_dims=8)).train()
    scores = v.scores(net)
    assert net.training
    assert set(scores) == {f"val_{k}_{s}" for k in ("ssim_gauss11", "ssim_gauss11_face", "l1") for s in "ab"}
    assert all(0 <= scores[f"val_ssim_gauss11_{s}"] < 0.9 for s in "ab")  # untrained: nowhere near the faces


@pytest.mark.slow
def test_identity_distance_is_small_for_a_faithful_swap(faceset_a, faceset_b):
    pytest.importorskip("dlib", reason="identity distance needs the eval extra (dlib)")

    class SwapIsTarget(Echo):
        """Renders held-out faces of either side unchanged: 'a→b' then still shows A (a failed swap)."""

    v = Validator(FaceSet.open(faceset_a), FaceSet.open(faceset_b), 128, share=0.2, identity=True, identity_faces=3)
    s = v.scores(SwapIsTarget())
    # the output is still the source person: near the source, far from the target
    assert s["val_id_a2b_to_a"] < 0.4 and s["val_id_a2b_to_b"] > s["val_id_a2b_to_a"] + 0.2
    assert s["val_id_b2a_to_b"] < 0.4 and s["val_id_b2a_to_a"] > s["val_id_b2a_to_b"] + 0.2
