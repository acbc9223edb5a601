"""Train a tiny real LensKit model and save it, or batch-recommend with a saved one.

``python model_target.py save KIND PATH``: train KIND (``itemknn``: numpy-backed;
``flexmf``: keeps torch tensors) on synthetic interactions and pickle the pipeline to PATH.
``python model_target.py run PATH``: load the pipeline and recommend for its users with
LensKit's batch API (worker processes per LK_NUM_PROCS), $BATCH_ROUNDS times (1); with
$READY_FILE set, write "done" there when it finishes.
"""

from __future__ import annotations

import os
import pickle
import sys

import numpy as np
import pandas as pd
from lenskit.batch import recommend
from lenskit.data import from_interactions_df
from lenskit.pipeline import topn_pipeline

#: Sizes: big enough that the model's arrays are megabytes, small enough to train fast.
USERS, ITEMS, RATINGS = 300, 1500, 30000


def train(kind: str) -> object:
    rng = np.random.default_rng(7)
    ratings = pd.DataFrame(
        {
            "user_id": rng.integers(1, USERS + 1, RATINGS),
            "item_id": rng.integers(1, ITEMS + 1, RATINGS),
        }
    ).drop_duplicates()
    data = from_interactions_df(ratings)
    if kind == "itemknn":
        from lenskit.knn import ItemKNNScorer

        scorer = ItemKNNScorer(k=20, feedback="implicit")
    else:
        from lenskit.flexmf import FlexMFImplicitScorer

        scorer = FlexMFImplicitScorer(embedding_size=256, epochs=1)
    pipe = topn_pipeline(scorer, n=5)
    pipe.train(data)
    return pipe


def main() -> None:
    if sys.argv[1] == "save":
        with open(sys.argv[3], "wb") as out:
            pickle.dump(train(sys.argv[2]), out)
        return
    with open(sys.argv[2], "rb") as file:
        pipe = pickle.load(file)
    users = list(range(1, 61))
    for _ in range(int(os.environ.get("BATCH_ROUNDS", "1"))):
        recommend(pipe, users, n=5)
    if "READY_FILE" in os.environ:
        with open(os.environ["READY_FILE"], "w") as out:
            out.write("done\n")


if __name__ == "__main__":
    main()
