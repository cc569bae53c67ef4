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


@pytest.mark.parametrize("shape", [(2, 64, 8, 8, 5, 2), (3, 32, 4, 4, 3, 1), (2, 16, 8, 8, 3, 1)],
                         ids=["5x5-stride2-to-4x4", "3x3-at-4x4", "3x3-at-8x8"])
def test_small_map_conv_as_a_matrix_product_matches_the_convolution(shape):
    """The layers next to the bottleneck run as unfold + GEMM on the CPU (models.layers.Conv2d): same
    output and the same gradients for input, weight and bias as torch's convolution."""
    from torch.nn import functional as F

    from masquerade.models.layers import Conv2d

    n, cin, h, w, k, stride = shape
    conv = Conv2d(cin, 1024, k, stride=stride, padding=k // 2)
    x = torch.randn(n, cin, h, w, requires_grad=True)
    assert conv._as_gemm(x) is not None  # the GEMM path is the one under test
    y = conv(x)
    ref_x = x.detach().clone().requires_grad_()
    ref = F.conv2d(ref_x, conv.weight, conv.bias, stride, k // 2)
    assert y.shape == ref.shape and y.is_contiguous()
    torch.testing.assert_close(y, ref, rtol=1e-4, atol=1e-5)
    g = torch.randn_like(y)
    gx, gw, gb = torch.autograd.grad(y, (x, conv.weight, conv.bias), g)
    rx, rw, rb = torch.autograd.grad(ref, (ref_x, conv.weight, conv.bias), g)
    for ours, theirs in ((gx, rx), (gw, rw), (gb, rb)):
        torch.testing.assert_close(ours, theirs, rtol=1e-4, atol=1e-4)


def test_only_small_wide_layers_take_the_matrix_product():
    """`original`'s encoder end, bottleneck upscale and decoders' first upscale (4x4 and 8x8 maps, 1024+
    channels out) switch; its larger maps, narrower layers and every `lite` layer stay convolutions."""
    from masquerade.models.layers import Conv2d

    def switched(net, s, dtype=torch.float32):
        taken = []
        hooks = [m.register_forward_hook(lambda m, i, o, name=name: taken.append(name) if m._as_gemm(i[0]) else None)
                 for name, m in net.named_modules() if isinstance(m, Conv2d)]
        with torch.no_grad():
            net.reconstruct(torch.rand(1, 3, s, s, dtype=dtype), torch.rand(1, 3, s, s, dtype=dtype))
        for h in hooks:
            h.remove()
        return sorted(set(taken))

    assert switched(build_model("original"), 64) == ["decoders.a.0.0.0", "decoders.b.0.0.0", "encoder.3.0", "inter.1.0"]
    assert switched(build_model("lite"), 64) == []
    # In bf16 (AMX) the GEMM also wins at a 4x4 output from 256 channels: lite's encoder end and upscale.
    assert switched(build_model("lite").to(torch.bfloat16), 64, torch.bfloat16) == ["encoder.3.0", "inter.1.0"]
