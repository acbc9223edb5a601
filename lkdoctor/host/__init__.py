"""Readers of the machine: /proc, cgroup files, installed packages and LensKit's version.

Plain data, except the pool kinds registry (``pool_kinds``): it reads pool sizes out of
the report's pools section and performs the ``--apply`` steps, so it uses report types;
it sits here because the ``/proc`` maps reader needs its libraries.
"""
