"""A realistic benchmark corpus: folders of the shapes PACS hold, for benchmarks/run.py.

    python benchmarks/corpus.py [--data DIR] [--shapes ct,mr_implicit,...] [--force]

Each shape is a study of several series of copies of one template file, every copy with its own SOP Instance UID
(and each series its own Series Instance UID, the shape its own Study Instance UID). The templates are pydicom's
test files, shipped inside the pydicom package (found with ``pydicom.data.get_testdata_file(..., download=False)``),
and one synthetic enhanced MR. The UIDs are replaced in the file's bytes by new UIDs of the same length, so every copy
keeps its template's exact encoding (element order, lengths, padding, private groups, undefined lengths, big endian):
the sender sees the real file's structure, not pydicom's re-encoding of it.

Should a template be missing from the installed pydicom (a slimmed package), an equivalent is made with DCMTK's
tools (``dump2dcm`` for the data set, ``dcmconv`` for implicit VR / big endian, ``dcmcjpeg`` for JPEG baseline);
the structured report, RT plan and ECG have no such stand-in and are then fetched by pydicom's downloader, or skipped
with a message.

The memory case (``mem``) is 20,000 small files (10 series of 2,000 copies of a 64x64 CT) for the per-instance
memory slope: ``+sd DIR/s00`` is 2,000 files, ``+sd +r DIR`` 20,000.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import subprocess
import sys
import tempfile

# name -> (description for the table, template, files, series)
SHAPES: dict[str, tuple[str, str, int, int]] = {
    "ct": ("GE CT 64x64: private groups, a sequence (CT_small.dcm)", "CT_small.dcm", 200, 4),
    "mr_implicit": ("implicit VR little endian MR (MR_small_implicit.dcm)", "MR_small_implicit.dcm", 200, 4),
    "mr_bigendian": ("explicit big endian MR (MR_small_bigendian.dcm)", "MR_small_bigendian.dcm", 200, 4),
    "sc_jpeg": ("JPEG baseline secondary capture, sent as it is (SC_rgb_jpeg_dcmtk.dcm)", "SC_rgb_jpeg_dcmtk.dcm",
                200, 4),
    "sr": ("structured report, nested content sequences (test-SR.dcm)", "test-SR.dcm", 200, 4),
    "rtplan": ("RT plan, implicit VR, nested sequences (rtplan.dcm)", "rtplan.dcm", 200, 4),
    "enhanced_mr": ("enhanced MR, 200 frames 128x128, per-frame functional groups (synthetic)", "", 20, 2),
    "ecg": ("12-lead ECG waveform (waveform_ecg.dcm)", "waveform_ecg.dcm", 100, 2),
}
MEM_FILES, MEM_SERIES = 20000, 10

# the UIDs given new values in every copy (others, e.g. referenced UIDs, are replaced where they equal one of these)
_SOP_INSTANCE, _STUDY, _SERIES, _MEDIA_INSTANCE = 0x00080018, 0x0020000D, 0x0020000E, 0x00020003
_ROOT = "1.2.826.0.1.3680043.8.498."  # pydicom's UID root


class UidMaker:
    """New UIDs of a given length (so that a copy keeps its template's element lengths byte for byte)."""

    def __init__(self, seed: int):
        self.base = random.Random(seed).randrange(10 ** 30)
        self.counter = 0

    def make(self, length: int) -> bytes:
        self.counter += 1
        root = _ROOT if length >= len(_ROOT) + 8 else "2.25."
        digits = length - len(root)
        if digits < 6:
            raise ValueError(f"a UID of {length} characters is too short to be replaced")
        low = 10 ** (digits - 1)
        number = low + (self.base + self.counter) % (low * 9)
        uid = f"{root}{number}"
        assert len(uid) == length
        return uid.encode()


def template_uids(path: str) -> dict[int, bytes]:
    """The template's SOP Instance, Study and Series Instance UIDs (the bytes as they stand in the file)."""
    import pydicom

    ds = pydicom.dcmread(path, stop_before_pixels=True)
    found = {}
    for tag in (_SOP_INSTANCE, _STUDY, _SERIES):
        if tag in ds:
            found[tag] = str(ds[tag].value).encode()
    meta = str(ds.file_meta.get("MediaStorageSOPInstanceUID", "")).encode()
    if meta and meta != found.get(_SOP_INSTANCE):
        found[_MEDIA_INSTANCE] = meta  # a template whose meta header disagrees with its data set (rtplan.dcm)
    return found


def replace_uids(data: bytes, mapping: list[tuple[bytes, bytes]]) -> bytes:
    """Every occurrence of each old UID replaced by its new one of the same length (longest first, so a UID that
    is the beginning of another is never replaced inside it)."""
    for old, new in sorted(mapping, key=lambda pair: -len(pair[0])):
        data = data.replace(old, new)
    return data


def copy_series(template: str, folder: str, count: int, series: int, seed: int) -> None:
    """count copies of template in `series` sub-folders s00, s01, ... of folder."""
    with open(template, "rb") as fh:
        data = fh.read()
    uids = template_uids(template)
    maker = UidMaker(seed)
    study = maker.make(len(uids[_STUDY])) if _STUDY in uids else None
    per_series = -(-count // series)
    done = 0
    for s in range(series):
        sub = os.path.join(folder, f"s{s:02d}")
        os.makedirs(sub, exist_ok=True)
        series_uid = maker.make(len(uids[_SERIES])) if _SERIES in uids else None
        for i in range(min(per_series, count - done)):
            instance = maker.make(len(uids[_SOP_INSTANCE]))
            mapping = [(uids[_SOP_INSTANCE], instance)]
            if _MEDIA_INSTANCE in uids:
                # made to agree with the data set where the lengths allow (as in real files), else a new one too
                media = uids[_MEDIA_INSTANCE]
                mapping.append((media, instance if len(media) == len(instance) else maker.make(len(media))))
            if study is not None:
                mapping.append((uids[_STUDY], study))
            if series_uid is not None:
                mapping.append((uids[_SERIES], series_uid))
            with open(os.path.join(sub, f"f{i:05d}.dcm"), "wb") as out:
                out.write(replace_uids(data, mapping))
            done += 1


# ----------------------------------------------------------------------------------------------- templates

def pydicom_file(name: str, download: bool = False) -> str | None:
    try:
        from pydicom.data import get_testdata_file

        path = get_testdata_file(name, download=download)
    except Exception:  # no network, no such file
        return None
    return path if isinstance(path, str) and os.path.exists(path) else None


_IMAGE_DUMP = """\
(0002,0001) OB 00\\01
(0002,0002) UI {cls}
(0002,0003) UI 1.2.826.0.1.3680043.8.498.1000000000000000000001
(0002,0010) UI 1.2.840.10008.1.2.1
(0008,0005) CS [ISO_IR 100]
(0008,0008) CS [ORIGINAL\\PRIMARY\\AXIAL]
(0008,0016) UI {cls}
(0008,0018) UI 1.2.826.0.1.3680043.8.498.1000000000000000000001
(0008,0060) CS {modality}
(0009,0010) LO [BENCH PRIVATE]
(0009,1001) LO [a private value]
(0009,1002) DS [12.5]
(0010,0010) PN [BENCH^MARK]
(0010,0020) LO [BENCH]
(0018,0050) DS [5.0]
(0020,000d) UI 1.2.826.0.1.3680043.8.498.1000000000000000000002
(0020,000e) UI 1.2.826.0.1.3680043.8.498.1000000000000000000003
(0020,0013) IS [1]
(0028,0002) US {spp}
(0028,0004) CS {photometric}
(0028,0010) US 64
(0028,0011) US 64
(0028,0100) US {bits}
(0028,0101) US {bits}
(0028,0102) US {high}
(0028,0103) US 0
(0040,0275) SQ (Sequence with undefined length #=1)
(fffe,e000) na (Item with undefined length #=1)
(0040,0007) LO [a scheduled step]
(fffe,e00d) na (ItemDelimitationItem)
(fffe,e0dd) na (SequenceDelimitationItem)
"""


def dcmtk_image(name: str, out: str) -> bool:
    """An equivalent of a pydicom image test file made with DCMTK's tools (when the package lacks it)."""
    if name == "CT_small.dcm":
        cls, modality, spp, photometric, bits, conv = "1.2.840.10008.5.1.4.1.1.2", "CT", 1, "MONOCHROME2", 16, None
    elif name in ("MR_small_implicit.dcm", "MR_small_bigendian.dcm"):
        cls, modality, spp, photometric, bits = "1.2.840.10008.5.1.4.1.1.4", "MR", 1, "MONOCHROME2", 16
        conv = "+ti" if "implicit" in name else "+tb"
    elif name == "SC_rgb_jpeg_dcmtk.dcm":
        cls, modality, spp, photometric, bits, conv = "1.2.840.10008.5.1.4.1.1.7", "OT", 3, "RGB", 8, "jpeg"
    else:
        return False
    with tempfile.TemporaryDirectory() as tmp:
        dump = os.path.join(tmp, "t.dump")
        raw = os.path.join(tmp, "pixels.raw")
        with open(raw, "wb") as fh:
            fh.write(bytes(random.Random(1).randrange(256) for _ in range(64 * 64 * spp * bits // 8)))
        text = _IMAGE_DUMP.format(cls=cls, modality=modality, spp=spp, photometric=photometric, bits=bits,
                                  high=bits - 1)
        text += ("(0028,0006) US 0\n" if spp == 3 else "") + f"(7fe0,0010) {'OW' if bits == 16 else 'OB'} ={raw}\n"
        with open(dump, "w") as fh:
            fh.write(text)
        base = os.path.join(tmp, "base.dcm")
        subprocess.run(["dump2dcm", "+E", "-q", "+te", dump, base], check=True)
        if conv is None:
            shutil.copyfile(base, out)
        elif conv == "jpeg":
            subprocess.run(["dcmcjpeg", "+eb", base, out], check=True)
        else:
            subprocess.run(["dcmconv", conv, base, out], check=True)
    return True


def make_enhanced_mr(path: str, frames: int = 200, size: int = 128) -> None:
    """A synthetic enhanced MR image: frames x size x size, 16 bits, shared and per-frame functional groups (one
    item per frame with frame content, plane position and orientation, pixel value transformation, MR echo)."""
    import numpy as np
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.sequence import Sequence
    from pydicom.uid import ExplicitVRLittleEndian

    def item(**kw) -> Dataset:
        ds = Dataset()
        for key, value in kw.items():
            setattr(ds, key, value)
        return ds

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.4.1"
    ds.SOPInstanceUID = _ROOT + "2000000000000000000000000000001"
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "M", "NONE"]
    ds.ContentDate, ds.ContentTime, ds.AcquisitionDateTime = "20260101", "120000", "20260101120000"
    ds.Modality, ds.Manufacturer = "MR", "BENCH"
    ds.PatientName, ds.PatientID, ds.PatientBirthDate, ds.PatientSex = "BENCH^ENHANCED", "BENCH2", "19700101", "O"
    ds.StudyInstanceUID = _ROOT + "2000000000000000000000000000002"
    ds.SeriesInstanceUID = _ROOT + "2000000000000000000000000000003"
    ds.FrameOfReferenceUID = _ROOT + "2000000000000000000000000000004"
    ds.StudyID, ds.SeriesNumber, ds.InstanceNumber = "1", 1, 1
    ds.PositionReferenceIndicator = ""
    ds.DimensionOrganizationSequence = Sequence([item(DimensionOrganizationUID=_ROOT + "2000000000000000000005")])
    ds.DimensionIndexSequence = Sequence([
        item(DimensionOrganizationUID=_ROOT + "2000000000000000000005", DimensionIndexPointer=0x00209057,
             FunctionalGroupPointer=0x00209111),
        item(DimensionOrganizationUID=_ROOT + "2000000000000000000005", DimensionIndexPointer=0x00200032,
             FunctionalGroupPointer=0x00209113)])
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.NumberOfFrames, ds.Rows, ds.Columns = frames, size, size
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.AcquisitionContrast, ds.ImageComments = "T1", "synthetic benchmark image"
    ds.SharedFunctionalGroupsSequence = Sequence([item(
        PixelMeasuresSequence=Sequence([item(PixelSpacing=[0.9375, 0.9375], SliceThickness=1.0,
                                             SpacingBetweenSlices=1.0)]),
        PlaneOrientationSequence=Sequence([item(ImageOrientationPatient=[1, 0, 0, 0, 1, 0])]),
        MRTimingAndRelatedParametersSequence=Sequence([item(RepetitionTime=500.0, FlipAngle=90.0,
                                                            EchoTrainLength=1)]),
        MRImageFrameTypeSequence=Sequence([item(FrameType=["ORIGINAL", "PRIMARY", "M", "NONE"],
                                                PixelPresentation="MONOCHROME", VolumetricProperties="VOLUME",
                                                VolumeBasedCalculationTechnique="NONE",
                                                ComplexImageComponent="MAGNITUDE",
                                                AcquisitionContrast="T1")]),
    )])
    per_frame = []
    for f in range(frames):
        per_frame.append(item(
            FrameContentSequence=Sequence([item(FrameAcquisitionNumber=f + 1, StackID="1",
                                                InStackPositionNumber=f + 1, DimensionIndexValues=[1, f + 1],
                                                FrameAcquisitionDateTime=f"20260101120{f // 60 % 10}{f % 60:02d}",
                                                FrameReferenceDateTime="20260101120000")]),
            PlanePositionSequence=Sequence([item(ImagePositionPatient=[-60.0, -60.0, -100.0 + f])]),
            PixelValueTransformationSequence=Sequence([item(RescaleIntercept=0, RescaleSlope=1,
                                                            RescaleType="US")]),
            MREchoSequence=Sequence([item(EffectiveEchoTime=10.0 + f % 4)]),
        ))
    ds.PerFrameFunctionalGroupsSequence = Sequence(per_frame)
    rng = np.random.default_rng(2)
    ds.PixelData = rng.integers(0, 4096, size=(frames, size, size), dtype=np.uint16).tobytes()
    ds.save_as(path, enforce_file_format=True)


def template(shape: str, workdir: str) -> str | None:
    """The template file of a shape (a path), or None with a message when there is none."""
    name = SHAPES[shape][1]
    if shape == "enhanced_mr":
        path = os.path.join(workdir, "enhanced_mr.dcm")
        make_enhanced_mr(path)
        return path
    path = pydicom_file(name)
    if path:
        return path
    made = os.path.join(workdir, name)
    if dcmtk_image(name, made):
        print(f"  {name} is not in the installed pydicom: made an equivalent with DCMTK's tools", flush=True)
        return made
    path = pydicom_file(name, download=True)
    if path:
        print(f"  {name} downloaded by pydicom's data manager", flush=True)
        return path
    print(f"  {name} is not available (not in the installed pydicom, no download): shape {shape} skipped",
          file=sys.stderr, flush=True)
    return None


def mem_template(out: str) -> None:
    """The 64x64 CT of small2000 (the minimal synthetic shape), for the memory case."""
    import numpy as np
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian

    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.2"
    ds.SOPInstanceUID = _ROOT + "3000000000000000000000000000001"
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.PatientName, ds.PatientID, ds.Modality = "BENCH^MEMORY", "BENCH3", "CT"
    ds.StudyInstanceUID = _ROOT + "3000000000000000000000000000002"
    ds.SeriesInstanceUID = _ROOT + "3000000000000000000000000000003"
    ds.Rows = ds.Columns = 64
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = np.random.default_rng(3).integers(0, 4096, size=(64, 64), dtype=np.uint16).tobytes()
    ds.save_as(out, enforce_file_format=True)


# ----------------------------------------------------------------------------------------------- driver

def shape_dir(data: str, shape: str) -> str:
    return os.path.join(data, "shapes", shape)


def prepare_shape(data: str, shape: str, force: bool = False) -> str | None:
    """The folder of a shape, generated if missing (or forced); None if the shape cannot be made here."""
    folder = shape_dir(data, shape)
    marker = os.path.join(data, "shapes", f".{shape}.complete")  # outside the folder that is sent
    if os.path.exists(marker) and not force:
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    if os.path.exists(marker):
        os.remove(marker)
    with tempfile.TemporaryDirectory() as tmp:
        if shape == "mem":
            src = os.path.join(tmp, "mem.dcm")
            mem_template(src)
            count, series = MEM_FILES, MEM_SERIES
        else:
            src = template(shape, tmp)
            if src is None:
                shutil.rmtree(folder, ignore_errors=True)
                return None
            count, series = SHAPES[shape][2], SHAPES[shape][3]
        print(f"  {shape}: {count} files in {series} series", flush=True)
        copy_series(src, folder, count, series, seed=sum(map(ord, shape)))
    open(marker, "w").close()
    return folder


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=os.path.expanduser("~/.cache/dcmsend-bench"))
    ap.add_argument("--shapes", default=",".join([*SHAPES, "mem"]))
    ap.add_argument("--force", action="store_true", help="generate again even where a complete folder exists")
    args = ap.parse_args()
    failed = 0
    for shape in args.shapes.split(","):
        if shape not in SHAPES and shape != "mem":
            print(f"unknown shape {shape}; known: {', '.join([*SHAPES, 'mem'])}", file=sys.stderr)
            return 2
        folder = prepare_shape(args.data, shape, args.force)
        if folder is None:
            failed += 1
        else:
            print(f"{shape}: {folder}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
