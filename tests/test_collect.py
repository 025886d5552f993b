"""Unit tests of the input phase (collect.collect and its parts), run in-process with Options built directly."""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import random
import struct

import pytest

import fixtures_data as fx
from dcmsend import collect, log, part10
from dcmsend.cmdline import Options
from dcmsend.exitcodes import Exit


@pytest.fixture(autouse=True)
def debug_log():
    log.reset()
    log.set_level(log.DEBUG)
    yield
    log.reset()


def run(capsys, files, **kw):
    """collect(); returns (transfer list or exit code, stderr lines)."""
    opts = Options(peer="127.0.0.1", port=1, files=list(files), **kw)
    try:
        result = collect.collect(opts)
    except Exit as exc:
        result = exc.code
    return result, capsys.readouterr().err.splitlines()


# fnmatch --------------------------------------------------------------------------------------------------------

_LIBC = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
_FNM_PATHNAME = 1


def c_fnmatch(pattern: bytes, name: bytes) -> bool:
    return _LIBC.fnmatch(pattern, name, _FNM_PATHNAME) == 0


@pytest.mark.parametrize("pattern,name,expected", [
    (b"*.dcm", b"a.dcm", True), (b"*.dcm", b".hidden.dcm", True), (b"*.dcm", b"B.DCM", False),
    (b"[!a]*", b"b1", True), (b"[!a]*", b"a1", False), (b"[^a]*", b"a1", False), (b"\\*", b"*", True),
    (b"\\*", b"x", False), (b"[]]", b"]", True), (b"[a-c]x", b"bx", True), (b"[[:digit:]]*", b"7z", True),
    (b"abc\\", b"abc\\", False), (b"[abc", b"[abc", True), (b"?", b"/", False), (b"*", b"", True),
])
def test_fnmatch_cases(pattern, name, expected):
    assert collect.fnmatch_pathname(pattern, name) is expected
    assert c_fnmatch(pattern, name) is expected


def test_fnmatch_agrees_with_glibc_on_random_patterns():
    rnd = random.Random(1234)
    alphabet = [b"a", b"b", b".", b"*", b"?", b"[", b"]", b"!", b"^", b"-", b"\\", b"/", b"[:alpha:]", b"Z", b"\xe9"]
    names = [b"a", b"ab", b"b.a", b".a", b"a-b", b"]", b"[", b"!", b"\\", b"Z", b"\xe9", b"aZ.b", b"", b"^"]
    mismatches = []
    for _ in range(4000):
        pat = b"".join(rnd.choice(alphabet) for _ in range(rnd.randrange(1, 7)))
        for name in names:
            if collect.fnmatch_pathname(pat, name) != c_fnmatch(pat, name):
                mismatches.append((pat, name))
    assert not mismatches[:20]


# directory scanning ---------------------------------------------------------------------------------------------

def _scan(tmp_path, monkeypatch, params, **kw):
    monkeypatch.chdir(tmp_path)
    opts = Options(files=params, scan_directories=True, **kw)
    return collect.expand_inputs(opts)


def test_scan_paths_as_dcmtk_builds_them(tmp_path, monkeypatch):
    fx.make_tree(str(tmp_path / "scan"))
    order = [e.name for e in os.scandir(tmp_path / "scan")]
    got = _scan(tmp_path, monkeypatch, ["scan"])
    assert [p.split("/", 1)[1] for p in got] == [n for n in order if (tmp_path / "scan" / n).is_file()]
    assert all(p.startswith("scan/") for p in got)
    for variant, prefix in (("scan/", "scan/"), ("scan//", "scan/"), ("./scan", "./scan/")):
        assert _scan(tmp_path, monkeypatch, [variant]) == [prefix + p[5:] for p in got]
    monkeypatch.chdir(tmp_path / "scan")
    assert collect.expand_inputs(Options(files=["."], scan_directories=True)) == [p[5:] for p in got]
    assert collect.expand_inputs(Options(files=["./"], scan_directories=True)) == [p[5:] for p in got]
    absolute = str(tmp_path / "scan")
    assert collect.expand_inputs(Options(files=[absolute], scan_directories=True)) == [
        absolute + "/" + p[5:] for p in got]


def test_scan_recursive_pattern_and_hidden(tmp_path, monkeypatch):
    fx.make_tree(str(tmp_path / "scan"))
    got = _scan(tmp_path, monkeypatch, ["scan"], recurse=True, scan_pattern="*.dcm")
    assert sorted(got) == sorted(["scan/a.dcm", "scan/.hidden.dcm", "scan/sub/c.dcm", "scan/sub/deeper/d.dcm"])
    # files named on the command line are never filtered
    got = _scan(tmp_path, monkeypatch, ["scan/notes.txt", "scan"], scan_pattern="*.dcm")
    assert got[0] == "scan/notes.txt"


def test_directory_without_sd_is_ignored(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "d").mkdir()
    result, err = run(capsys, ["d/"])
    assert result == 21
    assert err[-2:] == ["W: ignoring directory because option --scan-directories is not set: d/",
                   "F: no input files to be processed"]


def test_symlink_loop_terminates(tmp_path, monkeypatch):
    fx.make_tree(str(tmp_path / "scan"))
    os.symlink("..", tmp_path / "scan" / "sub" / "up")
    got = _scan(tmp_path, monkeypatch, ["scan"], recurse=True)
    assert len(got) == len(set(got))
    assert "scan/sub/c.dcm" in got
    # a link to a directory outside the tree is followed
    fx.write_part10(str(tmp_path / "other" / "x.dcm"))
    os.symlink(str(tmp_path / "other"), tmp_path / "scan" / "link")
    assert "scan/link/x.dcm" in _scan(tmp_path, monkeypatch, ["scan"], recurse=True)


# reading and checking -------------------------------------------------------------------------------------------

def test_good_file_and_dataset_offset(tmp_path, capsys):
    path = fx.write_part10(str(tmp_path / "ok.dcm"), sop_instance="1.2.3.77")
    result, err = run(capsys, [path])
    assert [(i.path, i.sop_class_uid, i.sop_instance_uid, i.transfer_syntax_uid) for i in result] == [
        (path, fx.CT, "1.2.3.77", fx.LEE)]
    data = open(path, "rb").read()
    assert data[result[0].dataset_offset:].startswith(b"\x08\x00\x16\x00UI")
    assert err[-2:] == ["D: in total, there are 1 SOP instances to be sent, 0 invalid files are ignored",
                        "D: multiple associations allowed (option --multi-associations used)"]
    result, err = run(capsys, [path], multi_associations=False)
    assert err[-1] == "D: only a single associations allowed (option --single-association used)"


@pytest.mark.parametrize("name,text", [
    ("empty.dcm", "End of stream"), ("six.dcm", "I/O suspension or premature end of stream"),
    ("text100.dcm", "File meta information header missing"), ("random.dcm", "File meta information header missing"),
    ("preamble_only.dcm", "I/O suspension or premature end of stream"), ("cut_meta_end.dcm", "Invalid stream"),
    ("non_storage.dcm", "Invalid SOP Class UID"), ("unknown_std.dcm", "Unknown Storage SOP Class"),
    ("long_instance.dcm", "Invalid SOP Instance UID"), ("missing_ts.dcm", "Invalid Transfer Syntax UID"),
    ("private_ts.dcm", "Unknown Transfer Syntax"),
])
def test_bad_files_halt_with_22(tmp_path, capsys, name, text):
    path = fx.write(str(tmp_path / name), fx.bad_files()[name])
    result, err = run(capsys, [path])
    assert result == 22
    assert err[-2:] == [f"E: cannot add DICOM file to the transfer list: {path}: {text}",
                        f"F: bad DICOM file: {path}: {text}"]


def test_os_errors(tmp_path, capsys, monkeypatch):
    result, err = run(capsys, [str(tmp_path / "missing.dcm")])
    assert result == 22 and err[-1].endswith(": No such file or directory")

    def deny(path, flags, *a):
        raise PermissionError(13, "Permission denied")
    monkeypatch.setattr(collect.os, "open", deny)
    result, err = run(capsys, ["x.dcm"])
    assert err[-1] == "F: bad DICOM file: x.dcm: Permission denied"


def test_empty_filename(capsys):
    result, err = run(capsys, [""])
    assert result == 22
    assert err[-2:] == ["E: cannot add DICOM file with empty filename",
                        "F: bad DICOM file: <empty string>: Illegal parameter"]


def test_no_halt_counts_and_23(tmp_path, capsys):
    bad = fx.write(str(tmp_path / "bad.dcm"), b"")
    good = fx.write_part10(str(tmp_path / "good.dcm"))
    result, err = run(capsys, [bad, good, bad], no_halt=True)
    assert len(result) == 1
    assert f"W: bad DICOM file: {bad}: End of stream, ignoring file" in err
    assert "D: in total, there are 1 SOP instances to be sent, 2 invalid files are ignored" in err
    result, err = run(capsys, [bad, bad], no_halt=True)
    assert result == 23 and err[-1] == "F: no valid input files to be processed"


def test_uid_debug_lines_and_quirk(tmp_path, capsys):
    cases = {
        "1.2.840.10008.5.1.4.1.1.9999": "D: unknown storage SOP class (with standard UID prefix): "
                                        "1.2.840.10008.5.1.4.1.1.9999",
        "1.3.6.1.4.1.9.1": "D: unknown UID (possibly private storage SOP class): 1.3.6.1.4.1.9.1",
        "1.2.840.10008.1.1": "D: unexpected standard UID (no storage SOP class): 1.2.840.10008.1.1 "
                             "(VerificationSOPClass)",
        "1.2.840.10008.7.7": "D: unknown standard UID (probably no storage SOP class): 1.2.840.10008.7.7",
        "1.2.03": "D: invalid SOP Class UID 1.2.03: Value Representation violated",
    }
    for cls, line in cases.items():
        path = fx.write_part10(str(tmp_path / "f.dcm"), sop_class=cls)
        _result, err = run(capsys, [path])
        assert line in err
    path = fx.write_part10(str(tmp_path / "f.dcm"), ts="1.2.3.4.5.6.7.8.9.10.1")
    _result, err = run(capsys, [path])
    assert "D: unknown standard UID (probably no transfer syntax): 1.2.3.4.5.6.7.8.9.10.1" in err
    path = fx.write_part10(str(tmp_path / "f.dcm"), sop_class="1.3.6.1.4.1.9.1", ts="1.2.3.4.5.6.7.8.9.10.1")
    _result, err = run(capsys, [path])
    assert "D: unknown UID (possibly private transfer syntax): 1.2.3.4.5.6.7.8.9.10.1" in err
    # -nuc: only emptiness is checked
    result, err = run(capsys, [path], no_uid_checks=True)
    assert len(result) == 1


@pytest.mark.parametrize("value,expected", [
    ("1.2.3", None), ("0.1", None), ("1.02", "Value Representation violated"),
    ("1..2", "Value Representation violated"),
    ("1.2.", "Value Representation violated"), ("1.2\\1.3", "Value Multiplicity violated"),
    ("1.2\\", "Value Multiplicity violated"), ("1." + "1" * 63, "Maximum VR length violated"),
    ("1.\u00e9", "Invalid character"), ("1 .2", "Value Representation violated"),
])
def test_uid_syntax(value, expected):
    assert collect.check_uid_value(value) == expected


def test_whitespace_and_nul_padding(tmp_path, capsys):
    path = fx.write_part10(str(tmp_path / "s.dcm"), sop_instance=b"1.2 .3.4\0\0")
    result, err = run(capsys, [path])
    assert result[0].sop_instance_uid == "1.2.3.4"
    assert ("W: DcmUniqueIdentifier: Element MediaStorageSOPInstanceUID (0002,0003) contains one or more space "
            "characters, which were removed") in err


def test_read_modes(tmp_path, capsys):
    no_meta = fx.write(str(tmp_path / "nometa.dcm"), fx.dataset(sop_instance="1.2.3.9"))
    assert run(capsys, [no_meta])[0] == 22
    for mode in (part10.READ_FILE, part10.READ_DATASET):
        result, err = run(capsys, [no_meta], read_mode=mode)
        assert [(i.sop_instance_uid, i.transfer_syntax_uid, i.read_mode) for i in result] == [
            ("1.2.3.9", fx.LEE, mode)]
    implicit = fx.write(str(tmp_path / "imp.dcm"), fx.dataset(sop_instance="1.2.3.8", explicit=False))
    result, err = run(capsys, [implicit], read_mode=part10.READ_DATASET)
    assert result[0].transfer_syntax_uid == fx.LEI
    missing = fx.write(str(tmp_path / "m.dcm"), fx.part10(sop_instance=None, ds_instance="1.2.3.5"))
    result, err = run(capsys, [missing], read_mode=part10.READ_FILE)
    assert result[0].sop_instance_uid == "1.2.3.5"
    assert "D: no SOP Class UID and/or SOP Instance UID found in meta-header, checking dataset instead" in err


# DICOMDIR --------------------------------------------------------------------------------------------------------

def test_dicomdir_records(tmp_path, capsys):
    dd = fx.make_dicomdir(str(tmp_path / "dd" / "DICOMDIR"), [
        ("IMAGES\\IM1", fx.CT, "1.2.3.1", fx.LEE), ("IMAGES\\IM2", fx.MR, "1.2.3.2", fx.LEI)])
    result, err = run(capsys, [dd], read_from_dicomdir=True, read_mode=part10.READ_FILE)
    assert [(i.path, i.sop_instance_uid, i.read_mode) for i in result] == [
        (str(tmp_path / "dd" / "IMAGES" / "IM1"), "1.2.3.1", "file"),
        (str(tmp_path / "dd" / "IMAGES" / "IM2"), "1.2.3.2", "file")]
    assert "D: adding DICOM file with Referenced File ID 'IMAGES\\IM1'" in err
    assert "D: successfully added 2 SOP instances from DICOMDIR to the transfer list" in err
    # without +rd the DICOMDIR is an ordinary (invalid) input
    assert run(capsys, [dd])[0] == 22


def test_dicomdir_last_record_decides(tmp_path, capsys):
    dd = fx.make_dicomdir(str(tmp_path / "DICOMDIR"), [
        ("A", fx.CT, "1.2.3.1", fx.LEE), ("B", fx.CT, None, fx.LEE), ("C", fx.CT, "1.2.3.3", fx.LEE)])
    result, err = run(capsys, [dd], read_from_dicomdir=True, no_halt=True)
    assert [i.path for i in result] == [str(tmp_path / "A"), str(tmp_path / "C")]
    assert not any(line.startswith("W: bad DICOM file") for line in err)
    dd = fx.make_dicomdir(str(tmp_path / "DICOMDIR"), [("A", fx.CT, "1.2.3.1", fx.LEE), ("B", fx.CT, None, fx.LEE)])
    result, err = run(capsys, [dd], read_from_dicomdir=True, no_halt=True)
    assert [i.path for i in result] == [str(tmp_path / "A")]
    assert f"W: bad DICOM file: {dd}: Invalid SOP Instance UID, ignoring file" in err
    result, err = run(capsys, [dd], read_from_dicomdir=True)
    assert result == 22
    assert err[-2:] == [f"E: cannot add DICOM files from DICOMDIR to the transfer list: {dd}: Invalid SOP Instance UID",
                        f"F: bad DICOM file: {dd}: Invalid SOP Instance UID"]


def test_dicomdir_escaping_file_ids_are_refused(tmp_path, capsys):
    dd = fx.make_dicomdir(str(tmp_path / "x" / "DICOMDIR"), [
        ("..\\..\\etc\\passwd", fx.CT, "1.2.3.1", fx.LEE), ("SUB\\..\\IM", fx.CT, "1.2.3.2", fx.LEE),
        ("SUB\\..\\..\\IM", fx.CT, "1.2.3.3", fx.LEE)])
    result, err = run(capsys, [dd], read_from_dicomdir=True, no_halt=True)
    assert [i.path for i in result] == [str(tmp_path / "x" / "SUB" / ".." / "IM")]
    assert ("E: cannot add DICOM file from DICOMDIR to the transfer list: ..\\..\\etc\\passwd: Invalid filename"
            in err)
    assert f"W: bad DICOM file: {dd}: Invalid filename, ignoring file" in err


def test_dicomdir_without_records_is_23(tmp_path, capsys):
    dd = fx.make_dicomdir(str(tmp_path / "DICOMDIR"), [])
    result, err = run(capsys, [dd], read_from_dicomdir=True)
    assert result == 23
    assert err[-1] == "F: no valid input files to be processed"


def test_data_dictionary_lines(capsys, tmp_path):
    assert collect.load_data_dictionary({})
    assert capsys.readouterr().err.splitlines() == [
        "D: DcmDataDictionary: Loading file: " + p for p in collect.DEFAULT_DICT_PATH.split(":")]
    good = fx.write(str(tmp_path / "d.dic"), b"")
    assert not collect.load_data_dictionary({"DCMDICTPATH": str(tmp_path / "no.dic")})
    assert capsys.readouterr().err.splitlines() == [
        f"E: DcmDataDictionary: Cannot open file: {tmp_path / 'no.dic'}",
        "W: no data dictionary loaded, check environment variable: DCMDICTPATH"]
    assert collect.load_data_dictionary({"DCMDICTPATH": f"{tmp_path / 'no.dic'}:{good}"})
    assert collect.load_data_dictionary({"DCMDICTPATH": "::"})


def test_pydicom_dicomdirtests(tmp_path, capsys):
    root = fx.copy_pydicom_dicomdirtests(str(tmp_path / "dt"))
    result, err = run(capsys, [os.path.join(root, "DICOMDIR")], read_from_dicomdir=True)
    assert len(result) > 10
    assert all(os.path.exists(i.path) for i in result)


@pytest.mark.parametrize("level", [log.WARN, log.DEBUG])
def test_fast_path_equals_exact_reader(tmp_path, capsys, monkeypatch, level):
    """The +fo fast path gives the same transfer list and messages as the exact reader (cut at every offset too)."""
    log.set_level(level)
    paths = list(fx.write_bad_files(str(tmp_path)).values())
    good = fx.part10(sop_instance="1.2.3.4.5")
    for cut in range(120, 330, 3):
        paths.append(fx.write(str(tmp_path / f"cut{cut}.dcm"), good[:cut]))
    paths.append(fx.write(str(tmp_path / "good.dcm"), good))
    paths.append(fx.testdata("CT_small.dcm"))

    def snapshot():
        result, err = run(capsys, paths, no_halt=True)
        return [(i.path, i.sop_class_uid, i.sop_instance_uid, i.transfer_syntax_uid, i.dataset_offset)
                for i in result], err

    fast = snapshot()
    monkeypatch.setattr(collect, "_fast_meta", lambda path: None)
    exact = snapshot()
    assert fast == exact
    assert len(fast[0]) > 5


def test_fast_meta_shape_shortcut_equals_full_walk(tmp_path, monkeypatch):
    """_fast_meta's shortcut for a meta header shaped like the last one accepted gives what its full walk gives:
    every file is read once after a primed shape and once with none, for SOP Instance UIDs of other lengths and
    values (odd, with spaces or NULs, non-ASCII, empty) and for single-byte changes anywhere in the meta header."""
    rnd = random.Random(11)
    base = fx.part10(sop_instance="1.2.3.4.5.6")
    meta_end = 144 + struct.unpack("<I", base[140:144])[0]
    variants = [base]
    for inst in ["1.2.3.4.5.7", "1.2.3", "1.2.3.4.5.6.7.8.9.10", "1.2 .3", "1.2.3\0", "1.2.3.4.\xe9", "", "1.2.3.44",
                 "9" * 64, "1.2.3.4.5.6.7"]:
        variants.append(fx.part10(sop_instance=inst))
    # an odd-length SOP Instance UID with every length consistent (only its oddness is wrong)
    at = base.index(b"1.2.3.4.5.6\0")
    odd = bytearray(base[:at - 2] + struct.pack("<H", 11) + b"1.2.3.4.5.6" + base[at + 12:])
    odd[140:144] = struct.pack("<I", meta_end - 145)
    variants.append(bytes(odd))
    for _ in range(400):
        data = bytearray(rnd.choice(variants[:4]))
        end = 144 + struct.unpack("<I", data[140:144])[0]
        pos = rnd.randrange(128, min(end + 4, len(data)))
        data[pos] = rnd.choice([0, 1, 0x20, 0x2E, 0x31, 0x55, 0x49, 0xFF, data[pos] ^ 1])
        variants.append(bytes(data))
    assert meta_end < len(base)
    paths = [fx.write(str(tmp_path / f"v{i}.dcm"), v) for i, v in enumerate(variants)]

    def walk(path):
        monkeypatch.setattr(collect, "_meta_shape", None)
        return collect._fast_meta(path)

    shortcuts = 0
    for primer in paths[:3]:
        for path in paths:
            monkeypatch.setattr(collect, "_meta_shape", None)
            collect._fast_meta(primer)
            primed = collect._meta_shape
            via_shape = collect._fast_meta(path)
            shortcuts += primed is not None and collect._meta_shape is primed and via_shape is not None
            assert via_shape == walk(path), path
    assert shortcuts > 30  # the shortcut was taken (a new full walk would have replaced the shape)


def test_uid_shaped_is_the_regular_expression():
    """uid_shaped (no re module at start-up) accepts exactly what DCMTK's UID component pattern accepts."""
    import re

    pattern = re.compile(rb"(?:(?:[0-9]|[1-9][0-9]+)\.)*(?:[0-9]|[1-9][0-9]+)\Z")
    rnd = random.Random(3)
    samples = [b"", b"0", b"00", b"01", b"10", b"1.0", b"1.00", b"1.01", b"0.0", b".1", b"1.", b"1..2", b"1.2.3",
               b"1.2.840.10008.5.1.4.1.1.2", b"1.2.826.0.1.3680043.8.498.1", b"1 .2", b"1.2\0", b"1.2\n", b"\xe9",
               b"9" * 65]
    for _ in range(20000):
        samples.append(bytes(rnd.choice(b"0000111229...\0 a") for _ in range(rnd.randrange(1, 9))))
    for value in samples:
        assert collect.uid_shaped(value) == bool(pattern.match(value)), value


def test_dictionary_lookups_by_bisection_equal_the_whole_table():
    """dictionary.py looks public and private entries up by bisection in the sorted lines of data/dictionary.tsv
    (no per-entry work when loading): every entry of the table is found with its VR and name, the sections are
    sorted, and unknown tags fall through to the range entries or to None."""
    from dcmsend import dictionary

    with open(dictionary._TABLE_PATH, encoding="latin-1") as fh:
        lines = fh.read().split("\n")[1:]
    public = [line for line in lines if line and line[0] not in "*=#"]
    private = [line for line in lines if line.startswith("=")]
    assert public == sorted(public) and private == sorted(private)
    assert len(public) > 4000 and len(private) > 2000
    for line in public:
        key, vr, name = line.split("\t")
        assert dictionary.lookup(int(key, 16)) == (vr, name), line
    for line in private:
        key, creator, vr, name = line.split("\t")
        assert dictionary.lookup(int(key[1:], 16), creator) == (vr, name), line
    assert dictionary.lookup(0x00100010) == ("PN", "PatientName")
    assert dictionary.lookup(0x60003000)[1] == "OverlayData"  # (a range entry: repeating group 60xx)
    assert dictionary.lookup(0x00191010, "NO SUCH CREATOR") is None


def test_dictionary_index_of_public_vrs_equals_the_table():
    """data/dictionary.idx (the public tags' VRs and the range entries, which implicit VR reading needs) is the one
    made from data/dictionary.tsv by tools/derive_dictionary.py --index, and vr_of through it gives what the whole
    table gives: for every public entry, for tags of repeating groups and for unknown tags."""
    import importlib

    from dcmsend import dictionary

    with open(dictionary._TABLE_PATH, encoding="latin-1") as fh:
        text = fh.read()
    with open(dictionary._INDEX_PATH, "rb") as fh:
        assert fh.read() == dictionary.index_bytes(text)
    fresh = importlib.reload(dictionary)  # (nothing loaded yet: the index alone)
    try:
        tags = [int(line[:8], 16) for line in text.split("\n")[1:] if line and line[0] not in "*=#"]
        others = [0x60003000, 0x60020010, 0x50000005, 0x7F000010, 0x00090010, 0x00091001, 0x00190010, 0x12345678,
                  0x00000000, 0xFFFFFFFF, 0x60013000, 0x002804F0, 0x00281203]
        via_index = [fresh.vr_of(tag) for tag in tags + others]
        assert not fresh._loaded  # (the table itself was not read)
        assert fresh.vr_of(0x00100010) == "PN" and fresh.vr_of(0x60003000) in ("OB", "OW", "ox")
        fresh._load()
        for tag, vr in zip(tags + others, via_index):
            found = fresh.lookup(tag)
            assert vr == (found[0] if found is not None else "??"), hex(tag)
    finally:
        importlib.reload(dictionary)
