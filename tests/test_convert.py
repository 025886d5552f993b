"""convert.py against the real DCMTK 3.6.7: the report's "Dataset Size", the bytes the peer receives, load errors.

Expected values are never hard-coded: every scenario sends the file with /usr/bin/dcmsend (+crf) to a bit-preserving
/usr/bin/storescp (+B: it stores exactly the data set bytes it received), then compares our dataset_size() with the
report and our encode() in the network TS from the report with the stored bytes.
"""

from __future__ import annotations

import os
import re
import resource
import struct
import subprocess
import sys

import pytest

from conftest import requires_dcmtk
from dcmsend import collect, convert, part10, uids
from dcmsend.exitcodes import ConditionError
from harness import REAL_DCMSEND, Peer, _strip_meta, run_program

pydicom_data = pytest.importorskip("pydicom.data")
TEST_FILES = os.path.dirname(pydicom_data.get_testdata_file("CT_small.dcm"))


def data_file(name: str) -> str:
    return os.path.join(TEST_FILES, name)


def instance(path: str, mode: str = part10.READ_FILE_ONLY) -> collect.Instance:
    return collect.Instance(path, mode, "", "", "")


def real_send(tmp_path, path: str, peer_args: list[str], extra: list[str] = ()):
    """Send ``path`` with the real dcmsend; returns (report dataset size, network TS UID, stored data sets, stderr)."""
    out = tmp_path / "out"
    report = tmp_path / "report.txt"
    with Peer(str(out), ["+B", *peer_args]) as peer:
        _, _, stderr, _ = run_program([REAL_DCMSEND], ["-nh", "+crf", str(report), *extra, "127.0.0.1",
                                                      str(peer.port), path], str(tmp_path))
    text = report.read_text() if report.exists() else ""
    size = re.search(r"Dataset Size  : (\d+)", text)
    net = re.search(r"Network Xfer  : (\S*)", text)
    stored = [_strip_meta((out / n).read_bytes()) for n in sorted(os.listdir(out))] if out.exists() else []
    return (int(size.group(1)) if size else None), (net.group(1) if net else ""), stored, stderr


def encode_bytes(loaded: convert.Loaded, ts: str, options=None) -> bytes:
    reader, size = loaded.encode(ts, options)
    chunks = []
    buf = bytearray(7919)  # odd chunk size: exercises partial pieces
    while True:
        n = reader.readinto(buf)
        if not n:
            break
        chunks.append(bytes(buf[:n]))
    data = b"".join(chunks)
    assert len(data) == size
    return data


# (file, storescp options, dcmsend options): +xa accepts every TS (the file goes as it is); +xi implicit only,
# +xb prefers big endian, the default prefers explicit little endian (decompression / inflation / byte swapping).
SCENARIOS = [
    ("CT_small.dcm", ["+xa"], []),
    ("CT_small.dcm", ["+xi"], []),
    ("CT_small.dcm", ["+xb"], []),
    ("MR_small.dcm", ["+xa"], []),
    ("MR_small_implicit.dcm", ["+xa"], []),
    ("MR_small_implicit.dcm", [], []),
    ("MR_small_implicit.dcm", ["+xb"], []),
    ("MR_small_bigendian.dcm", ["+xa"], []),
    ("MR_small_bigendian.dcm", [], []),
    ("MR_small_bigendian.dcm", ["+xi"], []),
    ("MR_small_padded.dcm", ["+xa"], []),
    ("image_dfl.dcm", ["+xa"], []),
    ("image_dfl.dcm", [], []),
    ("image_dfl.dcm", ["+xi"], []),
    ("image_dfl.dcm", ["+xd"], ["+cl", "9"]),
    ("rtplan.dcm", ["+xa"], []),
    ("rtplan.dcm", ["+xb"], []),
    ("rtdose.dcm", ["+xi"], []),
    ("JPEG2000.dcm", ["+xa"], []),
    ("MR_small_RLE.dcm", ["+xa"], []),
    ("MR_small_RLE.dcm", [], []),
    ("rtdose_rle.dcm", [], []),
    ("SC_rgb_jpeg_dcmtk.dcm", ["+xa"], []),
    ("SC_rgb_jpeg_gdcm.dcm", [], []),
    ("SC_rgb_gdcm_KY.dcm", ["+xa"], []),
    ("examples_ybr_color.dcm", ["+xa"], []),
    ("SC_rgb_small_odd_big_endian.dcm", ["+xi"], []),
    ("badVR.dcm", ["+xa"], []),
    ("waveform_ecg.dcm", ["+xi"], []),
    ("test-SR.dcm", ["+xb"], []),
    ("liver_expb_1frame.dcm", [], []),
]


_IDS = [f"{n}-{'_'.join(p) or 'default'}{'-' + '_'.join(e) if e else ''}" for n, p, e in SCENARIOS]


@requires_dcmtk
@pytest.mark.parametrize("name,peer_args,extra", SCENARIOS, ids=_IDS)
def test_size_and_bytes_like_real_dcmsend(tmp_path, name, peer_args, extra):
    path = data_file(name)
    size, net_ts, stored, stderr = real_send(tmp_path, path, peer_args, extra)
    assert size is not None and stored, stderr
    options = type("Opts", (), {"compression_level": int(extra[1]) if extra[:1] == ["+cl"] else 6})()
    with convert.load(instance(path)) as loaded:
        assert loaded.dataset_size() == size
        ours = encode_bytes(loaded, net_ts, options)
        assert loaded.current_ts == net_ts
    assert ours == stored[0]


@requires_dcmtk
@pytest.mark.parametrize("name", ["nested_priv_SQ.dcm", "UN_sequence.dcm", "priv_SQ.dcm", "no_meta_group_length.dcm"])
def test_size_of_data_sets_without_sop_uids(tmp_path, name):
    """Files that fail in sendSTORERequest still get their Dataset Size (-nh writes the report)."""
    path = data_file(name)
    size, _, _, stderr = real_send(tmp_path, path, ["+xa"], ["+f", "-nuc"] if name != "UN_sequence.dcm" else [])
    if size is None:
        pytest.skip(f"real dcmsend did not get as far as the report: {stderr.strip()[:200]}")
    mode = part10.READ_FILE if name != "UN_sequence.dcm" else part10.READ_FILE_ONLY
    with convert.load(instance(path, mode)) as loaded:
        assert loaded.dataset_size() == size
        assert (loaded.sop_class_uid, loaded.sop_instance_uid) == ("", "") or name == "UN_sequence.dcm"


def _cuts(data: bytes) -> dict[str, bytes]:
    meta_end = 144 + int.from_bytes(data[140:144], "little")
    return {"in-first-header": data[:meta_end + 3], "in-first-value": data[:meta_end + 10],
            "at-boundary-300": data[:meta_end + 300], "in-pixel-data": data[:len(data) - 5000],
            "last-byte": data[:-1], "garbage-2": data + b"\1\2", "garbage-7": data + bytes(range(1, 8))}


_DAMAGED = ("MR_small.dcm", "MR_small_implicit.dcm", "rtplan.dcm", "image_dfl.dcm", "MR_small_RLE.dcm")
TRUNCATED = [(n, c) for n in _DAMAGED
             for c in ("in-first-header", "in-first-value", "at-boundary-300", "in-pixel-data", "last-byte",
                       "garbage-2", "garbage-7")]


@requires_dcmtk
@pytest.mark.parametrize("name,cut", TRUNCATED, ids=[f"{n}-{c}" for n, c in TRUNCATED])
def test_damaged_files_like_real_dcmsend(tmp_path, capsys, name, cut):
    data = _cuts(open(data_file(name), "rb").read())[cut]
    path = tmp_path / "damaged.dcm"
    path.write_bytes(data)
    size, _, _, stderr = real_send(tmp_path, str(path), [])
    real_lines = [line for line in stderr.splitlines()
                  # (the "nothing to decompress" warning belongs to encode())
                  if line.startswith(("E: Dcm", "W: Dcm")) and "nothing to decompress" not in line]
    failed = re.search(r"E: cannot send SOP instance from file: \S+: (.*)", stderr)
    try:
        with convert.load(instance(str(path))) as loaded:
            ours_size = loaded.dataset_size()
        ours_error = None
    except ConditionError as exc:
        ours_error = exc.condition.text
        ours_size = None
    ours_lines = [line for line in capsys.readouterr().err.splitlines() if line.startswith(("E: Dcm", "W: Dcm"))]
    assert ours_lines == real_lines
    if failed:
        assert ours_error == failed.group(1)
    else:
        assert ours_error is None and ours_size == size


def test_os_error_text(tmp_path):
    with pytest.raises(ConditionError) as info:
        convert.load(instance(str(tmp_path / "gone.dcm")))
    assert info.value.condition.text == "No such file or directory"


def test_missing_meta_header_in_file_only_mode(tmp_path):
    path = tmp_path / "bare.dcm"
    path.write_bytes(_strip_meta(open(data_file("CT_small.dcm"), "rb").read()))
    with pytest.raises(ConditionError) as info:
        convert.load(instance(str(path)))
    assert info.value.condition.text == "File meta information header missing"
    with convert.load(instance(str(path), part10.READ_DATASET)) as loaded:  # -f: detected from the data set
        assert loaded.original_ts == uids.LEE
        assert loaded.sop_instance_uid == "1.3.6.1.4.1.5962.1.1.1.1.1.20040119072730.12322"


def test_no_decoder_means_no_conversion(tmp_path):
    import pydicom

    ds = pydicom.dcmread(data_file("JPEG2000.dcm"))
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.100"  # MPEG2: no decoder
    path = tmp_path / "mpeg2.dcm"
    ds.save_as(str(path), enforce_file_format=True)
    with convert.load(instance(str(path))) as loaded:
        with pytest.raises(ConditionError) as info:
            loaded.encode(uids.LEE)
        assert info.value.condition.text == "Pixel representation cannot be changed"
    expected = "No conversion to transfer syntax Little Endian Explicit possible!"
    assert convert.no_conversion_message(uids.LEE) == expected


def test_jpeg_2000_decodes_beyond_dcmtk():
    import numpy as np
    import pydicom

    ref = pydicom.dcmread(data_file("JPEG2000.dcm"))
    with convert.load(instance(data_file("JPEG2000.dcm"))) as loaded:
        data = encode_bytes(loaded, uids.LEE)
    ds = pydicom.dataset.Dataset()
    import io

    from pydicom.filereader import read_dataset
    ds = read_dataset(io.BytesIO(data), False, True)
    assert ds.SOPInstanceUID == ref.SOPInstanceUID
    expected = ref.pixel_array
    assert np.array_equal(np.frombuffer(ds.PixelData, expected.dtype).reshape(expected.shape), expected)


def _big_file(path, pixel_bytes: int) -> None:
    """A LEE file with a huge (sparse) pixel data element, written without holding it in memory."""
    import pydicom

    ds = pydicom.dcmread(data_file("CT_small.dcm"))
    del ds.PixelData
    del ds[0xFFFCFFFC]  # trailing padding (would be dropped when sending)
    ds.save_as(str(path), enforce_file_format=True)
    with open(path, "ab") as fh:
        fh.write(struct.pack("<HH2sHL", 0x7FE0, 0x0010, b"OW", 0, pixel_bytes))
        fh.truncate(fh.tell() + pixel_bytes)


_MEMORY_PROBE = r"""
import resource, sys
from dcmsend import collect, convert, part10
inst = collect.Instance(sys.argv[1], part10.READ_FILE_ONLY, "", "", "")
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
with convert.load(inst) as loaded:
    size = loaded.dataset_size()
    reader, total = loaded.encode(loaded.original_ts)
    buf = bytearray(65536)
    done = 0
    while True:
        n = reader.readinto(buf)
        if not n:
            break
        done += n
print(size, total, done, before, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def test_big_file_is_streamed_not_loaded(tmp_path):
    path = tmp_path / "big.dcm"
    pixel_bytes = 220 * 1024 * 1024
    _big_file(path, pixel_bytes)
    proc = subprocess.run([sys.executable, "-c", _MEMORY_PROBE, str(path)], capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    size, total, done, before_kb, after_kb = map(int, proc.stdout.split())
    meta_end = 144 + int.from_bytes(open(path, "rb").read(144)[140:144], "little")
    assert size == total == done == os.path.getsize(path) - meta_end
    assert after_kb - before_kb < 40 * 1024, f"RSS grew by {(after_kb - before_kb) // 1024} MB"
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss < 10 * pixel_bytes  # sanity: the test itself


def test_same_ts_canonical_file_is_one_range_of_the_file():
    with convert.load(instance(data_file("rtplan.dcm"))) as loaded:
        reader, size = loaded.encode(loaded.original_ts)
        assert len(reader._parts) == 1 and isinstance(reader._parts[0], tuple)
        assert size == loaded.dataset_size()
