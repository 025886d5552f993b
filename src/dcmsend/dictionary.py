"""DCMTK 3.6.7's data dictionary (dicom.dic and private.dic, as Debian's libdcmtk17 loads them by default): the VR an
implicit VR element is read with and the tag names DCMTK prints in its messages; and the VR tables of its DcmVR (the
one copy: part10.py, walk.py and dataset.py read them from here).

The table is ``data/dictionary.tsv``, derived once by ``tools/derive_dictionary.py``; it is read on the first
look-up only (a plain explicit VR transfer never needs it).  The VRs of the public tags, which every implicit VR
file needs, come from ``data/dictionary.idx``, derived from the table by the same tool: its sorted tags and their
VRs (looked up by bisection) and the range entries, read in a tenth of a millisecond where the whole
table takes milliseconds.  Look-ups follow DcmDataDictionary::findEntry: the exact
entries first (a private tag with its creator, then with the element's low byte only), then the repeating (range)
entries in the order of the files.  A public entry matches only a tag without private creator and vice versa.
"""

from __future__ import annotations

import os
import struct
import sys
from _bisect import bisect_left  # (the C module: bisect.py adds an import)

_TABLE_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), "data", "dictionary.tsv")
_INDEX_PATH = os.path.join(os.path.dirname(_TABLE_PATH), "dictionary.idx")
_INDEX_MAGIC = b"DVR1"

_public: list = []  # "GGGGEEEE\tVR\tname", sorted (looked up by bisection: no per-entry work when loading)
_private: list = []  # "=GGGGEEEE\tcreator\tVR\tname", sorted
_ranges: list = []  # (glo, ghi, grestrict, elo, ehi, erestrict, creator or None, vr, name)
_loaded = False

UNKNOWN_NAME = "Unknown Tag & Data"

# VRs DCMTK knows as standard; the ones with a 4-byte length field in explicit VR.
STANDARD_VRS = frozenset(
    "AE AS AT CS DA DS DT FL FD IS LO LT OB OD OF OL OV OW PN SH SL SQ SS ST SV TM UC UI UL UR US UT UV UN".split())
EXTENDED_VRS = frozenset("OB OD OF OL OV OW SQ SV UC UR UT UN UV".split())
# Value width used by DCMTK's "Length of element ... is not a multiple of" warning (fixed-size VRs wider than a byte;
# AT counts as two 16-bit values, as DcmVR has it).
VALUE_WIDTH = {"AT": 2, "OW": 2, "SS": 2, "US": 2, "FL": 4, "OF": 4, "OL": 4, "SL": 4, "UL": 4, "FD": 8, "OD": 8,
               "OV": 8, "SV": 8, "UV": 8}
# What C's isspace() calls a space: DCMTK removes all of them from UID values (and calls them all spaces).
BLANKS = b" \t\n\r\x0b\x0c"


def _load() -> None:
    """Read the table: the public and private entries stay sorted lines (looked up by bisection, no per-entry work
    here), the few range entries are parsed."""
    global _public, _private, _ranges, _loaded
    with open(_TABLE_PATH, encoding="latin-1") as fh:
        text = fh.read()
    head, first_range, first_private = _sections(text)
    _public = text[head:first_range - 1].split("\n")
    _private = text[first_private:].split("\n")
    _ranges = _ranges or _parse_ranges(text[first_range:first_private])
    _loaded = True


def _sections(text: str) -> tuple[int, int, int]:
    """Where the table's public, range and private entries start."""
    head = text.index("\n") + 1
    return head, text.find("\n*", head) + 1 or len(text), text.find("\n=", head) + 1 or len(text)


def _parse_ranges(text: str) -> list:
    ranges = []
    for line in text.split("\n"):
        if line:
            f = line.split("\t")
            ranges.append((int(f[0][1:], 16), int(f[1], 16), f[2], int(f[3], 16), int(f[4], 16), f[5],
                           None if f[6] == "-" else f[6], f[7], f[8]))
    return ranges


def index_bytes(text: str) -> bytes:
    """``data/dictionary.idx`` made from the table's text: magic, count, length of the range lines; the public tags
    (uint32, sorted), their VRs (two characters each); the table's range lines.  Little endian."""
    head, first_range, first_private = _sections(text)
    lines = text[head:first_range - 1].split("\n") if first_range > head else []
    tags = struct.pack(f"<{len(lines)}L", *(int(line[:8], 16) for line in lines))
    vrs = "".join(line[9:11] for line in lines).encode("ascii")
    ranges = text[first_range:first_private].encode("latin-1")
    return struct.pack("<4sLL", _INDEX_MAGIC, len(lines), len(ranges)) + tags + vrs + ranges


_index: tuple | None = None  # (tags, VRs) of data/dictionary.idx; () when it cannot be read (the table then)


def _load_index() -> None:
    global _index, _ranges
    try:
        with open(_INDEX_PATH, "rb") as fh:
            raw = fh.read()
        magic, count, ranges_len = struct.unpack_from("<4sLL", raw)
        if magic != _INDEX_MAGIC or len(raw) != 12 + 6 * count + ranges_len:
            raise ValueError(_INDEX_PATH)
        # (a sequence of the tags for bisect: the bytes as they are where the machine is little endian; the array
        # module would import collections, milliseconds at start-up)
        tags = (memoryview(raw)[12:12 + 4 * count].cast("I") if sys.byteorder == "little" and struct.calcsize("I") == 4
                else struct.unpack_from(f"<{count}L", raw, 12))
        vrs = raw[12 + 4 * count:12 + 6 * count].decode("ascii")
        if not _ranges:
            _ranges = _parse_ranges(raw[12 + 6 * count:].decode("latin-1"))
    except (OSError, ValueError, struct.error):
        _index = ()
        return
    _index = (tags, vrs)


def _find(lines: list, prefix: str) -> str | None:
    """The rest of the sorted line that starts with ``prefix``, or None."""
    i = bisect_left(lines, prefix)
    if i < len(lines) and lines[i].startswith(prefix):
        return lines[i][len(prefix):]
    return None


def _fits(value: int, lo: int, hi: int, restrict: str) -> bool:
    if not lo <= value <= hi:
        return False
    if restrict == "e":
        return not value & 1
    if restrict == "o":
        return bool(value & 1)
    return True


_memo: dict = {}


def lookup(tag: int, creator: str | None = None) -> tuple[str, str] | None:
    """(DCMTK VR, name) of ``tag`` (with the private creator it belongs to, if any), or None when unknown."""
    key = tag if creator is None else (tag, creator)
    try:
        return _memo[key]
    except KeyError:
        pass
    if not _loaded:
        _load()
    if creator is None:
        line = _find(_public, "%08X\t" % tag)
    else:
        line = _find(_private, f"={tag:08X}\t{creator}\t")
        if line is None:
            line = _find(_private, f"={tag & 0xFFFF00FF:08X}\t{creator}\t")
    found: tuple[str, str] | None = None
    if line is not None:
        vr, name = line.split("\t", 1)
        found = (vr, name)
    else:
        found = _in_ranges(tag, creator)
    if len(_memo) < 65536:
        _memo[key] = found
    return found


def _in_ranges(tag: int, creator: str | None) -> tuple[str, str] | None:
    """The first range entry ``tag`` fits, or None."""
    group, elem = tag >> 16, tag & 0xFFFF
    low = elem & 0xFF if creator is not None else elem  # (a private entry: the element's low byte, too)
    for glo, ghi, gr, elo, ehi, er, rcreator, vr, name in _ranges:
        if rcreator == creator and _fits(group, glo, ghi, gr) and (
                _fits(elem, elo, ehi, er) or _fits(low, elo, ehi, er)):
            return vr, name
    return None


def tag_name(tag: int, creator: str | None = None) -> str:
    """The name DCMTK prints for ``tag`` (DcmTag::getTagName)."""
    found = lookup(tag, creator)
    return found[1] if found is not None else UNKNOWN_NAME


def tag_text(tag: int) -> str:
    """DcmTagKey::toString."""
    if tag == 0xFFFFFFFF:
        return "(????,????)"  # (DCMTK's undefined tag key)
    return "(%04x,%04x)" % (tag >> 16, tag & 0xFFFF)


_vr_memo: dict = {}


def vr_of(tag: int, creator: str | None = None) -> str:
    """The VR DCMTK reads an implicit VR element with ('??' when the tag is unknown, DCMTK's EVR_UNKNOWN)."""
    if creator is None:
        vr = _vr_memo.get(tag)
        if vr is not None:
            return vr
        if _index is None:
            _load_index()
        if _index:
            tags, vrs = _index
            i = bisect_left(tags, tag)
            if i < len(tags) and tags[i] == tag:
                vr = vrs[2 * i:2 * i + 2]
            else:
                found = _in_ranges(tag, None)
                vr = found[0] if found is not None else "??"
            if len(_vr_memo) < 65536:
                _vr_memo[tag] = vr
            return vr
    found = lookup(tag, creator)
    return found[0] if found is not None else "??"
