"""Analysis of a run folder: the report and the export of architectures."""
