"""Data-set shapes for the fast = exact check of the data-set codec (benchmarks/profile_hot_path.py --check,
tests/test_dataset.py): a synthetic enhanced MR with per-frame functional groups, and DCMTK re-encodings (dcmconv)
of pydicom's test files in every uncompressed syntax, with undefined-length sequences, group lengths and padding.

    python benchmarks/shapes.py DIR     # writes the shapes into DIR
"""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
import sys

ENHANCED_MR = "1.2.840.10008.5.1.4.1.1.4.1"
LEE = "1.2.840.10008.1.2.1"


def _el(tag: int, vr: bytes, value: bytes) -> bytes:
    if len(value) & 1:
        value += b"\0" if vr == b"UI" else (b" " if vr in (b"CS", b"DS", b"IS", b"LO", b"SH", b"PN", b"DA", b"TM",
                                                              b"DT", b"LT", b"ST", b"UT") else b"\0")
    head = struct.pack("<HH", tag >> 16, tag & 0xFFFF) + vr
    if vr in (b"OB", b"OW", b"OF", b"SQ", b"UT", b"UN", b"UC", b"UR", b"OL", b"OD", b"OV", b"SV", b"UV"):
        return head + b"\0\0" + struct.pack("<L", len(value)) + value
    return head + struct.pack("<H", len(value)) + value


def _seq(tag: int, items: list[bytes], undefined: bool) -> bytes:
    head = struct.pack("<HH", tag >> 16, tag & 0xFFFF) + b"SQ\0\0"
    if undefined:
        body = b"".join(struct.pack("<HHL", 0xFFFE, 0xE000, 0xFFFFFFFF) + it + struct.pack("<HHL", 0xFFFE, 0xE00D, 0)
                        for it in items)
        return head + struct.pack("<L", 0xFFFFFFFF) + body + struct.pack("<HHL", 0xFFFE, 0xE0DD, 0)
    body = b"".join(struct.pack("<HHL", 0xFFFE, 0xE000, len(it)) + it for it in items)
    return head + struct.pack("<L", len(body)) + body


def enhanced_mr(instance: str = "1.2.826.0.1.3680043.8.498.1", frames: int = 200, size: int = 128,
                undefined: bool = True, pixels: bool = True) -> bytes:
    """A Part 10 enhanced MR (explicit VR little endian) with ``frames`` per-frame functional group items."""
    per_frame = []
    for i in range(frames):
        per_frame.append(
            _seq(0x00189114, [_el(0x00189082, b"FD", struct.pack("<d", 1.5))], undefined)
            + _seq(0x00209111, [_el(0x00209156, b"US", struct.pack("<H", i + 1))
                                + _el(0x00209157, b"UL", struct.pack("<LL", 1, i + 1))], undefined)
            + _seq(0x00209113, [_el(0x00200032, b"DS", f"0\\0\\{i * 1.25:.2f}".encode())], undefined)
            + _seq(0x00209116, [_el(0x00200037, b"DS", b"1\\0\\0\\0\\1\\0")], undefined)
            + _seq(0x00289110, [_el(0x00180050, b"DS", b"1.25") + _el(0x00280030, b"DS", b"0.5\\0.5")], undefined))
    shared = [_seq(0x00189112, [_el(0x00180080, b"DS", b"500") + _el(0x00180081, b"DS", b"10")], undefined)
              + _seq(0x00289145, [_el(0x00281052, b"DS", b"0") + _el(0x00281053, b"DS", b"1")
                                  + _el(0x00281054, b"LO", b"US")], undefined)]
    ds = (_el(0x00080008, b"CS", b"ORIGINAL\\PRIMARY\\M\\NONE")
          + _el(0x00080016, b"UI", ENHANCED_MR.encode()) + _el(0x00080018, b"UI", instance.encode())
          + _el(0x00080060, b"CS", b"MR") + _el(0x00090010, b"LO", b"ACME 1.1")
          + _el(0x00091001, b"LO", b"private value") + _el(0x00091002, b"UN", b"\x01\x02\x03\x04")
          + _el(0x00100010, b"PN", b"Enhanced^MR") + _el(0x00100020, b"LO", b"EMR1")
          + _el(0x0020000D, b"UI", b"1.2.826.0.1.3680043.8.498.2")
          + _el(0x0020000E, b"UI", b"1.2.826.0.1.3680043.8.498.3")
          + _el(0x00280002, b"US", struct.pack("<H", 1)) + _el(0x00280004, b"CS", b"MONOCHROME2")
          + _el(0x00280008, b"IS", str(frames).encode())
          + _el(0x00280010, b"US", struct.pack("<H", size)) + _el(0x00280011, b"US", struct.pack("<H", size))
          + _el(0x00280100, b"US", struct.pack("<H", 16)) + _el(0x00280101, b"US", struct.pack("<H", 12))
          + _el(0x00280102, b"US", struct.pack("<H", 11)) + _el(0x00280103, b"US", struct.pack("<H", 0))
          + _seq(0x52009229, shared, undefined) + _seq(0x52009230, per_frame, undefined))
    if pixels:
        ds += _el(0x7FE00010, b"OW", bytes(range(256)) * (size * size * frames * 2 // 256))
    meta_body = (_el(0x00020001, b"OB", b"\0\1") + _el(0x00020002, b"UI", ENHANCED_MR.encode())
                 + _el(0x00020003, b"UI", instance.encode()) + _el(0x00020010, b"UI", LEE.encode())
                 + _el(0x00020012, b"UI", b"1.2.826.0.1.3680043.8.498.99"))
    meta = _el(0x00020000, b"UL", struct.pack("<L", len(meta_body))) + meta_body
    return b"\0" * 128 + b"DICM" + meta + ds


# dcmconv variants: (suffix, options)
VARIANTS = [
    ("lei", ["+ti"]), ("bee", ["+tb"]), ("lee", ["+te"]),
    ("lei-undef", ["+ti", "-e"]), ("bee-undef", ["+tb", "-e"]), ("lee-undef", ["+te", "-e"]),
    ("lei-gl", ["+ti", "+g"]), ("lee-gl-undef", ["+te", "+g", "-e"]), ("bee-gl", ["+tb", "+g"]),
    ("lee-pad", ["+te", "+p", "256", "16"]), ("lei-pad-gl", ["+ti", "+g", "+p", "128", "8"]),
]
SOURCES = ["CT_small.dcm", "MR_small.dcm", "MR_small_implicit.dcm", "MR_small_bigendian.dcm", "rtplan.dcm",
           "test-SR.dcm", "waveform_ecg.dcm", "rtstruct.dcm", "emri_small.dcm", "SC_rgb.dcm"]


def write_shapes(directory: str, sources: list[str] | None = None, frames: int = 200) -> list[str]:
    """Writes the shapes into ``directory``; returns their paths (variants DCMTK could not write are left out)."""
    os.makedirs(directory, exist_ok=True)
    out = []
    emr = os.path.join(directory, "enhanced_mr.dcm")
    with open(emr, "wb") as fh:
        fh.write(enhanced_mr(frames=frames))
    out.append(emr)
    emr_explicit = os.path.join(directory, "enhanced_mr_explicit_lengths.dcm")
    with open(emr_explicit, "wb") as fh:
        fh.write(enhanced_mr(instance="1.2.826.0.1.3680043.8.498.4", frames=frames, undefined=False))
    out.append(emr_explicit)
    dcmconv = shutil.which("dcmconv")
    if dcmconv is None:
        return out
    import pydicom.data

    base = os.path.dirname(pydicom.data.get_testdata_file("CT_small.dcm"))
    inputs = [os.path.join(base, name) for name in (sources or SOURCES)] + [emr]
    for src in inputs:
        if not os.path.exists(src):
            continue
        stem = os.path.splitext(os.path.basename(src))[0]
        for suffix, opts in VARIANTS:
            dst = os.path.join(directory, f"{stem}-{suffix}.dcm")
            res = subprocess.run([dcmconv, *opts, src, dst], capture_output=True)
            if res.returncode == 0 and os.path.exists(dst):
                out.append(dst)
    return out


if __name__ == "__main__":
    for path in write_shapes(sys.argv[1]):
        print(path)
