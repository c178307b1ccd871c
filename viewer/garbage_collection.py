"""Keep Python's full garbage collections short in the viewer process.

A full (generation 2) collection visits every object the cyclic collector tracks. After
start-up that is about 190,000 objects (PySide6, pyqtgraph, pydicom, numpy, the window),
and one full collection took 70-100 ms on the GUI thread: during "Analyse all" on 5,000
images it was the longest event-loop stall (``bench/load_5000.py --stall-traces``). The
objects that exist once the first main window is built live as long as the process, so
they are moved to the permanent generation (``gc.freeze()``) after one collection of
the garbage made so far; a full collection then visits only what the session made
since (about 26,000 objects with 5,000 images open and scored: 1-4 ms). Reference
counting still frees frozen objects; only cycles among them are no longer collected.
"""

from __future__ import annotations

import gc

_frozen = False


def freeze_startup_objects() -> bool:
    """Collect the garbage made so far, then exempt every object that exists now from
    later collections. Once per process; returns whether it froze now."""
    global _frozen
    if _frozen:
        return False
    gc.collect()
    gc.freeze()
    _frozen = True
    return True
