"""A small test SCP for behaviours DCMTK's storescp cannot show.

Run as ``python scp.py [options] -od <dir> <port>`` (the command-line shape of harness.Peer); stopped by its PID.

Modes:
  --status 0xNNNN        accept every storage class (all transfer syntaxes) and answer each C-STORE with this status
                         (pynetdicom); with --comment TEXT an Error Comment (0000,0902) is added to the response;
                         with --status-count N only the first N C-STOREs get it, the later ones Success (stored in
                         the -od directory)
  --reject R,S,D         reject every association (result, source, reason/diagnostic) (pynetdicom)
  --no-contexts          accept the association but no presentation context (pynetdicom)
  --explicit-first       (with --status) accept Explicit VR Little Endian where proposed, not Implicit
  --raw BEHAVIOUR        a hand-written acceptor (raw sockets) that accepts everything and then misbehaves:
                           release     answer the first C-STORE with an A-RELEASE-RQ
                           echo-rsp    answer with a C-ECHO-RSP instead of a C-STORE-RSP
                           garbage     answer with bytes that are no PDU
                           close       close the connection after the data set
                           silent      accept TCP connections and never answer anything
                           no-release  accept and answer C-STOREs, but never answer the A-RELEASE-RQ
                           lengths     answer every C-STORE with success, printing the length of each P-DATA PDU
                           no-status, no-msgid, no-datasettype, no-command-field
                                       answer every C-STORE with a C-STORE-RSP without Status, Message ID Being
                                       Responded To, Command Data Set Type or Command Field
                           empty-status, long-status, odd-status, empty-msgid, data-set-present
                                       ... whose Status is empty, 4 bytes (0xA707, 0) or 1 byte, whose Message ID
                                       Being Responded To is empty, whose Command Data Set Type is 0x0000
                           stall       accept the association, then never read from the connection again
                           mute        read everything, answer nothing after the association is accepted
                           slow        as mute, but read slowly (64 KB per 5 ms)
                           (mute, slow and the modes that answer wrongly print "A-ABORT received" when one comes)
                           half-ac     answer the A-ASSOCIATE-RQ with a truncated A-ASSOCIATE-AC and close
                           garbage-ac  answer the A-ASSOCIATE-RQ with bytes that are no PDU
                           huge-ac     answer the A-ASSOCIATE-RQ with an A-ASSOCIATE-AC header of length 0xFFFFFFFF
                           ac-version2 answer with an A-ASSOCIATE-AC of protocol version 2 (then as "lengths")
                           ac-no-ts    ... whose accepted contexts have no transfer syntax sub-item
                           ac-dup-id   ... that answers the first proposed context twice: accepted, then rejected
                           ac-unknown-id  ... that answers only a context ID that was never proposed (255)
                           ac-release-rp, ac-pdata, ac-rq  answer with an A-RELEASE-RP / a P-DATA-TF / an
                                       A-ASSOCIATE-RQ instead of the A-ASSOCIATE-AC, then drain
                           ac-lying-item  ... an A-ASSOCIATE-AC whose first item's length exceeds the PDU
                           ac-len0, ac-len10  ... an A-ASSOCIATE-AC of length 0 / 10 (zero bytes)
                           release-mid send an A-RELEASE-RQ in the middle of the first data set (after its first
                                       P-DATA PDU), then read on, printing "data set complete", "A-ABORT received",
                                       "connection reset" or "connection closed" as they happen
                           release-garbage  answer C-STOREs, but the A-RELEASE-RQ with bytes that are no PDU
                           half-rsp    answer the data set with a truncated P-DATA PDU and close
                           wrong-pdu   answer the data set with an A-ASSOCIATE-AC PDU (a wrong PDU type)
                           bad-pdv     answer the data set with a P-DATA PDU whose PDV length exceeds the PDU
                           short-pdv   answer the data set with a P-DATA PDU holding a PDV of length 1
                           no-pdv      answer the data set with an empty P-DATA PDU
                           data-pdv    answer the data set with a data set PDV instead of a command
                           huge-pdu    answer the data set with a P-DATA header of length 0xFFFFFFFF, end, read on
                           delay-first store every data set as received (byte for byte, NNN-<instance UID>) and
                                       answer each C-STORE with success, the first one --delay seconds (2) late
                           max-pdu N   (combined with the above: announce max PDU N; 0 = unlimited) -- see --max-pdu
  --max-pdu N            max PDU length announced by the raw acceptor (default 16384)
  --hold                 (raw modes) after misbehaving, keep the connection open without reading or answering
                         anything (a peer that falls silent) instead of reading until an A-ABORT comes
"""

from __future__ import annotations

import argparse
import os
import socket
import struct
import sys
import threading


def _items(body: bytes, pos: int):
    while pos + 4 <= len(body):
        t, _, n = struct.unpack_from(">BBH", body, pos)
        yield t, body[pos + 4:pos + 4 + n]
        pos += 4 + n


def _recv(conn: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise ConnectionError
        data += chunk
    return data


def _read_pdu(conn):
    head = _recv(conn, 6)
    length = struct.unpack(">I", head[2:])[0]
    return head[0], _recv(conn, length)


def _item(t, payload):
    return struct.pack(">BBH", t, 0, len(payload)) + payload


def _accept_pdu(rq_body: bytes, max_pdu: int, variant: str = "") -> bytes:
    body = bytearray(rq_body[:68])
    body[0:4] = struct.pack(">HH", 2 if variant == "ac-version2" else 1, 0)
    body += _item(0x10, b"1.2.840.10008.3.1.1.1")
    for t, payload in _items(rq_body, 68):
        if t != 0x20:
            continue
        cid = payload[0]
        ts = None
        for st, sp in _items(payload, 4):
            if st == 0x40 and ts is None:
                ts = sp
        if variant == "ac-unknown-id":
            body += _item(0x21, struct.pack(">BBBB", 255, 0, 0, 0) + _item(0x40, ts))
            break
        if variant == "ac-no-ts":
            body += _item(0x21, struct.pack(">BBBB", cid, 0, 0, 0))
            continue
        body += _item(0x21, struct.pack(">BBBB", cid, 0, 0, 0) + _item(0x40, ts))
        if variant == "ac-dup-id":
            body += _item(0x21, struct.pack(">BBBB", cid, 0, 3, 0))
            variant = ""
    user = _item(0x51, struct.pack(">I", max_pdu)) + _item(0x52, b"1.2.3.4.5.6") + _item(0x55, b"TESTSCP")
    body += _item(0x50, user)
    return struct.pack(">BBI", 2, 0, len(body)) + bytes(body)


def _elem(tag, value):
    return struct.pack("<HHI", tag >> 16, tag & 0xFFFF, len(value)) + value


def _command(fields: list[tuple[int, bytes]]) -> bytes:
    elems = b"".join(_elem(t, v) for t, v in fields)
    return _elem(0, struct.pack("<I", len(elems))) + elems


def _drain(conn: socket.socket, pause: float = 0.0) -> None:
    """Read (and drop) PDUs until the other side sends an A-ABORT (printed to stdout: "A-ABORT received") or
    closes the connection; ``pause`` seconds between reads of at most 64 KB make a slow reader."""
    import time

    if HOLD:
        _hold(conn)
        return
    try:
        while True:
            head = _recv(conn, 6)
            length = struct.unpack(">I", head[2:])[0]
            if head[0] not in (1, 2, 3, 4, 5, 6, 7):
                print(f"bad PDU type {head[0]}", flush=True)
                return
            if head[0] == 7:
                print("A-ABORT received", flush=True)
                return
            while length:
                chunk = conn.recv(min(length, 65536))
                if not chunk:
                    return
                length -= len(chunk)
                if pause:
                    time.sleep(pause)
    except (ConnectionError, OSError):
        return


def _hold(conn: socket.socket) -> None:
    """Keep the connection open without ever reading from it again (until the process is stopped)."""
    threading.Event().wait()


# raw modes answering every C-STORE with a C-STORE-RSP that lacks one element
_WITHOUT = {"no-status": 0x00000900, "no-msgid": 0x00000120, "no-datasettype": 0x00000800,
            "no-command-field": 0x00000100}
# ... or whose elements have these values
_REPLACED = {"empty-status": [(0x00000900, b"")], "long-status": [(0x00000900, b"\x07\xa7\0\0")],
             "odd-status": [(0x00000900, b"\x07")], "empty-msgid": [(0x00000120, b"")],
             "data-set-present": [(0x00000800, b"\0\0")], "odd-status3": [(0x00000900, b"\0\0\0")]}
# ... or with these elements added
_ADDED = {"odd-class": [(0x00000002, b"1.2.840.10008.5.1.4.1.1.2")],
          "with-class": [(0x00000002, b"1.2.840.10008.5.1.4.1.1.2\0")]}


# raw modes answering the A-ASSOCIATE-RQ with these bytes in place of an A-ASSOCIATE-AC
_AC_INSTEAD = {"ac-release-rp": struct.pack(">BBIxxxx", 6, 0, 4),
               "ac-pdata": struct.pack(">BBI", 4, 0, 8) + struct.pack(">IBB", 2, 1, 3) + b"\0\0",
               "ac-rq": struct.pack(">BBI", 1, 0, 68) + struct.pack(">HH", 1, 0) + b"ANY-SCP".ljust(16) * 2
               + bytes(32),
               "ac-len0": struct.pack(">BBI", 2, 0, 0),
               "ac-len10": struct.pack(">BBI", 2, 0, 10) + bytes(10)}


HOLD = False


def _raw_session(conn: socket.socket, behaviour: str, max_pdu: int) -> None:
    try:
        if behaviour == "silent":
            while conn.recv(65536):
                pass
            return
        pdu_type, body = _read_pdu(conn)
        if pdu_type != 1:
            return
        rq_body = body
        if behaviour == "half-ac":
            conn.sendall(_accept_pdu(body, max_pdu)[:40])
            return
        if behaviour == "garbage-ac":
            conn.sendall(b"\x42garbage-garbage")
            _drain(conn)
            return
        if behaviour == "huge-ac":
            conn.sendall(struct.pack(">BBI", 2, 0, 0xFFFFFFFF) + b"\0" * 64)
            _drain(conn)
            return
        if behaviour in _AC_INSTEAD:
            conn.sendall(_AC_INSTEAD[behaviour])
            _drain(conn)
            return
        if behaviour == "ac-lying-item":
            ac = bytearray(_accept_pdu(body, max_pdu))
            ac[6 + 68 + 2:6 + 68 + 4] = struct.pack(">H", 0xFFF0)  # the application context item's length
            conn.sendall(bytes(ac))
            _drain(conn)
            return
        conn.sendall(_accept_pdu(body, max_pdu, behaviour))
        if behaviour.startswith("ac-"):
            behaviour = "lengths"
        if behaviour == "stall":
            _hold(conn)
            return
        if behaviour == "mute":
            _drain(conn)
            return
        if behaviour == "slow":
            _drain(conn, 0.005)
            return
        cid = 1
        data_done = False
        release_sent = False
        while True:
            try:
                pdu_type, body = _read_pdu(conn)
            except ConnectionResetError:
                if behaviour == "release-mid":
                    print("connection reset", flush=True)
                raise
            except ConnectionError:
                if behaviour == "release-mid":
                    print("connection closed", flush=True)
                raise
            if pdu_type == 5:
                if behaviour == "release-garbage":
                    conn.sendall(b"\x42garbage-garbage")
                    _drain(conn)
                    return
                if behaviour == "no-release":
                    while conn.recv(65536):
                        pass
                    return
                conn.sendall(struct.pack(">BBIxxxx", 6, 0, 4))
                return
            if pdu_type == 7:
                if behaviour == "release-mid":
                    print("A-ABORT received", flush=True)
                return
            if pdu_type != 4:
                continue
            if behaviour == "lengths":
                print(f"P-DATA {len(body)}", flush=True)
            if behaviour == "release-mid" and not release_sent and len(body) > 6 and not body[5] & 1:
                conn.sendall(struct.pack(">BBIxxxx", 5, 0, 4))  # (in the middle of the first data set)
                release_sent = True
                print("A-RELEASE-RQ sent", flush=True)
            pos = 0
            while pos + 6 <= len(body):
                n = struct.unpack_from(">I", body, pos)[0]
                cid, mch = body[pos + 4], body[pos + 5]
                if not mch & 1 and mch & 2:
                    data_done = True
                pos += 4 + n
            if not data_done:
                continue
            data_done = False
            if behaviour == "release-mid":
                # a storage SCP would store the data set now
                print("data set complete" + (" (after the A-RELEASE-RQ)" if release_sent else ""), flush=True)
            if behaviour == "release":
                conn.sendall(struct.pack(">BBIxxxx", 5, 0, 4))
                if HOLD:
                    _hold(conn)
            elif behaviour == "garbage":
                conn.sendall(b"\x42garbage-garbage")
                if HOLD:
                    _hold(conn)
            elif behaviour == "close":
                conn.close()
                return
            elif behaviour == "half-rsp":
                conn.sendall(struct.pack(">BBI", 4, 0, 200) + b"\0\0\0\x40\x01\x03")
                return
            elif behaviour == "wrong-pdu":
                conn.sendall(_accept_pdu(rq_body, max_pdu))
                _drain(conn)
                return
            elif behaviour == "bad-pdv":
                conn.sendall(struct.pack(">BBI", 4, 0, 8) + struct.pack(">IBB", 0x100, cid, 3) + b"\0\0")
                _drain(conn)
                return
            elif behaviour == "short-pdv":
                conn.sendall(struct.pack(">BBI", 4, 0, 6) + struct.pack(">IBB", 1, cid, 3))
                _drain(conn)
                return
            elif behaviour == "no-pdv":
                conn.sendall(struct.pack(">BBI", 4, 0, 0))
                _drain(conn)
                return
            elif behaviour == "huge-pdu":
                conn.sendall(struct.pack(">BBI", 4, 0, 0xFFFFFFFF) + b"\0" * 64)
                # (then this side of the connection ends, and what the sender writes is read until it closes:
                # closing with unread data would reset the connection, and when the reset arrives would decide what
                # each sender says next)
                conn.shutdown(socket.SHUT_WR)
                _drain(conn)
                return
            elif behaviour == "echo-rsp":
                cmd = _command([(0x00000002, b"1.2.840.10008.1.1\0"), (0x00000100, struct.pack("<H", 0x8030)),
                                (0x00000120, struct.pack("<H", 1)), (0x00000800, struct.pack("<H", 0x0101)),
                                (0x00000900, struct.pack("<H", 0))])
            else:  # plain success (no-release mode), or without the element the mode names
                fields = [(0x00000100, struct.pack("<H", 0x8001)), (0x00000120, struct.pack("<H", 1)),
                          (0x00000800, struct.pack("<H", 0x0101)), (0x00000900, struct.pack("<H", 0))]
                missing = _WITHOUT.get(behaviour)
                replaced = dict(_REPLACED.get(behaviour, ()))
                fields = sorted(fields + _ADDED.get(behaviour, []))
                cmd = _command([(t, replaced.get(t, v)) for t, v in fields if t != missing])
                if behaviour == "overlong-status":  # the last element's length reaches beyond the command
                    cmd = cmd[:-6] + struct.pack("<I", 100) + cmd[-2:]
                elif behaviour == "trailing-bytes":  # four bytes after the last element (not an element header)
                    cmd += b"\0\0\0\0"
            if behaviour == "data-pdv":
                cmd = _command([(0x00000100, struct.pack("<H", 0x8001)), (0x00000120, struct.pack("<H", 1)),
                                (0x00000800, struct.pack("<H", 0x0101)), (0x00000900, struct.pack("<H", 0))])
                pdv = struct.pack(">IBB", len(cmd) + 2, cid, 2) + cmd
                conn.sendall(struct.pack(">BBI", 4, 0, len(pdv)) + pdv)
                _drain(conn)
                return
            if behaviour in ("echo-rsp", "no-release", "release-garbage", "release-mid", "overlong-status",
                             "trailing-bytes", "lengths", *_WITHOUT, *_REPLACED, *_ADDED):
                pdv = struct.pack(">IBB", len(cmd) + 2, cid, 3) + cmd
                conn.sendall(struct.pack(">BBI", 4, 0, len(pdv)) + pdv)
    except (ConnectionError, OSError):
        pass
    finally:
        try:
            conn.close()
        except OSError:
            pass


def _command_elements(data: bytes) -> dict[int, bytes]:
    """The elements of a command set (implicit VR little endian)."""
    out, pos = {}, 0
    while pos + 8 <= len(data):
        tag = struct.unpack_from("<HH", data, pos)
        length = struct.unpack_from("<I", data, pos + 4)[0]
        out[(tag[0] << 16) | tag[1]] = data[pos + 8:pos + 8 + length]
        pos += 8 + length
    return out


def _delayed_session(conn: socket.socket, outdir: str, delay: float, max_pdu: int) -> None:
    """--raw delay-first: accept, store every data set as received (byte for byte, ``NNN-<instance UID>``) and
    answer each C-STORE with success for its message ID, the first one ``delay`` seconds late."""
    import time

    try:
        pdu_type, body = _read_pdu(conn)
        if pdu_type != 1:
            return
        conn.sendall(_accept_pdu(body, max_pdu))
        command, data, count = b"", b"", 0
        while True:
            pdu_type, body = _read_pdu(conn)
            if pdu_type == 5:
                conn.sendall(struct.pack(">BBIxxxx", 6, 0, 4))
                return
            if pdu_type != 4:
                return
            pos = 0
            while pos + 6 <= len(body):
                n = struct.unpack_from(">I", body, pos)[0]
                cid, mch = body[pos + 4], body[pos + 5]
                fragment = body[pos + 6:pos + 4 + n]
                pos += 4 + n
                if mch & 1:
                    command += fragment
                    continue
                data += fragment
                if not mch & 2:
                    continue
                fields = _command_elements(command)
                count += 1
                instance = fields.get(0x00001000, b"").rstrip(b"\0").decode("ascii", "replace")
                if outdir:
                    with open(os.path.join(outdir, f"{count:03d}-{instance}"), "wb") as fh:
                        fh.write(data)
                if count == 1:
                    time.sleep(delay)
                rsp = _command([(0x00000002, fields.get(0x00000002, b"")), (0x00000100, struct.pack("<H", 0x8001)),
                                (0x00000120, fields.get(0x00000110, b"\1\0")), (0x00000800, struct.pack("<H", 0x0101)),
                                (0x00000900, struct.pack("<H", 0)), (0x00001000, fields.get(0x00001000, b""))])
                pdv = struct.pack(">IBB", len(rsp) + 2, cid, 3) + rsp
                conn.sendall(struct.pack(">BBI", 4, 0, len(pdv)) + pdv)
                command, data = b"", b""
    except (ConnectionError, OSError):
        pass
    finally:
        try:
            conn.close()
        except OSError:
            pass


def run_raw(port: int, behaviour: str, max_pdu: int, outdir: str = "", delay: float = 2.0) -> None:
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if behaviour in ("stall", "release-mid"):
        # a small receive window (inherited by accepted connections) makes the sender block soon (release-mid: a
        # data set cannot wait in the buffers while the one before it is being read)
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    srv.bind(("", port))
    srv.listen(8)
    while True:
        conn, _ = srv.accept()
        if behaviour == "delay-first":
            threading.Thread(target=_delayed_session, args=(conn, outdir, delay, max_pdu), daemon=True).start()
            continue
        threading.Thread(target=_raw_session, args=(conn, behaviour, max_pdu), daemon=True).start()


def run_pynetdicom(port: int, outdir: str, status: int | None, comment: str | None, reject: str | None,
                   no_contexts: bool, explicit_first: bool = False, status_count: int | None = None) -> None:
    import logging

    from pydicom.dataset import Dataset
    from pydicom.uid import AllTransferSyntaxes
    from pynetdicom import AE, AllStoragePresentationContexts, evt

    logging.getLogger("pynetdicom").setLevel(logging.CRITICAL)
    ae = AE(ae_title="TESTSCP")
    if no_contexts:
        ae.add_supported_context("1.2.840.10008.1.1")
    else:
        syntaxes = list(AllTransferSyntaxes)
        if explicit_first:  # (pynetdicom accepts the first of its own list that was proposed)
            syntaxes.remove("1.2.840.10008.1.2.1")
            syntaxes.insert(0, "1.2.840.10008.1.2.1")
        for cx in AllStoragePresentationContexts:
            ae.add_supported_context(cx.abstract_syntax, syntaxes)
        ae.add_supported_context("1.2.840.10008.5.1.4.1.1.7", syntaxes)
    handlers = []
    if reject:
        result, source, reason = (int(x, 0) for x in reject.split(","))

        def on_request(event):
            event.assoc.acse.send_reject(result, source, reason)
            event.assoc.is_rejected = True
            event.assoc.kill()

        handlers.append((evt.EVT_REQUESTED, on_request))

    answered = [0]

    def on_store(event):
        answered[0] += 1
        special = status_count is None or answered[0] <= status_count
        if outdir and not (status and special):
            ds = event.dataset
            ds.file_meta = event.file_meta
            ds.save_as(os.path.join(outdir, f"{ds.SOPInstanceUID}.dcm"), enforce_file_format=True)
        rsp = Dataset()
        rsp.Status = (status or 0) if special else 0
        if comment and special:
            rsp.ErrorComment = comment
        return rsp

    handlers.append((evt.EVT_C_STORE, on_store))
    ae.maximum_pdu_size = 16384
    ae.start_server(("", port), block=True, evt_handlers=handlers)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--status", type=lambda s: int(s, 0))
    parser.add_argument("--comment")
    parser.add_argument("--status-count", type=int)
    parser.add_argument("--reject")
    parser.add_argument("--no-contexts", action="store_true")
    parser.add_argument("--explicit-first", action="store_true")
    parser.add_argument("--raw")
    parser.add_argument("--max-pdu", type=int, default=16384)
    parser.add_argument("--hold", action="store_true")
    parser.add_argument("--delay", type=float, default=2.0)
    parser.add_argument("-od", dest="outdir", default="")
    parser.add_argument("port", type=int)
    args = parser.parse_args(argv)
    if args.outdir:
        os.makedirs(args.outdir, exist_ok=True)
    if args.raw:
        global HOLD
        HOLD = args.hold
        run_raw(args.port, args.raw, args.max_pdu, args.outdir, args.delay)
    else:
        run_pynetdicom(args.port, "" if args.status and args.status_count is None else args.outdir, args.status,
                       args.comment, args.reject, args.no_contexts, args.explicit_first, args.status_count)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
