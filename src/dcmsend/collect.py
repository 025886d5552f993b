"""Input phase: turn the file parameters into the transfer list of Instance records.

Mirrors dcmsend's main() from "determining input files ..." up to the association-mode debug line, together with
DcmStorageSCU::addDicomFile / addDicomFilesFromDICOMDIR / checkSOPInstance, DcmDataUtil::getSOPInstanceFromFile,
OFStandard::searchDirectoryRecursively and the parts of DcmMetaInfo / DcmItem reading that decide the outcome and
the log lines (DCMTK 3.6.7).

Documented deviations (improvements):
* directory scanning does not follow a symbolic link back into a directory that is being scanned already
  (DCMTK recurses until the path gets too long);
* a Referenced File ID of a DICOMDIR that is absolute or climbs out of the DICOMDIR's directory with ``..`` is
  refused for that record with "Invalid filename" (DCMTK would send whatever file it names).
"""

from __future__ import annotations

import os
import stat
import struct
import sys

from dcmsend import dictionary, exitcodes, uids
from dcmsend.dictionary import BLANKS, tag_name, tag_text
from dcmsend.exitcodes import Exit
from dcmsend.log import APP, DATA, DEBUG, NET

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

# Read modes (DCMTK's E_FileReadMode as chosen by +f / +fo / -f).
READ_FILE = "file"  # +f  : file format or bare data set (auto-detect)
READ_FILE_ONLY = "fileonly"  # +fo : file format only (default)
READ_DATASET = "dataset"  # -f  : bare data set without meta header

STATUS_NO_ACCEPTABLE_CONTEXT = 0xFFFF
STATUS_INVALID_DATASET_PTR = 0xFFFE


# One object for equal values that repeat across a transfer list (SOP Class and Transfer Syntax UIDs, read modes,
# directory prefixes of paths, data set offsets and sizes): the list's memory grows by what is unique to each
# instance only. Bounded, so that inputs where nothing repeats cannot grow them without limit.
_SHARED_MAX = 1 << 16
_shared_str: dict[str, str] = {}
_shared_int: dict[int, int] = {}


def _share_str(value):
    if type(value) is not str:  # (e.g. pydicom's UID, a str subclass, given through the Python API: kept as it is)
        return value
    shared = _shared_str.get(value)
    if shared is None:
        if len(_shared_str) >= _SHARED_MAX:
            return value
        shared = _shared_str[value] = value
    return shared


def _share_int(value):
    if type(value) is not int:
        return value
    shared = _shared_int.get(value)
    if shared is None:
        if len(_shared_int) >= _SHARED_MAX:
            return value
        shared = _shared_int[value] = value
    return shared


class Instance:
    """One transfer-list entry: what DCMTK's DcmStorageSCU keeps per SOP instance.

    (A plain class with slots rather than a dataclass: importing ``dataclasses`` costs milliseconds at start-up.)
    Memory: a transfer list may hold millions of entries, so an entry stores what is unique to it once and shares
    everything that repeats (see ``_share_str``): the path is kept as its directory prefix (shared by the files of
    a directory) and its file name, and read back whole through the ``path`` property; the data set offset and
    size are shared numbers. ~320 bytes per instance for a 40-character path and a 58-character SOP Instance UID
    (tests/test_memory.py); DCMTK's own list grows by ~550 bytes per instance.
    """

    # the public fields, in constructor order (repr, the Python API)
    FIELDS = ("path", "read_mode", "sop_class_uid", "sop_instance_uid", "transfer_syntax_uid", "dataset_offset",
              "dataset_size", "association", "context_id", "network_ts", "status", "request_sent", "meta_reread")
    __slots__ = ("_dir", "_name", "read_mode", "sop_class_uid", "sop_instance_uid", "transfer_syntax_uid",
                 "dataset_offset", "_size", "association", "context_id", "_network_ts", "status", "request_sent",
                 "meta_reread")

    def __init__(self, path: str, read_mode: str, sop_class_uid: str, sop_instance_uid: str, transfer_syntax_uid: str,
                 dataset_offset: int = -1, dataset_size: int = 0, association: int = 0, context_id: int = 0,
                 network_ts: str = "", status: int | None = None, request_sent: bool = False,
                 meta_reread: bool = False):
        self.path = path  # as DCMTK prints it
        self.read_mode = _share_str(read_mode)
        self.sop_class_uid = _share_str(sop_class_uid)
        self.sop_instance_uid = sop_instance_uid
        self.transfer_syntax_uid = _share_str(transfer_syntax_uid)
        # Filled by later stages.
        # byte offset of the data set in the file, when the input phase knows it
        self.dataset_offset = _share_int(dataset_offset)
        self._size = _share_int(dataset_size)
        self.association = association
        self.context_id = context_id
        self._network_ts = _share_str(network_ts)
        self.status = status  # DIMSE status of the response; None: no response (not sent)
        # DCMTK's RequestSent: response received, or a pseudo-status (0xFFFF/0xFFFE) set
        self.request_sent = request_sent
        # the input phase found the meta header unusual (warnings, not explicit VR little endian, no preamble): the
        # send-time load reads it again for what DCMTK says then (collect.read_file_meta)
        self.meta_reread = meta_reread

    @property
    def path(self) -> str:
        """The file's path as DCMTK prints it (the directory prefix and the name stored apart)."""
        prefix = self._dir
        return prefix + self._name if prefix else self._name

    @path.setter
    def path(self, value: str) -> None:
        cut = value.rfind("/") + 1 if type(value) is str else 0  # (anything else, e.g. a PathLike, kept as given)
        if cut:
            self._dir = _share_str(value[:cut])
            self._name = value[cut:]
        else:
            self._dir = ""
            self._name = value

    @property
    def dataset_size(self) -> int:
        return self._size

    @dataset_size.setter
    def dataset_size(self, value: int) -> None:
        self._size = _share_int(value)

    @property
    def network_ts(self) -> str:
        return self._network_ts

    @network_ts.setter
    def network_ts(self, value: str) -> None:
        self._network_ts = _share_str(value)

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.FIELDS)
        return f"Instance({fields})"

    @property
    def uncompressed(self) -> bool:
        return self.transfer_syntax_uid in ("1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2")


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
# fnmatch(pattern, name, FNM_PATHNAME) as glibc does it (byte-wise, "C" locale, backslash escapes, no FNM_PERIOD)

_CLASSES = {
    b"alnum": "a-zA-Z0-9", b"alpha": "a-zA-Z", b"blank": " \\t", b"cntrl": "\\x00-\\x1f\\x7f", b"digit": "0-9",
    b"graph": "\\x21-\\x7e", b"lower": "a-z", b"print": "\\x20-\\x7e", b"punct": "!-/:-@\\[-`{-~",
    b"space": " \\t\\n\\r\\x0b\\x0c", b"upper": "A-Z", b"xdigit": "0-9A-Fa-f",
}
_pattern_cache: dict[bytes, Any] = {}  # compiled patterns (re.Pattern) or None


def _esc(byte: int) -> str:
    return "\\x%02x" % byte


def _parse_bracket(pat: bytes, i: int) -> tuple[str | None, int]:
    """Parse a bracket expression starting after '['; return (regex class, index after ']') or (None, i)."""
    n = len(pat)
    j = i
    negate = False
    if j < n and pat[j] in (0x21, 0x5E):  # '!' or '^'
        negate = True
        j += 1
    parts: list[str] = []
    first = True
    while True:
        if j >= n:
            return None, i  # unterminated: '[' is literal
        c = pat[j]
        if c == 0x5D and not first:  # ']'
            j += 1
            break
        first = False
        if c == 0x5B and j + 1 < n and pat[j + 1] in (0x3A, 0x3D, 0x2E):  # [: [= [.
            kind = pat[j + 1]
            end = pat.find(bytes([kind, 0x5D]), j + 2)
            if end < 0:
                return None, i
            name = pat[j + 2:end]
            j = end + 2
            if kind == 0x3A:
                if name not in _CLASSES:
                    return "(?!)", _skip_to_bracket_end(pat, j)  # unknown class: glibc fails the match
                parts.append(_CLASSES[name])
                continue
            # [=c=] / [.c.]: single-byte collating element in the C locale
            if len(name) != 1:
                return "(?!)", _skip_to_bracket_end(pat, j)
            lo = name[0]
        else:
            if c == 0x5C:  # backslash escape
                j += 1
                if j >= n:
                    return None, i
                c = pat[j]
            lo = c
            j += 1
        # range?
        if j + 1 < n and pat[j] == 0x2D and pat[j + 1] != 0x5D:  # '-' not followed by ']'
            k = j + 1
            hi = pat[k]
            if hi == 0x5C:
                k += 1
                if k >= n:
                    return None, i
                hi = pat[k]
            elif hi == 0x5B and k + 1 < n and pat[k + 1] in (0x3D, 0x2E):
                kind = pat[k + 1]
                end = pat.find(bytes([kind, 0x5D]), k + 2)
                if end < 0 or end - (k + 2) != 1:
                    return None, i
                hi = pat[k + 2]
                k = end + 1
            j = k + 1
            if lo <= hi:
                parts.append(_esc(lo) + "-" + _esc(hi))
            continue
        parts.append(_esc(lo))
    body = "".join(parts)
    if negate:
        return ("[^/" + body + "]") if body else "[^/]", j
    return ("(?![/])[" + body + "]") if body else "(?!)", j


def _skip_to_bracket_end(pat: bytes, j: int) -> int:
    end = pat.find(b"]", j)
    return len(pat) if end < 0 else end + 1


def _compile_fnmatch(pattern: bytes):
    import re  # (here: only +sp needs it; the re module costs milliseconds at start-up)

    out: list[str] = []
    i = 0
    n = len(pattern)
    while i < n:
        c = pattern[i]
        if c == 0x2A:  # '*'
            while i < n and pattern[i] == 0x2A:
                i += 1
            out.append("[^/]*")
            continue
        if c == 0x3F:  # '?'
            out.append("[^/]")
        elif c == 0x5B:  # '['
            cls, j = _parse_bracket(pattern, i + 1)
            if cls is None:
                out.append(_esc(c))
            else:
                out.append(cls)
                i = j
                continue
        elif c == 0x5C:  # '\'
            i += 1
            if i >= n:
                return None  # trailing backslash never matches
            out.append(_esc(pattern[i]))
        else:
            out.append(_esc(c))
        i += 1
    return re.compile("".join(out).encode("latin-1") + rb"\Z", re.DOTALL)


def fnmatch_pathname(pattern: str | bytes, name: str | bytes) -> bool:
    """C ``fnmatch(pattern, name, FNM_PATHNAME) == 0`` in the "C" locale (what DCMTK's ``+sp`` uses)."""
    if isinstance(pattern, str):
        pattern = os.fsencode(pattern)
    if isinstance(name, str):
        name = os.fsencode(name)
    try:
        rx = _pattern_cache[pattern]
    except KeyError:
        rx = _pattern_cache[pattern] = _compile_fnmatch(pattern)
    return rx is not None and rx.match(name) is not None


# ---------------------------------------------------------------------------------------------------------------
# Directory scanning (OFStandard::searchDirectoryRecursively)


def _normalize_dir(name: str) -> str:
    """normalizeDirName(..., allowEmptyDirName=true): drop trailing '/', '' and '.' become ''."""
    while len(name) > 1 and name.endswith("/"):
        name = name[:-1]
    return "" if name in ("", ".") else name


def _combine(dirname: str, filename: str) -> str:
    """combineDirAndFilename(..., allowEmptyDirName=true)."""
    if filename.startswith("/"):
        return filename
    result = _normalize_dir(dirname)
    if len(filename) > 1 or (len(filename) == 1 and filename != "."):
        if not result:
            return filename
        return result + filename if result.endswith("/") else result + "/" + filename
    return result


def _opendir_ok(path: str) -> bool:
    """OFStandard::dirExists: can the path be opened as a directory?"""
    if not path:
        return False
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except (OSError, ValueError):
        return False
    os.close(fd)
    return True


def _search_directory(directory: str, out: list[str], pattern: bytes | None, recurse: bool,
                      ancestors: tuple = ()) -> None:
    # dirName as DCMTK opens it (combineDirAndFilename("", directory) with "." as the empty directory)
    opened = directory if (directory.startswith("/") or directory in ("", ".")) else "./" + directory
    try:
        st = os.stat(opened)
        key = (st.st_dev, st.st_ino)
        if key in ancestors:  # improvement: a symbolic link back into the tree being scanned
            return
        it = os.scandir(opened)
    except (OSError, ValueError):
        return
    ancestors = ancestors + (key,)
    bare = opened == "."
    with it:
        for entry in it:
            name = entry.name
            path = name if bare else _combine(directory, name)
            try:
                is_dir = entry.is_dir()
            except OSError:
                is_dir = False
            if is_dir and _opendir_ok(path):
                if recurse:
                    _search_directory(path, out, pattern, recurse, ancestors)
            elif pattern is None or fnmatch_pathname(pattern, os.fsencode(name)):
                out.append(path)


def expand_inputs(options) -> list[str]:
    """The list of input files, in DCMTK's order (directories expanded with ``+sd``)."""
    files: list[str] = []
    pattern = os.fsencode(options.scan_pattern) if options.scan_pattern else None
    for param in options.files:
        if _opendir_ok(param):
            if options.scan_directories:
                _search_directory(param, files, pattern, options.recurse)
            else:
                APP.warn(f"ignoring directory because option --scan-directories is not set: {param}")
        else:
            files.append(param)
    return files


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


# ---------------------------------------------------------------------------------------------------------------
# UID value checks (DcmUniqueIdentifier::checkStringValue with VM "1")

_NOT_UID_CHARS = b"0123456789."
_ONE_FOR_NONZERO = bytes.maketrans(b"23456789", b"11111111")


def uid_shaped(value: bytes) -> bool:
    """Whether ``value`` is dot-separated numbers without leading zeros (``0`` itself allowed): what the regular
    expression ``(?:(?:[0-9]|[1-9][0-9]+)\\.)*(?:[0-9]|[1-9][0-9]+)\\Z`` accepts, without the re module."""
    if not value or value.translate(None, _NOT_UID_CHARS):
        return False
    shape = b"." + value.translate(_ONE_FOR_NONZERO) + b"."
    return b".." not in shape and b".00" not in shape and b".01" not in shape


def check_uid_value(value: str) -> str | None:
    """The condition text of DCMTK's UI check with VM 1, or None if the value is fine."""
    if not value:
        return None
    components = value.encode("utf-8", "surrogateescape").split(b"\\")
    for comp in components:
        if len(comp) > 64:
            return EC_LENGTH_VIOLATED
        if any(ch > 127 for ch in comp):
            return EC_INVALID_CHARACTER
        if comp and not uid_shaped(comp):
            return EC_VR_VIOLATED
    if len(components) != 1:
        return EC_VM_VIOLATED
    return None


def check_sop_instance(cls: str, inst: str, ts: str, check_values: bool) -> str | None:
    """DcmStorageSCU::checkSOPInstance: None if fine, else the condition text (debug lines are logged)."""
    status: str | None = None
    if not cls:
        NET.debug("empty or missing SOP Class UID")
        status = NET_INVALID_SOP_CLASS
    if status is None and check_values:
        reason = check_uid_value(cls)
        if reason is None:
            if not uids.is_storage_class(cls):
                if cls.startswith("1.2.840.10008.5.1.4.1.1"):
                    NET.debug(f"unknown storage SOP class (with standard UID prefix): {cls}")
                elif cls.startswith("1.2.840.10008"):
                    name = uids.uid_name(cls)
                    if name is not None:
                        NET.debug(f"unexpected standard UID (no storage SOP class): {cls} ({name})")
                        status = NET_INVALID_SOP_CLASS
                    else:
                        NET.debug(f"unknown standard UID (probably no storage SOP class): {cls}")
                        status = NET_UNKNOWN_STORAGE_CLASS
                else:
                    NET.debug(f"unknown UID (possibly private storage SOP class): {cls}")
        else:
            NET.debug(f"invalid SOP Class UID {cls}: {reason}")
            status = NET_INVALID_SOP_CLASS
    if status is None:
        if not inst:
            NET.debug("empty or missing SOP Instance UID")
            status = NET_INVALID_SOP_INSTANCE
        elif check_values:
            reason = check_uid_value(inst)
            if reason is not None:
                NET.debug(f"invalid SOP Instance UID {inst}: {reason}")
                status = NET_INVALID_SOP_INSTANCE
    if status is None:
        if not ts:
            NET.debug("empty or missing Transfer Syntax UID")
            status = NET_INVALID_TS
        elif check_values:
            reason = check_uid_value(ts)
            if reason is None:
                known = uids.transfer_syntax(ts)
                if known is not None and known.retired:
                    NET.debug(f"retired transfer syntax: {ts}")
                elif known is None:
                    # DCMTK quirk: the message is chosen from the SOP Class UID prefix
                    if cls.startswith("1.2.840.10008.1.2"):
                        NET.debug(f"unknown standard transfer syntax (with standard UID prefix): {ts}")
                    elif cls.startswith("1.2.840.10008"):
                        NET.debug(f"unknown standard UID (probably no transfer syntax): {ts}")
                    else:
                        NET.debug(f"unknown UID (possibly private transfer syntax): {ts}")
                    status = NET_UNKNOWN_TS
            else:
                NET.debug(f"invalid Transfer Syntax UID {ts}: {reason}")
                status = NET_INVALID_TS
    return status


# ---------------------------------------------------------------------------------------------------------------
# DICOMDIR (DcmStorageSCU::addDicomFilesFromDICOMDIR)


def _iter_file_ids(elements: dict[int, _Element]):
    """Depth-first, in tag order, every Referenced File ID below the top level with its containing item."""
    for tag in sorted(elements):
        elem = elements[tag]
        if elem.items is None:
            continue
        for item in elem.items:
            for itag in sorted(item):
                ielem = item[itag]
                if itag == 0x00041500:
                    yield ielem, item
                elif ielem.items is not None:
                    yield from _iter_file_ids({itag: ielem})


def _multi_value(elem: _Element | None) -> str:
    """getOFStringArray of a CS/UI element: the whole value, padding removed."""
    if elem is None or elem.value is None:
        return ""
    return _string_value(elem, elem.tag)


def _dicomdir_escapes(file_id_path: str) -> bool:
    """Improvement: is a Referenced File ID absolute, or does it climb out of the DICOMDIR's directory?"""
    if file_id_path.startswith("/"):
        return True
    depth = 0
    for part in file_id_path.split("/"):
        if part == "..":
            depth -= 1
            if depth < 0:
                return True
        elif part not in ("", "."):
            depth += 1
    return False


def _add_from_dicomdir(path: str, read_mode: str, check_values: bool, halt: bool,
                       transfer_list: list[Instance]) -> str | None:
    NET.debug(f"adding DICOM files referenced from '{path}'")
    status, meta, elements, _ts = _load_fileformat(path, READ_FILE_ONLY, 4096)
    if status is not None:
        return status
    slash = path.rfind("/")
    dirname = path[:slash] if slash >= 0 else ""
    for elem, item in _iter_file_ids(elements):
        file_id = _multi_value(elem)
        if file_id:
            NET.debug(f"adding DICOM file with Referenced File ID '{file_id}'")
            NET.debug("getting SOP Class UID, SOP Instance UID and Transfer Syntax UID from DICOMDIR record")
            cls = _multi_value(item.get(0x00041510))
            inst = _multi_value(item.get(0x00041511))
            ts = _multi_value(item.get(0x00041512))
            status = check_sop_instance(cls, inst, ts, check_values)
            if status is None:
                host_name = file_id.replace("\\", "/")
                if _dicomdir_escapes(host_name):
                    status = EC_INVALID_FILENAME
                else:
                    full = _combine(dirname, host_name)
                    transfer_list.append(Instance(full, read_mode, cls, inst, ts))
                    NET.debug(f"successfully added SOP instance {inst} to the transfer list")
            if status is not None:
                NET.error(f"cannot add DICOM file from DICOMDIR to the transfer list: {file_id}: {status}")
        else:
            NET.error("cannot add DICOM file from DICOMDIR with empty filename")
            status = EC_INVALID_FILENAME
        if halt and status is not None:
            break
    return status


# ---------------------------------------------------------------------------------------------------------------
# The input phase


def add_dicom_file(path: str, options, transfer_list: list[Instance]) -> str | None:
    """DcmStorageSCU::addDicomFile: queue one file (or a DICOMDIR's records); None or the condition text."""
    if not path:
        NET.error("cannot add DICOM file with empty filename")
        return EC_ILLEGAL_PARAMETER
    NET.debug(f"adding DICOM file '{path}'")
    before = len(transfer_list)
    is_dicomdir = False
    check_values = not options.no_uid_checks
    try:
        status, cls, inst, ts, offset, reread = get_sop_instance_from_file(path, options.read_mode)
    except RecursionError:
        status, cls, inst, ts, offset, reread = EC_NESTING_TOO_DEEP, "", "", "", -1, False
    if status is None:
        if options.read_from_dicomdir and cls == uids.MEDIA_STORAGE_DIRECTORY:
            NET.debug("processing a DICOMDIR file (Media Storage Directory Storage SOP Class)")
            is_dicomdir = True
            try:
                status = _add_from_dicomdir(path, options.read_mode, check_values, not options.no_halt,
                                            transfer_list)
            except RecursionError:
                status = EC_NESTING_TOO_DEEP
        else:
            status = check_sop_instance(cls, inst, ts, check_values)
            if status is None:
                transfer_list.append(Instance(path, options.read_mode, cls, inst, ts, dataset_offset=offset,
                                              meta_reread=reread))
    if status is None:
        if is_dicomdir:
            count = len(transfer_list) - before
            if count > 0:
                NET.debug(f"successfully added {count} SOP instances from DICOMDIR to the transfer list")
        else:
            NET.debug(f"successfully added SOP instance {inst} to the transfer list")
    elif is_dicomdir:
        NET.error(f"cannot add DICOM files from DICOMDIR to the transfer list: {path}: {status}")
    else:
        NET.error(f"cannot add DICOM file to the transfer list: {path}: {status}")
    return status


# DCMTK's compiled-in default dictionary path (Debian/Ubuntu package of DCMTK 3.6.7)
DEFAULT_DICT_PATH = "/usr/share/libdcmtk17/dicom.dic:/usr/share/libdcmtk17/private.dic"


def load_data_dictionary(environ=None) -> bool:
    """The log lines of DCMTK's lazy data dictionary load (DcmDataDictionary::loadExternalDictionaries).

    Our dictionary is built in; this only reproduces what DCMTK reports for ``DCMDICTPATH``: the default path is
    assumed to be installed, files named in ``DCMDICTPATH`` are checked (exists, is a file, can be opened).  The
    contents of a dictionary file are not parsed.  Returns DCMTK's "dictionary loaded" flag.
    """
    env = (os.environ if environ is None else environ).get("DCMDICTPATH", "")
    if not env:
        for name in DEFAULT_DICT_PATH.split(":"):
            DATA.debug(f"DcmDataDictionary: Loading file: {name}")
        return True
    attempted = loaded = 0
    for name in env.split(":"):
        if not name:
            continue
        try:
            ok = os.path.exists(name) and not os.path.isdir(name)
            if ok:
                with open(name, "rb"):
                    pass
        except (OSError, ValueError):
            ok = False
        attempted += 1
        if ok:
            DATA.debug(f"DcmDataDictionary: Loading file: {name}")
            loaded += 1
        else:
            DATA.error(f"DcmDataDictionary: Cannot open file: {name}")
    if attempted and not loaded:  # (verified: one loadable file is enough, no entries at all is no warning)
        APP.warn("no data dictionary loaded, check environment variable: DCMDICTPATH")
        return False
    return True


# ---------------------------------------------------------------------------------------------------------------
# Fast path for +fo when no debug output is wanted: a plain, well-formed meta header is read with one read() and
# no per-element objects; anything unusual falls back to the exact emulation above (same result, same messages).

_FAST_HEAD = b"\x02\x00\x00\x00UL\x04\x00"
_unpack_i = struct.Struct("<I").unpack_from
_unpack_h = struct.Struct("<H").unpack_from
# (meta header bytes before the SOP Instance UID's length, bytes after its value, class UID, TS UID) of the last
# file _fast_meta walked whole and accepted
_meta_shape: tuple[bytes, bytes, str, str] | None = None
# tag (read as a little-endian (element << 16 | group) number), VR, the 2-byte length of a short element
_unpack_element = struct.Struct("<I2sH").unpack_from


def _fast_meta(path: str):
    """(class, instance, TS, data set offset) of a plain Part-10 file, or None when the exact reader is needed."""
    global _meta_shape
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)  # (a named pipe: not waited for, the exact way refuses it)
    except (OSError, ValueError):
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        data = os.read(fd, 4096)
    except OSError:
        return None
    finally:
        os.close(fd)
    if len(data) < 156 or data[128:132] != b"DICM" or data[132:140] != _FAST_HEAD:
        return None
    end = 144 + _unpack_i(data, 140)[0]
    if end > len(data):
        return None
    # The files of a series usually have meta headers that differ only in the SOP Instance UID (its value and
    # length): when everything before and after that value is byte for byte what the last file the full walk
    # accepted had, the walk below would take the same steps and end the same way.
    shape = _meta_shape
    if shape is not None and data.startswith(shape[0], 144):
        prefix, suffix, cls_text, ts_text = shape
        vpos = 144 + len(prefix) + 2
        if vpos <= end:
            vend = vpos + _unpack_h(data, vpos - 2)[0]
            if vend + len(suffix) == end and not (vend - vpos) & 1 and data.startswith(suffix, vend):
                value = data[vpos:vend]
                if value.translate(None, BLANKS) == value:
                    inst = value.rstrip(b"\x00")
                    if inst.isascii():
                        return cls_text, inst.decode(), ts_text, end, inst
    pos = 144
    last = 0x00000002  # (0002,0000) read as a little-endian (element << 16 | group) number
    cls = inst = ts = b""
    inst_at = inst_end = 0
    vr_info = _FAST_VR_INFO
    element = _unpack_element
    while pos < end:
        if pos + 8 > end:
            return None  # an element header cut by the end of the meta header: the exact reader says what
        tag, vr, length = element(data, pos)
        info = vr_info.get(vr)
        if info is None or tag <= last or tag & 0xFFFF != 2:
            return None
        last = tag
        header, width = info
        if header != 8:
            if pos + 12 > end:
                return None
            length = _unpack_i(data, pos + 8)[0]
        pos += header
        if length & 1 or pos + length > end or (width and length % width):
            return None
        if tag in _FAST_UID_TAGS:
            if header != 8 or data[pos - 4:pos - 2] != b"UI":
                return None
            value = data[pos:pos + length]
            if value.translate(None, BLANKS) != value:
                return None
            if tag == 0x00020002:
                cls = value.rstrip(b"\x00")
            elif tag == 0x00030002:
                inst = value.rstrip(b"\x00")
                inst_at, inst_end = pos, pos + length
            else:
                ts = value.rstrip(b"\x00")
        pos += length
    if pos != end or not cls.isascii() or not inst.isascii() or not ts.isascii():
        return None
    result = cls.decode(), inst.decode(), ts.decode(), end, inst
    if inst_at:
        _meta_shape = (data[144:inst_at - 2], data[inst_end:end], result[0], result[2])
    return result


_FAST_UID_TAGS = frozenset((0x00020002, 0x00030002, 0x00100002))
_FAST_VR_INFO = {vr: (8 if vr in _SHORT_VRS else 12, _VALUE_WIDTH.get(vr, 0))
                 for vr in _STANDARD_VRS if vr != b"SQ"}


def _collect_fast(files: list[str], options, transfer_list: list[Instance]) -> int:
    """The check loop for +fo without debug output; returns the number of invalid files."""
    invalid = 0
    check_values = not options.no_uid_checks
    read_mode = options.read_mode
    dicomdir = options.read_from_dicomdir
    verdicts: dict[tuple[str, ...], str | None] = {}
    append = transfer_list.append
    debug = DATA.enabled(DEBUG) or NET.enabled(DEBUG)
    for index, path in enumerate(files):
        files[index] = ""  # the entry keeps what it needs of the path: no second copy of every path at the peak
        found = _fast_meta(path) if path else None
        if found is not None:
            cls, inst, ts, offset, raw_inst = found
            if not (dicomdir and cls == uids.MEDIA_STORAGE_DIRECTORY) and (
                    not check_values or (len(raw_inst) <= 64 and uid_shaped(raw_inst))):
                if debug:
                    # the lines of add_dicom_file for this case, in DCMTK's order
                    NET.debug(f"adding DICOM file '{path}'")
                    DATA.debug("getting SOP Class UID, SOP Instance UID and Transfer Syntax UID from DICOM file")
                    DATA.debug('DcmMetaInfo::checkAndReadPreamble() TransferSyntax="Little Endian Explicit"')
                    DATA.debug("trying to get SOP Class UID, SOP Instance UID and Transfer Syntax UID from "
                               "meta-header")
                    status = check_sop_instance(cls, inst, ts, check_values)
                    if status is None:
                        append(Instance(path, read_mode, cls, inst, ts, dataset_offset=offset))
                        NET.debug(f"successfully added SOP instance {inst} to the transfer list")
                        continue
                    NET.error(f"cannot add DICOM file to the transfer list: {path}: {status}")
                else:
                    key = (cls, ts) if inst else (cls, ts, "")
                    try:
                        status = verdicts[key]
                    except KeyError:
                        status = verdicts[key] = check_sop_instance(cls, inst, ts, check_values)
                    if status is None:
                        append(Instance(path, read_mode, cls, inst, ts, dataset_offset=offset))
                        continue
                    status = add_dicom_file(path, options, transfer_list)
            else:
                status = add_dicom_file(path, options, transfer_list)
        else:
            status = add_dicom_file(path, options, transfer_list)
        if status is not None:
            shown = path if path else "<empty string>"
            if not options.no_halt:
                APP.fatal(f"bad DICOM file: {shown}: {status}")
                raise Exit(exitcodes.INVALID_INPUT_FILE)
            APP.warn(f"bad DICOM file: {shown}: {status}, ignoring file")
            invalid += 1
    return invalid


def collect(options, transfer_list: list[Instance] | None = None) -> list[Instance]:
    """The input phase of dcmsend: log as DCMTK does, return the transfer list or raise Exit(21/22/23).

    ``transfer_list``: the list to fill (the Python API passes one, to keep what was found before an Exit)."""
    load_data_dictionary()
    if options.scan_directories:
        APP.info("determining input files ...")
    files = expanded = expand_inputs(options)
    if not files:
        APP.fatal("no input files to be processed")
        raise Exit(exitcodes.NO_INPUT_FILES)
    APP.info("checking input files ...")
    if transfer_list is None:
        transfer_list = []
    invalid = 0
    if options.read_mode == READ_FILE_ONLY:
        files = []  # handled below
        invalid = _collect_fast(expanded, options, transfer_list)
    for index, path in enumerate(files):
        files[index] = ""  # (as in _collect_fast)
        status = add_dicom_file(path, options, transfer_list)
        if status is not None:
            shown = path if path else "<empty string>"
            if not options.no_halt:
                APP.fatal(f"bad DICOM file: {shown}: {status}")
                raise Exit(exitcodes.INVALID_INPUT_FILE)
            APP.warn(f"bad DICOM file: {shown}: {status}, ignoring file")
            invalid += 1
    if not transfer_list:
        APP.fatal("no valid input files to be processed")
        raise Exit(exitcodes.NO_VALID_INPUT_FILES)
    APP.debug(f"in total, there are {len(transfer_list)} SOP instances to be sent, {invalid} invalid files are "
              "ignored")
    if options.multi_associations:
        APP.debug("multiple associations allowed (option --multi-associations used)")
    else:
        APP.debug("only a single associations allowed (option --single-association used)")
    return transfer_list


__all__ = ["Instance", "READ_FILE", "READ_FILE_ONLY", "READ_DATASET", "collect", "add_dicom_file", "expand_inputs",
           "check_sop_instance", "check_uid_value", "fnmatch_pathname", "get_sop_instance_from_file",
           "read_file_meta", "detect_transfer_syntax"]
