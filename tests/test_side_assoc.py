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
IGNORE = harness.IGNORE_DICTIONARY


_testfile = harness.testfile


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


# ---- item 2: after a protocol error, or once a write has timed out, nothing waits for the peer ---------------------
# (the peer falls silent after misbehaving: tests/scp.py --hold keeps the connection open, reading nothing)

@pytest.mark.parametrize("mode,opts", [
    ("garbage", ["-v"]),  # DCMTK's abort ends on the rest of the garbage at once
    ("release-garbage", ["-v"]),
    ("release-garbage", ["-v", "-nh", "+crf", "{report}"]),
], ids=["garbage-halt", "release-garbage-halt", "release-garbage-nh"])
def test_silent_after_garbage(mode, opts, tmp_path):
    """DCMTK ends at once here; the ACSE timeout (-ta 40) and the subprocess timeout show that ours does too (before:
    the A-ABORT waited the whole ACSE timeout for the peer to close the connection)."""
    harness.compare_scp([*opts, "-ta", "40", "127.0.0.1", "{port}", *_files()], tmp_path, ["--raw", mode, "--hold"],
                        IGNORE, timeout=20)


HOLD_MODES = ["bad-pdv", "short-pdv", "no-pdv", "data-pdv", "release", "wrong-pdu"]


@pytest.mark.parametrize("mode", HOLD_MODES)
def test_silent_after_protocol_error_side_by_side(mode, tmp_path):
    """The messages and exit code when the peer falls silent after a malformed or unexpected PDU (DCMTK's abort waits
    the ACSE timeout for the peer, here 2 s; ours does not wait, see the next test)."""
    harness.compare_scp(["-v", "-ta", "2", "+crf", "{report}", "127.0.0.1", "{port}", *_files()], tmp_path,
                        ["--raw", mode, "--hold"], IGNORE, timeout=30)


def _run_ours(args, tmp_path, env=None, timeout=60):
    rc, out, err, _ = harness.run_program(harness.ours_command(), args, str(tmp_path), env, timeout=timeout)
    assert "Traceback" not in err and "Traceback" not in out, err
    return rc, out, err


def _scp_peer(tmp_path, *args) -> harness.Peer:
    return harness.Peer(str(tmp_path / "received"), [os.path.join(HERE, "scp.py"), *args], program=sys.executable)


@pytest.mark.parametrize("mode", HOLD_MODES)
def test_no_wait_after_protocol_error(mode, tmp_path):
    """After a protocol error the A-ABORT does not wait for a silent peer: with an ACSE timeout of 60 s ours ends
    within the subprocess timeout (before: 60 s more)."""
    with _scp_peer(tmp_path, "--raw", mode, "--hold") as peer:
        rc, out, err = _run_ours(["-v", "-ta", "60", "127.0.0.1", str(peer.port), *_files()], tmp_path, timeout=20)
    assert rc == 62
    assert "\nI: Aborting Association\n" in err  # (the messages: the side-by-side test above)


@pytest.fixture(scope="module")
def big_file(tmp_path_factory):
    """A 32 MB CT image: more than the socket buffers hold, so a peer that stops reading blocks the sender."""
    import pydicom

    ds = pydicom.dcmread(_testfile("CT_small.dcm"))
    del ds.PixelData
    ds.Rows, ds.Columns, ds.NumberOfFrames = 4096, 4096, 1
    path = str(tmp_path_factory.mktemp("big") / "big.dcm")
    ds.save_as(path)
    length = 4096 * 4096 * 2
    with open(path, "ab") as fh:
        fh.write(b"\xe0\x7f\x10\x00OW\x00\x00" + length.to_bytes(4, "little"))
        fh.truncate(fh.tell() + length)
    return path


# What /usr/bin/dcmsend 3.6.7 printed with a peer that stops reading in the middle of the first of two data sets (raw
# mode "stall", 60 s socket timeouts; recorded, the run takes 90 s (halt) and 123 s (-nh -ta 1)):
#   halt: ... E: Failed sending C-STORE request: 0006:020e DIMSE Failed to send message
#             E: 0006:031d TCP I/O Error (<stale errno text>) occurred in routine: writeDataPDU
#             F: cannot send SOP instance: DIMSE Failed to send message
#             F: 0006:031d TCP I/O Error (<stale errno text>) occurred in routine: writeDataPDU
#             I: Aborting Association                                              exit 62
#   -nh:  ... the same two E: lines, then
#             I: Sending C-STORE Request (MsgID 2, CT)
#             E: Failed receiving DIMSE response: 0006:0317 Peer aborted Association (or never connected)
#             I: Releasing Association
#             E: Association Release Failed: 0006:0303 DUL Finite State Machine Error: No action defined,
#                state 1 event 10
#             (summary) I: Aborting Association
#             E: Association Abort Failed: 0006:0303 DUL Finite State Machine Error: No action defined, state 1 event 14
#                                                                                  exit 0
STALL_ENV = {"DCMSEND_SOCKET_TIMEOUT": "8"}


@pytest.mark.parametrize("no_halt", [False, True], ids=["halt", "nh"])
def test_stalled_peer_ends_after_one_write_timeout(no_halt, big_file, tmp_path):
    """One socket timeout (here 8 s) and no more: the A-ABORT is not written into the full socket (the connection is
    reset), the ACSE timeout (-ta 30) is not waited, nor the next response (before: 8 + 8 + 30 s, or 8 + 8 s)."""
    files = [big_file, _testfile("CT_small.dcm")]
    with _scp_peer(tmp_path, "--raw", "stall") as peer:
        args = ["-v", "-ta", "30", *(["-nh"] if no_halt else []), "127.0.0.1", str(peer.port), *files]
        rc, out, err = _run_ours(args, tmp_path, STALL_ENV, timeout=14)
    import re

    lines = [line for line in err.splitlines() if not line.startswith("W: ")]
    assert "E: Failed sending C-STORE request: 0006:020e DIMSE Failed to send message" in lines
    assert any(re.fullmatch(r"E: 0006:031d TCP I/O Error \(.+\) occurred in routine: writeDataPDU", x) for x in lines)
    if no_halt:
        assert rc == 0
        tail = lines[lines.index("I: Sending C-STORE Request (MsgID 2, CT)"):]
        assert tail[:4] == ["I: Sending C-STORE Request (MsgID 2, CT)",
                            "E: Failed receiving DIMSE response: 0006:0317 Peer aborted Association (or never "
                            "connected)",
                            "I: Releasing Association",
                            "E: Association Release Failed: 0006:0303 DUL Finite State Machine Error: No action "
                            "defined, state 1 event 10"]
        assert tail[-2:] == ["I: Aborting Association", "E: Association Abort Failed: 0006:0303 DUL Finite State "
                             "Machine Error: No action defined, state 1 event 14"]
    else:
        assert rc == 62
        assert lines[-3] == "F: cannot send SOP instance: DIMSE Failed to send message"
        assert lines[-1] == "I: Aborting Association"


# ---- item 3: an A-RELEASE-RQ from the peer in the middle of a data set -----------------------------------------

@pytest.fixture(scope="module")
def two_mb_files(tmp_path_factory):
    """Two 2 MB CT images: a data set takes many PDUs, so the peer's A-RELEASE-RQ comes in the middle of the first,
    and the peer has answered the first before the second has gone out."""
    import pydicom

    folder = tmp_path_factory.mktemp("mid")
    paths = []
    for i in range(2):
        ds = pydicom.dcmread(_testfile("CT_small.dcm"))
        del ds.PixelData
        ds.Rows, ds.Columns = 1024, 1024
        ds.SOPInstanceUID = f"1.2.3.4.{i}"
        ds.file_meta.MediaStorageSOPInstanceUID = f"1.2.3.4.{i}"
        ds.add_new(0x7FE00010, "OW", bytes(1024 * 1024 * 2))
        paths.append(str(folder / f"mid{i}.dcm"))
        ds.save_as(paths[-1])
    return paths


@pytest.mark.parametrize("opts", [["-v", "-nh"], ["-d", "-nh"], ["-v"]], ids=["nh", "nh-debug", "halt"])
def test_peer_release_in_the_middle_of_a_data_set(opts, two_mb_files, tmp_path):
    """DCMTK's messages, exit code and report; and the data set sent after the peer's A-RELEASE-RQ (-nh goes on
    sending) is not completed at the peer, whose report entry says it was not sent: the peer has answered the first
    one meanwhile, so the request ends in an A-ABORT whatever comes, and its last PDU is withheld (DCMTK: sent; its
    reset usually takes it away before the peer reads it; before: always completed, then an A-ABORT)."""
    # (small socket buffers on both sides: the peer has answered the first data set before the second one's last PDU
    # is due, as it would with data sets larger than the buffers)
    harness.compare(["+crf", "{report}", *opts, "127.0.0.1", "{port}", *two_mb_files], tmp_path,
                    peer_args=[os.path.join(HERE, "scp.py"), "--raw", "release-mid"], peer_program=sys.executable,
                    check_received=False, ignore_lines=IGNORE, timeout=60, env={"TCP_BUFFER_LENGTH": "65536"})
    peer = _peer_log(tmp_path, "ours")
    # the first data set was on its way when the A-RELEASE-RQ came (as with DCMTK); no other one is completed (under
    # halt the peer may be stopped before it has read all of the first)
    assert peer.count("data set complete") == (1 if "-nh" in opts else peer.count("data set complete") and 1), peer
