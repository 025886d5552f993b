"""Side by side against hostile peers (tests/scp.py raw modes): A-ASSOCIATE-AC validation, peers with a tiny maximum
PDU length, and protocol errors that must end at once (issue 13, items 1 to 3)."""

from __future__ import annotations

import glob
import os
import sys

import pytest

from conftest import requires_dcmtk

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402

pytestmark = requires_dcmtk
IGNORE = [r"^D: DcmDataDictionary: Loading file: "]


def _testfile(name: str) -> str:
    from pydicom.data import get_testdata_file

    path = get_testdata_file(name)
    if not path:
        pytest.skip(f"pydicom test file {name} is not available")
    return path


def _files():
    return [_testfile("CT_small.dcm"), _testfile("MR_small.dcm")]


AC_MODES = ["ac-version2", "ac-no-ts", "ac-dup-id", "ac-unknown-id", "ac-release-rp", "ac-pdata", "ac-rq",
            "ac-lying-item", "ac-len0", "ac-len10"]
OPTIONS = {"halt": ["-v", "+crf", "{report}"], "nh-debug": ["-d", "-nh", "+crf", "{report}"]}


@pytest.mark.parametrize("opts", list(OPTIONS), ids=list(OPTIONS))
@pytest.mark.parametrize("mode", AC_MODES)
def test_associate_ac_checks(mode, opts, tmp_path):
    """Each malformed or unexpected answer to the A-ASSOCIATE-RQ: DCMTK's messages, exit code and report."""
    real, ours = harness.compare_scp([*OPTIONS[opts], "127.0.0.1", "{port}", *_files()], tmp_path, ["--raw", mode],
                                     IGNORE, timeout=60)
    assert "Traceback" not in ours.stderr


def _peer_log(tmp_path, side: str) -> str:
    (path,) = glob.glob(os.path.join(str(tmp_path), side, "peer-*.log"))
    with open(path) as fh:
        return fh.read()


@pytest.mark.parametrize("max_pdu", [1, 12, 13, 14, 15, 20, 23])
@pytest.mark.parametrize("opts", [["-v"], ["-v", "-nh", "+crf", "{report}"]], ids=["halt", "nh"])
def test_tiny_peer_max_pdu(max_pdu, opts, tmp_path):
    """A peer maximum PDU length of 1-13: DCMTK's warnings, no P-DATA PDU sent, "receiver's max PDU size ... is
    illegal"; 14-23: the data set in PDUs of (maximum - 12) bytes of data, the same PDUs as DCMTK's."""
    harness.compare_scp([*opts, "127.0.0.1", "{port}", *_files()], tmp_path,
                        ["--raw", "lengths", "--max-pdu", str(max_pdu)], IGNORE, timeout=60)
    real, ours = _peer_log(tmp_path, "real"), _peer_log(tmp_path, "ours")
    assert real == ours
    if max_pdu < 14:
        assert "P-DATA" not in ours
    else:
        assert max(int(line.split()[1]) for line in ours.splitlines() if line.startswith("P-DATA")) <= max_pdu


@pytest.mark.parametrize("max_pdu", [24, 100, 161])
def test_small_peer_max_pdu_respected(max_pdu, tmp_path):
    """Between 24 and ~200 DCMTK's PDV boundaries follow its data set writer (see docs/conformance.md); ours are
    full fragments, but no PDU is longer than the peer allows (before: the command went out whole)."""
    harness.compare_scp(["-v", "127.0.0.1", "{port}", *_files()], tmp_path,
                        ["--raw", "lengths", "--max-pdu", str(max_pdu)], IGNORE, timeout=60)
    ours = _peer_log(tmp_path, "ours")
    assert max(int(line.split()[1]) for line in ours.splitlines() if line.startswith("P-DATA")) <= max_pdu - 6
