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
IGNORE = [r"^D: DcmDataDictionary: Loading file: "]


def _testfile(name: str) -> str:
    from pydicom.data import get_testdata_file

    path = get_testdata_file(name)
    if not path:
        pytest.skip(f"pydicom test file {name} is not available")
    return path


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
