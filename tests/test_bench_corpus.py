"""benchmarks/corpus.py: copies of a template with new UIDs of the same length keep the template's encoding byte
for byte except the UIDs, and every copy is a different SOP instance in the right series and study."""

from __future__ import annotations

import os
import subprocess
import sys

import pydicom
import pytest

from conftest import HAVE_DCMTK

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks"))
import corpus  # noqa: E402

TEST_FILES = os.path.join(os.path.dirname(pydicom.__file__), "data", "test_files")


@pytest.mark.parametrize("name", ["CT_small.dcm", "MR_small_bigendian.dcm", "rtplan.dcm"])
def test_copies_have_new_uids_and_the_template_encoding(tmp_path, name):
    template = os.path.join(TEST_FILES, name)
    corpus.copy_series(template, str(tmp_path), 7, 3, seed=1)
    files = sorted(os.path.join(d, f) for d, _, names in os.walk(tmp_path) for f in names)
    assert len(files) == 7 and sorted(os.listdir(tmp_path)) == ["s00", "s01", "s02"]
    with open(template, "rb") as fh:
        original = fh.read()
    orig = pydicom.dcmread(template)
    seen_instances, seen_series, studies = set(), {}, set()
    for path in files:
        with open(path, "rb") as fh:
            data = fh.read()
        assert len(data) == len(original)
        ds = pydicom.dcmread(path)
        assert ds.SOPInstanceUID != orig.SOPInstanceUID and len(ds.SOPInstanceUID) == len(orig.SOPInstanceUID)
        assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
        assert pydicom.uid.UID(ds.SOPInstanceUID).is_valid
        seen_instances.add(ds.SOPInstanceUID)
        seen_series.setdefault(os.path.basename(os.path.dirname(path)), set()).add(ds.SeriesInstanceUID)
        studies.add(ds.StudyInstanceUID)
        # everything but the three UIDs is the template's, byte for byte
        # (rtplan.dcm's meta header names another SOP instance of the same length: the copies agree)
        new_uid = str(ds.SOPInstanceUID).encode()
        back = data.replace(new_uid, str(orig.file_meta.MediaStorageSOPInstanceUID).encode(), 1)  # the meta header's
        back = back.replace(new_uid, str(orig.SOPInstanceUID).encode())
        for tag in (0x0020000D, 0x0020000E):
            back = back.replace(str(ds[tag].value).encode(), str(orig[tag].value).encode())
        assert back == original
        if HAVE_DCMTK:
            assert subprocess.run(["dcmdump", "-q", path], capture_output=True).returncode == 0
    assert len(seen_instances) == 7
    assert all(len(uids) == 1 for uids in seen_series.values()) and len(set.union(*seen_series.values())) == 3
    assert len(studies) == 1 and orig.StudyInstanceUID not in studies


def test_uid_maker_lengths_and_validity():
    maker = corpus.UidMaker(5)
    for length in (11, 26, 33, 34, 48, 64):
        uids = {maker.make(length) for _ in range(50)}
        assert len(uids) == 50
        for uid in uids:
            assert len(uid) == length and pydicom.uid.UID(uid.decode()).is_valid
    with pytest.raises(ValueError):
        maker.make(10)
