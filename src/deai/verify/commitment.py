"""TOPLOC-style activation commitments: a 258-byte locality-sensitive signature per 32 tokens.

The scheme is the one the TOPLOC paper publishes (Ong et al., 2025, arXiv:2501.16007) and
its authors' ``toploc`` package implements; that package's prebuilt extension does not load
against this project's PyTorch (2.13, CPU: an undefined ``at::TensorBase`` symbol), so the
same encoding is written here with numpy:

1. the provider's final hidden states (one row per generated token) are cut into chunks
   of ``chunk_tokens`` rows (32) and each chunk is flattened;
2. the ``topk`` (128) entries of largest magnitude are kept: their flat indices ``x`` and
   their values rounded to bfloat16, whose 16 bits are ``y``;
3. the unique polynomial of degree < k through the points ``(x mod m, y)`` over the prime
   field GF(65497) is computed (Newton's divided differences), ``m`` being the largest
   modulus ≤ 65497 under which the indices stay distinct;
4. a chunk's proof is ``m`` then the k coefficients, two bytes each, big-endian:
   2 + 2·128 = **258 bytes per 32 tokens**. A short chunk's polynomial is padded with zero
   coefficients, so every proof has the same length and needs no header.

A validator recomputes the hidden states in one teacher-forced pass, takes its *own* top-k
indices of each chunk, evaluates the committed polynomial there — which yields the
provider's bfloat16 bits at those positions if, and only if, the provider's top-k sat at
the same positions — and compares exponents and mantissas. Honest runs on other hardware
move activations by float rounding, which leaves exponents alone and mantissas within a few
units; another model, another prompt or another precision puts large activations elsewhere
and the polynomial answers noise there. ``CommitmentCheck`` holds the three error measures
the paper uses (exponent mismatches, mean and median mantissa difference) and
``THRESHOLDS`` the acceptance bounds (docs/verification.md gives the measurements).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

import numpy as np

from deai.errors import CommitmentError

if TYPE_CHECKING:
    from deai.runtime.execute import WorkloadResult
    from deai.runtime.spec import WorkloadSpec

SCHEME = "toploc-bf16-v1"
PRIME = 65497
"""The field's prime (the largest prime below 2**16 that leaves room for bfloat16 bits)."""
CHUNK_TOKENS = 32
TOPK = 128
PROOF_BYTES = 2 + 2 * TOPK


@dataclass(frozen=True)
class Thresholds:
    """When a chunk passes: every bound must hold (each measure grows with the error)."""

    max_exp_mismatches: int = 32
    """Out of k: a quarter of the top-k may sit elsewhere (near-ties between activations)."""
    max_mant_mean: float = 10.0
    max_mant_median: float = 8.0


THRESHOLDS = Thresholds()


@dataclass(frozen=True)
class CommitmentCheck:
    """One chunk's comparison: exponent mismatches out of ``k``, mantissa differences."""

    chunk: int
    k: int
    exp_mismatches: int
    mant_err_mean: float
    mant_err_median: float
    passed: bool


@dataclass(frozen=True)
class CommitmentInfo:
    """What a result document records about its commitment (the bytes live at ``cid``)."""

    cid: str
    tokens: int
    scheme: str = SCHEME
    chunk_tokens: int = CHUNK_TOKENS
    topk: int = TOPK

    def to_json(self) -> dict[str, Any]:
        return {"scheme": self.scheme, "cid": self.cid, "tokens": self.tokens,
                "chunk_tokens": self.chunk_tokens, "topk": self.topk}

    @classmethod
    def from_json(cls, data: Any) -> CommitmentInfo:
        """Parse the ``commitment`` entry of a result document; malformed → CommitmentError."""
        if not isinstance(data, dict):
            raise CommitmentError("the result document's commitment is not an object")
        try:
            info = cls(cid=str(data["cid"]), tokens=int(data["tokens"]), scheme=str(data["scheme"]),
                       chunk_tokens=int(data["chunk_tokens"]), topk=int(data["topk"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise CommitmentError(f"the commitment entry is malformed: {exc}") from None
        if info.scheme != SCHEME or info.chunk_tokens != CHUNK_TOKENS or info.topk != TOPK:
            raise CommitmentError(
                f"unsupported commitment {info.scheme} (chunk {info.chunk_tokens}, top-{info.topk})",
                hint=f"deai validators check {SCHEME} with chunks of {CHUNK_TOKENS} and top-{TOPK}",
            )
        return info


# --- field arithmetic ------------------------------------------------------------------------


@cache
def _inverses() -> np.ndarray:
    """a → a⁻¹ mod PRIME for every residue (0 maps to 0), by Fermat: a^(p-2)."""
    base = np.arange(PRIME, dtype=np.int64)
    result = np.ones(PRIME, dtype=np.int64)
    exponent = PRIME - 2
    while exponent:
        if exponent & 1:
            result = result * base % PRIME
        base = base * base % PRIME
        exponent >>= 1
    return result


def interpolate(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Coefficients (ascending) of the polynomial through (x, y) over GF(PRIME); x distinct."""
    xs = np.asarray(x, dtype=np.int64) % PRIME
    dd = np.asarray(y, dtype=np.int64) % PRIME
    n = len(xs)
    inv = _inverses()
    for k in range(1, n):  # Newton's divided differences, in place, one level at a time
        denom = (xs[k:] - xs[:-k]) % PRIME
        dd[k:] = (dd[k:] - dd[k - 1:-1]) % PRIME * inv[denom] % PRIME
    coeffs = np.zeros(n, dtype=np.int64)
    factor = np.zeros(n, dtype=np.int64)
    factor[0] = 1  # the product (X - x_0)…(X - x_{i-1}), ascending
    for i in range(n):
        coeffs[: i + 1] = (coeffs[: i + 1] + dd[i] * factor[: i + 1]) % PRIME
        if i + 1 < n:
            shifted = np.concatenate(([0], factor[: i + 1]))
            factor[: i + 2] = (shifted - xs[i] * factor[: i + 2]) % PRIME
    return coeffs


def evaluate(coeffs: np.ndarray, x: np.ndarray) -> np.ndarray:
    """The polynomial at every point of ``x`` (Horner's rule, vectorised over the points)."""
    points = np.asarray(x, dtype=np.int64) % PRIME
    result = np.zeros(points.shape, dtype=np.int64)
    for c in coeffs[::-1]:
        result = (result * points + int(c)) % PRIME
    return result


def injective_modulus(x: np.ndarray) -> int:
    """The largest m ≤ PRIME under which the indices stay distinct (as TOPLOC picks it)."""
    values = np.asarray(x, dtype=np.int64)
    if len(values) and int(values.max()) < PRIME:
        return PRIME
    for m in range(PRIME, 2**15, -1):
        if len(np.unique(values % m)) == len(values):
            return m
    raise CommitmentError("no modulus keeps these activation indices distinct")


# --- bfloat16 --------------------------------------------------------------------------------


def bf16_bits(values: np.ndarray) -> np.ndarray:
    """float32 → the 16 bits of bfloat16 (round to nearest, ties to even), as int64."""
    bits = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32).astype(np.int64)
    rounded = (bits + 0x7FFF + ((bits >> 16) & 1)) >> 16
    return rounded & 0xFFFF


def _exponent(bits: np.ndarray) -> np.ndarray:
    return (bits >> 7) & 0xFF


def _mantissa(bits: np.ndarray) -> np.ndarray:
    return bits & 0x7F


def _top(flat: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k largest magnitudes, largest first; equal magnitudes rank by index."""
    magnitude = np.abs(flat)
    if k < flat.size:
        # Everything strictly above the k-th largest magnitude, then ties at it by index:
        # the same set on every machine, without sorting the whole chunk.
        kth = np.partition(magnitude, flat.size - k)[flat.size - k]
        above = np.flatnonzero(magnitude > kth)
        ties = np.flatnonzero(magnitude == kth)[: k - above.size]
        chosen = np.concatenate((above, ties))
    else:
        chosen = np.arange(flat.size)
    order = np.lexsort((chosen, -magnitude[chosen]))
    return chosen[order]


def _chunks(hidden: np.ndarray, chunk_tokens: int) -> list[np.ndarray]:
    if hidden.ndim != 2 or hidden.shape[0] == 0:
        raise CommitmentError(f"hidden states must be (tokens, width), not {hidden.shape}")
    return [hidden[i:i + chunk_tokens].reshape(-1) for i in range(0, hidden.shape[0], chunk_tokens)]


# --- build and check -------------------------------------------------------------------------


def build_commitment(hidden: np.ndarray, *, chunk_tokens: int = CHUNK_TOKENS, topk: int = TOPK) -> bytes:
    """The proofs of every chunk of ``hidden`` (tokens × width), concatenated."""
    proofs = []
    for flat in _chunks(np.asarray(hidden, dtype=np.float32), chunk_tokens):
        k = min(topk, flat.size)
        index = _top(flat, k)
        m = injective_modulus(index)
        coeffs = np.zeros(topk, dtype=np.int64)
        coeffs[:k] = interpolate(index % m, bf16_bits(flat[index]))
        proofs.append(m.to_bytes(2, "big") + coeffs.astype(">u2").tobytes())
    return b"".join(proofs)


def parse_commitment(data: bytes, *, topk: int = TOPK) -> list[tuple[int, np.ndarray]]:
    """(modulus, coefficients) per chunk; a length that is not a whole number of proofs is malformed."""
    size = 2 + 2 * topk
    if not data or len(data) % size:
        raise CommitmentError(f"a commitment is a whole number of {size}-byte proofs, not {len(data)} bytes")
    proofs = []
    for start in range(0, len(data), size):
        m = int.from_bytes(data[start:start + 2], "big")
        if not 2**15 < m <= PRIME:
            raise CommitmentError(f"proof {start // size} names modulus {m}, outside ({2**15}, {PRIME}]")
        coeffs = np.frombuffer(data[start + 2:start + size], dtype=">u2").astype(np.int64)
        proofs.append((m, coeffs))
    return proofs


def check_commitment(
    hidden: np.ndarray, data: bytes, *, chunk_tokens: int = CHUNK_TOKENS, topk: int = TOPK,
    thresholds: Thresholds = THRESHOLDS,
) -> list[CommitmentCheck]:
    """Compare the validator's hidden states with the committed proofs, chunk by chunk.

    A commitment with another number of chunks than the hidden states fails every chunk
    it cannot pair (it was made for another generation).
    """
    proofs = parse_commitment(data, topk=topk)
    chunks = _chunks(np.asarray(hidden, dtype=np.float32), chunk_tokens)
    checks = []
    for i, flat in enumerate(chunks):
        k = min(topk, flat.size)
        if i >= len(proofs) or len(proofs) != len(chunks):
            checks.append(CommitmentCheck(i, k, k, float("inf"), float("inf"), False))
            continue
        m, coeffs = proofs[i]
        index = _top(flat, k)
        claimed = evaluate(coeffs, index % m)
        mine = bf16_bits(flat[index])
        exp_mismatch = _exponent(claimed) != _exponent(mine)
        mant_err = np.abs(_mantissa(claimed) - _mantissa(mine))[~exp_mismatch]
        mismatches = int(exp_mismatch.sum())
        mean = float(mant_err.mean()) if mant_err.size else float("inf")
        median = float(np.sort(mant_err)[mant_err.size // 2]) if mant_err.size else float("inf")
        passed = (mismatches <= thresholds.max_exp_mismatches and mean <= thresholds.max_mant_mean
                  and median <= thresholds.max_mant_median)
        checks.append(CommitmentCheck(i, k, mismatches, mean, median, passed))
    return checks


def with_commitment(result: WorkloadResult, spec: WorkloadSpec, add_bytes: Callable[[bytes], object]) -> WorkloadResult:
    """A ``rescore`` generation's result with its activation commitment stored and named.

    The commitment bytes go into the store (``add_bytes``) and their CID into the result
    document's ``result["commitment"]``; the document is what the provider commits on chain
    (its CID is the output CID), so the commitment is bound to the job without a new field
    on chain. Other results are returned unchanged.
    """
    hidden = result.extras.get("hidden")
    if spec.verification.mode != "rescore" or hidden is None or len(hidden) == 0:
        return result
    info = CommitmentInfo(cid=str(add_bytes(build_commitment(hidden))), tokens=int(hidden.shape[0]))
    updated = result.model_copy(update={"result": {**result.result, "commitment": info.to_json()}})
    updated._extras = dict(result.extras)
    return updated
