"""The public surface of deai.store: ``__all__`` names exactly what it exports."""

from __future__ import annotations

import deai.store as store


def test_all_lists_the_public_names() -> None:
    public = {n for n in dir(store) if n.isidentifier() and not n.startswith("_")}
    public -= {"annotations", "TYPE_CHECKING", "Any"}
    public |= set(store._LAZY)
    assert sorted(store.__all__) == sorted(public)
    for name in store.__all__:
        assert getattr(store, name) is not None

