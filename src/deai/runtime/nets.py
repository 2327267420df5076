"""The PyTorch networks deai can rebuild from a manifest's ``architecture`` block.

- ``mlp-classifier``: pixels → hidden layers → class logits (the digits classifier);
- ``causal-transformer``: a small GPT-style decoder over BPE tokens (the text generator),
  with a key/value cache for generation and the final hidden states exposed for rescoring;
- ``cvae``: a conditional variational autoencoder over 8×8 digits (the image generator).

Weights travel as safetensors (no pickle: a model from an untrusted peer cannot run code).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from deai.errors import ModelError

KVCache = list[tuple[Tensor, Tensor]]


class MlpClassifier(nn.Module):
    """``x * input_scale`` → (Linear → ReLU)* → Linear → logits."""

    def __init__(self, in_features: int = 64, hidden: tuple[int, ...] | list[int] = (64,),
                 classes: int = 10, input_scale: float = 1.0) -> None:
        super().__init__()
        self.input_scale = float(input_scale)
        sizes = [in_features, *hidden]
        self.hidden = nn.ModuleList(nn.Linear(a, b) for a, b in itertools.pairwise(sizes))
        self.out = nn.Linear(sizes[-1], classes)

    def forward(self, x: Tensor) -> Tensor:
        h = x * self.input_scale
        for layer in self.hidden:
            h = F.relu(layer(h))
        logits: Tensor = self.out(h)
        return logits


class _Block(nn.Module):
    def __init__(self, d_model: int, n_head: int) -> None:
        super().__init__()
        self.n_head = n_head
        self.ln1 = nn.LayerNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.proj = nn.Linear(d_model, d_model)
        self.ln2 = nn.LayerNorm(d_model)
        self.fc = nn.Linear(d_model, 4 * d_model)
        self.fc_out = nn.Linear(4 * d_model, d_model)

    def forward(self, x: Tensor, past: tuple[Tensor, Tensor] | None) -> tuple[Tensor, tuple[Tensor, Tensor]]:
        batch, steps, width = x.shape
        head = width // self.n_head
        q, k, v = self.qkv(self.ln1(x)).split(width, dim=2)
        q = q.view(batch, steps, self.n_head, head).transpose(1, 2)
        k = k.view(batch, steps, self.n_head, head).transpose(1, 2)
        v = v.view(batch, steps, self.n_head, head).transpose(1, 2)
        if past is not None:
            k = torch.cat([past[0], k], dim=2)
            v = torch.cat([past[1], v], dim=2)
        scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(head))
        if steps > 1:
            # Query i sits at absolute position offset + i and sees keys up to that position.
            offset = k.shape[2] - steps
            mask = torch.ones(steps, k.shape[2], dtype=torch.bool, device=x.device).tril(offset)
            scores = scores.masked_fill(~mask, float("-inf"))
        attn = F.softmax(scores, dim=-1) @ v
        x = x + self.proj(attn.transpose(1, 2).reshape(batch, steps, width))
        x = x + self.fc_out(F.gelu(self.fc(self.ln2(x))))
        return x, (k, v)


class CausalTransformer(nn.Module):
    """A GPT-style decoder with learned positions (tokens come from a BPE tokenizer)."""

    def __init__(self, vocab_size: int, d_model: int = 128, n_layer: int = 3, n_head: int = 4,
                 context: int = 256) -> None:
        super().__init__()
        if d_model % n_head:
            raise ValueError("d_model must be a multiple of n_head")
        self.context = context
        self.tok = nn.Embedding(vocab_size, d_model)
        self.pos = nn.Embedding(context, d_model)
        self.blocks = nn.ModuleList(_Block(d_model, n_head) for _ in range(n_layer))
        self.ln_f = nn.LayerNorm(d_model)
        self.head = nn.Linear(d_model, vocab_size, bias=False)

    def forward(self, idx: Tensor, past: KVCache | None = None) -> tuple[Tensor, Tensor, KVCache]:
        """Logits (B, T, V), final hidden states (B, T, d) and the updated cache."""
        offset = 0 if past is None else past[0][0].shape[2]
        steps = idx.shape[1]
        if offset + steps > self.context:
            raise ValueError(f"sequence of {offset + steps} tokens exceeds the context of {self.context}")
        positions = torch.arange(offset, offset + steps, device=idx.device)
        x = self.tok(idx) + self.pos(positions)[None]
        cache: KVCache = []
        for i, block in enumerate(self.blocks):
            x, kv = block(x, None if past is None else past[i])
            cache.append(kv)
        hidden = self.ln_f(x)
        return self.head(hidden), hidden, cache


class CVAE(nn.Module):
    """Conditional VAE: encode (image, label) → latent; decode (latent, label) → image in [0, 1]."""

    def __init__(self, pixels: int = 64, classes: int = 10, latent: int = 8, hidden: int = 256) -> None:
        super().__init__()
        self.classes = classes
        self.latent = latent
        self.enc = nn.Linear(pixels + classes, hidden)
        self.mu = nn.Linear(hidden, latent)
        self.logvar = nn.Linear(hidden, latent)
        self.dec1 = nn.Linear(latent + classes, hidden)
        self.dec2 = nn.Linear(hidden, hidden)
        self.dec_out = nn.Linear(hidden, pixels)

    def encode(self, x: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
        h = F.relu(self.enc(torch.cat([x, F.one_hot(labels, self.classes).to(x.dtype)], dim=1)))
        return self.mu(h), self.logvar(h)

    def decode(self, z: Tensor, labels: Tensor) -> Tensor:
        h = torch.cat([z, F.one_hot(labels, self.classes).to(z.dtype)], dim=1)
        h = F.relu(self.dec2(F.relu(self.dec1(h))))
        return torch.sigmoid(self.dec_out(h))

    def forward(self, x: Tensor, labels: Tensor, noise: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        mu, logvar = self.encode(x, labels)
        z = mu + noise * torch.exp(0.5 * logvar)
        return self.decode(z, labels), mu, logvar


_ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {
    "mlp-classifier": MlpClassifier,
    "causal-transformer": CausalTransformer,
    "cvae": CVAE,
}


def build_network(name: str, config: dict[str, Any]) -> nn.Module:
    """The network a manifest's architecture block names, freshly initialised."""
    from deai.errors import did_you_mean

    factory = _ARCHITECTURES.get(name)
    if factory is None:
        raise ModelError(
            f"unknown architecture {name!r}",
            hint=did_you_mean(name, _ARCHITECTURES) or f"known: {', '.join(sorted(_ARCHITECTURES))}",
        )
    try:
        return factory(**config)
    except TypeError as exc:
        raise ModelError(f"architecture {name!r} does not accept this config: {exc}") from None
