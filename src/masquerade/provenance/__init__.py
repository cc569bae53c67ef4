"""Provenance: every synthetic output is watermarked and carries a signed C2PA manifest; `verify` checks both.

`writer` is the only module in Masquerade that writes synthetic pixels to disk. Every manifest it signs is
also kept in this user's manifest store (`store`), which the watermark leads back to when a platform strips
the manifest from a re-upload.
"""

from .keys import Credentials, check_credentials, load_default, masquerade_home
from .manifest import made_by_masquerade
from .verify import Verdict, verify
from .watermark import Detection, decode, decode_frames, embed
from .writer import Provenance, SyntheticVideoWriter, write_synthetic_image

__all__ = [
    "Credentials", "Detection", "Provenance", "SyntheticVideoWriter", "Verdict", "check_credentials", "decode",
    "decode_frames", "embed", "load_default", "made_by_masquerade", "masquerade_home", "verify",
    "write_synthetic_image",
]
