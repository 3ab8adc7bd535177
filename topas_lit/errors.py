"""Errors the entry point reports as one line (``error: <cause>``, exit code 2) instead of a traceback."""


class ConfigError(ValueError):
    """A configuration value that cannot work: the message names the key, the value and what is allowed."""
