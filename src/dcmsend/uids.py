"""DCMTK's UID names, storage-class list, modality codes and transfer-syntax classes (as in DCMTK 3.6.7).

The UID table ``data/uids.tsv`` was derived from the reference tables (see ``tools/derive_uid_table.py``):
columns UID, DCMTK name (``dcmFindNameOfUID``), storage flag (P/N/-), modality code (empty = ``OT``).
"""

from __future__ import annotations

import os

LEI = "1.2.840.10008.1.2"
LEE = "1.2.840.10008.1.2.1"
BEE = "1.2.840.10008.1.2.2"
DEFLATED = "1.2.840.10008.1.2.1.99"
# The three uncompressed syntaxes in the order DCMTK proposes them (U3).
U3 = (LEE, BEE, LEI)
UNCOMPRESSED = frozenset(U3)
MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"
VERIFICATION = "1.2.840.10008.1.1"

UNKNOWN_TS_NAME = "Unknown Transfer Syntax"


_TABLE_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "uids.tsv")
_TABLE: tuple[dict[str, str], dict[str, str], dict[str, str], set[str]] | None = None


def _load_table() -> tuple[dict[str, str], dict[str, str], dict[str, str], set[str]]:
    names: dict[str, str] = {}
    by_name: dict[str, str] = {}
    modality: dict[str, str] = {}
    storage: set[str] = set()
    with open(_TABLE_PATH, "rb") as fh:
        text = fh.read().decode("utf-8")
    for line in text.split("\n"):
        if not line or line[0] == "#":
            continue
        fields = line.split("\t")
        if len(fields) != 4:
            fields = (fields + ["", "", ""])[:4]
        uid, name, flag, mod = fields
        names[uid] = name
        if name not in by_name:
            by_name[name] = uid
        if mod:
            modality[uid] = mod
        if flag == "P" or flag == "N":
            storage.add(uid)
    return names, by_name, modality, storage


def _table() -> tuple[dict[str, str], dict[str, str], dict[str, str], set[str]]:
    """The UID table, read on first use (``--help``, ``--version`` and command-line errors never need it)."""
    global _TABLE
    if _TABLE is None:
        _TABLE = _load_table()
    return _TABLE


_LAZY = {"UID_NAMES": 0, "UID_BY_NAME": 1, "MODALITY": 2, "STORAGE_CLASSES": 3}


def __getattr__(name: str):
    """UID_NAMES, UID_BY_NAME, MODALITY and STORAGE_CLASSES (module attributes, read lazily)."""
    index = _LAZY.get(name)
    if index is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = _table()[index]
    globals()[name] = value
    return value


def uid_name(uid: str) -> str | None:
    """DCMTK's ``dcmFindNameOfUID``: the symbolic name or None."""
    return (_TABLE or _table())[0].get(uid)


def uid_display(uid: str) -> str:
    """A UID as DCMTK's association and DIMSE dumps show it: ``=Name`` when known, else the UID."""
    name = (_TABLE or _table())[0].get(uid)
    return f"={name}" if name else uid


def class_name_or_uid(uid: str) -> str:
    return (_TABLE or _table())[0].get(uid) or uid


def modality_code(sop_class_uid: str) -> str:
    """DCMTK's ``dcmSOPClassUIDToModality`` with default ``OT``."""
    return (_TABLE or _table())[2].get(sop_class_uid, "OT")


def is_storage_class(uid: str) -> bool:
    return uid in (_TABLE or _table())[3]


class TransferSyntax:
    """A transfer syntax and its DCMTK 3.6.7 classification (immutable)."""

    __slots__ = ("uid", "name", "encapsulated", "lossy", "retired", "deflated", "dcmtk_decoder")
    uid: str
    name: str
    encapsulated: bool
    lossy: bool
    retired: bool
    deflated: bool
    dcmtk_decoder: bool

    def __init__(self, uid: str, name: str, encapsulated: bool = False, lossy: bool = False, retired: bool = False,
                 deflated: bool = False, dcmtk_decoder: bool = False):
        # dcmtk_decoder: DCMTK 3.6.7 dcmsend registers a decoder for it (JPEG 1, 2+4, 6+8, 10+12, 14, SV1; JPEG-LS;
        # RLE).
        setter = object.__setattr__
        setter(self, "uid", uid)
        setter(self, "name", name)
        setter(self, "encapsulated", encapsulated)
        setter(self, "lossy", lossy)
        setter(self, "retired", retired)
        setter(self, "deflated", deflated)
        setter(self, "dcmtk_decoder", dcmtk_decoder)

    def __setattr__(self, name, value):
        raise AttributeError(f"cannot assign to field '{name}'")

    def _key(self) -> tuple:
        return (self.uid, self.name, self.encapsulated, self.lossy, self.retired, self.deflated, self.dcmtk_decoder)

    def __eq__(self, other):
        if other.__class__ is not TransferSyntax:
            return NotImplemented
        return self._key() == other._key()

    def __hash__(self) -> int:
        return hash(self._key())

    def __repr__(self) -> str:
        return ("TransferSyntax(" + ", ".join(f"{n}={v!r}" for n, v in zip(self.__slots__, self._key())) + ")")

    @property
    def uncompressed(self) -> bool:
        return self.uid in UNCOMPRESSED


def _ts(uid, name, enc=False, lossy=False, retired=False, deflated=False, dec=False) -> TransferSyntax:
    return TransferSyntax(uid, name, enc, lossy, retired, deflated, dec)


_J = "1.2.840.10008.1.2.4."
TRANSFER_SYNTAXES: dict[str, TransferSyntax] = {
    t.uid: t
    for t in [
        _ts(LEI, "Little Endian Implicit"),
        _ts(LEE, "Little Endian Explicit"),
        _ts(BEE, "Big Endian Explicit", retired=True),
        _ts(DEFLATED, "Deflated Explicit VR Little Endian", deflated=True, dec=True),
        _ts(_J + "50", "JPEG Baseline", True, True, dec=True),
        _ts(_J + "51", "JPEG Extended, Process 2+4", True, True, dec=True),
        _ts(_J + "52", "JPEG Extended, Process 3+5", True, True, True),
        _ts(_J + "53", "JPEG Spectral Selection, Non-hierarchical, Process 6+8", True, True, True, dec=True),
        _ts(_J + "54", "JPEG Spectral Selection, Non-hierarchical, Process 7+9", True, True, True),
        _ts(_J + "55", "JPEG Full Progression, Non-hierarchical, Process 10+12", True, True, True, dec=True),
        _ts(_J + "56", "JPEG Full Progression, Non-hierarchical, Process 11+13", True, True, True),
        _ts(_J + "57", "JPEG Lossless, Non-hierarchical, Process 14", True, False, dec=True),
        _ts(_J + "58", "JPEG Lossless, Non-hierarchical, Process 15", True, True, True),
        _ts(_J + "59", "JPEG Extended, Hierarchical, Process 16+18", True, True, True),
        _ts(_J + "60", "JPEG Extended, Hierarchical, Process 17+19", True, True, True),
        _ts(_J + "61", "JPEG Spectral Selection, Hierarchical, Process 20+22", True, True, True),
        _ts(_J + "62", "JPEG Spectral Selection, Hierarchical, Process 21+23", True, True, True),
        _ts(_J + "63", "JPEG Full Progression, Hierarchical, Process 24+26", True, True, True),
        _ts(_J + "64", "JPEG Full Progression, Hierarchical, Process 25+27", True, True, True),
        _ts(_J + "65", "JPEG Lossless, Hierarchical, Process 28", True, True, True),
        _ts(_J + "66", "JPEG Lossless, Hierarchical, Process 29", True, True, True),
        _ts(_J + "70", "JPEG Lossless, Non-hierarchical, 1st Order Prediction", True, False, dec=True),
        _ts(_J + "80", "JPEG-LS Lossless", True, False, dec=True),
        _ts(_J + "81", "JPEG-LS Lossy (Near-lossless)", True, True, dec=True),
        _ts(_J + "90", "JPEG 2000 (Lossless only)", True, False),
        _ts(_J + "91", "JPEG 2000 (Lossless or Lossy)", True, True),
        _ts(_J + "92", "JPEG 2000 Part 2 Multicomponent Image Compression (Lossless only)", True, False),
        _ts(_J + "93", "JPEG 2000 Part 2 Multicomponent Image Compression (Lossless or Lossy)", True, True),
        _ts(_J + "94", "JPIP Referenced", False, True),
        _ts(_J + "95", "JPIP Referenced Deflate", False, True, deflated=True),
        _ts(_J + "100", "MPEG2 Main Profile @ Main Level", True, True),
        _ts(_J + "101", "MPEG2 Main Profile @ High Level", True, True),
        _ts(_J + "102", "MPEG-4 AVC/H.264 High Profile / Level 4.1", True, True),
        _ts(_J + "103", "MPEG-4 AVC/H.264 BD-compatible High Profile / Level 4.1", True, True),
        _ts(_J + "104", "MPEG-4 AVC/H.264 High Profile / Level 4.2 For 2D Video", True, True),
        _ts(_J + "105", "MPEG-4 AVC/H.264 High Profile / Level 4.2 For 3D Video", True, True),
        _ts(_J + "106", "MPEG-4 AVC/H.264 Stereo High Profile / Level 4.2", True, True),
        _ts(_J + "107", "HEVC/H.265 Main Profile / Level 5.1", True, True),
        _ts(_J + "108", "HEVC/H.265 Main 10 Profile / Level 5.1", True, True),
        _ts("1.2.840.10008.1.2.5", "RLE Lossless", True, False, dec=True),
        _ts("1.2.840.113619.5.2", "Private GE Little Endian Implicit with big endian pixel data"),
    ]
}
_TS_BY_NAME = {t.name: t for t in TRANSFER_SYNTAXES.values()}


def transfer_syntax(uid_or_name: str) -> TransferSyntax | None:
    """DCMTK's ``DcmXfer`` lookup: by UID, or (as DCMTK also does) by its display name."""
    return TRANSFER_SYNTAXES.get(uid_or_name) or _TS_BY_NAME.get(uid_or_name)


def ts_name(uid: str) -> str:
    ts = transfer_syntax(uid)
    return ts.name if ts else UNKNOWN_TS_NAME
