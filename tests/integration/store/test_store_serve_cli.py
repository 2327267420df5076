"""``deai store serve`` as a real process: prints its URL, serves, stops cleanly on SIGTERM."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
from pathlib import Path

import httpx

from deai.store import LocalStore

HELLO = "bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4"


def test_serve_answers_and_stops_on_sigterm(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    assert LocalStore(data_dir / "store").add_bytes(b"hello world\n") == HELLO
    proc = subprocess.Popen(
        [sys.executable, "-c", "from deai.cli.main import main; main()",
         "--data-dir", str(data_dir), "store", "serve", "--port", "0"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        match = re.search(r"http://127\.0\.0\.1:\d+", line)
        assert match, line
        resp = httpx.get(f"{match.group(0)}/ipfs/{HELLO}", headers={"Accept": "application/vnd.ipld.raw"},
                         timeout=10)
        assert resp.status_code == 200 and resp.content == b"hello world\n"
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
