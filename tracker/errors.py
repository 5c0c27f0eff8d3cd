"""Errors of the tracker package.

    TrackerError                 every error a user can cause or fix; carries one sentence
    ├── ConfigError              a setting or secret is missing or malformed
    ├── DatabaseUnavailable      PostgreSQL cannot be reached
    ├── MigrationError           a migration file is changed, missing or failed
    ├── NotFound                 an account, campaign or link does not exist
    └── InvalidInput             a value given by the user is not acceptable

The CLI prints `str(error)` on one line and exits non-zero; the HTTP app maps them to
responses in `tracker.app`. Anything else is a bug and gets a traceback.
"""

__all__ = [
    "ConfigError",
    "DatabaseUnavailable",
    "InvalidInput",
    "MigrationError",
    "NotFound",
    "TrackerError",
]


class TrackerError(Exception):
    """Base class: the message is a sentence meant for the person who ran the command."""


class ConfigError(TrackerError):
    pass


class DatabaseUnavailable(TrackerError):
    pass


class MigrationError(TrackerError):
    pass


class NotFound(TrackerError):
    pass


class InvalidInput(TrackerError):
    pass
