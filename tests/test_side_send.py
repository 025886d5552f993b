"""Side by side: the sending phase of the real /usr/bin/dcmsend and ours, against DCMTK's storescp or tests/scp.py.

Every scenario compares exit code, stdout, stderr, report file and the data sets the peer received.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys

import pytest

from conftest import requires_dcmtk

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402

pytestmark = requires_dcmtk


_testfile = harness.testfile


CT, MR, MRI, MRB, DFL, RTP, J2K, RLE, JPG, JPB = (
    "CT_small.dcm", "MR_small.dcm", "MR_small_implicit.dcm", "MR_small_bigendian.dcm", "image_dfl.dcm", "rtplan.dcm",
    "JPEG2000.dcm", "SC_rgb_rle.dcm", "JPEG-lossy.dcm", "SC_rgb_jpeg_dcmtk.dcm")
UNCOMPRESSED = [CT, MR, MRI, MRB]
MIXED = [CT, MR, MRI, MRB, DFL, RTP, J2K, RLE, JPB]


@pytest.fixture(scope="module")
def private_classes(tmp_path_factory):
    """131 small files, each with its own private (unknown) SOP class UID: more than one association's worth."""
    import pydicom

    base = pydicom.dcmread(_testfile(CT))
    del base.PixelData
    out = tmp_path_factory.mktemp("private")
    paths = []
    for i in range(131):
        uid = f"1.2.826.0.1.3680043.8.498.7731.99.{i + 1}"
        inst = f"1.2.826.0.1.3680043.8.498.7731.98.{i + 1}"
        base.SOPClassUID = uid
        base.file_meta.MediaStorageSOPClassUID = uid
        base.SOPInstanceUID = inst
        base.file_meta.MediaStorageSOPInstanceUID = inst
        path = str(out / f"p{i:03d}.dcm")
        base.save_as(path)
        paths.append(path)
    return paths


def _compare_scp(args, tmp_path, scp_args, ignore_lines=None):
    """harness.compare, but with tests/scp.py as the peer."""
    return list(harness.compare_scp(args, tmp_path, scp_args, ignore_lines))


def _files(names):
    return [_testfile(n) for n in names]


# (id, options before peer/port, files, storescp args or None for "no peer")
STORESCP_SCENARIOS = [
    ("ct-default", [], [CT], []),
    ("ct-verbose", ["-v"], [CT], []),
    ("ct-debug", ["-d"], [CT], []),
    ("ct-pcs", ["+v"], [CT], []),
    ("uncompressed-v", ["-v"], UNCOMPRESSED, []),
    ("uncompressed-debug", ["-d"], UNCOMPRESSED, []),
    ("uncompressed-report", ["+crf", "{report}"], UNCOMPRESSED, []),
    ("mixed-nh-report", ["-v", "-nh", "+crf", "{report}"], MIXED, []),
    ("mixed-nh-debug", ["-d", "-nh"], MIXED, []),
    ("mixed-halt", ["-v"], MIXED, []),
    ("j2k-first-halt", ["-v", "+crf", "{report}"], [J2K, CT], []),
    ("mixed-xa", ["-v", "+crf", "{report}"], MIXED, ["+xa"]),
    ("mixed-xa-pcs", ["+v"], [J2K, RLE, JPB, DFL], ["+xa"]),
    ("dn-nh", ["-v", "-dn", "-nh", "+crf", "{report}"], MIXED, []),
    ("dn-rejected-halt", ["-v", "-dn"], [RLE, CT], []),
    ("dly-nh", ["-v", "+dly", "-nh", "+crf", "{report}"], [JPB, CT], []),
    ("single-assoc", ["-v", "-ma"], UNCOMPRESSED, []),
    ("aet-aec-pdu", ["-v", "-aet", "ME", "-aec", "THEM", "-pdu", "4096", "--max-send-pdu", "4096"], [CT, MR], []),
    ("aet-empty", ["-d", "-aet", ""], [CT], []),
    ("aec-empty-nh", ["-v", "-nh", "-aec", "", "+crf", "{report}"], [CT], []),
    ("aet-aec-long", ["-d", "-aet", "ABCDEFGHIJKLMNOPQ", "-aec", "C" * 20], [CT], []),
    ("aet-trailing-spaces", ["-d", "-aet", "  X  ", "-aec", "TRAIL "], [CT], []),
    ("aet-non-ascii", ["-d", "-aet", "\u00c4\u00d6"], [CT], []),
    ("peer-max-pdu", ["-v", "+crf", "{report}"], [CT, MRB], ["-pdu", "4096"]),
    ("peer-max-pdu-131072", ["-v", "+crf", "{report}"], [CT, MR, RTP, DFL], ["-pdu", "131072"]),
    # DCMTK refuses an odd block of --max-send-pdu minus 12 bytes (a data set larger than one block)
    ("max-send-pdu-odd", ["-d", "--max-send-pdu", "8193"], [CT, MRI], ["-pdu", "131072"]),
    ("max-send-pdu-odd-nh", ["-v", "-nh", "--max-send-pdu", "4097", "+crf", "{report}"], [CT, MRI],
     ["-pdu", "131072"]),
    ("max-send-pdu-odd-one-block", ["-v", "--max-send-pdu", "65537"], [CT, MR], ["-pdu", "131072"]),
    ("promiscuous", ["-d"], [CT], ["-pm"]),
    ("refused", ["-d"], [CT], ["--refuse"]),
    ("no-peer", ["-v"], [CT], None),
    ("no-peer-debug-to", ["-d", "-to", "5"], [CT], None),
    ("abort-after", ["-v"], [CT, MR], ["--abort-after"]),
    ("abort-after-nh", ["-v", "-nh", "+crf", "{report}"], [CT, MR, MRI], ["--abort-after"]),
    ("abort-during", ["-d"], [CT, MR], ["--abort-during"]),
    ("abort-during-nh", ["-v", "-nh"], [CT, MR, CT], ["--abort-during"]),
    # (storescp sleeps at every PDU it receives: one second each, and a maximum PDU that takes CT_small in one,
    # keep the response seconds late, not tens of seconds; -nh: the first response still comes after the second
    # timeout, during the release)
    ("dimse-timeout", ["-v", "-td", "1"], [CT], ["--sleep-during", "2", "-pdu", "131072"]),
    ("dimse-timeout-nh", ["-v", "-nh", "-td", "1", "+crf", "{report}"], [CT, MR], ["--sleep-during", "1"]),
    ("long-peer-name", ["-v"], [CT], "LONGPEER"),
]


@pytest.mark.parametrize("opts,names,peer_args", [s[1:] for s in STORESCP_SCENARIOS],
                         ids=[s[0] for s in STORESCP_SCENARIOS])
def test_against_storescp(opts, names, peer_args, tmp_path):
    host = "127.0.0.1"
    if peer_args == "LONGPEER":
        host, peer_args = "h" * 58, None
    args = [*opts, host, "{port}", *_files(names)]
    harness.compare(args, tmp_path, peer_args=peer_args or [], with_peer=peer_args is not None)


PRIVATE_SCENARIOS = [
    ("131-classes-ma", ["-v", "-nuc"], ["-pm"], 131),
    ("131-classes-single", ["-v", "-nuc", "-ma", "+crf", "{report}"], ["-pm"], 131),
    ("131-classes-debug", ["-d", "-nuc"], ["-pm"], 131),
    ("rejected-round-then-ct", ["-v", "-nuc", "+crf", "{report}"], [], 128),
    ("all-rejected-single", ["-v", "-nuc", "-ma", "+crf", "{report}"], [], 3),
    ("all-rejected-nh", ["-v", "-nuc", "-nh"], [], 2),
]


@pytest.mark.parametrize("opts,peer_args,count", [s[1:] for s in PRIVATE_SCENARIOS],
                         ids=[s[0] for s in PRIVATE_SCENARIOS])
def test_many_sop_classes(opts, peer_args, count, private_classes, tmp_path):
    files = private_classes[:count]
    if count == 128:
        files = files + [_testfile(CT)]
    harness.compare([*opts, "127.0.0.1", "{port}", *files], tmp_path, peer_args=peer_args)


SCP_SCENARIOS = [
    ("warning-b000", ["-v", "+crf", "{report}"], [CT, MR], ["--status", "0xB000"]),
    ("refused-a700", ["-d"], [CT], ["--status", "0xA700"]),
    ("refused-0122-comment", ["-d", "+crf", "{report}"], [CT], ["--status", "0x0122", "--comment", "Not here"]),
    ("error-c000", ["-v", "+crf", "{report}"], [CT, MR], ["--status", "0xC000"]),
    ("warning-0001", ["-v", "+crf", "{report}"], [CT], ["--status", "0x0001"]),
    ("unknown-status", ["-v", "+crf", "{report}"], [CT], ["--status", "0x1234"]),
    ("unknown-status-debug", ["-d"], [CT], ["--status", "0xA801"]),
    ("reject-calling-ae", ["-d"], [CT], ["--reject", "1,1,3"]),
    ("reject-transient", ["-v"], [CT], ["--reject", "2,3,2"]),
    ("reject-acse", ["-d"], [CT], ["--reject", "1,2,2"]),
    ("no-contexts", ["-d"], [CT, MR], ["--no-contexts"]),
    ("no-contexts-single", ["-v", "-ma", "+crf", "{report}"], [CT], ["--no-contexts"]),
    ("peer-release-rq", ["-d"], [CT, MR], ["--raw", "release"]),
    ("peer-release-rq-nh", ["-v", "-nh"], [CT, MR], ["--raw", "release"]),
    ("echo-rsp", ["-d"], [CT], ["--raw", "echo-rsp"]),
    ("garbage", ["-d"], [CT], ["--raw", "garbage"]),
    ("close", ["-v", "-nh", "+crf", "{report}"], [CT, MR], ["--raw", "close"]),
    ("acse-timeout", ["-v", "-ta", "1"], [CT], ["--raw", "silent"]),
    ("release-timeout", ["-d", "-ta", "1"], [CT], ["--raw", "no-release"]),
    ("unlimited-peer-pdu", ["-v", "-ta", "1"], [CT], ["--raw", "no-release", "--max-pdu", "0"]),
    ("odd-peer-pdu", ["-v", "-ta", "1"], [CT], ["--raw", "no-release", "--max-pdu", "5001"]),
]


@pytest.mark.parametrize("opts,names,scp_args", [s[1:] for s in SCP_SCENARIOS], ids=[s[0] for s in SCP_SCENARIOS])
def test_against_test_scp(opts, names, scp_args, tmp_path):
    _compare_scp([*opts, "127.0.0.1", "{port}", *_files(names)], tmp_path, scp_args)


def test_unknown_host(tmp_path):
    harness.compare(["-v", "no-such-host.invalid", "104", _testfile(CT)], tmp_path, with_peer=False)


# ---- memory use with a large file (opt-in: DCMSEND_BIG_TEST=1; the size in MB can be given as its value) -----------


def _big_file(path: str, megabytes: int) -> None:
    import pydicom

    ds = pydicom.dcmread(_testfile(CT))
    del ds.PixelData
    ds.Rows, ds.Columns, ds.BitsAllocated, ds.BitsStored, ds.HighBit = 10240, 10240, 16, 16, 15
    frames = max(1, megabytes * 1024 * 1024 // (10240 * 10240 * 2))
    ds.NumberOfFrames = frames
    ds.save_as(path)
    length = frames * 10240 * 10240 * 2
    chunk = bytes(8 * 1024 * 1024)
    with open(path, "ab") as fh:
        fh.write(b"\xe0\x7f\x10\x00OW\x00\x00" + length.to_bytes(4, "little"))
        left = length
        while left:
            n = min(left, len(chunk))
            fh.write(chunk[:n])
            left -= n


@pytest.mark.skipif(not os.environ.get("DCMSEND_BIG_TEST"), reason="set DCMSEND_BIG_TEST=1 to run (slow)")
def test_large_file_memory(tmp_path):
    value = os.environ.get("DCMSEND_BIG_TEST", "1")
    megabytes = int(value) if value.isdigit() and int(value) > 1 else 400
    path = str(tmp_path / "big.dcm")
    _big_file(path, megabytes)
    with harness.Peer(str(tmp_path / "received"), ["--bit-preserving"]) as peer:
        proc = subprocess.Popen([*harness.ours_command(), "-v", "127.0.0.1", str(peer.port), path],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        except BaseException:
            os.kill(proc.pid, signal.SIGKILL)
            raise
        err = proc.stderr.read().decode()
        proc.returncode = os.waitstatus_to_exitcode(status)
    assert proc.returncode == 0, err
    assert "Received C-STORE Response (Success)" in err
    peak_mb = usage.ru_maxrss / 1024
    print(f"\npeak RSS of dcmsend sending a {os.path.getsize(path) / 1e6:.0f} MB file: {peak_mb:.1f} MB")
    assert peak_mb < 100
    received = os.listdir(peer.outdir)
    assert len(received) == 1
    assert os.path.getsize(os.path.join(peer.outdir, received[0])) > megabytes * 1024 * 1024 * 0.9
    shutil.rmtree(peer.outdir, ignore_errors=True)


_PREFIX = b"\0" * 128 + b"DICM"
TRUNCATED_META = {
    # the file ends 2 bytes into the value of (0002,0000)
    "in-group-length-value": _PREFIX + b"\2\0\0\0UL\4\0" + b"\x10\x00",
    # the file ends after 8 of the 12 header bytes of (0002,0001) OB
    "in-ob-header": _PREFIX + b"\2\0\0\0UL\4\0" + (14).to_bytes(4, "little") + b"\2\0\1\0OB\0\0",
}


@pytest.mark.parametrize("opts", [["-v"], ["-v", "-nh"]], ids=["halt", "nh"])
@pytest.mark.parametrize("name", list(TRUNCATED_META))
def test_dicomdir_file_with_truncated_meta(name, opts, tmp_path):
    """A file from a DICOMDIR is read only at send time: a meta header cut short is DCMTK's stream error (exit 62,
    with -nh 0), never an internal error."""
    import fixtures_data as fx

    def setup(side):
        fx.make_dicomdir(os.path.join(side, "DICOMDIR"), [("IMG1", fx.CT, "1.2.3.4.5", fx.LEE)])
        with open(os.path.join(side, "IMG1"), "wb") as fh:
            fh.write(TRUNCATED_META[name])

    real, _ = harness.compare([*opts, "+rd", "127.0.0.1", "{port}", "DICOMDIR"], tmp_path, setup=setup)
    assert real.returncode == (0 if "-nh" in opts else 62)


def _element(group: int, elem: int, vr: bytes, value: bytes, length: int | None = None) -> bytes:
    n = len(value) if length is None else length
    if vr in (b"OB", b"SQ"):
        return group.to_bytes(2, "little") + elem.to_bytes(2, "little") + vr + b"\0\0" + n.to_bytes(4, "little") + value
    return group.to_bytes(2, "little") + elem.to_bytes(2, "little") + vr + n.to_bytes(2, "little") + value


def _item(value: bytes) -> bytes:
    return b"\xfe\xff\x00\xe0" + len(value).to_bytes(4, "little") + value


_TOP = (_element(0x0008, 0x0016, b"UI", b"1.2.840.10008.5.1.4.1.1.2\0")
        + _element(0x0008, 0x0018, b"UI", b"1.2.3.4.5\0"))
SEND_TIME_DATA_SETS = {
    # an undefined-length sequence and encapsulated pixel data ending with the file after an item: DCMTK warns
    # "Reached end of stream before the end of sequence ..." and does not send the instance
    "no-sequence-delimiter": ("1.2.840.10008.1.2.1", 62,
                              _TOP + _element(0x0008, 0x1140, b"SQ", _item(_element(0x0008, 0x1150, b"UI",
                                                                                    b"1.2.840.10008.5.1.4.1.1.2\0")),
                                              0xFFFFFFFF)),
    "no-pixel-sequence-delimiter": ("1.2.840.10008.1.2.5", 62,
                                    _TOP + _element(0x7FE0, 0x0010, b"OB", _item(b"") + _item(b"\0" * 64), 0xFFFFFFFF)),
    # spaces in the data set's SOP Instance UID: DCMTK removes them (warning) and sends the corrected value
    "uid-leading-space": ("1.2.840.10008.1.2.1", 0,
                          _element(0x0008, 0x0016, b"UI", b"1.2.840.10008.5.1.4.1.1.2\0")
                          + _element(0x0008, 0x0018, b"UI", b" 1.2.3.4.5")),
    "uid-inner-and-trailing-spaces": ("1.2.840.10008.1.2.1", 0,
                                      _element(0x0008, 0x0016, b"UI", b"1.2.840.10008.5.1.4.1.1.2 ")
                                      + _element(0x0008, 0x0018, b"UI", b"1.2.3 .4.5 ")),
    # elements out of order: a warning, then sent in ascending order
    "not-ascending": ("1.2.840.10008.1.2.1", 0,
                      _TOP + _element(0x0010, 0x0020, b"LO", b"ID") + _element(0x0010, 0x0010, b"PN", b"DOE^J ")),
}


@pytest.mark.parametrize("opts", [["-v"], ["-v", "-nh", "+crf", "{report}"], ["-d"]], ids=["halt", "nh", "debug"])
@pytest.mark.parametrize("name", list(SEND_TIME_DATA_SETS))
def test_data_set_read_at_send_time(name, opts, tmp_path):
    """Data sets that only the send-time read of the whole file finds fault with (+fo reads just the meta header)."""
    import fixtures_data as fx

    ts, code, data_set = SEND_TIME_DATA_SETS[name]

    def setup(side):
        meta = b"\0" * 128 + b"DICM" + fx.meta_group("1.2.840.10008.5.1.4.1.1.2", "1.2.3.4.5", ts, True)
        fx.write(os.path.join(side, "in.dcm"), meta + data_set)

    real, _ = harness.compare([*opts, "127.0.0.1", "{port}", "in.dcm"], tmp_path, setup=setup)
    assert real.returncode == (0 if "-nh" in opts else code)


@pytest.mark.parametrize("variable,value", [("TCP_BUFFER_LENGTH", "99999999999"), ("TCP_BUFFER_LENGTH", "4294967296"),
                                            ("TCP_BUFFER_LENGTH", "0"), ("TCP_BUFFER_LENGTH", "-2147483649"),
                                            ("TCP_NODELAY", "4294967296"), ("TCP_NODELAY", "4294967297")])
def test_socket_environment_values(variable, value, tmp_path):
    """Values read with sscanf("%d") as glibc does: saturated to a long, cut to an int (TCP_BUFFER_LENGTH 0 is
    DCMTK's default 65536); never an internal error."""
    env = dict(os.environ, **{variable: value})
    harness.compare(["-d", "127.0.0.1", "{port}", _testfile(CT)], tmp_path, env=env)


def _unusual_meta(kind: str, instance: str) -> bytes:
    """A Part-10 file (CT, explicit VR little endian data set) whose meta header is unusual in the way ``kind`` says."""
    import struct

    import fixtures_data as fx

    ds = fx.dataset(fx.CT, instance)
    meta = fx.meta_group(sop_instance=instance)
    body = meta[12:]
    if kind == "group-length-short":
        meta = fx.element_ex(0x00020000, b"UL", struct.pack("<I", len(body) - 2)) + body
    elif kind == "no-group-length":
        meta = body
    elif kind == "odd-element":
        body += struct.pack("<HH2sH", 2, 0x13, b"SH", 3) + b"ABC"
        meta = fx.element_ex(0x00020000, b"UL", struct.pack("<I", len(body))) + body
    elif kind == "foreign-element":  # an element of another group inside the group length
        body += fx.element_ex(0x00080005, b"CS", b"ISO_IR 100")
        meta = fx.element_ex(0x00020000, b"UL", struct.pack("<I", len(body))) + body
    elif kind == "implicit-meta":
        body = (fx.element_im(0x00020001, b"\0\1") + fx.element_im(0x00020002, fx.ui(fx.CT), b"\0")
                + fx.element_im(0x00020003, fx.ui(instance), b"\0") + fx.element_im(0x00020010, fx.ui(fx.LEE), b"\0")
                + fx.element_im(0x00020012, b"1.2.3.4.5.6", b"\0"))
        meta = fx.element_im(0x00020000, struct.pack("<I", len(body))) + body
    elif kind == "no-preamble":
        return meta + ds
    return b"\0" * 128 + b"DICM" + meta + ds


def _send_from_dicomdir(data: bytes, instance: str, opts: list[str], tmp_path):
    """Side by side: ``data`` as the one file (a CT instance ``instance``) of a DICOMDIR, sent with ``+rd``."""
    import fixtures_data as fx

    def setup(side):
        fx.make_dicomdir(os.path.join(side, "DICOMDIR"), [("IMG1", fx.CT, instance, fx.LEE)])
        with open(os.path.join(side, "IMG1"), "wb") as fh:
            fh.write(data)

    return harness.compare([*opts, "+rd", "127.0.0.1", "{port}", "DICOMDIR"], tmp_path, setup=setup)


UNUSUAL_META = ["group-length-short", "no-group-length", "odd-element", "foreign-element", "implicit-meta",
                "no-preamble"]


@pytest.mark.parametrize("opts", [[], ["-v"], ["-d"], ["+f", "-d"]], ids=["default", "v", "d", "read-file-d"])
@pytest.mark.parametrize("kind", UNUSUAL_META)
def test_unusual_meta_header_at_send_time(kind, opts, tmp_path):
    """DCMTK reads the meta header again when it sends the file: its warnings come a second time (after the
    checkAndReadPreamble line, which names the header's own encoding), a header without preamble has no such line.
    A clean file before and after keeps the fast way."""
    import fixtures_data as fx

    def setup(side):
        fx.write_part10(os.path.join(side, "a.dcm"), sop_instance="1.2.3.1")
        with open(os.path.join(side, "b.dcm"), "wb") as fh:
            fh.write(_unusual_meta(kind, "1.2.3.2"))
        fx.write_part10(os.path.join(side, "c.dcm"), sop_instance="1.2.3.3")

    real, _ = harness.compare([*opts, "-nh", "127.0.0.1", "{port}", "a.dcm", "b.dcm", "c.dcm"], tmp_path,
                              setup=setup)
    assert real.returncode == 0


@pytest.mark.parametrize("opts", [["-v"], ["-d"]], ids=["v", "d"])
@pytest.mark.parametrize("kind", ["group-length-short", "odd-element", "implicit-meta"])
def test_unusual_meta_header_of_a_dicomdir_file(kind, opts, tmp_path):
    """A file from a DICOMDIR is read only at send time: DCMTK says what its meta header is like then, once."""
    real, _ = _send_from_dicomdir(_unusual_meta(kind, "1.2.3.2"), "1.2.3.2", opts, tmp_path)
    assert real.returncode == 0


def _dicomdir_meta_variant(kind: str, instance: str) -> bytes:
    """The unusual meta headers above and some more that only the send-time read of a DICOMDIR's file meets."""
    import struct

    import fixtures_data as fx

    if kind in UNUSUAL_META:
        return _unusual_meta(kind, instance)
    ds = fx.dataset(fx.CT, instance)
    prefix = b"\0" * 128 + b"DICM"
    if kind == "group-length-long":  # the group length takes in the data set's first element
        body = fx.meta_group(sop_instance=instance)[12:]
        first = len(fx.element_ex(0x00080016, b"UI", fx.ui(fx.CT), b"\0"))
        return prefix + fx.element_ex(0x00020000, b"UL", struct.pack("<I", len(body) + first)) + body + ds
    if kind == "no-transfer-syntax":
        return prefix + fx.meta_group(sop_instance=instance, ts=None) + ds
    if kind == "unknown-transfer-syntax":
        return prefix + fx.meta_group(sop_instance=instance, ts="1.2.3.4.5.6.7") + ds
    if kind == "ts-inner-blank":
        return prefix + fx.meta_group(sop_instance=instance, ts="1.2.840.10008.1.2 .1") + ds
    if kind == "implicit-data-set":  # the meta header says explicit VR, the data set is implicit VR
        return prefix + fx.meta_group(sop_instance=instance) + fx.dataset(fx.CT, instance, explicit=False)
    if kind == "bare-data-set":
        return ds
    if kind == "bare-implicit-data-set":
        return fx.dataset(fx.CT, instance, explicit=False)
    if kind == "cut-in-uid-value":  # the file ends inside the value of (0002,0003)
        meta = fx.meta_group(sop_instance=instance)
        return prefix + meta[:meta.index(fx.ui(instance)) + 3]
    raise AssertionError(kind)


DICOMDIR_META = [*UNUSUAL_META, "group-length-long", "no-transfer-syntax", "unknown-transfer-syntax",
                 "ts-inner-blank", "implicit-data-set", "bare-data-set", "bare-implicit-data-set", "cut-in-uid-value"]


@pytest.mark.parametrize("opts", [["-d", "-nh"], ["+f", "-d", "-nh"]], ids=["file-only", "read-file"])
@pytest.mark.parametrize("kind", DICOMDIR_META)
def test_meta_header_of_a_dicomdir_file_read_at_send_time(kind, opts, tmp_path):
    """A file from a DICOMDIR (its data set offset unknown to the input phase) is read at send time by the same
    meta-header reader as the input phase's (part10.read_file_meta): DCMTK's messages, conditions, data set offset
    and transfer syntax, with +fo (the meta header required) and +f (a bare data set taken, its encoding detected)."""
    real, _ = _send_from_dicomdir(_dicomdir_meta_variant(kind, "1.2.3.2"), "1.2.3.2", opts, tmp_path)
    assert real.returncode == 0


@pytest.mark.parametrize("opts", [["-d", "-nh"], ["+f", "-d", "-nh"], ["-nuc", "-d", "-nh"]],
                         ids=["file-only", "read-file", "no-uid-checks"])
@pytest.mark.parametrize("kind", DICOMDIR_META)
def test_meta_header_read_again_at_send_time(kind, opts, tmp_path):
    """The same shapes as files the input phase reads (after a clean one): the send-time load reads the meta header
    again by the same reader where DCMTK says more than the usual line (warnings, no preamble, no or an unknown
    transfer syntax: lookForXfer's lines, the data set's encoding detected, with +fo and -nuc the file refused)."""
    import fixtures_data as fx

    def setup(side):
        fx.write_part10(os.path.join(side, "a.dcm"), sop_instance="1.2.3.1")
        with open(os.path.join(side, "b.dcm"), "wb") as fh:
            fh.write(_dicomdir_meta_variant(kind, "1.2.3.2"))

    real, _ = harness.compare([*opts, "127.0.0.1", "{port}", "a.dcm", "b.dcm"], tmp_path, setup=setup)
    assert real.returncode in (0, 22, 23)


RESPONSE_FAULTS = ["no-status", "no-msgid", "no-datasettype", "no-command-field", "empty-status", "empty-msgid",
                   "long-status", "odd-status", "odd-status3", "odd-class", "with-class", "data-set-present",
                   "overlong-status", "trailing-bytes"]


@pytest.mark.parametrize("opts", [["-v"], ["-nh"], ["-d"]], ids=["v", "nh", "d"])
@pytest.mark.parametrize("mode", RESPONSE_FAULTS)
def test_malformed_store_response(mode, opts, tmp_path):
    """C-STORE responses that DCMTK's command reading, parsing and validation refuse (a required element missing
    or empty, an odd length, an element beyond the end, a data set announced) or accept (a longer Status, bytes
    too few for an element after the last one): the same lines, exit code, and nothing sent after a refused one."""
    import fixtures_data as fx

    def setup(side):
        for i in range(3):
            fx.write_part10(os.path.join(side, f"f{i}.dcm"), sop_instance=f"1.2.3.{i}")

    harness.compare_scp([*opts, "127.0.0.1", "{port}", "f0.dcm", "f1.dcm", "f2.dcm"], tmp_path, ["--raw", mode],
                        setup=setup)


def _file_variant(name: str) -> bytes:
    import fixtures_data as fx

    prefix = b"\0" * 128 + b"DICM"
    if name == "ts-with-space":
        return prefix + fx.meta_group(ts=fx.LEE + " ") + fx.dataset()
    if name == "instance-with-tab":
        return prefix + fx.meta_group() + fx.dataset(sop_instance="1.2.3.4\t")
    if name == "instance-with-newline":
        return prefix + fx.meta_group() + fx.dataset(sop_instance="1.2.\n3.4")
    return fx.bad_files()[name]


@pytest.mark.parametrize("opts", [["-v"], ["-d"], ["-nuc", "-d"], ["+f", "-v"]], ids=["v", "d", "nuc-d", "f-v"])
@pytest.mark.parametrize("name", ["ts-with-space", "instance-with-tab", "instance-with-newline",
                                  "long_instance.dcm"])
def test_uid_corrections_at_send_time(name, opts, tmp_path):
    """What DCMTK does with UIDs when it loads a file to send it: blanks (tabs and line breaks too) removed from the
    Transfer Syntax UID and the data set's SOP Instance UID with its warning, the request's UIDs cut to 64
    characters."""

    def setup(side):
        with open(os.path.join(side, "f.dcm"), "wb") as fh:
            fh.write(_file_variant(name))

    harness.compare([*opts, "127.0.0.1", "{port}", "f.dcm"], tmp_path, setup=setup)


@pytest.mark.parametrize("opts", [["-v"], ["-d"]], ids=["v", "d"])
@pytest.mark.parametrize("name", ["ts-with-space", "instance-with-tab", "long_instance.dcm"])
def test_uid_corrections_of_a_dicomdir_file(name, opts, tmp_path):
    _send_from_dicomdir(_file_variant(name), "1.2.3.4", opts, tmp_path)


def _deflated_variant(name: str) -> bytes:
    import zlib

    import fixtures_data as fx

    prefix = b"\0" * 128 + b"DICM"
    deflated = "1.2.840.10008.1.2.1.99"
    packer = zlib.compressobj(6, zlib.DEFLATED, -15)
    raw = packer.compress(fx.dataset()) + packer.flush()
    with_uids = fx.meta_group(ts=deflated)
    without_uids = fx.meta_group(sop_class=None, sop_instance=None, ts=deflated)
    return prefix + {
        "zlib-header": with_uids + zlib.compress(fx.dataset()),  # not raw deflate: DCMTK 3.6.7 refuses it
        "garbage": with_uids + b"garbage!garbage!",
        "bad-stored-block": with_uids + b"\x01\x10\x00\x00\x00abcd",
        "garbage-no-uids": without_uids + b"garbage!garbage!",
        "truncated": with_uids + raw[:20],
        "truncated-no-uids": without_uids + raw[:20],
        "good": with_uids + raw,
    }[name]


@pytest.mark.parametrize("opts", [["-v"], ["+f", "-v"], ["+f", "-nh", "-d"]], ids=["v", "f-v", "f-nh-d"])
@pytest.mark.parametrize("name", ["zlib-header", "garbage", "bad-stored-block", "garbage-no-uids", "truncated",
                                  "truncated-no-uids", "good"])
def test_deflated_data_set_errors(name, opts, tmp_path):
    """A deflated data set that does not inflate: zlib's own message ('ZLib Error: invalid block type'), in the
    input phase (+f, meta header without SOP UIDs) or at send time; one that stops short: 'I/O suspension or
    premature end of stream'."""

    def setup(side):
        with open(os.path.join(side, "f.dcm"), "wb") as fh:
            fh.write(_deflated_variant(name))

    harness.compare([*opts, "127.0.0.1", "{port}", "f.dcm"], tmp_path, setup=setup)


@pytest.mark.parametrize("opts", [["-f", "-v"], ["+f", "-v"], ["-d"]], ids=["dataset-v", "f-v", "fo-d"])
def test_undefined_tag_key_is_shown_as_dcmtk_shows_it(opts, tmp_path):
    """An element (ffff,ffff) is DCMTK's undefined tag key: its messages show it as (????,????)."""
    import fixtures_data as fx

    def setup(side):
        if "-f" in opts:
            data = fx.dataset(explicit=False) + fx.element_im(0xFFFFFFFF, b"abcd")
        else:
            data = b"\0" * 128 + b"DICM" + fx.meta_group() + fx.dataset() + fx.element_ex(0xFFFFFFFF, b"OB", b"abcd")
        with open(os.path.join(side, "f.dcm"), "wb") as fh:
            fh.write(data)

    real, _ = harness.compare([*opts, "127.0.0.1", "{port}", "f.dcm"], tmp_path, setup=setup)
    assert "(????,????)" in real.stderr


@pytest.mark.parametrize("change,opts", [("delete", ["-nh"]), ("truncate", []), ("replace", ["-v"]),
                                         ("rewrite-large", [])],
                         ids=["delete-nh", "truncate", "replace-v", "rewrite-large"])
def test_next_file_changed_while_the_response_is_awaited(change, opts, tmp_path):
    """The next file is read ahead while the peer takes its time (tests/scp.py --raw delay-first: the first
    response comes 2 s late, the peer stores every data set byte for byte); when it is deleted, cut or replaced
    before the response comes, what is sent and said is what DCMTK, which opens it only then, sends and says.
    (The peer was storescp --sleep-during 2, which sleeps at every received PDU: two minutes for the large files.)"""
    import threading

    import fixtures_data as fx

    def big(instance: str, fill: bytes) -> bytes:
        return fx.part10(sop_instance=instance) + fx.element_ex(0x7FE00010, b"OW", fill * 300000)

    def setup(side):
        names = [os.path.join(side, f"f{i}.dcm") for i in range(2)]
        for i, name in enumerate(names):
            fx.write(name, big(f"1.2.3.{i}", b"\0\0") if change == "rewrite-large"
                     else fx.part10(sop_instance=f"1.2.3.{i}"))

        def act():
            target = names[1]
            if change == "delete":
                os.remove(target)
            elif change == "truncate":
                with open(target, "r+b") as fh:
                    fh.truncate(300)
            elif change == "replace":
                os.remove(target)
                fx.write(target, fx.part10(sop_instance="1.2.3.9"))
            else:  # the same file rewritten in place, 6 bytes longer, with another data set UID
                with open(target, "r+b") as fh:
                    fh.truncate(0)
                    fh.write(fx.part10(sop_instance="1.2.3.1", ds_instance="1.2.3.1.999999")
                             + fx.element_ex(0x7FE00010, b"OW", b"\1\1" * 300000))

        threading.Timer(0.8, act).start()

    scp = os.path.join(HERE, "scp.py")
    real, _ = harness.compare([*opts, "127.0.0.1", "{port}", "f0.dcm", "f1.dcm", "+crf", "{report}"], tmp_path,
                              peer_args=[scp, "--raw", "delay-first", "--delay", "2"], peer_program=sys.executable,
                              setup=setup)
    assert real.received  # (the peer stored what it received: compared byte for byte)


@pytest.mark.parametrize("max_pdu", [16384, 5001, 200, 200000, 0])
@pytest.mark.parametrize("opts", [[], ["--max-send-pdu", "4096"]], ids=["default", "max-send-4096"])
def test_p_data_pdu_lengths_on_the_wire(max_pdu, opts, tmp_path):
    """The P-DATA PDUs have DCMTK's lengths: data set fragments of its 'Max Send PDV' (12 bytes below the peer's
    maximum, at most 131060), split further only for a peer whose maximum is smaller than that (checked with a
    peer that logs the length of every P-DATA PDU)."""
    import fixtures_data as fx

    path = fx.write(str(tmp_path / "big.dcm"), fx.part10(sop_instance="1.2.3.5")
                    + fx.element_ex(0x7FE00010, b"OW", b"\0" * 300000))
    scp = os.path.join(HERE, "scp.py")
    lengths = {}
    for which, cmd in (("real", [harness.REAL_DCMSEND]), ("ours", harness.ours_command())):
        peer = harness.Peer(str(tmp_path / which), [scp, "--raw", "lengths", "--max-pdu", str(max_pdu)],
                            program=sys.executable)
        with peer:
            proc = subprocess.run([*cmd, *opts, "127.0.0.1", str(peer.port), path], capture_output=True, timeout=60)
        lengths[which] = (proc.returncode, [line for line in peer.log.splitlines() if line.startswith("P-DATA")])
    assert lengths["ours"] == lengths["real"]
    assert lengths["real"][0] == 0 and len(lengths["real"][1]) > 2
