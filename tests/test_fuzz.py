"""A small fixed-seed subset of tools/fuzz.py (the full run of 10,000+ cases is described in docs/reliability.md):
mutated and truncated real files, random meta headers and hostile DICOMDIRs through the input phase, every tenth
case sent to a local storescp.  Zero tracebacks, zero hangs, only DCMTK-style messages and exit codes."""

from __future__ import annotations

import os
import random
import sys

import pytest

from conftest import HAVE_DCMTK

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))
import fuzz  # noqa: E402


@pytest.fixture(autouse=True)
def _fresh_library_logging():
    with fuzz.library_logging_preserved():
        yield


def test_fuzz_fixed_seed_subset(tmp_path):
    result = fuzz.fuzz(cases=1500, seed=20261125, send_every=10 if HAVE_DCMTK else 0, case_timeout=30,
                       keep=str(tmp_path / "failures"), quiet=True, memory_limit_mb=0)
    assert result["failures"] == [], result["failures"][:5]
    # the cases did reach every stage: input errors, no listener, real transfers
    codes = result["exit_codes"]
    assert codes.get(22, 0) and codes.get(23, 0) and codes.get(61, 0)
    if HAVE_DCMTK:
        assert result["sent"] == 150 and codes.get(0, 0) > 10


@pytest.mark.parametrize("seed", range(6))
def test_hostile_dicomdir_shapes(seed, tmp_path):
    """Deep nesting, thousands of records, escaping paths: each ends with a DCMTK message, not a crash."""
    from dcmsend import part10

    rng = random.Random(seed)
    data = fuzz._dicomdir(rng, str(tmp_path), ["T0.DCM"])
    path = tmp_path / "DICOMDIR"
    path.write_bytes(data)
    argv = ["dcmsend", "-nh", "+rd", "127.0.0.1", str(fuzz.closed_port()), str(path)]
    rc, out, err, _ = fuzz.run_case(argv, 30)
    assert fuzz.check_output(rc, out, err) == [], err[-2000:]
    assert part10.EC_NESTING_TOO_DEEP  # the text used for nesting beyond what is followed


def test_nesting_beyond_dcmtk(tmp_path):
    """20000 nested sequences (DCMTK 3.6.7 crashes with SIGSEGV): an input error with a DCMTK-style message."""
    import struct

    inner = fuzz._el(0x00041500, b"CS", b"T0.DCM")
    for _ in range(20000):
        item = struct.pack("<HHI", 0xFFFE, 0xE000, len(inner)) + inner
        inner = struct.pack("<HH", 4, 0x1220) + b"SQ\0\0" + struct.pack("<I", len(item)) + item
    path = tmp_path / "DICOMDIR"
    path.write_bytes(fuzz._meta("1.2.840.10008.1.3.10", "1.2.3.4", "1.2.840.10008.1.2.1") + inner)
    rc, out, err, _ = fuzz.run_case(["dcmsend", "+rd", "127.0.0.1", "104", str(path)], 60)
    assert rc == 22, err
    assert err.endswith(f"F: bad DICOM file: {path}: Sequences nested too deeply\n"), err
