"""Expression code version 3 (issue 25): a swap carries the source's mouth and brow measures into the target
person's own spread, so a source whose codes sit off its fitted neutral does not ask the target's decoder for a
face it never shows; reconstruction, eyes and head pose are read as in version 2."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from test_sampling import face

from masquerade.faces.expression_reference import MEASURES, measures, neutral_baseline
from masquerade.models import build_model
from masquerade.models.expression_input import ACROSS, ExpressionCode

SMALL = dict(e_dims=8, ae_dims=16, d_dims=8, expression=4)
KEPT = [i for i in range(len(MEASURES)) if i not in ACROSS]


def people(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Raw measures of two people: an expressive one (wide mouth moves, brows up) and a calm one."""
    rng = np.random.default_rng(seed)
    loud = [face(rng.uniform(-20, 20), mouth=rng.uniform(0.0, 0.4), eye=rng.uniform(0.02, 0.12)) for _ in range(60)]
    calm = [face(rng.uniform(-5, 5), mouth=rng.uniform(0.0, 0.08), eye=rng.uniform(0.08, 0.1)) for _ in range(60)]
    return torch.from_numpy(measures(np.stack(loud))), torch.from_numpy(measures(np.stack(calm)))


def fitted(loud: torch.Tensor, calm: torch.Tensor) -> ExpressionCode:
    code = ExpressionCode(3)
    for side, m in (("a", loud), ("b", calm)):
        code.set_baseline(side, neutral_baseline(m.numpy()))
        code.set_spread(side, m)
    return code


def test_a_swap_moves_the_shape_measures_into_the_target_spread_and_keeps_eyes_and_pose():
    loud, calm = people()
    code = fitted(loud, calm)
    own_a, own_b = code(loud, "a"), code(calm, "b")
    carried = code.across(own_a, "a", "b")
    mouth = MEASURES.index("mouth")
    assert mouth in ACROSS
    # the source's codes land with the target's own mean and spread on every carried measure that moves
    moving = [i for i in ACROSS if float(own_a[:, i].std()) > 1e-4 and float(own_b[:, i].std()) > 1e-4]
    assert mouth in moving
    assert torch.allclose(carried[:, moving].mean(0), own_b[:, moving].mean(0), atol=1e-4)
    assert torch.allclose(carried[:, moving].std(0), own_b[:, moving].std(0), atol=1e-4)
    # the order of the source's faces is kept: a wider mouth stays wider
    assert np.corrcoef(carried[:, mouth].numpy(), own_a[:, mouth].numpy())[0, 1] == pytest.approx(1.0, abs=1e-5)
    assert torch.equal(carried[:, KEPT], own_a[:, KEPT])  # eyes, lower lids, head turn and nod: as read
    assert torch.equal(code.across(own_a, "a", "a"), own_a)  # reconstruction reads its own code


def test_without_known_spreads_and_before_version_3_the_code_is_unchanged():
    loud, calm = people(1)
    fresh = ExpressionCode(3)  # a spread of zero: nothing measured yet
    assert torch.equal(fresh.across(fresh(loud, "a"), "a", "b"), fresh(loud, "a"))
    v2 = ExpressionCode(2)
    assert "spread" not in v2.state_dict()  # version 2 models keep their saved tensors exactly
    assert torch.equal(v2.across(v2(loud, "a"), "a", "b"), v2(loud, "a"))
    half = ExpressionCode(3)
    half.set_spread("a", loud)
    assert torch.equal(half.across(half(loud, "a"), "a", "b"), half(loud, "a"))  # the target's spread unknown
    with pytest.raises(ValueError):
        ExpressionCode(4)


def test_the_network_renders_a_swap_with_the_carried_code_and_a_reconstruction_without():
    torch.manual_seed(0)
    loud, calm = people(2)
    net = build_model("lite", dict(SMALL, expression_code=3)).eval()
    for side, m in (("a", loud), ("b", calm)):
        net.expression.set_baseline(side, neutral_baseline(m.numpy()))
        net.expression.set_spread(side, m)
    x = torch.rand(4, 3, 64, 64)
    marks = loud[:4]
    with torch.no_grad():
        swapped = net.render(x, "b", marks, "a")[0]
        emap, z = net.expression_map("b"), net.latent(net.features(x), "b")
        carried = net.expression.across(net.expression(marks, "a"), "a", "b")
        assert torch.allclose(swapped, net.decode(torch.cat([z, emap(carried)], 1), "b")[0])
        plain = net.decode(torch.cat([z, emap(net.expression(marks, "a"))], 1), "b")[0]
        assert not torch.allclose(swapped, plain)  # the carried code is what the decoder saw
        own = net.render(x, "a", marks)[0]
        assert torch.allclose(own, net.decode(torch.cat([net.latent(net.features(x), "a"),
                                                         net.expression_map("a")(net.expression(marks, "a"))], 1), "a")[0])


@pytest.mark.slow
def test_training_measures_each_persons_spread_once(faceset_a, faceset_b, tiny_config, tmp_path):
    from masquerade.convert import open_model
    from masquerade.faceset import FaceSet
    from masquerade.train import train
    from masquerade.train.validation import split_faceset

    config = dataclasses.replace(tiny_config, model_options={**tiny_config.model_options, "expression": 4},
                                 steps=2, preview_every=0)
    train(faceset_a, faceset_b, tmp_path / "m", config)
    net = open_model(tmp_path / "m", "cpu").net
    assert net.expression.version == 3  # new models' default
    for i, path in enumerate((faceset_a, faceset_b)):  # the faces it trained on (held-out ones left out)
        fs = FaceSet.open(path)
        raw = torch.from_numpy(measures(fs.load_tensors(64).landmarks.numpy()[split_faceset(fs, config.holdout).train]))
        raw = raw[torch.isfinite(raw).all(1)]
        code = net.expression(raw, "ab"[i])
        assert torch.allclose(net.expression.spread[i], torch.stack([code.mean(0), code.std(0)]), atol=1e-5)
    spread = net.expression.spread.clone()
    train(faceset_a, faceset_b, tmp_path / "m", dataclasses.replace(config, steps=3))  # a resume keeps it
    assert torch.equal(open_model(tmp_path / "m", "cpu").net.expression.spread, spread)
