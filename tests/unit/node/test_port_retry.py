"""A node whose port was taken before it could listen is started again on another one."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from deai.errors import NodeError
from deai.testing.network import ValidatorProcess, ValidatorSpec, _ready_or_respawn


def _node(tmp: Path, port: int, says: str, code: int) -> ValidatorProcess:
    log = tmp / "validator.log"
    with log.open("ab") as out:
        process = subprocess.Popen([sys.executable, "-c", f"import sys; print({says!r}); sys.exit({code})"],
                                   stdout=out, stderr=subprocess.STDOUT)
    process.wait(timeout=30)
    node = ValidatorProcess(ValidatorSpec("validator1", ()), tmp, port, log)
    node.process = process
    return node


def test_a_taken_port_means_another_try_on_another_port(tmp_path: Path) -> None:
    first = _node(tmp_path, 4001, "error: cannot listen on 127.0.0.1:4001: Address already in use", 4)
    started: list[int] = []

    def respawn() -> ValidatorProcess:
        started.append(4002)
        # stays alive long enough to be seen ready
        log = tmp_path / "validator.log"
        with log.open("ab") as out:
            out.write(b"validator 0xabc ready at http://127.0.0.1:4002\n")
        node = ValidatorProcess(ValidatorSpec("validator1", ()), tmp_path, 4002, log)
        node.process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(5)"])
        return node

    ready = _ready_or_respawn(first, respawn, "validator validator1", 10)
    assert ready.port == 4002 and started == [4002]
    assert ready.process is not None
    ready.process.kill()


def test_any_other_failure_is_reported_at_once(tmp_path: Path) -> None:
    failed = _node(tmp_path, 4001, "error: stake below minimum", 6)
    with pytest.raises(NodeError, match="exited with code 6"):
        _ready_or_respawn(failed, lambda: pytest.fail("must not start again"), "validator validator1", 10)
