"""Section 3, the live pools: BLAS/OpenMP, torch, Rayon and real threads, here or in another process."""
