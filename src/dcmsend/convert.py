"""The data-set side of sending: load an instance as DCMTK's ``DcmFileFormat::loadFile`` does, report its size as
``DcmDataset::calcElementLength`` does, and produce the bytes the DIMSE layer of DCMTK 3.6.7 puts on the wire.

DCMTK writes a data set for the network with explicit-length sequences and items, existing group length elements
recalculated (none added), all Data Set Trailing Padding (FFFC,FFFC) elements removed, elements in tag order, and the
encapsulated Pixel Data always with undefined length.  A Deflated data set is deflated again (raw zlib stream, level
``+cl``) and padded to an even length.

The implementation is a small header walker over the data set (memory-mapped file, values are skipped, never read):
it gives the UIDs, the dataset size and a list of *pieces* (literal header bytes and byte ranges of the source) that
make up the encoded data set in the wanted transfer syntax.  For the common case (network TS equal to the file's TS,
data set already written the way DCMTK writes it) the pieces collapse into a single range of the file, which is
streamed with ``os.pread``.  Changes between the uncompressed syntaxes (implicit/explicit VR, byte order) are done by
the walker too (VRs of implicit data sets come from the data dictionary, values of multi-byte VRs are byte-swapped).
Only decompression of encapsulated pixel data uses pydicom (and its pixel data plugins).
"""

from __future__ import annotations

import array
import bisect
import mmap
import os
import stat
import struct
import sys
import zlib

from dcmsend import collect, dataset, dictionary, uids
from dcmsend.exitcodes import Condition, ConditionError
from dcmsend.log import DATA
from dcmsend.log import DEBUG as DEBUG_LEVEL

# ---------------------------------------------------------------------------------------------------------------------
# DCMTK conditions (module OFM_dcmdata = 1) used while reading.

_DCMDATA = 1
_DCMJPEG = 18
EC_InvalidStream = Condition(_DCMDATA, 4, "Invalid stream")
EC_StreamNotifyClient = Condition(_DCMDATA, 10, "I/O suspension or premature end of stream")
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

# VRs DCMTK knows as standard; the ones with a 4-byte length field in explicit VR.
STANDARD_VRS = frozenset(
    "AE AS AT CS DA DS DT FL FD IS LO LT OB OD OF OL OV OW PN SH SL SQ SS ST SV TM UC UI UL UR US UT UV UN".split())
EXTENDED_VRS = frozenset("OB OD OF OL OV OW SQ SV UC UR UT UN UV".split())
STRING_VRS = frozenset("AE AS CS DA DS DT IS LO LT PN SH ST TM UC UI UR UT".split())
# Non-standard (DCMTK internal) VRs and the VR written for them (DcmVR::getValidEVR).
_VALID_VR = {"xs": "US", "lt": "OW", "ox": "OB", "px": "OB", "up": "UL", "??": "UN", "?2": "UN", "na": "UN"}
_LOWER_VRS = frozenset(["ox", "px", "xs", "lt", "na", "up", "pi"])
# Byte width of one value for the byte-order change (1: no swapping).
_SWAP_WIDTH = {"AT": 2, "OW": 2, "SS": 2, "US": 2, "xs": 2, "lt": 2, "FL": 4, "OF": 4, "OL": 4, "SL": 4, "UL": 4,
               "up": 4, "FD": 8, "OD": 8, "OV": 8, "SV": 8, "UV": 8}
# Value width used by DCMTK's "Length of element ... is not a multiple of" warning (fixed-size VRs > 1 byte).
_VALUE_WIDTH = {"AT": 2, "OW": 2, "SS": 2, "US": 2, "FL": 4, "OF": 4, "OL": 4, "SL": 4, "UL": 4, "FD": 8, "OD": 8,
                "OV": 8, "SV": 8, "UV": 8}
# ZeroVelocityPixelValue is (0018,9812); PixelPaddingRangeLimit (0028,0121); Histogram First/Last Bin (0060,3004/6)
_XS_PIXREP_TAGS = frozenset([0x00280120, 0x00280121, 0x00603004, 0x00603006, 0x00189812, 0x00280106, 0x00280107,
                             0x00280108, 0x00280109, 0x00283002, 0x00409211, 0x00409216])
# WaveformData (5400,1010), WaveformPaddingValue (5400,100A), ChannelMinimumValue (003A,0220), ChannelMaximumValue
# (003A,0221)
_WAVEFORM_OX_TAGS = frozenset([0x54001010, 0x5400100A, 0x003A0220, 0x003A0221])


def _valid_vr(vr: str) -> str:
    return vr if vr in STANDARD_VRS else _VALID_VR.get(vr, "UN")


tag_text = dictionary.tag_text


def tag_name(tag: int, creator: str | None = None) -> str:
    """The attribute name DCMTK prints (from its own data dictionary)."""
    return dictionary.tag_name(tag, creator)


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
                width = _VALUE_WIDTH.get(vr, 1)
                if width > 1 and length % width:
                    DATA.warn(f"DcmItem: Length of element {tag_text(tag)} is not a multiple of {width} (VR={vr})")
            if extended and length != UNDEFINED:
                width = _VALUE_WIDTH.get(vr, 1)
                if width > 1 and length % width:
                    DATA.warn(f"DcmItem: Length of element {tag_text(tag)} is not a multiple of {width} (VR={vr})")
            elif extended and length == UNDEFINED and _VALUE_WIDTH.get(vr, 1) > 1:
                DATA.warn(f"DcmItem: Length of element {tag_text(tag)} is not a multiple of "
                          f"{_VALUE_WIDTH[vr]} (VR={vr})")
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


def _uid_value(buf, e: Elem | None) -> str:
    """DCMTK's findAndGetOFString for a UI element: first value, padding removed."""
    if e is None or e.items is not None or e.frags is not None or e.length in (0, UNDEFINED):
        return ""
    raw = (bytes(buf[e.pos:e.pos + e.used]) + e.tail).decode("latin-1")  # (the value as loaded, see _normalise)
    first = raw.split("\\", 1)[0]
    return first.rstrip("\0 ")


def _remove_uid_spaces(buf, e: Elem) -> str | None:
    """DcmUniqueIdentifier's input correction of a UID value that DCMTK reads at send time (SOP Class/Instance UID):
    all spaces removed, padded with a NUL to an even length; returns DCMTK's warning, or None if there were none."""
    if e.vr != "UI" or e.items is not None or e.frags is not None or e.length in (0, UNDEFINED):
        return None
    raw = bytes(buf[e.pos:e.pos + e.used]) + e.tail
    value = raw.translate(None, collect.BLANKS)  # (tabs and line breaks too, all called spaces)
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


def _calc_len(elems: list[Elem], explicit: bool, writing: bool, memo: dict) -> int:
    """Sum of calcElementLength of ``elems``.  ``writing``: as computed for writing (padding removed, group
    lengths 4 bytes)."""
    total = 0
    for e in elems:
        total += _elem_len(e, explicit, writing, memo)
    return total


def _elem_len(e: Elem, explicit: bool, writing: bool, memo: dict) -> int:
    if writing and e.tag == TRAILING_PADDING:
        return 0
    key = id(e)
    got = memo.get(key)
    if got is not None:
        return got
    if e.items is not None:
        content = 0
        for it in e.items:
            content += 8 + _calc_len(it.elems, explicit, writing, memo)
        n = (12 if explicit else 8) + content
    elif e.frags is not None:
        n = (12 if explicit else 8) + sum(8 + f[2] for f in e.frags) + 8
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


_SWAP_CODES = {array.array(code).itemsize: code for code in "HILQ"}


class PiecesReader:
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
            values = array.array(_SWAP_CODES[width])
            values.frombytes(view[at:at + k])
            values.byteswap()
            view[at:at + k] = memoryview(values).cast("B")

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = self.total - self.position
        b = bytearray(n)
        got = self.readinto(b)
        return bytes(b[:got])

    def close(self) -> None:
        pass


class _FileRangeReader:
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

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = self.total - self.position
        b = bytearray(n)
        got = self.readinto(b)
        return bytes(b[:got])

    def close(self) -> None:
        pass


# ---------------------------------------------------------------------------------------------------------------------
# Decompression of encapsulated pixel data, frame by frame, into a spool file.
#
# The JPEG (processes 1, 2+4, 6+8, 10+12, 14, SV1), JPEG-LS and RLE paths follow DCMTK 3.6.7's decoders (dcmsend
# registers them with their defaults): which attributes change and how, colour conversion only for the YBR_FULL,
# YBR_FULL_422 and YBR_PARTIAL_422 photometric interpretations (libjpeg's integer YCbCr -> RGB), the planar
# configuration, the number of frames.  JPEG is decoded with libjpeg-turbo (imagecodecs) where it is installed: it
# has the same "islow" IDCT and fancy upsampling as DCMTK's IJG 6b, so the pixel values are DCMTK's bit for bit;
# without it pylibjpeg-libjpeg decodes (lossy pixel values may then differ by one).  JPEG 2000 and HTJ2K (which
# DCMTK 3.6.7 cannot decode) go through pydicom's decoders (pylibjpeg-openjpeg), as pydicom's decompress() does.

JPEG_DCT = frozenset(uids._J + n for n in ("50", "51", "53", "55"))
JPEG_LOSSLESS = frozenset(uids._J + n for n in ("57", "70"))
JPEG_LS = frozenset(uids._J + n for n in ("80", "81"))
RLE = "1.2.840.10008.1.2.5"
JPEG_2000 = frozenset(uids._J + n for n in ("90", "91"))
HTJ2K = frozenset(uids._J + n for n in ("201", "202", "203"))  # unknown to DCMTK 3.6.7

_HARDCOPY_COLOR = "1.2.840.10008.5.1.1.30"
_US_CLASSES = frozenset(["1.2.840.10008.5.1.4.1.1.3.1", "1.2.840.10008.5.1.4.1.1.6.1"])
_YBR_JPEG = frozenset(["YBR_FULL", "YBR_FULL_422", "YBR_PARTIAL_422"])  # DCMTK's isYBR

ROWS, COLUMNS, SAMPLES, PHOTOMETRIC, PLANAR = 0x00280010, 0x00280011, 0x00280002, 0x00280004, 0x00280006
FRAMES, BITS_ALLOCATED, BITS_STORED, HIGH_BIT = 0x00280008, 0x00280100, 0x00280101, 0x00280102
LOSSY_COMPRESSION = 0x00282110


def _pydicom_decodable(ts_uid: str) -> bool:
    try:
        from pydicom.pixels.decoders.base import get_decoder
        return bool(get_decoder(ts_uid).is_available)
    except Exception:
        return False


def _memoized(func):
    """``functools.lru_cache(maxsize=None)`` for the decoder questions below, without importing functools (it
    brings collections and more: milliseconds at start-up)."""
    cache: dict = {}

    def wrapper(*args):
        try:
            return cache[args]
        except KeyError:
            value = cache[args] = func(*args)
            return value

    wrapper.__name__, wrapper.__doc__, wrapper.__wrapped__ = func.__name__, func.__doc__, func
    wrapper.cache_clear = cache.clear
    return wrapper


@_memoized
def _ijg_available() -> str | None:
    """The JPEG decoder used for the DCT and lossless JPEG processes: 'turbo' (imagecodecs), 'libjpeg' or None."""
    from importlib.util import find_spec

    if find_spec("imagecodecs") is not None:
        return "turbo"
    if find_spec("libjpeg") is not None:  # pylibjpeg-libjpeg
        return "libjpeg"
    return None


@_memoized
def can_decode(ts_uid: str) -> bool:
    """Whether our decoders turn pixel data encapsulated in ``ts_uid`` into native pixel data."""
    if ts_uid in JPEG_DCT or ts_uid in JPEG_LOSSLESS:
        return _ijg_available() is not None
    if ts_uid == RLE:
        # pylibjpeg-rle (a dependency), else pydicom's own RLE decoder (numpy): asked without importing pydicom
        return True
    if ts_uid in JPEG_LS or ts_uid in JPEG_2000 or ts_uid in HTJ2K:
        return _pydicom_decodable(ts_uid)
    return False


def decodable_syntaxes() -> list[str]:
    """UIDs of the compressed transfer syntaxes (in DCMTK's table order) that an instance can be converted from to
    a native one: Deflated (zlib) and those with a pixel data decoder.  Shared by planning (plan.can_decompress)
    and ``--list-decoders``.  (HTJ2K decodes too, but DCMTK 3.6.7 does not know these syntaxes.)"""
    out = []
    for ts in uids.TRANSFER_SYNTAXES.values():
        if ts.deflated and ts.uid != "1.2.840.10008.1.2.4.95":
            out.append(ts.uid)
        elif ts.encapsulated and can_decode(ts.uid):
            out.append(ts.uid)
    return out


class _Image:
    """The Image Pixel attributes of the top-level data set, read as DCMTK's findAndGet* functions do."""

    def __init__(self, elems: list[Elem], buf):
        self.top = {e.tag: e for e in elems}
        self.buf = buf
        self.rows = self.us(ROWS)
        self.columns = self.us(COLUMNS)
        self.samples = self.us(SAMPLES)
        self.bits_allocated = self.us(BITS_ALLOCATED)
        self.bits_stored = self.us(BITS_STORED)
        self.high_bit = self.us(HIGH_BIT)
        self.pixel_representation = self.us(PIXEL_REPRESENTATION) or 0
        self.planar = self.us(PLANAR)
        self.photometric = self.text(PHOTOMETRIC) or ""
        self.sop_class = self.text(SOP_CLASS_UID) or ""
        self.frames_present = False
        self.frames = None
        raw = self.text(FRAMES)
        if raw:
            try:
                self.frames = int(raw.split("\\")[0].strip())
                self.frames_present = True
            except ValueError:
                pass

    def us(self, tag: int) -> int | None:
        e = self.top.get(tag)
        if e is None or e.items is not None or e.frags is not None or e.length < 2 or e.length == UNDEFINED:
            return None
        return struct.unpack_from("<H" if e.little else ">H", self.buf, e.pos)[0]

    def text(self, tag: int) -> str | None:
        e = self.top.get(tag)
        if e is None or e.items is not None or e.frags is not None or e.length == UNDEFINED:
            return None
        return _strip(bytes(self.buf[e.pos:e.pos + e.used]))

    def require(self, *names: str) -> None:
        for name in names:
            if getattr(self, name) is None:
                raise ConditionError(EC_TagNotFound)


EC_TagNotFound = Condition(_DCMDATA, 7, "Tag Not Found")


def _frame_groups(buf, frags: list[tuple[int, int, int]], frames: int) -> list[list[tuple[int, int, int]]]:
    """The fragments of each frame: all of them for one frame, one each if there are as many as frames, else by the
    Basic Offset Table, else up to each fragment that ends a JPEG / JPEG-LS / J2K code stream (marker FFD9)."""
    items = frags[1:]
    if frames == 1:
        return [items]
    if len(items) == frames:
        return [[it] for it in items]
    bot_pos, bot_len = frags[0][1], frags[0][2]
    groups: list[list[tuple[int, int, int]]] = []
    if bot_len >= 4 * frames:
        offsets = struct.unpack_from(f"<{frames}L", buf, bot_pos)
        first = items[0][0]
        starts = {off: i for i, off in enumerate(offsets)}
        for it in items:
            if it[0] - first in starts or not groups:
                groups.append([])
            groups[-1].append(it)
    else:
        current: list[tuple[int, int, int]] = []
        for it in items:
            current.append(it)
            tail = bytes(buf[max(it[1], it[1] + it[2] - 4):it[1] + it[2]]).rstrip(b"\0")
            if tail.endswith(b"\xff\xd9"):
                groups.append(current)
                current = []
        if current:
            groups.append(current)
    if len(groups) < frames:
        raise ConditionError(EC_CannotChangeRepresentation)
    return groups[:frames]


def _frame_data(buf, group: list[tuple[int, int, int]]) -> bytes:
    """The code stream of one frame (its fragments joined).  The file pages read are given back afterwards (they
    are clean, file-backed pages: dropping them keeps the resident size at about one frame)."""
    data = b"".join(bytes(buf[v:v + n]) for _, v, n in group)
    if isinstance(buf, mmap.mmap) and group and hasattr(buf, "madvise"):
        start = (group[0][0] // mmap.PAGESIZE) * mmap.PAGESIZE
        stop = min(len(buf), group[-1][1] + group[-1][2])
        try:
            buf.madvise(mmap.MADV_DONTNEED, start, stop - start)
        except (OSError, ValueError, AttributeError):
            pass
    return data


_SOF_MARKERS = frozenset([0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF])


def _dcmtk_bit_depth(data: bytes) -> int:
    """DCMTK's DJCodecDecoder::scanJpegDataForBitDepth: the precision of the first SOF marker, 0 if there is none
    or an invalid marker comes first (logged as DCMTK does)."""
    pos, n = 0, len(data)
    while pos + 4 < n:
        if data[pos] != 0xFF:
            marker = -1
        else:
            marker = data[pos + 1]
        if marker in _SOF_MARKERS:
            return data[pos + 4]
        if marker == 0xFF:
            pos += 1
        elif marker in (0xD8, 0xD9) or 0xD0 <= marker <= 0xD7:
            pos += 2
        elif marker in (0xC4, 0xC8, 0xCC) or 0xDA <= marker <= 0xDF or 0xE0 <= marker <= 0xFE:
            pos += ((data[pos + 2] << 8) | data[pos + 3]) + 2
        elif marker == 0x01 or 2 < marker <= 0xBF:  # TEM (DCMTK would loop here), reserved markers
            pos += 2
        else:
            DATA.error(f"found invalid marker in JPEG stream while scanning for bit depth: 0x{data[pos]:02x}"
                       f"{data[pos + 1]:02x}")
            return 0
    return 0


def _ijg_trace(data: bytes) -> None:
    """The messages DCMTK's IJG decoders log while reading a JPEG stream's markers (libjpeg 6b's jdmarker.c trace
    messages: level 1 at DEBUG, higher levels at TRACE; its warnings about invalid SOS parameters at WARN)."""
    from dcmsend.log import TRACE

    debug, trace = DATA.enabled(DEBUG_LEVEL), DATA.enabled(TRACE)
    pos, n = 0, len(data)
    sof = 0
    first_sos = True
    jfif = adobe = False
    transform = 0
    ids: list[int] = []

    def u16(p):
        return (data[p] << 8) | data[p + 1] if p + 1 < n else 0

    while pos + 1 < n:
        if data[pos] != 0xFF:
            pos += 1
            continue
        marker = data[pos + 1]
        if marker == 0xFF or marker == 0x00:
            pos += 1
            continue
        if 0xD0 <= marker <= 0xD7:
            if trace:
                DATA.trace(f"RST{marker - 0xD0}")
            pos += 2
            continue
        if marker == 0xD8:
            if debug:
                DATA.debug("Start of Image")
            pos += 2
            continue
        if marker == 0xD9:
            if debug:
                DATA.debug("End Of Image")
            return
        length = u16(pos + 2)
        body = data[pos + 4:pos + 2 + length]
        end = pos + 2 + length
        if marker in _SOF_MARKERS and len(body) >= 6:
            sof = marker
            nc = body[5]
            if debug:
                DATA.debug(f"Start Of Frame 0x{marker:02x}: width={(body[3] << 8) | body[4]}, "
                           f"height={(body[1] << 8) | body[2]}, components={nc}")
            for c in range(nc):
                q = 6 + 3 * c
                if q + 2 < len(body):
                    ids.append(body[q])
                    if debug:
                        DATA.debug(f"    Component {body[q]}: {body[q + 1] >> 4}hx{body[q + 1] & 15}v q={body[q + 2]}")
        elif marker == 0xC4:
            q = 0
            while q + 17 <= len(body):
                counts = list(body[q + 1:q + 17])
                if debug:
                    DATA.debug(f"Define Huffman Table 0x{body[q]:02x}")
                if trace:
                    DATA.trace("        " + " ".join(f"{c:3d}" for c in counts[:8]))
                    DATA.trace("        " + " ".join(f"{c:3d}" for c in counts[8:]))
                q += 17 + sum(counts)
        elif marker == 0xDB:
            q = 0
            while q < len(body):
                prec, index = body[q] >> 4, body[q] & 15
                if debug:
                    DATA.debug(f"Define Quantization Table {index}  precision {prec}")
                width = 2 if prec else 1  # (its values are traced only with libjpeg's trace_level >= 2: not here)
                q += 1 + 64 * width
        elif marker == 0xDD and len(body) >= 2:
            if debug:
                DATA.debug(f"Define Restart Interval {(body[0] << 8) | body[1]}")
        elif marker == 0xCC:
            for q in range(0, len(body) - 1, 2):
                if debug:
                    DATA.debug(f"Define Arithmetic Table 0x{body[q]:02x}: 0x{body[q + 1]:02x}")
        elif marker == 0xE0:
            total = length - 2
            if len(body) >= 14 and body[:5] == b"JFIF\0":
                jfif = True
                if body[5] != 1:
                    DATA.warn(f"Warning: unknown JFIF revision number {body[5]}.{body[6]:02d}")
                if debug:
                    DATA.debug(f"JFIF APP0 marker: version {body[5]}.{body[6]:02d}, density "
                               f"{(body[8] << 8) | body[9]}x{(body[10] << 8) | body[11]}  {body[7]}")
                    if body[12] or body[13]:
                        DATA.debug(f"    with {body[12]} x {body[13]} thumbnail image")
                    if total - 14 != body[12] * body[13] * 3:
                        DATA.debug(f"Warning: thumbnail image size does not match data length {total - 14}")
            elif len(body) >= 6 and body[:5] == b"JFXX\0":
                kind = {0x10: "JPEG-compressed thumbnail image", 0x11: "palette thumbnail image",
                        0x13: "RGB thumbnail image"}.get(body[5])
                if debug:
                    DATA.debug(f"JFIF extension marker: {kind}, length {total}" if kind else
                               f"JFIF extension marker: type 0x{body[5]:02x}, length {total}")
            elif debug:
                DATA.debug(f"Unknown APP0 marker (not JFIF), length {total}")
        elif marker == 0xEE:
            if len(body) >= 12 and body[:5] == b"Adobe":
                adobe, transform = True, body[11]
                if debug:
                    DATA.debug(f"Adobe APP14 marker: version {(body[5] << 8) | body[6]}, flags "
                               f"0x{(body[7] << 8) | body[8]:04x} 0x{(body[9] << 8) | body[10]:04x}, "
                               f"transform {body[11]}")
            elif debug:
                DATA.debug(f"Unknown APP14 marker (not Adobe), length {length - 2}")
        elif marker == 0xDA and body:
            ns = body[0]
            if debug:
                DATA.debug(f"Start Of Scan: {ns} components")
                for c in range(ns):
                    q = 1 + 2 * c
                    if q + 1 < len(body):
                        DATA.debug(f"    Component {body[q]}: dc={body[q + 1] >> 4} ac={body[q + 1] & 15}")
            q = 1 + 2 * ns
            if q + 2 < len(body):
                ss, se, ah, al = body[q], body[q + 1], body[q + 2] >> 4, body[q + 2] & 15
                if debug:
                    DATA.debug(f"  Ss={ss}, Se={se}, Ah={ah}, Al={al}")
                if sof in (0xC0, 0xC1) and (ss != 0 or se != 63 or ah != 0 or al != 0):
                    DATA.warn("Invalid SOS parameters for sequential JPEG")
            if first_sos:
                first_sos = False
                if len(ids) == 3 and not jfif:
                    if adobe and transform not in (0, 1):
                        DATA.warn(f"Unknown Adobe color transform code {transform}")
                    elif not adobe and ids != [1, 2, 3] and ids != [82, 71, 66] and debug:
                        # (DCMTK's lossless-enabled libjpeg assumes RGB for the lossless processes)
                        model = "RGB" if sof in (0xC3, 0xC7, 0xCB, 0xCF) else "YCbCr"
                        DATA.debug(f"Unrecognized component IDs {ids[0]} {ids[1]} {ids[2]}, assuming {model}")
            # the entropy-coded data: up to the next marker other than RSTn
            pos = end
            while pos + 1 < n:
                if data[pos] == 0xFF and data[pos + 1] != 0x00 and not 0xD0 <= data[pos + 1] <= 0xD7 and \
                        data[pos + 1] != 0xFF:
                    break
                if data[pos] == 0xFF and 0xD0 <= data[pos + 1] <= 0xD7:
                    if trace:
                        DATA.trace(f"RST{data[pos + 1] - 0xD0}")
                    pos += 2
                    continue
                pos += 1
            continue
        elif debug and (0xE1 <= marker <= 0xEF or marker == 0xFE):
            DATA.debug(f"Skipping marker 0x{marker:02x}, length {length - 2}")
        pos = end


def _ycc_to_rgb(arr, precision: int):
    """libjpeg's integer YCbCr -> RGB conversion (jdcolor.c), for the libjpeg fallback."""
    import numpy as np

    center, top = 1 << (precision - 1), (1 << precision) - 1
    y, cb, cr = (arr[..., i].astype(np.int64) for i in range(3))
    cb, cr = cb - center, cr - center
    half = 1 << 15

    def fix(x):
        return int(x * 65536 + 0.5)

    r = y + ((fix(1.40200) * cr + half) >> 16)
    g = y + ((-fix(0.34414) * cb + half - fix(0.71414) * cr) >> 16)
    b = y + ((fix(1.77200) * cb + half) >> 16)
    return np.clip(np.stack([r, g, b], axis=-1), 0, top).astype(arr.dtype)


def _decode_jpeg(data: bytes, convert: bool, samples: int, precision: int):

    if _ijg_available() == "turbo":
        import imagecodecs
        if samples == 3:
            cs = ("YCBCR", "RGB") if convert else ("RGB", "RGB")
            return imagecodecs.jpeg8_decode(data, colorspace=cs[0], outcolorspace=cs[1])
        return imagecodecs.jpeg8_decode(data)
    import libjpeg
    arr = libjpeg.decode(data)
    if convert and arr.ndim == 3 and arr.shape[2] == 3:
        arr = _ycc_to_rgb(arr, precision)
    return arr


class _Updates:
    """Attribute values the decoder sets (DCMTK's putAndInsert*), as little endian values in the spool file."""

    def __init__(self):
        self.values: dict[int, tuple[str, bytes]] = {}

    def us(self, tag: int, value: int) -> None:
        self.values[tag] = ("US", struct.pack("<H", value))

    def text(self, tag: int, vr: str, value: str) -> None:
        raw = value.encode("latin-1")
        self.values[tag] = (vr, raw + b" " if len(raw) & 1 else raw)


def _requires_planar(sop_class: str, color_model: str) -> bool:
    """DCMTK's requiresPlanarConfiguration / determinePlanarConfiguration."""
    if sop_class == _HARDCOPY_COLOR:
        return True
    return color_model == "YBR_FULL" and sop_class in _US_CLASSES


def _frames_of(image: _Image, frags) -> int:
    frames = image.frames if image.frames is not None else 1
    if frames >= len(frags):
        frames = len(frags) - 1
    return max(frames, 1)


def _spool_frames(spool, chunks) -> int:
    total = 0
    for chunk in chunks:
        spool.write(chunk)
        total += len(chunk)
    if total & 1:
        spool.write(b"\0")
        total += 1
    return total


def _decompress_jpeg(ts_uid: str, image: _Image, buf, frags, spool, updates: _Updates) -> int:
    """DCMTK's DJCodecDecoder::decode (JPEG processes 1, 2+4, 6+8, 10+12, 14, SV1)."""
    import numpy as np

    image.require("samples", "rows", "columns", "bits_allocated", "bits_stored", "high_bit")
    frames = _frames_of(image, frags)
    groups = _frame_groups(buf, frags, frames)
    pi = image.photometric.upper()
    is_ybr = pi in _YBR_JPEG
    signed = image.pixel_representation != 0
    first = bytes(buf[frags[1][1]:frags[1][1] + frags[1][2]]) if len(frags) > 1 else b""
    precision = _dcmtk_bit_depth(first)
    if precision == 0:
        raise ConditionError(EC_CannotChangeRepresentation)
    if is_ybr and image.bits_stored < image.bits_allocated:
        DATA.warn("BitsStored < BitsAllocated for JPEG compressed image with YCbCr color model, color space "
                  "conversion will probably not work properly")
        DATA.debug("workaround: use option --conv-never (for command line tools) or EDC_never (for the "
                   "DJDecoderRegistration::registerCodecs() call)")
    convert = is_ybr and image.samples == 3
    if convert and signed:
        raise ConditionError(EC_CannotChangeRepresentation)
    width = 2 if precision > 8 else 1
    frame_size = width * image.rows * image.columns * image.samples
    color_model = "RGB" if convert else ("YBR_FULL" if pi in ("YBR_FULL_422", "YBR_PARTIAL_422") else pi)
    planar = image.samples == 3 and _requires_planar(image.sop_class, color_model)

    def chunks():
        for group in groups:
            data = _frame_data(buf, group)
            _ijg_trace(data)
            try:
                arr = _decode_jpeg(data, convert, image.samples, precision)
            except Exception as exc:
                if type(exc).__name__ != "Jpeg8Error":
                    raise
                # libjpeg's message, as DCMTK's IJG error conditions carry it (module dcmjpeg, code per precision)
                code = 0x0105 if precision > 12 else 0x0103 if precision > 8 else 0x0101
                raise ConditionError(Condition(_DCMJPEG, code, str(exc))) from None
            arr = np.ascontiguousarray(arr, dtype="<u2" if width == 2 else "u1")
            if planar and arr.ndim == 3:
                arr = np.ascontiguousarray(arr.transpose(2, 0, 1))
            raw = arr.tobytes()
            if len(raw) > frame_size:
                raise ConditionError(EC_CannotChangeRepresentation)
            yield raw + bytes(frame_size - len(raw))

    total = _spool_frames(spool, chunks())
    samples = image.samples
    if color_model == "MONOCHROME2":
        updates.text(PHOTOMETRIC, "CS", "MONOCHROME2")
        samples = 1
        updates.us(SAMPLES, 1)
    elif color_model in ("YBR_FULL", "RGB"):
        updates.text(PHOTOMETRIC, "CS", color_model)
        samples = 3
        updates.us(SAMPLES, 3)
    updates.us(BITS_ALLOCATED, 16 if precision > 8 else 8)
    if samples > 1:
        updates.us(PLANAR, 1 if planar else 0)
    if image.bits_stored > precision:
        updates.us(BITS_STORED, precision)
    if image.high_bit >= precision:
        updates.us(HIGH_BIT, precision - 1)
    if image.frames_present or frames > 1:
        updates.text(FRAMES, "IS", str(frames))
    if ts_uid in JPEG_DCT:
        updates.text(LOSSY_COMPRESSION, "CS", "01")
    return total


def _pydicom_frames(ts_uid: str, image: _Image, groups, buf, bits_allocated: int, announce=None):
    """Decode frame by frame with pydicom's decoder for ``ts_uid``: yields (array (rows, columns[, samples]),
    pixel properties)."""
    from pydicom.pixels.decoders.base import get_decoder

    decoder = get_decoder(ts_uid)
    opts = dict(rows=image.rows, columns=image.columns, samples_per_pixel=image.samples,
                bits_allocated=bits_allocated, bits_stored=image.bits_stored,
                pixel_representation=image.pixel_representation,
                photometric_interpretation=image.photometric or "MONOCHROME2", number_of_frames=1,
                pixel_keyword="PixelData")
    if image.samples > 1:
        opts["planar_configuration"] = image.planar if image.planar in (0, 1) else 0
    item = 1  # the pixel item index (0 is the offset table)
    for index, group in enumerate(groups):
        if announce is not None:
            announce(index, item, len(group))
        item += len(group)
        data = _frame_data(buf, group)
        if len(data) & 1:
            data += b"\0"
        src = struct.pack("<HHL", 0xFFFE, 0xE000, 0) + struct.pack("<HHL", 0xFFFE, 0xE000, len(data)) + data
        yield from decoder.iter_array(src, raw=True, **opts)


def _native_bytes(arr, bits_allocated: int, planar: bool) -> bytes:
    import numpy as np

    width = max(1, (bits_allocated + 7) // 8)
    kind = "i" if arr.dtype.kind == "i" else "u"
    arr = np.ascontiguousarray(arr, dtype=f"<{kind}{width}" if width > 1 else f"{kind}1")
    if planar and arr.ndim == 3:
        arr = np.ascontiguousarray(arr.transpose(2, 0, 1))
    return arr.tobytes()


def _decompress_jpeg_ls(ts_uid: str, image: _Image, buf, frags, spool, updates: _Updates) -> int:
    """DCMTK's DJLSDecoderBase::decode (dcmjpls, planar configuration mode "restore")."""
    import numpy as np

    image.require("samples", "rows", "columns", "bits_stored", "bits_allocated", "high_bit")
    if image.samples not in (1, 3) or image.rows < 1 or image.columns < 1 or not 1 <= image.bits_stored <= 16:
        raise ConditionError(EC_CannotChangeRepresentation)
    frames = _frames_of(image, frags)
    groups = _frame_groups(buf, frags, frames)
    width = 2 if image.bits_stored > 8 or image.bits_allocated > 8 else 1
    planar = 0
    if image.samples > 1:
        value = image.planar if image.planar is not None else 2
        if image.planar is not None and value != 0:
            DATA.warn('invalid value for PlanarConfiguration (0028,0006), should be "0"')
        planar = value if value <= 1 else (1 if _requires_planar(image.sop_class, image.photometric) else 0)
    mask = (1 << image.bits_stored) - 1

    def chunks():
        def announce(index, item, count):
            DATA.debug(f"JPEG-LS decoder processes frame {index + 1}")

        for arr, _ in _pydicom_frames(ts_uid, image, groups, buf, 8 * width, announce):
            if image.pixel_representation:
                arr = arr.astype(np.int64) & mask  # the raw sample bits, as CharLS gives them
            yield _native_bytes(arr.astype(f"u{width}") if arr.dtype.kind == "i" or width == 1 else arr,
                                8 * width, planar == 1)

    total = _spool_frames(spool, chunks())
    if image.samples > 1:
        updates.us(PLANAR, planar)
    if image.frames_present or frames > 1:
        updates.text(FRAMES, "IS", str(frames))
    if ts_uid == uids._J + "81":
        updates.text(LOSSY_COMPRESSION, "CS", "01")
    return total


def _decompress_rle(ts_uid: str, image: _Image, buf, frags, spool, updates: _Updates) -> int:
    """DCMTK's DcmRLECodecDecoder::decode."""
    image.require("samples", "rows", "columns", "bits_allocated")
    if image.bits_allocated % 8:
        DATA.error("The RLE decoder only supports images where BitsAllocated is a multiple of 8.")
        raise ConditionError(EC_CannotChangeRepresentation)
    if image.bits_stored is None:
        image.bits_stored = image.bits_allocated
    frames = _frames_of(image, frags)
    groups = _frame_groups(buf, frags, frames)
    planar = image.samples > 1 and image.planar == 1

    def chunks():
        def announce(index, item, count):
            DATA.debug(f"RLE decoder processes frame {index}")
            for k in range(item, item + count):
                DATA.debug(f"RLE decoder processes pixel item {k}")

        direct = _rle_frame_decoder(image)
        if direct is None:
            for arr, _ in _pydicom_frames(ts_uid, image, groups, buf, image.bits_allocated, announce):
                yield _native_bytes(arr, image.bits_allocated, planar)
            return
        item = 1
        for index, group in enumerate(groups):
            announce(index, item, len(group))
            item += len(group)
            yield direct(_frame_data(buf, group), planar)

    total = _spool_frames(spool, chunks())
    if image.frames_present or frames > 1:
        updates.text(FRAMES, "IS", str(frames))
    return total


def _rle_frame_decoder(image: _Image):
    """pylibjpeg-rle's frame decoder, called directly (pydicom's decoder framework and its 200 ms of imports are not
    needed for RLE): a function (frame bytes, planar) -> native little-endian bytes, or None for the layouts it does
    not cover (more than one sample of more than 8 bits; pydicom's way then)."""
    samples, width = image.samples, image.bits_allocated // 8
    if samples not in (1, 3) or (samples > 1 and width > 1):
        return None
    decode_frame = _rle_decode_frame()
    if decode_frame is None:
        return None
    pixels = image.rows * image.columns
    expected = pixels * samples * width

    def decode(data: bytes, planar: bool) -> bytes:
        frame = decode_frame(data, pixels, image.bits_allocated, "<")  # sample planes, each little endian
        if len(frame) != expected:  # (the segments do not match the image: what pydicom's decoder refuses)
            raise ValueError(f"RLE frame of {len(frame)} bytes, expected {expected}")
        if samples == 1 or planar:
            return bytes(frame)
        out = bytearray(expected)  # colour by pixel: R G B R G B ...
        for k in range(3):
            out[k::3] = frame[k * pixels:(k + 1) * pixels]
        return bytes(out)

    return decode


def _spool_file():
    """An anonymous temporary file (``tempfile.TemporaryFile``; where no TMPDIR, TEMP or TMP says otherwise, opened
    in /tmp with O_TMPFILE directly, without tempfile's 5 ms of imports)."""
    flag = getattr(os, "O_TMPFILE", None)
    if flag is not None and not any(os.environ.get(name) for name in ("TMPDIR", "TEMP", "TMP")):
        try:
            return open(os.open("/tmp", flag | os.O_RDWR, 0o600), "w+b")
        except OSError:
            pass
    import tempfile

    return tempfile.TemporaryFile()


def _rle_decode_frame():
    """pylibjpeg-rle's ``rle.rle.decode_frame``, or None.  Unless the package is imported already, its extension
    module is loaded on its own: the package's ``__init__`` imports numpy (~100 ms) for helpers we do not use.  The
    module is registered as ``rle.rle``, so that a later import of the package (pydicom's decoders) finds it there
    instead of initialising the extension a second time.  Anything unexpected: the normal import."""
    module = sys.modules.get("rle.rle")
    if module is None and "rle" not in sys.modules:
        try:
            from importlib.machinery import EXTENSION_SUFFIXES, ExtensionFileLoader, ModuleSpec, PathFinder

            package = PathFinder.find_spec("rle")
            for directory in (package.submodule_search_locations or ()) if package is not None else ():
                for suffix in EXTENSION_SUFFIXES:
                    path = os.path.join(directory, "rle" + suffix)
                    if os.path.isfile(path):
                        loader = ExtensionFileLoader("rle.rle", path)
                        spec = ModuleSpec("rle.rle", loader, origin=path)
                        spec.has_location = True
                        candidate = loader.create_module(spec)
                        candidate.__spec__, candidate.__loader__, candidate.__file__ = spec, loader, path
                        loader.exec_module(candidate)
                        sys.modules["rle.rle"] = module = candidate
                        break
                if module is not None:
                    break
        except Exception:
            module = sys.modules.get("rle.rle")
    if module is None:
        try:
            from rle.rle import decode_frame
        except ImportError:
            return None
        return decode_frame
    return getattr(module, "decode_frame", None)


def _decompress_j2k(ts_uid: str, image: _Image, buf, frags, spool, updates: _Updates) -> int:
    """JPEG 2000 / HTJ2K (beyond DCMTK): pydicom's decoder; the attributes as pydicom's decompress() sets them
    (an inverse multiple-component transform makes YBR_ICT / YBR_RCT data RGB), frames as DCMTK counts them."""
    image.require("samples", "rows", "columns", "bits_allocated", "bits_stored")
    frames = _frames_of(image, frags)
    groups = _frame_groups(buf, frags, frames)
    props: dict = {}

    def chunks():
        for arr, p in _pydicom_frames(ts_uid, image, groups, buf, image.bits_allocated):
            props.update(p)
            yield _native_bytes(arr, image.bits_allocated, False)

    total = _spool_frames(spool, chunks())
    pi = props.get("photometric_interpretation")
    if pi and pi != image.photometric:
        updates.text(PHOTOMETRIC, "CS", str(pi))
    if image.samples > 1:
        updates.us(PLANAR, 0)
    if image.frames_present or frames > 1:
        updates.text(FRAMES, "IS", str(frames))
    return total


def _decompress(ts_uid: str, elems: list[Elem], buf, spool) -> list[Elem]:
    """The data set's elements with the pixel data decoded into ``spool`` (a binary file) and the attributes the
    decoder changes; the other elements are the loaded ones (their values stay in the source)."""
    pixel = next(e for e in elems if e.tag == PIXEL_DATA)
    frags = pixel.frags or []
    if len(frags) < 2:
        raise ConditionError(EC_CannotChangeRepresentation)
    image = _Image(elems, buf)
    updates = _Updates()
    if ts_uid in JPEG_DCT or ts_uid in JPEG_LOSSLESS:
        total = _decompress_jpeg(ts_uid, image, buf, frags, spool, updates)
    elif ts_uid in JPEG_LS:
        total = _decompress_jpeg_ls(ts_uid, image, buf, frags, spool, updates)
    elif ts_uid == RLE:
        total = _decompress_rle(ts_uid, image, buf, frags, spool, updates)
    else:
        total = _decompress_j2k(ts_uid, image, buf, frags, spool, updates)
    fd = spool.fileno()
    replaced: dict[int, Elem] = {}
    new_pixel = Elem(PIXEL_DATA, "OW", total, 0, -1)
    new_pixel.spool = fd
    replaced[PIXEL_DATA] = new_pixel
    pos = total
    for tag, (vr, value) in updates.values.items():
        old = image.top.get(tag)
        if old is not None and old.items is None and old.vr == vr and old.length == len(value) and \
                bytes(buf[old.pos:old.pos + old.used]) + old.tail == value:
            continue  # DCMTK puts the same value again
        spool.write(value)
        e = Elem(tag, vr, len(value), pos, -1)
        e.spool = fd
        replaced[tag] = e
        pos += len(value)
    spool.flush()
    out = [replaced.pop(e.tag, e) for e in elems]
    if replaced:
        out = sorted(out + list(replaced.values()), key=lambda e: e.tag)
    return out


# ---------------------------------------------------------------------------------------------------------------------
# Loading.


def _os_error_text(exc: OSError) -> str:
    if exc.errno:
        return os.strerror(exc.errno)
    return str(exc)


def _read_meta(fh, path: str, require: bool) -> tuple[int, str] | None:
    """Offset of the data set and the transfer syntax from the meta header; None if there is no DICM prefix."""
    head = fh.read(132)
    if len(head) < 132 or head[128:132] != b"DICM":
        if require:
            raise ConditionError(EC_FileMetaInfoHeaderMissing)
        return None
    pos = 132
    ts = ""
    group_end = None
    while True:
        fh.seek(pos)
        hdr = fh.read(12)
        if len(hdr) < 8:
            break
        group, elem = struct.unpack_from("<HH", hdr)
        if group != 0x0002 or (group_end is not None and pos >= group_end):
            break
        vr = hdr[4:6]
        if vr in (b"OB", b"OW", b"OF", b"SQ", b"UT", b"UN", b"UC", b"UR", b"OL", b"OD", b"OV", b"SV", b"UV"):
            if len(hdr) < 12:
                raise ConditionError(EC_StreamNotifyClient)  # the file ends inside the element header
            (length,) = struct.unpack_from("<L", hdr, 8)
            vpos = pos + 12
        elif vr.isalpha() and vr.isupper():
            (length,) = struct.unpack_from("<H", hdr, 6)
            vpos = pos + 8
        else:  # implicit VR meta header
            (length,) = struct.unpack_from("<L", hdr, 4)
            vpos = pos + 8
        fh.seek(vpos)
        value = fh.read(length)
        if len(value) < length:
            raise ConditionError(EC_StreamNotifyClient)  # the file ends inside the value
        if elem == 0x0000 and length == 4:
            group_end = vpos + 4 + struct.unpack("<L", value)[0]
        elif elem == 0x0010:
            ts = value.decode("latin-1").rstrip("\0 ")
        pos = vpos + length
    return pos, ts


def _detect_ts(buf, start: int) -> str:
    """DCMTK's DcmItem::checkTransferSyntax (simplified: 'known tag' = in pydicom's dictionary)."""
    if len(buf) - start < 6:
        return uids.LEE
    raw = bytes(buf[start:start + 6])
    t1, t2 = struct.unpack_from("<HH", raw)
    b1, b2 = struct.unpack_from(">HH", raw)
    vr_ok = raw[4:6].decode("latin-1") in STANDARD_VRS

    def known(g, e):
        return dictionary.lookup((g << 16) | e) is not None  # (DcmTag's error(): not in the dictionary)

    little_ok, big_ok = known(t1, t2), known(b1, b2)
    if not little_ok and not big_ok:
        return uids.LEE if vr_ok else uids.LEI
    if vr_ok:
        if not little_ok:
            return uids.BEE
        if not big_ok:
            return uids.LEE
        return uids.BEE if (t1 > 0xFF and b1 <= 0xFF) else uids.LEE
    if not little_ok:
        return uids.LEI  # big endian implicit: not supported, treated as little endian implicit
    return uids.LEI


class Loaded:
    """One instance loaded for sending."""

    def __init__(self, path: str, fh, buf, start: int, ts_uid: str, elems: list[Elem] | None, inflated: bool,
                 fast: _Fast | None = None):
        self.path = path
        self._fh = fh
        self._buf = buf
        self._start = start
        self.original_ts = ts_uid
        self._elems = elems
        self._inflated = inflated  # buf holds the inflated data set (Deflated TS)
        self._fast = fast  # the fast walk's result (elems are then parsed only when needed)
        self.current_ts = ts_uid  # DCMTK's getCurrentXfer after an encode()
        self._decoded: list[Elem] | None = None
        self._spool = None  # the decoded pixel data (a temporary file)
        self.pending_warnings: list[str] = []  # said when the SOP UIDs are first read (flush_warnings)
        if fast is not None:
            self.sop_class_uid = fast.sop_class_uid
            self.sop_instance_uid = fast.sop_instance_uid
            self._size: int | None = fast.size
            return
        top = {e.tag: e for e in elems if e.tag in (SOP_CLASS_UID, SOP_INSTANCE_UID)}
        for tag in (SOP_CLASS_UID, SOP_INSTANCE_UID):
            warning = _remove_uid_spaces(buf, top[tag]) if tag in top else None
            if warning is not None:
                self.pending_warnings.append(warning)
        self.sop_class_uid = _uid_value(buf, top.get(SOP_CLASS_UID))
        self.sop_instance_uid = _uid_value(buf, top.get(SOP_INSTANCE_UID))
        self._size = None

    def flush_warnings(self) -> None:
        """The warnings DCMTK gives when it first reads the data set's SOP Class/Instance UID at send time."""
        warnings, self.pending_warnings = self.pending_warnings, []
        for text in warnings:
            DATA.warn(text)

    @property
    def elems(self) -> list[Elem]:
        """The parsed elements (after a fast load: parsed now, with the same result and no log output, since the
        fast walk accepts only data sets the parser reads without a message)."""
        if self._elems is None:
            fast = self._fast
            if fast.whole is not None:
                self._buf = fast.whole
            else:
                self._buf = mmap.mmap(fast.fd, 0, access=mmap.ACCESS_READ)
            enc = Encoding.of(self.original_ts)
            self._elems = _Parser(self._buf, self._start, enc, self.original_ts).parse_elements(
                self._start, None, enc.explicit, enc.little, True, False)[0]
        return self._elems

    @property
    def encoding(self) -> Encoding:
        return Encoding.of(self.original_ts)

    def dataset_size(self) -> int:
        """calcElementLength(original TS, explicit length): what the report's "Dataset Size" shows."""
        if self._size is None:
            self._size = _calc_len(self.elems, self.encoding.explicit, False, {})
        return self._size

    def has_encapsulated_pixel_data(self) -> bool:
        return any(e.tag == PIXEL_DATA and e.frags is not None for e in self.elems)

    def can_write(self, network_ts: str) -> bool:
        """DcmDataset::canWriteXfer: can the data set be written in ``network_ts`` without explicit conversion?"""
        src = uids.transfer_syntax(self.original_ts)
        dst = uids.transfer_syntax(network_ts)
        if dst is None:
            return False
        if network_ts == self.original_ts:
            return True
        if self.has_encapsulated_pixel_data():
            return False
        if dst.encapsulated:
            return not any(e.tag == PIXEL_DATA for e in self.elems)
        return src is None or not src.encapsulated or not self.has_encapsulated_pixel_data()

    def encode(self, network_ts: str, options=None) -> tuple[PiecesReader, int]:
        """The data set as the DIMSE layer sends it in ``network_ts``: (reader, exact byte count).

        Raises ConditionError when the data set cannot be converted (the pixel data cannot be decompressed)."""
        fast = self._fast
        if fast is not None and network_ts == self.original_ts:
            self.current_ts = network_ts
            parts = fast.parts
            if len(parts) == 1 and fast.whole is None:
                return _FileRangeReader(fast.fd, parts[0][0], fast.total), fast.total
            return PiecesReader(parts, fast.fd, fast.whole, fast.total), fast.total
        if fast is not None and network_ts in uids.U3 and self.original_ts in uids.U3 and not fast.frags:
            converted = self._fast_convert(network_ts)
            if converted is not None:
                return converted
        level = getattr(options, "compression_level", 6) if options is not None else 6
        dst = uids.transfer_syntax(network_ts)
        src = uids.transfer_syntax(self.original_ts)
        elems = self.elems
        buf, fd = self._buf, (None if self._inflated else self._fileno())
        if dst is not None and not dst.encapsulated and self.has_encapsulated_pixel_data():
            if not can_decode(self.original_ts):
                raise ConditionError(EC_CannotChangeRepresentation)
            elems = self._decompressed()
        elif dst is not None and dst.encapsulated and network_ts != self.original_ts:
            raise ConditionError(EC_CannotChangeRepresentation)
        elif dst is None or (dst.deflated is False and dst.encapsulated is False and network_ts not in uids.U3
                             and network_ts != self.original_ts):
            raise ConditionError(EC_CannotChangeRepresentation)
        if (src is not None and src.encapsulated and dst is not None and not dst.encapsulated
                and not _contains_pixel_data(elems)):
            DATA.warn("DcmDataset: No pixel data present, nothing to decompress")
        enc = Encoding.of(network_ts)
        out = _Pieces(buf)
        _emit(out, elems, enc, {})
        total = out.size()
        self.current_ts = network_ts
        if dst is not None and dst.deflated:
            raw = PiecesReader(out.parts, fd, buf, total).read(total)
            comp = zlib.compressobj(level if level is not None else 6, zlib.DEFLATED, -15, 8)
            data = comp.compress(raw) + comp.flush()
            if len(data) & 1:
                data += b"\0"
            return PiecesReader([bytearray(data)], None, None, len(data)), len(data)
        del src
        return PiecesReader(out.parts, fd, buf, total), total

    def _fast_convert(self, network_ts: str):
        """The data set in another uncompressed syntax by the walk (None: the exact way)."""
        fast = self._fast
        src, dst = Encoding.of(self.original_ts), Encoding.of(network_ts)
        data = fast.whole
        mapped = None
        if data is None:
            try:
                data = mapped = mmap.mmap(fast.fd, 0, access=mmap.ACCESS_READ)
            except (OSError, ValueError):
                return None
        try:
            found = dataset.walk(data, self._start, fast.file_size, src.explicit, src.little, dst.explicit,
                                 dst.little, False)
            if found is not None:
                found.parts = dataset.compact(found.parts, data)
        finally:
            if mapped is not None:
                mapped.close()
        if found is None:
            return None
        self.current_ts = network_ts
        return PiecesReader(found.parts, fast.fd, fast.whole, found.total), found.total

    def _decompressed(self) -> list[Elem]:
        """The elements with the pixel data decoded (once; into an anonymous spool file, frame by frame)."""
        if self._decoded is None:
            spool = _spool_file()
            try:
                self._decoded = _decompress(self.original_ts, self.elems, self._buf, spool)
            except ConditionError:
                spool.close()
                raise
            except Exception as exc:  # a decoder failed
                spool.close()
                DATA.debug(f"pixel data decoding failed: {exc}")
                raise ConditionError(EC_CannotChangeRepresentation) from None
            self._spool = spool
        return self._decoded

    def close(self) -> None:
        buf, self._buf = self._buf, None
        if isinstance(buf, mmap.mmap):
            try:
                buf.close()
            except BufferError:  # a reader still holds a view
                pass
        fh, self._fh = self._fh, None
        if fh is not None:
            fh.close()
        fast, self._fast = self._fast, None
        if fast is not None and fast.fd is not None:
            os.close(fast.fd)
            fast.fd = None
        spool, self._spool = self._spool, None
        if spool is not None:
            spool.close()

    def _fileno(self) -> int | None:
        if self._fh is not None:
            return self._fh.fileno()
        fast = self._fast
        return fast.fd if fast is not None else None

    def __enter__(self) -> Loaded:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


# ---------------------------------------------------------------------------------------------------------------------
# The fast load: one pass over the element headers of a plain explicit VR little endian data set, no per-element
# objects.  It accepts only what the parser above reads without a message and what DCMTK writes back unchanged in the
# same transfer syntax (standard VRs, even lengths, ascending tags, no sequences, group lengths or trailing padding,
# string values as DCMTK keeps them, encapsulated pixel data with OB and items); anything else goes the exact way.
# The data set in its own transfer syntax is then the file's bytes (plus a zero-length sequence delimiter after
# encapsulated pixel data), and a small file is read once: the sending reuses that buffer.

_FAST_WHOLE = 1 << 16  # files up to this size are read whole
_FAST_CHUNK = 1 << 13  # else the headers are read in windows of this size (values are never read)
_FAST_HEADER = struct.Struct("<HH2sH")
_FAST_LONG = struct.Struct("<HL").unpack_from
_FAST_ITEM = struct.Struct("<LL").unpack_from
_SEQ_DELIM_BYTES = b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"
_NOT_FAST = frozenset(("1.2.840.113619.5.2", "1.2.840.10008.1.2.4.95"))
_FAST_INVALID_GROUPS = frozenset((0x0001, 0x0002, 0x0003, 0x0005, 0x0007, 0xFFFF, 0xFFFE))


def _fast_vr_table() -> dict[bytes, tuple[bool, int, int]]:
    """VR -> (4-byte length field, value width, string padding byte or -1); SQ is not there (the exact way)."""
    table = {}
    for vr in STANDARD_VRS - {"SQ"}:
        pad = (0 if vr == "UI" else 0x20) if vr in STRING_VRS else -1
        table[vr.encode()] = (vr in EXTENDED_VRS, _VALUE_WIDTH.get(vr, 1), pad)
    return table


_FAST_VRS = _fast_vr_table()


class _Fast:
    """What the fast walk found: the pieces of the data set in its own transfer syntax and the SOP UIDs."""

    __slots__ = ("parts", "total", "fd", "whole", "sop_class_uid", "sop_instance_uid", "signature", "size", "frags",
                 "file_size")

    def __init__(self, parts, total, fd, whole, sop_class_uid, sop_instance_uid, signature=None):
        self.signature = signature  # the file's identity and state when it was walked (file_signature)
        self.parts = parts
        self.total = total
        self.fd = fd  # open while the values are read from the file; None when ``whole`` holds the file
        self.whole = whole
        self.sop_class_uid = sop_class_uid
        self.sop_instance_uid = sop_instance_uid
        self.size = total  # the report's Dataset Size
        self.frags = False  # encapsulated pixel data was found
        self.file_size = 0


def _fast_uid(raw: bytes) -> str:
    return raw.decode("latin-1").split("\\", 1)[0].rstrip("\0 ")


def _fast_walk(fd: int, size: int, start: int, encapsulated: bool):
    """(parts, total, whole file or None, class, instance) or None when the exact parser is needed."""
    if start >= size:
        return None  # an empty data set: the exact way (DCMTK keeps its default transfer syntax)
    if size <= _FAST_WHOLE:
        data = os.pread(fd, size, 0)
        if len(data) != size:
            return None
        whole = data
        base = 0
    else:
        whole = None
        base = start
        data = os.pread(fd, _FAST_CHUNK, base)
    dlen = len(data)
    header = _FAST_HEADER.unpack_from
    vrs = _FAST_VRS
    invalid = _FAST_INVALID_GROUPS
    parts: list = []
    run = start  # start of the current range of the file
    pos = start
    last = -1
    cls = inst = ""
    while pos < size:
        rel = pos - base
        if rel < 0 or rel + 12 > dlen:
            if whole is None:
                base = pos
                data = os.pread(fd, _FAST_CHUNK, base)
                dlen = len(data)
                rel = 0
        if size - pos < 8:
            return None
        group, elem, vr, length = header(data, rel)
        tag = (group << 16) | elem
        info = vrs.get(vr)
        if info is None or tag <= last or group in invalid or elem == 0 or tag == TRAILING_PADDING:
            return None
        last = tag
        extended, width, pad = info
        if extended:
            if size - pos < 12:
                return None
            reserved, length = _FAST_LONG(data, rel + 6)
            if reserved:
                return None
            pos += 12
            if length == UNDEFINED:
                if tag != PIXEL_DATA or not encapsulated or vr != b"OB":
                    return None
                # encapsulated pixel data: items up to the sequence delimiter (or the end of the file)
                while True:
                    if pos >= size:
                        return None  # no sequence delimiter: the exact way (DCMTK's message after an item)
                    if size - pos < 8:
                        return None
                    rel = pos - base
                    if rel < 0 or rel + 8 > dlen:
                        base = pos
                        data = os.pread(fd, _FAST_CHUNK, base)
                        dlen = len(data)
                        rel = 0
                    itag, ilen = _FAST_ITEM(data, rel)
                    if itag == 0xE0DDFFFE:
                        delim_end = pos + 8
                        break
                    if itag != 0xE000FFFE or ilen == UNDEFINED or pos + 8 + ilen > size:
                        return None
                    pos += 8 + ilen
                parts.append((run, pos - run, 1))
                parts.append(bytearray(_SEQ_DELIM_BYTES))
                run = pos = delim_end
                continue
        else:
            pos += 8
        if length & 1 or (width > 1 and length % width) or pos + length > size:
            return None
        if encapsulated and tag == PIXEL_DATA:
            return None  # explicit length pixel data in an encapsulated syntax: the exact way (an error)
        if pad >= 0 and length:
            rel = pos - base
            if rel < 0 or rel + length > dlen:
                if whole is not None:
                    return None
                base = pos
                data = os.pread(fd, max(_FAST_CHUNK, length), base)
                dlen = len(data)
                rel = 0
            if data[rel + length - 1] == pad and data[rel + length - 2] == pad:
                return None  # DCMTK strips the padding: the value changes
            if tag == SOP_CLASS_UID or tag == SOP_INSTANCE_UID:
                value = data[rel:rel + length]
                if vr != b"UI" or value.translate(None, collect.BLANKS) != value:
                    return None  # (blanks: DCMTK removes them with a warning, the exact way)
                value = _fast_uid(value)
                if tag == SOP_CLASS_UID:
                    cls = value
                else:
                    inst = value
        elif pad < 0 and (tag == SOP_CLASS_UID or tag == SOP_INSTANCE_UID):
            return None
        pos += length
    if pos != size:
        return None
    if run < size or not parts:
        parts.append((run, size - run, 1))
    total = 0
    for part in parts:
        total += len(part) if isinstance(part, bytearray) else part[1]
    return parts, total, whole, cls, inst


def _fast_data(fd: int, size: int):
    """The file's bytes for the walk: read whole when small, else memory-mapped (only the headers are touched)."""
    if size <= _FAST_WHOLE:
        data = os.pread(fd, size, 0)
        return data if len(data) == size else None
    return mmap.mmap(fd, 0, access=mmap.ACCESS_READ)


def _fast_load(instance: collect.Instance, ts: str, info) -> Loaded | None:
    """The fast load of a file whose data set offset and transfer syntax the input phase found, or None."""
    try:
        fd = os.open(instance.path, os.O_RDONLY)
    except OSError:
        return None  # the exact way gives the message
    found = None
    whole = None
    try:
        st = os.fstat(fd)
        if stat.S_ISREG(st.st_mode) and st.st_size > instance.dataset_offset:
            data = _fast_data(fd, st.st_size)
            if data is not None:
                enc = Encoding.of(ts)
                found = dataset.walk(data, instance.dataset_offset, st.st_size, enc.explicit, enc.little,
                                     enc.explicit, enc.little, info.encapsulated)
                if found is not None and len(found.parts) > 1:
                    found.parts = dataset.compact(found.parts, data)
                if data.__class__ is bytes:
                    whole = data
                else:
                    data.close()
    except (OSError, ValueError):
        found = None
    if found is None:
        os.close(fd)
        return None
    if whole is not None:
        os.close(fd)
        fd = None
    if DATA.enabled(DEBUG_LEVEL):
        DATA.debug('DcmMetaInfo::checkAndReadPreamble() TransferSyntax="Little Endian Explicit"')
        DATA.debug(f'DcmDataset::read() TransferSyntax="{info.name}"')
    fast = _Fast(found.parts, found.total, fd, whole, found.sop_class_uid, found.sop_instance_uid,
                 file_signature(st))
    fast.size = found.size
    fast.frags = found.frags
    fast.file_size = st.st_size
    return Loaded(instance.path, None, None, instance.dataset_offset, ts, None, False, fast)


def file_signature(st) -> tuple:
    """What tells a file apart from itself changed or replaced: device, inode, size, modification and change times."""
    return st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns


def unchanged_since_loaded(loaded: Loaded) -> bool:
    """Whether the file of a fast load is still the one that was walked (same path, same inode, same size and
    times): a load made ahead of time is used only then, as DCMTK opens the file only when it sends it."""
    fast = loaded._fast
    if fast is None or fast.signature is None:
        return True
    try:
        st = os.stat(loaded.path)
    except (OSError, ValueError):
        return False
    return file_signature(st) == fast.signature


def load_fast(instance: collect.Instance) -> Loaded | None:
    """The fast load alone (no message at levels above DEBUG, nothing raised), or None: :func:`load` is needed."""
    ts = instance.transfer_syntax_uid
    if (instance.dataset_offset > 0 and instance.read_mode != collect.READ_DATASET and ts
            and not instance.meta_reread):
        info = uids.TRANSFER_SYNTAXES.get(ts)
        if info is not None and not info.deflated and ts not in _NOT_FAST:
            if ts == uids.LEI and DATA.enabled(DEBUG_LEVEL):
                return None  # (the exact reader gives checkAndUpdateVR's debug lines)
            return _fast_load(instance, ts, info)
    return None


def load(instance: collect.Instance) -> Loaded:
    """Load an instance as DCMTK's ``loadFile`` does at send time.  Raises ConditionError with DCMTK's text."""
    loaded = load_fast(instance)
    if loaded is not None:
        return loaded
    path = instance.path
    try:
        fh = open(path, "rb")
    except OSError as exc:
        raise ConditionError(Condition(_DCMDATA, 18, _os_error_text(exc))) from None
    try:
        return _load(instance, fh)
    except ConditionError:
        fh.close()
        raise
    except OSError as exc:
        fh.close()
        raise ConditionError(Condition(_DCMDATA, 18, _os_error_text(exc))) from None


def _load(instance: collect.Instance, fh) -> Loaded:
    mode = instance.read_mode
    ts = instance.transfer_syntax_uid
    offset = instance.dataset_offset
    if offset < 0 or not ts:
        if mode == collect.READ_DATASET:
            offset, ts = 0, ""
        else:
            meta = _read_meta(fh, instance.path, mode == collect.READ_FILE_ONLY)
            if meta is None:
                offset, ts = 0, ""
            else:
                offset, ts = meta
                # (a file the input phase did not read, from a DICOMDIR: what DCMTK says of its meta header now)
                collect.meta_header_messages(instance.path)
    elif mode != collect.READ_DATASET and offset > 0:
        if instance.meta_reread:
            collect.meta_header_messages(instance.path)  # its warnings again, its own encoding
        else:
            DATA.debug('DcmMetaInfo::checkAndReadPreamble() TransferSyntax="Little Endian Explicit"')
    size = os.fstat(fh.fileno()).st_size
    if size > 0:
        buf = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    else:
        buf = b""
    if offset == 0 and mode != collect.READ_FILE_ONLY and (not ts or instance.dataset_offset < 0):
        ts = _detect_ts(buf, 0)
    if offset >= len(buf):
        # nothing after the meta header: DCMTK reads an empty data set and keeps its default (explicit VR LE)
        return Loaded(instance.path, fh, buf, offset, uids.LEE, [], False)
    if offset == 0 and mode != collect.READ_FILE_ONLY:
        DATA.debug("DcmDataset::read() trying to detect transfer syntax of data set (because it is unknown)")
    info = uids.transfer_syntax(ts)
    DATA.debug(f'DcmDataset::read() TransferSyntax="{uids.ts_name(ts)}"')
    inflated = False
    start = offset
    data = buf
    if info is not None and info.deflated:
        compressed = bytes(buf[offset:])
        data = b""
        if compressed:
            d = zlib.decompressobj(-15)  # (a raw deflate stream; DCMTK 3.6.7 reads a zlib header as deflate data too)
            try:
                data = d.decompress(compressed) + d.flush()
            except zlib.error as exc:
                raise ConditionError(Condition(_DCMDATA, 16, collect.zlib_error_text(exc))) from None
            if not d.eof:  # the deflated stream ends prematurely
                raise ConditionError(EC_StreamNotifyClient)
        inflated = True
        start = 0
    elif ts == "1.2.840.10008.1.2.4.95":
        raise ConditionError(EC_UnsupportedEncoding)
    enc = Encoding.of(ts)
    parser = _Parser(data, start, enc, ts)
    elems, _ = parser.parse_elements(start, None, enc.explicit, enc.little, True, False)
    if info is not None and info.encapsulated:
        for e in elems:
            if e.tag == PIXEL_DATA and e.frags is None and e.items is None:
                DATA.error(f"Found explicit length Pixel Data in top level dataset with transfer syntax {info.name}:"
                           " Only undefined length permitted")
                raise ConditionError(EC_PixelDataExplLengthIllegal)
    loaded = Loaded(instance.path, fh, data, start, ts, elems, inflated)
    if inflated and isinstance(buf, mmap.mmap):
        buf.close()
    return loaded


def no_conversion_message(network_ts: str) -> str:
    """The error DcmSCU::sendSTORERequest logs (dcmnet logger) when the conversion fails."""
    return f"No conversion to transfer syntax {uids.ts_name(network_ts)} possible!"
