"""Part 10 files as DCMTK reads them in dcmsend's input phase and for the meta header at send time: the preamble and
File Meta Information (DcmMetaInfo), the transfer syntax detection of a bare data set, and the data set read up to
its SOP Class and Instance UIDs (DcmItem, DcmDataUtil::getSOPInstanceFromFile), with the conditions and log lines of
DCMTK 3.6.7.  The one meta-header reader of the package: the input phase (:mod:`dcmsend.collect`) and the send-time
load (:mod:`dcmsend.convert`) both read through it.
"""

from __future__ import annotations

import os
import stat
import sys

from dcmsend import dictionary, uids
from dcmsend.dictionary import BLANKS, tag_name, tag_text
from dcmsend.log import DATA

TYPE_CHECKING = False
if TYPE_CHECKING:
    pass

# Read modes (DCMTK's E_FileReadMode as chosen by +f / +fo / -f).
READ_FILE = "file"  # +f  : file format or bare data set (auto-detect)
READ_FILE_ONLY = "fileonly"  # +fo : file format only (default)
READ_DATASET = "dataset"  # -f  : bare data set without meta header

# ---------------------------------------------------------------------------------------------------------------
# Condition texts (DCMTK OFCondition texts as printed after "<file>: ")

EC_ILLEGAL_PARAMETER = "Illegal parameter"
EC_INVALID_FILENAME = "Invalid filename"
EC_END_OF_STREAM = "End of stream"
EC_STREAM_NOTIFY = "I/O suspension or premature end of stream"
EC_INVALID_STREAM = "Invalid stream"
EC_CORRUPTED_DATA = "Corrupted data"
EC_TAG_NOT_FOUND = "Tag Not Found"
EC_META_MISSING = "File meta information header missing"
EC_ITEM_END = "Item end"
EC_SEQU_END = "Sequence end"
# Not a DCMTK condition: sequences nested deeper than we follow (DCMTK 3.6.7 crashes with SIGSEGV at ~10000 levels)
EC_NESTING_TOO_DEEP = "Sequences nested too deeply"
EC_ITEM_DELIM_MISSING = "Item Delimitation Item missing"
EC_UNSUPPORTED_ENCODING = "Unsupported compression or encryption"
EC_VR_VIOLATED = "Value Representation violated"
EC_VM_VIOLATED = "Value Multiplicity violated"
EC_LENGTH_VIOLATED = "Maximum VR length violated"
EC_INVALID_CHARACTER = "Invalid character"
NET_INVALID_SOP_CLASS = "Invalid SOP Class UID"
NET_UNKNOWN_STORAGE_CLASS = "Unknown Storage SOP Class"
NET_INVALID_SOP_INSTANCE = "Invalid SOP Instance UID"
NET_INVALID_TS = "Invalid Transfer Syntax UID"
NET_UNKNOWN_TS = "Unknown Transfer Syntax"

# "soft" results of the DCMTK readers that are not errors for the caller
_NON_ERRORS = (EC_TAG_NOT_FOUND, EC_END_OF_STREAM, EC_ITEM_END)

# ---------------------------------------------------------------------------------------------------------------
# A byte stream over a file with DCMTK's avail()/eos() semantics


class _Stream:
    __slots__ = ("fd", "size", "pos", "buf", "buf_start", "mark_pos")

    CHUNK = 16384

    def __init__(self, fd: int | None, size: int, data: bytes = b""):
        self.fd = fd
        self.size = size
        self.pos = 0
        self.buf = data
        self.buf_start = 0
        self.mark_pos = 0

    def avail(self) -> int:
        return self.size - self.pos

    def eos(self) -> bool:
        return self.pos >= self.size

    def read(self, n: int) -> bytes:
        start = self.pos - self.buf_start
        end = start + n
        if start < 0 or end > len(self.buf):
            if self.fd is None:
                data = self.buf[max(start, 0):end] if start >= 0 else b""
                self.pos += len(data)
                return data
            want = max(n, self.CHUNK)
            self.buf = os.pread(self.fd, want, self.pos)
            self.buf_start = self.pos
            start, end = 0, n
        data = self.buf[start:end]
        self.pos += len(data)
        return data

    def skip(self, n: int) -> int:
        k = min(n, max(self.size - self.pos, 0))
        self.pos += k
        return k

    def mark(self) -> None:
        self.mark_pos = self.pos

    def putback(self) -> None:
        self.pos = self.mark_pos


# ---------------------------------------------------------------------------------------------------------------
# Transfer syntaxes of the DCMTK readers: (explicit VR, little endian)

LEE_X = (True, True)
LEI_X = (False, True)
BEE_X = (True, False)
BEI_X = (False, False)
_XFER_NAMES = {LEE_X: "Little Endian Explicit", LEI_X: "Little Endian Implicit", BEE_X: "Big Endian Explicit",
               BEI_X: "Big Endian Implicit"}
_XFER_UIDS = {LEE_X: uids.LEE, LEI_X: uids.LEI, BEE_X: uids.BEE}
_UID_XFERS = {uids.LEI: LEI_X, uids.LEE: LEE_X, uids.BEE: BEE_X, "1.2.840.113619.5.2": LEI_X}

# dictionary.py's VR tables, as the bytes of an element header
_STANDARD_VRS = frozenset(vr.encode() for vr in dictionary.STANDARD_VRS)
_EXTENDED_VRS = frozenset(vr.encode() for vr in dictionary.EXTENDED_VRS)
_SHORT_VRS = _STANDARD_VRS - _EXTENDED_VRS
_VALUE_WIDTH = {vr.encode(): width for vr, width in dictionary.VALUE_WIDTH.items()}
_DELIM_TAGS = frozenset((0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD))
ITEM_TAG = 0xFFFEE000
ITEM_DELIM = 0xFFFEE00D
SEQ_DELIM = 0xFFFEE0DD
UNDEFINED = 0xFFFFFFFF

_WRITTEN_VR = {"xs": b"US", "ox": b"OB", "lt": b"OW", "up": b"UL", "px": b"OW", "na": b"na"}


_entries: dict[int, tuple[bytes, str] | None] = {}  # _dict_entry's answers (bounded)


def _dict_entry(tag: int) -> tuple[bytes, str] | None:
    """(VR as written, name) of a tag in DCMTK's data dictionary (dictionary.py; no private creator), or None
    (DcmTag error)."""
    try:
        return _entries[tag]
    except KeyError:
        pass
    found = dictionary.lookup(tag)
    entry = None if found is None else (_WRITTEN_VR.get(found[0]) or found[0].encode("latin-1"), found[1])
    if len(_entries) < 65536:
        _entries[tag] = entry
    return entry


def _check_transfer_syntax(st: _Stream) -> tuple[bool, bool]:
    """DcmItem::checkTransferSyntax on the stream (it does not move)."""
    if st.avail() < 6:
        return LEE_X
    st.mark()
    b = st.read(6)
    st.putback()
    return detect_transfer_syntax(b)


def detect_transfer_syntax(b: bytes) -> tuple[bool, bool]:
    """DcmItem::checkTransferSyntax: guess the encoding (explicit VR, little endian) from the first 6 bytes of a data
    set or meta header (the one detection, for the input phase and the send-time load)."""
    if len(b) < 6:
        return LEE_X
    t1 = b[0] | (b[1] << 8)
    t2 = b[2] | (b[3] << 8)
    little = (t1 << 16) | t2
    big = (((t1 & 0xFF) << 8 | t1 >> 8) << 16) | ((t2 & 0xFF) << 8 | t2 >> 8)
    little_ok = _dict_entry(little) is not None
    big_ok = _dict_entry(big) is not None
    vr = b[4:6]
    has_vr = len(vr) == 2 and vr.isalpha() and vr in _STANDARD_VRS  # (bytes.isalpha: ASCII letters)
    if not little_ok and not big_ok:
        return LEE_X if has_vr else LEI_X
    if has_vr:
        if not little_ok:
            return BEE_X
        if not big_ok:
            return LEE_X
        return BEE_X if ((little >> 16) > 0xFF and (big >> 16) <= 0xFF) else LEE_X
    if not little_ok:
        return BEI_X
    if not big_ok:
        return LEI_X
    return BEI_X if ((little >> 16) > 0xFF and (big >> 16) <= 0xFF) else LEI_X


class _Element:
    __slots__ = ("tag", "vr", "length", "value", "items")

    def __init__(self, tag: int, vr: bytes, length: int):
        self.tag = tag
        self.vr = vr
        self.length = length
        self.value: bytes | None = None
        self.items: list[dict[int, _Element]] | None = None


def _read_tag_and_length(st: _Stream, xfer, item_len: int | None = None, item_start: int = 0):
    """DcmItem::readTagAndLength -> (status|None, tag, vr, length, bytes_read)."""
    explicit, little = xfer
    if st.eos():
        return EC_END_OF_STREAM, 0, b"", 0, 0
    if st.avail() < (6 if explicit else 4):
        return EC_STREAM_NOTIFY, 0, b"", 0, 0
    st.mark()
    raw = st.read(4)
    if little:
        tag = ((raw[0] | raw[1] << 8) << 16) | (raw[2] | raw[3] << 8)
    else:
        tag = ((raw[1] | raw[0] << 8) << 16) | (raw[3] | raw[2] << 8)
    bytes_read = 4
    is_delim = tag in _DELIM_TAGS
    entry = None
    if explicit and not is_delim:
        vr = st.read(2)
        if vr not in _STANDARD_VRS:
            c0 = " " if vr[0] < 32 else _decode(vr[0:1])
            c1 = " " if vr[1] < 32 else _decode(vr[1:2])
            upper = 65 <= vr[0] <= 90 and 65 <= vr[1] <= 90
            extended = upper and vr != b"??"
            DATA.warn(f"DcmItem: Non-standard VR '{c0}{c1}' ({vr[0]:02x}\\{vr[1]:02x}) encountered while parsing "
                      f"element {tag_text(tag)}, assuming {'4' if extended else '2'} byte length field")
            vr = b"UN" if extended else b"??"
        bytes_read += 2
    else:
        if is_delim:
            vr = b"na"
        else:
            entry = _dict_entry(tag)
            vr = entry[0] if entry else b"UN"
    header = 8 if (not explicit or is_delim or vr not in _EXTENDED_VRS) else 12
    if st.avail() < header - bytes_read:
        st.putback()
        return EC_STREAM_NOTIFY, tag, vr, 0, 0
    if not explicit or is_delim:
        raw = st.read(4)
        length = int.from_bytes(raw, "little" if little else "big")
        bytes_read += 4
    elif vr in _EXTENDED_VRS:
        raw = st.read(6)[2:]
        length = int.from_bytes(raw, "little" if little else "big")
        bytes_read += 6
    else:
        raw = st.read(2)
        length = int.from_bytes(raw, "little" if little else "big")
        bytes_read += 2
    if explicit and not is_delim:
        width = _VALUE_WIDTH.get(vr, 1)
        if width > 1 and length % width:
            DATA.warn(f"DcmItem: Length of element {tag_text(tag)} is not a multiple of {width} "
                      f"(VR={vr.decode('latin-1')})")
    if (length & 1) and length != UNDEFINED:
        DATA.warn(f"DcmItem: Length of element {tag_text(tag)} is odd")
    if item_len is not None and item_len != UNDEFINED and length != UNDEFINED:
        remaining = item_len - (st.pos - item_start)
        if remaining < 0:
            DATA.warn(f"DcmItem: Explicit item length ({item_len} bytes) too large for the elements contained "
                      "in the item")
        elif length > remaining:
            DATA.warn(f"DcmItem: Element {tag_name(tag)} {tag_text(tag)} larger ({length}) than remaining "
                      f"bytes ({remaining}) of surrounding item")
            return "Length of element larger than explicit length of surrounding item", tag, vr, length, bytes_read
    return None, tag, vr, length, bytes_read


def _read_value(st: _Stream, elem: _Element, max_read: int) -> str | None:
    """DcmElement::read for a value of defined length."""
    length = elem.length
    if st.eos():
        if length > 0:
            DATA.error(f"DcmElement: {tag_name(elem.tag)} {tag_text(elem.tag)} larger ({length}) than "
                       "remaining bytes in file")
            return EC_STREAM_NOTIFY
        return EC_END_OF_STREAM
    if length > max_read:
        if st.skip(length) < length:
            DATA.error(f"DcmElement: {tag_name(elem.tag)} {tag_text(elem.tag)} larger ({length}) than "
                       "remaining bytes in file")
            return EC_STREAM_NOTIFY
        return None
    if length == 0:
        elem.value = b""
        return None
    data = st.read(length)
    if len(data) < length:
        DATA.error(f"DcmElement: {tag_name(elem.tag)} {tag_text(elem.tag)} larger ({length}) than remaining "
                   f"bytes ({len(data)}) in file, premature end of stream")
        return EC_INVALID_STREAM
    elem.value = data
    return None


def _read_sub_element(st: _Stream, xfer, elem: _Element, max_read: int, container: dict) -> str | None:
    """DcmItem::readSubElement: read the value (or the items of a sequence) and insert it."""
    tag = elem.tag
    if tag == ITEM_DELIM:
        return EC_ITEM_END
    if tag == SEQ_DELIM:
        DATA.error(f"DcmItem: Parse error in sequence item, found {tag_text(tag)} instead of item delimiter "
                   f"{tag_text(ITEM_DELIM)}")
        DATA.debug(f"DcmItem::readSubElement() cannot create Sub Element {tag_text(tag)}")
        return EC_ITEM_DELIM_MISSING
    if tag == ITEM_TAG:
        st.putback()
        DATA.warn(f"DcmItem: Parse error while parsing element {tag_text(tag)}")
        return "Invalid tag"
    if elem.vr == b"UN" and elem.length == UNDEFINED:
        DATA.warn(f"Found element {tag_text(tag)} with VR UN and undefined length, reading a sequence with "
                  "transfer syntax LittleEndianImplicit (CP-246)")
        elem.vr = b"SQ"
        status = _read_sequence(st, LEI_X, elem, max_read)
    elif elem.vr == b"SQ" or (elem.length == UNDEFINED and elem.tag != 0x7FE00010):
        status = _read_sequence(st, xfer, elem, max_read)
    elif elem.length == UNDEFINED:
        status = _read_pixel_sequence(st, xfer, elem, max_read)
    else:
        status = _read_value(st, elem, max_read)
    if elem.tag in container:
        DATA.warn(f"DcmItem: Element {tag_text(elem.tag)} found twice in one data set or item, ignoring second "
                  "entry")
    else:
        if container and tag < max(container):
            DATA.warn(f"DcmItem: Dataset not in ascending tag order, at element {tag_text(tag)}")
        container[elem.tag] = elem
    return status


def _read_item_body(st: _Stream, xfer, length: int, max_read: int, is_dataset: bool) -> tuple[str | None, dict]:
    """DcmItem::readUntilTag for an item (defined or undefined length) or the data set (length UNDEFINED)."""
    elements: dict[int, _Element] = {}
    if st.eos():
        return None, elements
    start = st.pos
    transferred = 0
    status: str | None = None
    complete = True
    while transferred < length:
        status, tag, vr, vlen, _n = _read_tag_and_length(st, xfer, None if is_dataset else length, start)
        if status is not None:
            break
        complete = False
        elem = _Element(tag, vr, vlen)
        status = _read_sub_element(st, xfer, elem, max_read, elements)
        if status is None:
            complete = True
        group = tag >> 16
        if group in (1, 2, 3, 5, 7, 0xFFFF):
            DATA.warn(f"DcmItem: Invalid Element {tag_text(tag)} found in data set")
        transferred = st.pos - start
        if status is not None:
            break
    if status is None:
        if st.eos():
            status = EC_END_OF_STREAM
        elif transferred < length or not complete:
            status = EC_STREAM_NOTIFY
    if status in (EC_ITEM_END, EC_END_OF_STREAM):
        status = None
    return status, elements


def _read_sequence(st: _Stream, xfer, elem: _Element, max_read: int) -> str | None:
    """DcmSequenceOfItems::read (simplified: items until the length or the sequence delimiter)."""
    elem.items = []
    if st.eos():
        return EC_STREAM_NOTIFY if elem.length > 0 else None
    start = st.pos
    while elem.length == UNDEFINED or st.pos - start < elem.length:
        status, tag, _vr, vlen, _n = _read_tag_and_length(st, xfer)
        if status is not None:
            return EC_STREAM_NOTIFY if status == EC_END_OF_STREAM else status
        if tag == SEQ_DELIM:
            return None
        if tag != ITEM_TAG:
            DATA.warn(f"DcmSequenceOfItems: Parse error in sequence {tag_text(elem.tag)}, found "
                      f"{tag_text(tag)} instead of item tag {tag_text(ITEM_TAG)}")
            return EC_CORRUPTED_DATA
        status, item = _read_item_body(st, xfer, vlen, max_read, False)
        elem.items.append(item)
        if status is not None:
            return status
        if st.eos() and elem.length == UNDEFINED:
            return EC_STREAM_NOTIFY
    return None


def _read_pixel_sequence(st: _Stream, xfer, elem: _Element, max_read: int) -> str | None:
    """Encapsulated pixel data: items of defined length up to the sequence delimiter."""
    while True:
        status, tag, _vr, vlen, _n = _read_tag_and_length(st, (False, xfer[1]))
        if status is not None:
            return EC_STREAM_NOTIFY if status == EC_END_OF_STREAM else status
        if tag == SEQ_DELIM:
            return None
        if tag != ITEM_TAG or vlen == UNDEFINED:
            return EC_CORRUPTED_DATA
        frag = _Element(tag, b"OB", vlen)
        status = _read_value(st, frag, max_read)
        if status is not None:
            return status


def _decode(raw: bytes) -> str:
    """Bytes of a value as a str that gives the same bytes back (``surrogateescape``)."""
    try:
        return raw.decode("ascii")
    except UnicodeDecodeError:
        return raw.decode("utf-8", "surrogateescape")


def _string_value(elem: _Element | None, tag: int) -> str:
    """findAndGetOFStringArray of a UI (or other string) element, with DCMTK's input corrections."""
    if elem is None or elem.value is None:
        return ""
    raw = elem.value
    if elem.vr == b"UI":
        stripped = raw.translate(None, BLANKS)
        if len(stripped) < len(raw):
            DATA.warn(f"DcmUniqueIdentifier: Element {tag_name(tag)} {tag_text(tag)} contains one or more "
                      "space characters, which were removed")
        raw = stripped.rstrip(b"\x00")
    elif elem.vr in (b"OB", b"UN", b"??"):
        return "\\".join("%02x" % b for b in raw)
    elif elem.vr == b"OW":
        return "\\".join("%04x" % int.from_bytes(raw[i:i + 2], "little") for i in range(0, len(raw) - 1, 2))
    else:
        raw = b"\\".join(part.strip(b" ") for part in raw.rstrip(b"\x00").split(b"\\"))
    return _decode(raw)


class _Meta:
    __slots__ = ("status", "elements", "preamble", "end", "xfer", "warned", "read_as")

    def __init__(self):
        self.warned = False  # a warning was raised while reading it
        self.read_as = None  # the encoding checkAndReadPreamble found (said in its debug line when there is a preamble)
        self.status: str | None = None
        self.elements: dict[int, _Element] = {}
        self.preamble = False
        self.end = 0
        self.xfer = None  # the meta header's own encoding (None: no meta header)


def _read_meta(st: _Stream, max_read: int = 4096) -> _Meta:
    """DcmMetaInfo::read with xfer EXS_Unknown (preamble check, group length, group-0002 heuristic)."""
    meta = _Meta()
    warnings = DATA.warnings
    if st.eos():
        meta.status = EC_END_OF_STREAM
        return meta
    # checkAndReadPreamble
    st.mark()
    head = st.read(132)
    if len(head) == 132 and head[128:132] == b"DICM":
        meta.preamble = True
    else:
        st.putback()
    xfer = meta.read_as = _check_transfer_syntax(st)
    if meta.preamble:
        DATA.debug(f'DcmMetaInfo::checkAndReadPreamble() TransferSyntax="{_XFER_NAMES[xfer]}"')
    start = st.pos
    if st.avail() < 12:
        meta.status = EC_STREAM_NOTIFY
        return meta
    # readGroupLength
    elements = meta.elements
    status: str | None = EC_TAG_NOT_FOUND
    length = UNDEFINED
    if _next_is_meta(st):
        status, tag, vr, vlen, nread = _read_tag_and_length(st, xfer)
        if status is None:
            elem = _Element(tag, vr, vlen)
            status = _read_sub_element(st, xfer, elem, max_read, elements)
            if status is None and tag == 0x00020000 and vlen > 0 and elem.value is not None:
                group_len = int.from_bytes(elem.value[:4].ljust(4, b"\0"), "little" if xfer[1] else "big")
                length = group_len + nread + vlen
            else:
                DATA.warn("DcmMetaInfo: No Group Length available in Meta Information Header")
                if status == EC_STREAM_NOTIFY:
                    status = EC_INVALID_STREAM
                elif status != EC_INVALID_STREAM:
                    status = EC_CORRUPTED_DATA
    if status is None or (status == EC_CORRUPTED_DATA and length == UNDEFINED):
        status = None
        complete = True
        while st.pos < st.size and (
                (length != UNDEFINED and st.pos - start < length)
                or (length == UNDEFINED and _next_is_meta(st)) or not complete):
            status, tag, vr, vlen, _n = _read_tag_and_length(st, xfer)
            if status is not None:
                break
            complete = False
            elem = _Element(tag, vr, vlen)
            status = _read_sub_element(st, xfer, elem, max_read, elements)
            if status is None:
                complete = True
            if tag >> 16 != 0x0002:
                DATA.warn(f"DcmMetaInfo: Invalid Element {tag_text(tag)} found in Meta Information Header")
            if status is not None:
                break
    if status in (EC_TAG_NOT_FOUND, EC_END_OF_STREAM):
        status = None
        meta.xfer = None  # DCMTK keeps the elements read so far, but the header counts as absent
        if meta.preamble:
            DATA.warn("DcmMetaInfo: Found Preamble but no Meta Information Header")
    elif status == EC_ITEM_END:
        status = None
        meta.xfer = xfer
    else:
        meta.xfer = xfer
    if status is None and length != UNDEFINED and st.pos - start != length:
        DATA.warn("DcmMetaInfo: Group Length of Meta Information Header has incorrect value")
    meta.status = status
    meta.end = st.pos
    meta.warned = DATA.warnings != warnings
    return meta


def _send_time_messages_differ(meta: _Meta | None) -> bool:
    """Whether what DCMTK says about this meta header when it reads the file again to send it is more than the usual
    'checkAndReadPreamble() TransferSyntax="Little Endian Explicit"' line: warnings, another encoding, no preamble,
    blanks removed from the Transfer Syntax UID, no known Transfer Syntax UID (lookForXfer's lines, the data set's
    encoding detected)."""
    if meta is None:
        return False
    if meta.warned or not meta.preamble or meta.read_as != LEE_X:
        return True
    ts = meta.elements.get(0x00020010)
    if ts is None or uids.transfer_syntax(_raw_uid(ts)) is None:
        return True
    return ts.vr == b"UI" and ts.value is not None and ts.value.translate(None, BLANKS) != ts.value



def _next_is_meta(st: _Stream) -> bool:
    st.mark()
    two = st.read(2)
    st.putback()
    if len(two) == 1:  # DCMTK compares an unread byte too (in practice the 0x00 left there by the last call)
        two += b"\x00"
    return two in (b"\x02\x00", b"\x00\x02")


# Not DCMTK's: its fopen waits forever for a writer of a named pipe (see docs/conformance.md)
WOULD_BLOCK_TEXT = "Not a regular file, and reading it would block (named pipe, socket or device without data)"


class WouldBlock(OSError):
    """The file is a named pipe, a socket or a device with nothing to read: opening or reading it would wait."""

    def __init__(self):
        super().__init__(11, WOULD_BLOCK_TEXT)


def open_without_waiting(path: str) -> int:
    """``os.open(path, O_RDONLY)`` that never waits: a regular file, a directory or a device with data at hand (such
    as /dev/zero and /dev/null) is opened as usual (a blocking descriptor); a named pipe, a socket or a device with
    nothing to read raises :class:`WouldBlock` (DCMTK would wait forever for a FIFO's writer)."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode) and not stat.S_ISDIR(mode):
            if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode):
                raise WouldBlock()
            import select

            poll = select.poll()
            poll.register(fd, select.POLLIN)
            if not poll.poll(0):
                raise WouldBlock()
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _open(path: str) -> tuple[int | None, int, str | None]:
    """fopen + size as DcmFileProducer does it: (fd, size, error text)."""
    try:
        fd = open_without_waiting(path)
    except WouldBlock:
        return None, 0, WOULD_BLOCK_TEXT
    except OSError as exc:
        return None, 0, os.strerror(exc.errno) if exc.errno else str(exc)
    except ValueError:  # embedded NUL: the C string ends there
        return _open(path.split("\0", 1)[0]) if path.split("\0", 1)[0] else (None, 0, os.strerror(2))
    try:
        st = os.fstat(fd)
        if stat.S_ISREG(st.st_mode):
            return fd, st.st_size, None
        size = os.lseek(fd, 0, os.SEEK_END)
        os.lseek(fd, 0, os.SEEK_SET)
        return fd, size, None
    except OSError as exc:
        os.close(fd)
        return None, 0, os.strerror(exc.errno or 0)


def _load_meta(path: str) -> tuple[str | None, _Meta | None]:
    """DcmMetaInfo::loadFile: (status, meta)."""
    fd, size, err = _open(path)
    if fd is None:
        return err, None
    try:
        first = os.read(fd, min(size, _Stream.CHUNK)) if size else b""
        st = _Stream(fd, size, first)
        meta = _read_meta(st)
    except OSError as exc:
        return os.strerror(exc.errno or 0), None
    finally:
        os.close(fd)
    status = meta.status
    if status is None and not meta.preamble:
        status = EC_META_MISSING
    return status, meta


def _load_fileformat(path: str, read_mode: str, max_read: int = 256):
    """DcmFileFormat::loadFile / DcmDataset::loadFile: (status, meta or None, data set elements, xfer used)."""
    if path == "-":
        data = sys.stdin.buffer.read() if sys.stdin is not None else b""
        fd, size, err = None, len(data), None
    else:
        fd, size, err = _open(path)
        data = b""
        if fd is None:
            return err, None, {}, None
    try:
        st = _Stream(fd, size, data)
        meta = None
        xfer_known = None
        if read_mode != READ_DATASET:
            status, meta, xfer_known = _read_file_meta(st, read_mode, max_read)
            if status is not None:
                return status, meta, {}, None
        if st.eos():
            return None, meta, {}, ""  # DcmDataset::read: end of stream is not an error
        if xfer_known is None:
            DATA.debug("DcmDataset::read() trying to detect transfer syntax of data set (because it is unknown)")
            xfer = _check_transfer_syntax(st)
            ts_uid = _XFER_UIDS.get(xfer, "")
            DATA.debug(f'DcmDataset::read() TransferSyntax="{_XFER_NAMES[xfer]}"')
        else:
            ts = uids.transfer_syntax(xfer_known)
            assert ts is not None  # (xfer_known: a known transfer syntax)
            ts_uid = ts.uid
            DATA.debug(f'DcmDataset::read() TransferSyntax="{ts.name}"')
            if ts.deflated:
                return _read_deflated(st, meta, ts_uid, max_read)
            xfer = _UID_XFERS.get(ts_uid, LEE_X)
        status, elements = _read_item_body(st, xfer, UNDEFINED, max_read, True)
        return status, meta, elements, ts_uid
    except OSError as exc:
        return os.strerror(exc.errno or 0), None, {}, None
    finally:
        if fd is not None:
            os.close(fd)


def _read_file_meta(st: _Stream, read_mode: str, max_read: int, ts_warning: bool = False):
    """DcmFileFormat::read up to its data set (+f, +fo): the meta header, lookForXfer, and with +fo the check that
    the meta header names a known transfer syntax: (status, meta or None, the transfer syntax UID or None: unknown,
    the data set's to be detected).  ``ts_warning``: say what DCMTK says when the Transfer Syntax UID has blanks."""
    if st.eos():
        return EC_END_OF_STREAM, None, None
    meta = _read_meta(st, max_read)
    if meta.status is not None:
        return meta.status, meta, None
    xfer_known = None
    ts_elem = meta.elements.get(0x00020010)
    if not meta.elements:
        DATA.debug("DcmFileFormat::lookForXfer() no MetaInfo found")
    elif ts_elem is None:
        DATA.debug("DcmFileFormat::lookForXfer() no TransferSyntax in MetaInfo")
    else:
        if ts_warning:
            _string_value(ts_elem, 0x00020010)
        ts_uid = _raw_uid(ts_elem)
        xfer_known = ts_uid if uids.transfer_syntax(ts_uid) else None
    if read_mode == READ_FILE_ONLY and xfer_known is None:
        return EC_META_MISSING, meta, None
    return None, meta, xfer_known


def read_file_meta(fd: int, size: int, read_mode: str) -> tuple[str | None, int, str | None]:
    """The meta header of a file as DCMTK's loadFile reads it when it sends the file, by the input phase's own
    reader, with DCMTK's messages (for a file whose data set offset the input phase did not find, a DICOMDIR's, and
    one whose meta header it found unusual, Instance.meta_reread): (condition text or None, data set offset, the
    transfer syntax UID from the meta header or None: unknown, to be detected from the data set).  ``read_mode``:
    READ_FILE or READ_FILE_ONLY."""
    st = _Stream(fd, size)
    try:
        status, meta, xfer_known = _read_file_meta(st, read_mode, 4096, True)
    except RecursionError:
        return EC_NESTING_TOO_DEEP, 0, None
    return status, st.pos if meta is None else meta.end, xfer_known


def _read_deflated(st: _Stream, meta, ts_uid: str, max_read: int):
    import zlib
    rest = st.read(st.avail())
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    try:
        data = inflater.decompress(rest)
    except zlib.error as exc:
        return zlib_error_text(exc), meta, {}, ts_uid
    if not inflater.eof:  # (DCMTK's inflating stream waits for more: the data set read ends suspended)
        return EC_STREAM_NOTIFY, meta, {}, ts_uid
    inner = _Stream(None, len(data), data)
    status, elements = _read_item_body(inner, LEE_X, UNDEFINED, max_read, True)
    return status, meta, elements, ts_uid


def zlib_error_text(exc: Exception) -> str:
    """DCMTK's condition text for an inflate error: "ZLib Error: " and zlib's own message."""
    text = str(exc)
    return "ZLib Error: " + (text.split(": ", 1)[1] if ": " in text else text)


def _raw_uid(elem: _Element) -> str:
    if elem.value is None:
        return ""
    raw = elem.value.translate(None, BLANKS).rstrip(b"\x00")
    return _decode(raw.split(b"\x00", 1)[0])


# ---------------------------------------------------------------------------------------------------------------
# UIDs from a file (DcmDataUtil::getSOPInstanceFromFile)


def get_sop_instance_from_file(path: str, read_mode: str):
    """-> (status or None, sop class, sop instance, transfer syntax, data set offset or -1, whether the send-time load
    must read the meta header again for DCMTK's messages)."""
    DATA.debug("getting SOP Class UID, SOP Instance UID and Transfer Syntax UID from DICOM file")
    cls = inst = ts = ""
    status: str | None = EC_ILLEGAL_PARAMETER
    offset = -1
    reread = False
    if read_mode != READ_DATASET:
        status, meta = _load_meta(path)
        if status is None:
            DATA.debug("trying to get SOP Class UID, SOP Instance UID and Transfer Syntax UID from meta-header")
            assert meta is not None  # (no status: the meta header was read)
            el = meta.elements
            cls = _string_value(el.get(0x00020002), 0x00020002)
            inst = _string_value(el.get(0x00020003), 0x00020003)
            ts = _string_value(el.get(0x00020010), 0x00020010)
            offset = meta.end
        reread = _send_time_messages_differ(meta)
    if read_mode not in (READ_FILE_ONLY,):
        if not cls or not inst:
            DATA.debug("no SOP Class UID and/or SOP Instance UID found in meta-header, checking dataset instead")
        if status is not None or not cls or not inst or not ts:
            status, meta, elements, found_ts = _load_fileformat(path, read_mode)
            offset = meta.end if meta is not None else 0
            reread = _send_time_messages_differ(meta)
            if status is None:
                if not cls:
                    cls = _string_value(elements.get(0x00080016), 0x00080016)
                if not inst:
                    inst = _string_value(elements.get(0x00080018), 0x00080018)
                if not ts:
                    DATA.debug("no Transfer Syntax UID found in meta-header, trying to determine from dataset instead")
                    ts = found_ts or ""
    return status, cls, inst, ts, offset, reread


__all__ = ["READ_FILE", "READ_FILE_ONLY", "READ_DATASET", "get_sop_instance_from_file", "read_file_meta",
           "detect_transfer_syntax", "open_without_waiting"]
