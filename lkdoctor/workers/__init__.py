"""Batch workers: how the installed LensKit runs batch work, the processes it starts, and
whether a script survives being re-imported by them.

One module per job: :mod:`.facts` (the mode, worker counts per level, start methods, read
from LensKit's own code), :mod:`.script` (the static check of a script), :mod:`.command`
(the script a command line runs), :mod:`.observed` (workers seen in a watched tree, and
the ones a signal killed). :func:`.facts.collect_workers` builds the section.
"""
