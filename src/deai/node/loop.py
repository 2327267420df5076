"""The one loop every daemon runs: tick until told to stop, never die of a failing tick."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from deai.errors import DeaiError


def run_ticks(
    tick: Callable[[], None], stop: threading.Event, interval_s: float, log: logging.Logger
) -> None:
    """Call ``tick`` every ``interval_s`` until ``stop`` is set; log a failure and go on.

    A daemon must survive a chain that hiccups or a peer that lies: the next tick retries.
    """
    while not stop.is_set():
        try:
            tick()
        except DeaiError as exc:
            log.warning("tick failed: %s", exc)
        except Exception:
            log.exception("tick failed unexpectedly")
        stop.wait(interval_s)
