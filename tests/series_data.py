"""Realistic small files in many series for the concurrent-sending tests: copies of pydicom's CT_small.dcm with
new Study / Series / SOP Instance UIDs."""

from __future__ import annotations

import os


def write_series(directory: str, count: int, series: int, studies: int = 1, name: str = "CT_small.dcm",
                 root: str = "1.2.826.0.1.3680043.10.1015") -> list[str]:
    """Write ``count`` files in ``series`` series (spread round-robin over ``studies`` studies), interleaved in the
    returned (= input) order: file i belongs to series i % series.  Returns the paths in input order."""
    import pydicom
    from pydicom.data import get_testdata_file

    os.makedirs(directory, exist_ok=True)
    template = pydicom.dcmread(get_testdata_file(name))
    paths = []
    for i in range(count):
        s = i % series
        ds = template
        ds.StudyInstanceUID = f"{root}.1.{s % studies + 1}"
        ds.SeriesInstanceUID = f"{root}.2.{s + 1}"
        ds.SOPInstanceUID = f"{root}.3.{i + 1}"
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.InstanceNumber = i + 1
        path = os.path.join(directory, f"img{i + 1:05d}.dcm")
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return paths
