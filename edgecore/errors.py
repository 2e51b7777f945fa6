"""Typed errors. Each message is one line that names what is wrong and what would work.

The CLI prints `str(error)` and exits non-zero; nothing else is shown to the user.
"""


class EdgedistillError(Exception):
    """Base class of every error a user can cause and fix."""

    exit_code = 2


class ConfigError(EdgedistillError, ValueError):
    """A config value is out of range or of the wrong kind."""


class DataError(EdgedistillError, ValueError):
    """A data set is missing, empty, malformed or unusable for training."""


class CheckpointError(EdgedistillError, ValueError):
    """A model checkpoint is missing, corrupt, unsafe or not what was asked for."""


class UnsupportedError(EdgedistillError, ValueError):
    """A format, precision, model kind or operation that this toolkit does not support."""


class OutputExistsError(EdgedistillError, FileExistsError):
    """An output path exists and `force` was not given."""


class IntegrityError(EdgedistillError, ValueError):
    """A file does not match the hash recorded for it, or an archive tries to escape its folder."""


class ParityError(EdgedistillError, AssertionError):
    """A converted model disagrees with its source beyond the tolerance for its format and precision."""


class BusyError(EdgedistillError, RuntimeError):
    """Another process is writing the same output right now."""
