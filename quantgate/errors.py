"""Errors that stop a run for a reason other than a model's answers.

Each one carries a message that names the file, key or item at fault, so it can be shown as it is.
"""


class QuantgateError(Exception):
    """Base class: an infrastructure or input problem, never scored as a wrong answer."""


class CatalogueError(QuantgateError):
    """The model catalogue (YAML) is malformed: unknown key, missing field, duplicate name, ..."""


class DatasetError(QuantgateError):
    """A benchmark's data could not be loaded or converted."""


class BaselineError(QuantgateError):
    """A stored baseline is missing, unreadable, or does not match the current run."""


class MissingBaselineError(BaselineError):
    """No baseline file exists for a (family, benchmark)."""


class EngineLoadError(QuantgateError):
    """A variant's engine could not be loaded."""


class EngineError(QuantgateError):
    """The engine failed while serving requests (context overflow, worker crash, ...)."""


class QuantgateWarning(UserWarning):
    """A result a release engineer should read: a broken evaluation (a group below chance,
    unparseable answers), an underpowered run, a baseline from another machine or a replaced one,
    cached rows that were damaged."""
