"""The one exception type pihlib raises for bad input, so callers (and the CLI) can catch it."""


class PihError(ValueError):
    """Bad input to pihlib: a wrong shape, dtype or range, a damaged file, a missing data source."""
