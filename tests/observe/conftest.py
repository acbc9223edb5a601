"""The process tree fixture of the observation tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from process_trees import Tree


@pytest.fixture
def tree() -> Iterator[Tree]:
    """A tree pinned to one CPU whose plan (LK_NUM_PROCS=2) gives each worker 1 thread."""
    target = Tree({"TREE_ONE_CPU": "1", "MKL_DYNAMIC": "FALSE", "LK_NUM_PROCS": "2"})
    try:
        yield target
    finally:
        target.kill()
