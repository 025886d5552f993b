"""The fault matrix: every fault a real network produces, under halt and --no-halt.

Each scenario runs the real /usr/bin/dcmsend and ours side by side (tests/harness.py) against DCMTK's storescp or
tests/scp.py and compares exit code, stdout, stderr, report and received data; on top of that, for our run: no Python
traceback, the process ended (subprocess timeouts), and a report, when one is written, accounts for every input file.
Faults that only end through DCMTK's fixed 60 s socket timeouts run ours alone with DCMSEND_SOCKET_TIMEOUT and check
the messages the real dcmsend printed in the same situation (recorded once with the full 60 s, see
docs/reliability.md).  Signals (SIGINT/SIGTERM) and the last-resort internal-error exit are tested at the end.

Scenarios already in test_side_send.py are not repeated here.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time

import pytest

from conftest import requires_dcmtk

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402

pytestmark = requires_dcmtk
sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tools"))
import fuzz  # noqa: E402


@pytest.fixture
def fresh_logging():
    """For in-process cli.main runs: leave Python's logging/warnings set-up as it was (see test_log.py)."""
    with fuzz.library_logging_preserved():
        yield

IGNORE = harness.IGNORE_DICTIONARY


_testfile = harness.testfile


CT, MR, MRI = "CT_small.dcm", "MR_small.dcm", "MR_small_implicit.dcm"
THREE = [CT, MR, MRI]


def _check_ours(run: harness.Run, files: list[str], no_halt: bool, report_wanted: bool) -> None:
    """What must hold for our run whatever the fault: no traceback, and a written report accounts for every file."""
    assert "Traceback" not in run.stderr and "Traceback" not in run.stdout, run.stderr
    assert not re.search(r"^\w*(Error|Exception): ", run.stderr, re.M), run.stderr
    if run.report is not None:
        names = re.findall(r"^Filename      : (.*)$", run.report, re.M)
        assert len(names) == len(files), run.report
        statuses = re.findall(r"^DIMSE Status  : (.*)$", run.report, re.M)
        assert len(statuses) == len(files)
        m = re.search(r"^Number of SOP instances  : (\d+)$", run.report, re.M)
        assert m and int(m.group(1)) == len(files)
    if no_halt and report_wanted and run.returncode == 0:
        assert run.report is not None, "-nh run ended normally but wrote no report"


def _compare_scp(args, tmp_path, scp_args):
    """harness.compare, with tests/scp.py as the peer."""
    return list(harness.compare_scp(args, tmp_path, scp_args, IGNORE, timeout=60))


# ---- 1. storescp as the peer ------------------------------------------------------------------------------------
# (id, dcmsend options, files, storescp options or None for "nothing listens")
STORESCP_FAULTS = [
    ("refuse-halt", ["-v", "+crf", "{report}"], [CT, MR], ["--refuse"]),
    ("refuse-nh", ["-v", "-nh", "+crf", "{report}"], [CT, MR], ["--refuse"]),
    ("reject-no-impl-uid-halt", ["-v", "+crf", "{report}"], [CT], ["--reject"]),
    ("reject-no-impl-uid-nh", ["-v", "-nh", "+crf", "{report}"], [CT, MR], ["--reject"]),
    ("abort-after-halt-report", ["-v", "+crf", "{report}"], THREE, ["--abort-after"]),
    ("abort-after-nh-debug", ["-d", "-nh", "+crf", "{report}"], [CT, MR], ["--abort-after"]),
    ("abort-during-halt-report", ["-v", "+crf", "{report}"], THREE, ["--abort-during"]),
    ("abort-during-nh-report", ["-v", "-nh", "+crf", "{report}"], THREE, ["--abort-during"]),
    # a slow peer without -td: the wait is unbounded (test_side_send.py has --sleep-during with -td)
    ("sleep-during-halt", ["-v", "+crf", "{report}"], [CT], ["--sleep-during", "1", "-pdu", "131072"]),
    ("sleep-during-nh", ["-v", "-nh", "+crf", "{report}"], [CT], ["--sleep-during", "1", "-pdu", "131072"]),
    ("no-listener-halt", ["-v", "+crf", "{report}"], [CT, MR], None),
    ("no-listener-nh", ["-v", "-nh", "+crf", "{report}"], [CT, MR], None),
    ("no-listener-nh-to", ["-d", "-nh", "-to", "2"], [CT], None),
]


@pytest.mark.parametrize("opts,names,peer_args", [s[1:] for s in STORESCP_FAULTS], ids=[s[0] for s in STORESCP_FAULTS])
def test_storescp_faults(opts, names, peer_args, tmp_path):
    files = [_testfile(n) for n in names]
    real, ours = harness.compare([*opts, "127.0.0.1", "{port}", *files], tmp_path, peer_args=peer_args or [],
                                 with_peer=peer_args is not None, ignore_lines=IGNORE)
    _check_ours(ours, files, "-nh" in opts, "+crf" in opts)


@pytest.mark.parametrize("opts", [["-v", "+crf", "{report}"], ["-d", "-nh", "+crf", "{report}"]],
                         ids=["halt", "nh"])
def test_unresolvable_host(opts, tmp_path):
    files = [_testfile(CT), _testfile(MR)]
    real, ours = harness.compare([*opts, "no-such-host.invalid", "104", *files], tmp_path, with_peer=False,
                                 ignore_lines=IGNORE)
    assert real.returncode == 61
    _check_ours(ours, files, "-nh" in opts, True)


# ---- 2. tests/scp.py as the peer: statuses and protocol misbehaviour ------------------------------------------------
SCP_FAULTS = [
    # DIMSE statuses under --no-halt (test_side_send.py has them under halt)
    ("failure-nh", ["-v", "-nh", "+crf", "{report}"], THREE, ["--status", "0xC000"]),
    ("warning-nh", ["-v", "-nh", "+crf", "{report}"], THREE, ["--status", "0xB007"]),
    ("refused-nh", ["-v", "-nh", "+crf", "{report}"], THREE, ["--status", "0xA701"]),
    ("refused-0122-nh", ["-v", "-nh", "+crf", "{report}"], [CT, MR], ["--status", "0x0122"]),
    ("unknown-nh", ["-v", "-nh", "+crf", "{report}"], THREE, ["--status", "0xD001"]),
    ("pending-status-nh", ["-v", "-nh", "+crf", "{report}"], [CT], ["--status", "0xFF00"]),
    ("rejected-nh", ["-v", "-nh", "+crf", "{report}"], [CT, MR], ["--reject", "1,1,1"]),
    # a truncated / garbage / oversized answer to the association request
    ("half-ac-halt", ["-v", "+crf", "{report}"], [CT, MR], ["--raw", "half-ac"]),
    ("half-ac-nh", ["-d", "-nh"], [CT, MR], ["--raw", "half-ac"]),
    ("garbage-ac-halt", ["-v"], [CT], ["--raw", "garbage-ac"]),
    ("garbage-ac-nh", ["-d", "-nh", "+crf", "{report}"], [CT, MR], ["--raw", "garbage-ac"]),
    ("huge-ac-halt", ["-v", "-ta", "2"], [CT], ["--raw", "huge-ac"]),
    ("huge-ac-nh", ["-v", "-nh", "-ta", "2"], [CT, MR], ["--raw", "huge-ac"]),
    # the connection closes in the middle of a PDU, a wrong PDU type, malformed PDVs, garbage
    ("half-rsp-halt", ["-v", "+crf", "{report}"], [CT, MR], ["--raw", "half-rsp"]),
    ("half-rsp-nh", ["-v", "-nh", "+crf", "{report}"], THREE, ["--raw", "half-rsp"]),
    ("wrong-pdu-halt", ["-d"], [CT, MR], ["--raw", "wrong-pdu"]),
    ("wrong-pdu-nh", ["-v", "-nh", "+crf", "{report}"], [CT, MR], ["--raw", "wrong-pdu"]),
    ("bad-pdv-halt", ["-v"], [CT], ["--raw", "bad-pdv"]),
    ("bad-pdv-nh", ["-d", "-nh", "-td", "1", "-ta", "1", "+crf", "{report}"], [CT, MR], ["--raw", "bad-pdv"]),
    ("short-pdv-halt", ["-v", "+crf", "{report}"], [CT], ["--raw", "short-pdv"]),
    ("short-pdv-nh", ["-v", "-nh", "-td", "1", "-ta", "1"], [CT, MR], ["--raw", "short-pdv"]),
    ("no-pdv-halt", ["-v"], [CT], ["--raw", "no-pdv"]),
    ("no-pdv-nh", ["-v", "-nh", "-td", "1", "-ta", "1", "+crf", "{report}"], [CT, MR], ["--raw", "no-pdv"]),
    ("data-pdv-halt", ["-v"], [CT], ["--raw", "data-pdv"]),
    ("data-pdv-nh", ["-v", "-nh", "-td", "1", "-ta", "1", "+crf", "{report}"], [CT, MR], ["--raw", "data-pdv"]),
    ("huge-pdu-halt", ["-v"], [CT], ["--raw", "huge-pdu"]),
    ("huge-pdu-nh", ["-v", "-nh", "+crf", "{report}"], [CT, MR], ["--raw", "huge-pdu"]),
    # (the refused header is held: the next instance's read refuses its body, the release sees a P-DATA PDU)
    ("huge-pdu-nh-one", ["-v", "-nh"], [CT], ["--raw", "huge-pdu"]),
    ("huge-pdu-nh-debug", ["-d", "-nh"], [CT, MR], ["--raw", "huge-pdu"]),
    ("garbage-nh", ["-v", "-nh", "+crf", "{report}"], [CT, MR], ["--raw", "garbage"]),
    ("echo-rsp-nh", ["-v", "-nh", "+crf", "{report}"], [CT, MR], ["--raw", "echo-rsp"]),
    ("close-halt", ["-d", "+crf", "{report}"], [CT, MR], ["--raw", "close"]),
    # no answer at all: the DIMSE timeout (-td) ends the wait
    ("mute-td-halt", ["-v", "-td", "1", "-ta", "1"], [CT, MR], ["--raw", "mute"]),
    ("mute-td-nh", ["-v", "-nh", "-td", "1", "-ta", "1", "+crf", "{report}"], [CT, MR], ["--raw", "mute"]),
    ("silent-nh", ["-v", "-nh", "-ta", "1"], [CT], ["--raw", "silent"]),
]


@pytest.mark.parametrize("opts,names,scp_args", [s[1:] for s in SCP_FAULTS], ids=[s[0] for s in SCP_FAULTS])
def test_scp_faults(opts, names, scp_args, tmp_path):
    files = [_testfile(n) for n in names]
    real, ours = _compare_scp([*opts, "127.0.0.1", "{port}", *files], tmp_path, scp_args)
    _check_ours(ours, files, "-nh" in opts, "+crf" in opts)


# ---- 3. faults that end only through DCMTK's fixed 60 s socket timeouts (ours alone, DCMSEND_SOCKET_TIMEOUT) -------
# What /usr/bin/dcmsend 3.6.7 printed in the same situations with the real 60 s (recorded once; see
# docs/reliability.md):
#  * peer accepts, then stops reading (stall, 64 MB file):  after 60 s
#      E: Failed sending C-STORE request: 0006:020e DIMSE Failed to send message
#      E: 0006:031d TCP I/O Error (<a stale errno text, here "Not a directory">) occurred in routine: writeDataPDU
#      F: cannot send SOP instance: DIMSE Failed to send message
#      F: 0006:031d TCP I/O Error (...) occurred in routine: writeDataPDU
#      I: Aborting Association                                  exit 62 (after the ACSE timeout more)
#  * peer reads everything and never answers (mute), no -td:  after 60 s
#      E: Failed receiving DIMSE response: 0006:0317 Peer aborted Association (or never connected)
#      F: cannot send SOP instance: Peer aborted Association (or never connected)
#      I: Peer Aborted Association                              exit 62

SOCKET_ENV = {"DCMSEND_SOCKET_TIMEOUT": "2"}


@pytest.fixture(scope="module")
def big_file(tmp_path_factory):
    """A 32 MB CT image: more than the socket buffers hold, so a peer that stops reading blocks the sender."""
    import pydicom

    ds = pydicom.dcmread(_testfile(CT))
    del ds.PixelData
    ds.Rows, ds.Columns, ds.NumberOfFrames = 4096, 4096, 1
    path = str(tmp_path_factory.mktemp("big") / "big.dcm")
    ds.save_as(path)
    length = 4096 * 4096 * 2
    with open(path, "ab") as fh:
        fh.write(b"\xe0\x7f\x10\x00OW\x00\x00" + length.to_bytes(4, "little"))
        fh.truncate(fh.tell() + length)
    return path


def _scp_peer(tmp_path, *args) -> harness.Peer:
    return harness.Peer(str(tmp_path / "received"), [os.path.join(HERE, "scp.py"), *args], program=sys.executable)


def _run_ours(args, tmp_path, env=None, timeout=60):
    rc, out, err, _ = harness.run_program(harness.ours_command(), args, str(tmp_path), env, timeout=timeout)
    assert "Traceback" not in err and "Traceback" not in out, err
    return rc, out, err


def _report(path):
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as fh:
        return fh.read()


@pytest.mark.parametrize("no_halt", [False, True], ids=["halt", "nh"])
def test_peer_stops_reading(no_halt, big_file, tmp_path):
    report = str(tmp_path / "report.txt")
    files = [big_file, _testfile(CT)]
    with _scp_peer(tmp_path, "--raw", "stall") as peer:
        args = ["-v", "-ta", "1", *(["-nh"] if no_halt else []), "+crf", report, "127.0.0.1", str(peer.port), *files]
        rc, out, err = _run_ours(args, tmp_path, SOCKET_ENV)
    assert "E: Failed sending C-STORE request: 0006:020e DIMSE Failed to send message" in err
    assert re.search(r"^E: 0006:031d TCP I/O Error \(.+\) occurred in routine: writeDataPDU$", err, re.M)
    if no_halt:
        assert rc == 0
        rep = _report(report)
        assert rep is not None and rep.count("DIMSE Status  : <not sent>") == 2
        _check_ours(harness.Run(rc, out, err, rep), files, True, True)
    else:
        assert rc == 62
        assert "F: cannot send SOP instance: DIMSE Failed to send message" in err
        assert re.search(r"^F: 0006:031d TCP I/O Error \(.+\) occurred in routine: writeDataPDU$", err, re.M)
        assert err.rstrip().endswith("I: Aborting Association")
        assert _report(report) is None  # as DCMTK: a halted transfer writes no report


@pytest.mark.parametrize("no_halt", [False, True], ids=["halt", "nh"])
def test_peer_never_answers(no_halt, tmp_path):
    report = str(tmp_path / "report.txt")
    files = [_testfile(CT), _testfile(MR)]
    with _scp_peer(tmp_path, "--raw", "mute") as peer:
        args = ["-v", "-ta", "1", *(["-nh"] if no_halt else []), "+crf", report, "127.0.0.1", str(peer.port), *files]
        rc, out, err = _run_ours(args, tmp_path, SOCKET_ENV)
    assert ("E: Failed receiving DIMSE response: 0006:0317 Peer aborted Association (or never connected)\n"
            in err)
    if no_halt:
        # as DCMTK after a peer abort in -nh mode (dcmsend-behaviour.md 7.5): state machine errors, exit 0
        assert rc == 0
        assert "E: 0006:0303 DUL Finite State Machine Error: No action defined, state 1 event 8" in err
        rep = _report(report)
        _check_ours(harness.Run(rc, out, err, rep), files, True, True)
        assert rep.count("DIMSE Status  : <not sent>") == 2
    else:
        assert rc == 62
        assert err.endswith("F: cannot send SOP instance: Peer aborted Association (or never connected)\n"
                            "I: Peer Aborted Association\n")


def test_default_socket_timeout_is_dcmtks(tmp_path):
    """Without the test override, the socket timeouts are DCMTK's fixed 60 s (as the debug log says)."""
    with harness.Peer(str(tmp_path / "received")) as peer:
        env = {"DCMSEND_SOCKET_TIMEOUT": ""}
        rc, out, err = _run_ours(["-d", "127.0.0.1", str(peer.port), _testfile(CT)], tmp_path, env)
    assert rc == 0
    assert "D: setting network send timeout to 60 seconds\nD: setting network receive timeout to 60 seconds\n" in err


# ---- 4. signals: Ctrl-C / SIGTERM during a transfer --------------------------------------------------------------


def _interrupt(args, tmp_path, signum, wait_for: str, env=None):
    """Start ours, wait until ``wait_for`` appears on stderr, send ``signum``; return (rc, stderr)."""
    proc = subprocess.Popen([*harness.ours_command(), *args], cwd=str(tmp_path), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, env={**os.environ, **(env or {})})
    try:
        seen = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            line = proc.stderr.readline().decode()
            if not line:
                break
            seen.append(line)
            if wait_for in line:
                time.sleep(0.3)  # let it get into the blocking call
                os.kill(proc.pid, signum)
                break
        rest = proc.stderr.read().decode()
        proc.wait(timeout=20)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
    return proc.returncode, "".join(seen) + rest


@pytest.mark.parametrize("signum,behaviour", [(signal.SIGINT, "slow"), (signal.SIGTERM, "slow"),
                                              (signal.SIGINT, "mute"), (signal.SIGTERM, "mute")],
                         ids=["int-sending", "term-sending", "int-waiting", "term-waiting"])
def test_signal_aborts_association(signum, behaviour, big_file, tmp_path):
    """Interrupted while sending (a slow reader: the sender is blocked part-way through a PDU) or while waiting
    for the response: the association is aborted with an A-ABORT the peer can read, the program says why and ends
    with 128 + N; a report is not written (the transfer did not end)."""
    report = str(tmp_path / "report.txt")
    path = big_file if behaviour == "slow" else _testfile(CT)
    with _scp_peer(tmp_path, "--raw", behaviour) as peer:
        rc, err = _interrupt(["-v", "-nh", "+crf", report, "127.0.0.1", str(peer.port), path], tmp_path, signum,
                             "Sending C-STORE Request")
        _wait_peer_log(peer, "A-ABORT received")
    assert "Traceback" not in err
    assert rc == 128 + signum, err
    assert err.endswith(f"F: interrupted by signal {signum}\nI: Aborting Association\n"), err
    assert "A-ABORT received" in peer.log, peer.log
    assert not os.path.exists(report)


def _wait_peer_log(peer: harness.Peer, text: str, timeout: float = 20) -> None:
    """Wait until the running peer has written ``text`` (or something unexpected) to its log."""
    path = os.path.join(os.path.dirname(peer.outdir), f"peer-{peer.port}.log")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open(path, encoding="utf-8", errors="replace") as fh:
            log = fh.read()
        if text in log or "bad PDU type" in log:
            return
        time.sleep(0.05)


def test_signal_while_negotiating(tmp_path):
    with _scp_peer(tmp_path, "--raw", "silent") as peer:
        rc, err = _interrupt(["-v", "127.0.0.1", str(peer.port), _testfile(CT)], tmp_path, signal.SIGINT,
                             "Requesting Association")
    assert rc == 130 and err.endswith("F: interrupted by signal 2\nI: Aborting Association\n"), err


def test_signal_during_report_is_held_back(tmp_path, monkeypatch, capsys, fresh_logging):
    """A signal arriving while the report is written is delivered after it: the report is complete, no temporary
    file is left behind, and the program still ends as interrupted."""
    from dcmsend import cli, log, report

    real_replace = os.replace

    def replace_with_signal(src, dst):
        os.kill(os.getpid(), signal.SIGINT)
        time.sleep(0.05)
        real_replace(src, dst)

    monkeypatch.setattr(report.os, "replace", replace_with_signal)
    rep = str(tmp_path / "report.txt")
    with harness.Peer(str(tmp_path / "received")) as peer:
        log.reset()
        try:
            rc = cli.main(["dcmsend", "+crf", rep, "127.0.0.1", str(peer.port), _testfile(CT), _testfile(MR)])
        finally:
            log.reset()
    err = capsys.readouterr().err
    assert rc == 130, err
    assert err == "F: interrupted by signal 2\n"
    text = _report(rep)
    assert text is not None and text.endswith("  * with status SUCCESS  : 2")
    assert [n for n in os.listdir(tmp_path) if n.startswith(".dcmsend-report-")] == []
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # handlers restored


# ---- 5. last resort: an unexpected exception is an "F: internal error", never a traceback ------------------------


@pytest.mark.parametrize("where", ["collect", "send", "memory"])
def test_internal_error(where, tmp_path, monkeypatch, capsys, fresh_logging):
    from dcmsend import cli, collect, log, network

    def boom(*args, **kwargs):
        raise (MemoryError() if where == "memory" else RuntimeError("boom"))

    if where == "collect":
        monkeypatch.setattr(collect, "collect", boom)
    else:
        monkeypatch.setattr(network.Association, "send_store", boom)
    with _scp_peer(tmp_path, "--raw", "mute") as peer:
        log.reset()
        try:
            rc = cli.main(["dcmsend", "-v", "127.0.0.1", str(peer.port), _testfile(CT)])
        finally:
            log.reset()
        if where != "collect":
            _wait_peer_log(peer, "A-ABORT received")
    err = capsys.readouterr().err
    assert "Traceback" not in err
    if where == "memory":
        assert rc == 4 and err.endswith("F: internal error: out of memory\n"), err
    else:
        assert rc == 100 and err.endswith("F: internal error: RuntimeError: boom\n"), err
    if where != "collect":
        assert "I: Aborting Association\n" in err
        assert "A-ABORT received" in peer.log


@pytest.mark.parametrize("size", [100_000, 0])
def test_file_cut_after_loading(size, tmp_path, monkeypatch, capsys, fresh_logging):
    """The file shrinks between loading and reading its values (a large file's values are read while sending): the
    short read is DCMTK's failed send (writeBlock warning, exit 62), never an internal error."""
    import numpy as np
    import pydicom

    from dcmsend import cli, log, network

    ds = pydicom.dcmread(_testfile(CT))
    ds.Rows = ds.Columns = 512
    ds.PixelData = np.zeros((512, 512), dtype=np.uint16).tobytes()  # ~512 KB: read from the file while sending
    path = str(tmp_path / "big.dcm")
    ds.save_as(path)
    send_store = network.Association.send_store

    def cut_then_send(self, *args):
        os.truncate(path, size)
        return send_store(self, *args)

    monkeypatch.setattr(network.Association, "send_store", cut_then_send)
    with harness.Peer(str(tmp_path / "received"), []) as peer:
        log.reset()
        try:
            rc = cli.main(["dcmsend", "-v", "127.0.0.1", str(peer.port), path])
        finally:
            log.reset()
    err = capsys.readouterr().err
    assert "Traceback" not in err and "internal error" not in err, err
    assert rc == 62, err
    assert ("W: DIMSE Warning: (DCMSEND,ANY-SCP): writeBlock Failed (I/O suspension or premature end of stream)\n"
            "E: Failed sending C-STORE request: 0006:020e DIMSE Failed to send message\n") in err
