"""bf16 at inference: chosen by timing where the CPU has native bf16, output indistinguishable from fp32's."""

from __future__ import annotations

import pytest
import torch

from masquerade.models import inference_precision as ip
from masquerade.models.upscaler import IdentityUpscaler, UpscalerConfig


def _net() -> IdentityUpscaler:
    torch.manual_seed(0)
    return IdentityUpscaler(UpscalerConfig(in_size=32, out_size=128, channels=16, blocks=2, up_channels=(8, 8))).eval()


def test_without_native_bf16_it_is_fp32_and_times_nothing(monkeypatch):
    monkeypatch.setattr(ip, "native_bf16", lambda device: False)
    monkeypatch.setattr(ip, "_wall", lambda *a, **k: pytest.fail("timed on a machine without native bf16"))
    net = _net()
    run = ip.InferencePrecision(net, torch.device("cpu"), "auto")
    x = torch.rand(2, 3, 32, 32)
    assert run.choice == "fp32" and torch.equal(run(x), net(x))
    assert ip.InferencePrecision(net, torch.device("cpu"), "bf16").choice == "fp32"  # asked, but not native


@pytest.mark.parametrize("faster, expected", [("bf16", "bf16"), ("fp32", "fp32"), ("same", "fp32")])
def test_auto_keeps_bf16_only_when_clearly_faster(monkeypatch, faster, expected):
    monkeypatch.setattr(ip, "native_bf16", lambda device: True)
    times = {"bf16": {"fp32": 2.0, "bf16": 1.0}, "fp32": {"fp32": 1.0, "bf16": 2.0}, "same": {"fp32": 1.0, "bf16": 0.95}}[faster]
    calls = []

    def wall(fn, device, repeats=2):
        calls.append(1)
        return times["fp32" if len(calls) == 1 else "bf16"]

    monkeypatch.setattr(ip, "_wall", wall)
    run = ip.InferencePrecision(_net(), torch.device("cpu"), "auto")
    out = run(torch.rand(2, 3, 32, 32))
    assert run.choice == expected and len(calls) == 2 and out.dtype == torch.float32
    run(torch.rand(2, 3, 32, 32))
    assert len(calls) == 2  # timed once, on the first batch


@pytest.mark.skipif(not ip.native_bf16(torch.device("cpu")), reason="needs a CPU with native bf16 (AVX512-BF16/AMX)")
def test_bf16_output_is_within_a_few_levels_of_fp32():
    net = _net()
    x = torch.rand(4, 3, 32, 32)
    fp32 = ip.InferencePrecision(net, torch.device("cpu"), "fp32")(x).clamp(0, 1)
    bf16 = ip.InferencePrecision(net, torch.device("cpu"), "bf16")
    out = bf16(x).clamp(0, 1)
    assert bf16.choice == "bf16" and out.dtype == torch.float32
    assert float((out - fp32).abs().max()) < 4 / 255  # measured on a trained upscaler: 2/255, 56.8 dB


def test_the_upscaler_answers_through_the_chosen_precision():
    """`Upscaler` runs its faces through `InferencePrecision`; asked for fp32 it is the net's own output exactly."""
    import dataclasses

    from masquerade.models.manifest import UpscalerManifest
    from masquerade.models.upscaler import Upscaler

    net = _net()
    up = Upscaler(net, UpscalerManifest("b", dataclasses.asdict(net.config)), torch.device("cpu"), "fp32")
    x = torch.rand(3, 3, 32, 32)
    assert up.runner.choice == "fp32" and torch.equal(up(x), net(x).clamp(0, 1))
    with pytest.raises(ValueError, match="precision must be one of"):
        Upscaler(net, UpscalerManifest("b", dataclasses.asdict(net.config)), torch.device("cpu"), "fp16")


def _swap_model(**kw):
    from masquerade.models import build_model
    from masquerade.models.manifest import ModelManifest
    from masquerade.models.store import SwapModel

    torch.manual_seed(0)
    net = build_model("lite", {"e_dims": 8, "ae_dims": 32, "d_dims": 8, "expression": 4}).eval()
    manifest = ModelManifest.for_net("lite", net.config, None, None)
    return net, SwapModel(net, manifest, "0" * 64, torch.device("cpu"), **kw)


def test_the_swap_model_renders_through_its_precision_in_fp32_on_a_cpu():
    """The swap model's batches go through `InferencePrecision` with its `render` (extra arguments, a (face,
    mask) pair back); on a CPU fp32 unless asked, so a convert never times in its loop."""
    net, model = _swap_model()
    faces, m = torch.rand(3, 3, 64, 64), torch.rand(3, 11)
    assert model.runner.choice == "fp32"
    face, mask = model.swap(faces, "a2b", measures=m)
    with torch.no_grad():
        want_face, want_mask = net.render(faces, "b", m, "a")
    assert torch.equal(face, want_face) and torch.equal(mask, want_mask)


@pytest.mark.skipif(not ip.native_bf16(torch.device("cpu")), reason="needs a CPU with native bf16 (AVX512-BF16/AMX)")
def test_the_swap_model_in_bf16_stays_within_a_few_levels_of_fp32():
    net, fp32 = _swap_model()
    _, low = _swap_model(precision="bf16")
    faces, m = torch.rand(3, 3, 64, 64), torch.rand(3, 11)
    (face, mask), (face16, mask16) = fp32.swap(faces, "a2b", measures=m), low.swap(faces, "a2b", measures=m)
    assert low.runner.choice == "bf16" and face16.dtype == torch.float32
    assert float((face16 - face).abs().max()) < 8 / 255 and float((mask16 - mask).abs().max()) < 8 / 255
