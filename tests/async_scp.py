"""A storage SCP that performs asynchronous operations (storescp does not), for --async-ops tests and benchmarks.

Run as ``python async_scp.py [options] -od <dir> <port>`` (the command-line shape of harness.Peer); stopped by its
PID.  It accepts every association (one thread each) and every presentation context (the first proposed transfer
syntax), and answers each C-STORE-RQ with a C-STORE-RSP.  Every SOP Instance UID whose data set arrived complete is
appended to ``<dir>/received.txt`` (one per line), each answered request's Message ID and status to
``<dir>/answered.txt``, and the window the requestor proposed (or "none") to ``<dir>/proposed.txt``.

Options:
  --window N        grant an Asynchronous Operations Window of N operations invoked (0: no sub-item in the
                    A-ASSOCIATE-AC, i.e. the window is refused; default 0)
  --order ORDER     in: answer each request at once (in order); reverse: hold the responses until the granted
                    window is full (or the requestor is quiet for 20 ms), then answer them last first
  --fail-every K    answer every K-th request (1-based, over the association) with status 0xA700 (Refused: Out of
                    Resources) instead of success
  --abort-after N   send an A-ABORT after the N-th request's data set (with responses still held in reverse order)
  --max-associations N  reject (A-ASSOCIATE-RJ: rejected transient, local limit exceeded) an association while N
                    others are open
  --hold            never answer (read everything; print "A-ABORT received" when one comes)
  --response-delay MS  wait MS milliseconds before answering each request (keeps an association open a while)
"""

from __future__ import annotations

import argparse
import os
import select
import socket
import struct
import sys
import threading
import time

_LOCK = threading.Lock()
_OPEN = [0]  # associations open now


def _recv(conn: socket.socket, n: int) -> bytes:
    data = bytearray()
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise ConnectionError
        data += chunk
    return bytes(data)


def _items(body: bytes, pos: int):
    while pos + 4 <= len(body):
        t, _, n = struct.unpack_from(">BBH", body, pos)
        yield t, body[pos + 4:pos + 4 + n]
        pos += 4 + n


def _item(t: int, payload: bytes) -> bytes:
    return struct.pack(">BBH", t, 0, len(payload)) + payload


def _elem(tag: int, value: bytes) -> bytes:
    return struct.pack("<HHI", tag >> 16, tag & 0xFFFF, len(value)) + value


def _parse_command(data: bytes) -> dict[int, bytes]:
    out = {}
    pos = 0
    while pos + 8 <= len(data):
        group, element, length = struct.unpack_from("<HHI", data, pos)
        out[group << 16 | element] = data[pos + 8:pos + 8 + length]
        pos += 8 + length
    return out


def _uid(value: bytes) -> bytes:
    return value.rstrip(b"\0 ")


def _record(outdir: str, name: str, line: str) -> None:
    with _LOCK, open(os.path.join(outdir, name), "a", encoding="ascii") as f:
        f.write(line + "\n")


class Session:
    def __init__(self, conn: socket.socket, args):
        self.conn = conn
        self.args = args
        self.count = 0
        self.held: list[tuple[str, bytes]] = []
        self.window = 1

    def accept(self, body: bytes) -> None:
        proposed = None
        out = bytearray(body[:68])
        out[0:4] = struct.pack(">HH", 1, 0)
        out += _item(0x10, b"1.2.840.10008.3.1.1.1")
        for t, payload in _items(body, 68):
            if t == 0x20:
                ts = next((sp for st, sp in _items(payload, 4) if st == 0x40), b"1.2.840.10008.1.2")
                out += _item(0x21, struct.pack(">BBBB", payload[0], 0, 0, 0) + _item(0x40, ts))
            elif t == 0x50:
                for st, sp in _items(payload, 0):
                    if st == 0x53 and len(sp) == 4:
                        proposed = struct.unpack(">HH", sp)
        _record(self.args.od, "proposed.txt", "none" if proposed is None else f"{proposed[0]} {proposed[1]}")
        user = _item(0x51, struct.pack(">I", 16384)) + _item(0x52, b"1.2.3.4.5.6.7")
        if self.args.window and proposed is not None:
            self.window = min(self.args.window, proposed[0] or self.args.window)
            user += _item(0x53, struct.pack(">HH", self.window, 1))
        user += _item(0x55, b"ASYNCSCP")
        out += _item(0x50, user)
        self.conn.sendall(struct.pack(">BBI", 2, 0, len(out)) + bytes(out))

    def respond(self, cid: int, cmd: dict[int, bytes]) -> None:
        self.count += 1
        if self.args.hold:
            return
        if self.args.response_delay:
            time.sleep(self.args.response_delay / 1000)
        msgid = struct.unpack("<H", cmd[0x00000110][:2])[0]
        fail = self.args.fail_every and self.count % self.args.fail_every == 0
        status = 0xA700 if fail else 0
        rsp = (_elem(0x00000002, cmd.get(0x00000002, b"")) + _elem(0x00000100, b"\x01\x80")
               + _elem(0x00000120, struct.pack("<H", msgid)) + _elem(0x00000800, b"\x01\x01")
               + _elem(0x00000900, struct.pack("<H", status)) + _elem(0x00001000, cmd.get(0x00001000, b"")))
        rsp = _elem(0, struct.pack("<I", len(rsp))) + rsp
        pdu = struct.pack(">BBIIBB", 4, 0, len(rsp) + 6, len(rsp) + 2, cid, 0x03) + rsp
        self.held.append((f"{msgid} 0x{status:04x}", pdu))

    def flush(self) -> None:
        if self.held:
            held = self.held[::-1] if self.args.order == "reverse" else self.held
            for line, _pdu in held:
                _record(self.args.od, "answered.txt", line)
            self.conn.sendall(b"".join(pdu for _line, pdu in held))
            self.held = []

    def run(self) -> None:
        conn = self.conn
        pdu_type, body = self.read_pdu()
        self._rq = body
        if pdu_type != 1:
            return
        with _LOCK:
            full = self.args.max_associations and _OPEN[0] >= self.args.max_associations
            if not full:
                _OPEN[0] += 1
        if full:
            conn.sendall(struct.pack(">BBIBBBB", 3, 0, 4, 0, 2, 3, 2))  # rejected transient, local limit exceeded
            print("association rejected", flush=True)
            return
        try:
            self.session()
        finally:
            with _LOCK:
                _OPEN[0] -= 1

    def session(self) -> None:
        conn = self.conn
        self.accept(self._rq)
        command = bytearray()
        cmd: dict[int, bytes] | None = None
        cid = 0
        while True:
            if self.held and (self.args.order == "in" or len(self.held) >= self.window):
                self.flush()
            if self.held and not select.select([conn], [], [], 0.02)[0]:
                self.flush()  # the requestor waits: answer what is held
            pdu_type, body = self.read_pdu()
            if pdu_type == 5:
                self.flush()
                conn.sendall(struct.pack(">BBIxxxx", 6, 0, 4))
                return
            if pdu_type == 7:
                print("A-ABORT received", flush=True)
                return
            if pdu_type != 4:
                return
            pos = 0
            while pos + 6 <= len(body):
                length = struct.unpack_from(">I", body, pos)[0]
                pcid, mch = body[pos + 4], body[pos + 5]
                fragment = body[pos + 6:pos + 4 + length]
                pos += 4 + length
                if mch & 1:
                    command += fragment
                    if mch & 2:
                        cmd = _parse_command(bytes(command))
                        command = bytearray()
                        cid = pcid
                elif mch & 2 and cmd is not None:
                    _record(self.args.od, "received.txt", _uid(cmd.get(0x00001000, b"")).decode("ascii", "replace"))
                    self.respond(cid, cmd)
                    cmd = None
                    if self.args.abort_after and self.count >= self.args.abort_after:
                        conn.sendall(struct.pack(">BBIBBBB", 7, 0, 4, 0, 0, 0, 0))
                        print("A-ABORT sent", flush=True)
                        return

    def read_pdu(self) -> tuple[int, bytes]:
        head = _recv(self.conn, 6)
        return head[0], _recv(self.conn, struct.unpack(">I", head[2:])[0])


def _serve(conn: socket.socket, args) -> None:
    try:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        Session(conn, args).run()
    except (ConnectionError, OSError):
        pass
    finally:
        conn.close()


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--window", type=int, default=0)
    parser.add_argument("--order", choices=("in", "reverse"), default="in")
    parser.add_argument("--fail-every", type=int, default=0)
    parser.add_argument("--abort-after", type=int, default=0)
    parser.add_argument("--hold", action="store_true")
    parser.add_argument("--max-associations", type=int, default=0)
    parser.add_argument("--response-delay", type=int, default=0)
    parser.add_argument("-od", required=True)
    parser.add_argument("port", type=int)
    args = parser.parse_args(argv)
    os.makedirs(args.od, exist_ok=True)
    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", args.port))
    server.listen(64)
    while True:
        conn, _ = server.accept()
        threading.Thread(target=_serve, args=(conn, args), daemon=True).start()


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
