"""Text generation with verifiable sampling, and teacher-forced scoring for rescoring.

Sampling is the Gumbel-max trick with noise drawn per position from a seed derived from
``(seed, position)``: token ``t`` = argmax(logits/temperature + gumbel(seed, t)) over the
top-k candidates. That draws exactly from softmax(logits/temperature), and it lets a
validator check a claimed token from one teacher-forced forward pass: recompute the logits
for every position at once (:meth:`TextGenerator.score`), regenerate the same noise, and
look at the *margin* of the claimed token (0 when it is the argmax, negative when another
token should have won). Small negative margins come from float differences between the
incremental (KV-cache) pass and the full pass; docs/runtime.md gives the measured sizes.

:meth:`TextGenerator.score` also returns per-position log-probabilities, the top-k logits
and the final hidden states (the activations a TOPLOC-style commitment is built from).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from torch.nn import functional as F

from deai.errors import InputError, ModelError
from deai.runtime.canonical import generator
from deai.runtime.nets import CausalTransformer

TOKENIZER_FILE = "tokenizer.json"


class BpeTokenizer:
    """A byte-level BPE tokenizer (HF ``tokenizers``) read from the model's tokenizer.json."""

    def __init__(self, tokenizer: Tokenizer) -> None:
        self.tokenizer = tokenizer
        self.vocab_size = int(tokenizer.get_vocab_size())

    @classmethod
    def from_file(cls, path: Path) -> BpeTokenizer:
        try:
            return cls(Tokenizer.from_file(str(path)))
        except Exception as exc:  # tokenizers raises a bare Exception for unreadable files
            raise ModelError(f"cannot read the tokenizer {path.name}: {str(exc)[:200]}") from None

    @classmethod
    def train(cls, texts: list[str], vocab_size: int) -> BpeTokenizer:
        """Train a byte-level BPE on ``texts`` (deterministic for the same texts and size)."""
        tokenizer = Tokenizer(models.BPE())
        tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
        tokenizer.decoder = decoders.ByteLevel()
        trainer = trainers.BpeTrainer(
            vocab_size=vocab_size, initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False
        )
        tokenizer.train_from_iterator(texts, trainer)
        return cls(tokenizer)

    def to_bytes(self) -> bytes:
        return (self.tokenizer.to_str() + "\n").encode("utf-8")

    def encode(self, text: str) -> list[int]:
        return list(self.tokenizer.encode(text).ids)

    def decode(self, ids: list[int]) -> str:
        return str(self.tokenizer.decode(ids))


def sampling_seed(seed: int, position: int) -> int:
    """The RNG seed of one position's Gumbel noise: independent of batch, threads and device."""
    digest = hashlib.sha256(f"deai-sample:{seed}:{position}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


def gumbel_noise(seed: int, position: int, vocab_size: int) -> torch.Tensor:
    uniform = torch.rand(vocab_size, generator=generator(sampling_seed(seed, position)), dtype=torch.float32)
    return -torch.log(-torch.log(uniform))  # u = 0 gives -inf: that token never wins


def sampling_scores(logits: torch.Tensor, temperature: float, top_k: int | None) -> torch.Tensor:
    """Logits scaled by temperature with everything outside the top k set to -inf."""
    scores = logits.float() / temperature
    if top_k is not None and top_k < scores.shape[-1]:
        kth = torch.topk(scores, top_k).values[..., -1:]
        scores = scores.masked_fill(scores < kth, float("-inf"))
    return scores


def choose_token(logits: torch.Tensor, seed: int, position: int, temperature: float, top_k: int | None) -> int:
    if temperature == 0.0:
        return int(torch.argmax(logits))
    perturbed = sampling_scores(logits, temperature, top_k) + gumbel_noise(seed, position, logits.shape[-1])
    return int(torch.argmax(perturbed))


def token_margin(logits: torch.Tensor, token: int, seed: int, position: int,
                 temperature: float, top_k: int | None) -> float:
    """How far the claimed token is from winning the sampling rule (0 = it wins)."""
    if temperature == 0.0:
        return float(logits[token] - logits.max())
    perturbed = sampling_scores(logits, temperature, top_k) + gumbel_noise(seed, position, logits.shape[-1])
    value = float(perturbed[token] - perturbed.max())
    return value if value == value else float("-inf")  # a token outside top-k gives -inf - x


@dataclass(frozen=True)
class Generation:
    prompt_tokens: list[int]
    tokens: list[int]
    text: str
    logprobs: np.ndarray  # (T,) log p(token) at temperature 1
    hidden: np.ndarray  # (T, d) final hidden state at the position that predicted each token


@dataclass(frozen=True)
class TokenScores:
    tokens: np.ndarray  # (T,) int64
    logprobs: np.ndarray  # (T,) float32
    topk_ids: np.ndarray  # (T, k) int64
    topk_logits: np.ndarray  # (T, k) float32
    hidden: np.ndarray  # (T, d) float32
    margins: np.ndarray  # (T,) float32, see token_margin


class TokenizerLike(Protocol):
    def encode(self, text: str) -> list[int]: ...
    def decode(self, ids: list[int]) -> str: ...


#: One forward step: (token ids (1, T), cache or None) → (logits (1, T, V), final hidden
#: states (1, T, d), new cache). The CausalTransformer and Hugging Face models both fit.
Forward = Callable[[torch.Tensor, Any], tuple[torch.Tensor, torch.Tensor, Any]]


class TextGenerator:
    """A causal language model with its tokenizer: generation and teacher-forced scoring."""

    def __init__(self, forward: Forward, tokenizer: TokenizerLike, *, context: int, vocab_size: int,
                 device: str = "cpu", eos: int | None = None) -> None:
        self.forward = forward
        self.tokenizer = tokenizer
        self.context = context
        self.vocab_size = vocab_size
        self.device = device
        self.eos = eos

    @classmethod
    def for_transformer(cls, model: CausalTransformer, tokenizer: BpeTokenizer, device: str = "cpu") -> TextGenerator:
        model.eval()
        return cls(model, tokenizer, context=model.context, vocab_size=model.head.out_features, device=device)

    def _prompt_ids(self, prompt: str | list[int], max_tokens: int) -> list[int]:
        if max_tokens >= self.context:
            raise InputError(
                f"this model generates at most {self.context - 1} tokens, not {max_tokens}",
                hint="lower params.max_tokens",
            )
        ids = self.tokenizer.encode(prompt) if isinstance(prompt, str) else list(prompt)
        if not ids:
            raise InputError("the prompt is empty")
        # The prompt keeps its most recent tokens so that prompt + output fit the context.
        return ids[-(self.context - max_tokens):]

    @torch.inference_mode()
    def generate(self, prompt: str | list[int], max_tokens: int, *, temperature: float = 1.0,
                 top_k: int | None = None, seed: int = 0) -> Generation:
        ids = self._prompt_ids(prompt, max_tokens)
        logits, hidden, cache = self.forward(torch.tensor([ids], device=self.device), None)
        last_logits, last_hidden = logits[0, -1].float().cpu(), hidden[0, -1]
        tokens: list[int] = []
        logprobs: list[float] = []
        states: list[torch.Tensor] = []
        for position in range(max_tokens):
            token = choose_token(last_logits, seed, position, temperature, top_k)
            tokens.append(token)
            logprobs.append(float(F.log_softmax(last_logits, dim=-1)[token]))
            states.append(last_hidden)
            if position == max_tokens - 1 or token == self.eos:
                break
            logits, hidden, cache = self.forward(torch.tensor([[token]], device=self.device), cache)
            last_logits, last_hidden = logits[0, -1].float().cpu(), hidden[0, -1]
        text_ids = tokens[:-1] if tokens and tokens[-1] == self.eos else tokens
        return Generation(
            prompt_tokens=ids, tokens=tokens, text=self.tokenizer.decode(text_ids),
            logprobs=np.asarray(logprobs, dtype=np.float32),
            hidden=torch.stack(states).float().cpu().numpy(),
        )

    @torch.inference_mode()
    def score(self, prompt: str | list[int], tokens: list[int], *, temperature: float = 1.0,
              top_k: int | None = None, seed: int = 0, k: int = 5) -> TokenScores:
        """Teacher-forced pass over prompt + claimed tokens: one forward, every position at once."""
        if not tokens:
            raise InputError("no tokens to score")
        if any(not 0 <= t < self.vocab_size for t in tokens):
            raise InputError("a claimed token id is outside the model's vocabulary")
        ids = self._prompt_ids(prompt, len(tokens))
        full = torch.tensor([ids + tokens[:-1]], device=self.device)
        logits, hidden, _ = self.forward(full, None)
        start = len(ids) - 1
        logits = logits[0, start:].float().cpu()
        hidden = hidden[0, start:].float().cpu()
        target = torch.tensor(tokens)
        logprobs = F.log_softmax(logits, dim=-1).gather(1, target[:, None])[:, 0]
        top = torch.topk(logits, min(k, logits.shape[-1]), dim=-1)
        margins = [token_margin(logits[i], tokens[i], seed, i, temperature, top_k) for i in range(len(tokens))]
        return TokenScores(
            tokens=target.numpy().astype(np.int64), logprobs=logprobs.numpy().astype(np.float32),
            topk_ids=top.indices.numpy().astype(np.int64), topk_logits=top.values.numpy().astype(np.float32),
            hidden=hidden.numpy().astype(np.float32), margins=np.asarray(margins, dtype=np.float32),
        )
