"""Side-by-side scenarios of the input phase: the real /usr/bin/dcmsend and ours stop in the input phase (exit 21, 22
or 23) with the same messages, at the default and the debug level, with +sd/+r/+sp, DICOMDIRs and bad files."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

import fixtures_data as fx
from conftest import requires_dcmtk
from harness import compare

BAD = fx.bad_files()


def bad(*names):
    """setup: write the named bad files into the side's directory."""
    def setup(side):
        for name in names:
            fx.write(os.path.join(side, name), BAD[name])
    return setup


def tree_of_bad(root_name="scan", hidden=True):
    def setup(side):
        root = os.path.join(side, root_name)
        fx.write(os.path.join(root, "a.dcm"), BAD["empty.dcm"])
        fx.write(os.path.join(root, "b.img"), BAD["random.dcm"])
        if hidden:
            fx.write(os.path.join(root, ".hidden.dcm"), BAD["six.dcm"])
        fx.write(os.path.join(root, "sub", "c.dcm"), BAD["non_storage.dcm"])
        fx.write(os.path.join(root, "sub", "deeper", "d.dcm"), BAD["private_ts.dcm"])
        fx.write(os.path.join(root, "sub.dcm", "e.img"), BAD["missing_ts.dcm"])
        os.makedirs(os.path.join(root, "emptydir"), exist_ok=True)
    return setup


def empty_dir(name="d"):
    def setup(side):
        os.makedirs(os.path.join(side, name), exist_ok=True)
    return setup


def dicomdir(records, name="dd/DICOMDIR"):
    def setup(side):
        fx.make_dicomdir(os.path.join(side, name), records)
    return setup


def pydicom_dicomdirs(side):
    fx.copy_pydicom_dicomdirtests(os.path.join(side, "dt"))


def dcmmkdir_dicomdir(side):
    images = os.path.join(side, "mk", "IMAGES")
    os.makedirs(images, exist_ok=True)
    shutil.copy(fx.testdata("CT_small.dcm"), os.path.join(images, "IM1"))
    shutil.copy(fx.testdata("MR_small.dcm"), os.path.join(images, "IM2"))
    subprocess.run(["/usr/bin/dcmmkdir", "+r", "IMAGES"], cwd=os.path.join(side, "mk"), check=True,
                   capture_output=True)


def pydicom_file(name, as_name=None):
    def setup(side):
        shutil.copy(fx.testdata(name), os.path.join(side, as_name or name))
    return setup


def combine(*setups):
    def setup(side):
        for s in setups:
            s(side)
    return setup


P = ["127.0.0.1", "{port}"]
R = [("IMAGES\\IM1", "1.2.840.10008.5.1.4.1.1.2", "1.2.3.1", fx.LEE)]

SCENARIOS = {
    # single bad files (exit 22), default and debug level
    "empty": (P + ["empty.dcm"], bad("empty.dcm")),
    "empty-d": (["-d"] + P + ["empty.dcm"], bad("empty.dcm")),
    "six-bytes-d": (["-d"] + P + ["six.dcm"], bad("six.dcm")),
    "text-100-131-200-nh": (["-nh"] + P + ["text100.dcm", "text131.dcm", "text200.dcm"],
                            bad("text100.dcm", "text131.dcm", "text200.dcm")),
    "random": (P + ["random.dcm"], bad("random.dcm")),
    "preamble-only-d": (["-d"] + P + ["preamble_only.dcm"], bad("preamble_only.dcm")),
    "preamble-short": (P + ["preamble_short.dcm"], bad("preamble_short.dcm")),
    "no-preamble-d": (["-d"] + P + ["no_preamble.dcm"], bad("no_preamble.dcm")),
    "cut-meta-150-d": (["-d"] + P + ["cut_meta_150.dcm"], bad("cut_meta_150.dcm")),
    "cut-meta-end": (P + ["cut_meta_end.dcm"], bad("cut_meta_end.dcm")),
    "cut-meta-end-d": (["-d"] + P + ["cut_meta_end.dcm"], bad("cut_meta_end.dcm")),
    "meta-stray-bytes": (P + ["meta_stray_bytes.dcm"], bad("meta_stray_bytes.dcm")),
    "meta-stray-bytes-nh-d": (["-nh", "-d"] + P + ["meta_stray_bytes.dcm", "empty.dcm"],
                              bad("meta_stray_bytes.dcm", "empty.dcm")),
    "non-storage-d": (["-d"] + P + ["non_storage.dcm"], bad("non_storage.dcm")),
    "unknown-standard-d": (["-d"] + P + ["unknown_std.dcm"], bad("unknown_std.dcm")),
    "bad-class-syntax-d": (["-d"] + P + ["bad_class_syntax.dcm"], bad("bad_class_syntax.dcm")),
    "bad-class-vm-d": (["-d"] + P + ["bad_class_vm.dcm"], bad("bad_class_vm.dcm")),
    "long-instance-d": (["-d"] + P + ["long_instance.dcm"], bad("long_instance.dcm")),
    "bad-instance-char": (P + ["bad_instance_char.dcm"], bad("bad_instance_char.dcm")),
    "missing-instance-d": (["-d"] + P + ["missing_instance.dcm"], bad("missing_instance.dcm")),
    "missing-ts-nuc-d": (["-d", "-nuc"] + P + ["missing_ts.dcm"], bad("missing_ts.dcm")),
    "private-ts-d": (["-d"] + P + ["private_ts.dcm"], bad("private_ts.dcm")),
    "nonexistent": (P + ["does-not-exist.dcm"], None),
    "empty-string-d": (["-d"] + P + [""], None),
    "empty-string-nh": (["-nh"] + P + ["", "empty.dcm"], bad("empty.dcm")),
    # exit 23 with --no-halt
    "nh-all-bad-d": (["-d", "-nh"] + P + ["empty.dcm", "random.dcm", "missing_instance.dcm", "private_ts.dcm",
                                          "cut_meta_end.dcm"],
                     bad("empty.dcm", "random.dcm", "missing_instance.dcm", "private_ts.dcm", "cut_meta_end.dcm")),
    "nh-read-modes-f": (["-nh", "+f", "-d"] + P + ["empty.dcm", "six.dcm", "preamble_only.dcm", "cut_meta_150.dcm"],
                        bad("empty.dcm", "six.dcm", "preamble_only.dcm", "cut_meta_150.dcm")),
    "nh-read-mode-dataset": (["-nh", "-f", "-d"] + P + ["six.dcm", "non_storage.dcm", "random.dcm"],
                             bad("six.dcm", "non_storage.dcm", "random.dcm")),
    "pydicom-meta-missing-ts-f": (["-d", "+f"] + P + ["meta_missing_tsyntax.dcm"],
                                  pydicom_file("meta_missing_tsyntax.dcm")),
    "pydicom-no-meta-fo": (["-d"] + P + ["no_meta.dcm"], pydicom_file("no_meta.dcm")),
    # directories (exit 21 / 22 / 23)
    "dir-without-sd": (P + ["d/", "d"], empty_dir()),
    "dir-without-sd-d": (["-d"] + P + ["d"], empty_dir()),
    "sd-empty-dir": (["+sd"] + P + ["d"], empty_dir()),
    "sd-pattern-no-match-d": (["-d", "+sd", "+r", "+sp", "*.none"] + P + ["scan"], tree_of_bad()),
    "sd-halt-first-bad": (["+sd"] + P + ["scan"], tree_of_bad()),
    "sd-r-nh-d": (["-d", "+sd", "+r", "-nh"] + P + ["scan"], tree_of_bad()),
    "sd-r-sp-nh": (["+sd", "+r", "+sp", "*.dcm", "-nh"] + P + ["scan"], tree_of_bad()),
    "sd-sp-bracket-nh": (["+sd", "+r", "+sp", "[!.]*", "-nh"] + P + ["scan"], tree_of_bad()),
    "sd-path-variants-nh": (["+sd", "-nh"] + P + ["scan/", "scan//", "./scan"], tree_of_bad()),
    "sd-dot-nh": (["+sd", "+r", "-nh"] + P + ["."], tree_of_bad("x")),
    "sd-absolute-nh": (["+sd", "-nh"] + P + ["{side}/scan"], tree_of_bad()),
    "sd-file-not-filtered-nh": (["+sd", "+sp", "*.img", "-nh"] + P + ["scan/a.dcm", "scan"], tree_of_bad()),
    # DICOMDIR
    "dicomdir-without-rd-d": (["-d"] + P + ["dt/DICOMDIR"], pydicom_dicomdirs),
    "dicomdir-empty-rd-d": (["-d", "+rd"] + P + ["dt/DICOMDIR-empty.dcm"], pydicom_dicomdirs),
    "dcmmkdir-without-rd": (P + ["mk/DICOMDIR"], dcmmkdir_dicomdir),
    "dicomdir-bad-record-halt-d": (["-d", "+rd"] + P + ["dd/DICOMDIR"],
                                   dicomdir(R + [("IMAGES\\IM2", fx.CT, None, fx.LEE)] + R)),
    "dicomdir-all-bad-nh-d": (["-d", "+rd", "-nh"] + P + ["dd/DICOMDIR"],
                              dicomdir([("A", "1.2.840.10008.1.1", "1.2.3", fx.LEE),
                                        ("B", fx.CT, "1.2.3", "1.2.3.4.5"), ("", fx.CT, "1.2.3", fx.LEE),
                                        ("C", None, "1.2.3", fx.LEE)])),
    "dicomdir-no-records-rd": (["+rd"] + P + ["DICOMDIR"], dicomdir([], "DICOMDIR")),
    "dicomdir-not-a-dicomdir-rd": (["-d", "+rd"] + P + ["cut_meta_end.dcm"], bad("cut_meta_end.dcm")),
}


@requires_dcmtk
@pytest.mark.parametrize("name", list(SCENARIOS))
def test_input_phase_side_by_side(name, tmp_path):
    args, setup = SCENARIOS[name]
    real, ours = compare(args, tmp_path, with_peer=False, setup=setup)
    assert real.returncode in (21, 22, 23), real.stderr


DICT_SCENARIOS = {
    "dictpath-missing": {"DCMDICTPATH": "/nonexistent/dicom.dic"},
    "dictpath-mixed": {"DCMDICTPATH": "/nonexistent/dicom.dic:/usr/share/libdcmtk17/dicom.dic"},
    "dictpath-separators-only": {"DCMDICTPATH": "::"},
    "dictpath-directory": {"DCMDICTPATH": "/usr/share"},
}


@requires_dcmtk
@pytest.mark.parametrize("name", list(DICT_SCENARIOS))
def test_data_dictionary_lines_side_by_side(name, tmp_path):
    if not os.path.exists("/usr/share/libdcmtk17/dicom.dic"):
        pytest.skip("DCMTK's dictionary is not where DCMTK 3.6.7 (Debian) expects it")
    real, ours = compare(["-d"] + P + ["empty.dcm"], tmp_path, with_peer=False, setup=bad("empty.dcm"),
                         env=DICT_SCENARIOS[name])
    assert real.returncode == 22


@requires_dcmtk
@pytest.mark.parametrize("length", [6, 3])
def test_value_width_of_at_in_a_bare_data_set(length, tmp_path):
    """The input phase reads a bare data set (+f) with the data-set codec's VR tables (dictionary.py): an AT value
    is checked against DCMTK's width of 2 bytes (6 bytes: no warning; 3: "not a multiple of 2" and odd)."""
    value = b"\x10\x00\x10\x00\x20\x00\x00\x00"[:length]
    data = (fx.element_ex(0x00080016, b"UI", fx.ui(fx.CT), b"\0") + fx.element_ex(0x00080018, b"UI", b"1.2.3.4", b"\0")
            + b"\x20\x00\x00\x50AT" + length.to_bytes(2, "little") + value
            + fx.element_ex(0x00200013, b"IS", b"1"))

    def setup(side):
        fx.write(os.path.join(side, "at.dcm"), data)

    real, _ = compare(["+f", "-nh", "127.0.0.1", "{port}", "at.dcm"], tmp_path, setup=setup)
    assert real.returncode == 0
