"""``wait_for``: poll a condition until it holds, failing the test when a deadline passes.

End-to-end tests watch separate processes (providers, validators, the chain) reach a state
they cannot be told about directly, so they poll.
"""

from __future__ import annotations

import time
from collections.abc import Callable


def wait_for(check: Callable[[], bool], what: str, timeout: float, *, interval: float = 0.2) -> None:
    """Return once ``check()`` is true; raise AssertionError naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
