"""What the workers tests share: the real-model target script and its time limit."""

from __future__ import annotations

from pathlib import Path

#: Trains a tiny real LensKit model and saves it, or batch-recommends with a saved one.
TARGET = Path(__file__).parent / "workers" / "model_target.py"
#: Loading, measuring and spawning a worker that imports torch, on a loaded 2-CPU machine.
REAL_TIMEOUT = 400
