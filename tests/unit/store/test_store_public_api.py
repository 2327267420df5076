"""The public surface of deai.store: ``__all__`` names exactly what it exports."""

from __future__ import annotations

import subprocess
import sys

import deai.store as store


def test_all_lists_the_public_names() -> None:
    public = {n for n in dir(store) if n.isidentifier() and not n.startswith("_")}
    public -= {"annotations", "TYPE_CHECKING", "Any"}
    public |= set(store._LAZY)
    assert sorted(store.__all__) == sorted(public)
    for name in store.__all__:
        assert getattr(store, name) is not None


def test_importing_the_store_does_not_load_the_web_stack() -> None:
    code = "import sys, deai.store; print(any(m in sys.modules for m in ('fastapi', 'uvicorn', 'httpx')))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
