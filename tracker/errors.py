"""Exceptions a user can cause, all subclasses of the built-ins they would expect."""


class MissingFileError(FileNotFoundError, ValueError):
    """A file the user named does not exist (both a ``FileNotFoundError`` and a ``ValueError``)."""


class WeightsError(ValueError):
    """A weights file is unreadable, truncated, or for another architecture."""
