"""Exceptions a user can cause, all subclasses of the built-ins they would expect."""


class MissingFileError(FileNotFoundError, ValueError):
    """A file the user named does not exist (both a ``FileNotFoundError`` and a ``ValueError``)."""


class WeightsError(ValueError):
    """A model file is unreadable, truncated, damaged (its content no longer matches the digest
    it carries), or for another architecture."""


class UnverifiedModelWarning(UserWarning):
    """A model file written before files carried a digest of their content: it loads, but
    damage to it cannot be detected. ``python -m tracker.export.seal FILE`` adds one."""
