"""The sending phase: dcmsend.cc's association loop after the input phase, DcmStorageSCU::negotiateAssociation and
sendSOPInstances, and DcmSCU::sendSTORERequest, over our own association client (:mod:`dcmsend.network`).

``transfer(options, entries) -> exit code``.
"""

from __future__ import annotations

import _signal as signal  # (the C module: signal.py imports enum, milliseconds at start-up)
import time

from dcmsend import convert, network, pdu, plan, report, uids
from dcmsend.collect import STATUS_NO_ACCEPTABLE_CONTEXT
from dcmsend.exitcodes import (
    CANNOT_ADD_PRESENTATION_CONTEXT,
    CANNOT_INITIALIZE_NETWORK,
    CANNOT_NEGOTIATE_ASSOCIATION,
    CANNOT_SEND_REQUEST,
    NO_ERROR,
    Condition,
    ConditionError,
)
from dcmsend.log import APP, DATA, DEBUG, INFO, NET, WARN
from dcmsend.pdu import (
    DIMSE_BADCOMMANDTYPE,
    DIMSE_ILLEGALASSOCIATION,
    DIMSE_NOVALIDPRESENTATIONCONTEXTID,
    DIMSE_SENDFAILED,
    DUL_PEERABORTEDASSOCIATION,
    DUL_PEERREQUESTEDRELEASE,
    NET_EC_ALREADY_CONNECTED,
    NET_EC_INVALID_SOP_CLASS_UID,
    NET_EC_INVALID_SOP_INSTANCE_UID,
    NET_EC_NO_ACCEPTABLE_PRESENTATION_CONTEXTS,
)

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

_RELEASE, _ABORT, _PEER_RELEASE, _PEER_ABORTED = range(4)
# Not a DCMTK condition: a data set nested deeper than we follow (about 10000 levels; collect has the same text)
NESTING_TOO_DEEP = Condition(1, 0x0FFF, "Sequences nested too deeply")


def _xfer_key(ts_uid: str) -> str | None:
    """DCMTK compares E_TransferSyntax values: every unknown UID is the same EXS_Unknown."""
    return ts_uid if uids.transfer_syntax(ts_uid) is not None else None


class _Scu:
    """What DcmSCU keeps between calls: the network/association structures and their lifetime."""

    def __init__(self, options, hooks=None):
        self.options = options
        self.assoc: network.Association | None = None
        self.allocated = False  # m_net / m_params / m_assoc exist
        # the extensions' observer (runner.Tracker) or None; see "Hooks" at transfer()
        self.hooks = hooks
        self.last_condition: Condition | None = None  # the condition that ended the rounds (for --retry)

    @property
    def connected(self) -> bool:
        return self.assoc is not None and self.assoc.connected

    def free_network(self) -> None:
        if self.allocated:
            NET.debug("Cleaning up internal association and network structures")
        if self.assoc is not None:
            self.assoc.free()
        self.assoc = None
        self.allocated = False

    def init_network(self, contexts) -> Condition | None:
        if self.connected:
            return NET_EC_ALREADY_CONNECTED
        self.free_network()
        self.allocated = True
        cond = network.init_network(self.options)
        if cond is not None:
            return cond
        self.assoc = network.Association(self.options, contexts)
        NET.debug(f"Configured a total of {len(contexts)} presentation contexts for SCU")
        return None

    def negotiate(self) -> Condition | None:
        if self.connected:
            return NET_EC_ALREADY_CONNECTED
        assert self.assoc is not None  # (init_network made it)
        return self.assoc.request()

    def close(self, kind: int) -> None:
        if not self.connected:
            NET.warn("Closing of association requested but no association active (ignored)")
            return
        assert self.assoc is not None  # (connected)
        if self.hooks is not None:
            self.hooks.association_ended(self.assoc, ("released", "aborted", "aborted", "peer-aborted")[kind])
        if kind == _RELEASE:
            NET.info("Releasing Association")
            cond = self.assoc.release()
            if cond is not None:
                NET.error(f"Association Release Failed: {cond}")
                return
        elif kind in (_ABORT, _PEER_RELEASE):
            if kind == _PEER_RELEASE:
                NET.error("Protocol Error: Peer requested release (Aborting)")
            NET.info("Aborting Association")
            cond = self.assoc.abort()
            if cond is not None:
                NET.error(f"Association Abort Failed: {cond}")
        else:
            NET.info("Peer Aborted Association")
        self.free_network()

    def release(self) -> None:
        if self.connected:
            self.close(_RELEASE)

    def abort_now(self) -> None:
        """The association ends because the program ends abnormally: A-ABORT, close, never wait on the peer."""
        if self.assoc is not None and self.assoc.sock is not None:
            if self.hooks is not None:
                self.hooks.association_ended(self.assoc, "aborted")
            NET.info("Aborting Association")
            self.assoc.abort_now()
        self.free_network()

    def shutdown(self) -> None:
        """DcmSCU's destructor (runs when dcmsend returns from main)."""
        if self.connected:
            self.close(_ABORT)
        else:
            self.free_network()


def tls_wanted(options) -> bool:
    """A TLS option was given (+tls or +tla)."""
    return bool(getattr(options, "tls_keys", None) or getattr(options, "tls_anonymous", False))


def setup_tls(options) -> int | None:
    """The TLS layer, set up once before the first association (as storescu does after its input check): None, or
    the exit code after the failure was logged.  Nothing to do without TLS options or with the API's own
    ``tls_context``."""
    if (not tls_wanted(options) or getattr(options, "tls_context", None) is not None
            or getattr(options, "_tls_made", None) is not None):
        return None
    try:
        from dcmsend import tls
    except ImportError:  # (a Python built without OpenSSL)
        APP.fatal("cannot negotiate network association: TLS is not available (Python has no ssl module)")
        return CANNOT_NEGOTIATE_ASSOCIATION
    try:
        options._tls_made = tls.make_context(options)
    except tls.SetupError as exc:
        APP.fatal(str(exc.condition))
        return CANNOT_NEGOTIATE_ASSOCIATION
    return None


def transfer(options, entries: list, on_instance=None) -> int:
    """Run the association rounds for the transfer list; return dcmsend's exit code.

    With one of the extension options (--create-json-report, --strict-status, --journal, --retry, --progress) or a
    per-instance callback ``on_instance`` (Python API), :func:`dcmsend.runner.transfer` drives the rounds instead.
    Hooks: it passes an observer as ``_Scu(options, hooks)`` whose methods are called here, and only here:
    ``association_negotiated(number, assoc, condition)``, ``association_ended(assoc, how)``,
    ``response(entry, cmd)`` (the C-STORE-RSP command set) and ``instance_done(entry, condition, seconds)``, once
    per instance tried (condition: what ended it before a response, else None).  Workers sending in parallel call
    the same methods (the observer is thread-safe)."""
    if on_instance is not None or _extended(options):
        from dcmsend import runner

        return runner.transfer(options, entries, on_instance)
    code = setup_tls(options)
    if code is not None:
        return code
    if getattr(options, "parallel", 1) > 1:  # (extension, --parallel)
        from dcmsend import parallel

        return parallel.transfer(options, entries)
    state = plan.TransferState(entries)
    scu = _Scu(options)
    return guarded(scu, lambda: _run(scu, state, options))


def guarded(scu, run):
    """``run()`` (association rounds with ``scu``), and ``scu`` shut down afterwards.  On an interrupt (SIGINT/SIGTERM,
    see cli.Interrupted) or an internal error: say why, then abort the association at once (A-ABORT, no waiting for
    the peer); the exception goes on to cli.main."""
    try:
        return run()
    except BaseException as exc:
        announce = getattr(exc, "announce", None)
        if callable(announce):
            announce()
        scu.abort_now()
        raise
    finally:
        scu.shutdown()


def _extended(options) -> bool:
    return bool(getattr(options, "json_report", "") or getattr(options, "strict_status", False)
                or getattr(options, "journal", "") or getattr(options, "retry", 0)
                or getattr(options, "progress", False))


def _run(scu: _Scu, state, options) -> int:
    code = _rounds(scu, state, options)
    if code is not None:
        return code
    return _finish(state, options)


def start_association(scu: _Scu, contexts, number: int, multi: bool) -> Condition | None:
    """dcmsend's lines for association ``number`` and its network set-up: None, or the condition (after its F line)
    when the network cannot be initialised."""
    if multi:
        if APP.enabled(DEBUG):
            APP.debug("-" * 65 + f"\nstarting association #{number}")
        else:
            APP.info(f"starting association #{number}")
    APP.info("initializing network ...")
    status = scu.init_network(contexts)
    if status is not None:
        APP.fatal(f"cannot initialize network: {status.text}")
        scu.last_condition = status
        return status
    APP.info("negotiating network association ...")
    return None


def send_failed(scu: _Scu, status: Condition) -> int:
    """Sending ended with ``status``: dcmsend's F line, the association closed as the peer left it; the exit code."""
    APP.fatal(f"cannot send SOP instance: {status.text}")
    scu.last_condition = status
    if status == DUL_PEERREQUESTEDRELEASE:
        scu.close(_PEER_RELEASE)
    elif status == DUL_PEERABORTEDASSOCIATION:
        scu.close(_PEER_ABORTED)
    return CANNOT_SEND_REQUEST


def _rounds(scu: _Scu, state, options) -> int | None:
    """The association rounds; None at their normal end, else the exit code (after the F line)."""
    multi = options.multi_associations  # (the "... associations allowed" debug line ends the input phase)
    while True:
        status = plan.add_presentation_contexts(state, options)
        if status is not None:
            break
        if start_association(scu, state.contexts, state.association_counter + 1, multi) is not None:
            return CANNOT_INITIALIZE_NETWORK
        status = _negotiate(scu, state)
        if status is not None:
            if status == NET_EC_NO_ACCEPTABLE_PRESENTATION_CONTEXTS:
                APP.error(f"cannot negotiate network association: {status.text}")
                remaining = sum(1 for e in state.entries if not e.request_sent)
                if remaining > 0:
                    APP.warn(f"trying to continue with a new association in order to send the remaining {remaining}"
                             " SOP instances")
            else:
                APP.fatal(f"cannot negotiate network association: {status.text}")
                scu.last_condition = status
                return CANNOT_NEGOTIATE_ASSOCIATION
        if status is None:
            APP.info("sending SOP instances ...")
            status = send_instances(scu, state, options)
            if status is not None:
                return send_failed(scu, status)
        scu.release()
        if not multi:
            break
    if status is not None and status != plan.NO_PRESENTATION_CONTEXTS_DEFINED:
        APP.error(f"cannot add presentation contexts: {status.text}")
        scu.last_condition = status
        return CANNOT_ADD_PRESENTATION_CONTEXT
    return None


def _finish(state, options, skipped=()) -> int:
    """After the rounds: the report file (+crf) and the status summary (``skipped``: see report.summary_text)."""
    if options.report_file:
        with _signals_held():  # the report is written whole or not at all, even on Ctrl-C
            code = report.write_report(state, options, skipped)
        if code is not None:
            return code
    if APP.enabled(INFO):
        APP.info("\n" + report.summary_text(state, skipped))
    return NO_ERROR


class _signals_held:  # noqa: N801 (used as a function: ``with _signals_held():``)
    """Hold SIGINT/SIGTERM back for the duration: a Python-level handler (cli's, or the default KeyboardInterrupt)
    runs right after instead (handlers run in the main thread only, so elsewhere there is nothing to hold)."""

    def __enter__(self):
        import threading  # (here: a run without a report file never needs it)

        self.held: list[int] = []
        self.previous = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                old = signal.getsignal(sig)
                if callable(old):
                    self.previous[sig] = old
                    signal.signal(sig, lambda signum, _frame: self.held.append(signum))
        return self

    def __exit__(self, *exc) -> None:
        for sig, old in self.previous.items():
            signal.signal(sig, old)
        if self.held:
            signal.raise_signal(self.held[0])


def _negotiate(scu: _Scu, state) -> Condition | None:
    """DcmStorageSCU::negotiateAssociation."""
    status = scu.negotiate()
    if status == NET_EC_NO_ACCEPTABLE_PRESENTATION_CONTEXTS:
        plan.mark_all_rejected(state)
    state.association_counter += 1
    if scu.hooks is not None:
        scu.hooks.association_negotiated(state.association_counter, scu.assoc, status)
    return status


class _Ahead:
    """The next instance, loaded while the response to the current one is awaited (the peer's turn-around hides
    the file work), and when nothing is logged at the active levels on its way, its PDUs made ready too.  Only the
    fast load, which says nothing at the active level and raises nothing, is done ahead; the log lines and any
    exact load stay where DCMTK has them."""

    __slots__ = ("entries", "current", "index", "loaded", "prepared", "prepared_for", "sent", "sent_for", "checked",
                 "network_ts")
    loaded: convert.Loaded | None
    prepared: Any
    prepared_for: tuple | None
    sent: Condition | None
    sent_for: tuple | None

    def __init__(self, entries: list):
        self.entries = entries
        self.current = -1  # the instance being sent
        self.index = -1
        self.loaded = None
        self.prepared = None  # network.Association.prepare_store's PDUs for the next instance
        self.prepared_for = None  # (association, message ID) they were made for
        self.sent = None  # how sending the prepared PDUs went, when they went out early (send_early)
        self.sent_for = None
        self.checked = False  # the loaded file was found unchanged after the response (send_early)
        self.network_ts = ""  # the transfer syntax of the prepared PDUs (the file's, or converted by the fast walk)

    def prepare(self, assoc=None) -> None:
        j = self.current + 1
        if self.loaded is not None or j >= len(self.entries) or DATA.enabled(DEBUG):
            return
        entry = self.entries[j]
        if entry.request_sent or entry.context_id == 0 or "\0" in entry.path:
            return
        loaded = self.loaded = convert.load_fast(entry)
        self.index = j
        self.checked = False
        if loaded is None or assoc is None or NET.enabled(INFO) or loaded.pending_warnings:
            return
        # the normal way would say nothing for it (no consistency warning, no message of a conversion, the context
        # matches)
        cls, inst = loaded.sop_class_uid, loaded.sop_instance_uid
        if cls != entry.sop_class_uid or inst != entry.sop_instance_uid or not cls or not inst:
            return
        cx = assoc.accepted_context(entry.context_id)
        if (cx is None or not assoc.regular_answer or cx.abstract_syntax != cls
                or cx.transfer_syntax not in pdu.DIMSE_SUPPORTED_TS
                or _xfer_key(cx.transfer_syntax) is None or _xfer_key(loaded.original_ts) is None):
            return
        # (in the file's own syntax, or converted between the uncompressed ones by the fast walk, which says nothing
        # at the levels where this runs: the normal way's 'Converting transfer syntax' line is INFO)
        encoded = loaded.encode_fast(cx.transfer_syntax)
        if encoded is None:
            return
        stream, size = encoded
        self.network_ts = cx.transfer_syntax
        message_id = assoc.next_message_id
        self.prepared = assoc.prepare_store(entry.context_id, message_id, cls, inst, stream, size)
        self.prepared_for = (assoc, message_id)

    def take(self, index: int):
        loaded, self.loaded = self.loaded, None
        if loaded is not None and (self.index != index or not (self.checked or convert.unchanged_since_loaded(loaded))):
            # another instance, or the file changed (or went) since it was read ahead: DCMTK opens it only now,
            # so the normal load does, with DCMTK's messages
            loaded.close()
            loaded = None
            self.prepared = None
        return loaded

    def take_prepared(self, assoc, message_id: int):
        prepared, self.prepared = self.prepared, None
        if prepared is not None and self.prepared_for == (assoc, message_id):
            return prepared
        return None

    def send_early(self, assoc) -> None:
        """Send the next instance's prepared PDUs now, right after the current instance's C-STORE response.

        Only called when that response was a C-STORE-RSP and nothing is logged at the active levels (there are
        prepared PDUs): then DCMTK goes straight on to send the next instance whatever the response's status, with
        nothing said in between, so the order of everything on the wire and in the log is the same; the bookkeeping
        of the current instance and the next one's checks (all made when the PDUs were prepared) follow while the
        peer works."""
        if self.prepared is None or self.index != self.current + 1 or self.prepared_for != (
                assoc, assoc.next_message_id):
            return
        if self.loaded is None or not convert.unchanged_since_loaded(self.loaded):
            self.prepared = None  # (take() then drops the load: the file is read again where DCMTK reads it)
            return
        self.checked = True
        prepared, self.prepared = self.prepared, None
        self.sent = assoc.send_prepared(prepared)
        self.sent_for = self.prepared_for

    def take_sent(self, assoc, message_id: int) -> tuple[bool, Condition | None]:
        """(True, how it went) when this instance's request went out early (:meth:`send_early`)."""
        sent_for, self.sent_for = self.sent_for, None
        if sent_for is not None and sent_for == (assoc, message_id):
            return True, self.sent
        return False, None

    def close(self) -> None:
        self.prepared = None
        self.sent_for = None
        loaded, self.loaded = self.loaded, None
        if loaded is not None:
            loaded.close()


def send_instances(scu: _Scu, state, options) -> Condition | None:
    """Send the instances of the round: one at a time as DCMTK does, or, when the peer granted an asynchronous
    operations window (extension, --async-ops), with up to that many requests outstanding (:mod:`dcmsend.window`)."""
    assoc = scu.assoc
    if assoc is not None and assoc.params.async_granted > 1:
        from dcmsend.window import send_instances_window

        return send_instances_window(scu, state, options, assoc.params.async_granted)
    return _send_instances(scu, state, options)


def _send_instances(scu: _Scu, state, options) -> Condition | None:
    """DcmStorageSCU::sendSOPInstances."""
    entries = state.entries
    halt = not options.no_halt
    status: Condition | None = None
    ahead = _Ahead(entries)
    stop = getattr(state, "stop", None)  # (a parallel worker's state: set when the run stops, see dcmsend.parallel)
    hooks = scu.hooks
    try:
        while state.current < len(entries) and status is None:
            if stop is not None and stop.is_set():
                break
            entry = entries[state.current]
            if not entry.request_sent:
                if entry.context_id == 0:
                    break
                if hooks is not None:
                    started = time.perf_counter()
                if NET.enabled(DEBUG):
                    NET.debug(f"sending SOP instance from file: {entry.path}")
                ahead.current = state.current
                loaded = ahead.take(state.current)
                if loaded is None:
                    try:
                        # DCMTK opens the file by its C string: a name from a DICOMDIR ends at an embedded NUL
                        loaded = convert.load(entry if "\0" not in entry.path else _c_string_path(entry))
                    except ConditionError as exc:
                        status = exc.condition
                        NET.error(f"cannot send SOP instance from file: {entry.path}: {status.text}")
                    except RecursionError:  # (DCMTK 3.6.7 crashes with SIGSEGV on such files)
                        status = NESTING_TOO_DEEP
                        NET.error(f"cannot send SOP instance from file: {entry.path}: {status.text}")
                if loaded is not None:
                    try:
                        status = _store_loaded(scu, state, entry, loaded, options, ahead)
                    finally:
                        loaded.close()
                if status is None:
                    entry.request_sent = True
                else:
                    if status == DIMSE_NOVALIDPRESENTATIONCONTEXTID:
                        entry.request_sent = True
                        entry.status = STATUS_NO_ACCEPTABLE_CONTEXT
                if hooks is not None:
                    hooks.instance_done(entry, status, time.perf_counter() - started)
                if status is not None:
                    if not halt and status != DIMSE_ILLEGALASSOCIATION:
                        status = None
            state.current += 1
    finally:
        ahead.close()
    return status


def _c_string_path(entry):
    """A copy of ``entry`` whose path ends at the first NUL (a DICOMDIR's Referenced File ID may hold one)."""
    from dcmsend.collect import Instance

    return Instance(entry.path.split("\0")[0], entry.read_mode, entry.sop_class_uid, entry.sop_instance_uid,
                    entry.transfer_syntax_uid, entry.dataset_offset, meta_reread=entry.meta_reread)


def _store_loaded(scu: _Scu, state, entry, loaded, options, ahead: _Ahead | None = None, window=None
                  ) -> Condition | None:
    if NET.enabled(WARN):
        NET.debug("checking whether SOP Class UID and SOP Instance UID in dataset are consistent with transfer list")
        DATA.debug("getting SOP Class UID, SOP Instance UID and Transfer Syntax UID from DICOM dataset")
        if loaded.pending_warnings:
            loaded.flush_warnings()
        # (DCMTK compares all values of a multi-valued UID; the request takes the first)
        sop_class, sop_instance = getattr(loaded, "sop_uid_arrays", None) or (loaded.sop_class_uid,
                                                                              loaded.sop_instance_uid)
        if entry.sop_class_uid != sop_class:
            NET.warn("SOP Class UID in dataset differs from the one in the transfer list")
            NET.debug(f"- SOP Class UID in DICOM dataset: {sop_class}")
            NET.debug(f"- SOP Class UID in transfer list: {entry.sop_class_uid}")
        if entry.sop_instance_uid != sop_instance:
            NET.warn("SOP Instance UID in dataset differs from the one in the transfer list")
            NET.debug(f"- SOP Instance UID in DICOM dataset: {sop_instance}")
            NET.debug(f"- SOP Instance UID in transfer list: {entry.sop_instance_uid}")
    entry.dataset_size = loaded.dataset_size()
    status, network_ts = _send_store_request(scu, entry, loaded, options, ahead, window)
    entry.association = state.association_counter
    entry.network_ts = network_ts
    return status


def _send_store_request(scu: _Scu, entry, loaded, options, ahead: _Ahead | None = None, window=None
                        ) -> tuple[Condition | None, str]:
    """DcmSCU::sendSTORERequest (plus the DIMSE send checks); returns (condition, network transfer syntax)."""
    original = loaded.original_ts
    if not scu.connected:
        return DIMSE_ILLEGALASSOCIATION, original
    assoc = scu.assoc
    assert assoc is not None  # (connected)
    message_id = assoc.next_message_id
    assoc.next_message_id = (message_id + 1) & 0xFFFF
    if loaded.pending_warnings:
        loaded.flush_warnings()
    sop_class = loaded.sop_class_uid
    sop_instance = loaded.sop_instance_uid
    cid = entry.context_id
    if ahead is not None:
        sent, status = ahead.take_sent(assoc, message_id)
        if sent:
            return _await_response(assoc, entry, options, ahead, status,
                                   _prepared_ts(ahead.network_ts, original, status, options), scu.hooks)
    prepared = ahead.take_prepared(assoc, message_id) if ahead is not None else None
    if prepared is not None:
        # made while the previous response was awaited: the checks below all passed then and said nothing
        network_ts = ahead.network_ts if ahead is not None else original
        status = assoc.send_prepared(prepared)
        return _await_response(assoc, entry, options, ahead, status,
                               _prepared_ts(network_ts, original, status, options), scu.hooks)
    if not sop_class or not sop_instance:
        NET.error("Cannot send SOP instance, missing information:")
        NET.error(f"  SOP Class UID    : {sop_class}")
        NET.error(f"  SOP Instance UID : {sop_instance}")
        NET.error(f"  Transfer Syntax  : {uids.ts_name(original)}")
        NET.error(f"  Pres. Context ID : {cid}")
        return (NET_EC_INVALID_SOP_CLASS_UID if not sop_class else NET_EC_INVALID_SOP_INSTANCE_UID), original
    current = original
    stream = None
    size = 0
    pcid = cid
    if options.decompress != "never":
        negotiated = assoc.negotiated_context(cid)
        abstract_syntax, network_ts = negotiated if negotiated is not None else ("", "")
        if not abstract_syntax or not network_ts:
            pcid = 0
        else:
            if abstract_syntax != sop_class:
                NET.warn(f"Inappropriate presentation context with ID {cid}: "
                         "abstract syntax does not match SOP class UID")
            if _xfer_key(network_ts) != _xfer_key(original):
                NET.info(f"Converting transfer syntax: {uids.ts_name(original)} -> {uids.ts_name(network_ts)}")
                try:
                    stream, size = loaded.encode(network_ts, options)
                except ConditionError as exc:
                    NET.error(f"No conversion to transfer syntax {uids.ts_name(network_ts)} possible!")
                    return exc.condition, current
                current = network_ts
    if pcid == 0:
        NET.error("No presentation context found for sending C-STORE with SOP Class / Transfer Syntax: "
                  f"{uids.class_name_or_uid(sop_class)} / {uids.ts_name(original)}")
        return DIMSE_NOVALIDPRESENTATIONCONTEXTID, current
    if NET.enabled(DEBUG):
        NET.info("Sending C-STORE Request")
        NET.debug(pdu.dump_outgoing_store(pcid, message_id, sop_class, sop_instance))
    elif NET.enabled(INFO):
        NET.info(f"Sending C-STORE Request (MsgID {message_id}, {uids.modality_code(sop_class)})")
    if ahead is not None and window is None:
        # a data set larger than the socket buffer: the next file is read ahead while the peer drains it
        assoc.while_sending = lambda: ahead.prepare(assoc)
    try:
        status, current = _send_dimse(assoc, pcid, message_id, sop_class, sop_instance, loaded, stream, size,
                                      current, options)
    finally:
        assoc.while_sending = None
    if window is not None:  # (--async-ops) the response is awaited later, with the others outstanding
        if status is not None:
            NET.error(f"Failed sending C-STORE request: {status}")
        else:
            window.sent(message_id, entry)
        return status, current
    return _await_response(assoc, entry, options, ahead, status, current, scu.hooks)


def _prepared_ts(network_ts: str, original: str, status: Condition | None, options) -> str:
    """The transfer syntax the report gives an instance whose PDUs were prepared ahead in ``network_ts``: as the
    normal way has it (converted at the request unless -dn, else once the data set went out)."""
    if network_ts == original or status is None or options.decompress != "never":
        return network_ts
    return original


def _await_response(assoc, entry, options, ahead: _Ahead | None, status: Condition | None, current: str,
                    hooks=None) -> tuple[Condition | None, str]:
    """The rest of DcmSCU::sendSTORERequest after the request was sent (``status``: how sending went)."""
    if status is not None:
        NET.error(f"Failed sending C-STORE request: {status}")
        return status, current
    if ahead is not None:
        ahead.prepare(assoc)
    result = assoc.receive_command(options.dimse_timeout or None)
    if isinstance(result, Condition):
        NET.error(f"Failed receiving DIMSE response: {result}")
        return result, current
    pid, cmd = result
    command_field = cmd.us(0x00000100)
    if command_field == 0x8001:
        if ahead is not None and ahead.prepared is not None:
            ahead.send_early(assoc)
        response_status = cmd.us(0x00000900) or 0
        if NET.enabled(DEBUG):
            NET.info("Received C-STORE Response")
            NET.debug(pdu.dump_incoming_store_rsp(pid, cmd))
        elif NET.enabled(INFO):
            NET.info(f"Received C-STORE Response ({pdu.cstore_status_string(response_status)})")
    else:
        NET.error(f"Expected C-STORE response but received DIMSE command 0x{(command_field or 0):04x}")
        NET.debug(pdu.dump_incoming_other(pid, cmd))
        assoc.note_protocol_error()
        return DIMSE_BADCOMMANDTYPE, current
    entry.status = response_status
    if hooks is not None:
        hooks.response(entry, cmd)
    detail = pdu.dump_status_detail(cmd)
    if detail is not None:
        NET.debug("Response has status detail:\n" + detail)
    return None, current


def _send_dimse(assoc, pcid, message_id, sop_class, sop_instance, loaded, stream, size, current, options):
    """DcmSCU::sendDIMSEMessage / DIMSE_sendMessage: context checks, encoding in the accepted syntax, sending."""
    if not assoc.connected:
        return DIMSE_ILLEGALASSOCIATION, current
    cx = assoc.accepted_context(pcid)
    if cx is None:
        return pdu.ASC_BADPRESENTATIONCONTEXTID, current
    target = cx.transfer_syntax
    if stream is None:
        try:
            stream, size = loaded.encode(target, options)
        except ConditionError:
            NET.warn(f"DIMSE Warning: ({options.calling_aetitle},{options.called_aetitle}): sendMessage: unable to "
                     f"convert dataset from '{uids.ts_name(loaded.original_ts)}' transfer syntax to "
                     f"'{uids.ts_name(target)}'")
            return DIMSE_SENDFAILED, current
    status = assoc.send_store(pcid, message_id, sop_class, sop_instance, stream, size)
    if status is None:
        current = target
    return status, current

