"""DCMTK-style logging (oflog): levels F/E/W/I/D/T, `%P: %m%n` lines on stderr.

Loggers are named like DCMTK's (``dcmtk.apps.dcmsend``, ``dcmtk.dcmnet``, ``dcmtk.dcmdata``).  A message
is split at every newline and each piece is written as its own line with the layout, so a message ending
in ``\\n`` produces a trailing prefix-only line (``D: ``), as oflog does.

The module keeps no dependency on :mod:`logging`; Python's own ``logging`` and ``warnings`` output of the
libraries we use is routed here (see :func:`capture_library_output`).
"""

from __future__ import annotations

import sys

OFF = 60000
FATAL = 50000
ERROR = 40000
WARN = 30000
INFO = 20000
DEBUG = 10000
TRACE = 0

LEVEL_NAMES = {FATAL: "FATAL", ERROR: "ERROR", WARN: "WARN", INFO: "INFO", DEBUG: "DEBUG", TRACE: "TRACE", OFF: "OFF"}


def level_from_name(text: str) -> int | None:
    """Map a level name as accepted by ``--log-level`` / log4cplus (any case) to its number."""
    t = text.strip().upper()
    table = {"FATAL": FATAL, "ERROR": ERROR, "WARN": WARN, "WARNING": WARN, "INFO": INFO, "DEBUG": DEBUG,
             "TRACE": TRACE, "ALL": TRACE, "OFF": OFF}
    return table.get(t)


class Appender:
    """Writes formatted lines somewhere.  ``layout`` maps (level, logger name, one line) -> text."""

    def __init__(self, stream=None, layout=None, threshold: int = TRACE, name: str = ""):
        self.stream = stream
        self.layout = layout or default_layout
        self.threshold = threshold
        self.name = name

    def write(self, level: int, logger: str, message: str) -> None:
        if level < self.threshold:
            return
        stream = self.stream if self.stream is not None else sys.stderr
        out = "".join(self.layout(level, logger, line) for line in message.split("\n"))
        stream.write(out)
        stream.flush()

    def close(self) -> None:
        pass


def default_layout(level: int, logger: str, line: str) -> str:
    return f"{LEVEL_NAMES.get(level, 'TRACE')[0]}: {line}\n"


class Logger:
    __slots__ = ("name", "level", "appenders", "additive", "parent")

    def __init__(self, name: str, parent: Logger | None):
        self.name = name
        self.level: int | None = None
        self.appenders: list[Appender] = []
        self.additive = True
        self.parent = parent

    def effective_level(self) -> int:
        lg: Logger | None = self
        while lg is not None:
            if lg.level is not None:
                return lg.level
            lg = lg.parent
        return WARN

    def enabled(self, level: int) -> bool:
        return level >= self.effective_level() and level < OFF

    def log(self, level: int, message: str) -> None:
        if not self.enabled(level):
            return
        self.force_log(level, message)

    def force_log(self, level: int, message: str) -> None:
        """Write without the level check (DCMTK's forced log, used by ``--arguments``)."""
        lg: Logger | None = self
        while lg is not None:
            for app in lg.appenders:
                app.write(level, self.name, message)
            if not lg.additive:
                break
            lg = lg.parent

    def fatal(self, message: str) -> None:
        self.log(FATAL, message)

    def error(self, message: str) -> None:
        self.log(ERROR, message)

    def warn(self, message: str) -> None:
        self.log(WARN, message)

    def info(self, message: str) -> None:
        self.log(INFO, message)

    def debug(self, message: str) -> None:
        self.log(DEBUG, message)

    def trace(self, message: str) -> None:
        self.log(TRACE, message)


_root = Logger("root", None)
_loggers: dict[str, Logger] = {}


def root() -> Logger:
    return _root


def get_logger(name: str) -> Logger:
    lg = _loggers.get(name)
    if lg is None:
        parent = get_logger(name.rsplit(".", 1)[0]) if "." in name else _root
        lg = Logger(name, parent)
        _loggers[name] = lg
    return lg


def reset() -> None:
    """Back to DCMTK's default set-up: root at WARN, one console appender on stderr."""
    for lg in _loggers.values():
        for app in lg.appenders:
            app.close()
        lg.level = None
        lg.appenders = []
        lg.additive = True
    for app in _root.appenders:
        app.close()
    _root.level = WARN
    _root.appenders = [Appender(name="console")]
    _root.additive = True


def set_level(level: int) -> None:
    _root.level = level


reset()

APP = get_logger("dcmtk.apps.dcmsend")
NET = get_logger("dcmtk.dcmnet")
DATA = get_logger("dcmtk.dcmdata")
