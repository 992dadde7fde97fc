"""The exception tree (defined in ``feature_store.errors``, the lowest layer), re-exported here."""

from feature_store.errors import (
    InvalidData,
    InvalidRequest,
    InvalidRun,
    ModelCorrupted,
    NoModel,
    StepstoneError,
    UnknownLanguage,
    UnknownTask,
)

__all__ = ["StepstoneError", "UnknownLanguage", "UnknownTask", "InvalidRun", "InvalidData",
           "InvalidRequest", "NoModel", "ModelCorrupted"]
