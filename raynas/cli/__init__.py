"""The ``raynas`` command line (click wrappers)."""
