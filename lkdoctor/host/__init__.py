"""Readers of the machine: /proc, cgroup files, installed packages. No report types beyond plain data."""
