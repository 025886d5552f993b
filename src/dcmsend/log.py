"""DCMTK-style logging (oflog): levels F/E/W/I/D/T, `%P: %m%n` lines on stderr.

Loggers are named like DCMTK's (``dcmtk.apps.dcmsend``, ``dcmtk.dcmnet``, ``dcmtk.dcmdata``).  A message
is split at every newline and each piece is written as its own line with the layout, so a message ending
in ``\\n`` produces a trailing prefix-only line (``D: ``), as oflog does.

``--log-config`` files (log4cplus property files) are supported: :func:`read_config_file` reads and checks one the
way ``OFLog::configureFromCommandLine`` does, :func:`configure_from_properties` applies it like log4cplus's
``PropertyConfigurator`` (root/named loggers, additivity, Console/File/RollingFile/DailyRollingFile/Null appenders,
Threshold, filters, Simple/TTCC/Pattern layouts, ``${var}`` substitution).  Problems inside the file are reported
the way log4cplus's internal logger does (``log4cplus:ERROR ...`` on stderr).

The module keeps no dependency on :mod:`logging`; Python's own ``logging`` and ``warnings`` output of the
libraries we use is routed here (see :func:`capture_library_output`).
"""

from __future__ import annotations

import os
import sys
import time
from _thread import get_ident as _get_ident

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import IO

NOT_SET = -1
OFF = 60000
FATAL = 50000
ERROR = 40000
WARN = 30000
INFO = 20000
DEBUG = 10000
TRACE = 0
ALL = TRACE

LEVEL_NAMES = {FATAL: "FATAL", ERROR: "ERROR", WARN: "WARN", INFO: "INFO", DEBUG: "DEBUG", TRACE: "TRACE", OFF: "OFF",
               NOT_SET: "NOTSET"}
_FROM_NAME = {"OFF": OFF, "FATAL": FATAL, "ERROR": ERROR, "WARN": WARN, "INFO": INFO, "DEBUG": DEBUG, "TRACE": TRACE,
              "ALL": ALL}

_START = time.time()


def level_from_name(text: str) -> int | None:
    """log4cplus ``LogLevelManager::fromString``: exact level names, any case (``off`` and ``all`` included)."""
    return _FROM_NAME.get(text.upper())


def level_name(level: int) -> str:
    return LEVEL_NAMES.get(level, "UNKNOWN")


def _encode(text: str) -> bytes:
    return text.encode(sys.getfilesystemencoding(), "surrogateescape")


# Set by the command-line entry point: a console write into a pipe whose reader has gone ends the process by
# SIGPIPE, as DCMTK's does (``dcmsend ... 2>&1 | head``: exit status 141); a Python caller's process is never
# ended that way
BROKEN_PIPE_KILLS = False


# Called with the stream before every console write (--progress sets it to wipe its status line first).
before_console_write: Callable[[object], None] | None = None


def write_text(stream, text: str) -> None:
    """Write to a console stream byte-exactly (undecodable argument bytes are kept as surrogates).

    A failing write is ignored, as DCMTK's console writes are (a full disk, a closed descriptor: the program goes on,
    its exit status unchanged), except a broken pipe (see BROKEN_PIPE_KILLS).  The standard streams are written
    unbuffered, so that nothing unwritten is left for Python to fail on at exit."""
    if stream is None:  # (a standard stream that was closed when Python started)
        return
    if before_console_write is not None:
        before_console_write(stream)
    try:
        buf = getattr(stream, "buffer", None)
        if buf is None:
            stream.write(text)
            stream.flush()
            return
        stream.flush()
        data = _encode(text)
        if stream is sys.stdout or stream is sys.stderr:
            try:
                fd = stream.fileno()
            except (OSError, ValueError, AttributeError):
                fd = None
            if fd is not None:
                view = memoryview(data)
                while view:
                    view = view[os.write(fd, view):]
                return
        buf.write(data)
        buf.flush()
    except BrokenPipeError:
        if BROKEN_PIPE_KILLS:
            import _signal as signal

            signal.signal(signal.SIGPIPE, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGPIPE)
    except (OSError, ValueError):
        pass


# ---------------------------------------------------------------------------------------------------------------
# log4cplus internal logging (LogLog): "log4cplus:ERROR ..." on stderr
# ---------------------------------------------------------------------------------------------------------------

_loglog_quiet: bool | None = None


def set_loglog_quiet(quiet: bool) -> None:
    global _loglog_quiet
    _loglog_quiet = quiet


def _loglog_is_quiet() -> bool:
    if _loglog_quiet is None:
        ok, value = _parse_bool(os.environ.get("DCMTK_LOG4CPLUS_LOGLOG_QUIETMODE", ""))
        return ok and value
    return _loglog_quiet


def loglog_error(message: str) -> None:
    if not _loglog_is_quiet():
        write_text(sys.stderr, "log4cplus:ERROR " + message + "\n")


def loglog_warn(message: str) -> None:
    if not _loglog_is_quiet():
        write_text(sys.stderr, "log4cplus:WARN " + message + "\n")


# ---------------------------------------------------------------------------------------------------------------
# Layouts
# ---------------------------------------------------------------------------------------------------------------


class Event:
    __slots__ = ("level", "logger", "message", "time")

    def __init__(self, level: int, logger: str, message: str, when: float | None = None):
        self.level = level
        self.logger = logger
        self.message = message
        self.time = time.time() if when is None else when


def default_layout(level: int, logger: str, line: str) -> str:
    """The default DCMTK pattern ``%P: %m%n`` for one line."""
    return f"{LEVEL_NAMES.get(level, 'TRACE')[0]}: {line}\n"


class LineLayout:
    """Adapter for a per-line layout function ``(level, logger, line) -> text`` (message split at newlines)."""

    def __init__(self, func):
        self.func = func

    def format(self, event: Event) -> str:
        return "".join(self.func(event.level, event.logger, line) for line in event.message.split("\n"))


class SimpleLayout:
    def format(self, event: Event) -> str:
        return f"{level_name(event.level)} - {event.message}\n"


class TTCCLayout:
    def __init__(self, date_format: str = "", use_gmtime: bool = False):
        self.date_format = date_format
        self.use_gmtime = use_gmtime

    def format(self, event: Event) -> str:
        if self.date_format:
            stamp = format_time(self.date_format, event.time, self.use_gmtime)
        else:
            stamp = str(int((event.time - _START) * 1000))
        return (f"{stamp} [{_thread_id()}] {level_name(event.level)} {event.logger} <> - {event.message}\n")


def _thread_id() -> str:
    import threading

    return str(threading.get_ident())


_hostname_cache: dict[bool, str] = {}


def hostname(fqdn: bool = False) -> str:
    if fqdn not in _hostname_cache:
        import socket

        name = socket.gethostname()
        if fqdn:
            try:
                name = socket.getfqdn(name)
            except OSError:
                pass
        _hostname_cache[fqdn] = name
    return _hostname_cache[fqdn]


def format_time(fmt: str, when: float, use_gmtime: bool = False) -> str:
    """log4cplus ``Time::getFormattedTime``: strftime plus %q (milliseconds) and %Q (fractional milliseconds)."""
    usec = int(round((when - int(when)) * 1_000_000))
    if usec >= 1_000_000:
        usec = 999_999
    if "%q" in fmt or "%Q" in fmt:
        out, i = [], 0
        while i < len(fmt):
            c = fmt[i]
            if c == "%" and i + 1 < len(fmt):
                n = fmt[i + 1]
                if n == "q":
                    out.append(f"{usec // 1000:03d}")
                elif n == "Q":
                    out.append(f"{usec // 1000:03d}.{usec % 1000:03d}")
                else:
                    out.append(c + n)
                i += 2
                continue
            out.append(c)
            i += 1
        fmt = "".join(out)
    tm = time.gmtime(when) if use_gmtime else time.localtime(when)
    return time.strftime(fmt, tm) if fmt else ""


class _Conv:
    """One pattern converter with log4cplus's min/max/left-align formatting."""

    __slots__ = ("func", "min_len", "max_len", "left")

    def __init__(self, func, min_len: int = -1, max_len: int = 0x7FFFFFFF, left: bool = False):
        self.func = func
        self.min_len = min_len
        self.max_len = max_len
        self.left = left

    def apply(self, event: Event) -> str:
        s = self.func(event)
        n = len(s)
        if n > self.max_len:
            return s[n - self.max_len:]
        if n < self.min_len:
            pad = " " * (self.min_len - n)
            return s + pad if self.left else pad + s
        return s


def _logger_precision(name: str, precision: int) -> str:
    if precision <= 0:
        return name
    end = len(name) - 1
    for _ in range(precision):
        end = name.rfind(".", 0, end) if end > 0 else -1
        if end == -1:
            return name
    return name[end + 1:]


def _conv_logger(precision: int, e: Event) -> str:
    return _logger_precision(e.logger, precision)


def _conv_date(fmt: str, gmt: bool, e: Event) -> str:
    return format_time(fmt, e.time, gmt)


def _conv_empty(e: Event) -> str:
    return ""


_SIMPLE_CONVERTERS = {
    "h": lambda e: hostname(False),
    "H": lambda e: hostname(True),
    "i": lambda e: str(os.getpid()),
    "m": lambda e: e.message,
    "n": lambda e: "\n",
    "p": lambda e: level_name(e.level),
    "P": lambda e: level_name(e.level)[:1],
    "r": lambda e: str(int((e.time - _START) * 1000)),
    "t": lambda e: _thread_id(),
    "T": lambda e: _thread_id(),
    "b": _conv_empty,  # source file/line/function: not available in Python
    "F": _conv_empty,
    "M": _conv_empty,
    "L": _conv_empty,
    "x": _conv_empty,  # NDC / MDC: not used
    "X": _conv_empty,
    "l": lambda e: ":",
}


class PatternLayout:
    """log4cplus/oflog ``PatternLayout`` (with DCMTK's ``%P``); each line of a message is formatted separately."""

    def __init__(self, pattern: str, format_each_line: bool = True):
        self.pattern = pattern
        self.format_each_line = format_each_line
        self.converters = self._parse(pattern)
        if not self.converters:
            loglog_warn("PatternLayout pattern is empty.  Using default...")
            self.converters = [_Conv(lambda e: e.message)]
        self._fast = pattern == "%P: %m%n"

    @staticmethod
    def _parse(pattern: str) -> list[_Conv]:
        LITERAL, CONVERTER, MIN, DOT, MAX = range(5)
        convs: list[_Conv] = []
        state = LITERAL
        pos = 0
        lit = ""
        info: dict = {"min": -1, "max": 0x7FFFFFFF, "left": False}
        n = len(pattern)

        def extract_option() -> str:
            nonlocal pos
            if pos < n and pattern[pos] == "{":
                end = pattern.find("}", pos)
                if end != -1:
                    r = pattern[pos + 1:end]
                    pos = end + 1
                    return r
                loglog_error(f"No matching '}}' found in conversion pattern string \"{pattern}\"")
                pos = n
            return ""

        def finalize(c: str) -> None:
            nonlocal lit, state
            func = _SIMPLE_CONVERTERS.get(c)
            if c == "c":
                opt = extract_option()
                precision = _atoi(opt) if opt else 0
                func = lambda event, precision=precision: _conv_logger(precision, event)  # noqa: E731
            elif c in "dD":
                fmt, utc = extract_option() or "%Y-%m-%d %H:%M:%S", c == "d"
                func = lambda event, fmt=fmt, utc=utc: _conv_date(fmt, utc, event)  # noqa: E731
            elif c == "X":
                extract_option()
            if func is None:
                loglog_error(f"Unexpected char [{c}] at position {pos} in conversion pattern.")
                text = lit
                convs.append(_Conv(lambda e, t=text: t))
            else:
                convs.append(_Conv(func, info["min"], info["max"], info["left"]))
            lit = ""
            state = LITERAL
            info.update(min=-1, max=0x7FFFFFFF, left=False)

        while pos < n:
            c = pattern[pos]
            pos += 1
            if state == LITERAL:
                if pos == n:
                    lit += c
                    continue
                if c == "%":
                    if pattern[pos] == "%":
                        lit += c
                        pos += 1
                    else:
                        if lit:
                            convs.append(_Conv(lambda e, t=lit: t))
                        lit = c
                        state = CONVERTER
                        info.update(min=-1, max=0x7FFFFFFF, left=False)
                else:
                    lit += c
            elif state == CONVERTER:
                lit += c
                if c == "-":
                    info["left"] = True
                elif c == ".":
                    state = DOT
                elif "0" <= c <= "9":
                    info["min"] = ord(c) - 48
                    state = MIN
                else:
                    finalize(c)
            elif state == MIN:
                lit += c
                if "0" <= c <= "9":
                    info["min"] = info["min"] * 10 + ord(c) - 48
                elif c == ".":
                    state = DOT
                else:
                    finalize(c)
            elif state == DOT:
                lit += c
                if "0" <= c <= "9":
                    info["max"] = ord(c) - 48
                    state = MAX
                else:
                    loglog_error(f"Error occurred in position {pos}.\n Was expecting digit, instead got char \"{c}\".")
                    state = LITERAL
            else:  # MAX
                lit += c
                if "0" <= c <= "9":
                    info["max"] = info["max"] * 10 + ord(c) - 48
                else:
                    finalize(c)
                    state = LITERAL
        if lit:
            convs.append(_Conv(lambda e, t=lit: t))
        return convs

    def format(self, event: Event) -> str:
        msg = event.message
        if self._fast:
            p = LEVEL_NAMES.get(event.level, "UNKNOWN")[0]
            return "".join(f"{p}: {line}\n" for line in msg.split("\n"))
        if self.format_each_line and "\n" in msg:
            return "".join(self._format(Event(event.level, event.logger, line, event.time))
                           for line in msg.split("\n"))
        return self._format(event)

    def _format(self, event: Event) -> str:
        return "".join(c.apply(event) for c in self.converters)


DEFAULT_PATTERN = "%P: %m%n"


# ---------------------------------------------------------------------------------------------------------------
# Filters
# ---------------------------------------------------------------------------------------------------------------

ACCEPT, NEUTRAL, DENY = 1, 0, -1


class Filter:
    def decide(self, event: Event) -> int:  # pragma: no cover - interface
        return NEUTRAL


class DenyAllFilter(Filter):
    def decide(self, event: Event) -> int:
        return DENY


class LogLevelMatchFilter(Filter):
    def __init__(self, level: int = NOT_SET, accept: bool = True):
        self.level = level
        self.accept = accept

    def decide(self, event: Event) -> int:
        if self.level == NOT_SET or event.level != self.level:
            return NEUTRAL
        return ACCEPT if self.accept else DENY


class LogLevelRangeFilter(Filter):
    def __init__(self, low: int = NOT_SET, high: int = NOT_SET, accept: bool = True):
        self.low = low
        self.high = high
        self.accept = accept

    def decide(self, event: Event) -> int:
        if self.low != NOT_SET and event.level < self.low:
            return DENY
        if self.high != NOT_SET and event.level > self.high:
            return DENY
        return ACCEPT if self.accept else NEUTRAL


class StringMatchFilter(Filter):
    def __init__(self, text: str = "", accept: bool = True):
        self.text = text
        self.accept = accept

    def decide(self, event: Event) -> int:
        if not self.text or not event.message or self.text not in event.message:
            return NEUTRAL
        return ACCEPT if self.accept else DENY


# ---------------------------------------------------------------------------------------------------------------
# Appenders
# ---------------------------------------------------------------------------------------------------------------


class Appender:
    """Writes formatted events somewhere (default: a console stream, stderr when ``stream`` is None).

    ``layout`` is a layout object (``.format(event)``) or a per-line function ``(level, logger, line) -> text``.
    """

    def __init__(self, stream=None, layout=None, threshold: int = TRACE, name: str = "", filters=None):
        self.stream = stream
        if layout is None:
            layout = PatternLayout(DEFAULT_PATTERN)
        elif not hasattr(layout, "format"):
            layout = LineLayout(layout)
        self.layout = layout
        self.threshold = threshold
        self.name = name
        self.filters: list[Filter] = list(filters or [])
        self.use_stdout = False

    def accepts(self, level: int, event: Event | None = None) -> bool:
        if self.threshold != NOT_SET and level < self.threshold:
            return False
        if self.filters and event is not None:
            for f in self.filters:
                r = f.decide(event)
                if r != NEUTRAL:
                    return r == ACCEPT
        return True

    def write(self, level: int, logger: str, message: str) -> None:
        if self.threshold != NOT_SET and level < self.threshold:
            return
        event = Event(level, logger, message)
        if self.filters and not self.accepts(level, event):
            return
        self.append(self.layout.format(event))

    def append(self, text: str) -> None:
        if self.stream is not None:
            stream = self.stream
        else:
            stream = sys.stdout if self.use_stdout else sys.stderr
        write_text(stream, text)

    def close(self) -> None:
        pass


class ConsoleAppender(Appender):
    """log4cplus ConsoleAppender: stdout unless ``logToStdErr`` is true (stderr is DCMTK's built-in default)."""

    def __init__(self, to_stderr: bool = True, **kw):
        super().__init__(**kw)
        self.use_stdout = not to_stderr


class NullAppender(Appender):
    def append(self, text: str) -> None:
        pass


class FileAppender(Appender):
    def __init__(self, filename: str, append: bool = False, immediate_flush: bool = True, **kw):
        super().__init__(**kw)
        self.filename = filename
        self.immediate_flush = immediate_flush
        self.fh: IO[bytes] | None = None
        self._error_reported = False
        if not filename:
            self._error("Invalid filename")
            return
        self._open("ab" if append else "wb")
        if self.fh is None:
            self._error("Unable to open file: " + filename)

    def _error(self, message: str) -> None:  # log4cplus OnlyOnceErrorHandler
        if not self._error_reported:
            self._error_reported = True
            loglog_error(message)

    def _open(self, mode: str) -> None:
        try:
            self.fh = open(self.filename, mode)
        except OSError:
            self.fh = None

    def append(self, text: str) -> None:
        if self.fh is None:
            self._error("file is not open: " + self.filename)
            return
        self.fh.write(_encode(text))
        if self.immediate_flush:
            self.fh.flush()
        self.after_write()

    def after_write(self) -> None:
        pass

    def close(self) -> None:
        if self.fh is not None:
            try:
                self.fh.close()
            except OSError:
                pass
            self.fh = None


DEFAULT_ROLLING_LOG_SIZE = 10 * 1024 * 1024
MINIMUM_ROLLING_LOG_SIZE = 200 * 1024


class RollingFileAppender(FileAppender):
    def __init__(self, filename: str, max_file_size: int = DEFAULT_ROLLING_LOG_SIZE, max_backup_index: int = 1,
                 append: bool = True, **kw):
        super().__init__(filename, append=append, **kw)
        if max_file_size < MINIMUM_ROLLING_LOG_SIZE:
            loglog_warn(f"RollingFileAppender: MaxFileSize property value is too small. Resetting to "
                        f"{MINIMUM_ROLLING_LOG_SIZE}.")
            max_file_size = MINIMUM_ROLLING_LOG_SIZE
        self.max_file_size = max_file_size
        self.max_backup_index = max(max_backup_index, 1)

    def after_write(self) -> None:
        if self.fh is not None and self.fh.tell() > self.max_file_size:
            self.rollover()

    def rollover(self) -> None:
        self.close()
        n = self.max_backup_index
        try:
            os.remove(f"{self.filename}.{n}")
        except OSError:
            pass
        for i in range(n - 1, 0, -1):
            self._rename(f"{self.filename}.{i}", f"{self.filename}.{i + 1}")
        self._rename(self.filename, self.filename + ".1")
        self._open("wb")
        if self.fh is None:
            loglog_error("Failed to open file " + self.filename)

    @staticmethod
    def _rename(src: str, dst: str) -> None:
        try:
            os.rename(src, dst)
        except FileNotFoundError:
            pass
        except OSError as exc:
            loglog_error(f"Failed to rename file from {src} to {dst}; error {exc.errno}")


# ---------------------------------------------------------------------------------------------------------------
# Loggers
# ---------------------------------------------------------------------------------------------------------------


# Extension (--parallel): a tag by thread ID ("[w2:a5] ", see dcmsend.parallel), put before every line a thread logs;
# empty when only one thread sends (then nothing changes); None: the thread's lines are dropped
THREAD_TAGS: dict[int, str | None] = {}

_level_generation = 0  # bumped whenever a logger's level changes: the effective levels cached below are then stale


class Logger:
    __slots__ = ("name", "_level", "appenders", "additive", "parent", "_effective", "_generation", "warnings")

    def __init__(self, name: str, parent: Logger | None):
        self.name = name
        self._level: int | None = None
        self.appenders: list[Appender] = []
        self.additive = True
        self.parent = parent
        self._effective = WARN
        self._generation = -1
        self.warnings = 0  # how many warnings were raised here (shown or not): collect marks the meta headers with some

    @property
    def level(self) -> int | None:
        return self._level

    @level.setter
    def level(self, value: int | None) -> None:
        global _level_generation
        self._level = value
        _level_generation += 1

    def effective_level(self) -> int:
        if self._generation == _level_generation:
            return self._effective
        lg: Logger | None = self
        level = WARN
        while lg is not None:
            if lg._level is not None:
                level = lg._level
                break
            lg = lg.parent
        self._effective = level
        self._generation = _level_generation
        return level

    def enabled(self, level: int) -> bool:
        eff = self._effective if self._generation == _level_generation else self.effective_level()
        return eff <= level < OFF

    def log(self, level: int, message: str) -> None:
        eff = self._effective if self._generation == _level_generation else self.effective_level()
        if eff <= level < OFF:
            self.force_log(level, message)

    def force_log(self, level: int, message: str) -> None:
        """Write without the level check (DCMTK's forced log, used by ``--arguments``)."""
        if THREAD_TAGS:  # (extension, --parallel: each line of a worker's message starts with its tag)
            tag = THREAD_TAGS.get(_get_ident(), "")
            if tag is None:  # a worker that goes on after the run was interrupted: silent
                return
            if tag:
                message = tag + message.replace("\n", "\n" + tag)
        lg: Logger | None = self
        while lg is not None:
            for app in lg.appenders:
                app.write(level, self.name, message)
            if not lg.additive:
                break
            lg = lg.parent

    # The level methods check the level first (inlined: they are called per instance on the sending path).
    def fatal(self, message: str) -> None:
        self.log(FATAL, message)

    def error(self, message: str) -> None:
        self.log(ERROR, message)

    def warn(self, message: str) -> None:
        self.warnings += 1
        self.log(WARN, message)

    def info(self, message: str) -> None:
        eff = self._effective if self._generation == _level_generation else self.effective_level()
        if eff <= INFO:
            self.force_log(INFO, message)

    def debug(self, message: str) -> None:
        eff = self._effective if self._generation == _level_generation else self.effective_level()
        if eff <= DEBUG:
            self.force_log(DEBUG, message)

    def trace(self, message: str) -> None:
        eff = self._effective if self._generation == _level_generation else self.effective_level()
        if eff <= TRACE:
            self.force_log(TRACE, message)


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
    global _loglog_quiet
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
    _loglog_quiet = None


def set_level(level: int) -> None:
    _root.level = level


def save_state() -> tuple:
    """The whole logger set-up (levels, appenders, additivity, internal-logger quietness), for :func:`restore_state`:
    ``cli.main()`` and the Python API leave dcmsend's logging as they found it."""
    loggers = {name: (lg._level, list(lg.appenders), lg.additive) for name, lg in _loggers.items()}
    return (_root._level, list(_root.appenders), _root.additive), loggers, _loglog_quiet


def restore_state(state) -> None:
    global _loglog_quiet
    (level, appenders, additive), loggers, _loglog_quiet = state
    _root.level, _root.appenders, _root.additive = level, appenders, additive
    for name, lg in _loggers.items():
        lg.level, lg.appenders, lg.additive = loggers.get(name, (None, [], True))


def close_all() -> None:
    """Close file appenders (flushes log files)."""
    for lg in [_root, *_loggers.values()]:
        for app in lg.appenders:
            app.close()


# ---------------------------------------------------------------------------------------------------------------
# --log-config: log4cplus property files
# ---------------------------------------------------------------------------------------------------------------


class ConfigError(Exception):
    """A ``--log-config`` file problem; ``str()`` is DCMTK's command-line error text."""


_C_SPACE = " \t\n\v\f\r"


def parse_properties(data: bytes) -> dict[str, str]:
    """log4cplus ``Properties::init``: ``key = value`` lines, ``#`` comments, the last assignment wins."""
    props: dict[str, str] = {}
    for raw in data.split(b"\n"):
        line = os.fsdecode(raw).lstrip(_C_SPACE)
        if not line or line[0] == "#":
            continue
        if line[-1] == "\r":
            line = line[:-1]
        idx = line.find("=")
        if idx < 0:
            continue
        props[line[:idx].rstrip(_C_SPACE)] = line[idx + 1:].strip(_C_SPACE)
    return props


def read_config_file(path: str) -> dict[str, str]:
    """Read and check a ``--log-config`` file as ``OFLog::configureFromCommandLine`` does; raise ConfigError."""
    if not path or not os.path.exists(path) or os.path.isdir(path):
        raise ConfigError("Specified --log-config file does not exist")
    if not os.access(path, os.R_OK):
        raise ConfigError("Specified --log-config file cannot be read")
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except OSError:
        loglog_error("could not open file " + path)
        data = b""
    props = parse_properties(data)
    if not props:
        raise ConfigError("Specified --log-config file does not contain any settings")
    if not any(k.startswith("log4cplus.") for k in props):
        raise ConfigError("Specified --log-config file does not contain any valid settings")
    if "log4cplus.rootLogger" not in props:
        raise ConfigError("Specified --log-config file does not set up log4cplus.rootLogger")
    return props


def _parse_bool(text: str) -> tuple[bool, bool]:
    """log4cplus ``parse_bool``: one word, ``true``/``false`` (any case) or an integer; (ok, value)."""
    words = text.split()
    if len(words) != 1:
        return False, False
    w = words[0].lower()
    if w == "true":
        return True, True
    if w == "false":
        return True, False
    try:
        return True, int(w) != 0
    except ValueError:
        return False, False


def _atoi(text: str) -> int:
    i, n = 0, len(text)
    while i < n and text[i] in _C_SPACE:
        i += 1
    j = i
    if j < n and text[j] in "+-":
        j += 1
    k = j
    while k < n and "0" <= text[k] <= "9":
        k += 1
    return int(text[i:k]) if k > j else 0


def _get_int(props: dict[str, str], key: str) -> int | None:
    """``Properties::getInt``: a whole value that reads as an integer (stream extraction), else None."""
    if key not in props:
        return None
    words = props[key].split()
    if len(words) != 1:
        return None
    try:
        return int(words[0])
    except ValueError:
        return None


def _get_bool(props: dict[str, str], key: str) -> bool | None:
    if key not in props:
        return None
    ok, value = _parse_bool(props[key])
    return value if ok else None


def _subset(props: dict[str, str], prefix: str) -> dict[str, str]:
    n = len(prefix)
    return {k[n:]: v for k, v in props.items() if k.startswith(prefix)}


def _subst_vars(val: str, props: dict[str, str]) -> tuple[str, bool]:
    """log4cplus ``substVars`` with fRecursiveExpansion | fShadowEnvironment."""
    i = 0
    pattern = val
    changed = False
    for _ in range(10000):
        start = pattern.find("${", i)
        if start < 0:
            return pattern, changed
        end = pattern.find("}", start)
        if end < 0:
            loglog_error(f"\"{pattern}\" has no closing brace. Opening brace at position {start}.")
            return val, False
        key = pattern[start + 2:end]
        replacement = props.get(key, "")
        if not replacement:
            replacement = os.environ.get(key, "")
        if replacement:
            pattern = pattern[:start] + replacement + pattern[end + 1:]
            changed = True
        else:
            i = end + 1
    return pattern, changed


def _replace_variables(props: dict[str, str]) -> None:
    for _ in range(1000):
        changed = False
        for key in sorted(props):
            val = props.get(key, "")
            sub_key, key_changed = _subst_vars(key, props)
            if key_changed:
                props.pop(key, None)
                props[sub_key] = val
                changed = True
            sub_val, val_changed = _subst_vars(val, props)
            if val_changed:
                props[sub_key] = sub_val
                changed = True
        if not changed:
            return


def _make_layout(props: dict[str, str]):
    """Appender(properties): the layout part; returns (layout, ok) - ok False stops the appender's set-up."""
    if "layout" not in props:
        return SimpleLayout(), True
    name = props["layout"]
    lprops = _subset(props, "layout.")
    if name == "log4cplus::SimpleLayout":
        return SimpleLayout(), True
    if name == "log4cplus::TTCCLayout":
        use_gmt = _get_bool(lprops, "Use_gmtime") or False
        return TTCCLayout(lprops.get("DateFormat", ""), use_gmt), True
    if name == "log4cplus::PatternLayout":
        each = _get_bool(lprops, "FormatEachLine")
        each = True if each is None else each
        if "Pattern" in lprops:
            loglog_warn('PatternLayout- the "Pattern" property has been deprecated.  Use "ConversionPattern" instead.')
        if "ConversionPattern" in lprops:
            return PatternLayout(lprops["ConversionPattern"], each), True
        if "Pattern" in lprops:
            return PatternLayout(lprops["Pattern"], each), True
        loglog_error("ConversionPattern not specified in properties")
        loglog_error("Error while creating Layout: ConversionPattern not specified in properties")
        return SimpleLayout(), False
    loglog_error(f'Cannot find LayoutFactory: "{name}"')
    return SimpleLayout(), False


def _make_filters(props: dict[str, str]) -> list[Filter]:
    fprops = _subset(props, "filters.")
    out: list[Filter] = []
    count = 1
    while str(count) in fprops:
        name = fprops[str(count)]
        sub = _subset(fprops, f"{count}.")
        accept = _get_bool(sub, "AcceptOnMatch") or False

        def lvl(key: str) -> int:
            v = level_from_name(sub.get(key, ""))
            return NOT_SET if v is None else v

        if name == "log4cplus::spi::DenyAllFilter":
            out.append(DenyAllFilter())
        elif name == "log4cplus::spi::LogLevelMatchFilter":
            out.append(LogLevelMatchFilter(lvl("LogLevelToMatch"), accept))
        elif name == "log4cplus::spi::LogLevelRangeFilter":
            out.append(LogLevelRangeFilter(lvl("LogLevelMin"), lvl("LogLevelMax"), accept))
        elif name == "log4cplus::spi::StringMatchFilter":
            out.append(StringMatchFilter(sub.get("StringToMatch", ""), accept))
        else:
            loglog_error("Appender::ctor()- Cannot find FilterFactory: " + name)
        count += 1
    return out


_APPENDER_TYPES = ("ConsoleAppender", "NullAppender", "FileAppender", "RollingFileAppender",
                   "DailyRollingFileAppender")


def _make_appender(name: str, factory: str, props: dict[str, str]) -> Appender | None:
    kind = factory[len("log4cplus::"):] if factory.startswith("log4cplus::") else ""
    if kind not in _APPENDER_TYPES:
        loglog_error("PropertyConfigurator::configureAppenders()- Cannot find AppenderFactory: " + factory)
        return None
    layout, ok = _make_layout(props)
    threshold, filters = NOT_SET, []
    if ok:
        if "Threshold" in props:
            t = level_from_name(props["Threshold"])
            threshold = NOT_SET if t is None else t
        filters = _make_filters(props)
    kw = {"layout": layout, "threshold": threshold, "name": name, "filters": filters}
    if kind == "ConsoleAppender":
        return ConsoleAppender(to_stderr=bool(_get_bool(props, "logToStdErr")), **kw)
    if kind == "NullAppender":
        return NullAppender(**kw)
    flush = _get_bool(props, "ImmediateFlush")
    flush = True if flush is None else flush
    filename = props.get("File", "")
    if kind == "FileAppender":
        append = _get_bool(props, "Append") or False
        return FileAppender(filename, append=append, immediate_flush=flush, **kw)
    append_given = _get_bool(props, "Append")
    append = True if append_given is None else append_given
    if kind == "DailyRollingFileAppender":  # no time-based rollover: a plain appending file
        return FileAppender(filename, append=append, immediate_flush=flush, **kw)
    size = DEFAULT_ROLLING_LOG_SIZE
    text = props.get("MaxFileSize", "").upper()
    if text:
        size = _atoi(text)
        if size != 0:
            if len(text) > 2 and text.endswith("MB"):
                size *= 1024 * 1024
            elif len(text) > 2 and text.endswith("KB"):
                size *= 1024
        size = max(size, MINIMUM_ROLLING_LOG_SIZE)
    backups = _get_int(props, "MaxBackupIndex")
    return RollingFileAppender(filename, size, 1 if backups is None else backups, append=append,
                               immediate_flush=flush, **kw)


def _configure_logger(logger: Logger, config: str, appenders: dict[str, Appender]) -> None:
    text = config.replace(" ", "")
    tokens: list[str] = []
    first = 0
    i = 0
    while i < len(text):
        if text[i] == ",":
            tokens.append(text[first:i])
            while i + 1 < len(text) and text[i + 1] == ",":
                i += 1
            first = i + 1
        i += 1
    if first != i:
        tokens.append(text[first:i])
    if not tokens:
        loglog_error(f"PropertyConfigurator::configureLogger()- Invalid config string(Logger = {logger.name}): "
                     f"\"{config}\"")
        return
    level = None if tokens[0] == "INHERITED" else level_from_name(tokens[0])
    # oflog's LoggerImpl::setLogLevel is not virtual: the root logger silently takes NOT_SET, which then
    # enables every level (no "You have tried to set NOT_SET_LOG_LEVEL to root." message)
    logger.level = NOT_SET if (level is None and logger is _root) else level
    logger.appenders = []
    for name in tokens[1:]:
        app = appenders.get(name)
        if app is None:
            loglog_error("PropertyConfigurator::configureLogger()- Invalid appender: " + name)
            continue
        logger.appenders.append(app)


def configure_from_properties(props: dict[str, str], program: str = "dcmsend") -> None:
    """Apply a log4cplus configuration (``OFLog::reconfigure`` + ``PropertyConfigurator::configure``)."""
    props = dict(props)
    now = time.localtime()
    props["appname"] = os.path.basename(program)
    props["hostname"] = hostname(False)
    props["pid"] = str(os.getpid())
    props["date"] = time.strftime("%Y%m%d", now)
    props["time"] = time.strftime("%H%M%S", now)
    _replace_variables(props)
    props = _subset(props, "log4cplus.")

    quiet = _get_bool(props, "quietMode")
    if quiet is not None:
        set_loglog_quiet(quiet)

    appenders: dict[str, Appender] = {}
    aprops = _subset(props, "appender.")
    for name in sorted(aprops):
        if "." in name:
            continue
        app = _make_appender(name, aprops[name], _subset(aprops, name + "."))
        if app is not None:
            appenders[name] = app

    if "rootLogger" in props:
        _configure_logger(_root, props["rootLogger"], appenders)
    lprops = _subset(props, "logger.")
    for name in sorted(lprops):
        _configure_logger(get_logger(name), lprops[name], appenders)

    adprops = _subset(props, "additivity.")
    for name in sorted(adprops):
        value = _get_bool(adprops, name)
        lg = get_logger(name)
        if value is not None:
            lg.additive = value


# ---------------------------------------------------------------------------------------------------------------
# Python logging / warnings of the libraries we use
# ---------------------------------------------------------------------------------------------------------------

_captured = False

# Python logging level -> our level.  The libraries' own chatter is demoted to TRACE by default: what dcmsend
# prints is produced by our stages in DCMTK's words, the libraries' texts only show with ``-ll trace``.
LIBRARY_LEVELS = {50: TRACE, 40: TRACE, 30: TRACE, 20: TRACE, 10: TRACE}


def _map_level(levelno: int, table: dict[int, int]) -> int:
    for threshold in sorted(table, reverse=True):
        if levelno >= threshold:
            return table[threshold]
    return TRACE


def capture_library_output(levels: dict[int, int] | None = None) -> None:
    """Route Python ``logging`` of pydicom (-> dcmtk.dcmdata) and pynetdicom (-> dcmtk.dcmnet) and Python
    ``warnings`` (-> dcmtk.dcmdata, or dcmtk.dcmnet when raised inside pynetdicom) through our loggers.

    ``levels`` maps Python levels (50 CRITICAL ... 10 DEBUG) to ours (default :data:`LIBRARY_LEVELS`).
    Idempotent; does not import pydicom or pynetdicom.  Python's ``logging`` is not imported either while nothing
    else has: the handlers are then installed when pydicom or pynetdicom is first imported (before its code runs).
    """
    global _captured
    if levels is not None:
        LIBRARY_LEVELS.clear()
        LIBRARY_LEVELS.update(levels)
    if _captured:
        return
    _captured = True
    import warnings

    def _showwarning(message, category, filename, lineno, file=None, line=None):
        target = NET if "pynetdicom" in str(filename) else DATA
        target.log(_map_level(30, LIBRARY_LEVELS), f"{category.__name__}: {message}")  # 30: logging.WARNING

    _undo.append(lambda previous=warnings.showwarning: setattr(warnings, "showwarning", previous))
    warnings.showwarning = _showwarning
    if any(name in sys.modules for name in ("logging", "pydicom", "pynetdicom")):
        _install_logging_handlers()
    else:
        hook = _LibraryImportHook()
        sys.meta_path.insert(0, hook)
        _undo.append(lambda: sys.meta_path.remove(hook) if hook in sys.meta_path else None)


# what release_library_output() undoes, last first
_undo: list = []


def release_library_output() -> None:
    """Undo :func:`capture_library_output`: the warnings hook, the import hook, the standard loggers' handlers,
    levels and propagation as they were (``cli.main()`` leaves the interpreter as it found it)."""
    global _captured
    while _undo:
        try:
            _undo.pop()()
        except Exception:  # (someone else changed it meanwhile: leave theirs)
            pass
    _captured = False


class _LibraryImportHook:
    """A meta path entry that installs the logging handlers as pydicom or pynetdicom starts to be imported; it finds
    nothing itself and removes itself then."""

    def find_spec(self, name, path=None, target=None):
        if name in ("pydicom", "pynetdicom"):
            try:
                sys.meta_path.remove(self)
            except ValueError:
                pass
            _install_logging_handlers()
        return None


def _install_logging_handlers() -> None:
    import logging

    class _Handler(logging.Handler):
        def __init__(self, target: Logger):
            super().__init__(logging.NOTSET)
            self.target = target

        def emit(self, record: logging.LogRecord) -> None:
            try:
                msg = record.getMessage()
                if record.exc_info and record.exc_info[1] is not None:
                    msg += f"\n{type(record.exc_info[1]).__name__}: {record.exc_info[1]}"
                self.target.log(_map_level(record.levelno, LIBRARY_LEVELS), msg)
            except Exception:  # never let a log record break the program
                pass

    def _lowest_python_level(target: Logger) -> int:
        # let through only records that can become visible (cheap isEnabledFor in the libraries)
        enabled = [py for py, ours in LIBRARY_LEVELS.items() if target.enabled(ours)]
        return min(enabled) if enabled else logging.CRITICAL + 1

    for name, target in (("pydicom", DATA), ("pynetdicom", NET)):
        py = logging.getLogger(name)
        previous = (list(py.handlers), py.propagate, py.level)

        def undo(py=py, previous=previous) -> None:
            handlers, py.propagate, level = previous
            for h in list(py.handlers):
                py.removeHandler(h)
            for h in handlers:
                py.addHandler(h)
            py.setLevel(level)

        _undo.append(undo)
        for h in list(py.handlers):
            py.removeHandler(h)
        py.addHandler(_Handler(target))
        py.propagate = False
        py.setLevel(_lowest_python_level(target))


APP = get_logger("dcmtk.apps.dcmsend")
NET = get_logger("dcmtk.dcmnet")
DATA = get_logger("dcmtk.dcmdata")

reset()
