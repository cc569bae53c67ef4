"""Error correction for the watermark payload: a K=7, rate-1/3 convolutional code with soft Viterbi decoding.

Why a convolutional code: the watermark decoder produces *soft* evidence per code bit (a correlation), and
soft-decision Viterbi turns that into roughly 5 dB of coding gain over a plain repetition code, in ~1 ms.
"""

from __future__ import annotations

import heapq
import math

import numpy as np

K = 7  # constraint length
MEMORY = K - 1
POLYS = (0o133, 0o171, 0o165)  # the standard K=7 rate-1/3 generators
RATE = len(POLYS)
_N_STATES = 1 << MEMORY


def _parity(x: np.ndarray) -> np.ndarray:
    x = x.copy()
    out = np.zeros_like(x)
    while np.any(x):
        out ^= x & 1
        x >>= 1
    return out


# Output bits for every 7-bit register value (newest input bit is bit 6): shape (128, RATE).
_REG = np.arange(1 << K)
_OUT = np.stack([_parity(_REG & g) for g in POLYS], axis=1).astype(np.uint8)
_SIGNS = (2.0 * _OUT - 1.0).astype(np.float64)

# Trellis, arranged by *next* state: each next state has two predecessors (differing in their oldest bit).
_NS = np.arange(_N_STATES)
_IN_BIT = _NS >> (MEMORY - 1)
_PRED0 = (_NS & ((_N_STATES >> 1) - 1)) << 1
_PRED1 = _PRED0 | 1
_REG0 = (_IN_BIT << MEMORY) | _PRED0
_REG1 = (_IN_BIT << MEMORY) | _PRED1


def coded_length(n_bits: int) -> int:
    """Number of code bits for `n_bits` message bits (including the zero tail that terminates the trellis)."""
    return RATE * (n_bits + MEMORY)


def encode(bits: np.ndarray) -> np.ndarray:
    """Encode 0/1 message bits; returns 0/1 code bits of length `coded_length(len(bits))`."""
    msg = np.concatenate([np.asarray(bits, dtype=np.int64), np.zeros(MEMORY, dtype=np.int64)])
    state = 0
    out = np.empty((msg.size, RATE), dtype=np.uint8)
    for t, b in enumerate(msg):
        reg = (int(b) << MEMORY) | state
        out[t] = _OUT[reg]
        state = reg >> 1
    return out.reshape(-1)


def _forward(soft: np.ndarray, n_bits: int) -> tuple[np.ndarray, np.ndarray]:
    """Viterbi forward pass: per step and next state, the survivor's choice of predecessor and its margin
    over the other predecessor (how much worse the best path through that other branch is)."""
    y = np.asarray(soft, dtype=np.float64).reshape(-1, RATE)
    steps = y.shape[0]
    if steps != n_bits + MEMORY:
        raise ValueError(f"expected {coded_length(n_bits)} soft values, got {y.size}")
    branches = y @ _SIGNS.T  # (steps, 128): every register's branch metric, in one product
    metric = np.full(_N_STATES, -np.inf)
    metric[0] = 0.0
    choices = np.empty((steps, _N_STATES), dtype=np.uint8)
    margins = np.empty((steps, _N_STATES))
    with np.errstate(invalid="ignore"):  # -inf - -inf = nan where both branches are still unreachable
        for t in range(steps):
            cand0 = metric[_PRED0] + branches[t, _REG0]
            cand1 = metric[_PRED1] + branches[t, _REG1]
            pick1 = cand1 > cand0
            choices[t] = pick1
            margins[t] = np.abs(cand1 - cand0)  # inf or nan where a branch is unreachable: never listed
            metric = np.where(pick1, cand1, cand0)
    return choices, margins


def _trace(choices: list, margins: list, flips: frozenset[int]) -> tuple[list[int], list[float]]:
    """Trace back from state 0, taking the other predecessor at the steps in `flips`; (bits, margins on it).

    Plain Python lists: a traceback is a chain of scalar look-ups, which numpy indexing makes ~10x slower."""
    steps = len(choices)
    state, low = 0, (_N_STATES >> 1) - 1
    bits, along = [0] * steps, [0.0] * steps
    for t in range(steps - 1, -1, -1):
        bits[t] = state >> (MEMORY - 1)
        along[t] = margins[t][state]
        state = ((state & low) << 1) | (choices[t][state] ^ (t in flips))
    return bits, along


def decode(soft: np.ndarray, n_bits: int) -> np.ndarray:
    """Soft Viterbi: `soft` > 0 means "code bit is 1", magnitude is confidence. Returns 0/1 message bits."""
    choices, _ = _forward(soft, n_bits)
    steps, state, low = choices.shape[0], 0, (_N_STATES >> 1) - 1
    picks = choices.tolist()
    bits = np.empty(steps, dtype=np.uint8)
    for t in range(steps - 1, -1, -1):
        bits[t] = state >> (MEMORY - 1)
        state = ((state & low) << 1) | picks[t][state]
    return bits[:n_bits]


def decode_list(soft: np.ndarray, n_bits: int, size: int) -> list[np.ndarray]:
    """The `size` most likely messages, best first (list Viterbi, for a CRC to choose from).

    Why: when a mark is barely there, the most likely path is often wrong by one or two short error
    events while the right message is among the next few; a CRC tells which. Each listed path leaves the
    previous one's survivors at one step (the step's margin is what that costs), so a best-first search
    over sets of such detours lists paths in (nearly) the order of their metric. Every extra candidate the
    CRC checks costs the false-alarm rate a factor, so callers keep `size` small.
    """
    choice_arr, margin_arr = _forward(soft, n_bits)
    choices, margins = choice_arr.tolist(), margin_arr.tolist()
    steps = len(choices)
    heap: list[tuple[float, int, frozenset[int]]] = [(0.0, 0, frozenset())]
    seen: set[frozenset[int]] = set()
    out: list[np.ndarray] = []
    counter = 1
    while heap and len(out) < size:
        cost, _, flips = heapq.heappop(heap)
        if flips in seen:
            continue
        seen.add(flips)
        bits, along = _trace(choices, margins, flips)
        out.append(np.asarray(bits[:n_bits], dtype=np.uint8))
        # detours only before the earliest one already taken, so each set of detours is reached once
        limit = min(flips) if flips else steps
        finite = [t for t in range(limit) if math.isfinite(along[t])]
        for t in sorted(finite, key=along.__getitem__)[: size - len(out)]:
            heapq.heappush(heap, (cost + float(along[t]), counter, flips | {int(t)}))
            counter += 1
    return out


_CRC_POLYS = {12: 0x80F, 16: 0x1021}  # CRC-12 and CRC-16/CCITT generator polynomials (top bit implied)


def crc(bits: np.ndarray, n_bits: int = 16, init: int = 0) -> np.ndarray:
    """CRC of 0/1 bits (MSB first) as `n_bits` 0/1 bits; `init` keys it (e.g. with a format tag).

    Why a CRC after the Viterbi decoder: when the mark is too weak, Viterbi still returns *some* message;
    the CRC tells a right one from a wrong one, which also makes a false alarm on unmarked content need a
    2^-n_bits coincidence on top of a strong sync peak.
    """
    poly = _CRC_POLYS[n_bits]
    reg = init & ((1 << n_bits) - 1)
    top = 1 << (n_bits - 1)
    for b in np.asarray(bits, dtype=np.int64).tolist():
        feedback = bool(reg & top) ^ bool(b)
        reg = (reg << 1) & ((1 << n_bits) - 1)
        if feedback:
            reg ^= poly
    return np.array([(reg >> (n_bits - 1 - i)) & 1 for i in range(n_bits)], dtype=np.uint8)
