"""Decompression on real compressed files: every syntax ``--list-decoders`` shows goes from our dcmsend to a
/usr/bin/storescp that accepts only the native syntaxes (its default), and the pixel data it receives is checked.

The compressed files are made at test time with DCMTK's tools (dcmcjpeg, dcmcjpls, dcmcrle, dcmconv) from native
images made here, or taken from pydicom's test files (JPEG 2000).  Lossless: the received pixels equal the original
ones and what pydicom decodes, bit for bit.  Lossy: close to the original; with libjpeg-turbo (imagecodecs) equal,
bit for bit, to what DCMTK's own decoders (dcmdjpeg, dcmdjpls) make of the file.
"""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from conftest import requires_dcmtk
from dcmsend import collect, convert, decompress, part10, uids
from harness import Peer, ours_command, run_program

pydicom = pytest.importorskip("pydicom")
from pydicom.dataset import Dataset, FileMetaDataset  # noqa: E402
from pydicom.uid import generate_uid  # noqa: E402

J = "1.2.840.10008.1.2.4."
SC = "1.2.840.10008.5.1.4.1.1.7"
US_MF = "1.2.840.10008.5.1.4.1.1.3.1"
TEST_FILES = os.path.dirname(pydicom.data.get_testdata_file("CT_small.dcm"))


def _pattern(rows, cols, samples, frames, bits, signed=False):
    """A deterministic image with smooth parts, edges and noise (so that lossy coding really loses something)."""
    rng = np.random.default_rng(rows * 1000 + cols + samples + bits)
    y, x = np.mgrid[0:rows, 0:cols]
    top = (1 << bits) - 1
    out = []
    for f in range(frames):
        planes = []
        for s in range(samples):
            base = (x * (top // max(cols - 1, 1)) * (s + 1) // 3 + y * (top // max(rows - 1, 1)) // 2) % (top + 1)
            base = base + ((x // 8 + y // 8 + f + s) % 2) * (top // 4)
            noise = rng.integers(0, max(top // 64, 2), size=(rows, cols))
            planes.append(np.clip(base + noise, 0, top))
        arr = np.stack(planes, axis=-1) if samples > 1 else planes[0]
        if signed:
            arr = arr - (1 << (bits - 1))
        out.append(arr)
    return np.stack(out) if frames > 1 else out[0]


NATIVE = {
    # name: (rows, cols, samples, frames, bits allocated, bits stored, signed, SOP class)
    "gray8": (48, 61, 1, 1, 8, 8, False, SC),
    "gray12": (40, 52, 1, 1, 16, 12, False, SC),
    "gray16s": (33, 47, 1, 1, 16, 16, True, "1.2.840.10008.5.1.4.1.1.4"),
    "rgb8": (37, 50, 3, 1, 8, 8, False, SC),
    "rgb8_mf": (24, 32, 3, 3, 8, 8, False, US_MF),
}


def make_native(path, name: str):
    rows, cols, samples, frames, alloc, stored, signed, sop = NATIVE[name]
    arr = _pattern(rows, cols, samples, frames, stored, signed)
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = uids.LEE
    ds.file_meta.MediaStorageSOPClassUID = sop
    ds.SOPInstanceUID = generate_uid(entropy_srcs=[name])
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.SOPClassUID = sop
    ds.StudyInstanceUID = generate_uid(entropy_srcs=[name, "study"])
    ds.SeriesInstanceUID = generate_uid(entropy_srcs=[name, "series"])
    ds.Modality = "US" if sop == US_MF else "OT"
    ds.PatientName = "Pixels^Test"
    ds.PatientID = name
    ds.Rows, ds.Columns, ds.SamplesPerPixel = rows, cols, samples
    ds.PhotometricInterpretation = "RGB" if samples == 3 else "MONOCHROME2"
    if samples == 3:
        ds.PlanarConfiguration = 0
    if frames > 1:
        ds.NumberOfFrames = frames
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = alloc, stored, stored - 1
    ds.PixelRepresentation = 1 if signed else 0
    dtype = f"<{'i' if signed else 'u'}{alloc // 8}"
    ds.PixelData = arr.astype(dtype).tobytes()
    ds.save_as(str(path), enforce_file_format=True)
    return arr


# (file name, native source or pydicom test file, tool command, expected TS, lossless)
COMPRESSED = [
    ("deflated", "gray12", ["dcmconv", "+td"], uids.DEFLATED, True),
    ("baseline_gray", "gray8", ["dcmcjpeg", "+eb"], J + "50", False),
    ("baseline_ybr422", "rgb8", ["dcmcjpeg", "+eb"], J + "50", False),
    ("baseline_ybr_mf", "rgb8_mf", ["dcmcjpeg", "+eb", "+cy", "+s4"], J + "50", False),
    ("extended12", "gray12", ["dcmcjpeg", "+ee"], J + "51", False),
    ("spectral", "gray8", ["dcmcjpeg", "+es"], J + "53", False),
    ("progressive12", "gray12", ["dcmcjpeg", "+ep"], J + "55", False),
    ("progressive_rgb", "rgb8", ["dcmcjpeg", "+ep"], J + "55", False),
    ("lossless_p14", "gray16s", ["dcmcjpeg", "+el"], J + "57", True),
    ("lossless_sv1_rgb_mf", "rgb8_mf", ["dcmcjpeg", "+e1"], J + "70", True),
    ("jls_lossless", "gray16s", ["dcmcjpls"], J + "80", True),
    ("jls_lossless_rgb", "rgb8_mf", ["dcmcjpls"], J + "80", True),
    ("jls_near", "gray12", ["dcmcjpls", "+en"], J + "81", False),
    ("rle_gray16s", "gray16s", ["dcmcrle"], "1.2.840.10008.1.2.5", True),
    ("rle_rgb_mf", "rgb8_mf", ["dcmcrle"], "1.2.840.10008.1.2.5", True),
    ("j2k_lossless", "MR_small_jp2klossless.dcm", None, J + "90", True),
    ("j2k_rct", "examples_jpeg2k.dcm", None, J + "90", True),
    ("j2k_lossy", "JPEG2000.dcm", None, J + "91", False),
]


def build(directory, name: str) -> tuple[str, np.ndarray | None]:
    """The compressed file ``name`` (made once in ``directory``) and the native pixels it was made from."""
    entry = next(c for c in COMPRESSED if c[0] == name)
    _, source, tool, ts, _ = entry
    out = os.path.join(directory, name + ".dcm")
    if tool is None:
        return os.path.join(TEST_FILES, source), None
    src = os.path.join(directory, source + ".native.dcm")
    arr = make_native(src, source)
    if not os.path.exists(out):
        proc = subprocess.run(tool + [src, out], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
    assert pydicom.dcmread(out, stop_before_pixels=True).file_meta.TransferSyntaxUID == ts
    return out, arr


def dcmtk_decoded(path: str, tmp_dir) -> np.ndarray:
    """What DCMTK's own decoder makes of the file (dcmdjpeg / dcmdjpls / dcmdrle / dcmconv)."""
    ts = pydicom.dcmread(path, stop_before_pixels=True).file_meta.TransferSyntaxUID
    tool = "dcmdjpls" if ts in (J + "80", J + "81") else "dcmdrle" if ts == "1.2.840.10008.1.2.5" else "dcmdjpeg"
    out = os.path.join(tmp_dir, "dcmtk-decoded.dcm")
    proc = subprocess.run([tool, path, out], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr
    return pydicom.dcmread(out).pixel_array


def send_to_native_peer(path: str, tmp_path) -> tuple[int, str, list]:
    out = tmp_path / "received"
    with Peer(str(out)) as peer:  # storescp's default: the three native syntaxes only
        rc, _, err, _ = run_program(ours_command(), ["-v", "+dly", "127.0.0.1", str(peer.port), path], str(tmp_path))
    received = [pydicom.dcmread(str(out / n)) for n in sorted(os.listdir(out))] if out.exists() else []
    return rc, err, received


@requires_dcmtk
@pytest.mark.parametrize("name", [c[0] for c in COMPRESSED])
def test_round_trip_to_native_peer(tmp_path, name):
    path, native = build(str(tmp_path), name)
    original = pydicom.dcmread(path)
    ts = original.file_meta.TransferSyntaxUID
    lossless = next(c[4] for c in COMPRESSED if c[0] == name)
    rc, err, received = send_to_native_peer(path, tmp_path)
    assert rc == 0, err
    assert len(received) == 1, err
    got = received[0]
    assert got.file_meta.TransferSyntaxUID == uids.LEE  # storescp prefers explicit little endian
    if ts != uids.DEFLATED:
        assert f"I: Converting transfer syntax: {uids.ts_name(ts)} -> Little Endian Explicit" in err
    assert got.SOPInstanceUID == original.SOPInstanceUID
    assert got.SOPClassUID == original.SOPClassUID
    pixels = got.pixel_array
    if lossless:
        assert np.array_equal(pixels, original.pixel_array)  # pydicom's decoding of the original
        if native is not None:
            assert np.array_equal(pixels, native)
    else:
        if native is not None:
            bits = got.BitsStored
            assert np.abs(pixels.astype(np.int64) - native.astype(np.int64)).mean() < (1 << bits) / 20
        if ts != J + "91" and decompress._ijg_available() == "turbo" or ts == J + "81":
            assert np.array_equal(pixels, dcmtk_decoded(path, str(tmp_path)))
        elif ts == J + "91":
            assert np.array_equal(pixels, original.pixel_array)
        assert got.LossyImageCompression == "01" or ts == J + "91"
    if got.SamplesPerPixel == 3:
        assert got.PhotometricInterpretation == "RGB" and got.PlanarConfiguration == 0
    assert "PixelData" in got and got["PixelData"].VR == "OW"


def test_every_listed_syntax_is_tested():
    tested = {c[3] for c in COMPRESSED}
    assert set(decompress.decodable_syntaxes()) <= tested


HTJ2K = ["1.2.840.10008.1.2.4.201", "1.2.840.10008.1.2.4.203"]


@pytest.mark.parametrize("ts", HTJ2K)
def test_htj2k_decodes(tmp_path, ts):
    """HTJ2K (unknown to DCMTK 3.6.7): made with imagecodecs' encoder, decoded by encode() into native pixels.

    (DCMTK's loadFile refuses a file whose meta header names a transfer syntax it does not know with +fo and reads
    its data set as another with +f, so convert.load never gets such a data set: the decoder is reached here with
    the data set parsed in its own syntax.)"""
    imagecodecs = pytest.importorskip("imagecodecs")
    if not getattr(imagecodecs, "HTJ2K", None) or not imagecodecs.HTJ2K.available:
        pytest.skip("no HTJ2K encoder")
    from pydicom.encaps import encapsulate

    src = tmp_path / "native.dcm"
    native = make_native(src, "gray12")
    ds = pydicom.dcmread(src)
    ds.PixelData = encapsulate([imagecodecs.htj2k_encode(native.astype(np.uint16), level=0)])
    ds["PixelData"].VR = "OB"
    ds.file_meta.TransferSyntaxUID = ts
    path = tmp_path / "htj2k.dcm"
    ds.save_as(str(path), enforce_file_format=True)
    assert decompress.can_decode(ts)
    from dcmsend import dataset

    with open(path, "rb") as fh:
        status, offset, found = part10.read_file_meta(fh.fileno(), os.fstat(fh.fileno()).st_size,
                                                       part10.READ_FILE)
        assert (status, found) == (None, None)  # (an unknown transfer syntax)
        buf = fh.read()
        enc = dataset.Encoding.of(ts)
        elems = dataset._Parser(buf, offset, enc, ts).parse_elements(offset, None, True, True, True, False)[0]
        with convert.Loaded(str(path), None, buf, offset, ts, elems, False) as loaded:
            reader, size = loaded.encode(uids.LEE)
            data = reader.read(size)
    import io

    from pydicom.filereader import read_dataset

    got = read_dataset(io.BytesIO(data), False, True)
    assert np.array_equal(np.frombuffer(got.PixelData, "<u2").reshape(native.shape), native)


def test_big_endian_and_implicit_targets(tmp_path):
    """Decoded pixel data in the other native syntaxes: OW, swapped per 16-bit word for big endian."""
    path, native = build(str(tmp_path), "rle_rgb_mf")
    inst = collect.Instance(path, part10.READ_FILE_ONLY, "", "", "")
    import io

    from pydicom.filereader import read_dataset

    for ts, implicit, little in ((uids.BEE, False, False), (uids.LEI, True, True)):
        with convert.load(inst) as loaded:
            reader, size = loaded.encode(ts)
            got = read_dataset(io.BytesIO(reader.read(size)), implicit, little)
        raw = got.PixelData
        if not little:
            raw = np.frombuffer(raw, ">u2").astype("<u2").tobytes()
        assert np.frombuffer(raw, np.uint8)[:native.size].tobytes() == native.astype(np.uint8).tobytes()
        assert got.NumberOfFrames == 3


def test_failed_decode_is_a_condition(tmp_path):
    path, _ = build(str(tmp_path), "baseline_gray")
    data = bytearray(open(path, "rb").read())
    soi = data.find(b"\xff\xd8\xff")
    data[soi:soi + 3] = b"\x00\x00\x00"  # no JPEG stream any more
    bad = tmp_path / "bad.dcm"
    bad.write_bytes(bytes(data))
    inst = collect.Instance(str(bad), part10.READ_FILE_ONLY, "", "", "")
    with convert.load(inst) as loaded:
        with pytest.raises(convert.ConditionError) as info:
            loaded.encode(uids.LEE)
    assert info.value.condition.text == "Pixel representation cannot be changed"  # no JPEG marker: no bit depth


@pytest.mark.parametrize("name", ["rle_gray16s", "rle_rgb_mf"])
def test_rle_direct_decoder_is_pydicoms(name, tmp_path, monkeypatch):
    """RLE is decoded with pylibjpeg-rle directly; pydicom's decoder framework (the way for layouts the direct path
    does not cover) gives the same bytes."""
    path, _ = build(str(tmp_path), name)
    inst = collect.Instance(path, part10.READ_FILE_ONLY, "", "", "")
    results = []
    for direct in (True, False):
        if not direct:
            monkeypatch.setattr(decompress, "_rle_frame_decoder", lambda image: None)
        with convert.load(inst) as loaded:
            reader, size = loaded.encode(uids.LEE)
            results.append(reader.read(size))
    assert len(results[0]) > 1000 and results[0] == results[1]


def test_rle_direct_decoder_refuses_a_frame_of_the_wrong_size(tmp_path):
    path, _ = build(str(tmp_path), "rle_rgb_mf")
    inst = collect.Instance(path, part10.READ_FILE_ONLY, "", "", "")
    data = bytearray(open(path, "rb").read())
    with convert.load(inst) as loaded:
        image = decompress._Image(loaded.elems, loaded._buf)
    image.rows += 1  # the segments decode to fewer bytes than the image needs
    decode = decompress._rle_frame_decoder(image)
    frag = data.find(b"\xfe\xff\x00\xe0", data.find(b"\xfe\xff\x00\xe0") + 4)  # the first fragment (after the BOT)
    length = int.from_bytes(data[frag + 4:frag + 8], "little")
    with pytest.raises(ValueError):
        decode(bytes(data[frag + 8:frag + 8 + length]), False)


def test_rle_decoder_loaded_without_numpy(tmp_path):
    """A fresh process converts an RLE file without importing numpy (pylibjpeg-rle's extension module is loaded
    without its package); the package imported afterwards, by pydicom's decoders, uses that same module and works."""
    path, _ = build(str(tmp_path), "rle_gray16s")
    script = f"""
import sys
from dcmsend import collect, convert, decompress, part10, uids
inst = collect.Instance({path!r}, part10.READ_FILE_ONLY, "", "", "")
with convert.load(inst) as loaded:
    reader, size = loaded.encode(uids.LEE)
    ours = reader.read(size)
assert "numpy" not in sys.modules and "rle" not in sys.modules, sorted(sys.modules)
module = sys.modules["rle.rle"]
import pydicom
from rle.utils import decode_pixel_data
from rle.rle import decode_frame
assert decode_frame is module.decode_frame
ds = pydicom.dcmread({path!r})
assert ds.pixel_array.tobytes() in ours
print("ok", len(ours))
"""
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("ok ")
