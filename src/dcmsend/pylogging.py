"""dcmsend's messages through Python's standard :mod:`logging`, for library users (the Python API).

While :func:`library_logging` is active, every message of dcmsend's DCMTK-style loggers (:mod:`dcmsend.log`) becomes
a :class:`logging.LogRecord` of the standard logger with the same name (``dcmtk.apps.dcmsend``, ``dcmtk.dcmnet``,
``dcmtk.dcmdata``; all below ``dcmtk``), at the matching level (FATAL -> CRITICAL, ERROR, WARN -> WARNING, INFO,
DEBUG, TRACE -> 5), one record per message (a multi-line message stays one record), with the attribute
``dcmsend_send`` (the number of the :func:`dcmsend.send` call: two sends in two threads are told apart by it and
by the records' ``threadName``).  A host application captures, filters and routes them like any other records.

Which messages dcmsend produces at all follows the standard loggers' effective levels when the send starts
(``logging.getLogger("dcmtk").setLevel(logging.INFO)`` for the verbose lines); warnings and errors are always
produced, as the send's :class:`dcmsend.Result` carries them.

The command line never uses this module: its output stays DCMTK's, byte for byte (this module imports
:mod:`logging`, which the command must not).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from dcmsend import log

TRACE = 5  # a standard-logging level below DEBUG for DCMTK's TRACE
_TO_STD = {log.FATAL: logging.CRITICAL, log.ERROR: logging.ERROR, log.WARN: logging.WARNING, log.INFO: logging.INFO,
           log.DEBUG: logging.DEBUG, log.TRACE: TRACE}
LOGGER_NAMES = ("dcmtk.apps.dcmsend", "dcmtk.dcmnet", "dcmtk.dcmdata")

if logging.getLevelName(TRACE) == f"Level {TRACE}":
    logging.addLevelName(TRACE, "TRACE")


def std_level(level: int) -> int:
    """Our level -> the standard logging level."""
    for ours in (log.FATAL, log.ERROR, log.WARN, log.INFO, log.DEBUG):
        if level >= ours:
            return _TO_STD[ours]
    return TRACE


def our_level(std: int) -> int:
    """The standard logging level -> ours (the lowest of ours that the standard level lets through)."""
    for ours in (log.TRACE, log.DEBUG, log.INFO, log.WARN, log.ERROR, log.FATAL):
        if _TO_STD[ours] >= std:
            return ours
    return log.OFF


class Collector:
    """What one send's :class:`dcmsend.Result` gets: the texts of its warnings and errors (fatal included)."""

    __slots__ = ("number", "errors", "warnings")

    def __init__(self, number: int) -> None:
        self.number = number
        self.errors: list[str] = []
        self.warnings: list[str] = []


_local = threading.local()
_lock = threading.Lock()
_active = 0
_saved: object = None
_counter = 0


_collectors: list[Collector] = []  # of the sends running now


def current() -> Collector | None:
    """The collector of the send running in this thread; in a thread of no send's own (a worker a send started),
    the one send running now, if there is exactly one (None: none)."""
    collector = getattr(_local, "collector", None)
    if collector is None and len(_collectors) == 1:
        return _collectors[0]
    return collector


class StdlibAppender(log.Appender):
    """Forwards dcmsend's messages to the standard loggers of the same names and to the send's collector."""

    def write(self, level: int, logger: str, message: str) -> None:
        text = message[:-1] if message.endswith("\n") else message
        collector = current()
        if collector is not None:
            if level >= log.ERROR:
                collector.errors.append(text)
            elif level >= log.WARN:
                collector.warnings.append(text)
        std = logging.getLogger(logger)
        level_std = std_level(level)
        if std.isEnabledFor(level_std):
            extra = {"dcmsend_send": collector.number if collector is not None else 0}
            std.log(level_std, "%s", text, extra=extra, stacklevel=2)


def _install() -> object:
    """Route our loggers to the standard ones; return what :func:`_restore` needs to undo it."""
    loggers = [log.root(), *(log.get_logger(name) for name in LOGGER_NAMES)]
    saved = log.save_state()
    for lg in loggers:
        lg.appenders = []
        lg.additive = True
    log.root().appenders = [StdlibAppender(name="logging")]
    log.root().level = log.WARN
    for name in LOGGER_NAMES:
        effective = logging.getLogger(name).getEffectiveLevel()
        # warnings and errors always (the Result carries them), more when the standard logger wants more
        log.get_logger(name).level = min(our_level(effective), log.WARN)
    return saved


@contextmanager
def library_logging() -> Iterator[Collector]:
    """For the duration of one send in this thread: dcmsend's messages go to the standard logging module and to the
    returned :class:`Collector`.  Sends in several threads at once share the routing (set up by the first, undone
    by the last); each has its own collector."""
    global _active, _saved, _counter
    with _lock:
        _counter += 1
        collector = Collector(_counter)
        if _active == 0:
            _saved = _install()
        _active += 1
        _collectors.append(collector)
    previous = getattr(_local, "collector", None)
    _local.collector = collector
    try:
        yield collector
    finally:
        _local.collector = previous
        with _lock:
            _collectors.remove(collector)
            _active -= 1
            if _active == 0:
                log.restore_state(_saved)
                _saved = None
