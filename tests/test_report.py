"""Status texts, status summary and the +crf report file (report.py).  The layout is checked byte for byte
against reports written by the real /usr/bin/dcmsend (DCMTK 3.6.7): against DCMTK's storescp, and against a
pynetdicom SCP that answers each instance with a chosen DIMSE status."""

from __future__ import annotations

import io
import os
import re
import stat
import subprocess
from datetime import datetime
from types import SimpleNamespace

import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset

from conftest import REAL_DCMSEND, requires_dcmtk
from dcmsend import log
from dcmsend.collect import Instance
from dcmsend.part10 import READ_FILE_ONLY
from dcmsend.plan import TransferState, add_presentation_contexts
from dcmsend.report import report_text, status_text, summary_text, write_report
from harness import Peer, free_port

TEST_FILES = os.path.join(os.path.dirname(pydicom.__file__), "data", "test_files")
CT = "1.2.840.10008.5.1.4.1.1.2"
LEE = "1.2.840.10008.1.2.1"


# ---------------------------------------------------------------------------------------------------------
# DU_cstoreStatusString


@pytest.mark.parametrize("status,text", [
    (0x0000, "Success"),
    (0xB000, "Warning: CoercionOfDataElements"),
    (0xB007, "Warning: DataSetDoesNotMatchSOPClass"),
    (0xB006, "Warning: ElementsDiscarded"),
    (0xB001, "Unknown Status: 0xb001"),
    (0xA700, "Refused: OutOfResources"),
    (0xA7FF, "Refused: OutOfResources"),
    (0x0122, "Refused: SOPClassNotSupported"),
    (0xA800, "Unknown Status: 0xa800"),
    (0xA900, "Error: DataSetDoesNotMatchSOPClass"),
    (0xA9AB, "Error: DataSetDoesNotMatchSOPClass"),
    (0xC000, "Error: CannotUnderstand"),
    (0xCFFF, "Error: CannotUnderstand"),
    (0x0001, "Unknown Status: 0x1"),
    (0x0107, "Unknown Status: 0x107"),
    (0x0124, "Unknown Status: 0x124"),
    (0xFFFF, "Unknown Status: 0xffff"),
])
def test_status_text(status, text):
    assert status_text(status) == text


# ---------------------------------------------------------------------------------------------------------
# getStatusSummary


def entry(status=None, sent=None, path="x.dcm", ts=LEE, cls=CT, uid="1.2.3"):
    e = Instance(path, READ_FILE_ONLY, cls, uid, ts)
    e.status = status
    e.request_sent = (status is not None) if sent is None else sent
    return e


def test_summary_categories():
    statuses = [0x0000, 0x0000, 0xB000, 0xB123, 0x0001, 0x0107, 0x0116, 0xA700, 0xA7FF, 0x0122, 0xA800, 0xA900,
                0xC000, 0xCFFF, 0xFFFF, 0xFFFF, 0xFFFE, 0x0124, 0xD000, None, None]
    state = TransferState([entry(s) for s in statuses], association_counter=3, context_counter=7)
    assert summary_text(state) == "\n".join([
        "Status Summary",
        "--------------",
        "Number of associations   : 3",
        "Number of pres. contexts : 7",
        "Number of SOP instances  : 21",
        "- sent to the peer       : 16",
        "  * with status SUCCESS  : 2",
        "  * with status WARNING  : 5",
        "  * with status ERROR    : 3",
        "  * with status REFUSED  : 3",
        "  * with unknown status  : 3",
        "- NOT sent to the peer   : 5",
        "  * no acceptable pres.  : 2",
        "  * invalid dataset ptr. : 1",
    ])


def test_summary_omits_zero_lines():
    assert summary_text(TransferState([entry(0)] * 2, association_counter=1, context_counter=1)).splitlines()[5:] == [
        "- sent to the peer       : 2", "  * with status SUCCESS  : 2"]
    assert summary_text(TransferState([entry(None)], association_counter=0)).splitlines()[2:] == [
        "Number of associations   : 0", "Number of pres. contexts : 0", "Number of SOP instances  : 1",
        "- NOT sent to the peer   : 1"]


# ---------------------------------------------------------------------------------------------------------
# Report layout (unit level)


def options(**kw):
    base = dict(peer="localhost", port=104, calling_aetitle="DCMSEND", called_aetitle="ANY-SCP", report_file="")
    base.update(kw)
    return SimpleNamespace(**base)


def test_report_layout_unit():
    e1 = entry(0xB000, path="a/b.dcm", uid="1.2.3.1")
    e1.dataset_size, e1.association, e1.context_id, e1.network_ts = 260, 2, 3, "1.2.840.10008.1.2"
    e2 = entry(None, path="c.dcm", ts="1.2.3.4", cls="1.2.3.99", uid="1.2.3.2")
    e3 = entry(0xFFFF, path="", uid="1.2.3.3")
    state = TransferState([e1, e2, e3], association_counter=2, context_counter=4)
    text = report_text(state, options(peer="h", port=11112, calling_aetitle="ME", called_aetitle=""),
                       datetime(2024, 2, 3, 4, 5, 6, 789))
    assert text == (
        "Detailed Report on the Transfer of Instances\n"
        "============================================\n\n"
        "Communication Peer : h:11112\nAE Titles used     : ME -> \nCurrent Date/Time  : 2024-02-03 04:05:06\n\n\n"
        "Number        : 1\nFilename      : a/b.dcm\nSOP Instance  : 1.2.3.1\n"
        "SOP Class     : 1.2.840.10008.5.1.4.1.1.2 = CTImageStorage\n"
        "Original Xfer : 1.2.840.10008.1.2.1 = Little Endian Explicit\nDataset Size  : 260 bytes\n"
        "Association   : 2\nPres. Context : 3\nNetwork Xfer  : 1.2.840.10008.1.2 = Little Endian Implicit\n"
        "DIMSE Status  : 0xb000 (Warning: CoercionOfDataElements)\n\n"
        "Number        : 2\nFilename      : c.dcm\nSOP Instance  : 1.2.3.2\nSOP Class     : 1.2.3.99 = unknown\n"
        "Original Xfer : 1.2.3.4 = Unknown Transfer Syntax\nDataset Size  : 0 bytes\nAssociation   : 0\n"
        "Pres. Context : 0\nNetwork Xfer  : \nDIMSE Status  : <not sent>\n\n"
        "Number        : 3\nSOP Instance  : 1.2.3.3\n"
        "SOP Class     : 1.2.840.10008.5.1.4.1.1.2 = CTImageStorage\n"
        "Original Xfer : 1.2.840.10008.1.2.1 = Little Endian Explicit\nDataset Size  : 0 bytes\n"
        "Association   : 0\nPres. Context : 0\nNetwork Xfer  : \n"
        "DIMSE Status  : <no acceptable presentation context>\n\n"
        "\n" + summary_text(state))
    assert not text.endswith("\n")


# ---------------------------------------------------------------------------------------------------------
# write_report: messages, exit code, atomic replacement


@pytest.fixture
def logged():
    buf = io.StringIO()
    log.reset()
    log.root().appenders = [log.Appender(stream=buf)]
    log.set_level(log.DEBUG)
    yield lambda: buf.getvalue().splitlines()
    log.reset()


def _state():
    return TransferState([entry(0)], association_counter=1, context_counter=1)


_DATE = re.compile(r"^Current Date/Time  : \d{4}-\d\d-\d\d \d\d:\d\d:\d\d$", re.M)


def test_write_report_new_file(tmp_path, logged):
    name = str(tmp_path / "r.txt")
    o = options(report_file=name)
    assert write_report(_state(), o) is None
    assert logged() == ["I: creating detailed report on the transfer ...", f"D: creating report file '{name}'"]
    data = open(name, "rb").read().decode()
    assert _DATE.search(data)
    assert _DATE.sub("", data) == _DATE.sub("", report_text(_state(), o, datetime.now()))
    assert stat.S_IMODE(os.stat(name).st_mode) == 0o666 & ~_umask()
    assert os.listdir(tmp_path) == ["r.txt"]


def _umask():
    m = os.umask(0)
    os.umask(m)
    return m


def test_write_report_overwrites(tmp_path, logged):
    target = tmp_path / "r.txt"
    target.write_text("old content that is longer than nothing" * 100)
    os.chmod(target, 0o640)
    link = tmp_path / "link.txt"
    link.symlink_to(target)
    assert write_report(_state(), options(report_file=str(link))) is None
    assert logged()[-1] == f"W: file '{link}' already exists, overwriting"
    assert link.is_symlink() and target.read_text().startswith("Detailed Report")
    assert stat.S_IMODE(os.stat(target).st_mode) == 0o640
    assert sorted(os.listdir(tmp_path)) == ["link.txt", "r.txt"]


@pytest.mark.parametrize("kind", ["directory", "missing-parent"])
def test_write_report_cannot_write(tmp_path, logged, kind):
    name = str(tmp_path) if kind == "directory" else str(tmp_path / "nodir" / "r.txt")
    assert write_report(_state(), options(report_file=name)) == 43
    assert logged() == ["I: creating detailed report on the transfer ...", f"D: creating report file '{name}'",
                        f"E: cannot write detailed report to file '{name}'"]


# ---------------------------------------------------------------------------------------------------------
# Side by side with reports written by the real dcmsend


def parse_report(text):
    """Header lines and a list of per-entry field dicts from a real report."""
    head, _, rest = text.partition("\n\n\n")
    blocks, _, summary = rest.rpartition("\n\n\n")
    entries = []
    for block in blocks.split("\n\n"):
        fields = {}
        for line in block.splitlines():
            key, _, value = line.partition(" : ")
            fields[key.strip()] = value
        entries.append(fields)
    return head, entries, summary


def rebuild(real_text, files, statuses, opts, association_counter):
    """Our report for the same run: planning from plan.py, statuses as the peer was told to answer, and the
    sending-stage fields (size, association, network TS) taken over from the real report."""
    _, fields, _ = parse_report(real_text)
    metas = [pydicom.dcmread(f, stop_before_pixels=True).file_meta for f in files]
    entries = [Instance(f, READ_FILE_ONLY, m.MediaStorageSOPClassUID, m.MediaStorageSOPInstanceUID,
                        m.TransferSyntaxUID) for f, m in zip(files, metas, strict=True)]
    state = TransferState(entries)
    assert add_presentation_contexts(state, SimpleNamespace(decompress="lossless", no_illegal_proposal=False,
                                                            no_halt=True)) is None
    state.association_counter = association_counter
    for e, f, status in zip(entries, fields, statuses, strict=True):
        e.dataset_size = int(f["Dataset Size"].split()[0])
        e.association = int(f["Association"])
        e.network_ts = f["Network Xfer"].split(" = ")[0]
        if status is not None:
            e.request_sent, e.status = True, status
    return report_text(state, opts, datetime.now())


def run_real(tmp_path, port, files, extra=()):
    rep = str(tmp_path / "real-report.txt")
    proc = subprocess.run([REAL_DCMSEND, "-nh", *extra, "127.0.0.1", str(port), *files, "+crf", rep],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    with open(rep, encoding="utf-8") as f:
        return f.read(), rep


def assert_same_report(ours, real):
    date = re.compile(r"^Current Date/Time  : .*$", re.M)
    assert _DATE.search(real) and _DATE.search(ours)
    assert date.sub("", ours) == date.sub("", real)


@requires_dcmtk
def test_report_matches_real_dcmsend_storescp(tmp_path):
    files = [os.path.join(TEST_FILES, n) for n in ("CT_small.dcm", "MR_small.dcm", "image_dfl.dcm",
                                                   "JPEG2000.dcm", "MR_small.dcm", "SC_rgb_rle.dcm")]
    with Peer(str(tmp_path / "received")) as peer:  # storescp accepts no JPEG 2000: one rejected context
        real, _ = run_real(tmp_path, peer.port, files, ["-aet", "ME", "-aec", "STORESCP"])
    opts = options(peer="127.0.0.1", port=peer.port, calling_aetitle="ME", called_aetitle="STORESCP")
    ours = rebuild(real, files, [0, 0, 0, 0xFFFF, 0, 0], opts, 1)
    assert "<no acceptable presentation context>" in real and "= Deflated Explicit VR Little Endian" in real
    assert_same_report(ours, real)


PEER_STATUSES = [0x0000, 0xB000, 0xB007, 0xB006, 0xB123, 0x0001, 0x0107, 0x0116, 0xA700, 0xA7FF, 0x0122, 0xA800,
                 0xA900, 0xA9AB, 0xC000, 0xCABC, 0x0124, 0x0211, 0xD000, 0xFFFE]


@requires_dcmtk
def test_report_matches_real_dcmsend_statuses(tmp_path):
    from pynetdicom import AE, AllStoragePresentationContexts, evt

    files = []
    answers = {}
    for k, status in enumerate(PEER_STATUSES):
        ds = Dataset()
        ds.SOPClassUID = CT
        ds.SOPInstanceUID = f"1.2.826.0.1.3680043.9.7433.2.{k + 1}"
        ds.PatientName = "REPORT^TEST"
        ds.file_meta = FileMetaDataset()
        ds.file_meta.MediaStorageSOPClassUID = CT
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2" if k % 2 else LEE
        path = str(tmp_path / f"s{k:02d}.dcm")
        ds.save_as(path, enforce_file_format=True)
        files.append(path)
        answers[ds.SOPInstanceUID] = status

    def handle_store(event):
        return answers[event.request.AffectedSOPInstanceUID]

    ae = AE(ae_title="ANY-SCP")
    ae.supported_contexts = AllStoragePresentationContexts
    for attempt in range(5):
        port = free_port()
        try:
            server = ae.start_server(("127.0.0.1", port), block=False, evt_handlers=[(evt.EVT_C_STORE, handle_store)])
            break
        except OSError:
            if attempt == 4:
                raise
    try:
        real, _ = run_real(tmp_path, port, files)
    finally:
        server.shutdown()
    ours = rebuild(real, files, PEER_STATUSES, options(peer="127.0.0.1", port=port), 1)
    assert "with unknown status" in real
    assert_same_report(ours, real)


def _write_small(path, cls, uid, ts=LEE):
    ds = Dataset()
    ds.SOPClassUID = cls
    ds.SOPInstanceUID = uid
    ds.PatientName = "ROUNDS^TEST"
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = cls
    ds.file_meta.MediaStorageSOPInstanceUID = uid
    ds.file_meta.TransferSyntaxUID = ts
    ds.save_as(path, enforce_file_format=True)
    return str(path)


@requires_dcmtk
def test_rounds_with_all_rejected_association_match_real_dcmsend(tmp_path):
    """128 private classes (all rejected by storescp) then a CT: association #1 is all-rejected, #2 sends the CT.
    Our side drives plan.py round by round like dcmsend's loop, marking with mark_all_rejected."""
    from dcmsend.plan import NO_PRESENTATION_CONTEXTS_DEFINED, mark_all_rejected

    root = "1.2.826.0.1.3680043.9.7433"
    files = [_write_small(tmp_path / f"p{k:03d}.dcm", f"{root}.5.{k}", f"{root}.6.{k}") for k in range(128)]
    files.append(_write_small(tmp_path / "ct.dcm", CT, f"{root}.6.999"))
    with Peer(str(tmp_path / "received")) as peer:
        real, _ = run_real(tmp_path, peer.port, files, ["-nuc"])
    _, fields, _ = parse_report(real)
    o = SimpleNamespace(decompress="lossless", no_illegal_proposal=False, no_halt=True)
    entries = [Instance(f, READ_FILE_ONLY, m.MediaStorageSOPClassUID, m.MediaStorageSOPInstanceUID,
                        m.TransferSyntaxUID) for f, m in
               ((f, pydicom.dcmread(f, stop_before_pixels=True).file_meta) for f in files)]
    state = TransferState(entries)
    rounds = 0
    while (cond := add_presentation_contexts(state, o)) is None:
        state.association_counter += 1
        rounds += 1
        first = state.current
        planned = [k for k in range(first, len(entries)) if entries[k].context_id and not entries[k].request_sent]
        if all(fields[k]["Association"] == "0" for k in planned):
            mark_all_rejected(state)
            continue
        while state.current < len(entries):
            e, f = entries[state.current], fields[state.current]
            if not e.request_sent:
                if e.context_id == 0:
                    break
                e.dataset_size = int(f["Dataset Size"].split()[0])
                e.association = state.association_counter
                e.network_ts = f["Network Xfer"].split(" = ")[0]
                assert f["DIMSE Status"] == "0x0000 (Success)"
                e.request_sent, e.status = True, 0
            state.current += 1
    assert cond == NO_PRESENTATION_CONTEXTS_DEFINED and rounds == 2
    ours = report_text(state, options(peer="127.0.0.1", port=peer.port), datetime.now())
    assert "Number of pres. contexts : 129" in real
    assert_same_report(ours, real)
