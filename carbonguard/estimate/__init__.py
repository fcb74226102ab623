"""Estimates before a run: job spec + accelerator table -> estimated stage records (pure).

`estimator` and `scaling` are pure; `loader` reads job spec files and `accelerators.load_table` the
embedded table. Import the submodules directly; this package imports nothing on its own so the CLI
stays fast.
"""
