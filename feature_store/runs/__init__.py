"""Measured runs: the Run (run.py), its file formats (files.py), the SQLite store (store.py, table.py),
score scales and values (scales.py, values.py), and the shipped runs seeded into a new store (seed.py)."""
