"""A LensKit batch run with its work at module level (no __main__ guard): what users write
first. Under LensKit 2025.x with n_jobs=2 every spawned worker runs this file again."""

import numpy as np
import pandas as pd
from lenskit.basic import PopScorer
from lenskit.batch import recommend
from lenskit.data import from_interactions_df
from lenskit.pipeline import topn_pipeline

rng = np.random.default_rng(7)
ratings = pd.DataFrame(
    {"user_id": rng.integers(1, 21, 300), "item_id": rng.integers(1, 41, 300), "rating": 1.0}
).drop_duplicates(["user_id", "item_id"])
data = from_interactions_df(ratings)
pipe = topn_pipeline(PopScorer(), n=5)
pipe.train(data)
results = recommend(pipe, list(range(1, 11)), n=5, n_jobs=2)
print("recommended for", len(results), "users", flush=True)
