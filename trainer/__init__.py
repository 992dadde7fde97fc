"""The GPU trainer: intermediate-task training, target fine-tuning, zero-shot evaluation -> runs.

Entry points: ``trainer.cell.run.run_cell`` (one cell), ``trainer.matrix.run.run_matrix`` (a grid), and
the Typer app in ``trainer.cli`` (``stepstone train ...``, ``python -m trainer ...``). This
package imports torch only in the modules that train; ``trainer.cli`` and ``trainer.config`` do not.
"""
