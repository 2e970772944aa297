"""The error of a results folder or file that cannot be read."""


class ResultsError(ValueError):
    """A results folder or file that cannot be read, with the file and the way out."""
