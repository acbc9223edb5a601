"""Run in a throw-away process by test_plan_real: LensKit applies its plan for real.

Prints what LensKit's config resolved and the pools it left, in the main process and
(with ``--worker``) in one worker of LensKit's own process pool.
"""

from __future__ import annotations

import json
import sys


def observed() -> dict[str, object]:
    """This process's LensKit config and the pools it left behind."""
    import numpy  # noqa: F401  (loads OpenBLAS so threadpoolctl can see it)
    import torch
    from lenskit.parallel.config import get_parallel_config
    from threadpoolctl import threadpool_info

    config = get_parallel_config()
    blas = [info["num_threads"] for info in threadpool_info() if info["user_api"] == "blas"]
    return {
        "counts": [config.processes, config.threads, config.backend_threads],
        "blas": max(blas),
        "torch_intra": torch.get_num_threads(),
        "torch_inter": torch.get_num_interop_threads(),
    }


def main() -> None:
    from lenskit.parallel.pool import multiprocess_executor

    result = {"main": observed()}
    if "--worker" in sys.argv:
        with multiprocess_executor() as pool:
            result["worker"] = pool.submit(observed).result(timeout=240)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
