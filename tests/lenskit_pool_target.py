"""A LensKit program for the wrapper tests: it sets up LensKit's pools, keeps the Rayon pool
busy training item k-NN for a moment, and starts one plain Python child meanwhile.

It prints ``lenskit PID CHILD`` as its last line, so the test knows which process ran
LensKit and which is its child, whatever wrapper (``bash -c``, ``env``) started it.
Works with LensKit 2025.8 and 2026.x.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pandas as pd
from lenskit.data import from_interactions_df
from lenskit.knn import ItemKNNScorer
from lenskit.parallel import ensure_parallel_init


def main() -> None:
    ensure_parallel_init()  # LensKit's Rayon pool (and torch's, BLAS) as LensKit sizes them
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(1.5)"])
    rng = np.random.default_rng(7)
    ratings = pd.DataFrame(
        {
            "user_id": rng.integers(1, 400, 20000),
            "item_id": rng.integers(1, 800, 20000),
            "rating": rng.integers(1, 6, 20000).astype(np.float32),
        }
    ).drop_duplicates(["user_id", "item_id"])
    data = from_interactions_df(ratings)
    for _ in range(int(os.environ.get("POOL_ROUNDS", "3"))):
        ItemKNNScorer(k=20).train(data)
    child.wait()
    print("lenskit", os.getpid(), child.pid, flush=True)


if __name__ == "__main__":
    main()
