import pytest
import torch

from masquerade.models import ARCHITECTURES, build_model, make_config, model_cost
from masquerade.models.discriminator import PatchDiscriminator

SMALL = {
    "original": dict(encoder_dims=8, bottleneck=32),
    "hd": dict(e_dims=8, ae_dims=16, d_dims=8, d_mask_dims=4),
    "lite": dict(e_dims=8, ae_dims=16, d_dims=8),
}


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_every_architecture_renders_face_and_mask_for_both_identities(name):
    net = build_model(name, SMALL[name])
    s = net.config.size
    x = torch.rand(2, 3, s, s)
    with torch.no_grad():
        fa, ma, fb, mb = net.reconstruct(x, x)
        swapped = net.render(x, "b")
    for face, mask in ((fa, ma), (fb, mb), swapped):
        assert face.shape == (2, 3, s, s) and mask.shape == (2, 1, s, s)
        assert 0 <= float(face.min()) and float(face.max()) <= 1 and 0 <= float(mask.min()) and float(mask.max()) <= 1
    # The two identities are rendered by different weights, so A→A and A→B differ.
    assert not torch.allclose(net.render(x, "a")[0], net.render(x, "b")[0])


def test_hd_liae_variant_and_size_256():
    liae = build_model("hd", {**SMALL["hd"], "variant": "liae"})
    x = torch.rand(1, 3, 128, 128)
    assert liae.render(x, "a")[0].shape == (1, 3, 128, 128)
    big = build_model("hd", {**SMALL["hd"], "size": 256})
    assert big.render(torch.rand(1, 3, 256, 256), "b")[1].shape == (1, 1, 256, 256)
    with pytest.raises(ValueError, match="variant"):
        build_model("hd", {"variant": "nope"})


def test_lite_liae_shares_one_decoder_and_renders_b_from_the_shared_code_alone():
    net = build_model("lite", {**SMALL["lite"], "variant": "liae"})
    x = torch.rand(2, 3, 64, 64)
    with torch.no_grad():
        fa, ma, fb, mb = net.reconstruct(x, x)  # the one-pass training forward equals per-identity rendering
        assert torch.allclose(fa, net.render(x, "a")[0], atol=1e-6) and torch.allclose(fb, net.render(x, "b")[0], atol=1e-6)
        assert not torch.allclose(fa, fb)
        # B's code does not depend on A's private bottleneck: a swap A→B is the shared code alone.
        before = net.render(x, "b")[0]
        for p in net.inter_a.parameters():
            p.add_(1.0)
        assert torch.equal(net.render(x, "b")[0], before) and not torch.allclose(net.render(x, "a")[0], fa)
    assert not hasattr(net, "decoders") and hasattr(net, "decoder")
    with pytest.raises(ValueError, match="variant"):
        build_model("lite", {"variant": "nope"})


def test_registry_rejects_unknown_names_and_settings():
    with pytest.raises(ValueError, match="unknown model 'nope'"):
        build_model("nope")
    with pytest.raises(ValueError, match="no setting"):
        make_config("lite", {"wings": 2})


def test_original_matches_the_classic_network_cost():
    cost = model_cost(build_model("original"))
    assert 80e6 < cost["params"] < 84e6
    assert cost["gflop_train"] == pytest.approx(11.4, rel=0.02)


def test_patch_discriminator_gives_a_map_of_logits():
    out = PatchDiscriminator()(torch.rand(2, 3, 64, 64))
    assert out.shape == (2, 1, 8, 8)
