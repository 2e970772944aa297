"""The error of bad input to a run."""


class RunError(ValueError):
    """Bad input to a run, with the rule, the value and the way out."""
