"""Verifiable sampling and teacher-forced scoring on a tiny random transformer."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from deai.errors import InputError, ModelError
from deai.runtime.canonical import RunSettings, torch_settings
from deai.runtime.nets import CausalTransformer, build_network
from deai.runtime.textgen import (
    BpeTokenizer,
    TextGenerator,
    choose_token,
    gumbel_noise,
    sampling_seed,
    token_margin,
)

TEXT = "the quick brown fox jumps over the lazy dog. " * 40


@pytest.fixture(scope="module")
def tokenizer() -> BpeTokenizer:
    return BpeTokenizer.train([TEXT], vocab_size=300)


def tiny(tokenizer: BpeTokenizer, seed: int = 0) -> TextGenerator:
    torch.manual_seed(seed)
    model = CausalTransformer(vocab_size=tokenizer.vocab_size, d_model=32, n_layer=2, n_head=4, context=48)
    return TextGenerator.for_transformer(model, tokenizer)


def test_tokenizer_round_trip_and_bytes(tokenizer: BpeTokenizer) -> None:
    ids = tokenizer.encode("the lazy dog")
    assert tokenizer.decode(ids) == "the lazy dog"
    assert len(ids) < len("the lazy dog")  # merges happened
    assert BpeTokenizer.train([TEXT], vocab_size=300).to_bytes() == tokenizer.to_bytes()


def test_sampling_seed_and_noise_are_fixed_functions() -> None:
    assert sampling_seed(1, 2) == sampling_seed(1, 2) != sampling_seed(1, 3)
    assert torch.equal(gumbel_noise(5, 0, 10), gumbel_noise(5, 0, 10))
    assert not torch.equal(gumbel_noise(5, 0, 10), gumbel_noise(6, 0, 10))


def test_gumbel_max_draws_from_the_softmax() -> None:
    logits = torch.tensor([2.0, 1.0, 0.0, -1.0])
    draws = np.bincount([choose_token(logits, 11, i, 1.0, None) for i in range(4000)], minlength=4)
    expected = torch.softmax(logits, 0).numpy() * 4000
    assert np.abs(draws - expected).max() < 4 * np.sqrt(expected.max())
    # top-k keeps the draw among the k best; temperature 0 is argmax
    assert {choose_token(logits, 3, i, 1.0, 2) for i in range(200)} == {0, 1}
    assert choose_token(logits, 3, 0, 0.0, None) == 0


def test_margin_is_zero_for_the_chosen_token_and_negative_otherwise() -> None:
    logits = torch.tensor([0.5, 0.2, 0.1])
    chosen = choose_token(logits, 1, 4, 0.7, None)
    assert token_margin(logits, chosen, 1, 4, 0.7, None) == 0.0
    other = (chosen + 1) % 3
    assert token_margin(logits, other, 1, 4, 0.7, None) < 0
    assert token_margin(logits, 2, 1, 4, 0.7, 1) == float("-inf") or chosen == 2


def test_generation_is_reproducible_and_seed_dependent(tokenizer: BpeTokenizer) -> None:
    gen = tiny(tokenizer)
    with torch_settings(RunSettings()):
        a = gen.generate("the quick", 12, temperature=1.0, seed=1)
        b = gen.generate("the quick", 12, temperature=1.0, seed=1)
        c = gen.generate("the quick", 12, temperature=1.0, seed=2)
    assert a.tokens == b.tokens and a.text == b.text
    assert np.array_equal(a.hidden, b.hidden) and a.hidden.shape == (12, 32)
    assert a.tokens != c.tokens


def test_rescoring_accepts_honest_tokens_and_flags_a_swapped_model(tokenizer: BpeTokenizer) -> None:
    honest, other = tiny(tokenizer, 0), tiny(tokenizer, 1)
    with torch_settings(RunSettings()):
        gen = honest.generate("the lazy", 20, temperature=0.9, top_k=50, seed=7)
        scores = honest.score("the lazy", gen.tokens, temperature=0.9, top_k=50, seed=7)
        swapped = other.score("the lazy", gen.tokens, temperature=0.9, top_k=50, seed=7)
    # the KV-cache pass and the full pass agree to float precision
    assert scores.margins.min() > -1e-4
    np.testing.assert_allclose(scores.logprobs, gen.logprobs, atol=1e-4)
    np.testing.assert_allclose(scores.hidden, gen.hidden, atol=1e-4)
    assert scores.topk_ids.shape == (20, 5)
    # a different model's distribution makes many claimed tokens lose the sampling rule
    assert (swapped.margins < -1e-3).mean() > 0.5


def test_limits(tokenizer: BpeTokenizer) -> None:
    gen = tiny(tokenizer)
    with pytest.raises(InputError, match="at most 47"):
        gen.generate("the", 48)
    with pytest.raises(InputError, match="empty"):
        gen.generate("", 4)
    with pytest.raises(InputError, match="vocabulary"):
        gen.score("the", [10_000])
    with pytest.raises(InputError):
        gen.score("the", [])
    # long prompts keep their last tokens so prompt + output fit the context
    long = gen.generate("the quick brown fox " * 30, 8, temperature=0.0)
    assert len(long.prompt_tokens) == 40


def test_incremental_forward_matches_full_forward() -> None:
    torch.manual_seed(0)
    model = CausalTransformer(vocab_size=50, d_model=32, n_layer=2, n_head=4, context=16).eval()
    ids = torch.randint(0, 50, (1, 10))
    with torch.no_grad():
        full, _, _ = model(ids)
        logits, _, cache = model(ids[:, :6])
        steps = [logits[0, -1]]
        for i in range(6, 10):
            logits, _, cache = model(ids[:, i:i + 1], cache)
            steps.append(logits[0, -1])
    torch.testing.assert_close(torch.stack(steps[:-1]), full[0, 5:9], atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="context"):
        model(torch.zeros(1, 17, dtype=torch.long))


def test_build_network_errors() -> None:
    with pytest.raises(ModelError, match="did you mean 'cvae'"):
        build_network("cvea", {})
    with pytest.raises(ModelError, match="does not accept"):
        build_network("cvae", {"wings": 2})
