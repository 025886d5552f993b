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

from dcmsend import exitcodes, uids
from dcmsend.dictionary import BLANKS
from dcmsend.exitcodes import Exit
from dcmsend.log import APP, DATA, DEBUG, NET
from dcmsend.part10 import (
    _SHORT_VRS,
    _STANDARD_VRS,
    _VALUE_WIDTH,
    EC_ILLEGAL_PARAMETER,
    EC_INVALID_CHARACTER,
    EC_INVALID_FILENAME,
    EC_LENGTH_VIOLATED,
    EC_NESTING_TOO_DEEP,
    EC_VM_VIOLATED,
    EC_VR_VIOLATED,
    NET_INVALID_SOP_CLASS,
    NET_INVALID_SOP_INSTANCE,
    NET_INVALID_TS,
    NET_UNKNOWN_STORAGE_CLASS,
    NET_UNKNOWN_TS,
    READ_FILE_ONLY,
    _Element,
    _load_fileformat,
    _string_value,
    get_sop_instance_from_file,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any


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
        # send-time load reads it again for what DCMTK says then (part10.read_file_meta)
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


__all__ = ["Instance", "collect", "add_dicom_file", "expand_inputs", "check_sop_instance", "check_uid_value",
           "fnmatch_pathname"]
