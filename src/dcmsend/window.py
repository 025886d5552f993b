"""Extension (not in DCMTK): sending with an asynchronous operations window (``--async-ops``).

When the peer grants a window of more than one outstanding operation in its A-ASSOCIATE-AC (PS3.7 D.3.3.3), the
instances of a round are sent as in :func:`dcmsend.send._send_instances` (the same checks, conversions, log lines
and per-instance bookkeeping), but up to ``window`` C-STORE requests stay outstanding: the responses are matched to
their requests by Message ID Being Responded To, in whatever order they come, and each request has its own DIMSE
timeout (``-td``, counted from the moment it was sent).

Differences from the one-at-a-time loop (listed in docs/conformance.md): a failure to receive a response (timeout,
the peer aborting, a response that matches no outstanding request) ends the sending on this association whatever
``--no-halt`` says, since the outstanding requests can no longer be told apart; they stay "not sent" (no response).
"""

from __future__ import annotations

import time
from typing import Any

from dcmsend import convert, pdu
from dcmsend.collect import STATUS_NO_ACCEPTABLE_CONTEXT
from dcmsend.exitcodes import Condition, ConditionError
from dcmsend.log import DEBUG, INFO, NET
from dcmsend.pdu import DIMSE_BADCOMMANDTYPE, DIMSE_ILLEGALASSOCIATION, DIMSE_NOVALIDPRESENTATIONCONTEXTID

# Not a DCMTK condition: a C-STORE response whose Message ID Being Responded To matches no outstanding request.
UNEXPECTED_RESPONSE = Condition(6, 0x0FFE, "DIMSE: Response to an unknown request")


class Window:
    """The outstanding C-STORE requests of one association: Message ID -> (entry, deadline)."""

    __slots__ = ("assoc", "timeout", "outstanding", "hooks", "started")

    def __init__(self, assoc, dimse_timeout: int | None, hooks=None):
        self.assoc = assoc
        self.timeout = dimse_timeout or None
        self.outstanding: dict[int, tuple[Any, float | None]] = {}
        self.hooks = hooks  # the extensions' observer (see dcmsend.send.transfer), or None
        self.started: dict[int, float] = {}  # id(entry) -> when its sending began (for the observer)

    def sent(self, message_id: int, entry) -> None:
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        self.outstanding[message_id] = (entry, deadline)

    def done(self, entry, condition) -> None:
        """The observer's ``instance_done`` for an instance (once: when its response came, or it failed)."""
        if self.hooks is not None:
            started = self.started.pop(id(entry), None)
            self.hooks.instance_done(entry, condition, 0.0 if started is None else time.perf_counter() - started)

    def failed(self, condition) -> None:
        """The sending ended: the requests still outstanding will get no response."""
        for entry, _deadline in self.outstanding.values():
            self.done(entry, condition)
        self.outstanding.clear()

    def receive_one(self) -> Condition | None:
        """Wait for the next response (at most until the earliest outstanding request's DIMSE timeout) and account
        it to its request; None, or the condition that ends the sending."""
        wait = None
        if self.timeout is not None:
            earliest = min(deadline or 0.0 for _entry, deadline in self.outstanding.values())
            wait = max(0.0, earliest - time.monotonic())
        result = self.assoc.receive_command(wait)
        if isinstance(result, Condition):
            NET.error(f"Failed receiving DIMSE response: {result}")
            return result
        pid, cmd = result
        command_field = cmd.us(0x00000100)
        if command_field != 0x8001:
            NET.error(f"Expected C-STORE response but received DIMSE command 0x{(command_field or 0):04x}")
            NET.debug(pdu.dump_incoming_other(pid, cmd))
            return DIMSE_BADCOMMANDTYPE
        message_id = cmd.us(0x00000120)
        item = self.outstanding.pop(message_id, None)
        if item is None:
            NET.error(f"Received C-STORE response to Message ID {message_id}, which no outstanding request has")
            return UNEXPECTED_RESPONSE
        entry = item[0]
        response_status = cmd.us(0x00000900) or 0
        if NET.enabled(DEBUG):
            NET.info("Received C-STORE Response")
            NET.debug(pdu.dump_incoming_store_rsp(pid, cmd))
        elif NET.enabled(INFO):
            NET.info(f"Received C-STORE Response ({pdu.cstore_status_string(response_status)})")
        if self.hooks is not None:
            self.hooks.response(entry, cmd)
        entry.status = response_status
        entry.request_sent = True
        detail = pdu.dump_status_detail(cmd)
        if detail is not None:
            NET.debug("Response has status detail:\n" + detail)
        self.done(entry, None)
        return None


def send_instances_window(scu, state, options, size: int) -> Condition | None:
    """DcmStorageSCU::sendSOPInstances with up to ``size`` requests outstanding."""
    from dcmsend.send import NESTING_TOO_DEEP, _c_string_path, _store_loaded

    entries = state.entries
    halt = not options.no_halt
    status: Condition | None = None
    window = Window(scu.assoc, options.dimse_timeout, scu.hooks)
    stop = getattr(state, "stop", None)
    while state.current < len(entries) and status is None:
        if stop is not None and stop.is_set():
            break
        entry = entries[state.current]
        if not entry.request_sent:
            if entry.context_id == 0:
                break
            # the responses that have come (also keeps them from piling up in the socket while we write), then room
            # in the window
            while window.outstanding and (len(window.outstanding) >= size or not scu.assoc._peer_quiet()):
                status = window.receive_one()
                if status is not None:
                    window.failed(status)
                    return status
            if window.hooks is not None:
                window.started[id(entry)] = time.perf_counter()
            if NET.enabled(DEBUG):
                NET.debug(f"sending SOP instance from file: {entry.path}")
            loaded = None
            try:
                loaded = convert.load(entry if "\0" not in entry.path else _c_string_path(entry))
            except ConditionError as exc:
                status = exc.condition
                NET.error(f"cannot send SOP instance from file: {entry.path}: {status.text}")
            except RecursionError:
                status = NESTING_TOO_DEEP
                NET.error(f"cannot send SOP instance from file: {entry.path}: {status.text}")
            if loaded is not None:
                try:
                    status = _store_loaded(scu, state, entry, loaded, options, None, window)
                finally:
                    loaded.close()
            if status is not None:
                if status == DIMSE_NOVALIDPRESENTATIONCONTEXTID:
                    entry.request_sent = True
                    entry.status = STATUS_NO_ACCEPTABLE_CONTEXT
                window.done(entry, status)
                if not halt and status != DIMSE_ILLEGALASSOCIATION:
                    status = None
        state.current += 1
    # the responses still outstanding
    while window.outstanding and status is None:
        status = window.receive_one()
    if status is not None:
        window.failed(status)
    return status
