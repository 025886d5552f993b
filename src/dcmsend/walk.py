"""The fast walk of a data set: one pass over the element headers, no per-element objects, for every structure
(sequences and items of explicit and undefined length at any depth, implicit VR little endian, explicit big endian,
private groups, group lengths, padding, encapsulated pixel data, UN), giving the *pieces* of the data set in the
wanted syntax as DCMTK's DIMSE layer sends it: byte ranges of the source (optionally byte-swapped) where DCMTK's bytes
are the file's, literal bytes only for what changes.  It accepts only data sets that the exact reader
(dataset._Parser) reads without any message; anything unusual makes it give up (None), and the exact reader decides.

- ``_Walker``: the generic walk, any uncompressed or encapsulated syntax into any uncompressed one;
- ``_SameExplicitLE``: explicit VR little endian sent as it is (the most common case), the generic walk with the
  per-element work of conversions left out; its sequences of explicit length whose items go out as they are (the
  thousands of per-frame items of an enhanced multi-frame header) make no pieces of their own;
- ``_ToExplicitLE``: implicit VR little endian or explicit VR big endian into explicit VR little endian, written
  straight into one buffer.

The specialised walks give up (Bail) on anything out of the ordinary and the generic one decides; tests/test_dataset.py
compares them with it, and benchmarks/profile_hot_path.py --check and tests/test_dataset.py prove that the walk gives
the exact reader's bytes.
"""

from __future__ import annotations

import struct

from dcmsend import dictionary
from dcmsend.dataset import (
    _SWAP_CODES,
    _SWAP_WIDTH,
    _WAVEFORM_OX_TAGS,
    _XS_PIXREP_TAGS,
    ITEM,
    ITEM_DELIM,
    PIXEL_DATA,
    PIXEL_REPRESENTATION,
    SEQ_DELIM,
    SOP_CLASS_UID,
    SOP_INSTANCE_UID,
    STRING_VRS,
    TRAILING_PADDING,
    UNDEFINED,
    WAVEFORM_BITS_ALLOCATED,
)
from dcmsend.dictionary import BLANKS, EXTENDED_VRS, STANDARD_VRS, VALUE_WIDTH

_INVALID_GROUPS = frozenset((0x0000, 0x0001, 0x0002, 0x0003, 0x0005, 0x0007, 0xFFFF, 0xFFFE))
# implicit VR: the VRs a conversion to explicit VR cannot take as they are (checkAndUpdateVR decides from the context)
_CONTEXT_VRS = frozenset(("xs", "ox", "lt", "px", "na"))
# VR (as in the source) -> (VR written, 4-byte length field, value width for byte swapping, padding byte or -1)
_VR_INFO: dict = {}
for _vr in STANDARD_VRS:
    _VR_INFO[_vr] = (_vr, _vr in EXTENDED_VRS, _SWAP_WIDTH.get(_vr, 1),
                     (0 if _vr == "UI" else 0x20) if _vr in STRING_VRS else -1)
_VR_INFO["??"] = ("UN", True, 1, -1)
_VR_INFO["up"] = ("UL", False, 4, -1)
_VR_INFO["xs"] = ("US", False, 2, -1)
_VR_INFO["ox"] = ("OB", True, 1, -1)
_VR_INFO["lt"] = ("OW", True, 2, -1)
_VR_INFO["px"] = ("OW", True, 2, -1)
# explicit VR as read -> _VR_INFO's tuple + (VR, value width of DCMTK's "not a multiple of" check or 0)
_EXPLICIT_VRS = {vr.encode(): _VR_INFO[vr] + (vr, VALUE_WIDTH.get(vr, 0) if VALUE_WIDTH.get(vr, 1) > 1 else 0)
                 for vr in STANDARD_VRS}


# (tag, VR) -> (the explicit VR header's bytes before the length, 4-byte length field), little endian output
_PREFIXES_LE: dict = {}


class Bail(Exception):
    """The data set needs the exact reader."""


class _Changed(Exception):
    """A sequence walked the quick way (:meth:`_SameExplicitLE.sequence`) does not go out as it is."""


class Walk:
    """The fast walk's result: pieces of the data set in the output syntax and what the report needs."""

    __slots__ = ("parts", "total", "size", "sop_class_uid", "sop_instance_uid", "frags")

    def __init__(self, parts, total, size, cls, inst, frags):
        self.parts = parts  # bytearray literals and (pos, n, width) ranges of the source
        self.total = total  # bytes of the data set as sent
        self.size = size  # calcElementLength in the source syntax (the report's Dataset Size)
        self.sop_class_uid = cls
        self.sop_instance_uid = inst
        self.frags = frags  # encapsulated pixel data was found (a conversion to another syntax is not possible here)


def _uid(raw: bytes) -> str:
    return raw.decode("latin-1").split("\\", 1)[0].rstrip("\0 ")


def walk(data, start: int, end: int, src_explicit: bool, src_little: bool, out_explicit: bool, out_little: bool,
         encapsulated: bool) -> Walk | None:
    """Walk the data set in ``data[start:end]`` (bytes or mmap of the file); None when the exact reader is needed."""
    if start >= end:
        return None  # an empty data set: the exact way (DCMTK keeps its default transfer syntax)
    if out_explicit and out_little and (not src_explicit or not src_little) and (src_little or src_explicit):
        try:
            return _ToExplicitLE(data, end, src_little).run(start)
        except (Bail, struct.error, IndexError, UnicodeError):
            pass  # (the generic walk decides)
    if src_explicit and src_little and out_explicit and out_little:
        try:
            return _SameExplicitLE(data, end, True, True, True, True, encapsulated).run(start)
        except (Bail, struct.error, IndexError, UnicodeError):
            pass  # (the generic walk decides)
    try:
        return _Walker(data, end, src_explicit, src_little, out_explicit, out_little, encapsulated).run(start)
    except (Bail, struct.error, IndexError, UnicodeError):
        return None


class _Walker:
    def __init__(self, data, end, src_explicit, src_little, out_explicit, out_little, encapsulated):
        self.data = data
        self.end = end
        self.explicit = src_explicit
        self.little = src_little
        self.out_explicit = out_explicit
        self.out_little = out_little
        self.same = src_explicit == out_explicit and src_little == out_little
        self.swap = src_little != out_little
        self.encapsulated = encapsulated
        e = "<" if src_little else ">"
        self.u16 = struct.Struct(e + "H").unpack_from
        self.u32 = struct.Struct(e + "L").unpack_from
        self.tag_len = struct.Struct(e + "HHL").unpack_from
        self.tag_vr_short = struct.Struct(e + "HH2sH").unpack_from
        o = "<" if out_little else ">"
        self.o_tag_len = struct.Struct(o + "HHL").pack
        self.o_tag_vr_short = struct.Struct(o + "HH2sH").pack
        self.o_tag_vr_long = struct.Struct(o + "HH2sHL").pack
        self.o_u32 = struct.Struct(o + "L").pack
        self.parts: list = []
        self.run_start = 0
        self.cls = ""
        self.inst = ""
        self.frags = False

    # pieces ------------------------------------------------------------------------------------------------------
    def flush(self, upto: int) -> None:
        if upto > self.run_start:
            self.parts.append((self.run_start, upto - self.run_start, 1))
        self.run_start = upto

    def header(self, tag: int, vr: str, length: int) -> bytes:
        """The element header as DCMTK writes it in the output syntax."""
        if not self.out_explicit:
            return self.o_tag_len(tag >> 16, tag & 0xFFFF, length)
        info = _VR_INFO[vr]
        out_vr = info[0]
        if info[1]:
            return self.o_tag_vr_long(tag >> 16, tag & 0xFFFF, out_vr.encode(), 0, length)
        if length > 0xFFFF:
            return self.o_tag_vr_long(tag >> 16, tag & 0xFFFF, b"UN", 0, length)
        return self.o_tag_vr_short(tag >> 16, tag & 0xFFFF, out_vr.encode(), length)

    def put_header(self, hdr_pos: int, hlen: int, hdr: bytes) -> None:
        """The header at ``hdr_pos`` (``hlen`` bytes in the source) becomes ``hdr``; kept as a range if equal."""
        if self.same and hlen == len(hdr) and self.data[hdr_pos:hdr_pos + hlen] == hdr:
            return
        self.flush(hdr_pos)
        self.parts.append(bytearray(hdr))
        self.run_start = hdr_pos + hlen

    def placeholder(self, hdr_pos: int, hlen: int) -> int:
        self.flush(hdr_pos)
        self.parts.append(None)
        self.run_start = hdr_pos + hlen
        return len(self.parts) - 1

    def fill(self, index: int, hdr_pos: int, hlen: int, hdr: bytes) -> None:
        if self.same and hlen == len(hdr) and self.data[hdr_pos:hdr_pos + hlen] == hdr:
            self.parts[index] = (hdr_pos, hlen, 1)
        else:
            self.parts[index] = bytearray(hdr)

    # walking -----------------------------------------------------------------------------------------------------
    def run(self, start: int) -> Walk:
        self.run_start = start
        pos, size, total = self.elements(start, self.end, False, True)
        if pos != self.end:
            raise Bail
        self.flush(self.end)
        parts = _merge(self.parts)
        return Walk(parts, total, size, self.cls, self.inst, self.frags)

    def elements(self, pos: int, limit: int, undefined_item: bool, top: bool) -> tuple[int, int, int]:
        """The elements of the data set or an item, up to ``limit`` or the item delimiter; returns (position after,
        length in the source syntax, length as written)."""
        data = self.data
        explicit = self.explicit
        same = self.same
        out_explicit = self.out_explicit
        head = self.tag_vr_short if explicit else self.tag_len
        u32 = self.u32
        vr_info = _VR_INFO
        explicit_vrs = _EXPLICIT_VRS
        invalid = _INVALID_GROUPS
        src_size = out_size = 0
        last = -1
        creators: dict | None = None
        group_len = None  # [index, hdr_pos, hlen, group, sum] of a group length element being summed
        pixrep = wbits = None  # PixelRepresentation, WaveformBitsAllocated of this item (implicit VR conversions)
        while True:
            if pos >= limit:
                if undefined_item or pos != limit:
                    raise Bail
                break
            hdr_pos = pos
            if explicit:
                group, elem, raw_vr, length = head(data, pos)
            else:
                group, elem, length = head(data, pos)
            tag = (group << 16) | elem
            if tag <= last or group in invalid:
                if tag == ITEM_DELIM and undefined_item:
                    if u32(data, pos + 4)[0] != 0:
                        raise Bail
                    self.flush(pos)
                    self.run_start = pos + 8  # (not written: items get explicit lengths)
                    pos += 8
                    break
                raise Bail
            last = tag
            if explicit:
                info = explicit_vrs.get(raw_vr)
                if info is None:
                    raise Bail  # non-standard VR: DCMTK warns
                vr = info[4]
                if info[1]:
                    if length:
                        raise Bail  # (reserved bytes) - the exact way
                    length = u32(data, pos + 8)[0]
                    hlen = 12
                else:
                    hlen = 8
                width = info[5]
                if width and (length == UNDEFINED or length % width):
                    raise Bail  # DCMTK warns
            else:
                hlen = 8
                if group & 1 and elem >= 0x1000:
                    vr = dictionary.vr_of(tag)
                    creator = creators.get((group, elem >> 8)) if creators else None
                    if creator is not None:
                        found = dictionary.lookup(tag, creator)
                        if found is not None:
                            vr = found[0]
                else:
                    vr = dictionary.vr_of(tag) if tag != PIXEL_DATA else "OW"
                if not same and vr in _CONTEXT_VRS:
                    vr = _context_vr(tag, vr, pixrep, wbits)  # (DcmItem::checkAndUpdateVR)
                info = vr_info.get(vr)
                if info is None:
                    raise Bail
            vpos = pos + hlen
            if group_len is not None and group != group_len[3]:
                self.end_group(group_len)
                group_len = None
            if length == UNDEFINED:
                if tag == PIXEL_DATA and (not explicit or vr in ("OB", "OW")):
                    pos, s_len, o_len = self.pixel_items(tag, hdr_pos, hlen, vpos)
                elif vr == "SQ":
                    pos, s_len, o_len = self.sequence(tag, hdr_pos, hlen, vpos, None)
                else:
                    raise Bail  # (CP-246, undefined length OB/OW: DCMTK's messages)
            elif vr == "SQ":
                if vpos + length > limit:
                    raise Bail
                pos, s_len, o_len = self.sequence(tag, hdr_pos, hlen, vpos, vpos + length)
            else:
                if length & 1:
                    raise Bail  # DCMTK warns
                pos = vpos + length
                if pos > limit:
                    raise Bail
                if elem == 0 or group == 0xFFFC or group == 0x7FE0:
                    if elem == 0:
                        # a group length: recalculated over the rest of the group as written
                        if (explicit and vr != "UL") or length != 4:
                            raise Bail
                        index = self.placeholder(hdr_pos, hlen + 4)
                        group_len = [index, hdr_pos, hlen + 4, group, 0]
                        src_size += hlen + 4
                        out_size += 12
                        continue
                    if tag == TRAILING_PADDING:
                        self.flush(hdr_pos)
                        self.run_start = pos  # removed when writing
                        src_size += hlen + length
                        continue
                    if tag == PIXEL_DATA and top and self.encapsulated:
                        raise Bail  # explicit length pixel data in an encapsulated syntax: DCMTK's error
                pad = info[3]
                if pad >= 0 and length:
                    if not same or (data[pos - 1] == pad and data[pos - 2] == pad) or (
                            top and (tag == SOP_CLASS_UID or tag == SOP_INSTANCE_UID)):
                        length = self.string(tag, vr, hdr_pos, hlen, vpos, length, pad, top)
                    if not explicit and group & 1 and elem <= 0xFF and elem >= 0x10:
                        if creators is None:
                            creators = {}
                        creators[(group, elem)] = \
                            data[vpos:vpos + length].decode("latin-1").rstrip("\0 ").lstrip(" ")
                else:
                    if top and (tag == SOP_CLASS_UID or tag == SOP_INSTANCE_UID):
                        raise Bail  # (a UID element that is not UI, or empty: the exact way)
                    if not same:
                        self.put_header(hdr_pos, hlen, self.header(tag, vr, length))
                        width = info[2] if self.swap else 1
                        if width > 1 and length:
                            self.flush(vpos)
                            self.parts.append((vpos, length, width))
                            self.run_start = pos
                        if not explicit and length >= 2:
                            if tag == PIXEL_REPRESENTATION:
                                pixrep = self.u16(data, vpos)[0]
                            elif tag == WAVEFORM_BITS_ALLOCATED:
                                wbits = self.u16(data, vpos)[0]
                s_len = hlen + length
                o_len = ((12 if info[1] or length > 0xFFFF else 8) if out_explicit else 8) + length
            src_size += s_len
            out_size += o_len
            if group_len is not None:
                group_len[4] += o_len
        if group_len is not None:
            self.end_group(group_len)
        return pos, src_size, out_size

    def end_group(self, group_len) -> None:
        index, hdr_pos, hlen, group, total = group_len
        self.fill(index, hdr_pos, hlen, self.header(group << 16, "UL", 4) + self.o_u32(total))

    def string(self, tag, vr, hdr_pos, hlen, vpos, length, pad, top) -> int:
        """A string value (even length): DCMTK strips trailing padding when loading (and pads to an even length);
        returns the value's length as loaded."""
        data = self.data
        n = length
        while n > 0 and data[vpos + n - 1] == pad:
            n -= 1
        if top and (tag == SOP_CLASS_UID or tag == SOP_INSTANCE_UID):
            if vr != "UI":
                raise Bail
            value = data[vpos:vpos + length]
            if value.translate(None, BLANKS) != value:
                raise Bail  # (DCMTK removes blanks with a warning: the exact way)
            if b"\\" in value:
                raise Bail  # (multi-valued: the consistency check compares all values, see convert.Loaded)
            if tag == SOP_CLASS_UID:
                self.cls = _uid(value)
            else:
                self.inst = _uid(value)
        new_len = n + (n & 1)
        if new_len == length:
            if not self.same:
                self.put_header(hdr_pos, hlen, self.header(tag, vr, length))
            return length
        self.flush(hdr_pos)
        self.parts.append(bytearray(self.header(tag, vr, new_len)))
        self.run_start = vpos
        self.flush(vpos + n)
        if n & 1:
            self.parts.append(bytearray((pad,)))
        self.run_start = vpos + length
        return new_len

    def sequence(self, tag, hdr_pos, hlen, vpos, end) -> tuple[int, int, int]:
        """A sequence; ``end`` None for undefined length.  Returns (position after, source length, written
        length)."""
        data = self.data
        parts = self.parts
        same = self.same
        tag_len = self.tag_len
        item_header = self.o_tag_len
        elements = self.elements
        # (placeholders: the lengths are known only after the contents; undefined lengths always change)
        if hdr_pos > self.run_start:
            parts.append((self.run_start, hdr_pos - self.run_start, 1))
        index = len(parts)
        parts.append(None)
        self.run_start = vpos
        pos = vpos
        limit = self.end if end is None else end
        src_content = out_content = 0
        while True:
            if end is not None and pos >= end:
                if pos != end:
                    raise Bail
                break
            if pos + 8 > limit:
                raise Bail
            group, elem, ilen = tag_len(data, pos)
            if group != 0xFFFE or elem != 0xE000:
                if group == 0xFFFE and elem == 0xE0DD and end is None and ilen == 0:
                    self.flush(pos)
                    self.run_start = pos + 8
                    pos += 8
                    break
                raise Bail
            item_pos = pos
            if item_pos > self.run_start:
                parts.append((self.run_start, item_pos - self.run_start, 1))
            iindex = len(parts)
            parts.append(None)
            pos += 8
            self.run_start = pos
            if ilen == UNDEFINED:
                pos, s_len, o_len = elements(pos, limit, True, False)
                parts[iindex] = bytearray(item_header(0xFFFE, 0xE000, o_len))
            else:
                iend = pos + ilen
                if iend > limit:
                    raise Bail
                pos, s_len, o_len = elements(pos, iend, False, False)
                if same and o_len == ilen:
                    parts[iindex] = (item_pos, 8, 1)
                else:
                    parts[iindex] = bytearray(item_header(0xFFFE, 0xE000, o_len))
            src_content += 8 + s_len
            out_content += 8 + o_len
        if end is None:
            parts[index] = bytearray(self.header(tag, "SQ", out_content))
        else:
            self.fill(index, hdr_pos, hlen, self.header(tag, "SQ", out_content))
        return pos, (12 if self.explicit else 8) + src_content, (12 if self.out_explicit else 8) + out_content

    def pixel_items(self, tag, hdr_pos, hlen, vpos) -> tuple[int, int, int]:
        """Encapsulated pixel data: items up to the sequence delimiter, written with OB and a zero-length
        delimiter."""
        if not self.same or not self.encapsulated:
            # (a conversion of encapsulated pixel data, or encapsulated pixel data in a native transfer syntax,
            # which DCMTK cannot write: the exact way decides)
            raise Bail
        self.frags = True
        data = self.data
        self.put_header(hdr_pos, hlen, self.header(tag, "OB", UNDEFINED))
        pos = vpos
        end = self.end
        content = 0
        while True:
            if pos + 8 > end:
                raise Bail
            group, elem, ilen = self.tag_len(data, pos)
            itag = (group << 16) | elem
            if itag == SEQ_DELIM:
                if ilen != 0:
                    self.flush(pos)
                    self.parts.append(bytearray(self.o_tag_len(0xFFFE, 0xE0DD, 0)))
                    self.run_start = pos + 8
                pos += 8
                break
            if itag != ITEM or ilen == UNDEFINED or pos + 8 + ilen > end:
                raise Bail
            pos += 8 + ilen
            content += 8 + ilen
        n = (12 if self.explicit else 8) + content + 8
        return pos, n, n


class _SameExplicitLE(_Walker):
    """The walk of an explicit VR little endian data set into the same syntax, the most common case: the generic
    walk with the per-element work of conversions left out (its sequences, items and encapsulated pixel data are
    the generic ones).  Group lengths, string values whose padding DCMTK strips and anything out of the ordinary
    raise Bail, and the generic walk decides (tests/test_dataset.py compares the two)."""

    def elements(self, pos: int, limit: int, undefined_item: bool, top: bool) -> tuple[int, int, int]:
        data = self.data
        head = self.tag_vr_short
        u32 = self.u32
        explicit_vrs = _EXPLICIT_VRS
        invalid = _INVALID_GROUPS
        size = total = 0
        last = -1
        while True:
            if pos >= limit:
                if undefined_item or pos != limit:
                    raise Bail
                break
            group, elem, raw_vr, length = head(data, pos)
            tag = (group << 16) | elem
            if tag <= last or group in invalid:
                if tag == ITEM_DELIM and undefined_item:
                    if u32(data, pos + 4)[0] != 0:
                        raise Bail
                    self.flush(pos)
                    self.run_start = pos + 8  # (not written: items get explicit lengths)
                    pos += 8
                    break
                raise Bail
            last = tag
            info = explicit_vrs.get(raw_vr)
            if info is None:
                raise Bail
            if info[1]:
                if length:
                    raise Bail
                length = u32(data, pos + 8)[0]
                vpos = pos + 12
            else:
                vpos = pos + 8
            width = info[5]
            if width and (length == UNDEFINED or length % width):
                raise Bail
            if length == UNDEFINED:
                vr = info[4]
                if tag == PIXEL_DATA and (vr == "OB" or vr == "OW"):
                    pos, s_len, o_len = self.pixel_items(tag, pos, vpos - pos, vpos)
                elif vr == "SQ":
                    pos, s_len, o_len = self.sequence(tag, pos, vpos - pos, vpos, None)
                else:
                    raise Bail
                size += s_len
                total += o_len
                continue
            if info[4] == "SQ":
                if vpos + length > limit:
                    raise Bail
                pos, s_len, o_len = self.sequence(tag, pos, vpos - pos, vpos, vpos + length)
                size += s_len
                total += o_len
                continue
            if length & 1 or elem == 0:
                raise Bail
            end = vpos + length
            if end > limit:
                raise Bail
            if group == 0xFFFC or group == 0x7FE0:
                if tag == TRAILING_PADDING:
                    self.flush(pos)
                    self.run_start = end  # removed when writing
                    size += end - pos
                    pos = end
                    continue
                if tag == PIXEL_DATA and top and self.encapsulated:
                    raise Bail
            pad = info[3]
            if pad >= 0 and length:
                if data[end - 1] == pad and data[end - 2] == pad:
                    raise Bail  # (DCMTK strips the padding: the generic walk)
                if top and (tag == SOP_CLASS_UID or tag == SOP_INSTANCE_UID):
                    if info[4] != "UI":
                        raise Bail
                    value = data[vpos:end]
                    if value.translate(None, BLANKS) != value or b"\\" in value:
                        raise Bail
                    if tag == SOP_CLASS_UID:
                        self.cls = _uid(value)
                    else:
                        self.inst = _uid(value)
            elif top and (tag == SOP_CLASS_UID or tag == SOP_INSTANCE_UID):
                raise Bail
            size += end - pos
            total += end - pos
            pos = end
        return pos, size, total

    inside = False  # within a sequence walked the quick way
    slow = False  # walking a sequence again the generic way

    def sequence(self, tag, hdr_pos, hlen, vpos, end) -> tuple[int, int, int]:
        """A sequence of explicit length whose items all have explicit lengths and go out as they are (the common
        case, e.g. the thousands of items of an enhanced multi-frame header) is walked without pieces of its own:
        its bytes stay in the range of the source that runs through it.  A change of length in it (an item or
        sequence of undefined length, padding removed) ends that quick walk at the outermost such sequence, which is
        walked again the generic way."""
        if end is None or self.slow:
            if self.inside:
                raise _Changed  # (an undefined length is written as an explicit one)
            return _Walker.sequence(self, tag, hdr_pos, hlen, vpos, end)
        if self.inside:
            return self._quick_sequence(vpos, end)
        parts = self.parts
        count = len(parts)
        run_start = self.run_start
        self.inside = True
        try:
            return self._quick_sequence(vpos, end)
        except _Changed:
            pass
        finally:
            self.inside = False
        del parts[count:]
        self.run_start = run_start
        self.slow = True
        try:
            return _Walker.sequence(self, tag, hdr_pos, hlen, vpos, end)
        finally:
            self.slow = False

    def _quick_sequence(self, vpos: int, end: int) -> tuple[int, int, int]:
        data = self.data
        tag_len = self.tag_len
        elements = self.elements
        pos = vpos
        while pos < end:
            if pos + 8 > end:
                raise Bail
            group, elem, ilen = tag_len(data, pos)
            if group != 0xFFFE or elem != 0xE000:
                raise Bail
            if ilen == UNDEFINED:
                raise _Changed
            iend = pos + 8 + ilen
            if iend > end:
                raise Bail
            pos, _, written = elements(pos + 8, iend, False, False)
            if written != ilen:
                raise _Changed  # (pieces made inside for changes of the same length are kept)
        n = 12 + end - vpos
        return pos, n, n


_BIG = 1 << 16  # values of this size or more stay ranges of the file (streamed from it when sent)
_LE_TAG_LEN = struct.Struct("<HHL").unpack_from
_LE_U16 = struct.Struct("<H")
_LE_U32 = struct.Struct("<L")
_LE_UN_LONG = struct.Struct("<HH2sHL").pack
_ITEM_HEAD = struct.pack("<HH", 0xFFFE, 0xE000)
# tag -> (VR, _VR_INFO tuple, explicit VR header up to the length, packer of the length) of the standard tags whose
# VR needs no context (implicit VR reading)
_IMPLICIT_VRS: dict = {}


class _ToExplicitLE:
    """The walk of the common conversions, implicit VR little endian or explicit VR big endian into explicit VR
    little endian, written straight into one buffer (the generic :class:`_Walker` keeps ranges of the source and
    literal pieces, which pays off when most of the file goes out as it is; here every header changes, and big
    endian values of more than one byte are swapped).  It gives what the generic walk gives (tests/test_dataset.py
    and ``benchmarks/profile_hot_path.py --check`` compare them); anything out of the ordinary raises Bail, and the
    generic walk decides."""

    __slots__ = ("data", "end", "out", "parts", "cls", "inst", "implicit", "head", "tag_len", "u32")

    def __init__(self, data, end: int, implicit: bool):
        self.data = data
        self.end = end
        self.out = bytearray()
        self.parts: list = []
        self.cls = ""
        self.inst = ""
        self.implicit = implicit  # else explicit VR big endian
        # (readers of the source: an element header, an item header, a 4-byte length)
        self.head = _LE_TAG_LEN if implicit else _BE_TAG_VR_SHORT
        self.tag_len = _LE_TAG_LEN if implicit else _BE_TAG_LEN
        self.u32 = _LE_U32.unpack_from if implicit else _BE_U32

    def run(self, start: int) -> Walk:
        pos, size, total = self.elements(start, self.end, False, True)
        if pos != self.end:
            raise Bail
        if self.out or not self.parts:
            self.parts.append(self.out)
        return Walk(self.parts, total, size, self.cls, self.inst, False)

    def big(self, vpos: int, length: int, width: int) -> bytearray:
        """A large value: a range of the source (byte-swapped in ``width`` units when read) between two buffers;
        returns the new buffer."""
        if self.out:
            self.parts.append(self.out)
        self.parts.append((vpos, length, width))
        self.out = bytearray()
        return self.out

    def elements(self, pos: int, limit: int, undefined_item: bool, top: bool) -> tuple[int, int, int]:
        """As :meth:`_Walker.elements`: (position after, length in the source syntax, length as written)."""
        data = self.data
        out = self.out
        implicit = self.implicit
        head = self.head
        u32_of = self.u32
        vrs = _IMPLICIT_VRS
        vr_info = _VR_INFO
        explicit_vrs = _EXPLICIT_VRS
        invalid = _INVALID_GROUPS
        context_vrs = _CONTEXT_VRS
        prefixes = _PREFIXES_LE
        u16 = _LE_U16.pack
        u32 = _LE_U32.pack
        src_size = out_size = 0
        last = -1
        creators: dict | None = None
        group_len = None  # (buffer, offset of the value, group) of a group length element being summed
        group_sum = 0
        pixrep = wbits = None  # PixelRepresentation, WaveformBitsAllocated of this item (implicit VR)
        hlen = 8
        while True:
            if pos >= limit:
                if undefined_item or pos != limit:
                    raise Bail
                break
            if implicit:
                group, elem, length = head(data, pos)
            else:
                group, elem, raw_vr, length = head(data, pos)
            prefix = None  # (the header up to the length: from _IMPLICIT_VRS, else made below)
            tag = (group << 16) | elem
            if tag <= last or group in invalid:
                if tag == ITEM_DELIM and undefined_item:
                    if u32_of(data, pos + 4)[0] != 0:
                        raise Bail
                    pos += 8
                    break
                raise Bail
            last = tag
            if not implicit:
                info = explicit_vrs.get(raw_vr)
                if info is None:
                    raise Bail
                vr = info[4]
                if info[1]:
                    if length:
                        raise Bail
                    length = u32_of(data, pos + 8)[0]
                    hlen = 12
                else:
                    hlen = 8
                width = info[5]
                if width and (length == UNDEFINED or length % width):
                    raise Bail
            elif group & 1:
                vr = dictionary.vr_of(tag)
                if elem >= 0x1000:
                    creator = creators.get((group, elem >> 8)) if creators else None
                    if creator is not None:
                        found = dictionary.lookup(tag, creator)
                        if found is not None:
                            vr = found[0]
                if vr in context_vrs:
                    vr = _context_vr(tag, vr, pixrep, wbits)
                info = vr_info.get(vr)
                if info is None:
                    raise Bail
            else:
                got = vrs.get(tag)
                if got is None:
                    vr = dictionary.vr_of(tag) if tag != PIXEL_DATA else "OW"
                    if vr in context_vrs:
                        vr = _context_vr(tag, vr, pixrep, wbits)
                        info = vr_info.get(vr)
                        if info is None:
                            raise Bail
                    else:
                        info = vr_info.get(vr)
                        if info is None:
                            raise Bail
                        prefix, long_length = _prefix_le(tag, vr)
                        pack_length = u32 if long_length else u16
                        if len(vrs) < 65536:
                            vrs[tag] = (vr, info, prefix, pack_length)
                else:
                    vr, info, prefix, pack_length = got
            vpos = pos + hlen
            if group_len is not None and group != group_len[2]:
                _LE_U32.pack_into(group_len[0], group_len[1], group_sum)
                group_len = None
            if length == UNDEFINED:
                if vr != "SQ" or tag == PIXEL_DATA:
                    raise Bail
                self.out = out
                pos, s_len, o_len = self.sequence(tag, vpos, None)
                out = self.out
            elif vr == "SQ":
                if vpos + length > limit:
                    raise Bail
                self.out = out
                pos, s_len, o_len = self.sequence(tag, vpos, vpos + length)
                out = self.out
            else:
                if length & 1:
                    raise Bail
                pos = vpos + length
                if pos > limit:
                    raise Bail
                if elem == 0 or group == 0xFFFC:
                    if elem == 0:
                        # a group length: recalculated over the rest of the group as written
                        if length != 4 or (not implicit and vr != "UL"):
                            raise Bail
                        out += _LE_UN_LONG(group, 0, b"UL", 4, 0)[:8]
                        group_len = (out, len(out), group)
                        group_sum = 0
                        out += b"\0\0\0\0"
                        src_size += hlen + 4
                        out_size += 12
                        continue
                    if tag == TRAILING_PADDING:
                        src_size += hlen + length  # (removed when writing)
                        continue
                pad = info[3]
                if pad >= 0 and length:
                    # a string: trailing padding stripped as DCMTK loads it, padded to an even length
                    n = length
                    while n > 0 and data[vpos + n - 1] == pad:
                        n -= 1
                    if top and (tag == SOP_CLASS_UID or tag == SOP_INSTANCE_UID):
                        if vr != "UI":
                            raise Bail
                        value = data[vpos:pos]
                        if value.translate(None, BLANKS) != value or b"\\" in value:
                            raise Bail
                        if tag == SOP_CLASS_UID:
                            self.cls = _uid(value)
                        else:
                            self.inst = _uid(value)
                    length = n + (n & 1)
                    if length > 0xFFFF or length >= _BIG:
                        raise Bail  # (the generic walk)
                    if prefix is None:
                        got = prefixes.get((tag, vr)) or _prefix_le(tag, vr)
                        prefix, pack_length = got[0], (u32 if got[1] else u16)
                    out += prefix
                    out += pack_length(length)
                    out += data[vpos:vpos + n]
                    if n & 1:
                        out.append(pad)
                    if implicit and group & 1 and 0x10 <= elem <= 0xFF:
                        if creators is None:
                            creators = {}
                        creators[(group, elem)] = data[vpos:vpos + length].decode("latin-1").rstrip("\0 ").lstrip(" ")
                else:
                    if top and (tag == SOP_CLASS_UID or tag == SOP_INSTANCE_UID):
                        raise Bail
                    if length <= 0xFFFF:
                        if prefix is None:
                            got = prefixes.get((tag, vr)) or _prefix_le(tag, vr)
                            prefix, pack_length = got[0], (u32 if got[1] else u16)
                        out += prefix
                        out += pack_length(length)
                    else:
                        out += _LE_UN_LONG(group, elem, info[0].encode() if info[1] else b"UN", 0, length)
                    swap = 1 if implicit else info[2]
                    if length >= _BIG:
                        self.out = out
                        out = self.big(vpos, length, swap)
                    elif length:
                        out += data[vpos:pos] if swap == 1 else swapped(data[vpos:pos], swap)
                        if implicit and length >= 2:
                            if tag == PIXEL_REPRESENTATION:
                                pixrep = _LE_U16.unpack_from(data, vpos)[0]
                            elif tag == WAVEFORM_BITS_ALLOCATED:
                                wbits = _LE_U16.unpack_from(data, vpos)[0]
                s_len = hlen + length
                o_len = (12 if info[1] or length > 0xFFFF else 8) + length
            src_size += s_len
            out_size += o_len
            if group_len is not None:
                group_sum += o_len
        if group_len is not None:
            _LE_U32.pack_into(group_len[0], group_len[1], group_sum)
        self.out = out
        return pos, src_size, out_size

    def sequence(self, tag: int, vpos: int, end: int | None) -> tuple[int, int, int]:
        """A sequence (``end`` None: undefined length), written with explicit lengths."""
        data = self.data
        tag_len = self.tag_len
        out = self.out
        out += _LE_UN_LONG(tag >> 16, tag & 0xFFFF, b"SQ", 0, 0)
        seq_len = (out, len(out) - 4)
        pos = vpos
        limit = self.end if end is None else end
        src_content = out_content = 0
        while True:
            if end is not None and pos >= end:
                if pos != end:
                    raise Bail
                break
            if pos + 8 > limit:
                raise Bail
            group, elem, ilen = tag_len(data, pos)
            if group != 0xFFFE or elem != 0xE000:
                if group == 0xFFFE and elem == 0xE0DD and end is None and ilen == 0:
                    pos += 8
                    break
                raise Bail
            pos += 8
            out = self.out
            out += _ITEM_HEAD
            item_len = (out, len(out))
            out += b"\0\0\0\0"
            if ilen == UNDEFINED:
                pos, s_len, o_len = self.elements(pos, limit, True, False)
            else:
                iend = pos + ilen
                if iend > limit:
                    raise Bail
                pos, s_len, o_len = self.elements(pos, iend, False, False)
            _LE_U32.pack_into(item_len[0], item_len[1], o_len)
            src_content += 8 + s_len
            out_content += 8 + o_len
        _LE_U32.pack_into(seq_len[0], seq_len[1], out_content)
        return pos, (8 if self.implicit else 12) + src_content, 12 + out_content


_BE_TAG_LEN = struct.Struct(">HHL").unpack_from
_BE_TAG_VR_SHORT = struct.Struct(">HH2sH").unpack_from
_BE_U32 = struct.Struct(">L").unpack_from


def _prefix_le(tag: int, vr: str) -> tuple[bytes, bool]:
    """The explicit VR little endian header of ``tag`` with ``vr`` up to its length field, and whether that field has
    4 bytes (remembered in _PREFIXES_LE)."""
    info = _VR_INFO[vr]
    prefix = struct.pack("<HH2s", tag >> 16, tag & 0xFFFF, info[0].encode())
    if info[1]:
        prefix += b"\0\0"
    got = (prefix, info[1])
    if len(_PREFIXES_LE) < 65536:
        _PREFIXES_LE[(tag, vr)] = got
    return got


def _context_vr(tag: int, vr: str, pixrep: int | None, wbits: int | None) -> str:
    """The VR DCMTK gives an element of an ambiguous dictionary VR (checkAndUpdateVR), as _Parser does."""
    if vr == "xs":
        if tag in _XS_PIXREP_TAGS and pixrep is not None:
            return "SS" if pixrep == 1 else "US"
        return vr
    if vr == "ox":
        if tag in _WAVEFORM_OX_TAGS:
            if wbits is not None:
                return "OB" if wbits == 8 else "OW"
            return vr
        if (tag & 0xFF00FFFF) == 0x60003000 or tag == PIXEL_DATA:
            return "OW"
        if (tag & 0xFF00FFFF) == 0x50003000:
            return "OB"
        return vr
    if vr == "lt":
        return vr
    raise Bail


def swapped(chunk, width: int) -> bytes:
    import array

    values = array.array(_SWAP_CODES[width])
    values.frombytes(chunk)
    values.byteswap()
    return values.tobytes()


def compact(parts: list, data, big: int = 1 << 16) -> list:
    """Runs of small pieces joined into literal bytes (read from ``data``, byte-swapped where asked); ranges of
    ``big`` bytes or more stay ranges of the source (streamed from the file when sent)."""
    if len(parts) <= 1:
        return parts
    out: list = []
    buf = None
    for p in parts:
        if p.__class__ is tuple:
            pos, n, width = p
            if n >= big:
                if buf is not None:
                    out.append(buf)
                    buf = None
                out.append(p)
                continue
            chunk = data[pos:pos + n]
            if width > 1:
                chunk = swapped(chunk, width)
        else:
            chunk = p
        if buf is None:
            buf = bytearray(chunk)
        else:
            buf += chunk
    if buf is not None:
        out.append(buf)
    return out


def _merge(parts: list) -> list:
    """Adjacent ranges of the source joined (a range after a range that ends where it starts)."""
    out: list = []
    last = None
    for p in parts:
        if p.__class__ is tuple:
            if p[1] == 0:
                continue
            if last is not None and last[2] == 1 and p[2] == 1 and last[0] + last[1] == p[0]:
                last = (last[0], last[1] + p[1], 1)
                out[-1] = last
                continue
            out.append(p)
            last = p
        else:
            if out and out[-1].__class__ is bytearray:
                out[-1] += p
            else:
                out.append(p)
            last = None
    return out
