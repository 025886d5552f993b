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
