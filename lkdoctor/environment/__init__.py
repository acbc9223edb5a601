"""The environment section: versions, threading variables, packages and paths."""
