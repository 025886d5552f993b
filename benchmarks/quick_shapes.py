"""A quick per-shape comparison for the data-set codec (issue 12): N copies of each shape, DCMTK's dcmsend and ours
alternating, medians, both with TCP_NODELAY=1, against `storescp --ignore +xa -pm`.  Indicative only on a loaded
machine; benchmarks/run.py is the complete benchmark.

    python benchmarks/quick_shapes.py [--count 100] [--runs 3] [--data DIR] [SHAPE ...]

Shapes: ct_small (GE CT, private groups, a sequence), mr_implicit, mr_bigendian (converted on send), jpeg_sc (JPEG
baseline, sent as it is), sr (nested content sequences), rtplan (implicit VR, nested sequences), enh_mr (synthetic
enhanced MR, 200 frames 128x128, per-frame functional groups with undefined-length sequences), ecg (waveform).
Copies keep their UIDs (storescp --ignore does not care).  Prints microseconds per file, the ratio per shape and the
geometric mean.
"""

from __future__ import annotations

import argparse
import math
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

REAL = "/usr/bin/dcmsend"
STORESCP = "/usr/bin/storescp"
PYDICOM_FILES = {"ct_small": "CT_small.dcm", "mr_implicit": "MR_small_implicit.dcm",
                 "mr_bigendian": "MR_small_bigendian.dcm", "jpeg_sc": "SC_jpeg_no_color_transform.dcm",
                 "sr": "test-SR.dcm", "rtplan": "rtplan.dcm", "ecg": "waveform_ecg.dcm"}
ORDER = ["ct_small", "mr_implicit", "mr_bigendian", "jpeg_sc", "sr", "rtplan", "enh_mr", "ecg"]


def ours_cmd() -> list[str]:
    script = os.path.join(os.path.dirname(sys.executable), "dcmsend")
    return [script] if os.path.exists(script) else [sys.executable, "-m", "dcmsend"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def prepare(data: str, name: str, count: int) -> str:
    folder = os.path.join(data, f"{name}-{count}")
    if os.path.isdir(folder) and len(os.listdir(folder)) == count:
        return folder
    shutil.rmtree(folder, ignore_errors=True)
    os.makedirs(folder)
    if name == "enh_mr":
        import shapes

        src = os.path.join(folder, "source.tmp")
        with open(src, "wb") as fh:
            fh.write(shapes.enhanced_mr())
    else:
        import pydicom.data

        src = pydicom.data.get_testdata_file(PYDICOM_FILES[name])
    for i in range(count):
        shutil.copyfile(src, os.path.join(folder, f"f{i:05d}.dcm"))
    if name == "enh_mr":
        os.remove(src)
    return folder


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("shapes", nargs="*", default=ORDER)
    ap.add_argument("--count", type=int, default=100)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--data", default=os.path.expanduser("~/.cache/dcmsend-bench/shapes"))
    args = ap.parse_args()
    env = dict(os.environ, TCP_NODELAY="1")
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # (start-up as installed: byte code cached)
    port = free_port()
    peer = subprocess.Popen([STORESCP, "--ignore", "+xa", "-pm", str(port)], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    time.sleep(0.3)
    ratios = []
    try:
        for name in args.shapes:
            folder = prepare(args.data, name, args.count)
            times: dict[str, list[float]] = {"dcmtk": [], "ours": []}
            for _ in range(args.runs):
                for label, cmd in (("dcmtk", [REAL]), ("ours", ours_cmd())):
                    t = time.perf_counter()
                    res = subprocess.run([*cmd, "127.0.0.1", str(port), "+sd", folder], env=env, capture_output=True)
                    times[label].append(time.perf_counter() - t)
                    if res.returncode:
                        print(f"{label} {name}: exit {res.returncode}: {res.stderr[-300:]!r}")
            a = statistics.median(times["dcmtk"]) / args.count * 1e6
            b = statistics.median(times["ours"]) / args.count * 1e6
            ratios.append(b / a)
            print(f"{name:14s} DCMTK {a:8.0f} us/file   ours {b:8.0f} us/file   ratio {b / a:5.2f}", flush=True)
    finally:
        peer.terminate()
        peer.wait()
    if ratios:
        print(f"geometric mean ratio {math.exp(sum(map(math.log, ratios)) / len(ratios)):.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
