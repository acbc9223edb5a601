"""Writes $SHM_MIB MiB into a new POSIX shared memory segment, as LensKit 2025 copies a
model's arrays into /dev/shm for its workers: on a smaller /dev/shm the write hits a page
tmpfs cannot provide and the kernel ends the process with SIGBUS (no traceback)."""

import os
from multiprocessing.shared_memory import SharedMemory

size = int(os.environ.get("SHM_MIB", "8")) * 2**20
segment = SharedMemory(create=True, size=size)
try:
    segment.buf[:size] = b"x" * size
finally:
    segment.close()
    segment.unlink()
