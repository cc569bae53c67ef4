"""What the watermark says: the payload's versions, their bits, and the mark id they name.

Why two versions: the payload is what a re-upload must carry intact, and the shorter it is, the more of the
mark's cells each code bit gets. Version 2 (88 bits: a 4-bit version, 32 bits of the model hash, a 36-bit
nonce, CRC-16) was not read blind after the usual re-upload, half size at H.264 CRF 30, nor after 0.75x
at CRF 35: the mark's geometry survives, but per code bit too little of it is left. Version 3 (48 bits: 16
bits of the model hash, a 16-bit nonce, CRC-16) spreads the same cells over 162 code bits instead of 282,
about 2.4 dB more per bit, and reads both (figures in docs/provenance.md). New files get version 3; files
marked with version 2 are read as before, so nothing made earlier loses its mark. The reader tells the two
apart by trying both layouts: each has its own CRC key (`tag`), so one is never read as the other except
by a 2^-16 coincidence.

The mark id (model prefix + nonce) keys the file's manifest in the local store and is recorded by the
manifest as its soft binding. With 16-bit nonces two files of one model share an id with odds of about
one in 65,000 per pair; the store then lists both manifests, each of which names its model and output.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass

import numpy as np

from . import ecc

CRC_BITS = 16


@dataclass(frozen=True)
class PayloadFormat:
    """One version's layout: [version][model hash prefix][nonce][CRC keyed with `tag`], MSB first."""

    version: int
    version_bits: int  # 0: the version is told by the layout and the CRC's key alone
    hash_bits: int  # a multiple of 4: the prefix is that many hex digits of the model hash
    nonce_bits: int
    tag: int  # the CRC's initial value: marks of another layout or tool fail it

    @property
    def id_bits(self) -> int:
        return self.version_bits + self.hash_bits + self.nonce_bits

    @property
    def total_bits(self) -> int:
        return self.id_bits + CRC_BITS

    @property
    def code_bits(self) -> int:
        return ecc.coded_length(self.total_bits)

    @property
    def algorithm(self) -> str:
        """The soft-binding algorithm name that manifests record for marks of this version."""
        return f"org.masquerade.watermark.{self.version}"

    def mark_id(self, model_hash: str, nonce: int) -> str:
        return f"{model_hash[:self.hash_bits // 4].lower()}-{int(nonce):0{-(-self.nonce_bits // 4)}x}"

    def crc_ok(self, bits: np.ndarray) -> bool:
        return bool(np.array_equal(ecc.crc(bits[:self.id_bits], CRC_BITS, init=self.tag), bits[self.id_bits:]))

    def fields(self, bits: np.ndarray) -> tuple[str, int]:
        """(model hash prefix as hex, nonce) of decoded payload bits."""
        value = int("".join(map(str, bits[:self.id_bits])), 2)
        prefix = (value >> self.nonce_bits) & ((1 << self.hash_bits) - 1)
        return f"{prefix:0{self.hash_bits // 4}x}", value & ((1 << self.nonce_bits) - 1)


V2 = PayloadFormat(version=2, version_bits=4, hash_bits=32, nonce_bits=36, tag=0xA5C3)
V3 = PayloadFormat(version=3, version_bits=0, hash_bits=16, nonce_bits=16, tag=0x3C5A)
CURRENT = V3  # what new files get
FORMATS = {f.version: f for f in (V3, V2)}  # in the order the reader tries them: the current one first


def _to_bits(value: int, n: int) -> list[int]:
    return [(value >> (n - 1 - i)) & 1 for i in range(n)]


def payload_bits(model_hash: str, nonce: int = 0, version: int = CURRENT.version) -> np.ndarray:
    """The payload of `version` for a model hash (hex) and nonce as 0/1 bits, MSB first, CRC included."""
    fmt = FORMATS.get(version)
    if fmt is None:
        raise ValueError(f"no watermark payload version {version!r} (known: {', '.join(map(str, sorted(FORMATS)))})")
    digits = model_hash.strip().lower() if isinstance(model_hash, str) else ""
    if len(digits) < 8 or any(c not in "0123456789abcdef" for c in digits):
        raise ValueError(f"model hash must be a hex string of at least 8 characters, got {model_hash!r}")
    if not 0 <= int(nonce) < (1 << fmt.nonce_bits):
        raise ValueError(f"nonce must fit in {fmt.nonce_bits} bits")
    head = (_to_bits(fmt.version, fmt.version_bits) + _to_bits(int(digits[:fmt.hash_bits // 4], 16), fmt.hash_bits)
            + _to_bits(int(nonce), fmt.nonce_bits))
    bits = np.array(head, dtype=np.uint8)
    return np.concatenate([bits, ecc.crc(bits, CRC_BITS, init=fmt.tag)])


def mark_id(model_hash: str, nonce: int, version: int = CURRENT.version) -> str:
    """Model prefix + nonce of a mark of `version`: the key of its file's manifest in the local store."""
    return FORMATS[version].mark_id(model_hash, nonce)


def format_of(mark_id_: str) -> PayloadFormat | None:
    """The payload version a mark id belongs to (told by its digits' counts), or None if it is none's."""
    prefix, dash, nonce = (mark_id_ or "").partition("-")
    if not dash or any(c not in "0123456789abcdef" for c in prefix + nonce):
        return None
    return next((f for f in FORMATS.values()
                 if len(prefix) == f.hash_bits // 4 and len(nonce) == -(-f.nonce_bits // 4)), None)


def new_nonce() -> int:
    """A fresh random nonce for one output file, of the current version's size."""
    return secrets.randbits(CURRENT.nonce_bits)
