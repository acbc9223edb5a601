"""The real LensKit models the workers tests measure and run, trained once a session."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from workers_shared import TARGET


@pytest.fixture(scope="session")
def saved_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A numpy-backed (ItemKNN) and a torch-backed (FlexMF) pipeline, trained once."""
    folder = tmp_path_factory.mktemp("models")
    saved = {}
    for kind in ("itemknn", "flexmf"):
        path = folder / f"{kind}.pkl"
        subprocess.run(
            [sys.executable, str(TARGET), "save", kind, str(path)], check=True, timeout=600
        )
        saved[kind] = path
    return saved
