"""The conversion side of sending: load an instance as DCMTK's ``DcmFileFormat::loadFile`` does at send time, report
its size as ``DcmDataset::calcElementLength`` does, and decide how the data set is produced in the network transfer
syntax: as it is (byte ranges of the file, streamed with ``os.preadv``), converted between the uncompressed syntaxes,
deflated, or decompressed.  The data-set codec is walk.py (the fast walk, first) and dataset.py (the exact reader,
where the walk gives up); the pixel decoders are decompress.py.
"""

from __future__ import annotations

import mmap
import os
import stat

from dcmsend import collect, part10, uids, walk
from dcmsend.dataset import (  # noqa: F401  (re-exported: convert.X names used elsewhere)
    _DCMDATA,
    PIXEL_DATA,
    SOP_CLASS_UID,
    SOP_INSTANCE_UID,
    STRING_VRS,
    TRAILING_PADDING,
    UNDEFINED,
    EC_CannotChangeRepresentation,
    EC_CorruptedData,
    EC_ElemLengthLargerThanItem,
    EC_EndOfStream,
    EC_FileMetaInfoHeaderMissing,
    EC_InvalidStream,
    EC_ItemDelimitationItemMissing,
    EC_PixelDataExplLengthIllegal,
    EC_SequDelimitationItemMissing,
    EC_StreamNotifyClient,
    EC_UnsupportedEncoding,
    Elem,
    Encoding,
    Item,
    PiecesReader,
    _calc_len,
    _contains_pixel_data,
    _emit,
    _FileRangeReader,
    _Parser,
    _Pieces,
    _remove_uid_spaces,
    _uid_value,
)
from dcmsend.exitcodes import Condition, ConditionError
from dcmsend.log import DATA
from dcmsend.log import DEBUG as DEBUG_LEVEL

# ---------------------------------------------------------------------------------------------------------------------
# Loading.


def _os_error_text(exc: OSError) -> str:
    if exc.errno:
        return os.strerror(exc.errno)
    return str(exc)


# condition texts of the input phase's reader (collect) -> DCMTK's conditions
_CONDITIONS = {c.text: c for c in (EC_InvalidStream, EC_StreamNotifyClient, EC_EndOfStream, EC_CorruptedData,
                                   EC_ItemDelimitationItemMissing, EC_SequDelimitationItemMissing,
                                   EC_ElemLengthLargerThanItem, EC_FileMetaInfoHeaderMissing)}


def _condition(text: str) -> Condition:
    return _CONDITIONS.get(text) or Condition(_DCMDATA, 0, text)


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
        # the SOP UIDs as DCMTK's consistency check reads them (findAndGetOFStringArray: all values), when they differ
        # from the first values (which go into the request)
        self.sop_uid_arrays: tuple[str, str] | None = None
        if fast is not None:
            self.sop_class_uid = fast.sop_class_uid
            self.sop_instance_uid = fast.sop_instance_uid
            self._size: int | None = fast.size
            return
        top = {e.tag: e for e in elems or () if e.tag in (SOP_CLASS_UID, SOP_INSTANCE_UID)}
        for tag in (SOP_CLASS_UID, SOP_INSTANCE_UID):
            warning = _remove_uid_spaces(buf, top[tag]) if tag in top else None
            if warning is not None:
                self.pending_warnings.append(warning)
        self.sop_class_uid = _uid_value(buf, top.get(SOP_CLASS_UID))
        self.sop_instance_uid = _uid_value(buf, top.get(SOP_INSTANCE_UID))
        arrays = (_uid_value(buf, top.get(SOP_CLASS_UID), True), _uid_value(buf, top.get(SOP_INSTANCE_UID), True))
        if arrays != (self.sop_class_uid, self.sop_instance_uid):
            self.sop_uid_arrays = arrays
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
            assert fast is not None  # (no elements: a fast load)
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
            info = uids.transfer_syntax(self.original_ts)
            self._size = _calc_len(self.elems, self.encoding.explicit, False, {}, info is None or not info.encapsulated)
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

    def encode(self, network_ts: str, options=None) -> tuple[PiecesReader | _FileRangeReader, int]:
        """The data set as the DIMSE layer sends it in ``network_ts``: (reader, exact byte count).

        Raises ConditionError when the data set cannot be converted (the pixel data cannot be decompressed)."""
        fast = self._fast
        if fast is not None and network_ts == fast.parts_ts:
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
            from dcmsend import decompress  # (only when pixel data is decompressed: start-up time)

            if not decompress.can_decode(self.original_ts):
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
            import zlib  # (only for a deflated syntax: start-up time)

            raw = PiecesReader(out.parts, fd, buf, total).read(total)
            comp = zlib.compressobj(level if level is not None else 6, zlib.DEFLATED, -15, 8)
            data = comp.compress(raw) + comp.flush()
            if len(data) & 1:
                data += b"\0"
            return PiecesReader([bytearray(data)], None, None, len(data)), len(data)
        del src
        return PiecesReader(out.parts, fd, buf, total), total

    def encode_fast(self, network_ts: str):
        """(reader, size) of the data set in ``network_ts`` when the fast walk makes it (silently: no message, no
        exception), else None (the normal way, :meth:`encode`, is needed)."""
        fast = self._fast
        if fast is None:
            return None
        if network_ts == fast.parts_ts:
            return self.encode(network_ts)
        if network_ts in uids.U3 and self.original_ts in uids.U3 and not fast.frags:
            return self._fast_convert(network_ts)
        return None

    def _fast_convert(self, network_ts: str):
        """The data set in another uncompressed syntax by the walk (None: the exact way)."""
        fast = self._fast
        assert fast is not None  # (called after a fast load only)
        src, dst = Encoding.of(self.original_ts), Encoding.of(network_ts)
        data = fast.whole
        mapped = None
        if data is None:
            try:
                data = mapped = mmap.mmap(fast.fd, 0, access=mmap.ACCESS_READ)
            except (OSError, ValueError):
                return None
        try:
            found = walk.walk(data, self._start, fast.file_size, src.explicit, src.little, dst.explicit,
                                 dst.little, False)
            if found is not None:
                found.parts = walk.compact(found.parts, data)
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
            from dcmsend import decompress

            spool = decompress._spool_file()
            try:
                self._decoded = decompress._decompress(self.original_ts, self.elems, self._buf, spool)
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
# The fast load: the data set walked once by walk.walk (no per-element objects) into the pieces of the data set in
# the network syntax it will most likely go in (its own; explicit VR little endian for implicit VR and big endian
# files); anything that gives a message goes the exact way.  A small file is read once: the sending reuses that
# buffer; a larger one is memory-mapped for the walk and streamed from the file.

_FAST_WHOLE = 1 << 16  # files up to this size are read whole
_NOT_FAST = frozenset(("1.2.840.113619.5.2", "1.2.840.10008.1.2.4.95"))


class _Fast:
    """What the fast walk found: the pieces of the data set in its own transfer syntax and the SOP UIDs."""

    __slots__ = ("parts", "total", "fd", "whole", "sop_class_uid", "sop_instance_uid", "signature", "size", "frags",
                 "file_size", "parts_ts")

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
        self.parts_ts = ""  # the transfer syntax of ``parts``


def _fast_data(fd: int, size: int):
    """The file's bytes for the walk: read whole when small, else memory-mapped (only the headers are touched)."""
    if size <= _FAST_WHOLE:
        data = os.pread(fd, size, 0)
        return data if len(data) == size else None
    return mmap.mmap(fd, 0, access=mmap.ACCESS_READ)


def _fast_load(instance: collect.Instance, ts: str, info) -> Loaded | None:
    """The fast load of a file whose data set offset and transfer syntax the input phase found, or None."""
    try:
        fd = os.open(instance.path, os.O_RDONLY | os.O_NONBLOCK)  # (a named pipe: the exact way refuses it)
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
                found = None
                if ts != uids.LEE and ts in uids.UNCOMPRESSED:
                    # (implicit VR, big endian: nearly every peer takes explicit VR little endian; that is walked
                    # first, the file's own syntax only when asked for)
                    found = walk.walk(data, instance.dataset_offset, st.st_size, enc.explicit, enc.little,
                                         True, True, False)
                    parts_ts = uids.LEE
                if found is None:
                    found = walk.walk(data, instance.dataset_offset, st.st_size, enc.explicit, enc.little,
                                         enc.explicit, enc.little, info.encapsulated)
                    parts_ts = ts
                if found is not None and len(found.parts) > 1:
                    found.parts = walk.compact(found.parts, data)
                if data.__class__ is bytes:
                    whole = data
                else:
                    data.close()
    except (OSError, ValueError):
        found = None
    if found is None:
        os.close(fd)
        return None
    kept: int | None = fd
    if whole is not None:
        os.close(fd)
        kept = None
    if DATA.enabled(DEBUG_LEVEL):
        DATA.debug('DcmMetaInfo::checkAndReadPreamble() TransferSyntax="Little Endian Explicit"')
        DATA.debug(f'DcmDataset::read() TransferSyntax="{info.name}"')
    fast = _Fast(found.parts, found.total, kept, whole, found.sop_class_uid, found.sop_instance_uid,
                 file_signature(st))
    fast.size = found.size
    fast.frags = found.frags
    fast.parts_ts = parts_ts
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
    if (instance.dataset_offset > 0 and instance.read_mode != part10.READ_DATASET and ts
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
        fd = part10.open_without_waiting(path)
        if stat.S_ISDIR(os.fstat(fd).st_mode):
            # (a file replaced by a directory since the input phase: DCMTK's fopen succeeds, its first read fails)
            os.close(fd)
            raise ConditionError(EC_StreamNotifyClient)
        fh = os.fdopen(fd, "rb")
    except part10.WouldBlock:
        raise ConditionError(Condition(_DCMDATA, 18, part10.WOULD_BLOCK_TEXT)) from None
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
    size = os.fstat(fh.fileno()).st_size
    if size == 0:
        # an empty file, or a device such as /dev/zero or /dev/null (DCMTK's stream takes its size from fseek/ftell)
        raise ConditionError(EC_EndOfStream)
    mode = instance.read_mode
    ts = instance.transfer_syntax_uid
    offset = instance.dataset_offset
    detect = False  # the data set's transfer syntax is unknown: detected from its first bytes
    if mode == part10.READ_DATASET:
        if offset < 0 or not ts:
            offset, ts, detect = 0, "", True
    elif offset < 0 or not ts or instance.meta_reread or uids.transfer_syntax(ts) is None:
        # a file the input phase did not read (from a DICOMDIR), or whose meta header it found unusual: the meta
        # header read now by the input phase's reader, with what DCMTK says of it then (its warnings again, its own
        # encoding, lookForXfer's lines; +fo: no known transfer syntax is no meta header)
        status, offset, found = part10.read_file_meta(fh.fileno(), size, mode)
        if status is not None:
            raise ConditionError(_condition(status))
        ts, detect = found or "", found is None
    elif offset > 0:
        DATA.debug('DcmMetaInfo::checkAndReadPreamble() TransferSyntax="Little Endian Explicit"')
    buf: mmap.mmap | bytes = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
    if detect:
        explicit, little = part10.detect_transfer_syntax(bytes(buf[offset:offset + 6]))
        # (big endian implicit VR is no transfer syntax: read as little endian implicit VR)
        ts = (uids.LEE if little else uids.BEE) if explicit else uids.LEI
    if offset >= len(buf):
        # nothing after the meta header: DCMTK reads an empty data set and keeps its default (explicit VR LE)
        return Loaded(instance.path, fh, buf, offset, uids.LEE, [], False)
    if detect or (offset == 0 and mode != part10.READ_FILE_ONLY):
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
            import zlib

            d = zlib.decompressobj(-15)  # (a raw deflate stream; DCMTK 3.6.7 reads a zlib header as deflate data too)
            try:
                data = d.decompress(compressed) + d.flush()
            except zlib.error as exc:
                raise ConditionError(Condition(_DCMDATA, 16, part10.zlib_error_text(exc))) from None
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
