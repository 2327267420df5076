"""Rescoring a claimed generation with one teacher-forced forward pass instead of generating.

A generation is a pure function of (model, prompt, sampling parameters, seed): token *t* is
the argmax of logits/T + Gumbel noise seeded by (seed, position) over the top-k
(``deai.runtime.textgen``). So a validator need not generate again: it feeds prompt +
claimed tokens through the model once, gets every position's logits and final hidden state
at the same time, and checks three things:

- **structure**: the prompt tokens are the model's own encoding of the prompt, the token
  count obeys ``max_tokens`` and the end-of-text rule, and the completion text is the
  decoding of the tokens — everything but the token choices follows from the spec;
- **sampling**: each claimed token wins the sampling rule under the validator's logits
  (its margin, vectorised here over all positions, is ≥ −``RESCORE_MARGIN_TOLERANCE``);
- **activations**: the provider's TOPLOC-style commitment (``commitment.py``) matches the
  validator's hidden states chunk by chunk — this is what catches a cheaper model whose
  tokens happen to agree (greedy decoding, a confident model), and a model run at another
  precision.

The one forward pass costs a fraction of generating the same tokens one by one with a KV
cache (``bench/verify.py`` measures ``rescore_cost_ratio``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from deai.errors import CommitmentError, DeaiError
from deai.runtime.canonical import generator, torch_settings
from deai.runtime.compare import RESCORE_MARGIN_TOLERANCE
from deai.runtime.execute import Executor, WorkloadResult, text_generator_of
from deai.runtime.spec import WorkloadSpec
from deai.runtime.tasks import parse_prompt
from deai.runtime.textgen import TextGenerator, sampling_seed
from deai.verify.commitment import CommitmentCheck, CommitmentInfo, check_commitment


@dataclass(frozen=True)
class RescoreReport:
    """What rescoring found; ``match`` is False when any check failed."""

    match: bool
    detail: str
    tokens: int = 0
    failing_tokens: int = 0
    worst_margin: float = 0.0
    chunks: tuple[CommitmentCheck, ...] = field(default_factory=tuple)

    @property
    def failing_chunks(self) -> int:
        return sum(1 for c in self.chunks if not c.passed)


@dataclass(frozen=True)
class TeacherForced:
    """One forward pass over prompt + claimed tokens: logits and hidden states per token."""

    logits: torch.Tensor  # (T, V) float32
    hidden: np.ndarray  # (T, d) float32


def teacher_forced(text: TextGenerator, prompt_ids: list[int], tokens: list[int]) -> TeacherForced:
    with torch.inference_mode():
        full = torch.tensor([prompt_ids + tokens[:-1]], device=text.device)
        logits, hidden, _ = text.forward(full, None)
        start = len(prompt_ids) - 1
        return TeacherForced(logits[0, start:].float().cpu(), hidden[0, start:].float().cpu().numpy())


def _gumbel_rows(seed: int, rows: int, vocab: int) -> torch.Tensor:
    """``textgen.gumbel_noise`` for positions 0..rows-1, with the logarithms taken once.

    Each row's uniform draws must come from that position's own generator; the two
    logarithms are elementwise, so taking them over the stacked rows gives the same values
    (at worst an ulp apart, far inside the margin tolerance) at a third of the cost.
    """
    uniform = torch.empty(rows, vocab, dtype=torch.float32)
    for i in range(rows):
        torch.rand(vocab, generator=generator(sampling_seed(seed, i)), dtype=torch.float32, out=uniform[i])
    return -torch.log(-torch.log(uniform))


def margins(logits: torch.Tensor, tokens: list[int], *, seed: int, temperature: float,
            top_k: int | None) -> np.ndarray:
    """Every position's margin at once (``deai.runtime.textgen.token_margin``, row-wise).

    The top-k cut is ``textgen.sampling_scores``' rule (scores below the k-th largest are
    out), found with a partial sort per row instead of a full top-k: the same threshold,
    several times cheaper on a 1024-token vocabulary.
    """
    scores = logits.float().numpy() / np.float32(temperature) if temperature else logits.float().numpy()
    target = np.asarray(tokens, dtype=np.int64)
    rows = np.arange(len(tokens))
    if temperature == 0.0:
        greedy: np.ndarray = (scores[rows, target] - scores.max(axis=1)).astype(np.float32)
        return greedy
    vocab = scores.shape[1]
    if top_k is not None and top_k < vocab:
        kth = np.partition(scores, vocab - top_k, axis=1)[:, vocab - top_k][:, None]
        scores = np.where(scores < kth, np.float32(-np.inf), scores)
    perturbed = scores + _gumbel_rows(seed, len(tokens), vocab).numpy()
    with np.errstate(invalid="ignore"):
        out: np.ndarray = (perturbed[rows, target] - perturbed.max(axis=1)).astype(np.float32)
    out[np.isnan(out)] = -np.inf  # a token outside the top-k: -inf minus -inf
    return out


def claimed_tokens(result: WorkloadResult, read: Any) -> tuple[list[int], list[int], str]:
    """(prompt tokens, tokens, completion text) from a generation's outputs; malformed → ValueError."""
    doc = json.loads(read(result.output("tokens.json").cid))
    prompt_ids, tokens = doc["prompt_tokens"], doc["tokens"]
    if not (isinstance(prompt_ids, list) and isinstance(tokens, list)
            and all(isinstance(t, int) and not isinstance(t, bool) for t in prompt_ids + tokens)):
        raise ValueError("tokens.json must hold two lists of integers")
    text = read(result.output("completion.txt").cid).decode("utf-8")
    return prompt_ids, tokens, text


def _structure(text: TextGenerator, spec: WorkloadSpec, prompt: str, prompt_ids: list[int],
               tokens: list[int], completion: str) -> str:
    """An empty string when everything but the token choices follows from the spec."""
    if not tokens:
        return "no tokens were generated"
    if any(not 0 <= t < text.vocab_size for t in tokens):
        return "a claimed token is outside the model's vocabulary"
    max_tokens = spec.params.max_tokens
    if len(tokens) > max_tokens:
        return f"{len(tokens)} tokens claimed, the spec allows {max_tokens}"
    eos = text.eos
    if eos is not None and eos in tokens[:-1]:
        return "tokens go on after the end-of-text token"
    if len(tokens) < max_tokens and (eos is None or tokens[-1] != eos):
        return f"generation stopped after {len(tokens)} of {max_tokens} tokens without end-of-text"
    expected_ids = text._prompt_ids(prompt, max_tokens)
    if prompt_ids != expected_ids:
        return "the prompt tokens are not the model's encoding of the prompt"
    body = tokens[:-1] if eos is not None and tokens[-1] == eos else tokens
    if text.tokenizer.decode(body) != completion:
        return "the completion text is not the decoding of the tokens"
    return ""


def rescore_generation(
    executor: Executor, spec: WorkloadSpec, claimed: WorkloadResult, *, commitment: bytes | None,
    require_commitment: bool = True, tolerance: float = RESCORE_MARGIN_TOLERANCE,
) -> RescoreReport:
    """Check a claimed generation in one forward pass (outputs are read from the executor's store)."""
    if spec.kind != "generate":
        return RescoreReport(False, f"a {spec.kind!r} job cannot be rescored")
    loaded = executor.load(spec.model)
    text = text_generator_of(loaded)
    if text is None:
        return RescoreReport(False, f"model {loaded.manifest.name!r} is not a text generator")
    try:
        prompt_ids, tokens, completion = claimed_tokens(claimed, executor.store.read_bytes)
    except (KeyError, ValueError, UnicodeDecodeError, DeaiError) as exc:
        return RescoreReport(False, f"unreadable generation outputs: {exc}")
    request = parse_prompt(executor.read_input(spec.inputs[0]), spec.params)
    problem = _structure(text, spec, request.prompt, prompt_ids, tokens, completion)
    if problem:
        return RescoreReport(False, problem, tokens=len(tokens))
    with torch_settings(executor.settings):
        forced = teacher_forced(text, prompt_ids, tokens)
        found = margins(forced.logits, tokens, seed=request.seed, temperature=request.temperature,
                        top_k=request.top_k)
    failing = int((found < -tolerance).sum())
    worst = float(found.min())
    chunks: tuple[CommitmentCheck, ...] = ()
    notes = [f"{failing} of {len(tokens)} tokens lose the sampling rule (worst margin {worst:.3g})"]
    commitment_ok = True
    if commitment is None:
        commitment_ok = not require_commitment
        notes.append("no activation commitment" if require_commitment else "no commitment checked")
    else:
        try:
            chunks = tuple(check_commitment(forced.hidden, commitment))
            bad = sum(1 for c in chunks if not c.passed)
            commitment_ok = bad == 0
            notes.append(f"{bad} of {len(chunks)} commitment chunks disagree")
        except CommitmentError as exc:
            commitment_ok = False
            notes.append(f"malformed commitment: {exc.message}")
    return RescoreReport(failing == 0 and commitment_ok, "; ".join(notes), tokens=len(tokens),
                         failing_tokens=failing, worst_margin=worst, chunks=chunks)


def commitment_of(result: WorkloadResult) -> CommitmentInfo | None:
    """The commitment entry of a result document, if the provider made one."""
    entry = result.result.get("commitment")
    return None if entry is None else CommitmentInfo.from_json(entry)
