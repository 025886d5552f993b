"""Extension (not in DCMTK): ``--parallel n`` -- up to n associations at once, fed from one work queue.

The transfer list is cut into units (:mod:`dcmsend.units`: whole series by default, or studies, or single
instances) and n worker threads take the units, the largest first (in input order among units of the same size).
Each worker plans and negotiates as dcmsend does (:mod:`dcmsend.plan`: 128 contexts per association, ``+ma``/``-ma``,
``-nip``, the decompression rules; the rounds of :func:`dcmsend.send._run`), and keeps its association for the next
unit as long as every instance of that unit finds a presentation context of the association's round (the same SOP
class with a compatible transfer syntax); otherwise it releases it and negotiates the next one.  With ``-ma`` a
worker negotiates once: units that do not fit its association stay unsent.

Threads, not processes: over a WAN link the latency is the limit, and on loopback the peer's turn-around; the
measurement is in docs/performance.md.  The statuses go into the shared Instance records (each instance belongs to
exactly one unit, so to one worker), the report and summary cover all instances in input order, and the exit code
is dcmsend's for the whole run: the first fatal condition of any worker (then all workers stop: the failing one
aborts its association as dcmsend does, the others release theirs after the instance in hand), else 0.  One
exception: a worker that cannot negotiate while another worker has an association (a peer that accepts fewer
associations at once than n) logs a warning, gives its unit back to the queue and ends.

Log lines of a worker start with ``[wW:aA] `` (worker W, association A; A is the number in the report's Association
field); SIGINT/SIGTERM abort every association at once.
"""

from __future__ import annotations

import threading

from dcmsend import log, plan
from dcmsend.exitcodes import (
    CANNOT_ADD_PRESENTATION_CONTEXT,
    CANNOT_INITIALIZE_NETWORK,
    CANNOT_NEGOTIATE_ASSOCIATION,
    INTERNAL_ERROR,
    NO_ERROR,
)
from dcmsend.log import APP
from dcmsend.pdu import NET_EC_NO_ACCEPTABLE_PRESENTATION_CONTEXTS
from dcmsend.units import make_units

BACKED_OFF = -1  # (_rounds: the worker gave its unit back and ends)


class WorkerState(plan.TransferState):
    """A worker's transfer list (the instances of the units it took, in the order it took them)."""

    __slots__ = ("stop",)
    stop: threading.Event


class _Run:
    """What the workers share."""

    def __init__(self, entries: list, units: list[list[int]], options):
        self.entries = entries
        self.units: list[list[int] | None] = list(units)
        self.options = options
        self.lock = threading.Lock()
        self.next_unit = 0
        self.associations = 0
        self.contexts = 0
        self.stop = threading.Event()
        self.code = NO_ERROR
        self.condition = None  # the condition that ended the run (for dcmsend.runner's --retry)
        self.error: BaseException | None = None  # a worker's unexpected exception: raised again in the main thread
        self.scus: list = []
        self.returned: list[list] = []  # units given back by a worker that could not negotiate (see back_off)
        # workers that negotiated an association and may still take units (a unit given back goes to them)
        self.working: set[int] = set()
        self.negotiating: set[int] = set()  # workers waiting for the peer's answer to their A-ASSOCIATE-RQ
        self.changed = threading.Condition(self.lock)

    def take_unit(self, index: int) -> list | None:
        with self.lock:
            if self.stop.is_set():
                return None
            if self.returned:
                return self.returned.pop(0)
            if self.next_unit >= len(self.units):
                self.working.discard(index)  # (no unit can be given back to this worker any more)
                return None
            unit = self.units[self.next_unit] or []
            self.units[self.next_unit] = None  # (taken: the worker's list holds the instances now)
            self.next_unit += 1
        return [self.entries[i] for i in unit]

    def new_association(self) -> int:
        with self.lock:
            self.associations += 1
            return self.associations

    def back_off(self, index: int, entries: list) -> bool:
        """A worker could not negotiate: if another one has an association, give ``entries`` (the instances not
        yet sent of its unit) back to the queue and let the worker end (the peer may accept fewer associations at
        once than --parallel); False: the failure counts (no other association to go on with)."""
        with self.changed:
            # (while others still wait for their answer, wait for it too: one of them may get an association)
            while not (self.working - {index}) and (self.negotiating - {index}) and not self.stop.is_set():
                self.changed.wait(0.5)
            if not (self.working - {index}) or self.stop.is_set():
                return False
            for entry in entries:
                entry.context_id = 0
            if entries:
                self.returned.append(entries)
            return True

    def fail(self, code: int, condition=None) -> int:
        with self.lock:
            if self.code == NO_ERROR:
                self.code = code
                self.condition = condition
        self.stop.set()
        return code


def transfer(options, entries: list) -> int:
    """``--parallel n`` with n > 1: run the workers; return dcmsend's exit code for the whole run."""
    from dcmsend.send import _finish

    state = plan.TransferState(entries)
    code, _condition = rounds(options, state, None)
    if code is not None:
        return code
    return _finish(state, options)


def rounds(options, state, hooks) -> tuple[int | None, object]:
    """The association rounds of the workers over ``state.entries`` (the entry point dcmsend.runner calls for the
    other extensions, with its observer as ``hooks``): (None, None) at their normal end, else (the exit code, the
    condition that ended them); ``state``'s association and context counters are the run's."""
    from dcmsend.send import _Scu

    entries = state.entries
    if not entries:
        return None, None
    if options.parallel_unit not in ("study", "series", "instance"):  # (the command line checks it; the API may not)
        raise ValueError(f"parallel_unit must be 'study', 'series' or 'instance', not {options.parallel_unit!r}")
    if not options.multi_associations:
        # -ma (--single-association): one association planned over the whole transfer list, as dcmsend has it; a
        # worker's association planned over its first unit would leave later units of other SOP classes unsent
        return _single_association(options, state, hooks)
    units = make_units(entries, options.parallel_unit)
    # the largest units first (in input order among equals): the run ends sooner when one series is much larger than
    # the others (the longest-processing-time rule); the report keeps the input order
    units.sort(key=len, reverse=True)
    count = min(options.parallel, 64, len(units))
    run = _Run(entries, units, options)
    run.associations = state.association_counter  # (a retry of dcmsend.runner goes on counting)
    APP.debug(f"sending {len(entries)} SOP instances in {len(units)} units of work ({options.parallel_unit}) over up "
              f"to {count} associations at once")
    run.scus = [_Scu(options, hooks) for _ in range(count)]
    threads = [threading.Thread(target=_worker, args=(run, i), name=f"dcmsend-w{i + 1}", daemon=True)
               for i in range(count)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            while t.is_alive():
                t.join(0.25)  # (with a timeout: the main thread stays able to take SIGINT/SIGTERM)
        if run.error is not None:
            raise run.error
    except BaseException as exc:
        # interrupted (cli.Interrupted) or an internal error in the main thread: say why, abort every association
        # at once, let the workers end silently
        announce = getattr(exc, "announce", None)
        if callable(announce):
            announce()
        run.stop.set()
        for t in threads:
            if t.ident is not None:
                log.THREAD_TAGS[t.ident] = None
        for scu in run.scus:
            try:
                scu.abort_now()
            except Exception:
                pass
        for t in threads:
            t.join(2.0)
        raise
    finally:
        for t in threads:
            if not t.is_alive() and t.ident is not None:  # (a worker still ending after an interrupt stays silent)
                log.THREAD_TAGS.pop(t.ident, None)
        state.association_counter = run.associations
        state.context_counter += run.contexts
        state.current = len(entries)
    if run.code != NO_ERROR:
        return run.code, run.condition
    return None, None


def _single_association(options, state, hooks) -> tuple[int | None, object]:
    from dcmsend.send import _rounds as single_rounds
    from dcmsend.send import _Scu, guarded

    scu = _Scu(options, hooks)
    code = guarded(scu, lambda: single_rounds(scu, state, options))
    return code, (scu.last_condition if code is not None else None)


def _worker(run: _Run, index: int) -> None:
    ident = threading.get_ident()
    log.THREAD_TAGS[ident] = f"[w{index + 1}] "
    scu = run.scus[index]
    state = WorkerState([])
    state.stop = run.stop
    try:
        code = _work(run, index, state, scu)
        if code != NO_ERROR:
            run.fail(code, scu.last_condition)
    except Exception as exc:
        # stop the others; rounds() raises it again in the main thread, so that it ends the run as it would with one
        # association (the command line: "F: internal error: ...", exit 100; the API: the caller gets it, e.g. an
        # exception of its on_instance callback)
        with run.lock:
            if run.error is None:
                run.error = exc
        run.fail(INTERNAL_ERROR)
    except BaseException:
        run.fail(INTERNAL_ERROR)
        raise
    finally:
        with run.lock:
            run.contexts += state.context_counter
            run.working.discard(index)
        try:
            if log.THREAD_TAGS.get(ident, "") is not None:
                scu.shutdown()  # (DcmSCU's destructor: aborts an association still open after a failure)
        except Exception:
            pass


def _work(run: _Run, index: int, state: WorkerState, scu) -> int:
    from dcmsend.send import send_failed, send_instances

    options = run.options
    round_first = -1  # where the round of the open association starts in state.entries (-1: none open)
    negotiated = 0
    while not run.stop.is_set():
        unit = run.take_unit(index)
        if unit is None:
            break
        base = len(state.entries)
        state.entries.extend(unit)
        state.current = base
        if scu.connected and round_first >= 0:
            if _fits(state.entries, round_first, base):
                APP.debug(f"continuing on association #{state.association_counter} with the next unit of work")
                status = send_instances(scu, state, options)
                if status is not None:
                    return send_failed(scu, status)
                continue
            scu.release()
            round_first = -1
        if negotiated and not options.multi_associations:
            APP.debug("the unit of work does not fit the single association (option --single-association used): "
                      f"{len(unit)} SOP instances are not sent")
            continue
        code, round_first, count = _rounds(run, index, state, scu)
        negotiated += count
        if code == BACKED_OFF:
            return NO_ERROR
        if code != NO_ERROR:
            return code
    if scu.connected:
        scu.release()
    return NO_ERROR


def _fits(entries: list, first: int, base: int) -> bool:
    """Whether every instance from ``base`` on can use a presentation context of the round that starts at ``first``
    (the re-use rule of the planning); if so their context IDs are set."""
    for j in range(base, len(entries)):
        entries[j].context_id = 0
        reused = plan._reuse(entries, first, j)
        if not reused:
            for k in range(base, j):
                entries[k].context_id = 0
            return False
        entries[j].context_id = reused
    return True


def _rounds(run: _Run, index: int, state: WorkerState, scu) -> tuple[int, int, int]:
    """The association rounds for the instances from ``state.current`` on (:func:`dcmsend.send._run`); the last
    association stays open.  Returns (exit code, the open round's first index or -1, associations negotiated)."""
    from dcmsend.send import send_failed, send_instances, start_association

    options = run.options
    multi = options.multi_associations
    negotiated = 0
    while not run.stop.is_set():
        first = state.current
        status = plan.add_presentation_contexts(state, options)
        if status is not None:
            if status != plan.NO_PRESENTATION_CONTEXTS_DEFINED:
                APP.error(f"cannot add presentation contexts: {status.text}")
                scu.last_condition = status
                return CANNOT_ADD_PRESENTATION_CONTEXT, -1, negotiated
            break
        if scu.connected:
            scu.release()
        if negotiated and not multi:
            for entry in state.entries[first:]:
                if not entry.request_sent:
                    entry.context_id = 0
            break
        number = run.new_association()
        log.THREAD_TAGS[threading.get_ident()] = f"[w{index + 1}:a{number}] "
        if start_association(scu, state.contexts, number, multi) is not None:
            return CANNOT_INITIALIZE_NETWORK, -1, negotiated
        with run.lock:
            run.negotiating.add(index)
        try:
            status = scu.negotiate()
        finally:
            with run.changed:
                run.negotiating.discard(index)
                if status is None:
                    run.working.add(index)
                run.changed.notify_all()
        negotiated += 1
        if status == NET_EC_NO_ACCEPTABLE_PRESENTATION_CONTEXTS:
            plan.mark_all_rejected(state)
        state.association_counter = number
        if scu.hooks is not None:
            scu.hooks.association_negotiated(number, scu.assoc, status)
        if status == NET_EC_NO_ACCEPTABLE_PRESENTATION_CONTEXTS:
            APP.error(f"cannot negotiate network association: {status.text}")
            remaining = sum(1 for e in state.entries if not e.request_sent)
            if remaining > 0:
                APP.warn(f"trying to continue with a new association in order to send the remaining {remaining}"
                         " SOP instances")
            continue
        if status is not None:
            if run.back_off(index, [e for e in state.entries[first:] if not e.request_sent]):
                APP.warn(f"cannot negotiate network association: {status.text}, going on with the other "
                         "associations")
                return BACKED_OFF, -1, negotiated
            APP.fatal(f"cannot negotiate network association: {status.text}")
            scu.last_condition = status
            return CANNOT_NEGOTIATE_ASSOCIATION, -1, negotiated
        APP.info("sending SOP instances ...")
        status = send_instances(scu, state, options)
        if status is not None:
            return send_failed(scu, status), -1, negotiated
        if state.current >= len(state.entries):
            return NO_ERROR, first, negotiated
    return NO_ERROR, -1, negotiated


