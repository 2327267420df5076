"""Importing deai.store for files alone must not pull in the web stack (RSS, start-up time)."""

from __future__ import annotations

import subprocess
import sys


def test_importing_the_store_does_not_load_the_web_stack() -> None:
    code = "import sys, deai.store; print(any(m in sys.modules for m in ('fastapi', 'uvicorn', 'httpx')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
