"""A search run on Ray: settings, the model source, the Tune searcher, the trial, the recorder
and the driver."""
