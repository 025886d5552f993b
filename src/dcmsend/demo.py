"""A real transfer end to end with nothing else installed: ``python -m dcmsend.demo``.

Starts a receiving storage SCP (pynetdicom) on a free loopback port, sends pydicom's bundled sample files with
``dcmsend -v +crf <report> 127.0.0.1 <port> <files>``, prints the report and where the files landed, and stops
the peer.
"""

from __future__ import annotations

import os
import socket
import sys
import tempfile

SAMPLES = ["CT_small.dcm", "MR_small.dcm", "MR_small_implicit.dcm", "MR_small_bigendian.dcm", "rtplan.dcm",
           "image_dfl.dcm", "JPEG2000.dcm"]


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_peer(outdir: str, port: int):
    """A pynetdicom storage SCP accepting every storage class in every transfer syntax, storing into ``outdir``."""
    import logging

    from pydicom.uid import AllTransferSyntaxes
    from pynetdicom import AE, AllStoragePresentationContexts, evt

    logging.getLogger("pynetdicom").setLevel(logging.CRITICAL)

    received = []

    def on_store(event):
        ds = event.dataset
        ds.file_meta = event.file_meta
        received.append(ds.SOPInstanceUID)
        path = os.path.join(outdir, f"{len(received):03d}-{ds.SOPInstanceUID}.dcm")
        ds.save_as(path, enforce_file_format=True)
        return 0x0000

    ae = AE(ae_title="DEMO-SCP")
    for cx in AllStoragePresentationContexts:
        if cx.abstract_syntax:
            ae.add_supported_context(cx.abstract_syntax, AllTransferSyntaxes)
    return ae.start_server(("127.0.0.1", port), block=False, evt_handlers=[(evt.EVT_C_STORE, on_store)])


def main() -> int:
    try:
        import pynetdicom  # noqa: F401  (the demo's peer; not a dependency of dcmsend itself)
    except ImportError:
        sys.stderr.write("the demo's receiving peer needs pynetdicom: pip install 'dcmsend[demo]'\n")
        return 1
    from pydicom.data import get_testdata_file

    from dcmsend.cli import main as dcmsend_main

    files = [p for p in (get_testdata_file(name) for name in SAMPLES) if isinstance(p, str)]
    work = tempfile.mkdtemp(prefix="dcmsend-demo-")
    outdir = os.path.join(work, "received")
    os.makedirs(outdir)
    report = os.path.join(work, "report.txt")
    port = _free_port()
    server = start_peer(outdir, port)
    try:
        argv = ["dcmsend", "-v", "+crf", report, "127.0.0.1", str(port), *files]
        print("$ " + " ".join(argv), flush=True)
        code = dcmsend_main(argv)
    finally:
        server.shutdown()
    print(f"\ndcmsend exit code: {code}")
    if os.path.exists(report):
        print(f"\n--- report file {report} ---")
        with open(report, encoding="utf-8") as fh:
            print(fh.read())
    received = sorted(os.listdir(outdir))
    print(f"\n--- the peer stored {len(received)} file(s) in {outdir} ---")
    for name in received:
        print("  " + name)
    return code


if __name__ == "__main__":
    sys.exit(main())
