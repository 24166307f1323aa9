"""glibc's allocator, set for image work: freed buffers are kept for the next image, not given back at once.

Each image allocates buffers from hundreds of kilobytes (a mask) to tens of megabytes (a decoded photo, the
float planes of its masks). By default glibc serves blocks over a threshold with fresh memory mappings and
hands memory freed at the top of its heap back to the kernel soon after, so every image pays page faults and
the kernel zeroing the same pages again: about 1.5 ms of system time per 640x480 frame with the fast model,
a sixth of the server's CPU per frame, and a fifth of its throughput (`make bench`; the README's performance
section). With blocks up to 32 MiB (glibc's largest mmap threshold) taken from the heap and up to 64 MiB of
free heap kept, the next image reuses the same pages; the price is that a process may keep up to 64 MiB it no
longer uses after a large image (a few MiB with 640x480 frames).

Set in every serving and worker process at start; skipped where the allocator is not glibc's, and where the
operator tunes it already (`MALLOC_*_` or `GLIBC_TUNABLES` in the environment).
"""

from __future__ import annotations

import ctypes
import logging
import os

log = logging.getLogger(__name__)

# mallopt's parameters (glibc's malloc.h)
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 1024 * 1024
TRIM_THRESHOLD = 64 * 1024 * 1024
_OPERATOR_SETTINGS = ("GLIBC_TUNABLES", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_")


def keep_freed_memory() -> bool:
    """Set the thresholds for this process; whether they were set."""
    if any(name in os.environ for name in _OPERATOR_SETTINGS):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    # Setting either turns off glibc's own adjusting of both, so both are set.
    done = mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1 and mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
    if not done:
        log.debug("glibc's mallopt refused the thresholds; the allocator keeps its defaults")
    return done
