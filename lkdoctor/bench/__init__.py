"""Section 4, the micro-benchmarks: short Rayon and torch runs that measure the plan."""
