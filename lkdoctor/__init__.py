"""lkdoctor: the `lenskit doctor` command.

How many CPUs this process really has, what LensKit will do with them, and
whether the result oversubscribes the machine.

``lkdoctor.collect(...)`` is :func:`lkdoctor.pipeline.collect`, loaded on first use so
``import lkdoctor`` stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from lkdoctor.version import __version__

if TYPE_CHECKING:
    from lkdoctor.pipeline import collect

__all__ = ["__version__", "collect"]


def __getattr__(name: str) -> Any:
    if name == "collect":
        from lkdoctor.pipeline import collect

        return collect
    raise AttributeError(f"module 'lkdoctor' has no attribute {name!r}")
