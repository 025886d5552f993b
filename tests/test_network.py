"""Unit tests of dcmsend.network and dcmsend.pdu: texts, dumps, PDU coding, PDV sizes, and live associations against
tests/scp.py."""

from __future__ import annotations

import io
import os
import struct
import sys

import pytest

from dcmsend import network, uids
from dcmsend import pdu as codec  # (pdu: the PDUs of the tests)
from dcmsend.cmdline import Options
from dcmsend.log import get_logger
from dcmsend.plan import PresentationContext

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import harness  # noqa: E402

CT = "1.2.840.10008.5.1.4.1.1.2"


@pytest.mark.parametrize("status,text", [
    (0x0000, "Success"), (0xB000, "Warning: CoercionOfDataElements"), (0xB007, "Warning: DataSetDoesNotMatchSOPClass"),
    (0xB006, "Warning: ElementsDiscarded"), (0xA700, "Refused: OutOfResources"), (0xA7FF, "Refused: OutOfResources"),
    (0x0122, "Refused: SOPClassNotSupported"), (0xA900, "Error: DataSetDoesNotMatchSOPClass"),
    (0xC123, "Error: CannotUnderstand"), (0xA801, "Unknown Status: 0xa801"), (0x0001, "Unknown Status: 0x1"),
])
def test_cstore_status_string(status, text):
    assert codec.cstore_status_string(status) == text


@pytest.mark.parametrize("status,text", [
    (0x0000, "0x0000: Success"), (0x0122, "0x0122: Refused: SOP Class not supported"),
    (0xA701, "0xa701: Refused: Out of resources"), (0xC000, "0xc000: Error: Cannot understand"),
    (0xB000, "0xb000: Warning: Coercion of Data Elements"), (0x0001, "0x0001: Warning"),
    (0x0110, "0x0110: Failure"), (0xFE00, "0xfe00: Cancel"), (0x1234, "0x1234: Unknown Status Code (non-standard)"),
])
def test_cstore_status_dump(status, text):
    assert codec.cstore_status_dump(status) == text


def test_condition_push_text():
    cond = codec.push(codec.DIMSE_SENDFAILED, network.fsm_error(1, 8))
    assert str(cond) == ("0006:020e DIMSE Failed to send message\n"
                         "0006:0303 DUL Finite State Machine Error: No action defined, state 1 event 8")


def test_dump_pdu_layout():
    text = codec.dump_pdu("Associate Accept", bytes(range(32)))
    lines = text.split("\n")
    assert lines[0] == "PDU Type: Associate Accept, PDU Length: 26 + 6 bytes PDU header"
    assert lines[1] == "".join(f"  {b:02x}" for b in range(16))
    assert lines[-1] == ""  # a full last row ends with a newline, giving DCMTK's trailing "D: " line
    assert "Only dumping 512 bytes." in codec.dump_pdu("X", bytes(600))
    assert not codec.dump_pdu("X", bytes(17)).endswith("\n")


def _params():
    return codec.AssociationParameters("DCMSEND", "ANY-SCP", 16384, [
        codec.ContextResult(1, CT, list(uids.U3)), codec.ContextResult(3, "1.2.3.4", ["1.2.840.10008.1.2.4.91"])])


def test_dump_parameters_rq_and_ac():
    params = _params()
    rq = codec.dump_parameters(params, "RQ").split("\n")
    assert rq[0] == "====================== BEGIN A-ASSOCIATE-RQ ====================="
    assert "Their Implementation Class UID:    " in rq
    assert "    Abstract Syntax: =CTImageStorage" in rq
    assert "      =LittleEndianExplicit" in rq
    assert "    Abstract Syntax: 1.2.3.4" in rq
    assert rq[-1] == "======================= END A-ASSOCIATE-RQ ======================"
    params.contexts[0].result, params.contexts[0].transfer_syntax = 0, uids.LEI
    params.contexts[1].result = 3
    ac = codec.dump_parameters(params, "AC").split("\n")
    assert "  Context ID:        1 (Accepted)" in ac
    assert "    Accepted Transfer Syntax: =LittleEndianImplicit" in ac
    assert "  Context ID:        3 (Abstract Syntax Not Supported)" in ac
    assert "    Proposed Transfer Syntax(es):" not in ac


def test_associate_rq_round_trip_through_ac_parser():
    params = _params()
    pdu = codec.encode_associate_rq(params)
    assert pdu[0] == 1 and struct.unpack(">I", pdu[2:6])[0] == len(pdu) - 6
    assert pdu[10:26] == b"ANY-SCP".ljust(16) and pdu[26:42] == b"DCMSEND".ljust(16)
    # build an AC from the RQ with the test SCP's helper and parse it back
    from scp import _accept_pdu

    ac = _accept_pdu(pdu[6:], 12345)
    codec.parse_associate_ac(ac[6:], params)
    assert params.their_max_pdu == 12345
    assert params.their_impl_uid == "1.2.3.4.5.6" and params.their_impl_version == "TESTSCP"
    assert [(c.result, c.transfer_syntax) for c in params.contexts] == [(0, uids.LEE), (0, "1.2.840.10008.1.2.4.91")]


def test_command_coding():
    cmd = codec.encode_cstore_rq(7, CT, "1.2.3")
    parsed = codec.parse_command(cmd)
    assert parsed.us(0x00000100) == 1 and parsed.us(0x00000110) == 7 and parsed.us(0x00000700) == 0
    assert parsed.text(0x00000002) == CT and parsed.text(0x00001000) == "1.2.3"
    assert struct.unpack("<I", parsed.elements[0])[0] == len(cmd) - 12
    assert len(cmd) % 2 == 0


def test_status_detail_dump():
    cmd = codec.Command({0x00000100: struct.pack("<H", 0x8001), 0x00000900: struct.pack("<H", 0xC000),
                           0x00000902: b"Bad thing "})
    text = codec.dump_status_detail(cmd)
    assert "(0000,0902) LO [Bad thing]" in text and text.rstrip().endswith("#  10, 1 ErrorComment")
    assert codec.dump_status_detail(codec.Command({0x00000900: b"\0\0"})) is None


@pytest.mark.parametrize("peer_max,max_send,pdv,fragment", [
    (16384, None, 16372, 16372), (0, None, 131060, 131060), (200000, None, 131060, 131060),
    (5001, None, 4988, 4988), (16384, 4096, 16372, 4084), (5000, 4097, 4988, 4084),
])
def test_pdv_lengths(peer_max, max_send, pdv, fragment, capsys):
    assoc = network.Association(Options(peer="127.0.0.1", port=1, max_send_pdu=max_send), [])
    assoc.params.their_max_pdu = peer_max
    assoc._compute_lengths()
    assert assoc.send_pdv_length == pdv
    assert assoc.fragment_max == fragment and fragment % 2 == 0


def test_init_network_rejects_long_peer_name():
    assert network.init_network(Options(peer="x" * 58, port=104)) == codec.EC_ILLEGAL_CALL
    assert network.init_network(Options(peer="x" * 57, port=104)) is None


@pytest.mark.parametrize("peer,text", [
    ("", "Illegal service parameter: :{port}"),
    ("no-such-host.invalid", "Attempt to connect to unknown host: no-such-host.invalid"),
])
def test_connect_failures(peer, text):
    port = harness.free_port()
    assoc = network.Association(Options(peer=peer, port=port), [PresentationContext(1, CT, list(uids.U3))])
    cond = assoc._request()
    assert cond is not None and cond.text == text.format(port=port)
    assert not assoc.connected


def test_connection_refused():
    port = harness.free_port()
    assoc = network.Association(Options(peer="127.0.0.1", port=port, connect_timeout=5),
                                [PresentationContext(1, CT, list(uids.U3))])
    assert assoc._request().text == "TCP Initialization Error: Connection refused"


# ---- live associations against tests/scp.py -----------------------------------------------------------------------


@pytest.fixture
def scp(tmp_path):
    peers = []

    def start(*args):
        peer = harness.Peer(str(tmp_path / f"rcv{len(peers)}"), [os.path.join(HERE, "scp.py"), *args],
                            program=sys.executable)
        peers.append(peer.start())
        return peer.port

    yield start
    for p in peers:
        p.stop()


def _store(port, status_args=(), dataset=b"\x08\x00\x16\x00\x02\x00\x00\x00AB", **opts):
    options = Options(peer="127.0.0.1", port=port, acse_timeout=5, **opts)
    assoc = network.Association(options, [PresentationContext(1, CT, list(uids.U3))])
    assert assoc.request() is None
    cond = assoc.send_store(1, 1, CT, "1.2.3.4", io.BytesIO(dataset), len(dataset))
    return assoc, cond


def test_live_store_and_release(scp):
    port = scp("--raw", "no-release", "--max-pdu", "4096")
    assoc, cond = _store(port, dataset=bytes(20000))
    assert cond is None
    assert assoc.send_pdv_length == 4084
    result = assoc.receive_command(5)
    pid, cmd = result
    assert pid == 1 and cmd.us(0x00000100) == 0x8001 and cmd.us(0x00000900) == 0
    # the raw SCP never answers the release request: the ACSE timeout ends the wait
    assoc.options.acse_timeout = 1
    assert assoc.release() == codec.DUL_READTIMEOUT
    assert assoc.connected  # as in DCMTK: still "connected", the abort at exit then fails
    assert assoc.abort().text.endswith("state 1 event 14")


def test_live_peer_release_request(scp):
    port = scp("--raw", "release")
    assoc, cond = _store(port)
    assert cond is None
    assert assoc.receive_command(5) == codec.DUL_PEERREQUESTEDRELEASE
    assert assoc.abort() is None


def test_live_garbage_answer(scp):
    port = scp("--raw", "garbage")
    assoc, cond = _store(port)
    result = assoc.receive_command(5)
    assert result.text == ("DIMSE Failed to receive message\n0006:020c DIMSE Read PDV failed\n"
                           "0006:0321 Unrecognized PDU type: 42")


def test_live_dimse_timeout(scp):
    port = scp("--raw", "no-release")
    options = Options(peer="127.0.0.1", port=port, acse_timeout=5)
    assoc = network.Association(options, [PresentationContext(1, CT, list(uids.U3))])
    assert assoc.request() is None
    # nothing was sent, so no answer comes: the DIMSE timeout ends the wait
    assert assoc.receive_command(1) == codec.DIMSE_NODATAAVAILABLE
    assert assoc.abort() is None


def test_live_rejection_is_logged_at_debug(scp, capsys):
    port = scp("--reject", "1,1,3")
    options = Options(peer="127.0.0.1", port=port, acse_timeout=5)
    assoc = network.Association(options, [PresentationContext(1, CT, list(uids.U3))])
    net = get_logger("dcmtk.dcmnet")
    old = net.level
    net.level = 10000
    try:
        assert assoc.request() == codec.DUL_ASSOCIATIONREJECTED
    finally:
        net.level = old
    err = capsys.readouterr().err
    assert "D: Association Rejected:\nD: Result: Rejected Permanent, Source: Service User\n" \
           "D: Reason: Calling AE Title Not Recognized\n" in err


def test_live_no_acceptable_contexts(scp):
    port = scp("--no-contexts")
    options = Options(peer="127.0.0.1", port=port, acse_timeout=5)
    assoc = network.Association(options, [PresentationContext(1, CT, list(uids.U3))])
    assert assoc.request() == codec.NET_EC_NO_ACCEPTABLE_PRESENTATION_CONTEXTS
    assert assoc.connected
    assert assoc.release() is None
    assert not assoc.connected


def test_parse_command_layout_shortcut_equals_walk():
    """parse_command's shortcut for a command whose size and element headers it has seen gives what its walk gives
    (elements, or the error), for commands that differ in values, in header bytes, in lengths that shift elements
    at the same total size."""
    import random

    def el(group, elem, value):
        return struct.pack("<HHI", group, elem, len(value)) + value

    body = (el(0, 2, b"1.2.840.10008.5.1.4.1.1.2\0") + el(0, 0x100, b"\x01\x80") + el(0, 0x120, b"\x05\0")
            + el(0, 0x800, b"\x01\x01") + el(0, 0x900, b"\0\0") + el(0, 0x1000, b"1.2.3.4.5.6.7.8"))
    base = el(0, 0, struct.pack("<I", len(body))) + body
    rnd = random.Random(5)
    variants = [base, base[:-2] + b"99", base.replace(b"\x05\0", b"\x06\0")]
    for _ in range(3000):
        data = bytearray(rnd.choice(variants[:3]))
        for _ in range(rnd.choice([1, 1, 2])):
            pos = rnd.randrange(len(data))
            data[pos] = rnd.choice([0, 1, 2, 4, 8, 0x10, 0xFF, data[pos] ^ rnd.choice([1, 2, 4, 8])])
        variants.append(bytes(data))

    def outcome(data):
        try:
            return codec.parse_command(data).elements
        except codec.PduError as exc:
            return str(exc)

    for data in variants:
        codec._command_layouts.clear()
        codec.parse_command(base)
        warm = outcome(data)
        codec._command_layouts.clear()
        assert warm == outcome(data), data


def test_scan_int_is_the_regular_expression():
    r"""_scan_int (no re module at start-up) captures what ``\s*([+-]?\d+)`` does, from any position."""
    import random
    import re

    pattern = re.compile(r"\s*([+-]?\d+)")
    rnd = random.Random(9)
    alphabet = " \t\n\u00a0\u2003+-0123456789x:\u0663\u00b2."
    samples = ["", "1", " 1", "+1", "-0", "+-1", "- 1", "1x", "x1", "\u0663\u0664", "\u00b2", "  \t+42abc"]
    samples += ["".join(rnd.choice(alphabet) for _ in range(rnd.randrange(0, 7))) for _ in range(20000)]
    for text in samples:
        for pos in range(len(text) + 1):
            m = pattern.match(text, pos)
            assert network._scan_int(text, pos) == (m.group(1) if m else None), (text, pos)
