"""The opcode table: _wire.py carries the same opcodes as the agent.

internal/agent/testdata/opcodes.txt is the one list; the Go tests check
the agent's constants and dispatcher against it, this test checks
_wire.py's OP_ constants (OP_ + the listed name in upper case).
"""

import errno
import os

import shoal
from shoal import _wire

LIST = os.path.join(os.path.dirname(__file__), "..", "..", "internal", "agent", "testdata", "opcodes.txt")


def _listed():
    ops = {}
    with open(LIST) as f:
        for line in f:
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            name, number = line.split()
            assert name not in ops, "%s listed twice" % name
            ops[name] = int(number)
    return ops


def test_opcodes_match_the_agents_list():
    listed = {"OP_" + name.upper(): n for name, n in _listed().items()}
    ours = {k: v for k, v in vars(_wire).items() if k.startswith("OP_")}
    assert ours == listed
    assert _wire.IDEMPOTENT <= set(listed.values())


def test_cancelled_request_is_interrupted():
    # The agent answers a cancelled request with fserr's EINTR.
    e = shoal.error(errno.EINTR, "/x", detail="stat /x: context canceled")
    assert isinstance(e, InterruptedError) and isinstance(e, shoal.ShoalError)
