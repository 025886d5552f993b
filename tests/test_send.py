"""In-process tests of dcmsend.send.transfer: what it records in the transfer list and how it ends."""

from __future__ import annotations

import os
import sys

import pytest

from conftest import requires_dcmtk
from dcmsend import log, uids
from dcmsend.cmdline import Options
from dcmsend.collect import STATUS_NO_ACCEPTABLE_CONTEXT, Instance
from dcmsend.send import transfer

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402


def _entry(name: str) -> Instance:
    import pydicom
    from pydicom.data import get_testdata_file

    path = get_testdata_file(name)
    meta = pydicom.dcmread(path, stop_before_pixels=True).file_meta
    return Instance(path, "fileonly", str(meta.MediaStorageSOPClassUID), str(meta.MediaStorageSOPInstanceUID),
                    str(meta.TransferSyntaxUID))


@pytest.fixture
def verbose():
    log.reset()
    log.set_level(log.INFO)
    yield
    log.reset()


@pytest.fixture
def scp(tmp_path):
    peers = []

    def start(*args, program=None):
        if program is None:
            peer = harness.Peer(str(tmp_path / f"rcv{len(peers)}"), list(args))
        else:
            peer = harness.Peer(str(tmp_path / f"rcv{len(peers)}"), [os.path.join(HERE, "scp.py"), *args],
                                program=sys.executable)
        peers.append(peer.start())
        return peer.port

    yield start
    for p in peers:
        p.stop()


@requires_dcmtk
def test_records_per_instance(scp, verbose, capsys):
    port = scp()
    entries = [_entry("CT_small.dcm"), _entry("MR_small_implicit.dcm"), _entry("JPEG2000.dcm"), _entry("MR_small.dcm")]
    code = transfer(Options(peer="127.0.0.1", port=port, no_halt=True), entries)
    assert code == 0
    ct, mri, j2k, mr = entries
    assert (ct.association, ct.context_id, ct.network_ts, ct.status, ct.request_sent) == (1, 1, uids.LEE, 0, True)
    assert mri.network_ts == uids.LEE and mri.status == 0 and mri.dataset_size > 0
    assert mr.context_id == mri.context_id  # re-used context (same class, uncompressed)
    assert j2k.status == STATUS_NO_ACCEPTABLE_CONTEXT and j2k.request_sent and j2k.association == 1
    err = capsys.readouterr().err
    # the message ID counts the rejected instance too
    assert [line for line in err.splitlines() if "MsgID" in line] == [
        "I: Sending C-STORE Request (MsgID 1, CT)", "I: Sending C-STORE Request (MsgID 2, MR)",
        "I: Sending C-STORE Request (MsgID 4, MR)"]
    assert err.rstrip().endswith("I:   * no acceptable pres.  : 1")


@requires_dcmtk
def test_halt_on_rejected_context_aborts_at_exit(scp, verbose, capsys):
    port = scp()
    entries = [_entry("JPEG2000.dcm"), _entry("CT_small.dcm")]
    assert transfer(Options(peer="127.0.0.1", port=port), entries) == 62
    err = capsys.readouterr().err.splitlines()
    assert err[-2:] == ["F: cannot send SOP instance: DIMSE No valid Presentation Context ID",
                        "I: Aborting Association"]
    assert not entries[1].request_sent and entries[1].association == 0


def test_connection_refused_is_61(verbose, capsys):
    entries = [_entry("CT_small.dcm")]
    code = transfer(Options(peer="127.0.0.1", port=harness.free_port()), entries)
    assert code == 61
    assert "F: cannot negotiate network association: TCP Initialization Error: Connection refused" in \
        capsys.readouterr().err
    assert entries[0].association == 0 and not entries[0].request_sent


def test_all_contexts_rejected_multi_and_single(scp, verbose, capsys):
    port = scp("--no-contexts", program="scp")
    entries = [_entry("CT_small.dcm"), _entry("MR_small.dcm")]
    assert transfer(Options(peer="127.0.0.1", port=port), entries) == 0
    assert [e.status for e in entries] == [STATUS_NO_ACCEPTABLE_CONTEXT] * 2
    assert all(e.association == 0 for e in entries)
    err = capsys.readouterr().err
    assert "E: cannot negotiate network association: No acceptable Presentation Contexts" in err
    assert "I: Releasing Association" in err
    entries = [_entry("CT_small.dcm")]
    assert transfer(Options(peer="127.0.0.1", port=port, multi_associations=False), entries) == 65
    assert "E: cannot add presentation contexts: No acceptable Presentation Contexts" in capsys.readouterr().err


def test_dimse_status_is_recorded(scp, verbose, capsys):
    port = scp("--status", "0xB006", program="scp")
    entries = [_entry("CT_small.dcm")]
    assert transfer(Options(peer="127.0.0.1", port=port), entries) == 0
    assert entries[0].status == 0xB006
    assert "I: Received C-STORE Response (Warning: ElementsDiscarded)" in capsys.readouterr().err


def test_the_stage_module_leaves_dcmsend_send_the_api_function():
    import inspect

    import dcmsend

    assert sys.modules["dcmsend.send"].transfer is transfer
    assert inspect.isfunction(dcmsend.send) and dcmsend.send.__module__ == "dcmsend.api"


@pytest.mark.parametrize("status", [0x0000, 0xA700])
def test_next_request_goes_out_right_after_the_response(scp, tmp_path, capsys, monkeypatch, status):
    """At the default level the next instance's PDUs are made while the response is awaited and go out as soon
    as it has come, whatever its status (DCMTK goes on to the next instance after a failure status too): every
    instance is sent, in order, each with its own response status and message ID."""
    import fixtures_data as fx
    from dcmsend import collect

    send_module = sys.modules["dcmsend.send"]
    early = []
    original = send_module._Ahead.send_early

    def counting(self, assoc):
        before = self.prepared
        original(self, assoc)
        early.append(before is not None and self.prepared is None)

    monkeypatch.setattr(send_module._Ahead, "send_early", counting)
    log.reset()
    port = scp("--status", f"0x{status:04X}", "--explicit-first", program="scp")
    files = [fx.write_part10(str(tmp_path / f"in{i}.dcm"), sop_instance=f"1.2.3.{i}") for i in range(6)]
    entries = collect.collect(Options(peer="127.0.0.1", port=port, files=files))
    assert transfer(Options(peer="127.0.0.1", port=port, files=files), entries) == 0
    assert [(e.request_sent, e.status, e.association) for e in entries] == [(True, status, 1)] * 6
    err = capsys.readouterr().err
    assert sum(early) == 5, err  # every instance but the first went out from the response wait
    assert err == ""


@requires_dcmtk
def test_next_file_read_ahead_while_a_large_data_set_drains(scp, tmp_path, monkeypatch):
    """A data set larger than the socket buffers: while the write waits for the peer to drain them, the next file is
    read ahead (send._Ahead.prepare runs from inside the waiting write, once), and the peer receives every data set
    as it is in its file."""
    import inspect

    from dcmsend import collect

    sys.path.insert(0, os.path.join(os.path.dirname(HERE), "benchmarks"))
    import shapes

    send_module = sys.modules["dcmsend.send"]
    from_write = []
    original = send_module._Ahead.prepare

    def recording(self, assoc=None):
        from_write.append(any(frame.function == "_send_all" for frame in inspect.stack()))
        original(self, assoc)

    monkeypatch.setattr(send_module._Ahead, "prepare", recording)
    log.reset()
    port = scp()
    files = []
    for i, frames in enumerate((600, 600, 2)):  # (600 frames of 128 x 128 x 16 bit: 19.7 MB)
        path = str(tmp_path / f"in{i}.dcm")
        with open(path, "wb") as fh:
            fh.write(shapes.enhanced_mr(f"1.2.826.0.1.3680043.8.498.{i + 1}", frames=frames, undefined=False))
        files.append(path)
    entries = collect.collect(Options(peer="127.0.0.1", port=port, files=files))
    assert transfer(Options(peer="127.0.0.1", port=port, files=files), entries) == 0
    assert [(e.request_sent, e.status) for e in entries] == [(True, 0)] * 3
    assert from_write.count(True) == 2  # (the second and the third file, each while the one before it drained)
    received = [data for _, data in harness.received_files(str(tmp_path / "rcv0"))]
    sent = []
    for path in files:
        with open(path, "rb") as fh:
            sent.append(harness._strip_meta(fh.read()))
    assert sorted(received) == sorted(sent)
