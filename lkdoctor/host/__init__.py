"""Readers of the machine: /proc, cgroup files, installed packages and LensKit's version.

Plain data only: nothing here imports the report model (``tests/test_architecture.py``
checks it), so every section collector can build on these readers.
"""
