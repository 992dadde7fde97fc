"""The exception tree of stepstone; every package raises these.

    StepstoneError          base: anything the user can fix by changing their input
    ├── UnknownLanguage     a language code or name nobody knows (carries suggestions)
    │   └── NotALanguage    an ISO 639 special code (zxx, und, mis, qaa–qtz; mul as a target)
    ├── UnknownTask         a task id that is not in the registry where one is required
    ├── InvalidRun          a run (a row of an import) that breaks the run schema
    ├── InvalidData         a training/evaluation data file that cannot be read
    ├── InvalidRequest      arguments that are individually fine but do not fit together
    ├── StoreUnavailable    the run store cannot take writes: read-only, damaged or disk full
    ├── NoModel             no trained model where one is needed
    ├── ModelCorrupted      model files that fail their checksum or cannot be parsed
    ├── ModelIncompatible   a stored model built on other features or vocabularies (retrain it)
    └── LanguageDataMissing lang2vec's data files are not installed

The CLI turns each into ``Error: <message>`` with exit code 1; the API maps them to 4xx.
"""

from __future__ import annotations


class StepstoneError(Exception):
    """Base of every error stepstone raises on bad input or state."""

    @property
    def code(self) -> str:
        """A stable, machine-readable code: the class name in snake case (``unknown_language``)."""
        name = type(self).__name__
        return "".join(f"_{c.lower()}" if c.isupper() and i else c.lower() for i, c in enumerate(name))


class UnknownLanguage(StepstoneError):
    """A language code or name that cannot be resolved to ISO 639-3."""

    def __init__(self, value: str, suggestions: list[str] | None = None) -> None:
        self.value = value
        self.suggestions = list(suggestions or [])[:3]
        msg = f"unknown language {value!r}"
        if self.suggestions:
            msg += "; did you mean " + ", ".join(self.suggestions) + "?"
        super().__init__(msg)


class NotALanguage(UnknownLanguage):
    """An ISO 639 code that names no language (``zxx``, ``und``, ``mis``, ``qaa``–``qtz``), or
    ``mul`` where a single language is needed (a target language)."""

    def __init__(self, value: str, reason: str) -> None:
        super().__init__(value, [])
        self.reason = reason
        self.args = (f"{value!r} is not a language here: {reason}",)

    def __str__(self) -> str:
        return str(self.args[0])


class UnknownTask(StepstoneError):
    """A task id that the task registry does not know."""

    def __init__(self, value: str, suggestions: list[str] | None = None) -> None:
        self.value = value
        self.suggestions = list(suggestions or [])[:3]
        msg = f"unknown task {value!r}"
        if self.suggestions:
            msg += "; did you mean " + ", ".join(self.suggestions) + "?"
        super().__init__(msg)


class InvalidRun(StepstoneError):
    """A run that breaks the run schema; names the row, the column and the value."""

    def __init__(self, reason: str, *, row: int | None = None, column: str | None = None,
                 value: object = None, source: str | None = None) -> None:
        self.reason, self.row, self.column, self.value, self.source = reason, row, column, value, source
        where = []
        if source:
            where.append(str(source))
        if row is not None:
            where.append(f"row {row}")
        if column:
            where.append(f"column {column!r}")
        prefix = ", ".join(where)
        text = f"{prefix}: {reason}" if prefix else reason
        if value is not None:
            try:
                shown = repr(value)
            except ValueError:  # an int past Python's digit limit
                shown = "<a number too long to show>"
            text += f" (value {shown[:80] + '…' if len(shown) > 80 else shown})"
        super().__init__(text)


class InvalidData(StepstoneError):
    """A data file that cannot be read; names the file, the line and the field."""

    def __init__(self, reason: str, *, path: str | None = None, line: int | None = None,
                 field: str | None = None) -> None:
        self.reason, self.path, self.line, self.field = reason, path, line, field
        where = [p for p in (path, f"line {line}" if line is not None else None,
                             f"field {field!r}" if field else None) if p]
        super().__init__(f"{', '.join(where)}: {reason}" if where else reason)


class InvalidRequest(StepstoneError):
    """Arguments that do not fit together (e.g. a filter on a column that does not exist)."""


class StoreUnavailable(StepstoneError):
    """The run store cannot be written (read-only folder, damaged database, full disk)."""


class NoModel(StepstoneError):
    """No trained model is available where one is needed."""


class ModelCorrupted(StepstoneError):
    """Model files that fail verification (checksum mismatch, unparsable, missing)."""


class ModelIncompatible(StepstoneError):
    """A stored model trained on other features or category vocabularies than this code builds."""


class LanguageDataMissing(StepstoneError):
    """lang2vec's URIEL data files cannot be found."""
