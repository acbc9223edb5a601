"""Observing a real run: a process tree sampled read-only (``--pid``), or a command run
and watched from start to exit (``-- COMMAND``)."""
