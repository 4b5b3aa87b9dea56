"""Experiments that reproduce the seeds' claims; run ``python -m experiments.<name>``."""
