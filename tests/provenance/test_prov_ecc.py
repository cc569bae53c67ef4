import numpy as np
import pytest

from masquerade.provenance import ecc


def test_round_trip_without_noise():
    bits = np.random.default_rng(0).integers(0, 2, 48)
    code = ecc.encode(bits)
    assert code.size == ecc.coded_length(48) == 162
    assert np.array_equal(ecc.decode(2.0 * code - 1.0, 48), bits)


def test_corrects_noisy_and_flipped_soft_bits():
    rng = np.random.default_rng(1)
    for _ in range(20):
        bits = rng.integers(0, 2, 48)
        soft = 2.0 * ecc.encode(bits) - 1.0 + rng.normal(0, 0.7, 162)  # ~8% of signs wrong
        assert (np.sign(soft) != 2.0 * ecc.encode(bits) - 1.0).any()
        assert np.array_equal(ecc.decode(soft, 48), bits)


def test_corrects_spread_hard_errors():
    bits = np.random.default_rng(3).integers(0, 2, 48)
    soft = 2.0 * ecc.encode(bits) - 1.0
    soft[np.arange(5, 162, 20)] *= -1  # 8 flipped code bits, one per 20
    assert np.array_equal(ecc.decode(soft, 48), bits)


def test_pure_noise_does_not_decode_to_the_message():
    bits = np.ones(48, dtype=np.uint8)
    decoded = ecc.decode(np.random.default_rng(2).normal(0, 1, 162), 48)
    assert (decoded == bits).mean() < 0.9


def test_rejects_wrong_length():
    with pytest.raises(ValueError):
        ecc.decode(np.zeros(100), 48)


def test_crc_detects_every_single_and_double_bit_error():
    bits = np.random.default_rng(4).integers(0, 2, 72).astype(np.uint8)
    check = ecc.crc(bits, 16, init=0xA5C3)
    assert check.size == 16 and np.array_equal(check, ecc.crc(bits.copy(), 16, init=0xA5C3))
    for i in range(72):
        flipped = bits.copy()
        flipped[i] ^= 1
        assert not np.array_equal(ecc.crc(flipped, 16, init=0xA5C3), check)
    flipped = bits.copy()
    flipped[[3, 50]] ^= 1
    assert not np.array_equal(ecc.crc(flipped, 16, init=0xA5C3), check)
    assert not np.array_equal(ecc.crc(bits, 16, init=0), check)  # the tag keys it


def test_list_decoding_lists_distinct_messages_best_first():
    rng = np.random.default_rng(5)
    bits = rng.integers(0, 2, 48)
    soft = 2.0 * ecc.encode(bits) - 1.0 + rng.normal(0, 1.0, 162)
    listed = ecc.decode_list(soft, 48, 16)
    assert len(listed) == 16 and np.array_equal(listed[0], ecc.decode(soft, 48))
    assert len({b.tobytes() for b in listed}) == 16
    # path metric (correlation of the re-encoded message with the soft values) never rises down the list
    metrics = [float(np.dot(2.0 * ecc.encode(b) - 1.0, soft)) for b in listed]
    assert metrics[0] == max(metrics) and metrics[1] >= metrics[-1]


def test_list_decoding_finds_the_message_when_the_best_path_is_wrong():
    """At an SNR where plain Viterbi often fails, the right message is usually a few places down the list
    (this is what lets the watermark's CRC pick it after heavy H.264)."""
    rng = np.random.default_rng(6)
    plain_wrong = rescued = 0
    for _ in range(60):
        bits = rng.integers(0, 2, 88)
        soft = 2.0 * ecc.encode(bits) - 1.0 + rng.normal(0, 1.25, ecc.coded_length(88))
        if np.array_equal(ecc.decode(soft, 88), bits):
            continue
        plain_wrong += 1
        rescued += any(np.array_equal(b, bits) for b in ecc.decode_list(soft, 88, 16))
    assert plain_wrong >= 10 and rescued >= plain_wrong // 4, (plain_wrong, rescued)
