"""``--model PATH``'s child process: load the saved model, measure what a batch run copies.

Run as ``python -m lkdoctor.workers.model_child PATH [MODULE...]`` (the modules a worker
imports beside LensKit's: Ray's for Ray workers); it prints one JSON object on its
last stdout line. Loading a pickle runs the code inside it, so this runs in a child of the
doctor (a crash, a hang or a memory blow-up here never takes the doctor down).

The bytes are counted with the installed LensKit's own serializer: 2025.x's
``SHMPickler`` decides what goes out-of-band (copied once into shared memory) and what
stays in the pickle every worker receives; its buffer callback is replaced by one that
counts instead of creating segments, so nothing is written to ``/dev/shm``. A real
spawned worker (importing what LensKit's worker imports) gives the worker's base memory
and what the unpickled model adds to it.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import io
import json
import multiprocessing
import os
import pickle
import sys
import time
from multiprocessing.connection import Connection
from typing import Any

#: What a LensKit 2025 worker process imports before it receives the model.
WORKER_IMPORTS_2025 = ("lenskit.parallel.pool", "lenskit.parallel.worker")
WORKER_IMPORTS_OTHER = ("lenskit",)


def _rollup() -> dict[str, int]:
    values = {}
    try:
        with open("/proc/self/smaps_rollup") as file:
            for line in file:
                name, _, rest = line.partition(":")
                parts = rest.split()
                if len(parts) == 2 and parts[0].isdigit():
                    values[name.strip()] = int(parts[0]) * 1024
    except OSError:
        pass
    return values


def _uss(rollup: dict[str, int]) -> int:
    return rollup.get("Private_Clean", 0) + rollup.get("Private_Dirty", 0)


def _worker_probe(conn: Connection, imports: tuple[str, ...]) -> None:
    """A spawned worker: import as LensKit's worker does, report memory, then unpickle the
    model as it would and report again."""
    for name in imports:
        with contextlib.suppress(Exception):  # a missing part is measured without it
            importlib.import_module(name)
    base = _rollup()
    conn.send((_uss(base), base.get("Rss", 0)))
    data, buffers = conn.recv()
    before = _uss(_rollup())
    model = pickle.loads(data, buffers=buffers)
    after = _uss(_rollup())
    # The out-of-band buffers came through the pipe, private here; in a real worker they
    # are shared segments, so they are not the worker's own.
    added = (after - before) + len(data) - sum(len(b) for b in buffers)
    conn.send(max(0, added))
    del model


def _measure_2025(model: Any) -> dict[str, Any]:
    import torch

    # Any-typed: the installed LensKit's code, whatever its stubs say
    shm_pickler: Any = importlib.import_module("lenskit.parallel.serialize").SHMPickler
    worker_data: Any = importlib.import_module("lenskit.parallel.worker").WorkerData

    sizes: list[int] = []
    raw_buffers: list[bytes] = []
    cuda = 0

    class CountingPickler(shm_pickler):  # type: ignore[misc]
        """LensKit's pickler, counting out-of-band buffers instead of copying them."""

        def _buffer_cb(self, buffer: pickle.PickleBuffer) -> None:
            memory = buffer.raw()
            sizes.append(memory.nbytes)
            raw_buffers.append(bytes(memory))

        def reducer_override(self, obj: Any) -> Any:
            nonlocal cuda
            if isinstance(obj, torch.Tensor) and obj.is_cuda:
                cuda += 1
            return super().reducer_override(obj)

    out = io.BytesIO()
    # what LensKit serializes: the WorkerData of the batch function and the model
    CountingPickler(out, pickle.HIGHEST_PROTOCOL, None).dump(worker_data(None, model))
    page = os.sysconf("SC_PAGE_SIZE")
    return {
        "serializer": "lenskit.parallel.serialize.SHMPickler (LensKit 2025.x)",
        "data": out.getvalue(),
        "buffers": raw_buffers,
        "shared_bytes": sum(sizes),
        "shared_segments": sum(1 for s in sizes if s),
        "shm_need_bytes": sum(-(-s // page) * page for s in sizes if s),
        "cuda_tensors": cuda,
    }


def _is_cuda(obj: Any) -> bool:
    torch = sys.modules.get("torch")  # a model with tensors has imported torch
    return torch is not None and isinstance(obj, torch.Tensor) and bool(obj.is_cuda)


def _measure_plain(model: Any) -> dict[str, Any]:
    """Without LensKit 2025's serializer: pickle protocol 5, as Ray's object store takes it."""
    raw_buffers: list[bytes] = []
    cuda = 0

    class CudaCounting(pickle.Pickler):
        """Pickle protocol 5, counting the CUDA tensors it meets (each Ray worker that
        unpickles them creates a CUDA context of its own)."""

        def reducer_override(self, obj: Any) -> Any:
            nonlocal cuda
            if _is_cuda(obj):
                cuda += 1
            return NotImplemented  # pickled as usual

    out = io.BytesIO()
    CudaCounting(
        out, protocol=5, buffer_callback=lambda b: raw_buffers.append(bytes(b.raw()))
    ).dump(model)
    data = out.getvalue()
    return {
        "serializer": "pickle protocol 5 with out-of-band buffers (what Ray's object store "
        "takes; LensKit 2026's threads share the model and copy nothing)",
        "data": data,
        "buffers": raw_buffers,
        "shared_bytes": sum(len(b) for b in raw_buffers),
        "shared_segments": 0,
        "shm_need_bytes": 0,
        "cuda_tensors": cuda,
    }


def _has_serializer_2025() -> bool:
    """Whether the installed LensKit has 2025.x's serializer, without importing LensKit."""
    spec = importlib.util.find_spec("lenskit")
    locations = spec.submodule_search_locations if spec is not None else None
    return any(os.path.exists(os.path.join(p, "parallel", "serialize.py")) for p in locations or [])


def measure(path: str, extra_imports: tuple[str, ...] = ()) -> dict[str, Any]:
    """Measure the model at ``path``; the worker imports ``extra_imports`` too (Ray's)."""
    started = time.monotonic()
    lenskit_2025 = _has_serializer_2025()
    imports = (WORKER_IMPORTS_2025 if lenskit_2025 else WORKER_IMPORTS_OTHER) + extra_imports
    context = multiprocessing.get_context("spawn")  # as LensKit 2025 starts its workers
    ours, theirs = context.Pipe()
    probe = context.Process(target=_worker_probe, args=(theirs, imports), daemon=True)
    probe.start()  # it imports while the model is loaded here
    try:
        with open(path, "rb") as file:
            model = pickle.load(file)
        for name in imports:  # what the parent of a batch run has imported too
            if name in extra_imports:
                with contextlib.suppress(Exception):  # measured without a missing extra
                    importlib.import_module(name)
            else:
                importlib.import_module(name)
        parent = _rollup()  # before serializing: the copies below are the doctor's own
        measured = _measure_2025(model) if lenskit_2025 else _measure_plain(model)
        base_uss, base_rss = ours.recv()
        ours.send((measured["data"], measured["buffers"]))
        worker_model = ours.recv()
    finally:
        probe.join(10)
        if probe.is_alive():
            probe.kill()
    return {
        "status": "measured",
        "object_type": f"{type(model).__module__}.{type(model).__qualname__}",
        "serializer": measured["serializer"],
        "shared_bytes": measured["shared_bytes"],
        "shared_segments": measured["shared_segments"],
        "shm_need_bytes": measured["shm_need_bytes"],
        "in_band_bytes": len(measured["data"]),
        "worker_model_bytes": worker_model,
        "worker_base_uss_bytes": base_uss,
        "worker_base_rss_bytes": base_rss,
        "parent_rss_bytes": parent.get("Rss"),
        "cuda_tensors": measured["cuda_tensors"],
        "wall_s": round(time.monotonic() - started, 2),
    }


def main() -> None:
    try:
        result = measure(sys.argv[1], tuple(sys.argv[2:]))
    except BaseException as exc:  # any failure of user code is the answer
        result = {"status": "failed", "detail": f"{type(exc).__name__}: {exc}"[:500]}
    sys.stdout.write("\n" + json.dumps(result) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main()
