"""The data-set codec's fast walk (dataset.py) gives exactly what the exact reader gives (same UIDs, Dataset Size,
bytes in the file's own and every uncompressed transfer syntax, same log output at INFO and TRACE), on pydicom's test
files, DCMTK re-encodings of them (implicit VR, big endian, undefined-length sequences, group lengths, padding), a
synthetic enhanced MR with per-frame functional groups, and a fuzz corpus; and it takes the clean shapes itself."""

from __future__ import annotations

import os
import shutil
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "benchmarks"))
sys.path.insert(0, os.path.join(ROOT, "tools"))

import profile_hot_path  # noqa: E402
import shapes  # noqa: E402

from dcmsend import dataset, log, uids, walk  # noqa: E402


def _same(path: str) -> tuple[int, int]:
    """(instances, fast loads) under ``path``; fails on the first instance where fast and exact differ."""
    entries = profile_hot_path.instances(path)
    taken = 0
    for entry in entries:
        for level in (log.INFO, log.TRACE):
            exact, _ = profile_hot_path._outcome(entry, False, level)
            fast, took = profile_hot_path._outcome(entry, True, level)
            assert fast == exact, (entry.path, level)
            if level == log.INFO:
                taken += took
    return len(entries), taken


def test_pydicom_test_files_fast_equals_exact():
    import pydicom.data

    n, taken = _same(os.path.dirname(pydicom.data.get_testdata_file("CT_small.dcm")))
    assert n > 100 and taken > 0.85 * n


@pytest.mark.skipif(shutil.which("dcmconv") is None, reason="DCMTK's dcmconv is not installed")
def test_shapes_fast_equals_exact_and_fast(tmp_path):
    paths = shapes.write_shapes(str(tmp_path), sources=["CT_small.dcm", "MR_small_bigendian.dcm", "rtplan.dcm",
                                                        "test-SR.dcm", "waveform_ecg.dcm"], frames=20)
    assert len(paths) > 40
    n, taken = _same(str(tmp_path))
    assert n == len(paths) and taken == n  # every clean shape goes the fast way


def test_enhanced_mr_one_range_and_undefined_lengths_rewritten():
    data = shapes.enhanced_mr(frames=5, size=8, undefined=False)
    start = data.index(b"\x08\x00\x08\x00")
    w = walk.walk(data, start, len(data), True, True, True, True, False)
    assert w is not None and w.parts == [(start, len(data) - start, 1)] and w.size == w.total == len(data) - start
    undef = shapes.enhanced_mr(frames=5, size=8, undefined=True)
    start = undef.index(b"\x08\x00\x08\x00")
    w2 = walk.walk(undef, start, len(undef), True, True, True, True, False)
    out = b"".join(p if isinstance(p, bytearray) else undef[p[0]:p[0] + p[1]] for p in w2.parts)
    assert out == data[data.index(b"\x08\x00\x08\x00"):]  # explicit lengths, no delimiters: DCMTK's bytes


def test_fuzz_corpus_fast_equals_exact(tmp_path):
    import fuzz

    bases = fuzz._base_paths()
    for seed in range(120):
        case = tmp_path / f"case{seed}"
        case.mkdir()
        fuzz.build_case(seed * 7919 + 11, str(case), bases, False)
    n, taken = _same(str(tmp_path))
    assert n > 20 and taken > 0


def _joined(w, data) -> bytes:
    """The bytes of a walk's pieces (ranges byte-swapped as the reader swaps them)."""
    return b"".join(bytes(p) if isinstance(p, bytearray) else data[p[0]:p[0] + p[1]] if p[2] == 1
                    else walk.swapped(data[p[0]:p[0] + p[1]], p[2]) for p in w.parts)


@pytest.mark.skipif(shutil.which("dcmconv") is None, reason="DCMTK's dcmconv is not installed")
def test_converting_walks_equal_the_generic_walk(tmp_path):
    """The walks written for implicit VR little endian and explicit VR big endian into explicit VR little endian
    give the generic walk's bytes, Dataset Size and UIDs on every such file of pydicom's and of DCMTK's re-encodings
    (group lengths, undefined lengths, padding, private creators), and take nearly all of them themselves."""
    import pydicom.data

    shapes.write_shapes(str(tmp_path), sources=["CT_small.dcm", "MR_small_bigendian.dcm", "rtplan.dcm",
                                                "test-SR.dcm", "waveform_ecg.dcm"], frames=5)
    entries = profile_hot_path.instances(str(tmp_path))
    entries += profile_hot_path.instances(os.path.dirname(pydicom.data.get_testdata_file("CT_small.dcm")))
    compared = {"1.2.840.10008.1.2": 0, "1.2.840.10008.1.2.2": 0}
    for entry in entries:
        ts = entry.transfer_syntax_uid
        if ts not in compared or entry.dataset_offset < 0:
            continue
        explicit = ts == "1.2.840.10008.1.2.2"
        with open(entry.path, "rb") as fh:
            data = fh.read()
        generic = walk._Walker(data, len(data), explicit, not explicit, True, True, False)
        try:
            expected = generic.run(entry.dataset_offset)
        except walk.Bail:
            expected = None
        try:
            got = walk._ToExplicitLE(data, len(data), not explicit).run(entry.dataset_offset)
        except walk.Bail:
            continue
        compared[ts] += 1
        assert expected is not None, entry.path
        expected.parts = walk.compact(expected.parts, data)
        got.parts = walk.compact(got.parts, data)
        assert _joined(got, data) == _joined(expected, data), entry.path
        assert (got.total, got.size, got.sop_class_uid, got.sop_instance_uid) == (
            expected.total, expected.size, expected.sop_class_uid, expected.sop_instance_uid), entry.path
    assert min(compared.values()) > 5, compared


@pytest.mark.skipif(shutil.which("dcmconv") is None, reason="DCMTK's dcmconv is not installed")
def test_same_explicit_little_endian_walk_equals_the_generic_walk(tmp_path):
    """The lean walk of explicit VR little endian data sets sent as they are gives the generic walk's pieces,
    Dataset Size and UIDs (sequences and items of undefined length, encapsulated pixel data, trailing padding), and
    takes nearly every such file itself."""
    import pydicom.data

    shapes.write_shapes(str(tmp_path), sources=["CT_small.dcm", "MR_small_bigendian.dcm", "rtplan.dcm",
                                                "test-SR.dcm", "waveform_ecg.dcm"], frames=5)
    entries = profile_hot_path.instances(str(tmp_path))
    entries += profile_hot_path.instances(os.path.dirname(pydicom.data.get_testdata_file("CT_small.dcm")))
    compared = 0
    for entry in entries:
        if dataset.Encoding.of(entry.transfer_syntax_uid) != dataset.Encoding.of("1.2.840.10008.1.2.1") or (
                entry.dataset_offset < 0 or entry.transfer_syntax_uid == "1.2.840.10008.1.2.1.99"):
            continue
        info = uids.transfer_syntax(entry.transfer_syntax_uid)
        if info is None or info.deflated:
            continue
        encapsulated = info.encapsulated
        with open(entry.path, "rb") as fh:
            data = fh.read()
        try:
            expected = walk._Walker(data, len(data), True, True, True, True, encapsulated).run(entry.dataset_offset)
        except walk.Bail:
            expected = None
        try:
            got = walk._SameExplicitLE(data, len(data), True, True, True, True, encapsulated).run(
                entry.dataset_offset)
        except walk.Bail:
            continue
        compared += 1
        assert expected is not None, entry.path
        assert got.parts == expected.parts, entry.path
        assert (got.total, got.size, got.sop_class_uid, got.sop_instance_uid, got.frags) == (
            expected.total, expected.size, expected.sop_class_uid, expected.sop_instance_uid, expected.frags)
    assert compared > 100


def _el(tag: int, vr: bytes, value: bytes) -> bytes:
    import struct

    if vr in (b"OB", b"OW", b"SQ", b"UN", b"UT"):
        return struct.pack("<HH2sHL", tag >> 16, tag & 0xFFFF, vr, 0, len(value)) + value
    return struct.pack("<HH2sH", tag >> 16, tag & 0xFFFF, vr, len(value)) + value


def _item(content: bytes, undefined: bool = False) -> bytes:
    import struct

    if undefined:
        return struct.pack("<HHL", 0xFFFE, 0xE000, 0xFFFFFFFF) + content + struct.pack("<HHL", 0xFFFE, 0xE00D, 0)
    return struct.pack("<HHL", 0xFFFE, 0xE000, len(content)) + content


def _sq(tag: int, items: list, undefined: bool = False) -> bytes:
    import struct

    body = b"".join(items)
    if undefined:
        return (struct.pack("<HH2sHL", tag >> 16, tag & 0xFFFF, b"SQ", 0, 0xFFFFFFFF) + body
                + struct.pack("<HHL", 0xFFFE, 0xE0DD, 0))
    return struct.pack("<HH2sHL", tag >> 16, tag & 0xFFFF, b"SQ", 0, len(body)) + body


def _nested(u: dict) -> bytes:
    """A data set of nested sequences; ``u`` names the parts written with undefined length (or with padding)."""
    import struct

    leaf = _el(0x00081150, b"UI", b"1.2.3.4\0") + _el(0x00081155, b"UI", b"1.2.3.4.5.6\0")
    deep = _sq(0x00400555, [_item(_el(0x0040A043, b"LO", b"ABCD"), u.get("deep_item", False))], u.get("deep", False))
    middle = _sq(0x00081140, [_item(leaf + (_el(0x00209157, b"UL", b"\1\0\0\0")), u.get("mid_item", False)),
                              _item(leaf + deep)], u.get("middle", False))
    inner_pad = _el(0xFFFCFFFC, b"OB", b"\0\0") if u.get("pad") else b""
    pixels = _el(0x7FE00010, b"OW", b"\0\0\0\0")
    if u.get("icon"):  # encapsulated pixel data (in an encapsulated transfer syntax), also in the items
        pixels = (struct.pack("<HH2sHL", 0x7FE0, 0x0010, b"OB", 0, 0xFFFFFFFF) + _item(b"") + _item(b"\1\2\3\4")
                  + struct.pack("<HHL", 0xFFFE, 0xE0DD, 0))
        # (a sequence delimiter with a length: written with 0, the item's length stays the same)
        inner_pad += pixels[:-4] + struct.pack("<L", 4 if u["icon"] == "odd delimiter" else 0)
    frames = [_item(middle + _el(0x00189074, b"DT", b"20260101120000") + inner_pad, u.get(f"frame{i}", False))
              for i in range(3)]
    return (_el(0x00080016, b"UI", b"1.2.840.10008.5.1.4.1.1.4.1\0") + _el(0x00080018, b"UI", b"1.2.3\0")
            + _sq(0x52009230, frames, u.get("outer", False)) + pixels)


@pytest.mark.parametrize("undefined", [{}, {"deep": True}, {"deep_item": True}, {"mid_item": True},
                                       {"middle": True}, {"frame1": True}, {"frame2": True}, {"pad": True},
                                       {"outer": True}, {"outer": True, "deep": True}, {"frame0": True, "deep": True},
                                       {"icon": "odd delimiter"}, {"icon": "plain"}])
def test_quick_sequences_equal_the_generic_walk(undefined):
    """Sequences of explicit length walked the quick way (no pieces of their own) give the generic walk's pieces,
    also where an item or a sequence at some depth has an undefined length or changes (then the outermost quick
    sequence is walked again the generic way); what goes out has explicit lengths everywhere."""
    data = _nested(undefined)
    icon = "icon" in undefined  # (encapsulated pixel data in the items: an encapsulated transfer syntax)
    expected = walk._Walker(data, len(data), True, True, True, True, icon).run(0)
    got = walk._SameExplicitLE(data, len(data), True, True, True, True, icon).run(0)
    assert got.parts == expected.parts
    assert (got.total, got.size, got.sop_class_uid, got.sop_instance_uid) == (
        expected.total, expected.size, expected.sop_class_uid, expected.sop_instance_uid)
    assert (got.sop_class_uid, got.sop_instance_uid) == ("1.2.840.10008.5.1.4.1.1.4.1", "1.2.3")
    written = _joined(got, data)
    assert len(written) == got.total
    plain = _nested({"icon": "plain"} if icon else {})
    assert written == plain  # explicit lengths, no delimiters, no padding inside the items, OB
    if not undefined or undefined.get("icon") == "plain":
        assert got.parts == [(0, len(data), 1)] and got.size == len(data)
