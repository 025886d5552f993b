"""Helpers that write good, bad and odd DICOM input files for the input-phase tests (no pydicom needed for most).

``part10(...)`` builds a Part-10 file byte by byte so that every field can be broken on purpose; the other helpers
write the classic bad inputs (empty, random bytes, preamble only, cut inside the meta header, ...), directory trees
for ``+sd``/``+r``/``+sp`` and DICOMDIRs (with pydicom).
"""

from __future__ import annotations

import os
import random
import shutil
import struct

CT = "1.2.840.10008.5.1.4.1.1.2"
MR = "1.2.840.10008.5.1.4.1.1.4"
LEE = "1.2.840.10008.1.2.1"
LEI = "1.2.840.10008.1.2"
DICOMDIR_CLASS = "1.2.840.10008.1.3.10"


def _pad(value: bytes, pad: bytes) -> bytes:
    return value + pad if len(value) % 2 else value


def element_ex(tag: int, vr: bytes, value: bytes, pad: bytes = b" ", little: bool = True) -> bytes:
    """One explicit-VR element (value padded to even length)."""
    value = _pad(value, pad)
    order = "<" if little else ">"
    head = struct.pack(order + "HH", tag >> 16, tag & 0xFFFF) + vr
    if vr in (b"OB", b"OW", b"OF", b"SQ", b"UT", b"UN", b"UC", b"UR", b"OD", b"OL", b"OV", b"SV", b"UV"):
        return head + b"\0\0" + struct.pack(order + "I", len(value)) + value
    return head + struct.pack(order + "H", len(value)) + value


def element_im(tag: int, value: bytes, pad: bytes = b" ") -> bytes:
    value = _pad(value, pad)
    return struct.pack("<HHI", tag >> 16, tag & 0xFFFF, len(value)) + value


def ui(value: str | bytes) -> bytes:
    return value.encode("latin-1") if isinstance(value, str) else value


def meta_group(sop_class: str | bytes | None = CT, sop_instance: str | bytes | None = "1.2.3.4",
               ts: str | bytes | None = LEE, group_length: bool = True) -> bytes:
    body = element_ex(0x00020001, b"OB", b"\0\1")
    if sop_class is not None:
        body += element_ex(0x00020002, b"UI", ui(sop_class), b"\0")
    if sop_instance is not None:
        body += element_ex(0x00020003, b"UI", ui(sop_instance), b"\0")
    if ts is not None:
        body += element_ex(0x00020010, b"UI", ui(ts), b"\0")
    body += element_ex(0x00020012, b"UI", b"1.2.3.4.5.6", b"\0")
    if group_length:
        body = element_ex(0x00020000, b"UL", struct.pack("<I", len(body))) + body
    return body


def dataset(sop_class: str = CT, sop_instance: str = "1.2.3.4", explicit: bool = True) -> bytes:
    items = [(0x00080016, b"UI", ui(sop_class), b"\0"), (0x00080018, b"UI", ui(sop_instance), b"\0"),
             (0x00080060, b"CS", b"OT", b" "), (0x00100010, b"PN", b"TEST^INPUT", b" "),
             (0x00100020, b"LO", b"ID1", b" ")]
    if explicit:
        return b"".join(element_ex(t, vr, v, p) for t, vr, v, p in items)
    return b"".join(element_im(t, v, p) for t, _vr, v, p in items)


def part10(sop_class=CT, sop_instance="1.2.3.4", ts=LEE, preamble: bool = True, group_length: bool = True,
           ds_class: str | None = None, ds_instance: str | None = None) -> bytes:
    head = (b"\0" * 128 + b"DICM") if preamble else b""
    explicit = ts != LEI
    ds = dataset(ds_class or (sop_class if isinstance(sop_class, str) and sop_class else CT),
                 ds_instance or (sop_instance if isinstance(sop_instance, str) and sop_instance else "1.2.3.4"),
                 explicit)
    return head + meta_group(sop_class, sop_instance, ts, group_length) + ds


def write(path: str, data: bytes) -> str:
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(data)
    return path


def write_part10(path: str, **kwargs) -> str:
    return write(path, part10(**kwargs))


# The classic bad inputs ------------------------------------------------------------------------------------------

def random_bytes(n: int, seed: int = 7) -> bytes:
    rnd = random.Random(seed)
    return bytes(rnd.randrange(256) for _ in range(n))


def bad_files() -> dict[str, bytes]:
    """name -> content of files that fail (or pass oddly) in the input phase."""
    good = part10()
    meta_end = 132 + 12 + struct.unpack("<I", good[140:144])[0]
    return {
        "empty.dcm": b"",
        "six.dcm": b"hello\n",
        "text100.dcm": b"x" * 99 + b"\n",
        "text131.dcm": b"y" * 130 + b"\n",
        "text200.dcm": b"z" * 199 + b"\n",
        "random.dcm": random_bytes(600),
        "preamble_only.dcm": b"\0" * 128 + b"DICM",
        "preamble_short.dcm": b"\0" * 128 + b"DICM" + b"\2\0\0\0UL",
        "no_preamble.dcm": part10(preamble=False),
        "cut_meta_150.dcm": good[:150],
        "cut_meta_200.dcm": good[:200],
        "cut_meta_end.dcm": good[:meta_end - 3],
        "non_storage.dcm": part10(sop_class="1.2.840.10008.1.1"),
        "unknown_std.dcm": part10(sop_class="1.2.840.10008.9.9.9"),
        "unknown_storage.dcm": part10(sop_class="1.2.840.10008.5.1.4.1.1.9999"),
        "private_class.dcm": part10(sop_class="1.3.6.1.4.1.99999.1"),
        "bad_class_syntax.dcm": part10(sop_class="1.2.840.10008.5.1.4.1.1.02"),
        "bad_class_vm.dcm": part10(sop_class=CT + "\\" + MR),
        "long_instance.dcm": part10(sop_instance="1." + "2" * 70),
        "bad_instance_char.dcm": part10(sop_instance="1.2.x"),
        "missing_instance.dcm": part10(sop_instance=None),
        "missing_ts.dcm": part10(ts=None),
        "private_ts.dcm": part10(ts="1.2.3.4.5.6.7.8.9.10.1"),
        "retired_ts.dcm": part10(ts="1.2.840.10008.1.2.2"),
        "spaces_in_uid.dcm": part10(sop_instance=b"1.2 .3.4\0"),
        "trailing_nuls.dcm": part10(sop_instance=b"1.2.3.4\0\0\0\0"),
        "no_group_length.dcm": part10(group_length=False),
        # the group length counts 2 bytes past the last meta element and the file ends there: an element header cut
        # by the end of the group and of the file
        "meta_stray_bytes.dcm": good[:140] + struct.pack("<I", meta_end - 144 + 2) + good[144:meta_end] + b"\2\0",
    }


def write_bad_files(directory: str) -> dict[str, str]:
    return {name: write(os.path.join(directory, name), data) for name, data in bad_files().items()}


# Directory trees ---------------------------------------------------------------------------------------------------

def make_tree(root: str) -> str:
    """scan/ with files, a hidden file, a subdirectory, a directory named like a file and non-matching names."""
    write_part10(os.path.join(root, "a.dcm"), sop_instance="1.2.3.1")
    write_part10(os.path.join(root, ".hidden.dcm"), sop_instance="1.2.3.2")
    write_part10(os.path.join(root, "B.DCM"), sop_instance="1.2.3.3")
    write_part10(os.path.join(root, "sub", "c.dcm"), sop_instance="1.2.3.4")
    write_part10(os.path.join(root, "sub", "deeper", "d.dcm"), sop_instance="1.2.3.5")
    write_part10(os.path.join(root, "sub.dcm", "e.img"), sop_instance="1.2.3.6")
    write(os.path.join(root, "notes.txt"), b"not dicom\n")
    return root


# DICOMDIRs ---------------------------------------------------------------------------------------------------------

def make_dicomdir(path: str, records: list[tuple[str | None, str | None, str | None, str | None]]) -> str:
    """A DICOMDIR whose IMAGE records carry (ReferencedFileID with '\\', class, instance, TS); None = absent."""
    import warnings

    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.sequence import Sequence
    from pydicom.uid import ExplicitVRLittleEndian

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = DICOMDIR_CLASS
    meta.MediaStorageSOPInstanceUID = "1.2.3.999"
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = "1.2.3.4.5.6"
    ds = Dataset()
    ds.file_meta = meta
    ds.FileSetID = "TEST"
    ds.OffsetOfTheFirstDirectoryRecordOfTheRootDirectoryEntity = 0
    ds.OffsetOfTheLastDirectoryRecordOfTheRootDirectoryEntity = 0
    ds.FileSetConsistencyFlag = 0
    seq = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        _add_records(seq, records, Dataset)
    ds.DirectoryRecordSequence = Sequence(seq)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def _add_records(seq, records, Dataset):
    for file_id, cls, inst, ts in records:
        rec = Dataset()
        rec.OffsetOfTheNextDirectoryRecord = 0
        rec.RecordInUseFlag = 0xFFFF
        rec.OffsetOfReferencedLowerLevelDirectoryEntity = 0
        rec.DirectoryRecordType = "IMAGE"
        if file_id is not None:
            rec.ReferencedFileID = file_id.split("\\") if "\\" in file_id else file_id
        if cls is not None:
            rec.ReferencedSOPClassUIDInFile = cls
        if inst is not None:
            rec.ReferencedSOPInstanceUIDInFile = inst
        if ts is not None:
            rec.ReferencedTransferSyntaxUIDInFile = ts
        seq.append(rec)


def copy_pydicom_dicomdirtests(dest: str) -> str:
    """A copy of pydicom's dicomdirtests folder (DICOMDIR variants plus the referenced files)."""
    from pydicom.data import get_testdata_file

    src = os.path.dirname(get_testdata_file("DICOMDIR", read=False) if _takes_read() else get_testdata_file("DICOMDIR"))
    shutil.copytree(src, dest, dirs_exist_ok=True)
    return dest


def _takes_read() -> bool:
    import inspect

    from pydicom.data import get_testdata_file
    return "read" in inspect.signature(get_testdata_file).parameters


def testdata(name: str) -> str:
    from pydicom.data import get_testdata_file
    return get_testdata_file(name, read=False) if _takes_read() else get_testdata_file(name)
