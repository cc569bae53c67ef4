"""The whole workflow on tiny data, fast enough for `pytest -m "not slow"` (the developers' loop): extract two
people's faces from generated clips, train the smallest `lite` net a few steps, convert a clip, and verify
that the output carries the watermark and the signed manifest. The slow tests check how well each stage
works; this one checks that the stages still hand over to each other through the commands users type."""

from __future__ import annotations

import json

from masquerade import cli
from masquerade.samples import make_clip, write_clip

TINY_NET = ("--arch-option", "e_dims=8", "--arch-option", "ae_dims=32", "--arch-option", "d_dims=8")


def test_extract_train_convert_verify_on_tiny_data(tmp_path, capsys):
    clips = {}
    for name, seed in (("astronaut", 1), ("grace_hopper", 2)):
        clips[name] = write_clip(tmp_path / f"{name}.mp4", make_clip(name, frames=6, seed=seed))
        assert cli.main(["extract", str(clips[name]), "-o", str(tmp_path / f"fs_{name}"), "--size", "64"]) == 0
        assert len(list((tmp_path / f"fs_{name}" / "faces").glob("*.png"))) >= 4  # a face in most frames
    model = tmp_path / "model"
    assert cli.main(["train", str(tmp_path / "fs_astronaut"), str(tmp_path / "fs_grace_hopper"), "-o", str(model),
                     "--model", "lite", *TINY_NET, "--device", "cpu", "--precision", "fp32", "--batch-size", "2",
                     "--steps", "3", "--preview-every", "0", "--holdout", "0", "--mask-minutes", "0",
                     "--no-occluders", "--plan", "manual"]) == 0
    assert list((model / "snapshots").glob("step_*3/model.safetensors"))
    out = tmp_path / "swapped.mp4"
    assert cli.main(["convert", str(clips["astronaut"]), "-m", str(model), "-o", str(out), "--device", "cpu"]) == 0
    assert out.stat().st_size > 0
    capsys.readouterr()
    assert cli.main(["verify", str(out), "--json"]) == 0
    verdict = json.loads(capsys.readouterr().out)
    assert verdict["status"] == "synthetic", verdict["summary"]
    assert verdict["watermark_found"] and verdict["manifest_present"] and verdict["manifest_valid"]
    assert verdict["manifest_by_masquerade"] and verdict["signer_trusted"]
