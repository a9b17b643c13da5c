"""Exceptions for mistakes in user input, reported without a traceback."""


class UserError(Exception):
    """Bad input; the CLI prints str(e) as one line and exits 2, no traceback."""


class ConfigError(UserError):
    """An invalid config file, config field, override or config id."""
