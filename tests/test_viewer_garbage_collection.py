"""The viewer exempts its start-up objects from full garbage collections (a full
collection over them stalled the window 70-100 ms during "Analyse all")."""

from __future__ import annotations

import gc
import subprocess
import sys
from pathlib import Path

from viewer._testsupport import make_window

ROOT = Path(__file__).resolve().parent.parent

_SCRIPT = """
import gc, weakref
class Cycle:
    pass
def cycle():
    a, b = Cycle(), Cycle()
    a.other, b.other = b, a
    return weakref.ref(a)
before = cycle()  # garbage made before the freeze: collected, not frozen
from viewer.garbage_collection import freeze_startup_objects
tracked = len(gc.get_objects())
assert freeze_startup_objects() is True
assert before() is None, "garbage from before was frozen"
assert gc.get_freeze_count() > 1000, gc.get_freeze_count()
assert len(gc.get_objects()) < tracked / 10, "a full collection still visits everything"
assert freeze_startup_objects() is False  # once per process
after = cycle()  # garbage made later is still collected
gc.collect()
assert after() is None, "a later cycle was not collected"
print("ok")
"""


def test_startup_objects_are_frozen_and_later_garbage_is_collected() -> None:
    run = subprocess.run([sys.executable, "-c", _SCRIPT], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "ok"


def test_the_main_window_freezes_what_exists_once_it_is_built(qtbot, tmp_path) -> None:
    from viewer import main_window

    window = make_window(qtbot, tmp_path)
    assert window.session is not None
    assert gc.get_freeze_count() > 0
    # The viewer's code existed before the first window of the process was built: it is
    # in the permanent generation, which full collections skip (gc.get_objects() lists
    # only the generations they visit).
    init = main_window.MainWindow.__init__
    assert gc.is_tracked(init)
    assert not any(obj is init for obj in gc.get_objects())
