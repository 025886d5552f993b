"""Extension (--parallel): the units of work.  Study or Series Instance UID of each instance, read cheaply from the
start of its data set (the elements before (0020,000E) only, never the pixel data), and the transfer list cut into
units: all instances with the same UID, in the order the first of them comes in the input; an instance whose UID
cannot be read (none in the data set, a data set this reader does not follow) is a unit of its own.
"""

from __future__ import annotations

import struct
import sys
import zlib

STUDY_UID = 0x0020000D
SERIES_UID = 0x0020000E
_TAGS = {"study": STUDY_UID, "series": SERIES_UID}

_IMPLICIT_LE = "1.2.840.10008.1.2"
_EXPLICIT_BE = "1.2.840.10008.1.2.2"
_DEFLATED = ("1.2.840.10008.1.2.1.99", "1.2.840.10008.1.2.8.1")
_LONG_VRS = frozenset((b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"))
_FIRST_READ = 4096
_MAX_READ = 1 << 20


class _Short(Exception):
    """The data read so far ends before the element looked for."""


def _find(data: bytes, pos: int, end: int, tag_wanted: int, explicit: bool, little: bool, depth: int = 0):
    """Walk the elements from ``pos``: (value, position) of ``tag_wanted`` at this level, None if it is not there
    (a larger tag came, or ``end``), raise _Short when ``data`` ends first.  In an item (depth > 0) the walk ends
    at the item delimitation and returns (None, position after it)."""
    u16 = "<H" if little else ">H"
    u32 = "<I" if little else ">I"
    n = len(data)
    while pos < end:
        if pos + 8 > n:
            raise _Short
        group, element = struct.unpack_from("<HH" if little else ">HH", data, pos)
        tag = group << 16 | element
        if tag in (0xFFFEE00D, 0xFFFEE0DD):  # item / sequence delimitation
            return None, pos + 8
        if explicit and group != 0xFFFE:
            vr = data[pos + 4:pos + 6]
            if vr in _LONG_VRS:
                if pos + 12 > n:
                    raise _Short
                length = struct.unpack_from(u32, data, pos + 8)[0]
                head = 12
            else:
                length = struct.unpack_from(u16, data, pos + 6)[0]
                head = 8
        else:
            vr = b"SQ" if not explicit else b""
            length = struct.unpack_from(u32, data, pos + 4)[0]
            head = 8
        if depth == 0 and tag > tag_wanted:
            return None
        pos += head
        if length == 0xFFFFFFFF:  # undefined length: a sequence (or UN/OB encapsulated): walk its items
            pos = _skip_items(data, pos, explicit and vr != b"UN", little, depth)
            continue
        if depth == 0 and tag == tag_wanted:
            if pos + length > n:
                raise _Short
            return data[pos:pos + length], pos + length
        pos += length
    if depth:
        return None, pos
    return None


def _skip_items(data: bytes, pos: int, explicit: bool, little: bool, depth: int) -> int:
    """Skip the items of an undefined-length element; the position after its sequence delimitation."""
    n = len(data)
    if depth > 64:
        raise ValueError("nested too deeply")
    while True:
        if pos + 8 > n:
            raise _Short
        group, element, length = struct.unpack_from("<HHI" if little else ">HHI", data, pos)
        tag = group << 16 | element
        pos += 8
        if tag == 0xFFFEE0DD:
            return pos
        if tag != 0xFFFEE000:
            raise ValueError("no item in a sequence")
        if length == 0xFFFFFFFF:
            _value, pos = _find(data, pos, 1 << 62, 0xFFFFFFFF, explicit, little, depth + 1)
        else:
            pos += length


def _dataset_start(head: bytes, entry) -> int:
    """Where the data set starts: after the meta header of a Part-10 file, else at 0."""
    if entry.dataset_offset >= 0:
        return entry.dataset_offset
    pos = -1
    if len(head) >= 144 and head[128:132] == b"DICM":
        pos = 132
    elif head[:2] == b"\x02\x00" and head[4:6].isalpha():  # a meta header without preamble
        pos = 0
    if pos >= 0:
        while pos + 8 <= len(head) and head[pos:pos + 2] == b"\x02\x00":
            vr = head[pos + 4:pos + 6]
            if vr in _LONG_VRS:
                pos += 12 + struct.unpack_from("<I", head, pos + 8)[0]
            else:
                pos += 8 + struct.unpack_from("<H", head, pos + 6)[0]
        return pos
    return 0


def read_uid(entry, tag: int) -> str | None:
    """The value of ``tag`` (a UID at the top level of the data set) of ``entry``'s file, or None."""
    path = entry.path.split("\0")[0]
    ts = entry.transfer_syntax_uid
    want = _FIRST_READ
    try:
        with open(path, "rb", buffering=0) as f:
            while True:
                head = f.read(want)
                start = _dataset_start(head, entry)
                data = head[start:]
                if ts in _DEFLATED:
                    try:
                        data = zlib.decompressobj(-15).decompress(data, _MAX_READ)
                    except zlib.error:
                        return None
                try:
                    found = _find(data, 0, 1 << 62, tag, ts != _IMPLICIT_LE, ts != _EXPLICIT_BE)
                except _Short:
                    if len(head) < want or want >= _MAX_READ:
                        return None
                    want = _MAX_READ
                    f.seek(0)
                    continue
                if found is None:
                    return None
                value = found[0].rstrip(b"\0 ").decode("ascii", "replace")
                return value or None
    except (OSError, ValueError, struct.error, IndexError):
        return None


def make_units(entries: list, unit: str) -> list[list[int]]:
    """The transfer list cut into units (lists of indices into ``entries``), in input order."""
    if unit == "instance":
        return [[i] for i in range(len(entries))]
    tag = _TAGS[unit]
    units: list[list[int]] = []
    by_key: dict[str, list[int]] = {}
    intern = sys.intern
    for i, entry in enumerate(entries):
        key = read_uid(entry, tag)
        if key is None:
            units.append([i])
            continue
        key = intern(key)
        members = by_key.get(key)
        if members is None:
            members = by_key[key] = []
            units.append(members)
        members.append(i)
    return units


__all__ = ["make_units", "read_uid"]
