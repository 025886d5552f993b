"""Benchmark of the input phase: ours vs the real DCMTK dcmsend on 10,000 small DICOM files.

Generates the files once (default: /tmp/dcmsend-bench-input/files), then runs both programs alternately with
``+sd <dir>`` (and ``-d +sd <dir>``) against a loopback port where nothing listens, so each run is the input phase
plus one refused connection.  Prints the median wall time of each and the ratio ours/DCMTK.

    python benchmarks/input_phase.py [--dir DIR] [--count N] [--runs R]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import struct
import subprocess
import sys
import time

REAL = "/usr/bin/dcmsend"


def ours_command() -> list[str]:
    script = os.path.join(os.path.dirname(sys.executable), "dcmsend")
    return [script] if os.path.exists(script) else [sys.executable, "-m", "dcmsend"]


def _el(tag: int, vr: bytes, value: bytes, pad: bytes) -> bytes:
    if len(value) % 2:
        value += pad
    head = struct.pack("<HH", tag >> 16, tag & 0xFFFF) + vr
    if vr in (b"OB", b"OW", b"SQ", b"UN", b"UT"):
        return head + b"\0\0" + struct.pack("<I", len(value)) + value
    return head + struct.pack("<H", len(value)) + value


def small_file(index: int) -> bytes:
    cls = b"1.2.840.10008.5.1.4.1.1.7"  # Secondary Capture
    inst = b"1.2.826.0.1.3680043.8.498.1.%d" % index
    meta = (_el(0x00020001, b"OB", b"\0\1", b"\0") + _el(0x00020002, b"UI", cls, b"\0")
            + _el(0x00020003, b"UI", inst, b"\0") + _el(0x00020010, b"UI", b"1.2.840.10008.1.2.1", b"\0")
            + _el(0x00020012, b"UI", b"1.2.826.0.1.3680043.8.498.1", b"\0"))
    meta = _el(0x00020000, b"UL", struct.pack("<I", len(meta)), b"\0") + meta
    ds = (_el(0x00080016, b"UI", cls, b"\0") + _el(0x00080018, b"UI", inst, b"\0")
          + _el(0x00080060, b"CS", b"OT", b" ") + _el(0x00100010, b"PN", b"BENCH^INPUT", b" ")
          + _el(0x00100020, b"LO", b"%d" % index, b" ") + _el(0x00280002, b"US", struct.pack("<H", 1), b"\0")
          + _el(0x00280010, b"US", struct.pack("<H", 4), b"\0") + _el(0x00280011, b"US", struct.pack("<H", 4), b"\0")
          + _el(0x00280100, b"US", struct.pack("<H", 8), b"\0") + _el(0x7FE00010, b"OB", bytes(16), b"\0"))
    return b"\0" * 128 + b"DICM" + meta + ds


def generate(directory: str, count: int) -> None:
    marker = directory.rstrip("/") + ".complete-%d" % count  # outside: hidden files count as input
    if os.path.exists(marker):
        return
    os.makedirs(directory, exist_ok=True)
    for i in range(count):
        with open(os.path.join(directory, "f%05d.dcm" % i), "wb") as fh:
            fh.write(small_file(i))
    open(marker, "w").close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def timed(cmd: list[str]) -> tuple[float, int, bytes]:
    env = dict(os.environ)
    env.pop("DCMDICTPATH", None)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    return time.perf_counter() - t0, proc.returncode, proc.stderr


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dir", default="/tmp/dcmsend-bench-input")
    ap.add_argument("--count", type=int, default=10000)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args(argv)
    files = os.path.join(args.dir, "files")
    t0 = time.perf_counter()
    generate(files, args.count)
    print(f"{args.count} files in {files} (ready after {time.perf_counter() - t0:.1f} s)")
    if not os.path.exists(REAL):
        print("the real dcmsend is not installed; nothing to compare")
        return 1
    for label, extra in (("default level", []), ("debug level (-d)", ["-d"])):
        times: dict[str, list[float]] = {"dcmtk": [], "ours": []}
        for _ in range(args.runs):
            for side, cmd in (("dcmtk", [REAL]), ("ours", ours_command())):
                port = free_port()  # nothing listens there: connection refused right after the input phase
                elapsed, rc, err = timed(cmd + extra + ["+sd", "127.0.0.1", str(port), files])
                if rc != 61:
                    print(f"unexpected exit code {rc} from {side}: {err[-400:]!r}")
                    return 1
                times[side].append(elapsed)
        real = statistics.median(times["dcmtk"])
        ours = statistics.median(times["ours"])
        print(f"{label:18s}: DCMTK {real:.3f} s, ours {ours:.3f} s (medians of {args.runs}), "
              f"ratio ours/DCMTK = {ours / real:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
