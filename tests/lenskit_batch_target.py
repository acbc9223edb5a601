"""A real LensKit batch recommendation on tiny synthetic data, driven by the test.

Its scorer multiplies torch matrices for every user, so each worker keeps as many threads
busy as torch's intra-op pool has. LensKit 2025.8 runs workers in processes
(LK_NUM_PROCS); LensKit 2026 runs LK_NUM_BATCH_JOBS jobs in a thread pool of this process,
each job with its own backend team of LK_NUM_BACKEND_THREADS. Each
worker appends its pid to $WORKING_FILE (if set) when it scores its first user, so the test
knows when the workers are busy; the run recommends for every user $BATCH_REPEAT times (50)
until it is killed, or $BATCH_ROUNDS times. With $PHASE_FILE set it writes there when it
starts scoring and when it is done, each with its age in seconds (from the kernel's start
time of the process), so a test can pick the scoring phase out of the doctor's timeline.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

if "TARGET_CPUS" in os.environ:  # before torch reads the affinity
    os.sched_setaffinity(0, sorted(os.sched_getaffinity(0))[: int(os.environ["TARGET_CPUS"])])

import numpy as np
import pandas as pd
import torch
from lenskit.batch import recommend
from lenskit.data import ItemList, QueryInput, from_interactions_df
from lenskit.pipeline import Component, topn_pipeline


def age() -> float:
    """Seconds since this process was started, by the kernel's clock (10 ms resolution)."""
    stat = Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()
    started = int(stat[19]) / os.sysconf("SC_CLK_TCK")  # field 22, starttime
    return time.clock_gettime(time.CLOCK_BOOTTIME) - started


def phase(name: str) -> None:
    if "PHASE_FILE" in os.environ:
        with open(os.environ["PHASE_FILE"], "a") as out:
            out.write(f"{name} {age():.3f}\n")


class MatmulScorer(Component[ItemList]):
    """Scores items at random after a burst of torch matrix products (torch's own pool)."""

    config: None
    announced = False

    def __call__(self, query: QueryInput, items: ItemList) -> ItemList:
        if not MatmulScorer.announced:
            MatmulScorer.announced = True
            phase("scoring")
            if "WORKING_FILE" in os.environ:
                with open(os.environ["WORKING_FILE"], "a") as out:
                    out.write(f"{os.getpid()}\n")
        a = torch.full((256, 256), 0.001)
        for _ in range(30):
            a = a @ a
        return ItemList(items, scores=np.random.default_rng().random(len(items)))


def main() -> None:
    rng = np.random.default_rng(42)
    ratings = pd.DataFrame(
        {"user_id": rng.integers(1, 60, 2000), "item_id": rng.integers(1, 200, 2000)}
    ).drop_duplicates()
    data = from_interactions_df(ratings)
    pipe = topn_pipeline(MatmulScorer(), n=5)
    pipe.train(data)
    users = list(ratings["user_id"].unique())
    rounds = int(os.environ.get("BATCH_ROUNDS", "0"))
    done = 0
    while not rounds or done < rounds:
        recommend(pipe, users * int(os.environ.get("BATCH_REPEAT", "50")), n=5)
        done += 1
    phase("done")


if __name__ == "__main__":
    main()
