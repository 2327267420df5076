"""Dataset folders, shifted digits, and the training state / checkpoint chain on a tiny model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from deai.errors import InputError
from deai.runtime.canonical import RunSettings
from deai.runtime.datasets import read_dataset, shift_images, write_dataset
from deai.runtime.nets import MlpClassifier
from deai.runtime.spec import Params
from deai.runtime.train import (
    Checkpoint,
    Trainer,
    TrainingRecord,
    chain_link,
    check_chain,
    checkpoint_steps,
)


def test_dataset_round_trip_and_stable_bytes(tmp_path: Path) -> None:
    x = np.arange(12, dtype=np.float64).reshape(4, 3)
    y = np.array([0, 1, 2, 1])
    manifest = write_dataset(tmp_path / "a", x, y, name="toy", license="CC0-1.0")
    write_dataset(tmp_path / "b", x, y, name="toy", license="CC0-1.0")
    for name in ("x.npy", "y.npy", "deai-dataset.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    data = read_dataset(tmp_path / "a")
    assert data.x.dtype == np.float32 and data.y.dtype == np.int64 and manifest.classes == 3


def test_dataset_errors(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match=r"deai-dataset\.json"):
        read_dataset(tmp_path / "empty")
    write_dataset(tmp_path / "d", np.zeros((2, 2)), np.array([0, 1]), name="d", license="CC0-1.0")
    (tmp_path / "d" / "y.npy").write_bytes((tmp_path / "d" / "y.npy").read_bytes()[:-1] + b"\x05")
    with pytest.raises(InputError, match="does not match"):
        read_dataset(tmp_path / "d")


def test_shift_images_moves_pixels_and_fills_zeros() -> None:
    image = np.arange(1, 65, dtype=np.float32).reshape(1, 64)
    shifted = shift_images(image, 1, 1).reshape(8, 8)
    original = image.reshape(8, 8)
    assert (shifted[0] == 0).all() and (shifted[:, 0] == 0).all()
    assert np.array_equal(shifted[1:, 1:], original[:-1, :-1])
    assert np.array_equal(shift_images(shift_images(image, 0, 1), 0, -1).reshape(8, 8)[:, :-1], original[:, :-1])


def test_checkpoint_steps_and_chain() -> None:
    assert checkpoint_steps(10, 4) == [0, 4, 8, 10]
    assert checkpoint_steps(8, 4) == [0, 4, 8]
    links: list[Checkpoint] = []
    previous = None
    for step, cid in [(0, "bafyA"), (4, "bafyB"), (8, "bafyC")]:
        previous = chain_link(previous, cid, "bafySpec")
        links.append(Checkpoint(step=step, cid=cid, link=previous))
    assert previous is not None
    record = TrainingRecord(spec_cid="bafySpec", parent_model="m", dataset="d", total_steps=8, checkpoint_every=4,
                            checkpoints=tuple(links), chain_head=previous, final_loss=0.1, train_accuracy=1.0)
    assert check_chain(record)
    forged = record.model_copy(update={"checkpoints": (links[0], links[1].model_copy(update={"cid": "bafyX"}),
                                                       links[2])})
    assert not check_chain(forged)
    assert not check_chain(record.model_copy(update={"spec_cid": "bafyOther"}))


def _toy_trainer(tmp_path: Path, seed: int = 0) -> Trainer:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 4))
    y = (x[:, 0] > 0).astype(np.int64)
    write_dataset(tmp_path / "toy", x, y, name="toy", license="CC0-1.0", classes=2)
    torch.manual_seed(0)
    network = MlpClassifier(in_features=4, hidden=[8], classes=2)
    return Trainer(network, read_dataset(tmp_path / "toy"), Params(epochs=3, batch_size=8, seed=seed,
                                                                     learning_rate=0.05), RunSettings())


def test_trainer_state_round_trips_and_segments_replay_exactly(tmp_path: Path) -> None:
    full = _toy_trainer(tmp_path)
    assert full.total_steps == 15
    full.run_until(6)
    middle = full.state_bytes()
    assert middle == full.state_bytes()  # serialising is stable
    full.run_until(15)
    end = full.state_bytes()
    replay = _toy_trainer(tmp_path)
    replay.restore(middle)
    assert replay.step == 6
    replay.run_until(15)
    assert replay.state_bytes() == end
    other_seed = _toy_trainer(tmp_path, seed=1)
    other_seed.restore(middle)
    other_seed.run_until(15)
    assert other_seed.state_bytes() != end


def test_restore_refuses_foreign_bytes(tmp_path: Path) -> None:
    trainer = _toy_trainer(tmp_path)
    with pytest.raises(InputError):
        trainer.restore(b"not safetensors")
    torch.manual_seed(0)
    other = Trainer(MlpClassifier(in_features=4, hidden=[3], classes=2), trainer.dataset, trainer.params,
                    RunSettings())
    with pytest.raises(InputError, match="does not belong"):
        trainer.restore(other.state_bytes())
