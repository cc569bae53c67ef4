from pathlib import Path

import torch

from masquerade.models import build_model
from masquerade.train.warmstart import WarmStart, apply_warm_start

SMALL_LIAE = dict(e_dims=8, ae_dims=16, d_dims=8, variant="liae")


def test_a_liae_warm_start_copies_the_shared_parts_only_unless_decoders_are_asked():
    torch.manual_seed(0)
    donor, fresh = build_model("lite", SMALL_LIAE), build_model("lite", SMALL_LIAE)
    weights = {k: v.clone() for k, v in donor.state_dict().items()}
    before = {k: v.clone() for k, v in fresh.state_dict().items()}
    copied = apply_warm_start(fresh, WarmStart(Path("donor"), weights, "h", decoders=False))
    assert any(k.startswith("encoder.") for k in copied) and any(k.startswith("inter_ab.") for k in copied)
    # A's private bottleneck renders the donor's old identity A, like a decoder: it stays fresh
    assert not any(k.startswith(("inter_a.", "decoder.")) for k in copied)
    got = fresh.state_dict()
    for k in got:
        assert torch.equal(got[k], weights[k] if k in copied else before[k]), k
    everything = apply_warm_start(fresh, WarmStart(Path("donor"), weights, "h", decoders=True))
    assert set(everything) == set(weights)
