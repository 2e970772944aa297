"""Test-session settings shared by every test folder."""

import os

# One intra-op thread per torch process: the test models are tiny, and on a small shared
# machine (2 cores) a second thread per process only makes processes stall each other.
# Set before torch is imported; a value given in the environment wins.
os.environ.setdefault("OMP_NUM_THREADS", "1")
