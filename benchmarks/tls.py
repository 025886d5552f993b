"""The cost of TLS: ct500 (500 CT files of 512 KB) over TLS and over plain TCP, ours and DCMTK's storescu.

    python benchmarks/tls.py [--runs 3] [--data DIR] [--profile +py]

Uses run.py's ct500 data (generated once in --data, default ~/.cache/dcmsend-bench/ct500) and makes a CA, a server
and a client certificate with the openssl command in a temporary directory.  Two peers on free loopback ports:
`storescp --ignore` (plain) and `storescp --ignore +tls key cert +cf ca` (TLS, a client certificate required), both
with TCP_NODELAY=1.  Times, alternating: DCMTK's storescu (TCP_NODELAY=1) and ours, each plain and with
`+tls client.key client.pem +cf ca.pem`; prints wall time, peak RSS and the ratios TLS / plain and ours / storescu.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import run  # noqa: E402  (run.py: data generation, peers, timing)

STORESCU = "/usr/bin/storescu"


def make_certs(folder: str) -> None:
    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "2",
            "-subj", "/CN=Bench CA")
    for name in ("server", "client"):
        openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj",
                f"/CN={name}")
        openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial", "-out",
                f"{name}.pem", "-days", "2")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--data", default=os.path.expanduser("~/.cache/dcmsend-bench"))
    ap.add_argument("--profile", default="+py", help="security profile option for both senders (default: +py)")
    args = ap.parse_args()
    for tool in (STORESCU, run.STORESCP):
        if not os.path.exists(tool):
            print(f"{tool} is missing: apt-get install dcmtk", file=sys.stderr)
            return 2
    ct500 = os.path.join(args.data, "ct500")
    if not os.path.exists(os.path.join(ct500, "img00499.dcm")):
        print(f"generating ct500 in {ct500} (once) ...", flush=True)
        run.make_series(ct500, 500, 512, 512)
    ours = run.ours_cmd()
    with tempfile.TemporaryDirectory() as certs:
        make_certs(certs)
        key, cert, ca = (os.path.join(certs, n) for n in ("client.key", "client.pem", "ca.pem"))
        tls_args = ["+tls", key, cert, "+cf", ca, args.profile]
        plain_peer = run.Peer(["--ignore"], True)
        tls_peer = run.Peer(["--ignore", "+tls", os.path.join(certs, "server.key"), os.path.join(certs, "server.pem"),
                             "+cf", ca], True)
        try:
            env = run.program_env(True)
            contestants = [
                ("storescu plain", [STORESCU, "+sd", "127.0.0.1", str(plain_peer.port), ct500], env),
                ("ours plain", [*ours, "+sd", "127.0.0.1", str(plain_peer.port), ct500], run.program_env(None)),
                ("storescu TLS", [STORESCU, *tls_args, "+sd", "127.0.0.1", str(tls_peer.port), ct500], env),
                ("ours TLS", [*ours, *tls_args, "+sd", "127.0.0.1", str(tls_peer.port), ct500],
                 run.program_env(None)),
            ]
            res = run.run_case("ct500-tls", contestants, args.runs)
        finally:
            plain_peer.stop()
            tls_peer.stop()
    wall = {label: statistics.median(w for w, _ in values) for label, values in res.items()}
    for label, values in res.items():
        rss = max(r for _, r in values) / 1024
        print(f"{label:16s} {wall[label]:8.3f} s  {rss:7.1f} MB", flush=True)
    print(f"TLS / plain: storescu {wall['storescu TLS'] / wall['storescu plain']:.2f}, "
          f"ours {wall['ours TLS'] / wall['ours plain']:.2f}")
    print(f"ours / storescu: plain {wall['ours plain'] / wall['storescu plain']:.2f}, "
          f"TLS {wall['ours TLS'] / wall['storescu TLS']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
