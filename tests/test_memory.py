"""Memory per instance: the transfer list and the report file must not cost more per SOP instance than DCMTK's own
dcmsend grows by (~550 bytes per instance, measured by benchmarks/run.py --cases mem).  Bounds in bytes, measured
with tracemalloc (never a time)."""

from __future__ import annotations

import gc
import os
import tracemalloc
from datetime import datetime
from types import SimpleNamespace

import pydicom
import pytest
from pydicom.uid import UID

from conftest import HAVE_DCMTK
from dcmsend import cmdline, collect, log
from dcmsend.collect import Instance
from dcmsend.part10 import READ_FILE_ONLY
from dcmsend.plan import TransferState
from dcmsend.report import report_chunks, report_text, write_report
from harness import Peer

CT_SMALL = os.path.join(os.path.dirname(pydicom.__file__), "data", "test_files", "CT_small.dcm")
OLD_UID = b"1.3.6.1.4.1.5962.1.1.1.1.1.20040119072730.12322"  # CT_small.dcm's SOP Instance UID (48 characters)


def _series(folder, count: int) -> list[str]:
    """count copies of CT_small.dcm, each with its own SOP Instance UID of the same length."""
    with open(CT_SMALL, "rb") as fh:
        data = fh.read()
    assert data.count(OLD_UID) == 2  # meta header and data set
    os.makedirs(folder, exist_ok=True)
    names = []
    for i in range(count):
        uid = f"1.2.826.0.1.3680043.8.498.{10 ** 20 + i}".encode()
        uid = uid + b"1" * (len(OLD_UID) - len(uid))
        name = os.path.join(folder, f"img{i:06d}.dcm")
        with open(name, "wb") as out:
            out.write(data.replace(OLD_UID, uid))
        names.append(name)
    return names


def _traced(func):
    """(result, bytes still allocated afterwards, peak bytes during) of func()."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        result = func()
        gc.collect()
        after, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return result, after - before, peak - before


def test_transfer_list_bytes_per_instance(tmp_path):
    """The input phase over 3,000 files: the list it returns costs at most 340 bytes per instance here (48-character
    SOP Instance UIDs, 13-character file names in one directory), and no more than 400 at its peak (DCMTK: ~550).
    Before: ~400 bytes for the list (every path, class and transfer syntax string whole in each record)."""
    folder = str(tmp_path / "a-directory-name-of-some-length" / "series")
    names = _series(folder, 3000)
    options = cmdline.evaluate(["dcmsend", "127.0.0.1", "104", "+sd", folder])
    assert len(collect.collect(options)) == 3000  # warm-up: tables, caches, the meta-header shape
    transfer_list, kept, peak = _traced(lambda: collect.collect(options))
    assert len(transfer_list) == 3000
    assert sorted(e.path for e in transfer_list) == names  # (in the directory's order, as DCMTK)
    assert kept / 3000 <= 340, kept / 3000
    assert peak / 3000 <= 400, peak / 3000


def _entries(count: int) -> list[Instance]:
    entries = []
    for i in range(count):
        e = Instance(f"/data/archive/2026/study{i // 100}/series/img{i:06d}.dcm", READ_FILE_ONLY,
                     "1.2.840.10008.5.1.4.1.1.2", f"1.2.826.0.1.3680043.8.498.{10 ** 30 + i}", "1.2.840.10008.1.2.1",
                     dataset_offset=332)
        e.dataset_size, e.association, e.context_id, e.network_ts = 8 * 1024 + 300, 1, 1, "1.2.840.10008.1.2.1"
        e.status, e.request_sent = 0, True
        entries.append(e)
    return entries


def test_report_file_memory_does_not_grow_with_the_list(tmp_path):
    """Writing the report file of 2,000 and of 8,000 instances: the peak grows by less than 64 bytes per added
    instance (the report is written in pieces; before: ~1.4 KB per instance, the whole text in memory)."""
    peaks = {}
    for count in (2000, 8000):
        state = TransferState(_entries(count))
        opts = SimpleNamespace(peer="localhost", port=104, calling_aetitle="DCMSEND", called_aetitle="ANY-SCP",
                               report_file=str(tmp_path / f"report{count}.txt"))
        code, _, peaks[count] = _traced(lambda: write_report(state, opts))
        assert code is None
        with open(opts.report_file, encoding="utf-8") as fh:
            text = fh.read()
        assert text.count("\nNumber        : ") == count
        assert text.endswith("Number of SOP instances  : %d\n- sent to the peer       : %d\n"
                             "  * with status SUCCESS  : %d" % (count, count, count))
    assert (peaks[8000] - peaks[2000]) / 6000 < 64, peaks


def test_report_chunks_join_to_the_report_text():
    state = TransferState(_entries(600))
    opts = SimpleNamespace(peer="h", port=1, calling_aetitle="A", called_aetitle="B", report_file="")
    now = datetime(2026, 1, 2, 3, 4, 5)
    pieces = list(report_chunks(state, opts, now, per_chunk=256))
    assert len(pieces) == 5  # header, 256 + 256 + 88 entries, summary
    assert "".join(pieces) == report_text(state, opts, now)
    empty = report_text(TransferState([]), opts, now)
    assert empty.endswith("Current Date/Time  : 2026-01-02 03:04:05\n\n\n\nStatus Summary\n--------------\n"
                          "Number of associations   : 0\nNumber of pres. contexts : 0\nNumber of SOP instances  : 0")


@pytest.mark.parametrize("path", ["/a/b/c.dcm", "c.dcm", "", "./x", "dir/", "/", "a//b", "DICOMDIR\0tail"])
def test_instance_keeps_every_field(path):
    e = Instance(path, READ_FILE_ONLY, "1.2.3", "1.2.3.4", "1.2.840.10008.1.2", 12, 34, 2, 3, "1.2.840.10008.1.2.1",
                 0xB000, True, True)
    assert (e.path, e.read_mode, e.sop_class_uid, e.sop_instance_uid, e.transfer_syntax_uid, e.dataset_offset,
            e.dataset_size, e.association, e.context_id, e.network_ts, e.status, e.request_sent, e.meta_reread) == (
        path, READ_FILE_ONLY, "1.2.3", "1.2.3.4", "1.2.840.10008.1.2", 12, 34, 2, 3, "1.2.840.10008.1.2.1", 0xB000,
        True, True)
    assert repr(e) == (f"Instance(path={path!r}, read_mode='fileonly', sop_class_uid='1.2.3', sop_instance_uid="
                       "'1.2.3.4', transfer_syntax_uid='1.2.840.10008.1.2', dataset_offset=12, dataset_size=34, "
                       "association=2, context_id=3, network_ts='1.2.840.10008.1.2.1', status=45056, "
                       "request_sent=True, meta_reread=True)")
    e.path = "/other/" + path
    e.dataset_size, e.network_ts = 10 ** 12, ""
    assert (e.path, e.dataset_size, e.network_ts) == ("/other/" + path, 10 ** 12, "")
    with pytest.raises(AttributeError):
        e.unknown_field = 1  # still slots: no per-instance dictionary


def test_instance_shares_repeated_values_and_keeps_given_types():
    a = Instance("/d/one.dcm", READ_FILE_ONLY, "".join(["1.2.840.10008.5.1.4.1.1.", "2"]), "1.2.3.1",
                 "".join(["1.2.840.10008.1.2.", "1"]), 400)
    b = Instance("/d/two.dcm", READ_FILE_ONLY, "".join(["1.2.840.10008.5.1.4.1.1.", "2"]), "1.2.3.2",
                 "".join(["1.2.840.10008.1.2.", "1"]), 400)
    assert a.sop_class_uid is b.sop_class_uid and a.transfer_syntax_uid is b.transfer_syntax_uid
    assert a._dir is b._dir
    uid = UID("1.2.840.10008.5.1.4.1.1.4")  # the Python API may be given pydicom's UID objects: kept as they are
    c = Instance("x.dcm", READ_FILE_ONLY, uid, uid, uid)
    assert c.sop_class_uid is uid and type(c.transfer_syntax_uid) is UID


def _minimal_series(folder: str, count: int) -> None:
    """count minimal explicit VR little endian CT files (8 KB each, no sequences), each its own SOP instance."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = "1.2.826.0.1.3680043.8.498.1" + "0" * 30
    ds.PatientName, ds.PatientID, ds.Modality = "MEMORY^TEST", "MEM", "CT"
    ds.StudyInstanceUID, ds.SeriesInstanceUID = "1.2.826.0.1.3680043.8.498.2", "1.2.826.0.1.3680043.8.498.3"
    ds.Rows = ds.Columns = 8
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
    ds.PixelData = bytes(128)
    template = os.path.join(folder, "template.dcm")
    os.makedirs(folder)
    ds.save_as(template, enforce_file_format=True)
    with open(template, "rb") as fh:
        data = fh.read()
    os.remove(template)
    old = ds.SOPInstanceUID.encode()
    for i in range(count):
        with open(os.path.join(folder, f"f{i:06d}.dcm"), "wb") as out:
            out.write(data.replace(old, f"1.2.826.0.1.3680043.8.498.1{i + 1:030d}".encode()))


@pytest.mark.skipif(not HAVE_DCMTK, reason="DCMTK's storescp is not installed")
def test_whole_run_bytes_per_instance(tmp_path):
    """A whole run (input phase, association, C-STORE of every file, report file) in this process against DCMTK's
    storescp, 200 and 1,000 files: the traced peak grows by at most 400 bytes per added instance (DCMTK's dcmsend:
    ~550; before: ~1,880 with a report file), so neither the send phase nor the report keeps a per-file cache."""
    from dcmsend import cli

    peaks = {}
    peer = Peer(str(tmp_path / "received"), ["--ignore", "+xa", "-pm"]).start()
    try:
        for count in (200, 1000):
            folder = str(tmp_path / f"series{count}")
            _minimal_series(folder, count)
            report = str(tmp_path / f"report{count}.txt")
            argv = ["dcmsend", "127.0.0.1", str(peer.port), "+sd", folder, "+crf", report]
            if not peaks:
                assert cli.main(argv) == 0  # warm-up: imports, tables
            code, _, peaks[count] = _traced(lambda: cli.main(argv))
            assert code == 0
            with open(report, encoding="utf-8") as fh:
                assert f"  * with status SUCCESS  : {count}" in fh.read()
    finally:
        peer.stop()
        log.reset()
    assert (peaks[1000] - peaks[200]) / 800 <= 400, peaks
