#!/usr/bin/env python3
"""One real transfer with an installed dcmsend command (CI: the wheel in a clean venv).

    python tools/ci_transfer.py /path/to/venv/bin/dcmsend

Starts DCMTK's storescp on a free loopback port, writes a small CT image (no pydicom needed: the bytes are built
here), sends it with ``dcmsend -v +crf``, checks exit code 0, the report's "with status SUCCESS  : 1" and that the
peer stored exactly the data set that was sent; stops the peer by its PID.  Exits 1 on any failure.
"""

from __future__ import annotations

import os
import shutil
import socket
import struct
import subprocess
import sys
import tempfile
import time

STORESCP = "/usr/bin/storescp"
CT_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
INSTANCE = "1.2.826.0.1.3680043.2.1125.1.42"
EXPLICIT_LE = "1.2.840.10008.1.2.1"


def _element(group: int, element: int, vr: bytes, value: bytes) -> bytes:
    if len(value) % 2:
        value += b"\0" if vr == b"UI" else b" "
    if vr in (b"OB", b"OW", b"SQ", b"UN", b"UT"):
        return struct.pack("<HH2sHI", group, element, vr, 0, len(value)) + value
    return struct.pack("<HH2sH", group, element, vr, len(value)) + value


def dicom_file() -> tuple[bytes, bytes]:
    """(file, data set) of a tiny CT image in explicit VR little endian."""
    dataset = b"".join([
        _element(0x0008, 0x0016, b"UI", CT_IMAGE_STORAGE.encode()),
        _element(0x0008, 0x0018, b"UI", INSTANCE.encode()),
        _element(0x0008, 0x0060, b"CS", b"CT"),
        _element(0x0010, 0x0010, b"PN", b"CI^Transfer"),
        _element(0x0028, 0x0002, b"US", struct.pack("<H", 1)),
        _element(0x0028, 0x0004, b"CS", b"MONOCHROME2"),
        _element(0x0028, 0x0010, b"US", struct.pack("<H", 4)),
        _element(0x0028, 0x0011, b"US", struct.pack("<H", 4)),
        _element(0x0028, 0x0100, b"US", struct.pack("<H", 16)),
        _element(0x0028, 0x0101, b"US", struct.pack("<H", 16)),
        _element(0x0028, 0x0102, b"US", struct.pack("<H", 15)),
        _element(0x0028, 0x0103, b"US", struct.pack("<H", 0)),
        _element(0x7FE0, 0x0010, b"OW", bytes(range(32))),
    ])
    meta = b"".join([
        _element(0x0002, 0x0001, b"OB", b"\0\1"),
        _element(0x0002, 0x0002, b"UI", CT_IMAGE_STORAGE.encode()),
        _element(0x0002, 0x0003, b"UI", INSTANCE.encode()),
        _element(0x0002, 0x0010, b"UI", EXPLICIT_LE.encode()),
        _element(0x0002, 0x0012, b"UI", b"1.2.826.0.1.3680043.2.1125.99"),
    ])
    group_length = _element(0x0002, 0x0000, b"UL", struct.pack("<I", len(meta)))
    return b"\0" * 128 + b"DICM" + group_length + meta + dataset, dataset


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def main(argv: list[str]) -> int:
    command = argv[1] if len(argv) > 1 else "dcmsend"
    work = tempfile.mkdtemp(prefix="dcmsend-ci-")
    received = os.path.join(work, "received")
    os.makedirs(received)
    path = os.path.join(work, "ct.dcm")
    data, dataset = dicom_file()
    with open(path, "wb") as fh:
        fh.write(data)
    port = free_port()
    peer = subprocess.Popen([STORESCP, "-od", received, "--bit-preserving", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or peer.poll() is not None:
                    print("ci_transfer: storescp did not start", file=sys.stderr)
                    return 1
                time.sleep(0.05)
        report = os.path.join(work, "report.txt")
        proc = subprocess.run([command, "-v", "+crf", report, "127.0.0.1", str(port), path],
                              capture_output=True, text=True, timeout=120)
        time.sleep(0.2)  # (storescp writes the file after its response)
    finally:
        peer.terminate()
        peer.wait(10)
    sys.stderr.write(proc.stderr)
    problems = []
    if proc.returncode != 0:
        problems.append(f"exit code {proc.returncode}")
    with open(report, encoding="utf-8") as fh:
        if "  * with status SUCCESS  : 1" not in fh.read():
            problems.append("the report does not show one successful instance")
    stored = os.listdir(received)
    if len(stored) != 1:
        problems.append(f"the peer stored {stored}")
    else:
        with open(os.path.join(received, stored[0]), "rb") as fh:
            if not fh.read().endswith(dataset):
                problems.append("the stored data set differs from the one sent")
    shutil.rmtree(work, ignore_errors=True)
    for p in problems:
        print("ci_transfer: " + p, file=sys.stderr)
    if not problems:
        print(f"ci_transfer: {command} sent {path} to storescp: exit 0, stored byte for byte")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
