"""One cell of the matrix: what it will do (``steps``), tokens, model, the training loop, the two
phases, dev selection, evaluation, identity hashes, and ``run.run_cell`` that puts them together.

The modules that train import torch and transformers; ``steps``, ``identity`` and ``recipe`` do not.
"""
