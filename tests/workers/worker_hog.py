"""A spawned worker that allocates (and touches) $HOG_MIB MiB: past a cgroup's memory limit
the kernel's out-of-memory killer ends it with SIGKILL and the parent gets BrokenProcessPool."""

import multiprocessing as mp
import os
import time
from concurrent.futures import ProcessPoolExecutor


def hog(size: int) -> int:
    # a real worker imports LensKit and loads the model before its memory grows: the pause
    # lets the observer list it as a spawned worker before the kernel kills it
    time.sleep(float(os.environ.get("HOG_DELAY_S", "2")))
    block = bytearray(size)
    for offset in range(0, size, 4096):  # touched, so the pages are really charged
        block[offset] = 1
    return len(block)


if __name__ == "__main__":
    with ProcessPoolExecutor(1, mp_context=mp.get_context("spawn")) as pool:
        print(pool.submit(hog, int(os.environ.get("HOG_MIB", "600")) * 2**20).result())
