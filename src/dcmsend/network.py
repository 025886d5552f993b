"""Our own synchronous DICOM association client: the DcmSCU / ASC / DIMSE / DUL layers dcmsend needs, around the
PDU and command-set codec of :mod:`dcmsend.pdu`.

Blocking sockets with timeouts, no threads.  Data sets are streamed from a file-like object into the PDU slots of
one reused buffer (``readv``/``readinto``) and sent in batches of PDUs, so a data set is never held in memory as a
whole; the PDUs are DCMTK's, one PDV each.

The log lines, their levels and the condition texts follow DCMTK 3.6.7 (``scu.cc``, ``assoc.cc``, ``dimdump.cc``,
``dulfsm.cc``, ``cond.cc``).
"""

from __future__ import annotations

import _socket as socket  # (the C module: socket.py costs 4 ms of imports, its wrappers are not needed)
import errno
import os
import select
import struct
import time

from dcmsend import identity, transport
from dcmsend.exitcodes import Condition, ConditionError
from dcmsend.log import DATA, DEBUG, INFO, NET
from dcmsend.pdu import (
    _COMMON_RSP_COMMANDS,
    _COMMON_RSP_ELEMENTS,
    _ILLEGAL_PDU,
    _ILLEGAL_PDU_LENGTH,
    _ILLEGAL_SERVICE_PARAMETER,
    _INVALID_STREAM,
    _NET,
    _TCP_IO_ERROR,
    _UNRECOGNIZED_PDU_TYPE,
    _UNSUPPORTED_TS,
    ASC_BADPRESENTATIONCONTEXTID,
    ASC_MAXIMUMPDUSIZE,
    ASC_MINIMUMPDUSIZE,
    ASC_USER_IDENTIFICATION_FAILED,
    ASSOCIATE_PDU_SIZE_LIMIT,
    DIMSE_NODATAAVAILABLE,
    DIMSE_ODD_BLOCK_LENGTH,
    DIMSE_READPDVFAILED,
    DIMSE_RECEIVEFAILED,
    DIMSE_SENDFAILED,
    DIMSE_SUPPORTED_TS,
    DUL_ASSOCIATIONREJECTED,
    DUL_ILLEGALPDULENGTH,
    DUL_NETWORKCLOSED,
    DUL_PDATAPDUARRIVED,
    DUL_PEERABORTEDASSOCIATION,
    DUL_PEERREQUESTEDRELEASE,
    DUL_READTIMEOUT,
    EC_ILLEGAL_CALL,
    NET_EC_ASSOCIATE_PDU_TOO_LARGE,
    NET_EC_NO_ACCEPTABLE_PRESENTATION_CONTEXTS,
    NORMAL,
    UNLIMITED_PDU_CAP,
    AssociatePduError,
    AssociationParameters,
    Command,
    CommandElementTooLong,
    ContextResult,
    PduError,
    _c,
    dump_parameters,
    dump_pdu,
    encode_associate_rq,
    encode_cstore_rq,
    parse_associate_ac,
    parse_command,
    push,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Callable

# ---------------------------------------------------------------------------------------------------------------
# Socket timeout and the DUL state machine

SOCKET_TIMEOUT = 60  # DCMTK's fixed send/receive socket timeouts (dcmSocketSendTimeout / dcmSocketReceiveTimeout)


def socket_timeout() -> int:
    """The fixed socket send/receive timeout: 60 s as in DCMTK.  The environment variable DCMSEND_SOCKET_TIMEOUT
    (a positive integer) overrides it; it exists for the test suite only (a stalled peer ends in seconds)."""
    value = os.environ.get("DCMSEND_SOCKET_TIMEOUT", "")
    return int(value) if value.isdigit() and int(value) > 0 else SOCKET_TIMEOUT

_FSM_ERROR = 0x303

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
        self._held_head = False  # a refused P-DATA PDU header DCMTK still holds (see _read_pdu)
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
        if self._rx or self._held_head or (self._tls and self.sock is not None and self.sock.pending()):
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
        if self._held_head:
            # DCMTK keeps the header of a P-DATA PDU whose length it refused (readPDUHead); the next read takes that
            # header and refuses its body (readPDUBodyTCP: the plain condition), leaving the body unread
            self._held_head = False
            raise _ConditionRaised(DUL_ILLEGALPDULENGTH)
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
            self._held_head = True
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
        if self._held_head:
            return DUL_PDATAPDUARRIVED  # (DCMTK's release sees the P-DATA header it still holds, see _read_pdu)
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
