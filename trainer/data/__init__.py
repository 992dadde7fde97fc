"""The trainer's data room: task table, file readers, split files, metrics, mining, retrieval sets.

Plain Python and numpy: nothing here imports torch or transformers (an import-linter contract
keeps it so), which is why ``stepstone train score`` and the job graph start without them.
"""
