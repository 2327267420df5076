"""The PyTorch runtime: networks from :mod:`deai.runtime.nets`, weights from safetensors.

One runtime, three tasks, picked by the manifest's architecture: ``mlp-classifier``
(classify), ``causal-transformer`` (generate, with :class:`~deai.runtime.textgen.TextGenerator`)
and ``cvae`` (image). Every call runs inside :func:`~deai.runtime.canonical.torch_settings`
so thread count and deterministic kernels are what the run settings say.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file
from torch import nn

from deai.errors import InputError, ModelError
from deai.runtime.base import LoadedModel, Runtime
from deai.runtime.canonical import RunSettings, generator, torch_settings
from deai.runtime.device import prepare_cuda_determinism, resolve_device
from deai.runtime.manifest import ModelManifest
from deai.runtime.nets import CVAE, CausalTransformer, MlpClassifier, build_network
from deai.runtime.tasks import (
    ClassifyRequest,
    GenerateRequest,
    ImageRequest,
    OutputBlob,
    Request,
    RunOutput,
    classify_output,
    image_output,
)
from deai.runtime.textgen import TOKENIZER_FILE, BpeTokenizer, TextGenerator


def load_weights(network: nn.Module, path: Path) -> None:
    try:
        state = load_file(str(path))
    except (SafetensorError, OSError) as exc:
        raise ModelError(f"cannot read weights {path.name}: {exc}") from None
    # Weights may be stored with a "model." prefix (training checkpoints) or bare.
    state = {k.removeprefix("model."): v for k, v in state.items() if not k.startswith("optim.")}
    try:
        missing, unexpected = network.load_state_dict(state, strict=False)
    except RuntimeError as exc:  # tensor shapes that do not fit the architecture
        raise ModelError(f"weights {path.name} do not fit the architecture: {str(exc)[:200]}") from None
    if missing or unexpected:
        raise ModelError(
            f"weights {path.name} do not fit the architecture "
            f"(missing {sorted(missing)[:3]}, unexpected {sorted(unexpected)[:3]})"
        )


def load_network(model_dir: Path, manifest: ModelManifest, device: str = "cpu") -> nn.Module:
    """Rebuild the manifest's architecture and load its safetensors weights."""
    if manifest.architecture is None:
        raise ModelError(f"model {manifest.name!r} has no architecture block for the PyTorch runtime")
    network = build_network(manifest.architecture.name, manifest.architecture.config)
    entry = manifest.extra.get("weights", manifest.entrypoint)
    load_weights(network, model_dir / str(entry))
    return network.to(device).eval()


class LoadedTorch(LoadedModel):
    def __init__(self, network: nn.Module, manifest: ModelManifest, settings: RunSettings,
                 text: TextGenerator | None = None) -> None:
        super().__init__(manifest, settings)
        self.network = network
        self.text = text

    def run(self, request: Request) -> RunOutput:
        with torch_settings(self.settings):
            if isinstance(request, ClassifyRequest) and isinstance(self.network, MlpClassifier):
                return self._classify(request)
            if isinstance(request, GenerateRequest) and self.text is not None:
                return self._generate(request)
            if isinstance(request, ImageRequest) and isinstance(self.network, CVAE):
                return self._image(request)
        raise self.wrong_request(request)

    @torch.inference_mode()
    def _classify(self, request: ClassifyRequest) -> RunOutput:
        pixels = torch.from_numpy(request.pixels).to(self.settings.device)
        if pixels.shape[1] != self.network.hidden[0].in_features:  # type: ignore[union-attr,index]
            raise InputError(f"input has {pixels.shape[1]} features; the model takes "
                             f"{self.network.hidden[0].in_features}")  # type: ignore[union-attr,index]
        logits = self.network(pixels)
        probs = torch.softmax(logits, dim=1).cpu().numpy()
        return classify_output(probs, self.manifest.labels, logits.cpu().numpy())

    def _generate(self, request: GenerateRequest) -> RunOutput:
        assert self.text is not None
        gen = self.text.generate(request.prompt, request.max_tokens, temperature=request.temperature,
                                 top_k=request.top_k, seed=request.seed)
        tokens_doc = {"prompt_tokens": gen.prompt_tokens, "tokens": gen.tokens}
        blobs = (
            OutputBlob("completion.txt", "text/plain; charset=utf-8", gen.text.encode("utf-8")),
            OutputBlob("tokens.json", "application/json",
                       json.dumps(tokens_doc, separators=(",", ":")).encode()),
        )
        result = {"prompt": request.prompt, "text": gen.text, "tokens": len(gen.tokens),
                  "temperature": request.temperature, "seed": request.seed}
        return RunOutput(blobs=blobs, result=result, tokens=len(gen.tokens),
                         extras={"hidden": gen.hidden, "logprobs": gen.logprobs})

    @torch.inference_mode()
    def _image(self, request: ImageRequest) -> RunOutput:
        net = self.network
        assert isinstance(net, CVAE)
        z = torch.randn(request.count, net.latent, generator=generator(request.seed), dtype=torch.float32)
        labels = torch.full((request.count,), request.label, dtype=torch.long)
        images = net.decode(z.to(self.settings.device), labels.to(self.settings.device)).cpu().numpy()
        side = round(images.shape[1] ** 0.5)
        return image_output(images.astype(np.float32), request, side)


class TorchRuntime(Runtime):
    framework = "torch"
    tasks = frozenset({"classify", "generate", "image"})

    def load(self, model_dir: Path, manifest: ModelManifest, settings: RunSettings) -> LoadedModel:
        self.check_task(manifest)
        device = resolve_device(settings.device)
        if device != "cpu" and settings.canonical:
            prepare_cuda_determinism()
        network = load_network(model_dir, manifest, device)
        text = None
        if isinstance(network, CausalTransformer):
            text = TextGenerator.for_transformer(network, BpeTokenizer.from_file(model_dir / TOKENIZER_FILE), device)
        return LoadedTorch(network, manifest, settings, text)

    def versions(self) -> dict[str, str]:
        return {"torch": torch.__version__}
