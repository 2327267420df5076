"""TOPLOC-style commitments: field arithmetic, the 258-byte proof, and what passes and fails."""

from __future__ import annotations

import numpy as np
import pytest

from deai.errors import CommitmentError
from deai.verify.commitment import (
    PRIME,
    PROOF_BYTES,
    CommitmentInfo,
    bf16_bits,
    build_commitment,
    check_commitment,
    evaluate,
    injective_modulus,
    interpolate,
    parse_commitment,
)


def test_the_polynomial_passes_through_every_point() -> None:
    rng = np.random.default_rng(0)
    x = rng.choice(4096, size=128, replace=False)
    y = rng.integers(0, PRIME, size=128)
    coeffs = interpolate(x, y)
    assert len(coeffs) == 128 and coeffs.max() < PRIME
    assert (evaluate(coeffs, x) == y).all()
    assert not (evaluate(coeffs, x + 1) == y).all()  # elsewhere it answers something else


def test_bfloat16_rounds_to_nearest_even() -> None:
    values = np.array([1.0, -2.5, 3.0e-3, 1.00390625, 1.01171875], dtype=np.float32)
    bits = bf16_bits(values)
    assert bits[0] == 0x3F80 and bits[1] == 0xC020
    assert bits[3] == 0x3F80  # 1 + 2^-8 is a tie: rounds to even (down)
    assert bits[4] == 0x3F82  # 1 + 3·2^-8 is a tie: rounds to even (up)


def test_a_proof_is_258_bytes_per_32_tokens_whatever_the_width() -> None:
    rng = np.random.default_rng(1)
    for tokens, width in ((32, 128), (64, 64), (70, 128), (1, 16)):
        data = build_commitment(rng.normal(size=(tokens, width)).astype(np.float32))
        assert len(data) == PROOF_BYTES * -(-tokens // 32) and PROOF_BYTES == 258


def test_the_same_activations_pass_and_float_noise_passes() -> None:
    rng = np.random.default_rng(2)
    hidden = rng.normal(size=(96, 128)).astype(np.float32)
    proof = build_commitment(hidden)
    exact = check_commitment(hidden, proof)
    assert all(c.passed and c.exp_mismatches == 0 and c.mant_err_mean == 0 for c in exact)
    jitter = hidden * (1 + rng.normal(scale=1e-4, size=hidden.shape)).astype(np.float32)
    assert all(c.passed for c in check_commitment(jitter, proof))  # another machine's rounding


def test_other_activations_fail_every_chunk() -> None:
    rng = np.random.default_rng(3)
    proof = build_commitment(rng.normal(size=(64, 128)).astype(np.float32))
    other = check_commitment(rng.normal(size=(64, 128)).astype(np.float32), proof)
    assert not any(c.passed for c in other)
    assert min(c.exp_mismatches for c in other) > 100
    fewer = check_commitment(rng.normal(size=(32, 128)).astype(np.float32), proof)
    assert not any(c.passed for c in fewer)  # a commitment for another number of tokens


def test_malformed_commitments_are_refused_with_a_reason() -> None:
    with pytest.raises(CommitmentError, match="whole number"):
        parse_commitment(b"\x00" * 257)
    with pytest.raises(CommitmentError, match="modulus"):
        parse_commitment(b"\x00\x05" + b"\x00" * 256)
    with pytest.raises(CommitmentError, match="unsupported"):
        CommitmentInfo.from_json({"scheme": "other", "cid": "x", "tokens": 1, "chunk_tokens": 32, "topk": 128})
    with pytest.raises(CommitmentError, match="malformed"):
        CommitmentInfo.from_json({"cid": "x"})


def test_the_modulus_keeps_large_indices_distinct() -> None:
    assert injective_modulus(np.array([1, 5, 9])) == PRIME
    big = np.array([0, 70_000, 140_000, 65_497 * 3])
    m = injective_modulus(big)
    assert m <= PRIME and len(set((big % m).tolist())) == len(big)
