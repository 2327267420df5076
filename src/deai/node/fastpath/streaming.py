"""Token-by-token generation for streams, the same tokens as ``TextGenerator.generate``.

The runtime's ``TextGenerator.generate`` returns a whole generation; a stream needs each
token as it is chosen. ``generate_tokens`` runs the same loop (prompt pass, then one
cached forward step per token, ``choose_token`` with the same seeded Gumbel noise), so a
streamed answer is token for token the answer the job path and a validator produce. The
runtime's settings (thread count, deterministic kernels) and its lock are taken for each
step rather than for the whole stream, so a slow reader never holds the model.

``TextPieces`` turns growing token lists into text deltas: byte-level BPE tokens can end
inside a UTF-8 character, so text that ends in U+FFFD is held back until the character is
complete, and text that might be the start of a stop string is held back until it is not.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import torch

from deai.errors import InputError
from deai.runtime.canonical import RunSettings, torch_settings
from deai.runtime.textgen import TextGenerator, choose_token


def prompt_ids(text: TextGenerator, prompt: str, max_tokens: int) -> list[int]:
    """The prompt's token ids, trimmed from the left so prompt + output fit the context."""
    if max_tokens >= text.context:
        raise InputError(f"this model generates at most {text.context - 1} tokens, not {max_tokens}",
                         hint="lower max_tokens")
    ids = text.tokenizer.encode(prompt)
    if not ids:
        raise InputError("the prompt is empty", hint="send some text to continue")
    return ids[-(text.context - max_tokens):]


def generate_tokens(text: TextGenerator, settings: RunSettings, ids: list[int], max_tokens: int, *,
                    temperature: float, top_k: int | None, seed: int) -> Iterator[int]:
    """Yield each generated token id; stops after ``max_tokens`` or the end-of-text token."""
    with torch_settings(settings), torch.inference_mode():
        logits, _hidden, cache = text.forward(torch.tensor([ids], device=text.device), None)
        last = logits[0, -1].float().cpu()
    for position in range(max_tokens):
        with torch_settings(settings), torch.inference_mode():
            token = choose_token(last, seed, position, temperature, top_k)
        yield token
        if position == max_tokens - 1 or token == text.eos:
            return
        with torch_settings(settings), torch.inference_mode():
            logits, _hidden, cache = text.forward(torch.tensor([[token]], device=text.device), cache)
            last = logits[0, -1].float().cpu()


@dataclass
class TextPieces:
    """Decode a growing token list into the text deltas a stream sends."""

    text: TextGenerator
    stops: tuple[str, ...] = ()
    eos: int | None = None

    def __post_init__(self) -> None:
        self.tokens: list[int] = []
        self.sent = ""
        self.stopped = False
        self._hold = max((len(s) for s in self.stops), default=1) - 1

    def _full(self) -> str:
        ids = self.tokens[:-1] if self.tokens and self.tokens[-1] == self.eos else self.tokens
        return self.text.tokenizer.decode(ids)

    def add(self, token: int) -> str:
        """The new text this token makes safe to send ('' while held back)."""
        self.tokens.append(token)
        full = self._full()
        for stop in self.stops:
            at = full.find(stop)
            if at >= 0:
                self.stopped = True
                return self._take(full[:at])
        if full.endswith("\ufffd"):
            return ""
        return self._take(full[: len(full) - self._hold] if self._hold else full)

    def finish(self) -> str:
        """Whatever was held back, once generation is over (nothing after a stop string)."""
        if self.stopped:
            return ""
        full = self._full().rstrip("\ufffd")
        return self._take(full)

    def _take(self, upto: str) -> str:
        if len(upto) <= len(self.sent) or not upto.startswith(self.sent):
            return ""
        piece = upto[len(self.sent):]
        self.sent = upto
        return piece
