"""How an unusable config field is reported: one line naming it.

A leaf module, so that every part (data, train, evaluation) can raise the
same error the entry point prints as ``error: ...`` without importing
``config_validation``, which sits above them all.
"""
from __future__ import annotations


class ConfigError(ValueError):
    """A config field that cannot be used; the message names it and what was expected."""


def require(ok: bool, field: str, value, expected: str) -> None:
    """Raise ``ConfigError("config.<field>=<value>: expected <expected>")`` unless ``ok``."""
    if not ok:
        raise ConfigError(f"config.{field}={value!r}: expected {expected}")
