"""--parallel / --parallel-unit / --async-ops (extensions, not in DCMTK): options, the Asynchronous Operations
Window negotiation, sending with a window against tests/async_scp.py (in order, out of order, failures, an abort,
the DIMSE timeout, a refused window), parallel associations against `storescp --fork` (every SOP Instance UID
stored exactly once, the report in input order, a series on one association), halt mode, interrupts, the API."""

from __future__ import annotations

import glob
import os
import re
import signal
import struct
import subprocess
import sys
import time

import pytest

from conftest import requires_dcmtk
from dcmsend import cmdline, pdu

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402
import series_data  # noqa: E402

ASYNC_SCP = os.path.join(HERE, "async_scp.py")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """24 files in 5 series (2 studies), interleaved in the input order."""
    pytest.importorskip("pydicom")
    directory = str(tmp_path_factory.mktemp("series"))
    return series_data.write_series(directory, 24, 5, studies=2)


def _uids(paths):
    from pydicom import dcmread

    return [str(dcmread(p, specific_tags=["SOPInstanceUID"]).SOPInstanceUID) for p in paths]


def _series(paths):
    from pydicom import dcmread

    return [str(dcmread(p, specific_tags=["SeriesInstanceUID"]).SeriesInstanceUID) for p in paths]


def _run(args, timeout=60):
    return harness.run_program(harness.ours_command(), args, os.getcwd(), timeout=timeout)


def _report_entries(text):
    """(filename, association, status) per report entry, in the report's order."""
    out = []
    for block in text.split("\n\n"):
        name = re.search(r"^Filename      : (.*)$", block, re.M)
        assoc = re.search(r"^Association   : (\d+)$", block, re.M)
        status = re.search(r"^DIMSE Status  : (.*)$", block, re.M)
        if name and assoc and status:
            out.append((name.group(1), int(assoc.group(1)), status.group(1)))
    return out


# ------------------------------------------------------------------------------------------------------ options

def test_options_parse_and_defaults():
    opts = cmdline.evaluate(["dcmsend", "-j", "8", "-pu", "study", "-ao", "16", "localhost", "104", "x.dcm"])
    assert (opts.parallel, opts.parallel_unit, opts.async_ops) == (8, "study", 16)
    opts = cmdline.evaluate(["dcmsend", "--parallel", "2", "--parallel-unit", "instance", "--async-ops", "1",
                             "localhost", "104", "x.dcm"])
    assert (opts.parallel, opts.parallel_unit, opts.async_ops) == (2, "instance", 1)
    opts = cmdline.evaluate(["dcmsend", "localhost", "104", "x.dcm"])
    assert (opts.parallel, opts.parallel_unit, opts.async_ops) == (1, "series", 0)


@pytest.mark.parametrize("args, message", [
    (["-j", "0"], "Invalid value for option --parallel (underflow: 0)"),
    (["--parallel", "65"], "Invalid value for option --parallel (overflow: 65)"),
    (["-pu", "patient"], "Invalid value for option --parallel-unit (patient)"),
    (["-ao", "0"], "Invalid value for option --async-ops (underflow: 0)"),
    (["-ao", "65536"], "Invalid value for option --async-ops (overflow: 65536)"),
])
def test_option_errors(args, message):
    rc, out, err, _ = _run([*args, "127.0.0.1", "104", "x.dcm"])
    assert rc == 1
    assert f"error: {message}" in err
    assert "Traceback" not in err


def test_help_has_an_extensions_section():
    text = cmdline.usage_text()
    head, _, tail = text.partition("concurrent sending options (extensions, not in DCMTK):")
    assert tail, "no section of its own"
    for name in ("--parallel", "--parallel-unit", "--async-ops", "-j ", "-pu ", "-ao "):
        assert name in tail and name not in head


@requires_dcmtk
def test_short_names_unused_by_dcmtk(dcmtk_tool):
    texts = ""
    for tool in ("dcmsend", "storescu"):
        proc = subprocess.run([dcmtk_tool(tool), "--help"], capture_output=True, text=True)
        texts += proc.stdout + proc.stderr
    for name in ("-j", "-pu", "-ao", "--parallel", "--parallel-unit", "--async-ops"):
        assert not re.search(rf"(^|\s){re.escape(name)}(\s|$)", texts, re.M), name


# ---------------------------------------------------------------------------------------------- the negotiation

def _user_items(pdu: bytes):
    pos = 10 + 64
    while pos + 4 <= len(pdu):
        t, _, n = struct.unpack_from(">BBH", pdu, pos)
        if t == 0x50:
            sub = pos + 4
            while sub + 4 <= pos + 4 + n:
                st, _, sn = struct.unpack_from(">BBH", pdu, sub)
                yield st, pdu[sub + 4:sub + 4 + sn]
                sub += 4 + sn
        pos += 4 + n


def test_rq_carries_the_window_only_with_the_option():
    params = pdu.AssociationParameters("A", "B", 16384)
    plain = pdu.encode_associate_rq(params)
    assert 0x53 not in [t for t, _ in _user_items(plain)]
    params.async_invoked = 12
    items = dict(_user_items(pdu.encode_associate_rq(params)))
    assert items[0x53] == struct.pack(">HH", 12, 1)


def _ac_body(window: bytes | None) -> bytes:
    user = b"\x51\x00\x00\x04" + struct.pack(">I", 16384)
    if window is not None:
        user += b"\x53\x00" + struct.pack(">H", len(window)) + window
    # (protocol version 1: DCMTK, and parse_associate_ac with it, refuses an A-ASSOCIATE-AC without bit 0 set)
    return struct.pack(">HH", 1, 0) + bytes(64) + b"\x50\x00" + struct.pack(">H", len(user)) + user


@pytest.mark.parametrize("proposed, answer, granted", [
    (8, struct.pack(">HH", 4, 1), 4), (8, struct.pack(">HH", 20, 1), 8), (8, struct.pack(">HH", 0, 1), 8),
    (8, None, 0), (0, struct.pack(">HH", 4, 1), 0), (8, b"\x00\x04", 0)])
def test_ac_grant(proposed, answer, granted):
    params = pdu.AssociationParameters("A", "B", 16384)
    params.async_invoked = proposed
    pdu.parse_associate_ac(_ac_body(answer), params)
    assert params.async_granted == granted


# ------------------------------------------------------------------------------------------- async window runs

def _async_peer(outdir, *args):
    return harness.Peer(outdir, [ASYNC_SCP, *args], program=sys.executable)


def _lines(outdir, name):
    path = os.path.join(outdir, name)
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return f.read().split("\n")[:-1]


@pytest.mark.parametrize("order", ["in", "reverse"])
def test_window_granted(corpus, tmp_path, order):
    out = str(tmp_path / "peer")
    report = str(tmp_path / "report.txt")
    with _async_peer(out, "--window", "4", "--order", order) as peer:
        rc, stdout, err, _ = _run(["-v", "-ao", "8", "+crf", report, "127.0.0.1", str(peer.port), *corpus])
    assert rc == 0, err
    assert _lines(out, "proposed.txt") == ["8 1"]
    assert sorted(_lines(out, "received.txt")) == sorted(_uids(corpus))
    answered = [int(line.split()[0]) for line in _lines(out, "answered.txt")]
    assert sorted(answered) == list(range(1, 25))
    if order == "reverse":
        assert answered != sorted(answered)  # the responses came out of order
    # at most 4 requests outstanding: before the 5th request went out, a response came
    events = [line for line in err.split("\n") if "C-STORE" in line]
    outstanding = peak = 0
    for line in events:
        outstanding += 1 if "Sending" in line else -1
        peak = max(peak, outstanding)
    # (reverse: the peer answers only when the window is full; in order: as fast as it can, so fewer may wait)
    assert peak == 4 if order == "reverse" else 1 <= peak <= 4
    with open(report) as f:
        entries = _report_entries(f.read())
    assert [name for name, _, _ in entries] == corpus
    assert all(status == "0x0000 (Success)" for _, _, status in entries)


def test_window_statuses_per_instance(corpus, tmp_path):
    out = str(tmp_path / "peer")
    report = str(tmp_path / "report.txt")
    with _async_peer(out, "--window", "6", "--order", "reverse", "--fail-every", "5") as peer:
        rc, _, err, _ = _run(["-ao", "6", "+crf", report, "127.0.0.1", str(peer.port), *corpus])
    assert rc == 0, err
    with open(report) as f:
        text = f.read()
    statuses = [status for _, _, status in _report_entries(text)]
    # the peer counts requests in the order they came (message IDs 1, 2, ...: the input order)
    expected = ["0xa700 (Refused: OutOfResources)" if (i + 1) % 5 == 0 else "0x0000 (Success)" for i in range(24)]
    assert statuses == expected
    assert "  * with status REFUSED  : 4" in text


def test_window_peer_aborts(corpus, tmp_path):
    out = str(tmp_path / "peer")
    with _async_peer(out, "--window", "4", "--order", "reverse", "--abort-after", "6") as peer:
        rc, _, err, _ = _run(["-ao", "4", "127.0.0.1", str(peer.port), *corpus])
    assert rc == 62
    # (while sending the next request, or while waiting for the responses: which one depends on the timing)
    assert re.search(r"^F: cannot send SOP instance: ", err, re.M), err
    assert "Traceback" not in err
    assert len(_lines(out, "received.txt")) == 6


def test_window_dimse_timeout_per_request(corpus, tmp_path):
    out = str(tmp_path / "peer")
    with _async_peer(out, "--window", "4", "--hold") as peer:
        rc, _, err, _ = _run(["-ao", "4", "-td", "1", "127.0.0.1", str(peer.port), *corpus[:6]])
        time.sleep(0.2)
        peer_log = peer
    assert rc == 62
    assert "E: Failed receiving DIMSE response: 0006:0207 DIMSE No data available (timeout in non-blocking mode)" in err
    assert "F: cannot send SOP instance: DIMSE No data available (timeout in non-blocking mode)" in err
    assert len(_lines(out, "received.txt")) == 4  # the window was full: no 5th request
    peer_log.stop()
    assert "A-ABORT received" in peer_log.log


def test_window_refused_is_todays_behaviour(corpus, tmp_path):
    """The peer ignores the proposal: the log is the one without the option, request by request."""
    runs = []
    for extra in ([], ["-ao", "8"]):
        out = str(tmp_path / f"peer{len(runs)}")
        with _async_peer(out, "--window", "0") as peer:
            rc, _, err, _ = _run(["-v", *extra, "127.0.0.1", str(peer.port), *corpus[:8]])
        runs.append((rc, err.replace(str(peer.port), "<PORT>"), _lines(out, "proposed.txt")))
    assert runs[0][0] == runs[1][0] == 0
    assert runs[0][1] == runs[1][1]
    assert runs[0][2] == ["none"] and runs[1][2] == ["8 1"]


@requires_dcmtk
@pytest.mark.parametrize("extra", [["-ao", "8"], ["-j", "1"], ["-ao", "4", "-pu", "instance"]])
def test_side_by_side_with_storescp_refusing_the_window(corpus, tmp_path, extra):
    """storescp performs no asynchronous operations: with the extension options and -j 1 everything (log at debug
    level, report, what the peer stored) is DCMTK's."""
    base = str(tmp_path)
    args = ["-d", "+crf", "{report}", "127.0.0.1", "{port}", *corpus[:5]]
    real = harness.run_side("real", args, base, None, [], None, True)
    ours = harness.run_side("ours", [*extra, *args], base, None, [], None, True)
    harness.assert_same(real, ours, ignore_lines=[r"^D: \$dcmsend", r"^D: \$dcmtk"])
    assert real.received == ours.received and len(real.received) == 5


# ------------------------------------------------------------------------------------------- parallel associations

def _storescp(outdir, *args):
    return harness.Peer(outdir, ["--fork", "--unique-filenames", *args])


@requires_dcmtk
@pytest.mark.parametrize("unit", ["series", "study", "instance"])
def test_parallel_each_instance_stored_once(corpus, tmp_path, unit):
    out = str(tmp_path / "peer")
    report = str(tmp_path / "report.txt")
    with _storescp(out) as peer:
        rc, stdout, err, _ = _run(["-v", "-j", "4", "-pu", unit, "+crf", report, "127.0.0.1", str(peer.port),
                                   *corpus])
    assert rc == 0, err
    stored = _uids(sorted(glob.glob(os.path.join(out, "*"))))
    assert sorted(stored) == sorted(_uids(corpus))  # no loss, no duplicate
    with open(report) as f:
        text = f.read()
    entries = _report_entries(text)
    assert [name for name, _, _ in entries] == corpus  # input order
    assert all(status == "0x0000 (Success)" for _, _, status in entries)
    key = {"series": _series(corpus), "study": None, "instance": None}[unit]
    if key is not None:
        by_series = {}
        for (_, assoc, _), series in zip(entries, key):
            by_series.setdefault(series, set()).add(assoc)
        assert all(len(a) == 1 for a in by_series.values())  # a series never spans two associations
    associations = {assoc for _, assoc, _ in entries}
    assert f"Number of associations   : {len(associations)}" in text
    # one association per worker (the units fit the contexts of the first): 2 studies, or 4 workers
    assert len(associations) == (2 if unit == "study" else 4)
    # each association's lines carry its tag; every tag of the report appears
    tags = set(re.findall(r"^I: \[w\d+:a(\d+)\] Association Accepted", err, re.M))
    assert {str(a) for a in associations} <= tags
    assert "I: Status Summary" in err


@requires_dcmtk
def test_parallel_keeps_the_association_across_units(corpus, tmp_path):
    out = str(tmp_path / "peer")
    report = str(tmp_path / "report.txt")
    with _storescp(out) as peer:
        rc, _, err, _ = _run(["-j", "2", "-pu", "instance", "+crf", report, "127.0.0.1", str(peer.port), *corpus])
    assert rc == 0, err
    with open(report) as f:
        text = f.read()
    assert "Number of associations   : 2" in text  # 24 units, one association per worker


@requires_dcmtk
def test_parallel_and_window_together(corpus, tmp_path):
    out = str(tmp_path / "peer")
    with _async_peer(out, "--window", "3", "--order", "reverse") as peer:
        rc, _, err, _ = _run(["-j", "3", "-ao", "8", "127.0.0.1", str(peer.port), *corpus])
    assert rc == 0, err
    assert sorted(_lines(out, "received.txt")) == sorted(_uids(corpus))
    assert _lines(out, "proposed.txt") == ["8 1"] * 3


@requires_dcmtk
@pytest.mark.parametrize("peer_args, code", [(["--refuse"], 61), (["--abort-after"], 62)])
def test_parallel_halt_mode_stops_all_workers(corpus, tmp_path, peer_args, code):
    """A refusing or aborting peer: the exit code is DCMTK's for the same peer, no report, no traceback."""
    base = str(tmp_path)
    args = ["+crf", "{report}", "127.0.0.1", "{port}", *corpus]
    real = harness.run_side("real", args, base, None, ["--fork", *peer_args], None, True)
    ours = harness.run_side("ours", ["-j", "3", *args], base, None, ["--fork", *peer_args], None, True)
    assert real.returncode == ours.returncode == code
    assert real.report is None and ours.report is None
    assert "Traceback" not in ours.stderr
    fatal = [line for line in ours.stderr.split("\n") if line.startswith("F: ")]
    assert fatal and all(re.match(r"F: \[w\d+:a\d+\] cannot (negotiate network association|send SOP instance)", line)
                         for line in fatal)
    # the first fatal line is DCMTK's fatal line (with the worker's tag)
    real_fatal = [line for line in real.stderr.split("\n") if line.startswith("F: ")]
    assert re.sub(r"\[w\d+:a\d+\] ", "", fatal[0]) == real_fatal[0]


@requires_dcmtk
def test_parallel_no_halt_goes_on(corpus, tmp_path):
    """-nh: a file that cannot be read at send time (its data set is cut short) fails alone; the report covers all."""
    out = str(tmp_path / "peer")
    report = str(tmp_path / "report.txt")
    bad = str(tmp_path / "cut.dcm")
    with open(corpus[0], "rb") as f:
        head = f.read(700)
    with open(bad, "wb") as f:
        f.write(head)
    files = [*corpus[1:7], bad, corpus[7]]
    with _storescp(out) as peer:
        rc, _, err, _ = _run(["-nh", "-j", "2", "-pu", "instance", "+crf", report, "127.0.0.1", str(peer.port),
                              *files])
    assert rc == 0, err
    assert re.search(r"^E: \[w\d:a\d\] cannot send SOP instance from file: .*cut.dcm: I/O suspension or premature end "
                     r"of stream$", err, re.M), err
    with open(report) as f:
        entries = _report_entries(f.read())
    assert [name for name, _, _ in entries] == files
    assert [status for _, _, status in entries] == ["0x0000 (Success)"] * 6 + ["<not sent>", "0x0000 (Success)"]
    assert sorted(_uids(glob.glob(os.path.join(out, "*")))) == sorted(_uids(files[:6] + files[7:]))


@requires_dcmtk
def test_parallel_interrupt_aborts_every_association(corpus, tmp_path):
    out = str(tmp_path / "peer")
    with _async_peer(out, "--hold") as peer:
        proc = subprocess.Popen([*harness.ours_command(), "-j", "3", "-pu", "instance", "127.0.0.1", str(peer.port),
                                 *corpus], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 20
        while len(_lines(out, "received.txt")) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
        time.sleep(0.3)
        peer.stop()
    assert proc.returncode == 130
    text = err.decode()
    assert "F: interrupted by signal 2" in text
    assert "Traceback" not in text
    assert peer.log.count("A-ABORT received") == 3


def test_api_takes_the_options(corpus, tmp_path):
    import dcmsend

    out = str(tmp_path / "peer")
    with _async_peer(out, "--window", "4") as peer:
        result = dcmsend.send_files("127.0.0.1", peer.port, corpus[:10], parallel=2, parallel_unit="instance",
                                    async_ops=4)
    assert result.exit_code == 0
    assert [e.status for e in result.instances] == [0] * 10
    assert sorted(_lines(out, "received.txt")) == sorted(_uids(corpus[:10]))


def test_parallel_with_a_peer_limiting_associations(corpus, tmp_path):
    """The peer rejects a second association while one is open: the workers whose negotiation fails give their
    units back and end; the run goes on with the association that works."""
    out = str(tmp_path / "peer")
    report = str(tmp_path / "report.txt")
    # (the responses 20 ms late: the first association is still open when the other workers negotiate, also on a
    # loaded machine)
    with _async_peer(out, "--max-associations", "1", "--response-delay", "20") as peer:
        rc, _, err, _ = _run(["-j", "3", "+crf", report, "127.0.0.1", str(peer.port), *corpus])
    assert rc == 0, err
    warnings = re.findall(r"^W: \[w\d:a\d\] cannot negotiate network association: DUL Association Rejected, going on "
                          r"with the other associations$", err, re.M)
    assert 1 <= len(warnings) <= 2, err
    assert sorted(_lines(out, "received.txt")) == sorted(_uids(corpus))
    with open(report) as f:
        text = f.read()
    entries = _report_entries(text)
    assert [status for _, _, status in entries] == ["0x0000 (Success)"] * len(corpus)


def test_parallel_with_a_peer_refusing_every_association(corpus, tmp_path):
    """Nobody gets an association: the failure counts (exit 61, as dcmsend against that peer)."""
    out = str(tmp_path / "peer")
    with _async_peer(out, "--max-associations", "1", "--hold") as peer:
        # one association is taken (and held) by another client first
        import socket

        with socket.create_connection(("127.0.0.1", peer.port)) as other:
            rq = _minimal_rq()
            other.sendall(rq)
            assert other.recv(1)[:1] == b"\x02"
            rc, _, err, _ = _run(["-j", "3", "127.0.0.1", str(peer.port), *corpus])
    assert rc == 61, err
    assert re.search(r"^F: \[w\d:a\d\] cannot negotiate network association: DUL Association Rejected$", err, re.M), err


def _minimal_rq() -> bytes:
    params = pdu.AssociationParameters("OTHER", "ANY-SCP", 16384)
    params.contexts = [pdu.ContextResult(1, "1.2.840.10008.1.1", ["1.2.840.10008.1.2"])]
    return pdu.encode_associate_rq(params)


@requires_dcmtk
def test_parallel_single_association_mode(corpus, tmp_path):
    out = str(tmp_path / "peer")
    with _storescp(out) as peer:
        rc, _, err, _ = _run(["-ma", "-j", "3", "127.0.0.1", str(peer.port), *corpus])
    assert rc == 0, err
    assert sorted(_uids(glob.glob(os.path.join(out, "*")))) == sorted(_uids(corpus))


@requires_dcmtk
@pytest.mark.parametrize("extension", [False, True])
def test_parallel_single_association_sends_every_sop_class(tmp_path, extension):
    """-ma with --parallel: instances of several SOP classes and transfer syntaxes in units of one instance; DCMTK's
    single association carries them all, so must ours (not only those that fit a worker's first unit)."""
    paths = []
    for i in range(8):
        name = "CT_small.dcm" if i % 2 else "MR_small.dcm"
        paths += series_data.write_series(str(tmp_path / f"in{i}"), 1, 1, name=name,
                                          root=f"1.2.826.0.1.3680043.10.1016.{i}")
    out = str(tmp_path / "peer")
    with _storescp(out) as peer:
        rc, _, err, _ = _run(["-ma", "-j", "2", "--parallel-unit", "instance", "127.0.0.1", str(peer.port), *paths,
                              *(["+crj", str(tmp_path / "r.json")] if extension else [])])
    assert rc == 0, err
    assert sorted(_uids(glob.glob(os.path.join(out, "*")))) == sorted(_uids(paths))


# ------------------------------------------------------------------------------------------------ the unit scanner

@pytest.mark.parametrize("ts", ["1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2",
                                "1.2.840.10008.1.2.1.99"])
@pytest.mark.parametrize("undefined", [False, True])
def test_unit_scanner_reads_the_uids(tmp_path, ts, undefined):
    """Series and Study Instance UID after sequences of defined and undefined length, in every uncompressed and the
    deflated transfer syntax, from a Part-10 file and from a bare data set."""
    pydicom = pytest.importorskip("pydicom")
    from pydicom.dataset import Dataset, FileMetaDataset

    from dcmsend.collect import Instance
    from dcmsend.units import SERIES_UID, STUDY_UID, make_units, read_uid

    ds = Dataset()
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    ds.SOPInstanceUID = "1.2.3.4"
    item = Dataset()
    item.ReferencedSOPClassUID = "1.2.840.10008.5.1.4.1.1.7"
    item.ReferencedSOPInstanceUID = "1.2.3.9"
    inner = Dataset()
    inner.CodeValue = "X"
    item.PurposeOfReferenceCodeSequence = [inner]
    ds.ReferencedImageSequence = [item, item]
    ds.add_new(0x00091010, "UN", b"\x01\x02")
    ds.StudyInstanceUID = "1.2.3.100"
    ds.SeriesInstanceUID = "1.2.3.200"
    ds.PatientName = "A"
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ts
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    if undefined:
        ds["ReferencedImageSequence"].is_undefined_length = True
        for it in ds.ReferencedImageSequence:
            it.is_undefined_length_sequence_item = True
    path = str(tmp_path / "f.dcm")
    ds.save_as(path, enforce_file_format=True)
    entry = Instance(path, "fileonly", ds.SOPClassUID, ds.SOPInstanceUID, ts)
    assert read_uid(entry, SERIES_UID) == "1.2.3.200"
    assert read_uid(entry, STUDY_UID) == "1.2.3.100"
    other = Instance(path, "fileonly", ds.SOPClassUID, "1.2.3.5", ts)
    assert make_units([entry, other, entry], "series") == [[0, 1, 2]]
    if ts != "1.2.840.10008.1.2.1.99":
        bare = str(tmp_path / "bare.dcm")
        del ds.file_meta
        pydicom.dcmwrite(bare, ds, enforce_file_format=False, little_endian=ts != "1.2.840.10008.1.2.2",
                         implicit_vr=ts == "1.2.840.10008.1.2")
        entry = Instance(bare, "dataset", ds.SOPClassUID, ds.SOPInstanceUID, ts)
        assert read_uid(entry, SERIES_UID) == "1.2.3.200"


def test_unit_scanner_without_the_uid_or_unreadable(tmp_path):
    from dcmsend.collect import Instance
    from dcmsend.units import make_units

    missing = Instance(str(tmp_path / "missing.dcm"), "fileonly", "1.2", "1.3", "1.2.840.10008.1.2.1")
    garbage_path = tmp_path / "garbage.dcm"
    garbage_path.write_bytes(b"\0" * 128 + b"DICM" + os.urandom(300))
    garbage = Instance(str(garbage_path), "fileonly", "1.2", "1.4", "1.2.840.10008.1.2.1")
    assert make_units([missing, garbage, missing], "series") == [[0], [1], [2]]
    assert make_units([missing, garbage], "instance") == [[0], [1]]


@requires_dcmtk
def test_parallel_with_the_other_extensions(corpus, tmp_path):
    """--parallel with the JSON report, the journal, retries and progress: the workers report to them."""
    import json

    out = str(tmp_path / "peer")
    report = str(tmp_path / "r.json")
    journal = str(tmp_path / "j.db")
    with _storescp(out) as peer:
        rc, _, err, _ = _run(["-j", "3", "+crj", report, "+jo", journal, "+rt", "1", "+pg", "127.0.0.1",
                              str(peer.port), *corpus])
        assert rc == 0, err
        with open(report) as f:
            doc = json.load(f)
        assert [i["status"] for i in doc["instances"]] == [0] * len(corpus)
        assert [a["result"] for a in doc["associations"]] == ["accepted"] * 3
        assert doc["run"]["options"]["parallel"] == 3
        assert "dcmsend progress: 24/24 instances" in err
        # the journal knows every instance: a second run sends nothing
        rc, _, err, _ = _run(["-v", "-j", "3", "+jo", journal, "127.0.0.1", str(peer.port), *corpus])
    assert rc == 0, err
    assert "skipped (journal)    : 24" in err
    assert sorted(_uids(glob.glob(os.path.join(out, "*")))) == sorted(_uids(corpus))


def test_window_with_retries_and_json_report(corpus, tmp_path):
    """The peer aborts after every 6th request with responses held: the instances without a response are sent
    again on a new association (--retry), and the JSON report has every instance's last status."""
    import json

    out = str(tmp_path / "peer")
    report = str(tmp_path / "r.json")
    env_delay = {"DCMSEND_RETRY_DELAY": "0"}
    with _async_peer(out, "--window", "4", "--order", "reverse", "--abort-after", "6") as peer:
        rc, _, err, _ = harness.run_program(harness.ours_command(), ["-ao", "4", "+rt", "10", "+crj", report,
                                                                      "127.0.0.1", str(peer.port), *corpus],
                                            os.getcwd(), env=env_delay, timeout=60)
    assert rc == 0, err
    assert "W: transient failure" in err
    with open(report) as f:
        doc = json.load(f)
    assert [i["status"] for i in doc["instances"]] == [0] * len(corpus)
    assert set(_lines(out, "received.txt")) == set(_uids(corpus))


@requires_dcmtk
def test_parallel_over_tls(corpus, tmp_path):
    """--parallel with TLS (storescu's options): every worker's association is a TLS one."""
    import shutil

    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("openssl is not installed")
    d = str(tmp_path / "certs")
    os.makedirs(d)

    def run(*args):
        subprocess.run([openssl, *args], cwd=d, check=True, capture_output=True, timeout=60)

    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
        "-subj", "/CN=Test CA")
    for name in ("server", "client"):
        run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj",
            f"/CN={name}")
        run("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out",
            f"{name}.pem", "-days", "2")
    out = str(tmp_path / "peer")
    peer_args = ["--fork", "--unique-filenames", "+tls", os.path.join(d, "server.key"), os.path.join(d, "server.pem"),
                 "+cf", os.path.join(d, "ca.pem")]
    with harness.Peer(out, peer_args) as peer:
        rc, _, err, _ = harness.run_program(
            harness.ours_command(), ["-v", "-j", "3", "+tls", "client.key", "client.pem", "+cf", "ca.pem",
                                     "127.0.0.1", str(peer.port), *corpus], d, timeout=60)
    assert rc == 0, err
    assert len(re.findall(r"^I: \[w\d:a\d\] Association Accepted", err, re.M)) == 3
    assert sorted(_uids(glob.glob(os.path.join(out, "*")))) == sorted(_uids(corpus))
