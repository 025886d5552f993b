"""The data-set codec's fast path: one pass over the element headers of a data set (explicit or implicit VR, little or
big endian, sequences and items of explicit or undefined length at any depth, private groups, group lengths, Data
Set Trailing Padding, encapsulated pixel data, UN), no per-element objects.

It gives what DCMTK 3.6.7's dcmsend sends for the data set in a wanted uncompressed (or the file's own) transfer
syntax, as a list of *pieces*: byte ranges of the source (optionally byte-swapped) and literal bytes for only what
changes (a sequence or item length DCMTK writes as an explicit length, a delimiter it leaves out, a recalculated group
length, a string value it strips, an element header in another encoding, padding it removes).  Where the file's bytes
already are DCMTK's, the pieces are one range of the file.  It also gives the size the report shows (DCMTK's
calcElementLength in the source syntax) and the SOP Class/Instance UIDs.

The walk accepts only data sets that the exact reader (convert._Parser) reads without any message: anything unusual
(non-standard VRs, odd lengths, tags out of order, lengths beyond the end, CP-246 sequences, ...) makes it give up
(None), and the exact reader then reads the data set with DCMTK's messages.  benchmarks/profile_hot_path.py --check
and tests/test_dataset.py prove that both give the same bytes.
"""

from __future__ import annotations

import array
import struct

from dcmsend import dictionary

UNDEFINED = 0xFFFFFFFF
PIXEL_DATA = 0x7FE00010
SOP_CLASS_UID = 0x00080016
SOP_INSTANCE_UID = 0x00080018
TRAILING_PADDING = 0xFFFCFFFC
PIXEL_REPRESENTATION = 0x00280103
WAVEFORM_BITS_ALLOCATED = 0x54001004
# checkAndUpdateVR: xs elements whose VR follows PixelRepresentation; ox elements whose VR follows
# WaveformBitsAllocated (the same lists as convert.py's)
_XS_PIXREP_TAGS = frozenset([0x00280120, 0x00280121, 0x00603004, 0x00603006, 0x00189812, 0x00280106, 0x00280107,
                             0x00280108, 0x00280109, 0x00283002, 0x00409211, 0x00409216])
_WAVEFORM_OX_TAGS = frozenset([0x54001010, 0x5400100A, 0x003A0220, 0x003A0221])
ITEM = 0xFFFEE000
ITEM_DELIM = 0xFFFEE00D
SEQ_DELIM = 0xFFFEE0DD

_BLANKS = b" \t\n\r\x0b\x0c"

STANDARD_VRS = frozenset(
    "AE AS AT CS DA DS DT FL FD IS LO LT OB OD OF OL OV OW PN SH SL SQ SS ST SV TM UC UI UL UR US UT UV UN".split())
EXTENDED_VRS = frozenset("OB OD OF OL OV OW SQ SV UC UR UT UN UV".split())
STRING_VRS = frozenset("AE AS CS DA DS DT IS LO LT PN SH ST TM UC UI UR UT".split())
_VALUE_WIDTH = {"AT": 2, "OW": 2, "SS": 2, "US": 2, "FL": 4, "OF": 4, "OL": 4, "SL": 4, "UL": 4, "FD": 8, "OD": 8,
                "OV": 8, "SV": 8, "UV": 8}
_SWAP_WIDTH = {"AT": 2, "OW": 2, "SS": 2, "US": 2, "FL": 4, "OF": 4, "OL": 4, "SL": 4, "UL": 4, "up": 4, "FD": 8,
               "OD": 8, "OV": 8, "SV": 8, "UV": 8}
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
_EXPLICIT_VRS = {vr.encode(): vr for vr in STANDARD_VRS}


class Bail(Exception):
    """The data set needs the exact reader."""


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
        widths = _VALUE_WIDTH
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
                vr = explicit_vrs.get(raw_vr)
                if vr is None:
                    raise Bail  # non-standard VR: DCMTK warns
                info = vr_info[vr]
                if info[1]:
                    if length:
                        raise Bail  # (reserved bytes) - the exact way
                    length = u32(data, pos + 8)[0]
                    hlen = 12
                else:
                    hlen = 8
                width = widths.get(vr)
                if width is not None and (length == UNDEFINED or length % width):
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
            if value.translate(None, _BLANKS) != value:
                raise Bail  # (DCMTK removes blanks with a warning: the exact way)
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
        index = self.placeholder(hdr_pos, hlen)
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
            group, elem, ilen = self.tag_len(data, pos)
            itag = (group << 16) | elem
            if itag == SEQ_DELIM and end is None:
                if ilen != 0:
                    raise Bail
                self.flush(pos)
                self.run_start = pos + 8
                pos += 8
                break
            if itag != ITEM:
                raise Bail
            item_pos = pos
            iindex = self.placeholder(pos, 8)
            pos += 8
            if ilen == UNDEFINED:
                pos, s_len, o_len = self.elements(pos, limit, True, False)
            else:
                iend = pos + ilen
                if iend > limit:
                    raise Bail
                pos, s_len, o_len = self.elements(pos, iend, False, False)
            self.fill(iindex, item_pos, 8, self.o_tag_len(0xFFFE, 0xE000, o_len))
            src_content += 8 + s_len
            out_content += 8 + o_len
        self.fill(index, hdr_pos, hlen, self.header(tag, "SQ", out_content))
        return pos, (12 if self.explicit else 8) + src_content, (12 if self.out_explicit else 8) + out_content

    def pixel_items(self, tag, hdr_pos, hlen, vpos) -> tuple[int, int, int]:
        """Encapsulated pixel data: items up to the sequence delimiter, written with OB and a zero-length
        delimiter."""
        if not self.same:
            raise Bail  # (a conversion of encapsulated pixel data: the exact way decides)
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


def _context_vr(tag: int, vr: str, pixrep: int | None, wbits: int | None) -> str:
    """The VR DCMTK gives an element of an ambiguous dictionary VR (checkAndUpdateVR), as convert._Parser does."""
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


_SWAP_CODES = {array.array(code).itemsize: code for code in "HILQ"}


def swapped(chunk, width: int) -> bytes:
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
