"""Decompression of encapsulated pixel data for sending in an uncompressed transfer syntax, as DCMTK 3.6.7's dcmsend
does it with the decoders it registers (JPEG, JPEG-LS, RLE), plus JPEG 2000 / HTJ2K through pydicom's decoders: which
syntaxes can be decoded here, and the decoding of a loaded data set's pixel data, frame by frame, into a spool file
(the other elements keep their values in the source; see dataset.Elem).  pydicom, numpy and the codec packages are
imported only here, only when a data set is decompressed.
"""

from __future__ import annotations

import mmap
import os
import struct
import sys

from dcmsend import uids
from dcmsend.dataset import (
    _DCMDATA,
    _DCMJPEG,
    PIXEL_DATA,
    PIXEL_REPRESENTATION,
    SOP_CLASS_UID,
    UNDEFINED,
    EC_CannotChangeRepresentation,
    Elem,
    _strip,
)
from dcmsend.exitcodes import Condition, ConditionError
from dcmsend.log import DATA
from dcmsend.log import DEBUG as DEBUG_LEVEL

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

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

    wrapper.__name__, wrapper.__doc__ = func.__name__, func.__doc__
    wrapper.__wrapped__ = func  # type: ignore[attr-defined]
    wrapper.cache_clear = cache.clear  # type: ignore[attr-defined]
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

    # None when absent; the decoders call require() for the ones they need first, then use them as int
    rows: Any
    columns: Any
    samples: Any
    bits_allocated: Any
    bits_stored: Any
    high_bit: Any
    planar: Any
    frames: Any

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


_heap_kept = False


def _keep_freed_memory() -> None:
    """Once per process, before the first decoding: glibc's malloc is told to keep freed memory (trim threshold
    128 MB) and to serve blocks below 32 MB from its heap.  Each frame allocates and frees a few blocks of the frame's
    size (the code stream, the decoder's output, its copy); with the default, dynamic thresholds the heap top was
    given back to the system after nearly every frame and faulted in again for the next (~500 page faults for a
    512x512 16-bit frame: the conversion took twice as long).  The resident size stays that of the largest frames
    in use; elsewhere than glibc, nothing is done."""
    global _heap_kept
    if _heap_kept:
        return
    _heap_kept = True
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
        mallopt(-1, 128 << 20)  # M_TRIM_THRESHOLD
        mallopt(-3, 32 << 20)  # M_MMAP_THRESHOLD
    except Exception:  # (no glibc, no ctypes: the default behaviour)
        pass


def _decompress(ts_uid: str, elems: list[Elem], buf, spool) -> list[Elem]:
    """The data set's elements with the pixel data decoded into ``spool`` (a binary file) and the attributes the
    decoder changes; the other elements are the loaded ones (their values stay in the source)."""
    _keep_freed_memory()
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
