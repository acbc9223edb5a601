"""A real LensKit 2025.8 / 2026 training on small synthetic data: FlexMF, trained by torch.

FlexMF's training runs torch's intra-op pool (sized by LensKit from LK_NUM_BACKEND_THREADS
in 2025.x), so a plan that oversubscribes the CPUs slows every batch's synchronisation.
The data and epochs are small ($TRAIN_RATINGS ratings, $TRAIN_EPOCHS epochs of $TRAIN_BATCH
ratings a batch) so that a run takes seconds; $TRAIN_FAIL makes it fail after training, with
that exit status.
"""

from __future__ import annotations

import os
import sys
import time

import numpy as np
import pandas as pd
from lenskit.data import from_interactions_df
from lenskit.flexmf import FlexMFExplicitScorer


def main() -> int:
    rng = np.random.default_rng(42)
    count = int(os.environ.get("TRAIN_RATINGS", "20000"))
    ratings = pd.DataFrame(
        {
            "user_id": rng.integers(1, 2000, count),
            "item_id": rng.integers(1, 1000, count),
            "rating": rng.integers(1, 6, count).astype("float32"),
        }
    ).drop_duplicates(["user_id", "item_id"])
    data = from_interactions_df(ratings)
    started = time.perf_counter()
    model = FlexMFExplicitScorer(
        embedding_size=64,
        epochs=int(os.environ.get("TRAIN_EPOCHS", "2")),
        batch_size=int(os.environ.get("TRAIN_BATCH", "4096")),
    )
    model.train(data)
    print(f"trained FlexMF on {len(ratings)} ratings in {time.perf_counter() - started:.2f} s")
    return int(os.environ.get("TRAIN_FAIL", "0"))


if __name__ == "__main__":
    sys.exit(main())
