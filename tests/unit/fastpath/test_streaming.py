"""A streamed generation is token for token the runtime's own generation."""

from __future__ import annotations

import torch

from deai.node.fastpath.streaming import generate_tokens, prompt_ids
from deai.runtime.base import get_runtime
from deai.runtime.canonical import RunSettings, torch_settings
from deai.runtime.demo_models import demo_model_dirs
from deai.runtime.execute import text_generator_of
from deai.runtime.manifest import verify_model_dir


def test_streamed_tokens_equal_text_generator_generate() -> None:
    folder = demo_model_dirs()["textgen-small"]
    manifest = verify_model_dir(folder)
    settings = RunSettings()
    loaded = get_runtime(manifest.framework).load(folder, manifest, settings)
    text = text_generator_of(loaded)
    assert text is not None
    for seed, temperature in ((0, 1.0), (3, 0.7), (0, 0.0)):
        with torch_settings(settings):
            reference = text.generate("def parse(", 12, temperature=temperature, top_k=40, seed=seed)
        ids = prompt_ids(text, "def parse(", 12)
        streamed = list(generate_tokens(text, settings, ids, 12, temperature=temperature, top_k=40, seed=seed))
        assert streamed == reference.tokens
    assert torch.is_inference_mode_enabled() is False
