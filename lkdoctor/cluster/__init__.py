"""``--ray``: the report of every node of a running Ray cluster."""
