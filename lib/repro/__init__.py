"""Reproducibility kit for ten ML papers."""
