"""THE data-set codec: reading a data set as DCMTK 3.6.7's dcmdata does (with its checks and messages) and writing it
as its DIMSE layer sends it, in every transfer syntax.

DCMTK writes a data set for the network with explicit-length sequences and items, existing group length elements
recalculated (none added), all Data Set Trailing Padding (FFFC,FFFC) elements removed, elements in tag order, and the
encapsulated Pixel Data always with undefined length.

Two readers share the encoding rules below:
- the fast walk (walk.py): one pass over the element headers, no per-element objects, for every structure; it gives
  the *pieces* of the data set in the wanted syntax and accepts only data sets that the exact reader reads without
  any message;
- the exact reader (``_Parser``): builds an element tree (values stay in the source) with DCMTK's messages and
  conditions for every malformed data set; ``_emit`` writes it (used after the fast walk gave up, and for the
  decompression, which replaces elements).

benchmarks/profile_hot_path.py --check and tests/test_dataset.py prove that both give the same bytes.
"""

from __future__ import annotations

import _bisect as bisect  # (the C module: bisect.py adds an import)
import os
import struct

from dcmsend import dictionary, uids
from dcmsend.dictionary import BLANKS, EXTENDED_VRS, STANDARD_VRS, VALUE_WIDTH, tag_name, tag_text
from dcmsend.exitcodes import Condition, ConditionError
from dcmsend.log import DATA

# ---------------------------------------------------------------------------------------------------------------------
# DCMTK conditions (module OFM_dcmdata = 1) used while reading.

_DCMDATA = 1
_DCMJPEG = 18
EC_InvalidStream = Condition(_DCMDATA, 4, "Invalid stream")
EC_StreamNotifyClient = Condition(_DCMDATA, 10, "I/O suspension or premature end of stream")
EC_EndOfStream = Condition(_DCMDATA, 5, "End of stream")
EC_CannotChangeRepresentation = Condition(_DCMDATA, 14, "Pixel representation cannot be changed")
EC_UnsupportedEncoding = Condition(_DCMDATA, 15, "Unsupported compression or encryption")
EC_ElemLengthLargerThanItem = Condition(
    _DCMDATA, 27, "Length of element larger than explicit length of surrounding item")
EC_FileMetaInfoHeaderMissing = Condition(_DCMDATA, 28, "File meta information header missing")
EC_ItemDelimitationItemMissing = Condition(_DCMDATA, 38, "Item Delimitation Item missing")
EC_SequDelimitationItemMissing = Condition(_DCMDATA, 34, "Sequence Delimitation Item missing")
EC_UndefinedLengthOBOW = Condition(
    _DCMDATA, 51, "Illegal element with OB or OW Value Representation and undefined length encountered")
EC_PixelDataExplLengthIllegal = Condition(
    _DCMDATA, 53, "Pixel data in top level dataset in compressed Transfer Syntax uses explicit length")
EC_CorruptedData = Condition(_DCMDATA, 6, "Corrupted data")
EC_InvalidFilename = Condition(_DCMDATA, 19, "Invalid filename")  # only the text matters here

DCM_MAX_READ_LENGTH = 4096  # values longer than this are not loaded by loadFile (read later on demand)
UNDEFINED = 0xFFFFFFFF

PIXEL_DATA = 0x7FE00010
SOP_CLASS_UID = 0x00080016
SOP_INSTANCE_UID = 0x00080018
TRAILING_PADDING = 0xFFFCFFFC
ITEM = 0xFFFEE000
ITEM_DELIM = 0xFFFEE00D
SEQ_DELIM = 0xFFFEE0DD
PIXEL_REPRESENTATION = 0x00280103
WAVEFORM_BITS_ALLOCATED = 0x5400_1004

# (the VR tables STANDARD_VRS, EXTENDED_VRS, VALUE_WIDTH are dictionary.py's)
STRING_VRS = frozenset("AE AS CS DA DS DT IS LO LT PN SH ST TM UC UI UR UT".split())
# Non-standard (DCMTK internal) VRs and the VR written for them (DcmVR::getValidEVR).
_VALID_VR = {"xs": "US", "lt": "OW", "ox": "OB", "px": "OB", "up": "UL", "??": "UN", "?2": "UN", "na": "UN"}
_LOWER_VRS = frozenset(["ox", "px", "xs", "lt", "na", "up", "pi"])
# Byte width of one value for the byte-order change (1: no swapping).
_SWAP_WIDTH = {"AT": 2, "OW": 2, "SS": 2, "US": 2, "xs": 2, "lt": 2, "FL": 4, "OF": 4, "OL": 4, "SL": 4, "UL": 4,
               "up": 4, "FD": 8, "OD": 8, "OV": 8, "SV": 8, "UV": 8}
# ZeroVelocityPixelValue is (0018,9812); PixelPaddingRangeLimit (0028,0121); Histogram First/Last Bin (0060,3004/6)
_XS_PIXREP_TAGS = frozenset([0x00280120, 0x00280121, 0x00603004, 0x00603006, 0x00189812, 0x00280106, 0x00280107,
                             0x00280108, 0x00280109, 0x00283002, 0x00409211, 0x00409216])
# WaveformData (5400,1010), WaveformPaddingValue (5400,100A), ChannelMinimumValue (003A,0220), ChannelMaximumValue
# (003A,0221)
_WAVEFORM_OX_TAGS = frozenset([0x54001010, 0x5400100A, 0x003A0220, 0x003A0221])


def _valid_vr(vr: str) -> str:
    return vr if vr in STANDARD_VRS else _VALID_VR.get(vr, "UN")


# ---------------------------------------------------------------------------------------------------------------------
# Data dictionary (for implicit VR data sets): DCMTK's VRs, from its own dictionary (dictionary.py).


def _dict_vr(tag: int) -> str:
    if tag == PIXEL_DATA:
        return "OW"  # DcmPixelData read in implicit VR: OW
    vr = dictionary.vr_of(tag)
    return vr if vr != "na" else "??"


def _private_vr(tag: int, creator: str) -> str | None:
    found = dictionary.lookup(tag, creator)
    return found[0] if found is not None else None


# ---------------------------------------------------------------------------------------------------------------------
# The parsed structure.


class Elem:
    __slots__ = ("tag", "vr", "length", "pos", "hdr_pos", "items", "frags", "little", "used", "tail", "spool")

    def __init__(self, tag, vr, length, pos, hdr_pos, little=True):
        self.tag = tag
        self.vr = vr  # DCMTK's VR of the element (may be a non-standard one such as 'xs', '??', 'px')
        self.length = length  # value length as DCMTK has it after loading (see _normalise)
        self.pos = pos  # source offset of the value
        self.hdr_pos = hdr_pos
        self.used = length  # bytes of the source value that are part of the value
        self.tail = b""  # bytes appended to them (padding)
        self.items: list[Item] | None = None  # sequence items
        self.frags: list[tuple[int, int, int]] | None = None  # pixel items: (header pos, value pos, length)
        self.little = little  # byte order of the value in the source
        self.spool: int | None = None  # the value is at ``pos`` in this other file (written by the decompression)


class Item:
    __slots__ = ("elems", "hdr_pos")

    def __init__(self, hdr_pos):
        self.elems: list[Elem] = []
        self.hdr_pos = hdr_pos


class Encoding:
    """Explicit/implicit VR and byte order of a transfer syntax (immutable; one shared instance each)."""

    __slots__ = ("explicit", "little")
    explicit: bool
    little: bool

    def __init__(self, explicit: bool, little: bool):
        object.__setattr__(self, "explicit", explicit)
        object.__setattr__(self, "little", little)

    def __setattr__(self, name, value):
        raise AttributeError(f"cannot assign to field '{name}'")

    def __eq__(self, other):
        if other.__class__ is not Encoding:
            return NotImplemented
        return self.explicit == other.explicit and self.little == other.little

    def __hash__(self) -> int:
        return hash((self.explicit, self.little))

    def __repr__(self) -> str:
        return f"Encoding(explicit={self.explicit!r}, little={self.little!r})"

    @staticmethod
    def of(ts_uid: str) -> Encoding:
        if ts_uid == uids.LEI or ts_uid == "1.2.840.113619.5.2":  # GE private: implicit LE (big endian pixel data)
            return _IMPLICIT_LITTLE
        if ts_uid == uids.BEE:
            return _EXPLICIT_BIG
        return _EXPLICIT_LITTLE


_IMPLICIT_LITTLE = Encoding(False, True)
_EXPLICIT_BIG = Encoding(True, False)
_EXPLICIT_LITTLE = Encoding(True, True)


# ---------------------------------------------------------------------------------------------------------------------
# Reading.


class _Parser:
    def __init__(self, buf, start: int, enc: Encoding, ts_uid: str):
        self.buf = buf
        self.start = start
        self.size = len(buf)
        self.enc = enc
        self.ts_uid = ts_uid

    # errors -------------------------------------------------------------------------------------------------------
    def _too_large(self, tag: int, length: int, value_pos: int, elems: list[Elem] | None = None):
        remaining = max(0, self.size - value_pos)
        name = tag_name(tag)
        if remaining == 0 or length > DCM_MAX_READ_LENGTH:
            DATA.error(f"DcmElement: {name} {tag_text(tag)} larger ({length}) than remaining bytes in file")
            condition = EC_StreamNotifyClient
        else:
            DATA.error(f"DcmElement: {name} {tag_text(tag)} larger ({length}) than remaining bytes ({remaining}) in "
                       "file, premature end of stream")
            condition = EC_InvalidStream
        if elems and tag <= elems[-1].tag:
            # (DcmItem::readSubElement inserts the element it could not read all the same)
            keys = [x.tag for x in elems]
            i = bisect.bisect_left(keys, tag)
            if i < len(elems) and elems[i].tag == tag:
                DATA.warn(f"DcmItem: Element {tag_text(tag)} found twice in one data set or item, ignoring second "
                          "entry")
            else:
                DATA.warn(f"DcmItem: Dataset not in ascending tag order, at element {tag_text(tag)}")
        raise ConditionError(condition)

    # one element header -------------------------------------------------------------------------------------------
    def _header(self, pos: int, explicit: bool, little: bool, private_creators: dict, item: list[Elem] | None):
        """Returns (tag, vr, length, header length) or raises; vr None for items/delimiters."""
        buf = self.buf
        avail = self.size - pos
        if avail < (6 if explicit else 4):
            raise ConditionError(EC_StreamNotifyClient)
        group, elem = struct.unpack_from("<HH" if little else ">HH", buf, pos)
        tag = (group << 16) | elem
        if group == 0xFFFE and elem in (0xE000, 0xE00D, 0xE0DD):
            if avail < 8:
                raise ConditionError(EC_StreamNotifyClient)
            (length,) = struct.unpack_from("<L" if little else ">L", buf, pos + 4)
            return tag, None, length, 8
        if explicit:
            raw = bytes(buf[pos + 4:pos + 6])
            vr = raw.decode("latin-1")
            if vr not in STANDARD_VRS:
                if vr in _LOWER_VRS:
                    extended = vr in ("ox", "px", "lt")
                elif vr.isascii() and vr.isalpha() and vr.isupper():
                    vr, extended = "??", True  # DCMTK's EVR_UNKNOWN: a "future" VR with 4-byte length
                else:
                    vr, extended = "?2", False  # EVR_UNKNOWN2B
                shown = "".join(chr(c) if c >= 32 else " " for c in raw)
                DATA.warn(f"DcmItem: Non-standard VR '{shown}' ({raw[0]:02x}\\{raw[1]:02x}) encountered while parsing"
                          f" element {tag_text(tag)}, assuming {4 if extended else 2} byte length field")
                if tag == PIXEL_DATA and raw == b"OX":
                    DATA.warn(f"DcmItem: Non-standard VR 'OX' is known to be wrongly used for PixelData "
                              f"{tag_text(tag)}, setting VR to 'OW'")
                    vr = "OW"
            else:
                extended = vr in EXTENDED_VRS
            hlen = 12 if extended else 8
            if avail < hlen:
                raise ConditionError(EC_StreamNotifyClient)
            if extended:
                (length,) = struct.unpack_from("<L" if little else ">L", buf, pos + 8)
            else:
                (length,) = struct.unpack_from("<H" if little else ">H", buf, pos + 6)
                width = VALUE_WIDTH.get(vr, 1)
                if width > 1 and length % width:
                    DATA.warn(f"DcmItem: Length of element {tag_text(tag)} is not a multiple of {width} (VR={vr})")
            if extended and length != UNDEFINED:
                width = VALUE_WIDTH.get(vr, 1)
                if width > 1 and length % width:
                    DATA.warn(f"DcmItem: Length of element {tag_text(tag)} is not a multiple of {width} (VR={vr})")
            elif extended and length == UNDEFINED and VALUE_WIDTH.get(vr, 1) > 1:
                DATA.warn(f"DcmItem: Length of element {tag_text(tag)} is not a multiple of "
                          f"{VALUE_WIDTH[vr]} (VR={vr})")
        else:
            if avail < 8:
                raise ConditionError(EC_StreamNotifyClient)
            (length,) = struct.unpack_from("<L" if little else ">L", buf, pos + 4)
            hlen = 8
            vr = _dict_vr(tag)
            if (group & 1) and elem >= 0x1000:
                creator = private_creators.get((group, elem >> 8))
                if creator is not None:
                    pvr = _private_vr(tag, creator)
                    if pvr:
                        vr = pvr
            vr = self._check_and_update_vr(tag, vr, item or [], little)
        if (length & 1) and length != UNDEFINED:
            DATA.warn(f"DcmItem: Length of element {tag_text(tag)} is odd")
        return tag, vr, length, hlen

    def _check_and_update_vr(self, tag: int, vr: str, item: list[Elem], little: bool) -> str:
        if vr == "ox" and tag in _WAVEFORM_OX_TAGS:
            bits = self._find_us(item, WAVEFORM_BITS_ALLOCATED, little)
            if bits is not None:
                new = "OB" if bits == 8 else "OW"
                DATA.debug(f"DcmItem::checkAndUpdateVR() setting undefined VR of {tag_name(tag)} {tag_text(tag)} to "
                           f"'{new}' because WaveformBitsAllocated (5400,1004) has a value "
                           + ("of 8" if bits == 8 else "that is different from 8"))
                return new
        elif vr == "xs" and tag in _XS_PIXREP_TAGS:
            rep = self._find_us(item, PIXEL_REPRESENTATION, little)
            if rep is not None:
                new = "SS" if rep == 1 else "US"
                DATA.debug(f"DcmItem::checkAndUpdateVR() setting undefined VR of {tag_name(tag)} {tag_text(tag)} to "
                           f"'{new}' because PixelRepresentation (0028,0103) has a value "
                           + ("of 1" if rep == 1 else "that is different from 1"))
                return new
        elif vr == "ox" and ((tag & 0xFF00FFFF) == 0x60003000 or tag == PIXEL_DATA):
            DATA.debug(f"DcmItem::checkAndUpdateVR() setting undefined VR of {tag_name(tag)} {tag_text(tag)} to 'OW'")
            return "OW"
        elif vr == "ox" and (tag & 0xFF00FFFF) == 0x50003000:
            DATA.debug(f"DcmItem::checkAndUpdateVR() setting undefined VR of {tag_name(tag)} {tag_text(tag)} to 'OB'")
            return "OB"
        return vr

    def _find_us(self, item: list[Elem], tag: int, little: bool) -> int | None:
        for e in reversed(item):
            if e.tag == tag:
                if e.length >= 2 and e.length != UNDEFINED:
                    return struct.unpack_from("<H" if little else ">H", self.buf, e.pos)[0]
                return None
            if e.tag < tag:
                return None
        return None

    # items --------------------------------------------------------------------------------------------------------
    def parse_elements(self, pos: int, end: int | None, explicit: bool, little: bool, top: bool,
                       undefined_item: bool) -> tuple[list[Elem], int]:
        """Read the elements of the data set (``top``) or an item: up to ``end`` (explicit length) or up to the item
        delimiter (``undefined_item``) or to the end of the data (data set)."""
        elems: list[Elem] = []
        last_tag = -1
        creators: dict = {}
        size = self.size
        limit = size if end is None else min(end, size)  # (an explicit-length item ends at the end of the data too)
        item_len = None if end is None else end - pos
        while True:
            if pos >= limit:
                # the end of the data at an element boundary ends every item and sequence quietly (EC_EndOfStream)
                break
            hdr_pos = pos
            tag, vr, length, hlen = self._header(pos, explicit, little, creators, elems)
            pos += hlen
            if vr is None:  # item / delimiter tags
                if tag == ITEM_DELIM:
                    if undefined_item:
                        return elems, pos
                    break  # DCMTK stops reading this item/data set here (EC_ItemEnd)
                if tag == SEQ_DELIM:
                    DATA.error(f"DcmItem: Parse error in sequence item, found {tag_text(tag)} instead of item "
                               "delimiter (fffe,e00d)")
                    raise ConditionError(EC_ItemDelimitationItemMissing)
                DATA.error(f"DcmItem: Parse error in sequence item, found {tag_text(tag)} instead of item "
                           "delimiter (fffe,e00d)")
                raise ConditionError(EC_ItemDelimitationItemMissing)
            if end is not None and length != UNDEFINED and pos + length > end:
                if pos > end:  # the header already went past the item's end: the element is read all the same
                    DATA.warn(f"DcmItem: Explicit item length ({item_len} bytes) too large for the elements contained"
                              " in the item")
                else:
                    DATA.warn(f"DcmItem: Element {tag_name(tag)} {tag_text(tag)} larger ({length}) than remaining "
                              f"bytes ({end - pos}) of surrounding item")
                    raise ConditionError(EC_ElemLengthLargerThanItem)
            e = Elem(tag, vr, length, pos, hdr_pos, little)
            if vr == "SQ" or (length == UNDEFINED and tag != PIXEL_DATA and vr not in ("OB", "OW", "px", "ox")):
                if (vr == "UN" and explicit) or (vr == "??" and not explicit):  # (an unknown tag in implicit VR)
                    DATA.warn(f"Found element {tag_text(tag)} with VR UN and undefined length, reading a sequence with"
                              " transfer syntax LittleEndianImplicit (CP-246)")
                    e.vr = "SQ"
                    e.items, pos = self.parse_sequence(pos, length, False, True, tag)
                else:
                    e.vr = "SQ"
                    e.items, pos = self.parse_sequence(pos, length, explicit, little, tag)
            elif length == UNDEFINED:
                if tag != PIXEL_DATA:
                    DATA.error(f"DcmItem: Parse error in {tag_text(tag)}: Illegal element with OB or OW Value "
                               "Representation and undefined length encountered")
                    raise ConditionError(EC_UndefinedLengthOBOW)
                e.frags, pos = self.parse_pixel_items(pos, little)
            else:
                if pos + length > size:
                    self._too_large(tag, length, pos, elems)
                pos += length
                if length:
                    self._normalise(e)
                if (group := tag >> 16) & 1 and 0x10 <= (tag & 0xFFFF) <= 0xFF:
                    creators[(group, tag & 0xFFFF)] = _strip(bytes(self.buf[e.pos:e.pos + length]))
            group = tag >> 16
            if group in (0x0001, 0x0002, 0x0003, 0x0005, 0x0007, 0xFFFF):
                DATA.warn(f"DcmItem: Invalid Element {tag_text(tag)} found in data set")
            if tag > last_tag:
                elems.append(e)
                last_tag = tag
            else:
                keys = [x.tag for x in elems]
                i = bisect.bisect_left(keys, tag)
                if i < len(elems) and elems[i].tag == tag:
                    DATA.warn(f"DcmItem: Element {tag_text(tag)} found twice in one data set or item, ignoring "
                              "second entry")
                else:
                    DATA.warn(f"DcmItem: Dataset not in ascending tag order, at element {tag_text(tag)}")
                    elems.insert(i, e)
        return elems, pos

    def _normalise(self, e: Elem) -> None:
        """The value as DCMTK has it after loading: strings lose trailing padding and get an even length
        (DcmByteString::postLoadValue / makeDicomByteString); odd OB/UN values get a zero pad byte."""
        vr = e.vr
        length = e.length
        if vr in STRING_VRS:
            pad = 0 if vr == "UI" else 0x20
            buf = self.buf
            n = length
            if n & 1:
                if pad != 0:  # the added zero byte is no padding character: nothing is stripped
                    e.tail = b"\0"
                    e.length = n + 1
                    return
            while n > 0 and buf[e.pos + n - 1] == pad:
                n -= 1
            if n & 1:
                e.used, e.tail, e.length = n, bytes([pad]), n + 1
            else:
                e.used, e.tail, e.length = n, b"", n
        elif (length & 1) and vr in ("OB", "UN", "??", "?2", "ox", "px"):
            e.tail = b"\0"
            e.length = length + 1

    def parse_sequence(self, pos: int, length: int, explicit: bool, little: bool, tag: int):
        items: list[Item] = []
        end = None if length == UNDEFINED else pos + length
        while True:
            if end is not None and pos >= end:
                return items, pos
            if pos >= self.size:
                if items:  # the file ends after an item, before the end of the sequence
                    _end_of_stream_in_sequence(tag)
                return items, pos
            if self.size - pos < 8:
                raise ConditionError(EC_StreamNotifyClient)
            group, elem, ilen = struct.unpack_from("<HHL" if little else ">HHL", self.buf, pos)
            itag = (group << 16) | elem
            if itag == SEQ_DELIM:
                if end is None:
                    return items, pos + 8
                # a sequence delimiter inside an explicit-length sequence: DCMTK ends the sequence here
                return items, pos + 8
            if ilen != UNDEFINED and ilen & 1:
                DATA.warn(f"DcmSequenceOfItems: Length of item in sequence {tag_name(tag)} {tag_text(tag)} is odd")
            if itag != ITEM:
                # (DcmSequenceOfItems::readSubItem: any other tag, delimiters included, ends the reading)
                DATA.error(f"DcmSequenceOfItems: Parse error in sequence {tag_text(tag)}, found {tag_text(itag)} "
                           "instead of sequence delimiter (fffe,e0dd)")
                raise ConditionError(EC_SequDelimitationItemMissing)
            item = Item(pos)
            pos += 8
            if ilen == UNDEFINED:
                item.elems, pos = self.parse_elements(pos, None, explicit, little, False, True)
            else:
                iend = pos + ilen
                if end is not None and iend > end:
                    iend = iend  # DCMTK reads the item as announced
                item.elems, pos = self.parse_elements(pos, iend, explicit, little, False, False)
                pos = max(pos, iend) if pos <= iend else pos
            items.append(item)

    def parse_pixel_items(self, pos: int, little: bool):
        frags: list[tuple[int, int, int]] = []
        while True:
            if pos >= self.size:
                if frags:  # the file ends after an item, before the sequence delimiter
                    _end_of_stream_in_sequence(PIXEL_DATA)
                return frags, pos
            if self.size - pos < 8:
                raise ConditionError(EC_StreamNotifyClient)
            group, elem, ilen = struct.unpack_from("<HHL" if little else ">HHL", self.buf, pos)
            itag = (group << 16) | elem
            if itag == SEQ_DELIM:
                return frags, pos + 8
            if itag != ITEM or ilen == UNDEFINED:
                DATA.warn(f"DcmSequenceOfItems: Parse error in sequence (7fe0,0010), found {tag_text(itag)} instead "
                          "of item tag (fffe,e000)")
                raise ConditionError(EC_SequDelimitationItemMissing)
            if pos + 8 + ilen > self.size:
                self._too_large(ITEM, ilen, pos + 8)
            frags.append((pos, pos + 8, ilen))
            pos += 8 + ilen


def _end_of_stream_in_sequence(tag: int):
    DATA.warn(f"DcmSequenceOfItems: Reached end of stream before the end of sequence {tag_name(tag)} {tag_text(tag)}")
    raise ConditionError(EC_SequDelimitationItemMissing)


def _contains_pixel_data(elems: list[Elem]) -> bool:
    for e in elems:
        if e.tag == PIXEL_DATA:
            return True
        if e.items and any(_contains_pixel_data(it.elems) for it in e.items):
            return True
    return False


def _strip(raw: bytes) -> str:
    return raw.decode("latin-1").rstrip("\0 ").lstrip(" ")


def _uid_value(buf, e: Elem | None, all_values: bool = False) -> str:
    """DCMTK's findAndGetOFString for a UI element: first value, padding removed (``all_values``:
    findAndGetOFStringArray, the whole value)."""
    if e is None or e.items is not None or e.frags is not None or e.length in (0, UNDEFINED):
        return ""
    raw = (bytes(buf[e.pos:e.pos + e.used]) + e.tail).decode("latin-1")  # (the value as loaded, see _normalise)
    first = raw if all_values else raw.split("\\", 1)[0]
    return first.rstrip("\0 ")


def _remove_uid_spaces(buf, e: Elem) -> str | None:
    """DcmUniqueIdentifier's input correction of a UID value that DCMTK reads at send time (SOP Class/Instance UID):
    all spaces removed, padded with a NUL to an even length; returns DCMTK's warning, or None if there were none."""
    if e.vr != "UI" or e.items is not None or e.frags is not None or e.length in (0, UNDEFINED):
        return None
    raw = bytes(buf[e.pos:e.pos + e.used]) + e.tail
    value = raw.translate(None, BLANKS)  # (tabs and line breaks too, all called spaces)
    if value == raw:
        return None
    value = value.rstrip(b"\0")
    if len(value) & 1:
        value += b"\0"
    e.used, e.tail, e.length = 0, value, len(value)
    return (f"DcmUniqueIdentifier: Element {tag_name(e.tag)} {tag_text(e.tag)} contains one or more space characters, "
            "which were removed")


# ---------------------------------------------------------------------------------------------------------------------
# Lengths (calcElementLength with explicit-length sequences).


def _header_len(vr: str, length: int, explicit: bool) -> int:
    if not explicit:
        return 8
    valid = _valid_vr(vr)
    if valid in EXTENDED_VRS or length > 0xFFFF:
        return 12
    return 8


def _calc_len(elems: list[Elem], explicit: bool, writing: bool, memo: dict, native: bool = False) -> int:
    """Sum of calcElementLength of ``elems``.  ``writing``: as computed for writing (padding removed, group
    lengths 4 bytes).  ``native``: in a transfer syntax that is not encapsulated, where DcmPixelData's length of
    encapsulated pixel data (which has no native representation) is 0."""
    total = 0
    for e in elems:
        total += _elem_len(e, explicit, writing, memo, native)
    return total


def _elem_len(e: Elem, explicit: bool, writing: bool, memo: dict, native: bool = False) -> int:
    if writing and e.tag == TRAILING_PADDING:
        return 0
    key = id(e)
    got = memo.get(key)
    if got is not None:
        return got
    if e.items is not None:
        content = 0
        for it in e.items:
            content += 8 + _calc_len(it.elems, explicit, writing, memo, native)
        n = (12 if explicit else 8) + content
    elif e.frags is not None:
        n = 0 if native else (12 if explicit else 8) + sum(8 + f[2] for f in e.frags) + 8
    elif writing and (e.tag & 0xFFFF) == 0 and e.tag != 0:
        n = 12
    else:
        n = _header_len(e.vr, e.length, explicit) + e.length
    memo[key] = n
    return n


# ---------------------------------------------------------------------------------------------------------------------
# Writing: a list of pieces.


class _Pieces:
    """Output under construction: literal bytes and (swapped) ranges of the source."""

    __slots__ = ("parts", "buf")

    def __init__(self, buf):
        self.parts: list = []  # bytes | (pos, n, width) | (pos, n, width, fd of another file)
        self.buf = buf

    def lit(self, data: bytes, src_pos: int | None = None) -> None:
        if src_pos is not None and bytes(self.buf[src_pos:src_pos + len(data)]) == data:
            self.rng(src_pos, len(data))
            return
        if self.parts and isinstance(self.parts[-1], bytearray):
            self.parts[-1] += data
        else:
            self.parts.append(bytearray(data))

    def rng(self, pos: int, n: int, width: int = 1) -> None:
        if n == 0:
            return
        if self.parts:
            last = self.parts[-1]
            if isinstance(last, tuple) and len(last) == 3 and last[2] == width and last[0] + last[1] == pos:
                self.parts[-1] = (last[0], last[1] + n, width)
                return
        self.parts.append((pos, n, width))

    def size(self) -> int:
        return sum(len(p) if isinstance(p, bytearray) else p[1] for p in self.parts)


def _tag_bytes(tag: int, little: bool) -> bytes:
    return struct.pack("<HH" if little else ">HH", tag >> 16, tag & 0xFFFF)


def _elem_header(tag: int, vr: str, length: int, enc: Encoding) -> bytes:
    little = enc.little
    if not enc.explicit:
        return _tag_bytes(tag, little) + struct.pack("<L" if little else ">L", length)
    out_vr = _valid_vr(vr)
    if out_vr not in EXTENDED_VRS and length > 0xFFFF and length != UNDEFINED:
        out_vr = "UN"
    if out_vr in EXTENDED_VRS:
        return _tag_bytes(tag, little) + out_vr.encode() + b"\0\0" + struct.pack("<L" if little else ">L", length)
    return _tag_bytes(tag, little) + out_vr.encode() + struct.pack("<H" if little else ">H", length)


def _emit(out: _Pieces, elems: list[Elem], enc: Encoding, memo: dict) -> None:
    little = enc.little
    i = 0
    n = len(elems)
    while i < n:
        e = elems[i]
        tag = e.tag
        if tag == TRAILING_PADDING:
            i += 1
            continue
        if (tag & 0xFFFF) == 0 and e.items is None and e.frags is None:
            # group length: recalculated over the rest of the group
            group = tag >> 16
            glen = 0
            j = i + 1
            while j < n and (elems[j].tag >> 16) == group:
                glen += _elem_len(elems[j], enc.explicit, True, memo)
                j += 1
            if e.vr not in ("UL", "up"):
                DATA.warn("DcmItem: Group Length with VR other than UL found, corrected")
            hdr = _elem_header(tag, "UL", 4, enc) + struct.pack("<L" if little else ">L", glen)
            out.lit(hdr, e.hdr_pos)
        elif e.items is not None:
            content = sum(8 + _calc_len(it.elems, enc.explicit, True, memo) for it in e.items)
            out.lit(_elem_header(tag, "SQ", content, enc), e.hdr_pos)
            for it in e.items:
                ilen = _calc_len(it.elems, enc.explicit, True, memo)
                out.lit(_tag_bytes(ITEM, little) + struct.pack("<L" if little else ">L", ilen), it.hdr_pos)
                _emit(out, it.elems, enc, memo)
        elif e.frags is not None:
            out.lit(_elem_header(tag, "OB", UNDEFINED, enc), e.hdr_pos)
            for hpos, vpos, flen in e.frags:
                out.lit(_tag_bytes(ITEM, little) + struct.pack("<L" if little else ">L", flen), hpos)
                out.rng(vpos, flen)
            out.lit(_tag_bytes(SEQ_DELIM, little) + b"\0\0\0\0", None)
        elif e.spool is not None:  # a value written by the decompression (little endian, in the spool file)
            out.lit(_elem_header(tag, e.vr, e.length, enc), None)
            if e.length:
                out.parts.append((e.pos, e.length, 1 if little else _SWAP_WIDTH.get(e.vr, 1), e.spool))
        else:
            out.lit(_elem_header(tag, e.vr, e.length, enc), e.hdr_pos)
            width = _SWAP_WIDTH.get(e.vr, 1) if e.little != little else 1
            if width > 1 and e.length % width:
                width = 1 if e.length < width else width
            out.rng(e.pos, e.used, width)
            if e.tail:
                out.lit(e.tail, e.pos + e.used if e.used + len(e.tail) <= e.length else None)
        i += 1


# array type codes of 2, 4 and 8 bytes (array is imported only to swap: it imports collections, ~3 ms)
_SWAP_CODES = {2: "H", 4: "I", 8: "Q"}


class _Reader:
    """What the network code reads a data set's bytes with: ``readinto`` (the subclass's), ``read`` and ``close``."""

    __slots__ = ()
    total: int
    position: int

    def readinto(self, b) -> int:
        raise NotImplementedError

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = self.total - self.position
        b = bytearray(n)
        got = self.readinto(b)
        return bytes(b[:got])

    def close(self) -> None:
        pass


class PiecesReader(_Reader):
    """A read-only binary stream (``readinto``/``read``) over pieces of a source file or buffer."""

    def __init__(self, parts: list, fd: int | None, buf, total: int):
        self._parts = parts
        self._fd = fd
        self._buf = memoryview(buf) if isinstance(buf, bytes) else buf
        self._index = 0
        self._offset = 0
        self.total = total
        self.position = 0

    def readable(self) -> bool:
        return True

    def in_memory(self):
        """The whole stream as one memoryview when it is one unswapped range of an in-memory buffer (a small file
        sent as it is), else None."""
        parts = self._parts
        if len(parts) != 1 or self.position:
            return None
        part = parts[0]
        if isinstance(part, (bytes, bytearray)):
            return memoryview(part)
        if self._fd is not None or len(part) > 3 or part[2] != 1 or not isinstance(self._buf, memoryview):
            return None
        return self._buf[part[0]:part[0] + part[1]]

    def readinto(self, b) -> int:
        view = memoryview(b).cast("B")
        want = len(view)
        done = 0
        while done < want and self._index < len(self._parts):
            part = self._parts[self._index]
            if isinstance(part, (bytes, bytearray)):
                plen = len(part)
                k = min(plen - self._offset, want - done)
                view[done:done + k] = part[self._offset:self._offset + k]
            else:
                pos, plen, width = part[:3]
                fd = part[3] if len(part) > 3 else self._fd
                k = min(plen - self._offset, want - done)
                if width > 1:
                    # keep whole values together for swapping
                    start = self._offset
                    stop = start + k
                    k = (stop // width) * width - start if stop < plen else k
                    if k <= 0:
                        k = min(width, plen - start)
                        if done + k > want:
                            break
                self._copy(view, done, pos + self._offset, k, width, fd)
            done += k
            self._offset += k
            if self._offset >= plen:
                self._index += 1
                self._offset = 0
        self.position += done
        return done

    def _copy(self, view, at: int, src: int, k: int, width: int, fd: int | None) -> None:
        if fd is not None:
            got = 0
            while got < k:
                chunk = os.preadv(fd, [view[at + got:at + k]], src + got)
                if chunk <= 0:
                    raise ConditionError(EC_StreamNotifyClient)
                got += chunk
        else:
            view[at:at + k] = self._buf[src:src + k]
        if width > 1:
            import array

            values = array.array(_SWAP_CODES[width])
            values.frombytes(view[at:at + k])
            values.byteswap()
            view[at:at + k] = memoryview(values).cast("B")



class _FileRangeReader(_Reader):
    """PiecesReader for one range of a file (the common case of a large file sent as it is): one ``preadv`` per
    call, straight into the caller's buffer."""

    __slots__ = ("_fd", "_pos", "total", "position")

    def __init__(self, fd: int, pos: int, total: int):
        self._fd = fd
        self._pos = pos
        self.total = total
        self.position = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:
        want = min(len(b), self.total - self.position)
        if want <= 0:
            return 0
        view = b if want == len(b) else memoryview(b)[:want]
        got = 0
        while got < want:
            n = os.preadv(self._fd, [view[got:] if got else view], self._pos + self.position + got)
            if n <= 0:
                raise ConditionError(EC_StreamNotifyClient)
            got += n
        self.position += got
        return got

    def readv(self, views: list) -> int:
        """Fill the buffers ``views`` in order with one ``preadv``; the bytes read (fewer only at the end)."""
        want = 0
        for v in views:
            want += len(v)
        if want > self.total - self.position:
            got = 0
            for v in views:  # (the end of the range comes within these buffers)
                n = self.readinto(v)
                got += n
                if n < len(v):
                    break
            return got
        n = os.preadv(self._fd, views, self._pos + self.position)
        if n <= 0:
            raise ConditionError(EC_StreamNotifyClient)
        self.position += n
        if n < want:  # a short read (rare): the rest buffer by buffer
            skip = n
            for v in views:
                if skip >= len(v):
                    skip -= len(v)
                    continue
                n += self.readinto(v[skip:])
                skip = 0
        return n

