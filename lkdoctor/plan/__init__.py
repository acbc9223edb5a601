"""Section 2, the thread plan: LensKit's settings resolved as the installed LensKit resolves them."""
