"""Our own synchronous DICOM association client: the DcmSCU / ASC / DIMSE / DUL layers dcmsend needs.

Blocking sockets with timeouts, no threads.  PDUs are encoded and parsed here with ``struct`` (the PDU layout of
PS3.8 §9.3; pynetdicom's PDU classes are the oracle in tests/test_pdu_codec.py, see docs/conformance.md for why they
are not used here); DIMSE command sets are Implicit VR Little Endian with group length, as DCMTK writes them.  Data
sets are streamed from a file-like object into the PDU slots of one reused buffer (``readv``/``readinto``) and sent
in batches of PDUs, so a data set is never held in memory as a whole; the PDUs are DCMTK's, one PDV each.

The log lines, their levels and the condition texts follow DCMTK 3.6.7 (``scu.cc``, ``assoc.cc``, ``dimdump.cc``,
``dulfsm.cc``, ``cond.cc``), including the DEBUG-level dump of the A-ASSOCIATE-AC PDU bytes.
"""

from __future__ import annotations

import _socket as socket  # (the C module: socket.py costs 4 ms of imports, its wrappers are not needed)
import errno
import os
import select
import struct
import time

from dcmsend import __version__, identity, transport, uids
from dcmsend.exitcodes import Condition, ConditionError
from dcmsend.log import DATA, DEBUG, INFO, NET

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable

# ---------------------------------------------------------------------------------------------------------------
# Identification

IMPLEMENTATION_CLASS_UID = "1.2.826.0.1.3680043.8.498.7731." + ".".join(str(int(p)) for p in __version__.split(".")
                                                                        if p.isdigit())
IMPLEMENTATION_VERSION_NAME = ("DCMSEND_PY_" + "".join(p for p in __version__.split(".") if p.isdigit()))[:16]
APPLICATION_CONTEXT = "1.2.840.10008.3.1.1.1"

# ASC_MAXIMUMPDUSIZE: cap for an unlimited (0) or larger peer maximum, in DCMTK's "Max Send PDV" computation.
ASC_MAXIMUMPDUSIZE = 131072
ASC_MINIMUMPDUSIZE = 4096
# Our real cap for one outgoing P-DATA PDU when the peer announces "unlimited" (0).
UNLIMITED_PDU_CAP = 1 << 20
ASSOCIATE_PDU_SIZE_LIMIT = 0x100000  # dcmAssociatePDUSizeLimit: longer non-P-DATA PDUs are refused unread
SOCKET_TIMEOUT = 60  # DCMTK's fixed send/receive socket timeouts (dcmSocketSendTimeout / dcmSocketReceiveTimeout)


def socket_timeout() -> int:
    """The fixed socket send/receive timeout: 60 s as in DCMTK.  The environment variable DCMSEND_SOCKET_TIMEOUT
    (a positive integer) overrides it; it exists for the test suite only (a stalled peer ends in seconds)."""
    value = os.environ.get("DCMSEND_SOCKET_TIMEOUT", "")
    return int(value) if value.isdigit() and int(value) > 0 else SOCKET_TIMEOUT

# ---------------------------------------------------------------------------------------------------------------
# Conditions (dcmnet module 6; texts from cond.cc)

_NET = 6


def _c(code: int, text: str) -> Condition:
    return Condition(_NET, code, text)


NORMAL = Condition(0, 0, "Normal")
ASC_USER_IDENTIFICATION_FAILED = Condition(6, 0x108, "ASC User Identification Negotiation failed")
ASC_BADPRESENTATIONCONTEXTID = _c(0x101, "ASC Bad presentation context ID")
DIMSE_BADCOMMANDTYPE = _c(0x201, "DIMSE Bad command type")
DIMSE_BADMESSAGE = _c(0x203, "DIMSE Badly formed message")
DIMSE_ILLEGALASSOCIATION = _c(0x205, "DIMSE Caller passed in an illegal association")
DIMSE_NODATAAVAILABLE = _c(0x207, "DIMSE No data available (timeout in non-blocking mode)")
DIMSE_NOVALIDPRESENTATIONCONTEXTID = _c(0x208, "DIMSE No valid Presentation Context ID")
DIMSE_PARSEFAILED = _c(0x20B, "DIMSE Failed to parse received message")
DIMSE_READPDVFAILED = _c(0x20C, "DIMSE Read PDV failed")
DIMSE_RECEIVEFAILED = _c(0x20D, "DIMSE Failed to receive message")
DIMSE_SENDFAILED = _c(0x20E, "DIMSE Failed to send message")
DIMSE_UNEXPECTEDPDVTYPE = _c(0x20F, "DIMSE Unexpected PDV type")
DIMSE_ODD_BLOCK_LENGTH = _c(0x20E, "DIMSE Failed to send message: odd block length encountered")
DUL_ASSOCIATIONREJECTED = _c(0x301, "DUL Association Rejected")
DUL_PDATAPDUARRIVED = _c(0x316, "DUL P-Data PDU arrived")
DUL_PEERABORTEDASSOCIATION = _c(0x317, "Peer aborted Association (or never connected)")
DUL_PEERREQUESTEDRELEASE = _c(0x319, "DUL Peer Requested Release")
DUL_READTIMEOUT = _c(0x31A, "DUL network read timeout")
DUL_NETWORKCLOSED = _c(0x310, "DUL network closed")
NET_EC_ASSOCIATE_PDU_TOO_LARGE = _c(1079, "A-ASSOCIATE PDU too large")
NET_EC_INVALID_SOP_CLASS_UID = _c(1000, "Invalid SOP Class UID")
NET_EC_INVALID_SOP_INSTANCE_UID = _c(1002, "Invalid SOP Instance UID")
NET_EC_NO_ACCEPTABLE_PRESENTATION_CONTEXTS = _c(1006, "No acceptable Presentation Contexts")
NET_EC_ALREADY_CONNECTED = _c(1010, "Already connected")
EC_ILLEGAL_CALL = Condition(1, 0x27, "Illegal call, perhaps wrong parameters")

_FSM_ERROR = 0x303
_ILLEGAL_PDU = 0x307
_ILLEGAL_PDU_LENGTH = 0x308
_ILLEGAL_SERVICE_PARAMETER = 0x30C
_TCP_INIT_ERROR = 0x31C
_TCP_IO_ERROR = 0x31D
_UNKNOWN_HOST = 0x320
_UNRECOGNIZED_PDU_TYPE = 0x321
_UNSUPPORTED_TS = 0x212


def push(outer: Condition, inner: Condition) -> Condition:
    """DimseCondition::push: the outer text, a newline, then the inner condition in ``mmmm:cccc text`` form."""
    return Condition(outer.module, outer.code, f"{outer.text}\n{inner}")


def fsm_error(state: int, event: int) -> Condition:
    return _c(_FSM_ERROR, f"DUL Finite State Machine Error: No action defined, state {state} event {event}")


# DUL state-machine events (dulfsm.h) used in the "No action defined" texts.
EV_P_DATA_REQ = 8
EV_A_RELEASE_REQ = 10
EV_A_ABORT_REQ = 14

# Protocol states we model (PS3.8 Sta1, Sta6, Sta8, Sta13).
STA_IDLE = 1
STA_OPEN = 6
STA_PEER_RELEASE = 8
STA_ABORTING = 13

# ---------------------------------------------------------------------------------------------------------------
# DIMSE status texts

STATUS_SUCCESS = 0x0000


def cstore_status_string(status: int) -> str:
    """DU_cstoreStatusString (the "Received C-STORE Response (...)" text, DCMTK 3.6.7)."""
    fixed = {0x0000: "Success", 0x0122: "Refused: SOPClassNotSupported", 0xB000: "Warning: CoercionOfDataElements",
             0xB007: "Warning: DataSetDoesNotMatchSOPClass", 0xB006: "Warning: ElementsDiscarded"}
    if status in fixed:
        return fixed[status]
    if status & 0xFF00 == 0xA700:
        return "Refused: OutOfResources"
    if status & 0xFF00 == 0xA900:
        return "Error: DataSetDoesNotMatchSOPClass"
    if status & 0xF000 == 0xC000:
        return "Error: CannotUnderstand"
    return f"Unknown Status: 0x{status:x}"


def _status_class(status: int) -> str:
    if status == 0:
        return "Success"
    if (status & 0xF000) in (0xA000, 0xC000) or ((status & 0xFF00) == 0x0100 and status not in (0x0107, 0x0116)) \
            or (status & 0xFF00) == 0x0200:
        return "Failure"
    if (status & 0xF000) == 0xB000 or status in (0x0001, 0x0107, 0x0116):
        return "Warning"
    if status == 0xFE00:
        return "Cancel"
    if status in (0xFF00, 0xFF01):
        return "Pending"
    return "Unknown Status Code (non-standard)"


def cstore_status_dump(status: int) -> str:
    """DIMSE_printCStoreStatusString (the status line of the INCOMING DIMSE dump)."""
    fixed = {0x0000: "Success", 0x0122: "Refused: SOP Class not supported", 0x0124: "Refused: Not authorized",
             0x0117: "Invalid SOP Class", 0x0210: "Duplicate invocation", 0x0211: "Unrecognized operation",
             0x0212: "Mistyped argument"}
    if status in fixed:
        text = fixed[status]
    elif status & 0xFF00 == 0xA700:
        text = "Refused: Out of resources"
    elif status & 0xFF00 == 0xA900:
        text = "Error: Data Set does not match SOP Class"
    elif status & 0xF000 == 0xC000:
        text = "Error: Cannot understand"
    elif status == 0xB000:
        text = "Warning: Coercion of Data Elements"
    elif status == 0xB007:
        text = "Warning: Data Set does not match SOP Class"
    elif status == 0xB006:
        text = "Warning: Elements discarded"
    else:
        text = _status_class(status)
    return f"0x{status:04x}: {text}"


# Accepted transfer syntaxes the DIMSE layer can send in (dimse.cc getTransferSyntax).
_J = "1.2.840.10008.1.2.4."
DIMSE_SUPPORTED_TS = frozenset(
    [uids.LEI, uids.LEE, uids.BEE, uids.DEFLATED, "1.2.840.10008.1.2.5"]
    + [_J + str(n) for n in range(50, 67)]
    + [_J + n for n in ("70", "80", "81", "90", "91", "92", "93", "100", "101", "102", "103", "104", "105", "106",
                        "107", "108")])

# ---------------------------------------------------------------------------------------------------------------
# Presentation contexts / association parameters


class ContextResult:
    """One presentation context of the association: what we proposed and what the peer answered.  (Plain classes
    here rather than dataclasses: importing ``dataclasses`` costs milliseconds at start-up.)"""

    __slots__ = ("id", "abstract_syntax", "proposed", "result", "transfer_syntax")

    def __init__(self, id: int, abstract_syntax: str, proposed: list[str], result: int | None = None,
                 transfer_syntax: str = ""):
        self.id = id
        self.abstract_syntax = abstract_syntax
        self.proposed = proposed
        self.result = result  # None: not (yet) negotiated; 0 acceptance, 1 user rejection, 2 no reason, 3, 4
        self.transfer_syntax = transfer_syntax  # the accepted one

    @property
    def accepted(self) -> bool:
        return self.result == 0

    def __eq__(self, other):
        if other.__class__ is not self.__class__:
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in self.__slots__)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return "ContextResult(" + ", ".join(f"{n}={getattr(self, n)!r}" for n in self.__slots__) + ")"


_RESULT_TEXT = {0: "Accepted", 1: "User Rejection", 2: "No Reason", 3: "Abstract Syntax Not Supported",
                4: "Transfer Syntaxes Not Supported", None: "Proposed"}


class AssociationParameters:
    __slots__ = ("calling_ae", "called_ae", "max_pdu", "contexts", "their_impl_uid", "their_impl_version",
                 "their_max_pdu", "user_identity", "user_identity_response", "async_invoked", "async_granted")

    def __init__(self, calling_ae: str, called_ae: str, max_pdu: int, contexts: list[ContextResult] | None = None,
                 their_impl_uid: str = "", their_impl_version: str = "", their_max_pdu: int = 0):
        self.calling_ae = calling_ae
        self.called_ae = called_ae
        self.max_pdu = max_pdu
        self.contexts = [] if contexts is None else contexts
        self.their_impl_uid = their_impl_uid
        self.their_impl_version = their_impl_version
        self.their_max_pdu = their_max_pdu
        # user identity negotiation (PS3.7 D.3.3.7): what we request, as (type, positive response requested,
        # primary field, secondary field), and the server response (None: no response sub-item came)
        self.user_identity: tuple[int, bool, bytes, bytes] | None = None
        self.user_identity_response: bytes | None = None
        # extension (--async-ops): the Asynchronous Operations Window we propose (max operations invoked; 0: no
        # sub-item) and the one the peer granted (its max operations invoked; 0: none in the A-ASSOCIATE-AC)
        self.async_invoked = 0
        self.async_granted = 0


def dump_parameters(params: AssociationParameters, direction: str) -> str:
    """ASC_dumpParameters (``direction`` is "RQ" or "AC")."""
    calling = params.calling_ae[:16].rstrip(" ") if direction == "AC" else params.calling_ae[:16]
    lines = [f"====================== BEGIN A-ASSOCIATE-{direction} =====================",
             f"Our Implementation Class UID:      {IMPLEMENTATION_CLASS_UID}",
             f"Our Implementation Version Name:   {IMPLEMENTATION_VERSION_NAME}",
             f"Their Implementation Class UID:    {params.their_impl_uid}",
             f"Their Implementation Version Name: {params.their_impl_version}",
             f"Application Context Name:    {APPLICATION_CONTEXT}",
             # (the titles as DCMTK shows them: 16 characters at most; the calling one, once negotiated, without
             # trailing spaces)
             f"Calling Application Name:    {calling}",
             f"Called Application Name:     {params.called_ae[:16]}",
             f"Responding Application Name: {params.called_ae[:16]}",
             f"Our Max PDU Receive Size:    {params.max_pdu}",
             f"Their Max PDU Receive Size:  {params.their_max_pdu}",
             "Presentation Contexts:"]
    for cx in params.contexts:
        lines.append(f"  Context ID:        {cx.id} ({_RESULT_TEXT.get(cx.result, '--Invalid Result/Reason--')})")
        lines.append(f"    Abstract Syntax: {uids.uid_display(cx.abstract_syntax)}")
        lines.append("    Proposed SCP/SCU Role: Default")
        if cx.result is not None:
            lines.append("    Accepted SCP/SCU Role: Default")
        if cx.result == 0:
            lines.append(f"    Accepted Transfer Syntax: {uids.uid_display(cx.transfer_syntax)}")
        if cx.result is None:
            lines.append("    Proposed Transfer Syntax(es):")
            lines.extend(f"      {uids.uid_display(ts)}" for ts in cx.proposed)
    lines += ["Requested Extended Negotiation: none",
              "Accepted Extended Negotiation:  none"]
    lines += identity.dump(params.user_identity, params.user_identity_response)
    lines.append(f"======================= END A-ASSOCIATE-{direction} ======================")
    return "\n".join(lines)


def dump_pdu(kind: str, data: bytes) -> str:
    """dulfsm.cc dump_pdu: header line plus at most 512 bytes as hex, 16 per line."""
    out = [f"PDU Type: {kind}, PDU Length: {len(data) - 6} + 6 bytes PDU header\n"]
    if len(data) > 512:
        out.append("Only dumping 512 bytes.\n")
        data = data[:512]
    for i, b in enumerate(data):
        out.append(f"  {b:02x}")
        if (i + 1) % 16 == 0:
            out.append("\n")
    return "".join(out)


# ---------------------------------------------------------------------------------------------------------------
# PDU encoding / parsing


def _ae(title: str) -> bytes:
    """An AE title field: the bytes of the command-line argument as given (as DCMTK's C string), 16 at most."""
    try:
        raw = os.fsencode(title)
    except UnicodeEncodeError:  # (a str from the Python API that no argument could have given)
        raw = title.encode("utf-8", "replace")
    return raw[:16].ljust(16, b" ")


def _item(item_type: int, payload: bytes) -> bytes:
    return struct.pack(">BBH", item_type, 0, len(payload)) + payload


def encode_associate_rq(params: AssociationParameters) -> bytes:
    body = bytearray(struct.pack(">HH", 1, 0))
    body += _ae(params.called_ae) + _ae(params.calling_ae) + bytes(32)
    body += _item(0x10, APPLICATION_CONTEXT.encode())
    for cx in params.contexts:
        # (DCMTK keeps at most 64 characters of a UID in its presentation context structures)
        sub = _item(0x30, _raw(cx.abstract_syntax)[:64])
        for ts in cx.proposed:
            sub += _item(0x40, _raw(ts)[:64])
        body += _item(0x20, struct.pack(">BBBB", cx.id, 0, 0, 0) + sub)
    user = _item(0x51, struct.pack(">I", params.max_pdu))
    user += _item(0x52, IMPLEMENTATION_CLASS_UID.encode())
    if params.async_invoked:  # (extension, --async-ops) PS3.7 D.3.3.3: invoked n, performed 1
        user += _item(0x53, struct.pack(">HH", params.async_invoked, 1))
    user += _item(0x55, IMPLEMENTATION_VERSION_NAME.encode())
    if params.user_identity is not None:
        user += identity.encode(params.user_identity)
    body += _item(0x50, user)
    return struct.pack(">BBI", 1, 0, len(body)) + bytes(body)


def _raw(text: str) -> bytes:
    """A UID or other string as the bytes it came from (file values keep undecodable bytes as surrogates)."""
    try:
        return text.encode("latin-1", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace")


def _uid_text(raw: bytes) -> str:
    return raw.rstrip(b"\0 ").decode("latin-1")


class PduError(Exception):
    pass


class CommandElementTooLong(PduError):
    """An element of a command set whose value reaches beyond the command's end (DCMTK's 'larger than remaining
    bytes' read error)."""

    def __init__(self, tag: int, length: int, remaining: int):
        super().__init__(f"element ({tag >> 16:04x},{tag & 0xFFFF:04x}) longer than the command")
        self.tag, self.length, self.remaining = tag, length, remaining


class AssociatePduError(PduError):
    """An A-ASSOCIATE-AC that DCMTK's parseAssociate (dulparse.cc) or AE-3 (dulfsm.cc) refuses; ``condition`` is the
    condition DCMTK returns for it."""

    def __init__(self, condition: Condition):
        super().__init__(condition.text)
        self.condition = condition


def _length_error(what: str, size: int, minimum: int = 0, length: int = 0) -> AssociatePduError:
    """dulparse.cc makeLengthError: the text of an item (or PDU) too short for its fields or its length field."""
    text = f"DUL Illegal {what}. Got {size} bytes of data"
    if length:
        text += f" with a length field of {length} (data before length field is not included in length field)"
    if minimum:
        text += f". The minimum allowed size is {minimum}"
    return AssociatePduError(_c(_ILLEGAL_PDU_LENGTH, text + "."))


def _underflow_error(what: str, minuend: int, subtrahend: int) -> AssociatePduError:
    return AssociatePduError(_c(0x30D, f"DUL Illegal {what}. Got {minuend} bytes of data and told to subtract "
                                       f"{subtrahend} bytes of data."))


def _sub_item(body: bytes, pos: int, avail: int) -> tuple[bytes, int]:
    """parseSubItem: (value, bytes used) of a UID-like sub-item (at most 64 bytes)."""
    if avail < 4:
        raise _length_error("subitem", avail, 4)
    length = struct.unpack_from(">H", body, pos + 2)[0]
    if length > 64:
        raise AssociatePduError(_c(_ILLEGAL_PDU_LENGTH, f"DUL illegal subitem length {length}. Maximum allowed size "
                                                        "is 64."))
    if avail - 4 < length:
        raise _length_error("subitem", avail, 0, length)
    return body[pos + 4:pos + 4 + length], 4 + length


def _dummy_item(body: bytes, pos: int, avail: int) -> int:
    """parseDummy: the bytes an item of no interest takes."""
    if avail < 4:
        raise _length_error("dummy item", avail, 4)
    length = struct.unpack_from(">H", body, pos + 2)[0]
    if avail - 4 < length:
        raise _length_error("dummy item", avail, 0, length)
    return 4 + length


def _presentation_context(body: bytes, pos: int, avail: int, item_type: int) -> tuple[int, int, list[bytes], int]:
    """parsePresentationContext: (context ID, result, transfer syntaxes, bytes used)."""
    if avail < 8:
        raise _length_error("presentation context", avail, 8)
    length = struct.unpack_from(">H", body, pos + 2)[0]
    cid, result = body[pos + 4], body[pos + 6]
    if avail - 4 < length or length < 4:
        raise _length_error("presentation context", avail, 4, length)
    syntaxes = []
    rest = length - 4
    sub = pos + 8
    if item_type != 0x21 or result == 0:
        while rest > 0:
            kind = body[sub]
            if kind in (0x30, 0x40):
                value, used = _sub_item(body, sub, rest)
                if kind == 0x40:
                    syntaxes.append(value)
            else:
                used = _dummy_item(body, sub, rest)
            sub += used
            if used > rest:
                raise _underflow_error("Abstract Syntax" if kind == 0x30 else "Transfer Syntax" if kind == 0x40
                                       else "unknown presentation context type", rest, used)
            rest -= used
    return cid, result, syntaxes, 4 + length


_USER_ITEM_NAMES = {0x51: "maximum length sub-item", 0x52: "Implementation Class UID sub-item",
                    0x53: "asynchronous operation user item type", 0x54: "SCP/SCU Role Selection sub-item",
                    0x55: "Implementation Version Name structure", 0x56: "SOP Class Extended Negotiation sub-item",
                    0x58: "User Identity sub-item", 0x59: "User Identity sub-item"}


def _user_info(body: bytes, pos: int, avail: int, params: AssociationParameters) -> int:
    """parseUserInfo (for an A-ASSOCIATE-AC): fills the peer's maximum PDU and implementation identification."""
    if avail < 4:
        raise _length_error("user info", avail, 4)
    user_length = struct.unpack_from(">H", body, pos + 2)[0]
    if avail < user_length + 4:
        raise _length_error("user info", avail, 0, user_length)
    rest = user_length
    sub = pos + 4
    while rest > 0:
        kind = body[sub]
        if kind == 0x51:
            if rest < 8:
                raise _length_error("Max PDU", rest, 8)
            length, value = struct.unpack_from(">HI", body, sub + 2)
            used = 4 + length
            if length != 4:
                NET.warn(f"Invalid length ({length}) for maximum length item, must be 4")
            if rest - 4 < length:
                raise _length_error("Max PDU", rest, 0, length)
            params.their_max_pdu = value
        elif kind in (0x52, 0x55):
            value, used = _sub_item(body, sub, rest)
            if kind == 0x52:
                params.their_impl_uid = _uid_text(value)
            else:
                params.their_impl_version = value.rstrip(b"\0 ").decode("latin-1")
        elif kind == 0x53:
            used = _dummy_item(body, sub, rest)
            if used == 8 and params.async_invoked:
                # the window the acceptor grants for our requests: its maximum number of operations invoked
                # (PS3.7 D.3.3.3.2; 0 means unlimited: at most what we proposed)
                granted = struct.unpack_from(">H", body, sub + 4)[0]
                params.async_granted = min(granted or params.async_invoked, params.async_invoked)
        elif kind == identity.RESPONSE_ITEM and params.user_identity is not None:
            used = _dummy_item(body, sub, rest)
            params.user_identity_response = identity.decode_response(body[sub + 4:sub + used])
        elif kind == 0x54:
            if rest < 8:
                raise _length_error("SCU-SCP role list", rest, 8)
            length, uid_length = struct.unpack_from(">HH", body, sub + 2)
            if rest - 4 < length:
                raise _length_error("SCU-SCP role list", rest, 0, length)
            if length < 4:
                raise _length_error("SCU-SCP role list UID", length, 4)
            if length - 4 < uid_length:
                raise _length_error("SCU-SCP role list UID", length, 0, uid_length)
            used = 4 + length
        elif kind == 0x56:
            if rest < 6:
                raise _length_error("extended negotiation", rest, 6)
            length, uid_length = struct.unpack_from(">HH", body, sub + 2)
            if rest - 4 < length:
                raise _length_error("extended negotiation", rest, 0, length)
            if length < 2:
                raise _length_error("extended negotiation item", rest, 2)
            if length - 2 < uid_length:
                raise _length_error("extended negotiation item", length, 0, uid_length)
            used = 4 + length
        else:
            used = _dummy_item(body, sub, rest)
        sub += used
        if used > rest:
            raise (_length_error(_USER_ITEM_NAMES[kind], rest, 0, used) if kind in _USER_ITEM_NAMES
                   else _underflow_error("unknown user item", rest, used))
        rest -= used
    return user_length + 4


def parse_associate_ac(body: bytes, params: AssociationParameters) -> list[tuple[int, int, str]]:
    """Fill the negotiation result of ``params`` from an A-ASSOCIATE-AC body (after the 6-byte header), with the checks
    of DCMTK 3.6.7 (parseAssociate, then AE-3): raises :class:`AssociatePduError` with DCMTK's condition.  Returns the
    peer's presentation context items in their order as (context ID, result, accepted transfer syntax): DCMTK's list
    of accepted contexts, where an ID may appear twice or may never have been proposed.  Each item updates the
    proposed context of its ID (the last one wins), as ASC_requestAssociation does."""
    size = len(body)
    if size < 68:
        raise AssociatePduError(push(_c(_ILLEGAL_PDU, "DUL Illegal or ill-formed PDU"),
                                     _length_error("associate PDU", size, 68).condition))
    protocol = struct.unpack_from(">H", body, 0)[0]
    if not protocol & 1:
        raise AssociatePduError(push(_c(_ILLEGAL_PDU, "DUL Illegal or ill-formed PDU"),
                                     _c(0x322, f"DUL Unsupported peer protocol {protocol:04x}; expected 0001 in "
                                               "parseAssociate")))
    NET.debug("Parsing an A-ASSOCIATE PDU")
    items = []
    pos = 68
    rest = size - 68
    try:
        while rest > 0:
            kind = body[pos]
            if kind == 0x10:
                _value, used = _sub_item(body, pos, rest)
                what = "Application Context item"
            elif kind in (0x20, 0x21):
                cid, result, syntaxes, used = _presentation_context(body, pos, rest, kind)
                items.append((cid, result, syntaxes))
                what = "Presentation Context item"
            elif kind == 0x50:
                used = _user_info(body, pos, rest, params)
                what = "User Information item"
            else:
                used = _dummy_item(body, pos, rest)
                what = "unknown item type"
            if used > rest:
                raise _underflow_error(what, rest, used)
            pos += used
            rest -= used
    except AssociatePduError as exc:
        raise AssociatePduError(push(_c(_ILLEGAL_PDU, "DUL Illegal or ill-formed PDU"), exc.condition)) from None
    accepted = []
    for cid, result, syntaxes in items:  # AE-3
        if result == 0 and len(syntaxes) != 1:
            raise AssociatePduError(_c(0x318, f"DUL Peer supplied illegal number of transfer syntaxes "
                                              f"({len(syntaxes)})"))
        accepted.append((cid, result, _uid_text(syntaxes[0][:64]) if syntaxes else ""))
    by_id = {cx.id: cx for cx in params.contexts}
    for cid, result, ts in accepted:  # updateRequestedPCListFromAcceptedPCList
        cx = by_id.get(cid)
        if cx is not None:
            cx.result = result
            cx.transfer_syntax = ts if result == 0 else ""
    return accepted


# ---------------------------------------------------------------------------------------------------------------
# DIMSE command sets (Implicit VR Little Endian)


def _elem(tag: int, value: bytes) -> bytes:
    return struct.pack("<HHI", tag >> 16, tag & 0xFFFF, len(value)) + value


def _ui(text: str) -> bytes:
    raw = _raw(text)
    return raw + b"\0" if len(raw) % 2 else raw


_CSTORE_RQ_STRUCTS: dict[tuple[int, int], struct.Struct] = {}


def _cstore_rq_struct(class_len: int, instance_len: int) -> struct.Struct:
    """The C-STORE-RQ command set as one ``struct`` layout for UIDs of these (even) lengths: the template whose only
    variable fields are the group length, the two UIDs, the message ID and the priority."""
    layout = _CSTORE_RQ_STRUCTS.get((class_len, instance_len))
    if layout is None:
        layout = struct.Struct(f"<HHII HHI{class_len}s HHIH HHIH HHIH HHIH HHI{instance_len}s")
        if len(_CSTORE_RQ_STRUCTS) < 256:  # (the usual UIDs have a handful of lengths; odd inputs stay unbounded)
            _CSTORE_RQ_STRUCTS[(class_len, instance_len)] = layout
    return layout


def encode_cstore_rq(message_id: int, sop_class: str, sop_instance: str, priority: int = 0) -> bytes:
    """The C-STORE-RQ command set (Implicit VR Little Endian, with group length, elements as DCMTK writes them; the
    UIDs cut to 64 characters, the size of DCMTK's request fields)."""
    cls, inst = _ui(sop_class[:64]), _ui(sop_instance[:64])
    lc, li = len(cls), len(inst)
    return _cstore_rq_struct(lc, li).pack(
        0, 0x0000, 4, 56 + lc + li,  # (0000,0000) CommandGroupLength: the bytes of the elements below
        0, 0x0002, lc, cls,  # AffectedSOPClassUID
        0, 0x0100, 2, 0x0001,  # CommandField: C-STORE-RQ
        0, 0x0110, 2, message_id,  # MessageID
        0, 0x0700, 2, priority,  # Priority
        0, 0x0800, 2, 0x0001,  # CommandDataSetType: a data set follows (DCMTK's DIMSE_DATASET_PRESENT)
        0, 0x1000, li, inst)  # AffectedSOPInstanceUID


class Command:
    """A parsed incoming DIMSE command set."""

    __slots__ = ("elements",)

    def __init__(self, elements: dict[int, bytes]):
        self.elements = elements

    def us(self, tag: int) -> int | None:
        v = self.elements.get(tag)
        return struct.unpack_from("<H", v)[0] if v is not None and len(v) >= 2 else None

    def text(self, tag: int) -> str | None:
        v = self.elements.get(tag)
        return None if v is None else v.rstrip(b"\0 ").decode("latin-1")


_COMMAND_ELEMENT = struct.Struct("<HHI").unpack_from


def parse_command(data: bytes) -> Command:
    size = len(data)
    layout = _command_layouts.get(size)
    if layout is not None:
        # the element headers of a command of this size seen before: if they are the same bytes, the walk below
        # would find the same elements at the same places
        unpack, headers, tags = layout
        values = unpack(data)
        if values[0::2] == headers:
            return Command(dict(zip(tags, values[1::2])))
    elements: dict[int, bytes] = {}
    header = _COMMAND_ELEMENT
    pos = 0
    shape = []
    while pos + 8 <= size:
        group, elem, length = header(data, pos)
        start = pos + 8
        pos = start + length
        if length == 0xFFFFFFFF:
            raise PduError("bad command element")
        if pos > size:
            raise CommandElementTooLong((group << 16) | elem, length, size - start)
        elements[(group << 16) | elem] = data[start:pos]
        shape.append((data[start - 8:start], (group << 16) | elem, length))
    if pos != size:
        # fewer than the 8 bytes of an element header left: DCMTK's read ends there (what came is the command)
        return Command(elements)
    if len(_command_layouts) >= 16:
        _command_layouts.clear()
    _command_layouts[size] = (struct.Struct("<" + "".join(f"8s{length}s" for _, _, length in shape)).unpack,
                              tuple(h for h, _, _ in shape), [tag for _, tag, _ in shape])
    return Command(elements)


# the responses DCMTK parses with parseCommonRSP (C-STORE, C-GET, C-FIND, C-MOVE, C-ECHO) and the elements it requires
_COMMON_RSP_COMMANDS = frozenset((0x8001, 0x8010, 0x8020, 0x8021, 0x8030))
_COMMON_RSP_ELEMENTS = ((0x00000120, "MessageIDBeingRespondedTo"), (0x00000800, "CommandDataSetType"),
                        (0x00000900, "Status"))
_INVALID_STREAM = Condition(1, 4, "Invalid stream")

# command size -> (unpacker of its element headers and values, the headers, the tags) of commands parsed before:
# the responses of one association mostly differ only in values of the same lengths
_command_layouts: dict[int, tuple] = {}


# Command elements that DIMSE_parseCmdObject consumes for a C-STORE-RSP; anything else is status detail.
_CSTORE_RSP_KNOWN = {0x00000000, 0x00000002, 0x00000100, 0x00000120, 0x00000800, 0x00000900, 0x00001000}
_DETAIL_VR = {0x00000901: ("AT", "OffendingElement"), 0x00000902: ("LO", "ErrorComment"),
              0x00000903: ("US", "ErrorID"), 0x00001000: ("UI", "AffectedSOPInstanceUID")}


def dump_status_detail(cmd: Command) -> str | None:
    """DcmObject::PrintHelper of the status detail left in a response command (or None if there is none)."""
    if cmd.elements.keys() <= _CSTORE_RSP_KNOWN:
        return None
    rest = [(t, v) for t, v in sorted(cmd.elements.items()) if t not in _CSTORE_RSP_KNOWN]
    lines = ["", "# Dicom-Data-Set", "# Used TransferSyntax: Little Endian Implicit"]
    for tag, value in rest:
        vr, name = _DETAIL_VR.get(tag, ("UN", "Unknown Tag & Data"))
        if vr == "US" and len(value) >= 2:
            shown = " ".join(str(x) for x in struct.unpack(f"<{len(value) // 2}H", value[:len(value) // 2 * 2]))
            vm = len(value) // 2
        elif vr == "AT" and len(value) >= 4:
            tags = [struct.unpack_from("<HH", value, i) for i in range(0, len(value) - 3, 4)]
            shown = "\\".join(f"({g:04x},{e:04x})" for g, e in tags)
            vm = len(tags)
        elif vr in ("LO", "UI"):
            text = value.rstrip(b"\0 " if vr == "LO" else b"\0").decode("latin-1")
            shown = f"[{text}]"
            vm = len(text.split("\\")) if text else 0
        else:
            shown = "\\".join(f"{b:02x}" for b in value[:40]) + ("..." if len(value) > 40 else "")
            vm = 1 if value else 0
        if len(shown) > 70:
            shown = shown[:67] + "..."
        pad = " " * max(0, 40 - len(shown))
        lines.append(f"({tag >> 16:04x},{tag & 0xFFFF:04x}) {vr} {shown}{pad} # {len(value):3d},{vm:2d} {name}")
    lines.append("")
    return "\n".join(lines)


def dump_outgoing_store(cid: int, message_id: int, sop_class: str, sop_instance: str) -> str:
    sop_class, sop_instance = sop_class[:64], sop_instance[:64]  # (DCMTK's request fields, see encode_cstore_rq)
    name = uids.uid_name(sop_class)
    return ("===================== OUTGOING DIMSE MESSAGE ====================\n"
            "Message Type                  : C-STORE RQ\n"
            f"Presentation Context ID       : {cid}\n"
            f"Message ID                    : {message_id}\n"
            f"Affected SOP Class UID        : {name or sop_class}\n"
            f"Affected SOP Instance UID     : {sop_instance}\n"
            "Data Set                      : present\n"
            "Priority                      : medium\n"
            "======================= END DIMSE MESSAGE =======================")


def dump_incoming_store_rsp(cid: int, cmd: Command) -> str:
    sop_class = cmd.text(0x00000002)
    sop_instance = cmd.text(0x00001000)
    dataset_type = cmd.us(0x00000800)
    shown_class = "none" if sop_class is None else (uids.uid_name(sop_class) or sop_class)
    return ("===================== INCOMING DIMSE MESSAGE ====================\n"
            "Message Type                  : C-STORE RSP\n"
            f"Presentation Context ID       : {cid}\n"
            f"Message ID Being Responded To : {cmd.us(0x00000120) or 0}\n"
            f"Affected SOP Class UID        : {shown_class}\n"
            f"Affected SOP Instance UID     : {'none' if sop_instance is None else sop_instance}\n"
            f"Data Set                      : {'none' if dataset_type == 0x0101 else 'present'}\n"
            f"DIMSE Status                  : {cstore_status_dump(cmd.us(0x00000900) or 0)}\n"
            "======================= END DIMSE MESSAGE =======================")


def dump_incoming_other(cid: int, cmd: Command) -> str:
    """DIMSE_dumpMessage for a response that is not a C-STORE-RSP (C-ECHO-RSP layout; others by name only)."""
    field = cmd.us(0x00000100) or 0
    name = _COMMAND_NAMES.get(field)
    lines = ["===================== INCOMING DIMSE MESSAGE ===================="]
    if name is None:
        lines.append(f"Message Type                  : UNKNOWN (0x{field:04x})")
        return "\n".join(lines + ["======================= END DIMSE MESSAGE ======================="])
    lines.append(f"Message Type                  : {name}")
    lines.append(f"Presentation Context ID       : {cid}")
    if field & 0x8000:
        lines.append(f"Message ID Being Responded To : {cmd.us(0x00000120) or 0}")
    else:
        lines.append(f"Message ID                    : {cmd.us(0x00000110) or 0}")
    sop_class = cmd.text(0x00000002)
    lines.append("Affected SOP Class UID        : "
                 + ("none" if sop_class is None else (uids.uid_name(sop_class) or sop_class)))
    lines.append(f"Data Set                      : {'none' if cmd.us(0x00000800) == 0x0101 else 'present'}")
    if field & 0x8000:
        status = cmd.us(0x00000900) or 0
        lines.append(f"DIMSE Status                  : 0x{status:04x}: {_status_class(status)}")
    lines.append("======================= END DIMSE MESSAGE =======================")
    return "\n".join(lines)


_COMMAND_NAMES = {0x0001: "C-STORE RQ", 0x8001: "C-STORE RSP", 0x0010: "C-GET RQ", 0x8010: "C-GET RSP",
                  0x0020: "C-FIND RQ", 0x8020: "C-FIND RSP", 0x0021: "C-MOVE RQ", 0x8021: "C-MOVE RSP",
                  0x0030: "C-ECHO RQ", 0x8030: "C-ECHO RSP", 0x0FFF: "C-CANCEL RQ"}


# ---------------------------------------------------------------------------------------------------------------
# The association


# Signals and the send bookkeeping: while a non-blocking send and the record of what it sent run, a signal handler
# that would raise (cli's SIGINT/SIGTERM handler) asks hold_signal_for_send() first and, if so, only records the
# signal; it is raised again right after.
_send_in_progress = False
_held_signal = 0


def hold_signal_for_send(signum: int) -> bool:
    """For a signal handler: True if a send is being recorded right now; the signal is then re-raised after it."""
    global _held_signal
    if _send_in_progress:
        _held_signal = _held_signal or signum
        return True
    return False


def _deliver_held_signal() -> None:
    global _held_signal
    if _held_signal:
        signum, _held_signal = _held_signal, 0
        import _signal as signal  # (the C module: signal.py imports enum)

        signal.raise_signal(signum)


_QUICKACK = getattr(socket, "TCP_QUICKACK", None)
_PDV_HEADER = struct.Struct(">BBIIBB")  # P-DATA-TF PDU header and the header of its one PDV
_PDU_LENGTH = struct.Struct(">I").unpack_from


def _spin_seconds() -> float:
    """How long a read polls before it sleeps: 0.2 ms where another CPU can run the peer meanwhile, else 0."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        cpus = os.cpu_count() or 1
    return 0.0002 if cpus > 1 else 0.0


_SPIN_SECONDS = _spin_seconds()
_BATCH_BYTES = 1 << 18  # up to this much of P-DATA PDUs per write
_MAX_SLOTS = 512  # ... in at most this many PDUs (one preadv buffer each: IOV_MAX is 1024 on Linux)


def _read_views(stream, views) -> int:
    """Fill ``views`` from ``stream.readinto`` in order; the bytes read (fewer only at the end of the stream)."""
    got = 0
    for view in views:
        want = len(view)
        done = 0
        while done < want:
            n = stream.readinto(view[done:] if done else view)
            if not n:
                return got + done
            done += n
        got += done
    return got


def _linger_zero(sock: Any) -> None:
    """SO_LINGER on, 0 s: closing the connection resets it (what DCMTK's close does with unread data)."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))


class _Closed(Exception):
    """The transport connection ended (EOF, reset, socket timeout): DCMTK's DUL_NETWORKCLOSED."""


class _Timeout(Exception):
    """No data within the given time: DCMTK's DUL_READTIMEOUT."""


def _errno_text(err: int) -> str:
    return os.strerror(err) if err else "Success"


_scan_int = transport._scan_int  # (the port and environment value scans moved to the transport layer)
_parse_int_env = transport._parse_int_env


def _pdu_start(offset: int, first: int, slot: int) -> int:
    """Where the PDU holding byte ``offset`` starts, in PDUs laid out as in :meth:`Association._send_all`."""
    if offset < first or not slot:
        return 0 if offset < first or not first else first
    return first + (offset - first) // slot * slot


def _pdu_end(offset: int, first: int, slot: int, total: int) -> int:
    """Where the PDU holding byte ``offset`` ends (``total`` at most)."""
    if offset < first:
        return first
    if not slot:
        return total
    return min(total, first + ((offset - first) // slot + 1) * slot)


class Association:
    """One network association (DcmSCU's m_net + m_params + m_assoc)."""

    def __init__(self, options, contexts):
        self.options = options
        self.params = AssociationParameters(
            calling_ae=options.calling_aetitle, called_ae=options.called_aetitle, max_pdu=options.max_pdu,
            contexts=[ContextResult(cx.id, cx.abstract_syntax, list(cx.transfer_syntaxes)) for cx in contexts])
        self.params.user_identity = identity.from_options(options)
        self.sock: transport.Transport | None = None
        self.params.async_invoked = min(max(getattr(options, "async_ops", 0) or 0, 0), 0xFFFF)
        self.state = 0  # 0: no DUL association (never connected); otherwise a STA_* value
        self.next_message_id = 1
        self.send_pdv_length = 0  # DCMTK's sendPDVLength (for the log line)
        self.fragment_max = 0  # what we really put into one PDV
        self._buffer = bytearray()  # P-DATA PDUs being sent: slots of PDU header + PDV header + fragment
        self._slots: list[memoryview] = []  # the fragment part of each slot
        self._slots_frag = 0  # the fragment size the slots are laid out for
        self._slots_cid = -1  # the presentation context ID in the slots' prepared headers
        self._rx = bytearray()
        self._pending_pdvs: list[tuple[int, int, bytes]] = []
        self._unsent = b""  # the rest of a PDU whose writing an interrupt cut short
        self._write_timed_out = False  # a write waited the socket timeout in vain: the peer stopped reading
        self._cut_pdu = False  # ... and left a PDU incomplete on the wire
        self._protocol_error = False  # the peer sent something malformed or unexpected (see abort)
        self._reset_on_close = False  # close the connection with a reset (after AA-8, as DCMTK's close does)
        self._io_timeout: float = SOCKET_TIMEOUT
        self._accepted: dict[int, ContextResult | None] | None = None  # accepted context by ID, once negotiated
        self._poll: Any = None  # select.poll on the socket (for reading), made for the socket in _poll_for
        self._poll_for: transport.Transport | None = None
        self._spin = _SPIN_SECONDS > 0  # poll a moment before sleeping (see _fill)
        self._tls = False  # the transport is TLS: it may hold received bytes the socket no longer shows (pending)
        # called once when a write has to wait for the peer to drain the socket buffer (a large data set): the
        # sender reads the next file ahead then, instead of idling (see send._Ahead)
        self.while_sending: Callable[[], None] | None = None

    # -- state ---------------------------------------------------------------------------------------------
    @property
    def connected(self) -> bool:
        """DcmSCU::isConnected: a DUL association exists (even after the peer aborted it)."""
        return self.state != 0

    def accepted_context(self, context_id: int) -> ContextResult | None:
        by_id = self._accepted
        if by_id is None:  # (built on first use after the negotiation; the results do not change after it)
            by_id = {}
            for cx in self.params.contexts:
                if cx.id not in by_id:
                    by_id[cx.id] = cx if cx.accepted else None
            if self.state == STA_OPEN:
                self._accepted = by_id
        return by_id.get(context_id)

    def negotiated_context(self, context_id: int) -> tuple[str, str] | None:
        """DcmSCU::findPresentationContext: (abstract syntax, transfer syntax) of the peer's first item with this ID
        if that item accepts it (the abstract syntax is empty for an ID that was never proposed), else None."""
        for cid, result, ts in self._ac_items:
            if cid == context_id:
                if result != 0:
                    return None
                for cx in self.params.contexts:
                    if cx.id == cid:
                        return cx.abstract_syntax, ts
                return "", ts
        return None

    @property
    def regular_answer(self) -> bool:
        """The peer answered each context it accepted once, and only contexts that were proposed."""
        ids = [cid for cid, _result, _ts in self._ac_items]
        proposed = {cx.id for cx in self.params.contexts}
        return len(ids) == len(set(ids)) and set(ids) <= proposed

    # -- socket helpers ------------------------------------------------------------------------------------
    def _close_transport(self) -> None:
        if self.sock is not None:
            try:
                if self._reset_on_close:
                    _linger_zero(self.sock)
                self.sock.close()
            except OSError:
                pass
            self.sock = None

    def _wait_readable(self, timeout: float | None) -> bool:
        if self._rx or (self._tls and self.sock is not None and self.sock.pending()):
            return True
        if self.sock is None:
            return True
        if timeout is None:
            return True
        if self._write_timed_out:
            timeout = 0  # (see _fill)
        try:
            r, _, _ = select.select([self.sock], [], [], max(0.0, timeout))
        except (OSError, ValueError):
            return True
        return bool(r)

    def _fill(self, n: int, deadline: float | None) -> None:
        """Receive until ``_rx`` holds ``n`` bytes.  Each read waits at most the socket timeout (DCMTK's SO_RCVTIMEO:
        then the connection counts as closed) and, with a ``deadline``, not beyond it (_Timeout)."""
        while len(self._rx) < n:
            sock = self.sock
            if sock is None:
                raise _Closed()
            # (once a write has timed out the peer is not reading: its answer is not waited for again, what the
            # socket timeout would end in comes at once)
            wait = 0 if self._write_timed_out else self._io_timeout
            if deadline is not None:
                wait = min(wait, deadline - time.monotonic())
            try:
                poll = self._poll if self._poll_for is sock else self._poller(sock)
                ready = (self._tls and sock.pending()) or poll.poll(0)
                if not ready and self._spin and wait > 0:
                    # a quick peer (its answer due in microseconds): poll a moment before sleeping, since waking a
                    # sleeping process costs more than that on a virtual machine
                    start = time.perf_counter()
                    end = start + _SPIN_SECONDS
                    while not ready and time.perf_counter() < end:
                        ready = poll.poll(0)
                    if not ready:
                        self._spin = False  # a slower peer: sleep at once, until it answers quickly again
                if not ready:
                    start = time.perf_counter()
                    ready = wait > 0 and poll.poll(-int(-wait * 1000 // 1))
                    if ready and _SPIN_SECONDS and time.perf_counter() - start < _SPIN_SECONDS:
                        self._spin = True
            except (OSError, ValueError):
                ready = True
            if not ready:
                if deadline is not None and deadline - time.monotonic() <= self._io_timeout:
                    raise _Timeout()
                raise _Closed()
            try:
                chunk = sock.recv(min(max(65536, n - len(self._rx)), 1 << 22), socket.MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError as exc:
                raise _Closed() from exc
            if not chunk:
                raise _Closed()
            if _QUICKACK is not None:
                # acknowledge at once: a peer with Nagle on (DCMTK's default) otherwise waits for our delayed ACK
                # (~40 ms) before the rest of its response goes out
                try:
                    sock.setsockopt(socket.IPPROTO_TCP, _QUICKACK, 1)
                except OSError as exc:
                    raise _Closed() from exc
            self._rx += chunk

    def _read_pdu(self, timeout: float | None) -> tuple[int, bytes, bytes]:
        """(type, PDU header, body).  Raises _Closed (in the header: the peer closed the connection, DCMTK's
        TRANS_CONN_CLOSED event), _Timeout, or _ConditionRaised (a bad header, or the connection ended inside the
        body: "DUL network closed", which DCMTK returns as it is, the association staying in its state; the header
        is consumed then, the part of the body that came is not)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        rx = self._rx
        if len(rx) < 6:
            self._fill(6, deadline)
        pdu_type = rx[0]
        length = _PDU_LENGTH(rx, 2)[0]
        if pdu_type not in (1, 2, 3, 4, 5, 6, 7):
            del rx[:6]
            raise _ConditionRaised(_c(_UNRECOGNIZED_PDU_TYPE, f"Unrecognized PDU type: {pdu_type:2x}"))
        if pdu_type == 4 and length > self.params.max_pdu:
            del rx[:6]
            raise _ConditionRaised(_c(_ILLEGAL_PDU_LENGTH,
                                      f"DUL Illegal PDU Length {length}.  Max expected {self.params.max_pdu}"))
        if length > ASSOCIATE_PDU_SIZE_LIMIT:
            del rx[:6]
            NET.error(f"A-ASSOCIATE PDU too large: {length} bytes, refusing.")
            raise _ConditionRaised(NET_EC_ASSOCIATE_PDU_TOO_LARGE)
        end = 6 + length
        if len(rx) < end:
            try:
                self._fill(end, deadline)
            except _Closed:
                del rx[:6]
                raise _ConditionRaised(DUL_NETWORKCLOSED) from None
        head = bytes(rx[:6])
        body = bytes(rx[6:end])
        del rx[:end]
        return pdu_type, head, body

    def _send_all(self, parts: list, routine: str, first: int = 0, slot: int = 0) -> Condition | None:
        """Write one PDU, or several PDUs back to back (given in pieces): each PDU waiting at most the socket timeout in
        all (DCMTK's one write() per PDU under SO_SNDTIMEO; when it expires DCMTK reports errno, "Resource temporarily
        unavailable" when nothing could be written -- and a stale errno after a partial write, for which we say the
        same).  Several PDUs: the first is ``first`` bytes long (0: none of its own), the others ``slot`` bytes each
        (the last may be shorter).

        Signals stay exact: the waiting (select) may be interrupted, the non-blocking send and the bookkeeping of
        what was sent run with signals held (see :func:`hold_signal_for_send`).  If an interrupt ends the writing
        part-way through a PDU, the unsent rest of that PDU is kept in ``_unsent``, so that :meth:`abort_now`
        completes it before its A-ABORT (the peer would otherwise read the A-ABORT as part of the cut PDU); the PDUs
        after it are dropped."""
        global _send_in_progress
        sock = self.sock
        if sock is None:  # (the transport is gone: what a write on a closed descriptor gives)
            return _c(_TCP_IO_ERROR, f"TCP I/O Error ({_errno_text(errno.EBADF)}) occurred in routine: {routine}")
        if self._cut_pdu:
            # a write timed out in the middle of a PDU: the peer stopped reading, and what would follow the cut PDU
            # is garbage to it; DCMTK's write goes into the socket buffer and is never read -- it is dropped here
            return None
        total = 0
        for p in parts:  # (bytes, bytearray or byte memoryviews)
            total += len(p)
        # first one non-blocking write of everything: the socket buffer usually takes it
        _send_in_progress = True
        try:
            sent = sock.sendmsg(parts, (), socket.MSG_DONTWAIT) if len(parts) > 1 else sock.send(parts[0],
                                                                                                  socket.MSG_DONTWAIT)
        except (BlockingIOError, InterruptedError):
            sent = 0
        except OSError as exc:
            _send_in_progress = False
            _deliver_held_signal()
            return _c(_TCP_IO_ERROR, f"TCP I/O Error ({_errno_text(exc.errno or errno.EAGAIN)}) occurred in routine: "
                                     f"{routine}")
        if sent == total:
            _send_in_progress = False
            _deliver_held_signal()
            return None
        views = [memoryview(p).cast("B") for p in parts]
        n = sent
        while views and n >= len(views[0]):
            n -= len(views[0])
            views.pop(0)
        if n:
            views[0] = views[0][n:]
        pdu_end = _pdu_end(sent, first, slot, total)
        _send_in_progress = False
        try:
            _deliver_held_signal()
        except BaseException:
            if sent != _pdu_start(sent, first, slot):
                self._unsent = b"".join(bytes(v) for v in views)[:pdu_end - sent]
            raise
        deadline = time.monotonic() + self._io_timeout
        try:
            while views:
                if sent >= pdu_end:
                    pdu_end = _pdu_end(sent, first, slot, total)  # the next PDU's write: its own timeout
                    deadline = time.monotonic() + self._io_timeout
                idle = self.while_sending
                if idle is not None:
                    self.while_sending = None
                    started = time.monotonic()
                    idle()
                    deadline += time.monotonic() - started  # (our own work is not the peer's waiting)
                remaining = deadline - time.monotonic()
                if remaining <= 0 or not select.select([], [sock], [], remaining)[1]:
                    # the peer has stopped reading: nothing may wait for it again (see abort), and a PDU cut here
                    # must not be followed by another one
                    self._write_timed_out = True
                    self._cut_pdu = self._cut_pdu or sent != _pdu_start(sent, first, slot)
                    raise BlockingIOError(errno.EAGAIN, "timeout")
                _send_in_progress = True
                try:
                    try:
                        n = (sock.sendmsg(views, (), socket.MSG_DONTWAIT) if len(views) > 1
                             else sock.send(views[0], socket.MSG_DONTWAIT))
                    except (BlockingIOError, InterruptedError):
                        n = 0
                    sent += n
                    while views and n >= len(views[0]):
                        n -= len(views[0])
                        views.pop(0)
                    if views and n:
                        views[0] = views[0][n:]
                finally:
                    _send_in_progress = False
                    _deliver_held_signal()
        except OSError as exc:
            err = exc.errno or errno.EAGAIN
            return _c(_TCP_IO_ERROR, f"TCP I/O Error ({_errno_text(err)}) occurred in routine: {routine}")
        except BaseException:
            if views and sent != _pdu_start(sent, first, slot):
                self._unsent = b"".join(bytes(v) for v in views)[:pdu_end - sent]
            raise
        return None

    # -- association request -------------------------------------------------------------------------------
    def request(self) -> Condition | None:
        """ASC_requestAssociation as DcmSCU::negotiateAssociation uses it (logging included)."""
        opts = self.options
        if NET.enabled(INFO if opts.verbose_pc else DEBUG):  # (the dump is made only when it is shown)
            text = "Request Parameters:\n" + dump_parameters(self.params, "RQ")
            if opts.verbose_pc:
                NET.info(text)
            else:
                NET.debug(text)
        NET.info("Requesting Association")
        cond = self._request()
        if cond is not None:
            if cond == DUL_ASSOCIATIONREJECTED:
                NET.debug("Association Rejected:\n" + self._reject_text)
            else:
                NET.debug(f"Association Request Failed: {cond}")
            return cond
        if NET.enabled(INFO if opts.verbose_pc else DEBUG):
            text = "Association Parameters Negotiated:\n" + dump_parameters(self.params, "AC")
            if opts.verbose_pc:
                NET.info(text)
            else:
                NET.debug(text)
        if identity.missing_positive_response(self.params.user_identity, self.params.user_identity_response):
            NET.error("User Identity Negotiation failed: Positive response requested but none received")
            self.abort_now()
            return ASC_USER_IDENTIFICATION_FAILED
        if not any(result == 0 for _cid, result, _ts in self._ac_items):
            # (ASC_countAcceptedPresentationContexts counts the peer's items: an accepted ID never proposed counts)
            NET.error("No Acceptable Presentation Contexts")
            return NET_EC_NO_ACCEPTABLE_PRESENTATION_CONTEXTS
        NET.info(f"Association Accepted (Max Send PDV: {self.send_pdv_length})")
        return None

    _reject_text = ""
    _ac_items: list = []  # the peer's presentation context items (see parse_associate_ac)

    def _connect(self) -> Condition | None:
        timeout = socket_timeout()
        sock, cond = transport.connect(self.options, timeout)
        if sock is None:
            return cond
        self.sock = sock
        self._tls = sock.tls
        self.state = STA_OPEN  # provisional; a DUL association exists from here on
        self._io_timeout = timeout
        return None

    def _request(self) -> Condition | None:
        cond = self._connect()
        if cond is not None:
            self.state = 0
            return cond
        for title, name in ((self.params.calling_ae, "Calling"), (self.params.called_ae, "Called")):
            if not title:
                text = f"Illegal service parameter: {name} AP Title"
                NET.error(text)
                self._close_transport()
                self.state = 0
                return _c(_ILLEGAL_SERVICE_PARAMETER, text)
        NET.debug("Constructing Associate RQ PDU")
        err = self._send_all([encode_associate_rq(self.params)], "sendAssociationRQTCP")
        if err is not None:
            self._close_transport()
            self.state = 0
            return err
        try:
            pdu_type, head, body = self._read_pdu(self.options.acse_timeout if self.options.acse_timeout else None)
        except _Closed:
            self._close_transport()
            self.state = 0
            return DUL_PEERABORTEDASSOCIATION
        except _Timeout:
            self._close_transport()
            self.state = 0
            return DUL_READTIMEOUT
        except _ConditionRaised as exc:
            self._close_transport()
            self.state = 0
            return exc.condition
        if pdu_type == 2:
            if NET.enabled(DEBUG):
                NET.debug(dump_pdu("Associate Accept", head + body))
            try:
                self._ac_items = parse_associate_ac(body, self.params)
            except AssociatePduError as exc:
                self._close_transport()
                self.state = 0
                return exc.condition
            self.state = STA_OPEN
            self._compute_lengths()
            return None
        if pdu_type == 3:
            self._close_transport()
            self.state = 0
            self._reject_text = self._reject_parameters(body)
            return DUL_ASSOCIATIONREJECTED
        if pdu_type == 7:
            self._close_transport()
            self.state = 0
            return DUL_PEERABORTEDASSOCIATION
        # any other PDU (A-ASSOCIATE-RQ, P-DATA-TF, A-RELEASE-RQ/RP): AA-8, an A-ABORT is sent and the state is Sta13;
        # DCMTK 3.6.7 then reports the request as successful, with no presentation context answered (so: "No
        # Acceptable Presentation Contexts"), and its release and abort find no action in state 13
        self._reset_on_close = True
        self._send_abort(source=2, reason=2)
        self._close_transport()  # (nothing is read or written in Sta13: the reset goes out at once)
        self.state = STA_ABORTING
        self._ac_items = []
        return None

    @staticmethod
    def _reject_parameters(body: bytes) -> str:
        result, source, reason = (body[1], body[2], body[3]) if len(body) >= 4 else (1, 1, 1)
        lines = []
        if result not in (1, 2):
            NET.error(f"Received invalid A-ASSOCIATE-RJ reject result 0x{result:04x}, using default.")
            result = 1
        code = reason | ((source & 0xFF) << 8)  # (from the source as received, as DCMTK builds it)
        if source not in (1, 2, 3):
            NET.error(f"Received invalid A-ASSOCIATE-RJ reject source 0x{source:04x}, using default.")
            source = 1
        reasons = {0x0101: "No Reason", 0x0102: "App Context Name Not Supported",
                   0x0103: "Calling AE Title Not Recognized", 0x0107: "Called AE Title Not Recognized",
                   0x0201: "No Reason", 0x0202: "Protocol Version Not Supported",
                   0x0301: "Temporary Congestion", 0x0302: "Local Limit Exceeded"}
        if code not in reasons:
            NET.error(f"Received invalid A-ASSOCIATE-RJ reject reason 0x{code:04x}, using default.")
            code = 0x0101
        lines.append("Result: " + ("Rejected Permanent" if result == 1 else "Rejected Transient") + ", Source: "
                     + {1: "Service User", 2: "Service Provider (ACSE Related)",
                        3: "Service Provider (Presentation Related)"}[source])
        lines.append("Reason: " + reasons[code])
        return "\n".join(lines)

    def _compute_lengths(self) -> None:
        peer = self.params.their_max_pdu
        send_len = ASC_MAXIMUMPDUSIZE if peer < 1 or peer > ASC_MAXIMUMPDUSIZE else peer
        if send_len % 2:
            NET.warn(f"ASSOC: PDV send length {send_len} is odd (using {send_len - 1})")
            send_len -= 1
        send_len -= 12
        if send_len < 1:
            NET.warn(f"ASSOC: PDV send length {send_len} (using default)")
            send_len = ASC_MINIMUMPDUSIZE - 12
        if send_len < 12:
            NET.warn("ASSOC: PDV send length too small, using DUL to split larger PDVs.")
            send_len = ASC_MINIMUMPDUSIZE - 12
        self.send_pdv_length = send_len
        # What we really send per PDV: DCMTK's sendPDVLength (its PDUs are 12 bytes below the peer's limit), never
        # more than the peer's limit allows (PDU variable field = 6 + fragment), and --max-send-pdu.
        limit = UNLIMITED_PDU_CAP if peer == 0 else max(peer, 18)
        fragment = min(send_len, limit - 6)
        max_send = getattr(self.options, "max_send_pdu", None)
        if max_send:
            fragment = min(fragment, max_send - 12)
        fragment &= ~1
        self.fragment_max = max(fragment, 2)

    # -- data transfer -------------------------------------------------------------------------------------
    def _p_data_allowed(self) -> Condition | None:
        if self.state in (STA_OPEN, STA_PEER_RELEASE):
            peer = self.params.their_max_pdu
            if 0 < peer < 14:
                # (DCMTK's sendPDataTCP refuses any P-DATA PDU to such a peer)
                text = f"DUL Cannot send P-DATA PDU because receiver's max PDU size of {peer} is illegal (must be > 12)"
                return push(DIMSE_SENDFAILED, _c(_ILLEGAL_PDU_LENGTH, text))
            return None
        return push(DIMSE_SENDFAILED, fsm_error(self.state, EV_P_DATA_REQ))

    def prepare_store(self, context_id: int, message_id: int, sop_class: str, sop_instance: str, stream,
                      size: int) -> tuple[bytes, list] | None:
        """The PDUs of a C-STORE-RQ whose data set is in memory and fits one PDU, as (command PDU, the data PDU in
        pieces), ready for :meth:`send_prepared`; None for any other data set (:meth:`send_store` streams it)."""
        if not 0 < size <= self.fragment_max or self._split_length():
            return None
        in_memory = getattr(stream, "in_memory", None)
        data = in_memory() if in_memory is not None else None
        if data is None or len(data) != size:
            return None
        command = encode_cstore_rq(message_id, sop_class, sop_instance)
        head = _PDV_HEADER.pack(4, 0, len(command) + 6, len(command) + 2, context_id, 0x03) + command
        pad = size & 1  # (only a deflated stream can be odd: padded like DCMTK)
        rest = [_PDV_HEADER.pack(4, 0, size + pad + 6, size + pad + 2, context_id, 0x02), data]
        if pad:
            rest.append(b"\0")
        return head, rest

    def send_prepared(self, prepared: tuple[bytes, list]) -> Condition | None:
        """Send what :meth:`prepare_store` made (the checks of :meth:`send_store` on the context and the data set
        were made before): in one write when nothing has come from the peer, else the command PDU alone first."""
        cond = self._p_data_allowed()
        if cond is not None:
            return cond
        head, rest = prepared
        if self.state == STA_PEER_RELEASE and not self._peer_quiet():
            # the peer asked for release and has sent more: what it sent decides (an A-ABORT from us, see
            # _send_store_simple), and it must not complete a data set that the report will not show as sent
            err = self._send_all([head], "writeDataPDU")
            return None if err is None else self._send_failed(err)
        if self._peer_quiet():
            err = self._send_all([head, *rest], "writeDataPDU", len(head))
        else:
            err = self._send_all([head], "writeDataPDU")
            if err is None:
                err = self._send_all(rest, "writeDataPDU")
        return None if err is None else self._send_failed(err)

    def _peer_quiet(self) -> bool:
        """Nothing has come from the peer that we have not read: no data, no end of the connection, no error."""
        sock = self.sock
        if self._rx or sock is None or (self._tls and sock.pending()):
            return False
        try:
            return not (self._poll if self._poll_for is sock else self._poller(sock)).poll(0)
        except (OSError, ValueError):
            return False

    def _poller(self, sock: transport.Transport) -> Any:
        self._poll = select.poll()
        self._poll.register(sock, select.POLLIN)
        self._poll_for = sock
        return self._poll

    def _prepare_slots(self, frag: int, context_id: int) -> None:
        """Lay the send buffer out for fragments of ``frag`` bytes: up to _BATCH_BYTES of PDU slots, each its 12
        header bytes (P-DATA-TF header, PDV length, context ID, message control header) and its fragment, the
        headers of a full, non-last data set fragment for ``context_id`` written in advance."""
        slot = frag + 12
        if self._slots_frag != frag:
            count = max(1, min(_BATCH_BYTES // slot, _MAX_SLOTS))
            self._buffer = bytearray(slot * count)
            view = memoryview(self._buffer)
            self._slots = [view[i * slot + 12:(i + 1) * slot] for i in range(count)]
            self._slots_frag = frag
            self._slots_cid = -1
        if self._slots_cid != context_id:
            for i in range(len(self._slots)):
                _PDV_HEADER.pack_into(self._buffer, i * slot, 4, 0, frag + 6, frag + 2, context_id, 0)
            self._slots_cid = context_id

    def send_store(self, context_id: int, message_id: int, sop_class: str, sop_instance: str,
                   stream, size: int) -> Condition | None:
        """Send a C-STORE-RQ command and the data set read from ``stream`` (``size`` bytes).

        The PDUs are the ones DCMTK sends (the command in one PDV, then one PDV of at most ``fragment_max`` bytes per
        PDU); they are written in batches: the command PDU together with the first data PDUs (alone when the peer
        is not quiet, see :meth:`_peer_quiet`), then up to _BATCH_BYTES of PDUs per write, read from the stream
        straight into their slots (``readv`` where the stream has it: one ``preadv`` per batch).  A data set in
        memory that fits one PDU goes the way of :meth:`prepare_store` / :meth:`send_prepared`."""
        cx = self.accepted_context(context_id)
        if cx is None:
            return ASC_BADPRESENTATIONCONTEXTID
        if cx.transfer_syntax not in DIMSE_SUPPORTED_TS:
            sub = _c(_UNSUPPORTED_TS, f"DIMSE Unsupported transfer syntax: {cx.transfer_syntax}")
            return push(DIMSE_RECEIVEFAILED, sub)
        if size == 0:
            NET.warn(f"DIMSE Warning: ({self.params.calling_ae},{self.params.called_ae}): "
                     "sendMessage: dataset is empty")
            return DIMSE_SENDFAILED
        cond = self._p_data_allowed()
        if cond is not None:
            return cond
        split = self._split_length(len(encode_cstore_rq(message_id, sop_class, sop_instance)))
        if split or (self.state == STA_PEER_RELEASE and not self._peer_quiet()):
            return self._send_store_simple(split, context_id, message_id, sop_class, sop_instance, stream, size)
        prepared = self.prepare_store(context_id, message_id, sop_class, sop_instance, stream, size)
        if prepared is not None:
            return self.send_prepared(prepared)
        command = encode_cstore_rq(message_id, sop_class, sop_instance)
        head: bytes | None = _PDV_HEADER.pack(4, 0, len(command) + 6, len(command) + 2, context_id, 0x03) + command
        max_send = getattr(self.options, "max_send_pdu", None)
        if max_send and max_send & 1 and max_send - 12 < self.send_pdv_length and size > max_send - 12:
            # DCMTK cuts the data set into blocks of --max-send-pdu minus 12 bytes and refuses the first one when
            # that is odd, after the command went out
            err = self._send_all([head], "writeDataPDU")
            return DIMSE_ODD_BLOCK_LENGTH if err is None else self._send_failed(err)
        if not self._peer_quiet():
            # DCMTK writes the command PDU on its own: when the peer has closed the connection (or sent something),
            # that first write still succeeds and the next one fails (EPIPE), and what the user sees depends on it.
            # Otherwise the command goes out with the first data PDUs in one write: the same bytes, one system call.
            err = self._send_all([head], "writeDataPDU")
            if err is not None:
                return self._send_failed(err)
            head = None
        frag = self.fragment_max
        self._prepare_slots(frag, context_id)
        slots, buf = self._slots, self._buffer
        slot = frag + 12
        count = len(slots)
        readv = getattr(stream, "readv", None)
        remaining = size
        while True:
            k = min(count, -(-remaining // frag))  # the PDUs of this batch
            last = min(frag, remaining - (k - 1) * frag)  # the bytes of its last fragment
            views = slots[:k] if last == frag else slots[:k - 1] + [slots[k - 1][:last]]
            want = (k - 1) * frag + last
            got = 0
            err = None
            try:
                got = readv(views) if readv is not None else _read_views(stream, views)
            except ConditionError:
                got = 0  # the source failed (the file changed since it was loaded): as if it ended here
            finally:
                if got < want and (got >= frag or head is not None) and self.state in (STA_OPEN, STA_PEER_RELEASE):
                    # the source ended early (or failed): the command and the complete PDUs read go out first, as
                    # they would one by one; then nothing sensible can follow on this association
                    ready = memoryview(buf)[:got // frag * slot]
                    err = self._send_all([ready] if head is None else [head, ready], "writeDataPDU",
                                         0 if head is None else len(head), slot)
            if err is not None:
                return self._send_failed(err)
            if got < want:
                NET.warn(f"DIMSE Warning: ({self.params.calling_ae},{self.params.called_ae}): "
                         "writeBlock Failed (I/O suspension or premature end of stream)")
                return DIMSE_SENDFAILED
            remaining -= want
            length = k * slot
            if remaining == 0:
                pad = last & 1  # only possible at the very end of a deflated stream: padded like DCMTK
                if pad:
                    buf[(k - 1) * slot + 12 + last] = 0
                _PDV_HEADER.pack_into(buf, (k - 1) * slot, 4, 0, last + pad + 6, last + pad + 2, context_id, 0x02)
                length = (k - 1) * slot + 12 + last + pad
            if self.state not in (STA_OPEN, STA_PEER_RELEASE):
                err = push(DIMSE_SENDFAILED, fsm_error(self.state, EV_P_DATA_REQ))
            else:
                data = memoryview(buf)[:length]
                withheld = remaining == 0 and self.state == STA_PEER_RELEASE
                if withheld:  # (see _send_store_simple: the last PDU on its own, unless the peer has spoken)
                    data = data[:(k - 1) * slot]
                err = self._send_all([data] if head is None else [head, data], "writeDataPDU",
                                     0 if head is None else len(head), slot)
                if err is None and withheld and self._peer_quiet():
                    err = self._send_all([memoryview(buf)[(k - 1) * slot:length]], "writeDataPDU")
                if err is not None:
                    err = self._send_failed(err)
                head = None
            if remaining == 0:  # the last slot gets its full-fragment header back
                _PDV_HEADER.pack_into(buf, (k - 1) * slot, 4, 0, frag + 6, frag + 2, context_id, 0)
            if err is not None or remaining == 0:
                return err

    def _split_length(self, command_length: int = 0) -> int:
        """DCMTK's DUL splits a PDV longer than the peer's maximum PDU length minus 12 into PDUs of that many bytes of
        data (sendPDataTCP): for a peer maximum below ~200 the command, below 24 every data set fragment.  The split
        length when that happens (for a command of ``command_length`` bytes; 0: for any command), else 0."""
        peer = self.params.their_max_pdu
        if peer <= 0:
            return 0
        limit = peer - 12
        if limit < self.send_pdv_length or limit < (command_length or 256):
            return limit
        return 0

    def _send_store_simple(self, limit: int, context_id: int, message_id: int, sop_class: str, sop_instance: str,
                           stream, size: int) -> Condition | None:
        """send_store, PDV by PDV: DCMTK's PDVs (the command; the data set in fragments of its Max Send PDV), each
        split by the DUL into PDUs of at most ``limit`` bytes of data when ``limit`` is not 0 (a peer with a small
        maximum PDU; the last PDU of a PDV carries the PDV's "last" bit).

        After the peer has requested release (Sta8; -nh goes on sending), when the peer has sent something more
        that we have not read yet, the data set's last PDU is withheld: what the peer sent decides how the request
        ends (in Sta8 any PDU but an A-ABORT is answered with an A-ABORT and a reset; an A-ABORT ends it too), so the
        data set is not completed at the peer, and nothing is stored there that the report shows as not sent.  DCMTK
        sends it, and its reset usually, not always, takes it away again before the peer reads it."""
        limit = limit or (1 << 62)
        fragment = self.send_pdv_length
        max_send = getattr(self.options, "max_send_pdu", None)
        if max_send:
            fragment = min(fragment, max_send - 12)
        fragment = max(fragment & ~1, 2)
        pdvs = [(encode_cstore_rq(message_id, sop_class, sop_instance), 0x01, True)]
        remaining = size
        while True:
            for data, kind, last in pdvs:
                if last and kind == 0 and self.state == STA_PEER_RELEASE and not self._peer_quiet():
                    return None
                pdus = []
                for start in range(0, max(len(data), 1), limit):
                    chunk = data[start:start + limit]
                    mch = kind | (0x02 if last and start + limit >= len(data) else 0)
                    pdus.append(_PDV_HEADER.pack(4, 0, len(chunk) + 6, len(chunk) + 2, context_id, mch) + chunk)
                if self.state not in (STA_OPEN, STA_PEER_RELEASE):
                    return push(DIMSE_SENDFAILED, fsm_error(self.state, EV_P_DATA_REQ))
                err = self._send_all([b"".join(pdus)], "writeDataPDU", 0, len(pdus[0]))
                if err is not None:
                    return self._send_failed(err)
            if remaining == 0:
                return None
            want = min(fragment, remaining)
            buf = bytearray(want)
            try:
                got = _read_views(stream, [memoryview(buf)])
            except ConditionError:
                got = 0
            if got < want:
                NET.warn(f"DIMSE Warning: ({self.params.calling_ae},{self.params.called_ae}): "
                         "writeBlock Failed (I/O suspension or premature end of stream)")
                return DIMSE_SENDFAILED
            remaining -= want
            pad = b"\0" if remaining == 0 and want & 1 else b""  # (a deflated stream's odd end, padded like DCMTK)
            pdvs = [(bytes(buf) + pad, 0x00, remaining == 0)]

    def _send_failed(self, err: Condition) -> Condition:
        return push(DIMSE_SENDFAILED, err)

    def _next_pdv(self, dimse_timeout: float | None) -> tuple[int, int, bytes]:
        """DIMSE_readNextPDV: (context id, message control header, data) or raise _ConditionRaised."""
        if self._pending_pdvs:
            return self._pending_pdvs.pop(0)
        pdvs = self._read_pdvs(dimse_timeout)
        self._pending_pdvs = pdvs[1:]
        return pdvs[0]

    def _read_pdvs(self, dimse_timeout: float | None) -> list[tuple[int, int, bytes]]:
        """The PDVs of the next P-DATA PDU (at least one), or raise _ConditionRaised."""
        if self.state not in (STA_OPEN, STA_PEER_RELEASE, STA_ABORTING) or self.sock is None:
            if self.state == STA_IDLE or self.sock is None:
                raise _ConditionRaised(push(DIMSE_READPDVFAILED, fsm_error(self.state or 1, 9)))
        if dimse_timeout is not None and not self._wait_readable(dimse_timeout):
            raise _ConditionRaised(DIMSE_NODATAAVAILABLE)
        try:
            pdu_type, _head, body = self._read_pdu(None)
        except _Closed:
            self._close_transport()
            self.state = STA_IDLE
            raise _ConditionRaised(DUL_PEERABORTEDASSOCIATION) from None
        except _ConditionRaised as exc:
            self._protocol_error = True
            raise _ConditionRaised(push(DIMSE_READPDVFAILED, exc.condition)) from None
        if pdu_type == 4 and self.state == STA_OPEN:
            if len(body) >= 6 and _PDU_LENGTH(body, 0)[0] + 4 == len(body):
                return [(body[4], body[5], body[6:])]  # one PDV (the usual response)
            pdvs = _split_pdvs(body)
            if isinstance(pdvs, Condition):
                self._protocol_error = True
                raise _ConditionRaised(push(DIMSE_READPDVFAILED, pdvs))
            return pdvs
        if pdu_type == 5 and self.state == STA_OPEN:
            self.state = STA_PEER_RELEASE
            self._protocol_error = True  # (a release request where a response was due)
            raise _ConditionRaised(DUL_PEERREQUESTEDRELEASE)
        if pdu_type == 7:
            self._close_transport()
            self.state = STA_IDLE
            raise _ConditionRaised(DUL_PEERABORTEDASSOCIATION)
        # AA-8: unexpected PDU, we send an A-ABORT and go to Sta13 (DCMTK leaves the PDU's body unread: its close
        # resets the connection, and the peer loses what it has not read yet)
        self._protocol_error = True
        self._reset_on_close = True
        self._send_abort(source=2, reason=2)
        self._close_transport()  # (nothing is read or written in Sta13: the reset goes out at once)
        self.state = STA_ABORTING
        raise _ConditionRaised(push(DIMSE_READPDVFAILED, NORMAL))

    def receive_command(self, dimse_timeout: float | None) -> tuple[int, Command] | Condition:
        """DIMSE_receiveCommand: (presentation context id, command) or the failure condition."""
        result = self._receive_command(dimse_timeout)
        if isinstance(result, Condition) and result not in (DIMSE_NODATAAVAILABLE, DUL_PEERABORTEDASSOCIATION):
            self._protocol_error = True  # (a malformed or unexpected answer: see abort)
        return result

    def note_protocol_error(self) -> None:
        """The peer's answer made no sense at the DIMSE level (an unexpected command): see abort."""
        self._protocol_error = True

    def _receive_command(self, dimse_timeout: float | None) -> tuple[int, Command] | Condition:
        if not self._pending_pdvs:
            try:
                pdvs = self._read_pdvs(dimse_timeout)
            except _ConditionRaised as exc:
                return _receive_failed(exc.condition)
            pid, mch, frag = pdvs[0]
            if len(pdvs) == 1 and mch == 0x03 and not len(frag) & 1:
                # the usual response: the whole command in one PDV
                return self._command(pid, frag)
            self._pending_pdvs = pdvs
        data = bytearray()
        pid = 0
        count = 0
        while True:
            try:
                cid, mch, frag = self._next_pdv(dimse_timeout)
            except _ConditionRaised as exc:
                return _receive_failed(exc.condition)
            if count == 0:
                pid = cid
            elif cid != pid:
                sub = _c(0x206, f"DIMSE: Different PresIDs inside Command Set: {pid} != {cid}")
                return push(DIMSE_RECEIVEFAILED, sub)
            if len(frag) % 2:
                # DCMTK (3.6.7) notes "Odd Fragment Length", leaves the loop and goes on with the fragments before:
                # that condition is replaced by the parse result (an empty command: "Missing CommandField")
                break
            data += frag
            count += 1
            if not mch & 0x01:
                # a data set PDV where a command was expected
                sub = _c(0x20F, "DIMSE: Command PDV Expected")
                return push(DIMSE_RECEIVEFAILED, sub)
            if mch & 0x02:
                break
        return self._command(pid, bytes(data), count > 0)

    def _command(self, pid: int, data: bytes, read: bool = True) -> tuple[int, Command] | Condition:
        """The end of DIMSE_receiveCommand: the complete command set ``data`` came on context ``pid`` (``read``:
        some fragment was read into it; not so when the first had an odd length)."""
        if read:
            DATA.debug('DcmDataset::read() TransferSyntax="Little Endian Implicit"')
        try:
            cmd = parse_command(data)
        except CommandElementTooLong as exc:
            from dcmsend.dictionary import tag_name, tag_text

            DATA.error(f"DcmElement: {tag_name(exc.tag)} {tag_text(exc.tag)} larger ({exc.length}) than remaining "
                       f"bytes ({exc.remaining}) in file, premature end of stream")
            return push(_c(0x20D, "DIMSE: receiveCommand: cmdSet->read() Failed"), _INVALID_STREAM)
        except PduError:
            return push(DIMSE_RECEIVEFAILED, _c(0x20B, "DIMSE: receiveCommand: cmdSet->read() Failed"))
        if self.accepted_context(pid) is None:
            return push(DIMSE_RECEIVEFAILED, ASC_BADPRESENTATIONCONTEXTID)
        failed = self._parse_failure(cmd)
        if failed is not None:
            return failed
        return pid, cmd

    def _parse_failure(self, cmd: Command) -> Condition | None:
        """DIMSE_parseCmdObject and validateMessage for what a C-STORE SCU can receive: the command field, the
        elements every response needs, and a C-STORE-RSP announcing a data set."""
        elements = cmd.elements
        value = elements.get(0x00000100)
        if value is None or len(value) < 2:
            return _c(0x20B, "DIMSE_parseCmdObject: Missing CommandField")
        command_field = value[0] | value[1] << 8
        if command_field in _COMMON_RSP_COMMANDS:
            for tag, name in _COMMON_RSP_ELEMENTS:
                value = elements.get(tag)
                if value is None or len(value) < 2:
                    return _c(0x20B, f"DIMSE: Command Parse Failed: Element: (0000,{tag:04x}) {name}")
            if command_field == 0x8001 and elements[0x00000800][:2] != b"\x01\x01":
                NET.warn(f"DIMSE Warning: ({self.params.calling_ae},{self.params.called_ae}): C-Store RSP: "
                         "DataSetType != NULL")
                return _c(0x203, "DIMSE Badly formed message")
        return None

    # -- release / abort -----------------------------------------------------------------------------------
    def release(self) -> Condition | None:
        """ASC_releaseAssociation: A-RELEASE-RQ, then wait (ACSE timeout) for the A-RELEASE-RP."""
        if self.state != STA_OPEN:
            return fsm_error(self.state, EV_A_RELEASE_REQ)
        err = self._send_all([struct.pack(">BBIxxxx", 5, 0, 4)], "sendReleaseRQTCP")
        if err is not None:
            return err
        self.state = 7
        timeout = self.options.acse_timeout or None
        while True:
            try:
                pdu_type, _head, _body = self._read_pdu(timeout)
            except _Closed:
                self._close_transport()
                self.state = STA_IDLE
                return DUL_PEERABORTEDASSOCIATION
            except _Timeout:
                self._close_transport()
                self.state = STA_IDLE
                return DUL_READTIMEOUT
            except _ConditionRaised as exc:
                self._protocol_error = True
                return exc.condition
            if pdu_type == 6:
                self._close_transport()
                self.state = 0
                return None
            if pdu_type == 7:
                self._close_transport()
                self.state = STA_IDLE
                return DUL_PEERABORTEDASSOCIATION
            if pdu_type == 4:
                return DUL_PDATAPDUARRIVED
            if pdu_type == 5:
                # release collision (AR-8): answer it and finish
                self._send_all([struct.pack(">BBIxxxx", 6, 0, 4)], "sendReleaseRPTCP")
                continue
            self._protocol_error = True
            self._reset_on_close = True
            self._send_abort(source=2, reason=2)
            self._close_transport()
            self.state = STA_ABORTING
            return None

    def _send_abort(self, source: int = 0, reason: int = 0) -> Condition | None:
        if self.sock is None:
            return None
        return self._send_all([struct.pack(">BBIBBBB", 7, 0, 4, 0, 0, source, reason)], "sendAbortTCP")

    def abort(self) -> Condition | None:
        """ASC_abortAssociation: send an A-ABORT and wait for the peer to close the connection."""
        if self.state not in (STA_OPEN, 7, STA_PEER_RELEASE) or self.sock is None:
            return fsm_error(self.state or STA_IDLE, EV_A_ABORT_REQ)
        if self._write_timed_out or self._protocol_error:
            # the peer stopped reading, or it broke the protocol: nothing waits for it any more
            return self._abort_without_waiting()
        err = self._send_abort()
        if err is not None:
            return err  # AA-1 failed: DCMTK gives up at once
        self.state = STA_ABORTING
        # Sta13 as DCMTK's DUL_AbortAssociation runs it: the next PDU (or anything) from the peer, the end of the
        # connection or the ACSE timeout ends it
        timeout = self.options.acse_timeout or 30
        if not self._rx:
            try:
                select.select([self.sock], [], [], timeout)
            except (OSError, ValueError):
                pass
        self._close_transport()
        self.state = STA_IDLE
        return None

    def _abort_without_waiting(self) -> Condition | None:
        """Send the A-ABORT if the socket takes it at once and no PDU was left incomplete on the wire, else reset the
        connection; then close it, reading (without waiting) what the peer has sent, so that the close does not
        discard the A-ABORT.  A failing write (the peer closed the connection) is DCMTK's "Association Abort Failed"
        error."""
        sock: Any = self.sock  # (a socket: the Transport protocol does not list shutdown)
        if sock is None:
            return None
        abort = struct.pack(">BBIBBBB", 7, 0, 4, 0, 0, 0, 0)
        sent = 0
        if not self._cut_pdu and not self._unsent:
            try:
                sock.setblocking(False)  # (not MSG_DONTWAIT: a TLS transport takes no flags)
                sent = sock.send(abort)
            except (BlockingIOError, InterruptedError, ValueError):
                sent = 0
            except OSError as exc:
                if type(exc).__name__.startswith("SSLWant") or not exc.errno:
                    sent = 0
                else:
                    return _c(_TCP_IO_ERROR, f"TCP I/O Error ({_errno_text(exc.errno)}) occurred in routine: "
                                             "sendAbortTCP")
        try:
            if sent != len(abort):
                _linger_zero(sock)  # close = reset
            else:
                sock.setblocking(False)
                sock.shutdown(socket.SHUT_WR)
                for _ in range(64):  # (a peer that floods us does not keep us here)
                    if not sock.recv(65536):
                        break
        except (OSError, ValueError):
            pass
        self._close_transport()
        self.state = STA_IDLE
        return None

    def abort_now(self, grace: float = 2.0) -> None:
        """Abort at once (interrupt, internal error): complete a PDU cut short by the interruption, send an A-ABORT
        and close the connection, waiting at most ``grace`` seconds for the peer to take the bytes; never waits for
        the peer to close.  Safe to call in any state."""
        sock = self.sock
        if sock is None:
            return
        pending = self._unsent + struct.pack(">BBIBBBB", 7, 0, 4, 0, 0, 0, 0) if self.state != STA_ABORTING else b""
        self._unsent = b""
        try:
            sock.setblocking(False)
            deadline = time.monotonic() + grace
            view = memoryview(pending)
            while view:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                _, w, _ = select.select([], [sock], [], remaining)
                if w:
                    view = view[sock.send(view):]
        except OSError:
            pass
        self._close_transport()
        self.state = STA_IDLE

    def free(self) -> None:
        """freeNetwork: drop everything (the transport is closed without any PDU)."""
        self._close_transport()
        self.state = 0
        self._buffer = bytearray()


def _split_pdvs(body: bytes) -> list[tuple[int, int, bytes]] | Condition:
    """The PDVs of a P-DATA-TF body as (context id, message control header, fragment), with the checks of DCMTK's
    DT_2_IndicatePData (the same texts), or the failure condition."""
    remaining = len(body)
    pos = 0
    pdvs = []
    while remaining >= 4:
        length = struct.unpack_from(">I", body, pos)[0]
        remaining -= 4 + length
        if length < 2:
            return _c(_ILLEGAL_PDU_LENGTH, f"PDV with invalid length {length} encountered. This probably indicates a "
                                           "malformed P DATA PDU.")
        if remaining >= 0:
            pdvs.append((body[pos + 4], body[pos + 5], body[pos + 6:pos + 4 + length]))
        pos += 4 + length
    if remaining != 0:
        return _c(_ILLEGAL_PDU, f"PDV lengths don't add up correctly: {len(pdvs) + (remaining < 0)} PDVs. This "
                                "probably indicates a malformed P-DATA PDU. PDU type is 04.")
    if not pdvs:
        return _c(_ILLEGAL_PDU, "PDU without any PDVs encountered. In DT_2_IndicatePData.  This probably indicates a "
                                " malformed P DATA PDU.")
    return pdvs


def _receive_failed(cond: Condition) -> Condition:
    if cond.code == DIMSE_READPDVFAILED.code and cond.module == _NET:
        return push(DIMSE_RECEIVEFAILED, cond)
    return cond


class _ConditionRaised(Exception):
    def __init__(self, condition: Condition):
        super().__init__(condition.text)
        self.condition = condition


# ---------------------------------------------------------------------------------------------------------------
# DcmSCU-level helpers used by send.py


def init_network(options) -> Condition | None:
    """The checks of DcmSCU::initNetwork that can fail in dcmsend (host name lengths)."""
    if len(options.peer) + 5 + 1 > 63:
        NET.error(f"Maximum length of peer host name '{options.peer}' is longer than maximum of 57 characters")
        return EC_ILLEGAL_CALL
    local = socket.gethostname()
    if len(local) + 1 > 63:
        NET.error(f"Maximum length of local host name '{local}' is longer than maximum of 62 characters")
        return EC_ILLEGAL_CALL
    return None


def log_enabled_debug() -> bool:
    return NET.enabled(DEBUG)


def log_enabled_info() -> bool:
    return NET.enabled(INFO)
