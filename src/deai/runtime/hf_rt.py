"""Hugging Face causal language models: the runtime behind the ``gpu`` extra.

``framework: transformers`` loads ``AutoModelForCausalLM`` and its tokenizer from the
model folder (``local_files_only``: no hub at run time) on the run's device — CUDA on a GPU
provider, the CPU elsewhere (tests use a tiny GPT-2 built offline). Generation uses the
same verifiable sampling rule as the demo text generator
(:func:`~deai.runtime.textgen.choose_token`), so rescoring works unchanged.

With ``extra.engine: vllm`` in the manifest, a non-canonical run on CUDA uses vLLM for
throughput when the package is installed (``pip install deai[gpu]``); vLLM samples with its
own kernels, so such results are verified by tolerance or redundancy, not bit-exactness.
Canonical runs always take the transformers path.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
from pathlib import Path
from typing import Any

import torch

from deai.errors import ModelError
from deai.runtime.base import LoadedModel, Runtime
from deai.runtime.canonical import RunSettings, torch_settings
from deai.runtime.device import prepare_cuda_determinism, resolve_device
from deai.runtime.manifest import ModelManifest
from deai.runtime.tasks import GenerateRequest, OutputBlob, Request, RunOutput
from deai.runtime.textgen import TextGenerator


class _HfTokenizer:
    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer

    def encode(self, text: str) -> list[int]:
        return list(self.tokenizer.encode(text, add_special_tokens=False))

    def decode(self, ids: list[int]) -> str:
        return str(self.tokenizer.decode(ids, skip_special_tokens=True))


def _forward(model: Any) -> Any:
    # transformers 5 renamed `past_key_values` to `cache`; older releases only know the old name.
    new_api = "cache" in inspect.signature(model.forward).parameters

    def forward(ids: torch.Tensor, cache: Any) -> tuple[torch.Tensor, torch.Tensor, Any]:
        if new_api:
            out = model(input_ids=ids, cache=cache, use_cache=True, output_hidden_states=True)
            return out.logits, out.hidden_states[-1], out.cache
        out = model(input_ids=ids, past_key_values=cache, use_cache=True, output_hidden_states=True)
        return out.logits, out.hidden_states[-1], out.past_key_values

    return forward


class LoadedHf(LoadedModel):
    def __init__(self, text: TextGenerator, manifest: ModelManifest, settings: RunSettings,
                 folder: Path, vllm_engine: Any = None) -> None:
        super().__init__(manifest, settings)
        self.text = text
        self.folder = folder
        self.vllm_engine = vllm_engine

    def run(self, request: Request) -> RunOutput:
        if not isinstance(request, GenerateRequest):
            raise self.wrong_request(request)
        if self.vllm_engine is not None:
            return self._run_vllm(request)
        with torch_settings(self.settings):
            gen = self.text.generate(request.prompt, request.max_tokens, temperature=request.temperature,
                                     top_k=request.top_k, seed=request.seed)
        import json

        blobs = (
            OutputBlob("completion.txt", "text/plain; charset=utf-8", gen.text.encode("utf-8")),
            OutputBlob("tokens.json", "application/json", json.dumps(
                {"prompt_tokens": gen.prompt_tokens, "tokens": gen.tokens}, separators=(",", ":")).encode()),
        )
        result = {"prompt": request.prompt, "text": gen.text, "tokens": len(gen.tokens),
                  "temperature": request.temperature, "seed": request.seed}
        return RunOutput(blobs=blobs, result=result, tokens=len(gen.tokens),
                         extras={"hidden": gen.hidden, "logprobs": gen.logprobs})

    def _run_vllm(self, request: GenerateRequest) -> RunOutput:  # pragma: no cover - needs a GPU and vLLM
        params = importlib.import_module("vllm").SamplingParams(max_tokens=request.max_tokens, temperature=request.temperature,
                                top_k=request.top_k or -1, seed=request.seed)
        (out,) = self.vllm_engine.generate([request.prompt], params, use_tqdm=False)
        completion = out.outputs[0]
        blobs = (OutputBlob("completion.txt", "text/plain; charset=utf-8", completion.text.encode("utf-8")),)
        result = {"prompt": request.prompt, "text": completion.text, "tokens": len(completion.token_ids),
                  "temperature": request.temperature, "seed": request.seed, "engine": "vllm"}
        return RunOutput(blobs=blobs, result=result, tokens=len(completion.token_ids))


class TransformersRuntime(Runtime):
    framework = "transformers"
    tasks = frozenset({"generate"})

    def load(self, model_dir: Path, manifest: ModelManifest, settings: RunSettings) -> LoadedModel:
        self.check_task(manifest)
        from transformers import AutoModelForCausalLM, AutoTokenizer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # a per-load bar is noise in logs
        hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
        device = resolve_device(settings.device)
        folder = model_dir if manifest.entrypoint == "." else model_dir / manifest.entrypoint
        use_vllm = (manifest.extra.get("engine") == "vllm" and not settings.canonical
                    and device.startswith("cuda") and importlib.util.find_spec("vllm") is not None)
        if use_vllm:  # pragma: no cover - needs a GPU and vLLM
            engine = importlib.import_module("vllm").LLM(model=str(folder), seed=0)
            return LoadedHf(None, manifest, settings, folder, engine)  # type: ignore[arg-type]
        if device != "cpu" and settings.canonical:
            prepare_cuda_determinism()
        try:
            with torch_settings(settings):
                tokenizer = AutoTokenizer.from_pretrained(str(folder), local_files_only=True)
                model = AutoModelForCausalLM.from_pretrained(str(folder), local_files_only=True, dtype=torch.float32)
        except (OSError, ValueError) as exc:
            raise ModelError(f"transformers cannot load {manifest.name!r}: {str(exc)[:300]}") from None
        model = model.to(device).eval()  # type: ignore[arg-type]
        config: Any = model.config
        positions: Any = getattr(config, "n_positions", None) or getattr(config, "max_position_embeddings", 2048)
        context = int(positions)
        text = TextGenerator(_forward(model), _HfTokenizer(tokenizer), context=context,
                             vocab_size=int(config.vocab_size), device=device,
                             eos=getattr(config, "eos_token_id", None) if manifest.extra.get("stop_at_eos") else None)
        return LoadedHf(text, manifest, settings, folder)

    def versions(self) -> dict[str, str]:
        import transformers

        return {"transformers": transformers.__version__, "torch": torch.__version__}
