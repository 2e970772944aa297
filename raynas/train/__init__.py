"""The training loop of one candidate."""
