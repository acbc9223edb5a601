"""Section 1, the CPU budget: the effective CPU count and every source that limits it."""
