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

    from dcmsend.logconfig import Filter

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
        global _no_appender_warned
        if THREAD_TAGS:  # (extension, --parallel: each line of a worker's message starts with its tag)
            tag = THREAD_TAGS.get(_get_ident(), "")
            if tag is None:  # a worker that goes on after the run was interrupted: silent
                return
            if tag:
                message = tag + message.replace("\n", "\n" + tag)
        lg: Logger | None = self
        found = False
        while lg is not None:
            for app in lg.appenders:
                app.write(level, self.name, message)
                found = True
            if not lg.additive:
                break
            lg = lg.parent
        if not found and not _no_appender_warned:
            # (log4cplus's Hierarchy: the first event that reaches no appender at all, once)
            _no_appender_warned = True
            loglog_error(f"No appenders could be found for logger ({self.name}).")
            loglog_error("Please initialize the log4cplus system properly.")

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


_no_appender_warned = False  # log4cplus's emittedNoAppenderWarning


def reset() -> None:
    """Back to DCMTK's default set-up: root at WARN, one console appender on stderr."""
    global _loglog_quiet, _no_appender_warned
    _no_appender_warned = False
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




_C_SPACE = " \t\n\v\f\r"






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
