"""Peak memory of decompressing a multi-frame file for sending (convert.load + encode to Explicit VR Little Endian,
the stream read in 64 KiB pieces, as the sending does), against the size of the decoded pixel data.

    python benchmarks/convert_memory.py [--frames 200] [--size 512] [--data DIR]

Makes (once, in --data, default ~/.cache/dcmsend-bench/convert) a native multi-frame image and compresses it with
DCMTK's tools: RLE (dcmcrle), JPEG baseline YBR (dcmcjpeg +eb), JPEG-LS lossless (dcmcjpls), and with pydicom /
pylibjpeg-openjpeg JPEG 2000 lossless.  Each measurement runs in a fresh child process; its peak RSS (ru_maxrss) is
reported next to the baseline of the same process doing nothing but imports, and, for comparison, pydicom's whole-
data-set ``Dataset.decompress()`` (what the first version of convert.py used).  Needs DCMTK's tools.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

PROBE = r"""
import resource, sys, time
mode, path = sys.argv[1], sys.argv[2]
import numpy, pydicom, pydicom.pixels  # imports are the baseline
from dcmsend import collect, convert, part10, uids
try:
    import imagecodecs  # noqa: F401
except ImportError:
    pass
import pylibjpeg, libjpeg, openjpeg, rle  # noqa: F401, E401
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
t0 = time.perf_counter()
done = 0
if mode == "ours":
    inst = collect.Instance(path, part10.READ_FILE_ONLY, "", "", "")
    with convert.load(inst) as loaded:
        reader, total = loaded.encode(uids.LEE)
        buf = bytearray(65536)
        while True:
            n = reader.readinto(buf)
            if not n:
                break
            done += n
elif mode == "pydicom":
    ds = pydicom.dcmread(path)
    ds.decompress(generate_instance_uid=False)
    done = len(ds.PixelData)
print(base, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, done, time.perf_counter() - t0)
"""


def make_files(directory: str, frames: int, size: int) -> dict[str, str]:
    import numpy as np
    import pydicom
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import generate_uid

    os.makedirs(directory, exist_ok=True)
    native = os.path.join(directory, f"native-{frames}x{size}.dcm")
    if not os.path.exists(native):
        y, x = np.mgrid[0:size, 0:size]
        rng = np.random.default_rng(1)
        frame_list = []
        for f in range(frames):
            r = (x + f) % 256
            g = (y * 2 + f) % 256
            b = ((x + y) // 2 + rng.integers(0, 8, size=(size, size))) % 256
            frame_list.append(np.stack([r, g, b], axis=-1).astype(np.uint8).tobytes())
        ds = Dataset()
        ds.file_meta = FileMetaDataset()
        ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.1"
        ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.3.1"
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
        ds.Modality, ds.PatientID = "US", "bench"
        ds.Rows = ds.Columns = size
        ds.SamplesPerPixel, ds.PhotometricInterpretation, ds.PlanarConfiguration = 3, "RGB", 0
        ds.NumberOfFrames = frames
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
        ds.PixelData = b"".join(frame_list)
        del frame_list
        ds.save_as(native, enforce_file_format=True)
    out = {}
    for name, cmd in (("RLE", ["dcmcrle"]), ("JPEG baseline (YBR 4:2:2)", ["dcmcjpeg", "+eb"]),
                      ("JPEG-LS lossless", ["dcmcjpls"])):
        path = os.path.join(directory, f"{name.split()[0]}-{frames}x{size}.dcm")
        if not os.path.exists(path):
            subprocess.run(cmd + [native, path], check=True)
        out[name] = path
    path = os.path.join(directory, f"J2K-{frames}x{size}.dcm")
    if not os.path.exists(path):
        from pydicom.pixels.utils import compress  # noqa: F401
        ds = pydicom.dcmread(native)
        ds.compress("1.2.840.10008.1.2.4.90", encoding_plugin="pylibjpeg", generate_instance_uid=False)
        ds.save_as(path, enforce_file_format=True)
    out["JPEG 2000 lossless"] = path
    return out


def probe(mode: str, path: str) -> tuple[int, int, int, float]:
    proc = subprocess.run([sys.executable, "-c", PROBE, mode, path], capture_output=True, text=True, check=True)
    base, peak, done, secs = proc.stdout.split()
    return int(base), int(peak), int(done), float(secs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--frames", type=int, default=200)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--data", default=os.path.expanduser("~/.cache/dcmsend-bench/convert"))
    args = ap.parse_args()
    files = make_files(args.data, args.frames, args.size)
    decoded_mb = args.frames * args.size * args.size * 3 / 2**20
    print(f"{args.frames} frames {args.size}x{args.size} RGB 8-bit: {decoded_mb:.0f} MiB decoded pixel data")
    print(f"{'syntax':28} {'file MiB':>8} {'ours: peak-base MiB':>20} {'s':>6} {'pydicom: peak-base MiB':>23} {'s':>6}")
    for name, path in files.items():
        size = os.path.getsize(path) / 2**20
        b1, p1, done, t1 = probe("ours", path)
        b2, p2, _, t2 = probe("pydicom", path)
        print(f"{name:28} {size:8.1f} {(p1 - b1) / 1024:20.1f} {t1:6.2f} {(p2 - b2) / 1024:23.1f} {t2:6.2f}"
              f"   (sent {done / 2**20:.0f} MiB)")
    time.sleep(0)


if __name__ == "__main__":
    main()
