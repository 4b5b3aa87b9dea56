"""Experiments that reproduce the source documents' claims (see docs/equations.md); run
``python -m experiments.<name>``."""
