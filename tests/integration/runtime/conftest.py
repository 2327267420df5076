"""Real runtimes on the demo models: built once (cached under build/models), added to one store."""

from __future__ import annotations

from pathlib import Path

import pytest

from deai.runtime.canonical import RunSettings
from deai.runtime.catalog import add_model
from deai.runtime.demo_models import demo_dataset_dirs, demo_model_dirs
from deai.runtime.execute import Executor
from deai.store import LocalStore


@pytest.fixture(scope="session")
def demo_dirs() -> dict[str, Path]:
    return demo_model_dirs()


@pytest.fixture(scope="session")
def rt_store(tmp_path_factory: pytest.TempPathFactory) -> LocalStore:
    return LocalStore(tmp_path_factory.mktemp("runtime-store"))


@pytest.fixture(scope="session")
def model_cids(rt_store: LocalStore, demo_dirs: dict[str, Path]) -> dict[str, str]:
    return {name: add_model(rt_store, folder)[0] for name, folder in demo_dirs.items()}


@pytest.fixture(scope="session")
def dataset_cids(rt_store: LocalStore, demo_dirs: dict[str, Path]) -> dict[str, str]:
    return {name: str(rt_store.add_path(folder)) for name, folder in demo_dataset_dirs(build=False).items()}


@pytest.fixture(scope="session")
def executor(rt_store: LocalStore, tmp_path_factory: pytest.TempPathFactory) -> Executor:
    return Executor(rt_store, cache_dir=tmp_path_factory.mktemp("runtime-cache"), settings=RunSettings())


@pytest.fixture(scope="session")
def executor_2t(rt_store: LocalStore, tmp_path_factory: pytest.TempPathFactory) -> Executor:
    """A second executor with its own cache, loading every model afresh, on two threads."""
    return Executor(rt_store, cache_dir=tmp_path_factory.mktemp("runtime-cache-2t"),
                    settings=RunSettings(threads=2))
