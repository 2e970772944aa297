"""The driver's own threads: its BLAS runs on one.

The driver's numeric work is the strategy's (ask/tell: products of a few hundred rows) and the
rows' bookkeeping. OpenBLAS's extra threads do not speed such small products up, and on a
small machine their spinning takes CPU from the trials (measured with 3 objectives after
10,000 results: 2.08 CPU-ms per ask+tell with 2 BLAS threads, 1.66 with one).
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

__all__ = ["single_thread_blas"]


@contextmanager
def single_thread_blas() -> Iterator[None]:
    """Limit this process's BLAS libraries (numpy's OpenBLAS or MKL) to one thread inside
    the block, and restore their thread counts after; other processes (Ray workers, trials)
    are not affected."""
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1, user_api="blas"):
        yield
