"""The C allocator's settings for convolutional networks (glassnet/allocator.py): with them, a
step's arrays of megabytes reuse freed pages instead of faulting in new ones. Each test runs in a
child process, since the settings hold for a whole process."""
import subprocess
import sys

import pytest

from glassnet import allocator

pytestmark = pytest.mark.skipif(allocator._glibc() is None, reason="the settings are glibc's")

FAULTS = """
import resource, sys
import numpy as np
from glassnet import allocator

def faults_of_a_step():
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    arrays = [np.ones(size * 2**20 // 8) for size in (3, 5, 8, 8, 5, 3)]  # megabytes, alive at once
    del arrays                                                              # then all dropped, as a step's
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

faults_of_a_step()
default = min(faults_of_a_step() for _ in range(3))
kept = allocator.keep_freed_memory()
faults_of_a_step()
after = min(faults_of_a_step() for _ in range(3))
print(kept, default, after, allocator.keep_freed_memory(), allocator.release())
"""


def run(env=None):
    import os
    result = subprocess.run([sys.executable, "-c", FAULTS], capture_output=True, text=True, timeout=120,
                            env={**os.environ, **(env or {})}, check=True)
    kept, default, after, again, released = result.stdout.split()
    return kept == "True", int(default), int(after), again == "True", released


def test_kept_freed_memory_takes_the_page_faults_of_a_step_away():
    kept, default, after, again, released = run()
    assert kept and again  # in place, and asking twice changes nothing
    assert default > 1000  # 32 MB in new pages: about 8,000 faults of 4 KiB
    assert after < default / 20
    assert released in ("True", "False")


def test_the_environment_variable_leaves_the_allocator_alone():
    kept, default, after, again, _ = run({"GLASSNET_KEEP_FREED_MEMORY": "0"})
    assert not kept and not again
    assert after > default / 2  # still a fault per new page


def test_a_convolutional_network_puts_the_settings_in_place():
    code = ("import numpy as np, glassnet as gn\n"
            "from glassnet import allocator\n"
            "m = gn.Sequential([gn.layers.Input((6, 6, 1)), gn.layers.Conv2D(2, 3), gn.layers.Flatten(),"
            " gn.layers.Dense(2)])\n"
            "m.compile('sgd', 'mse')\n"
            "before = allocator._state['done']\n"
            "m.fit(np.zeros((4, 6, 6, 1)), np.zeros((4, 2)), epochs=1, verbose=0)\n"
            "print(before, allocator._state['done'])")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.split() == ["False", "True"]
