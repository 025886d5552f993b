"""The DICOM upper layer and DIMSE codec dcmsend needs: DCMTK's identification of us, its network conditions and
C-STORE status texts, the A-ASSOCIATE-RQ/AC PDUs and the C-STORE command sets (encoded and parsed with ``struct``,
PS3.8 §9.3; pynetdicom's PDU classes are the oracle in tests/test_pdu_codec.py, see docs/conformance.md for why they
are not used here), and their dumps as DCMTK logs them.  DIMSE command sets are Implicit VR Little Endian with group
length, as DCMTK writes them.  The association that sends them is :mod:`dcmsend.network`.

The log lines and the condition texts follow DCMTK 3.6.7 (``assoc.cc``, ``dimdump.cc``, ``dulfsm.cc``, ``cond.cc``),
including the DEBUG-level dump of the A-ASSOCIATE-AC PDU bytes.
"""

from __future__ import annotations

import os
import struct

from dcmsend import __version__, identity, uids
from dcmsend.exitcodes import Condition
from dcmsend.log import NET

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
DUL_ILLEGALPDULENGTH = _c(0x308, "DUL Illegal PDU Length")
NET_EC_ASSOCIATE_PDU_TOO_LARGE = _c(1079, "A-ASSOCIATE PDU too large")
NET_EC_INVALID_SOP_CLASS_UID = _c(1000, "Invalid SOP Class UID")
NET_EC_INVALID_SOP_INSTANCE_UID = _c(1002, "Invalid SOP Instance UID")
NET_EC_NO_ACCEPTABLE_PRESENTATION_CONTEXTS = _c(1006, "No acceptable Presentation Contexts")
NET_EC_ALREADY_CONNECTED = _c(1010, "Already connected")
EC_ILLEGAL_CALL = Condition(1, 0x27, "Illegal call, perhaps wrong parameters")

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
