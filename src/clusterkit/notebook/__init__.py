"""Notebook helpers: tables, plots, pin maps, timing, showing and importing per-rank scripts, the self-check."""
