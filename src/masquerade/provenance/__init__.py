"""Provenance: every synthetic output is watermarked and carries a signed C2PA manifest; `verify` checks both.

`writer` is the only module in Masquerade that writes synthetic pixels to disk.
"""

from .keys import Credentials, load_default, masquerade_home
from .verify import Verdict, verify
from .watermark import Detection, decode, decode_frames, embed
from .writer import Provenance, SyntheticVideoWriter, write_synthetic_image

__all__ = [
    "Credentials", "Detection", "Provenance", "SyntheticVideoWriter", "Verdict", "decode", "decode_frames",
    "embed", "load_default", "masquerade_home", "verify", "write_synthetic_image",
]
