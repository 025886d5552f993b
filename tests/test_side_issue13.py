"""Side by side (issue 13): multi-valued SOP UIDs under -nuc, files replaced while the transfer runs, the report's
Dataset Size of encapsulated pixel data in a native transfer syntax, log4cplus errors of -lc, FIFOs."""

from __future__ import annotations

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


# ---- item 8: a multi-valued SOP Class / Instance UID with -nuc --------------------------------------------------

@pytest.fixture(scope="module")
def multi_valued(tmp_path_factory):
    """CT images whose SOP Instance UID (and, in one, SOP Class UID) has two values, in the data set and in the meta
    header alike (so -nuc lets them into the transfer list), and one where only the data set's has two."""
    import pydicom

    out = tmp_path_factory.mktemp("multi")
    paths = []
    for name, cls, inst, meta_inst in [
            ("inst.dcm", None, ["1.2.3.4", "1.2.3.5"], "1.2.3.4\\1.2.3.5"),
            ("both.dcm", ["1.2.840.10008.5.1.4.1.1.2", "1.2.3"], ["1.2.3.6", "1.2.3.7"], "1.2.3.6\\1.2.3.7"),
            ("dataset-only.dcm", None, ["1.2.3.8", "1.2.3.9"], None)]:
        ds = pydicom.dcmread(_testfile("CT_small.dcm"))
        ds.SOPInstanceUID = inst
        if cls:
            ds.SOPClassUID = cls
            ds.file_meta.MediaStorageSOPClassUID = "\\".join(cls)
        if meta_inst:
            ds.file_meta.MediaStorageSOPInstanceUID = meta_inst
        path = str(out / name)
        ds.save_as(path)
        paths.append(path)
    return paths


@pytest.mark.parametrize("opts", [["-d", "-nuc"], ["-v", "-nuc", "+crf", "{report}"], ["-nuc"]],
                         ids=["debug", "verbose", "quiet"])
def test_multi_valued_sop_uids(opts, multi_valued, tmp_path):
    """DCMTK compares all values with the transfer list (no warning when they are the same) and sends the first."""
    harness.compare([*opts, "127.0.0.1", "{port}", *multi_valued, _testfile("MR_small.dcm")], tmp_path,
                    ignore_lines=IGNORE)


# ---- items 4 and 11: a file replaced while the transfer runs; named pipes --------------------------------------

def _two_files_then(side: str, change: str, delay: float = 0.8) -> list[str]:
    """f0.dcm and f1.dcm in ``side``; ``delay`` seconds later (the peer sleeps 2 s before answering f0), f1.dcm is
    replaced by ``change``: a directory, a symbolic link to /dev/zero or /dev/null, or a named pipe."""
    import threading

    import fixtures_data as fx

    names = [os.path.join(side, f"f{i}.dcm") for i in range(2)]
    for i, name in enumerate(names):
        fx.write(name, fx.part10(sop_instance=f"1.2.3.{i}"))

    def act():
        target = names[1]
        os.remove(target)
        if change == "directory":
            os.mkdir(target)
        elif change in ("/dev/zero", "/dev/null"):
            os.symlink(change, target)
        else:
            os.mkfifo(target)

    threading.Timer(delay, act).start()
    return names


@pytest.mark.parametrize("change", ["directory", "/dev/zero", "/dev/null"])
@pytest.mark.parametrize("opts", [["-v", "-nh", "+crf", "{report}"], ["-d"]], ids=["nh", "halt-debug"])
def test_file_replaced_mid_run(change, opts, tmp_path):
    """The second file becomes a directory or a link to /dev/zero or /dev/null after the input phase (while the peer
    takes its time with the first): DCMTK's messages, exit code and report."""
    harness.compare([*opts, "127.0.0.1", "{port}", "f0.dcm", "f1.dcm"], tmp_path,
                    peer_args=["--sleep-during", "2"], setup=lambda side: _two_files_then(side, change),
                    ignore_lines=IGNORE)


@pytest.mark.parametrize("opts", [["-v", "-nh", "+crf", "{report}"], ["-v"]], ids=["nh", "halt"])
def test_devices_as_input(opts, tmp_path):
    """/dev/zero and /dev/null as input files: DCMTK's behaviour (they are read, not refused)."""
    import fixtures_data as fx

    harness.compare([*opts, "127.0.0.1", "{port}", "/dev/zero", "/dev/null", "f.dcm"], tmp_path,
                    setup=lambda side: fx.write(os.path.join(side, "f.dcm"), fx.part10(sop_instance="1.2.3.1")),
                    ignore_lines=IGNORE)


def _run_ours(args, cwd, timeout=20):
    rc, out, err, _ = harness.run_program(harness.ours_command(), args, str(cwd), timeout=timeout)
    assert "Traceback" not in err and "Traceback" not in out, err
    return rc, out, err


REFUSED = "Not a regular file, and reading it would block (named pipe, socket or device without data)"


@pytest.mark.parametrize("no_halt", [False, True], ids=["halt", "nh"])
@pytest.mark.parametrize("how", ["argument", "scan"])
def test_named_pipe_is_refused_at_once(how, no_halt, tmp_path):
    """A named pipe given as an input file, or found by +sd: DCMTK waits forever for a writer; ours refuses it at
    once with a message in DCMTK's form (documented in docs/conformance.md); -nh goes on with the other files."""
    import fixtures_data as fx

    folder = tmp_path / "in"
    folder.mkdir()
    fx.write(str(folder / "a.dcm"), fx.part10(sop_instance="1.2.3.1"))
    os.mkfifo(str(folder / "b.dcm"))
    report = str(tmp_path / "report.txt")
    with harness.Peer(str(tmp_path / "received")) as peer:
        inputs = ["+sd", str(folder)] if how == "scan" else [str(folder / "a.dcm"), str(folder / "b.dcm")]
        rc, out, err = _run_ours(["-v", *(["-nh"] if no_halt else []), "+crf", report, "127.0.0.1", str(peer.port),
                                  *inputs], tmp_path, timeout=20)
    pipe = str(folder / "b.dcm")
    assert f"E: cannot add DICOM file to the transfer list: {pipe}: {REFUSED}\n" in err
    if no_halt:
        assert rc == 0
        assert f"W: bad DICOM file: {pipe}: {REFUSED}, ignoring file\n" in err
        with open(report) as fh:
            text = fh.read()
        assert "Number of SOP instances  : 1" in text and "with status SUCCESS  : 1" in text
    else:
        assert rc == 22
        assert f"F: bad DICOM file: {pipe}: {REFUSED}\n" in err
        assert not os.path.exists(report)


@pytest.mark.parametrize("no_halt", [False, True], ids=["halt", "nh"])
def test_named_pipe_swapped_in_mid_run(no_halt, tmp_path):
    """A file replaced by a named pipe after the input phase: refused at send time without waiting, DCMTK's form of
    message for a file that cannot be sent; -nh reports it as not sent."""
    report = str(tmp_path / "report.txt")
    names = _two_files_then(str(tmp_path), "fifo")
    with harness.Peer(str(tmp_path / "received"), ["--sleep-during", "2"]) as peer:
        rc, out, err = _run_ours(["-v", *(["-nh"] if no_halt else []), "+crf", report, "127.0.0.1", str(peer.port),
                                  *names], tmp_path, timeout=30)
    assert f"E: cannot send SOP instance from file: {names[1]}: {REFUSED}\n" in err
    if no_halt:
        assert rc == 0
        with open(report) as fh:
            text = fh.read()
        assert text.count("DIMSE Status  : <not sent>") == 1 and text.count("DIMSE Status  : 0x0000") == 1, text
    else:
        assert rc == 62
        assert f"F: cannot send SOP instance: {REFUSED}\n" in err


# ---- item 7: -lc configurations that leave the loggers without appenders -----------------------------------------

LOG_CONFIGS = {
    "root-without-appender": "log4cplus.rootLogger = INFO\n",
    "root-debug-without-appender": "log4cplus.rootLogger = DEBUG\n",
    "unknown-appender-class": "log4cplus.rootLogger = INFO, X\nlog4cplus.appender.X=log4cplus::NoSuchAppender\n",
    "undefined-appender": "log4cplus.rootLogger = INFO, X\n",
    "only-dcmnet-has-one": ("log4cplus.rootLogger = INFO\nlog4cplus.logger.dcmtk.dcmnet = INFO, C\n"
                            "log4cplus.appender.C=log4cplus::ConsoleAppender\n"),
}


@pytest.mark.parametrize("name", list(LOG_CONFIGS))
def test_log_config_without_appenders(name, tmp_path):
    """log4cplus's "No appenders could be found" errors, once, where DCMTK prints them."""

    def setup(side):
        with open(os.path.join(side, "log.cfg"), "w") as fh:
            fh.write(LOG_CONFIGS[name])

    harness.compare(["-lc", "log.cfg", "127.0.0.1", "{port}", _testfile("CT_small.dcm")], tmp_path, setup=setup,
                    ignore_lines=IGNORE)


# ---- item 5: the report's Dataset Size of encapsulated pixel data in a native transfer syntax -------------------

@pytest.mark.parametrize("vr", [b"OB", b"OW"])
def test_dataset_size_of_encapsulated_pixel_data_in_native_syntax(vr, tmp_path):
    """Pixel data of undefined length with fragments in a file whose transfer syntax is Explicit VR Little Endian:
    DCMTK's Dataset Size leaves the element out (DcmPixelData has no native representation to measure)."""
    import struct

    import fixtures_data as fx

    def item(data: bytes) -> bytes:
        return struct.pack("<HHI", 0xFFFE, 0xE000, len(data)) + data

    pixels = (struct.pack("<HH2sHI", 0x7FE0, 0x0010, vr, 0, 0xFFFFFFFF) + item(b"") + item(b"\xff\xd8\xff\xd9")
              + struct.pack("<HHI", 0xFFFE, 0xE0DD, 0))

    def setup(side):
        fx.write(os.path.join(side, "f.dcm"), fx.part10(sop_instance="1.2.3.7") + pixels)
        fx.write(os.path.join(side, "g.dcm"), fx.part10(sop_instance="1.2.3.8"))

    real, _ = harness.compare(["-v", "-nh", "+crf", "{report}", "127.0.0.1", "{port}", "f.dcm", "g.dcm"], tmp_path,
                              setup=setup, ignore_lines=IGNORE)
    assert "Dataset Size  : " in real.report
