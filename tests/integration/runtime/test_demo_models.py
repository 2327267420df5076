"""The demo model builder: cached by recipe, complete, and lookups by name."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from deai.runtime.demo_models import (
    DEMO_DATASETS,
    DEMO_MODELS,
    build_demo_models,
    demo_dataset_dirs,
    recipe_key,
)
from deai.runtime.manifest import verify_model_dir

pytestmark = pytest.mark.integration


def test_a_second_build_is_a_cache_hit(demo_dirs: dict[str, Path]) -> None:
    started = time.perf_counter()
    again = build_demo_models(quiet=True)
    assert time.perf_counter() - started < 10
    assert again == demo_dirs and set(again) == set(DEMO_MODELS)
    root = next(iter(demo_dirs.values())).parent
    for name in ("digits", "textgen", "minilm", "datasets"):
        assert (root / ".stamps" / name).read_text().strip() == recipe_key(name)


def test_every_demo_model_and_dataset_is_complete(demo_dirs: dict[str, Path]) -> None:
    for folder in demo_dirs.values():
        verify_model_dir(folder)
    datasets = demo_dataset_dirs(build=False)
    assert set(datasets) == set(DEMO_DATASETS)
    assert all((d / "deai-dataset.json").is_file() for d in datasets.values())
