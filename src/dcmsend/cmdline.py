"""DCMTK-style command-line engine (OFCommandLine / OFConsoleApplication) and the dcmsend option table.

The option table below is data: ``--help``, the manual page (``python -m dcmsend.manpage``) and the parser are all
generated from it.  :func:`evaluate` does the whole option processing of dcmsend 3.6.7 in DCMTK's order and returns
the :class:`Options` record the other stages read; on ``--help``/``--version``/errors it prints what DCMTK prints and
raises :class:`dcmsend.exitcodes.Exit`.

This module must stay cheap to import: no pydicom, pynetdicom or numpy here (``--list-decoders`` imports pydicom's
decoder registry lazily).
"""

from __future__ import annotations

import os
import sys

from dcmsend import __date__, __version__, exitcodes, log
from dcmsend.exitcodes import Exit

PROGRAM = "dcmsend"
DESCRIPTION = "Simple DICOM storage SCU (sender)"
BANNER = f"$dcmsend: {PROGRAM} v{__version__} {__date__} $"

APPLICATION_TITLE = "DCMSEND"
PEER_APPLICATION_TITLE = "ANY-SCP"
DEFAULT_ACSE_TIMEOUT = 30
DEFAULT_MAX_PDU = 16384
MIN_PDU = 4096
MAX_PDU = 131072

ULONG_MAX = 2**64 - 1
MAX_RETRY = 100
PARALLEL_MIN, PARALLEL_MAX = 1, 64
ASYNC_MAX = 65535
PARALLEL_UNITS = ("study", "series", "instance")


class Options:
    """The evaluated dcmsend command line (what the other stages read).

    Keyword (or positional, in this order) arguments set the fields; the class attributes are the defaults.  (A plain
    class rather than a dataclass: importing ``dataclasses`` costs milliseconds at start-up.)
    """

    peer: str = ""
    port: int = 0
    files: list[str]  # default: a new empty list
    # input
    # part10.READ_FILE ('file', +f) / READ_FILE_ONLY ('fileonly', +fo) / READ_DATASET ('dataset', -f)
    read_mode: str = "fileonly"
    read_from_dicomdir: bool = False  # +rd
    scan_directories: bool = False  # +sd
    scan_pattern: str = ""  # +sp ('' = no pattern)
    recurse: bool = False  # +r
    # processing
    decompress: str = "lossless"  # 'never' (-dn) / 'lossless' (+dls) / 'lossy' (+dly)
    compression_level: int = 6  # +cl
    no_halt: bool = False  # -nh
    no_illegal_proposal: bool = False  # -nip
    no_uid_checks: bool = False  # -nuc
    # network
    calling_aetitle: str = "DCMSEND"  # -aet
    called_aetitle: str = "ANY-SCP"  # -aec
    multi_associations: bool = True  # +ma (False: -ma)
    connect_timeout: int | None = None  # -to (None: blocking connect)
    acse_timeout: int = 30  # -ta
    dimse_timeout: int | None = None  # -td (None: blocking)
    max_pdu: int = 16384  # -pdu (our max receive)
    max_send_pdu: int | None = None  # --max-send-pdu
    verbose_pc: bool = False  # +v
    # output
    report_file: str = ""  # +crf ('' = no report)
    # extensions, not in DCMTK (runner.py, report_json.py, journal.py, progress.py)
    json_report: str = ""  # +crj --create-json-report ('' = none)
    strict_status: bool = False  # +ss --strict-status
    journal: str = ""  # +jo --journal ('' = none)
    retry: int = 0  # +rt --retry (0 = no retries)
    progress: bool = False  # +pg --progress
    # transport layer security (storescu's options, not in DCMTK's dcmsend): see transport.py and tls.py
    tls_keys: tuple[str, str] | None = None  # +tls: (private key file, certificate file)
    tls_anonymous: bool = False  # +tla (-tls: neither this nor tls_keys)
    tls_password: str | None = None  # None: OpenSSL's prompt (+ps); +pw value; -pw ""
    tls_der: bool = False  # -der (False: -pem)
    tls_ca_files: tuple[str, ...] = ()  # +cf (in command-line order)
    tls_ca_dirs: tuple[str, ...] = ()  # +cd
    tls_crl_files: tuple[str, ...] = ()  # +crl
    tls_crl: str = "none"  # 'none' / 'leaf' (+crv, implied by +crl) / 'all' (+cra)
    tls_profile: str = "bcp195-nd"  # +py 'bcp195-nd' / +px 'bcp195' / +pz 'bcp195-ex' / +pa 'aes' / +pn 'null'
    tls_ciphers: tuple[str, ...] = ()  # +cs (TLS names, in command-line order)
    tls_seed_file: str = ""  # +rs
    tls_write_seed_file: str = ""  # +wf f (+ws: the seed file itself)
    tls_verify_peer: bool = True  # -rc (default) / -ic
    tls_context: object = None  # (Python API only) an ssl.SSLContext used as it is instead of the tls_* fields
    # user identity negotiation (storescu's options, not in DCMTK's dcmsend; PS3.7 D.3.3.7): see identity.py
    identity_user: str = ""  # -usr
    identity_password: str | None = None  # -pwd ('' with -epw; None: user name only)
    identity_kerberos: str = ""  # -kt: the file whose content is sent
    identity_saml: str = ""  # --saml
    identity_jwt: str = ""  # --jwt
    identity_response: bool = False  # -rsp
    # extensions (not in DCMTK): concurrent sending
    parallel: int = 1  # -j / --parallel: associations at once (1..64)
    parallel_unit: str = "series"  # -pu / --parallel-unit: 'study' / 'series' / 'instance'
    async_ops: int = 0  # -ao / --async-ops: proposed asynchronous operations window (0: none proposed)
    # not an option: the program name as typed (argv[0]) and the expanded argument list
    program_name: str = "dcmsend"
    arguments: list[str]  # default: a new empty list

    def __init__(self, *args, **kwargs):
        if len(args) > len(_OPTION_FIELDS):
            raise TypeError(f"Options() takes at most {len(_OPTION_FIELDS)} positional arguments")
        for name, value in zip(_OPTION_FIELDS, args):
            if name in kwargs:
                raise TypeError(f"Options() got multiple values for argument '{name}'")
            kwargs[name] = value
        for name, value in kwargs.items():
            if name not in _OPTION_SET:
                raise TypeError(f"Options() got an unexpected keyword argument '{name}'")
            setattr(self, name, value)
        if "files" not in kwargs:
            self.files = []
        if "arguments" not in kwargs:
            self.arguments = []

    def __eq__(self, other):
        if other.__class__ is not self.__class__:
            return NotImplemented
        return all(getattr(self, n) == getattr(other, n) for n in _OPTION_FIELDS)

    __hash__ = None  # type: ignore[assignment]  # mutable, like the dataclass it replaces

    def __repr__(self) -> str:
        return "Options(" + ", ".join(f"{n}={getattr(self, n)!r}" for n in _OPTION_FIELDS) + ")"


_OPTION_FIELDS = tuple(Options.__annotations__)
_OPTION_SET = frozenset(_OPTION_FIELDS)


# ---------------------------------------------------------------------------------------------------------------
# The option table (data).  Order = help order.  Texts are the program's own help texts (they must match DCMTK's).
# ---------------------------------------------------------------------------------------------------------------

LONGCOL = 21
SHORTCOL = 4


class Param:
    """A positional parameter: name, help text, mode ('mandatory' / 'multi-mandatory')."""

    __slots__ = ("name", "help", "mode")

    def __init__(self, name: str, help: str, mode: str = "mandatory"):
        self.name, self.help, self.mode = name, help, mode


class Group:
    """An option group title; its own column widths (0 = the command line's defaults)."""

    __slots__ = ("title", "long_width", "short_width")

    def __init__(self, title: str, long_width: int = 0, short_width: int = 0):
        self.title, self.long_width, self.short_width = title, long_width, short_width


class SubGroup:
    __slots__ = ("title",)

    def __init__(self, title: str):
        self.title = title


class Opt:
    """One option: long and short name ('' = none), help text, value description ('' = no value).

    ``field`` and ``sets`` say what the option does to :class:`Options` (the Python API builds a command line from
    keyword options with them, so its options are checked exactly as the command line checks them): ``field`` is
    the name of the field (default: the long name without dashes, '-' -> '_'; '' for an option that sets no field,
    such as the logging options); ``sets`` is the value an option without a value stores there (default True).
    An option with a value stores the value given, converted by :func:`evaluate`."""

    __slots__ = ("long", "short", "help", "value", "exclusive", "manual", "field", "sets", "count")

    def __init__(self, long: str, short: str, help: str, value: str = "", exclusive: bool = False, manual: str = "",
                 field: str | None = None, sets: object = True, count: int = 1):
        self.long, self.short, self.help, self.value = long, short, help, value
        self.exclusive = exclusive
        self.manual = manual  # extra sentence for the manual page only
        self.field = long.lstrip("-+").replace("-", "_") if field is None else field
        self.sets = sets
        self.count = count  # how many values the option takes (when it takes any): +tls takes two

    @property
    def nvalues(self) -> int:
        return self.count if self.value else 0

    def __repr__(self) -> str:
        return f"Opt({self.long!r}, {self.short!r})"


PARAMS = (
    Param("peer", "hostname of DICOM peer"),
    Param("port", "tcp/ip port number of peer"),
    Param("dcmfile-in", "DICOM file or directory to be transmitted", "multi-mandatory"),
)
PARAM_COLUMN = LONGCOL + SHORTCOL + 4

_PDU_RANGE = f"[n]umber of bytes: integer ({MIN_PDU}..{MAX_PDU})"

TABLE: tuple[Group | SubGroup | Opt, ...] = (
    Group("general options:", LONGCOL, SHORTCOL + 2),
    Opt("--help", "-h", "print this help text and exit", exclusive=True, field=""),
    Opt("--version", "", "print version information and exit", exclusive=True, field=""),
    Opt("--list-decoders", "", "list transfer syntaxes of decoders and exit", exclusive=True, field=""),
    Opt("--arguments", "", "print expanded command line arguments", field=""),
    Opt("--quiet", "-q", "quiet mode, print no warnings and errors", field=""),
    Opt("--verbose", "-v", "verbose mode, print processing details", field=""),
    Opt("--debug", "-d", "debug mode, print debug information", field=""),
    Opt("--log-level", "-ll", "(fatal, error, warn, info, debug, trace)\nuse level l for the logger",
        "[l]evel: string constant", field=""),
    Opt("--log-config", "-lc", "use config file f for the logger", "[f]ilename: string", field=""),
    Opt("--verbose-pc", "+v", "show presentation contexts in verbose mode"),
    Group("input options:"),
    SubGroup("input file format:"),
    Opt("--read-file", "+f", "read file format or data set", field="read_mode", sets="file"),
    Opt("--read-file-only", "+fo", "read file format only (default)", field="read_mode", sets="fileonly"),
    Opt("--read-dataset", "-f", "read data set without file meta information", field="read_mode",
        sets="dataset"),
    SubGroup("input files:"),
    Opt("--read-from-dicomdir", "+rd", "read information on input files from DICOMDIR"),
    Opt("--scan-directories", "+sd", "scan directories for input files (dcmfile-in)"),
    Opt("--scan-pattern", "+sp", "pattern for filename matching (wildcards)",
        "[p]attern: string (only w/ --scan-directories)"),
    Opt("--no-recurse", "-r", "do not recurse within directories (default)", field="recurse", sets=False),
    Opt("--recurse", "+r", "recurse within specified directories"),
    Group("processing options:"),
    SubGroup("transfer syntax conversion:"),
    Opt("--decompress-never", "-dn", "never decompress compressed data sets", field="decompress", sets="never"),
    Opt("--decompress-lossless", "+dls", "only decompress lossless compression (default)", field="decompress",
        sets="lossless"),
    Opt("--decompress-lossy", "+dly", "decompress both lossy and lossless compression", field="decompress",
        sets="lossy"),
    SubGroup("deflate compression level:"),
    Opt("--compression-level", "+cl", "0=uncompressed, 1=fastest, 9=best compression",
        "[l]evel: integer (default: 6)"),
    SubGroup("other processing options:"),
    Opt("--no-halt", "-nh", "do not halt on first invalid input file\nor if unsuccessful store encountered"),
    Opt("--no-illegal-proposal", "-nip",
        "do not propose any presentation context that\ndoes not contain the default TS (if needed)"),
    Opt("--no-uid-checks", "-nuc", "do not check UID values of input files"),
    Group("network options:"),
    SubGroup("application entity titles:"),
    Opt("--aetitle", "-aet", f"set my calling AE title (default: {APPLICATION_TITLE})", "[a]etitle: string",
        field="calling_aetitle"),
    Opt("--call", "-aec", f"set called AE title of peer (default: {PEER_APPLICATION_TITLE})", "[a]etitle: string",
        field="called_aetitle"),
    SubGroup("association handling:"),
    Opt("--multi-associations", "+ma",
        "use multiple associations (one after the other)\nif needed to transfer the instances (default)"),
    Opt("--single-association", "-ma", "always use a single association", field="multi_associations", sets=False),
    SubGroup("other network options:"),
    Opt("--timeout", "-to", "timeout for connection requests", "[s]econds: integer (default: unlimited)",
        field="connect_timeout"),
    Opt("--acse-timeout", "-ta", "timeout for ACSE messages", f"[s]econds: integer (default: {DEFAULT_ACSE_TIMEOUT})"),
    Opt("--dimse-timeout", "-td", "timeout for DIMSE messages", "[s]econds: integer (default: unlimited)"),
    Opt("--max-pdu", "-pdu", f"set max receive pdu to n bytes (default: {DEFAULT_MAX_PDU})", _PDU_RANGE),
    Opt("--max-send-pdu", "", "restrict max send pdu to n bytes", _PDU_RANGE),
    Group("output options:"),
    SubGroup("general:"),
    Opt("--create-report-file", "+crf",
        "create a detailed report on the transfer\n(if successful) and write it to text file f", "[f]ilename: string",
        field="report_file"),
    Group("extensions (not in DCMTK's dcmsend):"),
    Opt("--create-json-report", "+crj",
        "write a report on the run, its associations and\nevery instance to JSON file f (also if halted)",
        "[f]ilename: string", field="json_report"),
    Opt("--strict-status", "+ss",
        f"exit with code {exitcodes.STRICT_STATUS_FAILED} if any instance was not stored\n"
        "with a success or warning status"),
    Opt("--journal", "+jo",
        "record stored instances in SQLite journal f and\nskip those already stored to this peer",
        "[f]ilename: string"),
    Opt("--retry", "+rt",
        "after a transient failure, send the instances\nnot yet stored again, up to n times\n"
        "(waiting 1, 2, 4, ... seconds before)",
        f"[n]umber: integer (0..{MAX_RETRY}, default: 0)"),
    Opt("--progress", "+pg", "show progress on stderr\n(a status line on a terminal)"),
    # storescu's options for secure transport and user identity (DCMTK's headings and texts)
    Group("transport layer security (TLS) options (storescu's; not in DCMTK's dcmsend):"),
    SubGroup("transport protocol stack:"),
    Opt("--disable-tls", "-tls", "use normal TCP/IP connection (default)", field="tls_anonymous", sets=False),
    Opt("--enable-tls", "+tls", "use authenticated secure TLS connection",
        "[p]rivate key file, [c]ertificate file: string", count=2, field="tls_keys"),
    Opt("--anonymous-tls", "+tla", "use secure TLS connection without certificate", field="tls_anonymous"),
    SubGroup("private key password (only with --enable-tls):"),
    Opt("--std-passwd", "+ps", "prompt user to type password on stdin (default)", field="tls_password", sets=None),
    Opt("--use-passwd", "+pw", "use specified password", "[p]assword: string ", field="tls_password"),
    Opt("--null-passwd", "-pw", "use empty string as password", field="tls_password", sets=""),
    SubGroup("key and certificate file format:"),
    Opt("--pem-keys", "-pem", "read keys and certificates as PEM file (default)", field="tls_der", sets=False),
    Opt("--der-keys", "-der", "read keys and certificates as DER file", field="tls_der"),
    SubGroup("certification authority:"),
    Opt("--add-cert-file", "+cf", "add certificate file to list of certificates", "[f]ilename: string",
        field="tls_ca_files"),
    Opt("--add-cert-dir", "+cd", "add certificates in d to list of certificates", "[d]irectory: string",
        field="tls_ca_dirs"),
    Opt("--add-crl-file", "+crl", "add certificate revocation list file\n(implies --enable-crl-vfy)",
        "[f]ilename: string", field="tls_crl_files"),
    Opt("--enable-crl-vfy", "+crv", "enable leaf CRL verification", field="tls_crl", sets="leaf"),
    Opt("--enable-crl-all", "+cra", "enable full chain CRL verification", field="tls_crl", sets="all"),
    SubGroup("security profile:"),
    Opt("--profile-bcp195-nd", "+py", "Non-downgrading BCP 195 TLS Profile (default)", field="tls_profile",
        sets="bcp195-nd"),
    Opt("--profile-bcp195", "+px", "BCP 195 TLS Profile", field="tls_profile", sets="bcp195"),
    Opt("--profile-bcp195-ex", "+pz", "Extended BCP 195 TLS Profile", field="tls_profile", sets="bcp195-ex"),
    Opt("--profile-aes", "+pa", "AES TLS Secure Transport Connection Profile\n(retired)", field="tls_profile",
        sets="aes"),
    Opt("--profile-null", "+pn", "Authenticated unencrypted communication\n(retired, was used in IHE ATNA)",
        field="tls_profile", sets="null"),
    SubGroup("ciphersuite:"),
    Opt("--list-ciphers", "+cc", "show list of supported TLS ciphersuites and exit", exclusive=True, field=""),
    Opt("--cipher", "+cs", "add ciphersuite to list of negotiated suites\n(not with --profile-bcp195-ex)",
        "[c]iphersuite name: string", field="tls_ciphers"),
    SubGroup("pseudo random generator:"),
    Opt("--seed", "+rs", "seed random generator with contents of f", "[f]ilename: string", field="tls_seed_file",
        manual="The file's content is added to OpenSSL's random pool (which seeds itself in any case)."),
    Opt("--write-seed", "+ws", "write back modified seed (only with --seed)", field=""),
    Opt("--write-seed-file", "+wf", "write modified seed to file f", "[f]ilename: string (only with --seed)",
        field="tls_write_seed_file"),
    SubGroup("peer authentication:"),
    Opt("--require-peer-cert", "-rc", "verify peer certificate, fail if absent (default)", field="tls_verify_peer"),
    Opt("--ignore-peer-cert", "-ic", "don't verify peer certificate", field="tls_verify_peer", sets=False),
    Group("user identity negotiation options (storescu's; not in DCMTK's dcmsend):"),
    SubGroup("user identity negotiation:"),
    Opt("--user", "-usr", "authenticate using user name u", "[u]ser name: string", field="identity_user"),
    Opt("--password", "-pwd", "authenticate using password p", "[p]assword: string (only with --user)",
        field="identity_password"),
    Opt("--empty-password", "-epw", "send empty password (only with --user)", field="identity_password", sets=""),
    Opt("--kerberos", "-kt", "read kerberos ticket from file f", "[f]ilename: string", field="identity_kerberos"),
    Opt("--saml", "", "read SAML request from file f", "[f]ilename: string", field="identity_saml"),
    Opt("--jwt", "", "read JWT data from file f", "[f]ilename: string", field="identity_jwt"),
    Opt("--pos-response", "-rsp", "expect positive response", field="identity_response"),
    Group("concurrent sending options (extensions, not in DCMTK):"),
    SubGroup("parallel associations:"),
    Opt("--parallel", "-j", "send over up to n associations at once\n(one work queue; default: 1)",
        f"[n]umber: integer ({PARALLEL_MIN}..{PARALLEL_MAX})",
        manual="Each association keeps going with the next unit of work (see --parallel-unit) as long as the "
               "presentation contexts it negotiated fit; log lines of the associations are tagged [wW:aA] "
               "(worker W, association A, as in the report's Association field)."),
    Opt("--parallel-unit", "-pu", "unit of work of --parallel: study, series\nor instance (default: series)",
        "[u]nit: string constant",
        manual="A unit is never split between two associations (instances without the UID are units of "
               "their own)."),
    SubGroup("asynchronous operations:"),
    Opt("--async-ops", "-ao", "propose an asynchronous operations window of n\n"
        "outstanding C-STORE requests (default: none)", f"[n]umber: integer (1..{ASYNC_MAX})",
        manual="Without the peer's grant (window > 1 in its A-ASSOCIATE-AC) dcmsend sends as DCMTK does, one "
               "request at a time."),
)

OPTIONS: tuple[Opt, ...] = tuple(e for e in TABLE if isinstance(e, Opt))
_BY_NAME: dict[str, Opt] = {}
for _o in OPTIONS:
    _BY_NAME[_o.long] = _o
    if _o.short:
        _BY_NAME[_o.short] = _o
del _o


# ---------------------------------------------------------------------------------------------------------------
# Help text (OFCommandLine::getSyntaxString / getParamString / getOptionString)
# ---------------------------------------------------------------------------------------------------------------


def header() -> str:
    """OFConsoleApplication::printHeader without host information."""
    return f"{BANNER}\n\n{PROGRAM}: {DESCRIPTION}\n"


def syntax_string() -> str:
    out = " [options]" if OPTIONS else ""
    for p in PARAMS:
        out += f" {p.name}..." if p.mode == "multi-mandatory" else f" {p.name}"
    return out


def param_string() -> str:
    width = max([PARAM_COLUMN] + [len(p.name) for p in PARAMS])
    out = "parameters:\n"
    for p in PARAMS:
        text = p.help.replace("\n", "\n" + " " * (2 + width + 2))
        out += "  " + p.name.ljust(width) + "  " + text + "\n"
    return out


def option_string() -> str:
    out = []
    entries = list(TABLE)
    short_size, long_size, indent = SHORTCOL, LONGCOL, 0
    new_group = True
    for i, e in enumerate(entries):
        if new_group:
            # column widths per run of options up to the next (sub)group entry
            j = i
            while j < len(entries):
                following = entries[j]
                if not isinstance(following, Opt):
                    break
                short_size = max(short_size, len(following.short))
                long_size = max(long_size, len(following.long))
                j += 1
            new_group = False
        if isinstance(e, Group):
            new_group = True
            long_size = e.long_width or LONGCOL
            short_size = e.short_width or SHORTCOL
            out.append(e.title + "\n")
            indent = 2
        elif isinstance(e, SubGroup):
            new_group = True
            long_size, short_size = LONGCOL, SHORTCOL
            out.append("  " + e.title + "\n")
            indent = 4
        else:
            line = " " * indent
            if short_size > 0:
                line += e.short.ljust(short_size) + "  "
            line += e.long.ljust(long_size) + "  "
            if e.value:
                line += e.value + "\n" + " " * (indent + short_size + long_size + 2)
                if short_size > 0:
                    line += "  "
            line += e.help.replace("\n", "\n" + " " * (indent + short_size + long_size + 4))
            out.append(line + "\n")
    return "".join(out)


def usage_text() -> str:
    """What ``--help`` (and a call without arguments) writes to stdout."""
    text = header() + f"usage: {PROGRAM}" + syntax_string() + "\n"
    ps = param_string()
    if ps:
        text += "\n" + ps
    os_ = option_string()
    if os_:
        text += "\n" + os_
    return text + "\n"


# ---------------------------------------------------------------------------------------------------------------
# Output helpers
# ---------------------------------------------------------------------------------------------------------------


_write = log.write_text  # byte-exact console output, shared with the logger


class _App:
    """OFConsoleApplication: error output, quiet mode."""

    def __init__(self, library: bool = False) -> None:
        self.quiet = False
        self.library = library  # the Python API: errors raise ValueError(message), nothing is printed

    def usage(self) -> None:
        if self.library:
            raise ValueError("usage: " + PROGRAM + syntax_string())
        _write(sys.stdout, usage_text())
        raise Exit(exitcodes.NO_ERROR)

    def error(self, message: str) -> None:
        if self.library:
            raise ValueError(message)
        if not self.quiet:
            _write(sys.stderr, header() + "error: " + message + "\n")
        raise Exit(exitcodes.COMMANDLINE_SYNTAX_ERROR)

    def check_dependence(self, sub: str, base: str, condition: bool) -> None:
        if not condition:
            self.error(f"{sub} only allowed with {base}")

    def check_conflict(self, first: str, second: str, condition: bool) -> None:
        if condition:
            self.error(f"{first} not allowed with {second}")


# ---------------------------------------------------------------------------------------------------------------
# Command files and tokenising (OFCommandLine::parseLine / parseCommandFile / parseArgumentList)
# ---------------------------------------------------------------------------------------------------------------


class CommandFileError(Exception):
    def __init__(self, name: str):
        super().__init__(name)
        self.name = name


def split_command_file(data: bytes) -> list[str]:
    """The words of a command file (§3.6): whitespace-separated, '"'/"'" blocks, no escapes, no nesting."""
    words: list[bytes] = []
    value = bytearray()
    block = 0
    for c in data:
        if c in (0x22, 0x27):  # " or '
            if block == c:
                words.append(bytes(value))  # closing the block: emitted even when empty
                value.clear()
                block = 0
            elif block == 0:
                block = c
            else:
                value.append(c)
        elif c in (0x20, 0x09, 0x0A, 0x0D):
            if block == 0:
                if value:
                    words.append(bytes(value))
                    value.clear()
            else:
                value.append(c)
        else:
            value.append(c)
    if value:
        words.append(bytes(value))
    return [os.fsdecode(w) for w in words]


def expand_command_files(args: list[str]) -> list[str]:
    """Replace every ``@file`` argument (``@`` plus at least one character) by the words of that file."""
    out: list[str] = []
    for arg in args:
        if len(arg) >= 2 and arg[0] == "@":
            name = arg[1:]
            try:
                with open(name, "rb") as fh:
                    data = fh.read()
            except IsADirectoryError:
                data = b""  # an ifstream on a directory opens, then reads nothing
            except OSError:
                raise CommandFileError(name) from None
            out.extend(split_command_file(data))
        else:
            out.append(arg)
    return out


def is_option(arg: str) -> bool:
    """OFCommandLine::checkOption: length >= 2, starts with + or -, second character not a digit."""
    return len(arg) >= 2 and arg[0] in "+-" and not ("0" <= arg[1] <= "9")


class ParseError(Exception):
    def __init__(self, message: str):
        super().__init__(message)
        self.message = message


class CommandLine:
    """The parsed argument list with DCMTK's search semantics (rightmost wins, option blocks)."""

    def __init__(self, program: str, args: list[str]):
        self.program = program
        self.args: list[str] = []  # options stored under their long names, values and parameters as given
        self.option_pos: list[int] = []
        self.param_pos: list[int] = []
        self.exclusive = False
        self._block_mode = False
        self._block_k: int | None = None
        self._cur = -1  # index into args (ArgumentIterator)
        self._cur_opt = -1  # index into args of the current option
        self._parse(args)

    def _parse(self, args: list[str]) -> None:
        remaining = len(args)
        i = 0
        while i < len(args):
            arg = args[i]
            if not is_option(arg):
                self.param_pos.append(len(self.args))
                self.args.append(arg)
            else:
                opt = _BY_NAME.get(arg)
                if opt is None:
                    self.args.append(arg)
                    raise ParseError(f"Unknown option {arg}")
                self.option_pos.append(len(self.args))
                self.args.append(opt.long)
                if opt.exclusive:
                    self.exclusive = True
                n = opt.nvalues
                if n >= remaining:
                    raise ParseError(f"Missing value for option {opt.long}")
                for _ in range(n):
                    i += 1
                    self.args.append(args[i])
                    remaining -= 1
            i += 1
            remaining -= 1

    # -- searching -------------------------------------------------------------------------------------------
    def begin_block(self) -> None:
        self._block_mode = True
        self._block_k = None

    def end_block(self) -> None:
        self._block_mode = False

    def find(self, long_name: str) -> bool:
        """OFCommandLine::findOption (FOM_Normal): search from the right; in a block stop at the last hit."""
        for k in range(len(self.option_pos) - 1, -1, -1):
            if self._block_mode and k == self._block_k:
                return False
            pos = self.option_pos[k]
            if self.args[pos] == long_name:
                self._cur = self._cur_opt = pos
                self._block_k = k
                return True
        return False

    def value(self) -> str:
        self._cur += 1
        return self.args[self._cur]

    def values_from_left(self, long_name: str) -> list[str]:
        """The values of every ``long_name`` option, leftmost first (findOption with FOM_FirstFromLeft/NextFromLeft);
        the option then is the current one, as after :meth:`find`."""
        found = []
        for pos in self.option_pos:
            if self.args[pos] == long_name:
                self._cur = self._cur_opt = pos
                found.append(self.args[pos + 1])
        return found

    @property
    def current_option(self) -> str:
        return self.args[self._cur_opt]

    def value_uint(self, low: int, high: int | None = None) -> tuple[int, str | None]:
        """getValueAndCheckMin(Max) for OFCmdUnsignedInt; returns (value, error text or None)."""
        text = self.value()
        v = scan_ulong(text)
        opt = self.current_option
        suffix = f" ({text})" if text else ""
        if v is None or text.lstrip(" ")[:1] == "-":
            return 0, f"Invalid value for option {opt}{suffix}"
        if v < low:
            return v, f"Invalid value for option {opt}" + (f" (underflow: {text})" if text else "")
        if high is not None and v > high:
            return v, f"Invalid value for option {opt}" + (f" (overflow: {text})" if text else "")
        return v, None

    def param(self, pos: int) -> str:
        return self.args[self.param_pos[pos - 1]]

    def param_uint(self, pos: int, low: int, high: int) -> tuple[int, str | None]:
        """getParamAndCheckMinMax for OFCmdUnsignedInt (no minus check: '-5' wraps around)."""
        text = self.param(pos)
        v = scan_ulong(text)
        if v is None:
            return 0, "Invalid parameter value " + text
        if v < low:
            return v, "Invalid parameter value " + (f"{text} (underflow)" if text else "")
        if v > high:
            return v, "Invalid parameter value " + (f"{text} (overflow)" if text else "")
        return v, None


_C_SPACE = " \t\n\v\f\r"


def scan_ulong(text: str) -> int | None:
    """C ``sscanf(text, "%lu")``: leading white space, optional sign, decimal digits, any trailing garbage.

    Out-of-range values saturate to ULONG_MAX; a minus sign negates modulo 2**64 (as strtoul does).
    """
    i, n = 0, len(text)
    while i < n and text[i] in _C_SPACE:
        i += 1
    neg = False
    if i < n and text[i] in "+-":
        neg = text[i] == "-"
        i += 1
    j = i
    while j < n and "0" <= text[j] <= "9":
        j += 1
    if j == i:
        return None
    v = int(text[i:j])
    if v > ULONG_MAX:
        return ULONG_MAX
    return (-v) % (ULONG_MAX + 1) if neg else v


def _sint32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - 0x100000000 if v & 0x80000000 else v


# ---------------------------------------------------------------------------------------------------------------
# --version and --list-decoders
# ---------------------------------------------------------------------------------------------------------------

_LIBRARIES = ("pydicom", "numpy", "imagecodecs", "pylibjpeg", "pylibjpeg-libjpeg", "pylibjpeg-openjpeg",
              "pylibjpeg-rle")


def version_text() -> str:
    """DCMTK's ``--version`` layout; our version, Python and our libraries instead of DCMTK's build lines."""
    import zlib

    # (platform and locale answer the same, but import re, enum and more: 10 ms)
    uname = os.uname()
    host = f"{uname.machine or 'unknown'}-{uname.sysname or 'unknown'}"
    encoding = _preferred_encoding() or "system default (unknown)"
    implementation = _IMPLEMENTATIONS.get(sys.implementation.name, sys.implementation.name)
    lines = [BANNER, "", f"{PROGRAM}: {DESCRIPTION}", "", f"Host type: {host}", f"Character encoding: {encoding}",
             f"Python: {implementation} {sys.version.split()[0]}", "",
             "External libraries used:", f"- ZLIB, Version {zlib.ZLIB_RUNTIME_VERSION}"]
    for name in _LIBRARIES:
        version = _distribution_version(name)
        if version is not None:
            lines.append(f"- {name}, Version {version}")
    return "\n".join(lines) + "\n"


_IMPLEMENTATIONS = {"cpython": "CPython", "pypy": "PyPy", "ironpython": "IronPython", "jython": "Jython"}


def _preferred_encoding() -> str:
    """``locale.getpreferredencoding(False)``."""
    if sys.flags.utf8_mode:
        return "utf-8"
    try:
        import _locale

        return _locale.getencoding()  # type: ignore[attr-defined,unused-ignore]  # (Python 3.11+)
    except (ImportError, AttributeError):
        import locale

        return locale.getpreferredencoding(False)


def _distribution_version(name: str) -> str | None:
    """``importlib.metadata.version(name)`` (None: not installed), looked up without importing importlib.metadata
    (10 ms) in the common case: the first ``<name>-<version>.dist-info`` on sys.path, its METADATA's Version."""
    prefix = name.replace("-", "_").lower() + "-"
    for entry in sys.path:
        try:
            names = os.listdir(entry or ".")
        except OSError:
            continue
        for item in names:
            low = item.lower()
            if low.startswith(prefix) and low.endswith(".dist-info"):
                try:
                    with open(os.path.join(entry or ".", item, "METADATA"), encoding="utf-8") as fh:
                        for line in fh:
                            if line.startswith("Version:"):
                                return line[8:].strip()
                            if line in ("\n", "\r\n"):
                                break
                except OSError:
                    pass
                break
        else:
            continue
        break
    from importlib import metadata  # anything unusual (egg-info, zip imports, no Version): the library's way

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def decoder_transfer_syntaxes() -> list[str]:
    """Names (DCMTK's) of the compressed transfer syntaxes our decoders really handle (convert.decodable_syntaxes,
    the same list planning uses)."""
    from dcmsend import uids
    from dcmsend.decompress import decodable_syntaxes

    return [uids.ts_name(uid) for uid in decodable_syntaxes()]


def list_decoders_text() -> str:
    from dcmsend import uids

    lines = [BANNER, "", f"{PROGRAM}: {DESCRIPTION}", "", "Transfer syntaxes supported natively:"]
    lines += [f"- {uids.ts_name(uid)}" for uid in (uids.LEI, uids.LEE, uids.BEE)]
    lines += ["", "Transfer syntaxes supported by decoders:"]
    lines += [f"- {name}" for name in decoder_transfer_syntaxes()]
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------------------------
# evaluate()
# ---------------------------------------------------------------------------------------------------------------


def _configure_logger(cmd: CommandLine, app: _App) -> None:
    """OFLog::configureFromCommandLine."""
    from dcmsend import log

    level: int | None = None
    cmd.begin_block()
    if cmd.find("--debug"):
        level = log.DEBUG
    if cmd.find("--verbose"):
        level = log.INFO
    if cmd.find("--quiet"):
        level = log.FATAL
    cmd.end_block()

    log_level_text = ""
    if cmd.find("--log-level"):
        app.check_conflict("--log-level", "--verbose, --debug or --quiet", level is not None)
        log_level_text = cmd.value()
        level = log.level_from_name(log_level_text)
        if level is None:
            app.error("Invalid log level for --log-level option")

    if cmd.find("--log-config"):
        app.check_conflict("--log-config", "--log-level", log_level_text != "")
        app.check_conflict("--log-config", "--verbose, --debug or --quiet", level is not None)
        path = cmd.value()
        from dcmsend import logconfig  # (only for --log-config: start-up time)

        try:
            props = logconfig.read_config_file(path)
        except logconfig.ConfigError as exc:
            app.error(str(exc))
        logconfig.configure_from_properties(props, cmd.program)
    else:
        log.set_level(log.WARN if level is None else level)

    if not log.root().enabled(log.ERROR):
        app.quiet = True
        log.set_loglog_quiet(True)
    else:
        log.set_loglog_quiet(False)

    if cmd.find("--arguments"):
        text = f"calling '{cmd.program}' with {len(cmd.args)} arguments: "
        text += "".join(f"'{a}' " for a in cmd.args if a)
        log.root().force_log(log.INFO, text + "\n")


_TLS_ONLY = "--enable-tls or --anonymous-tls"
# the profile options, with the name DCMTK 3.6.7 gives each in its dependence message (+pa: "--profile-basic")
_PROFILES = (("--profile-bcp195-nd", "bcp195-nd", "--profile-bcp195-nd"), ("--profile-bcp195", "bcp195", None),
             ("--profile-bcp195-ex", "bcp195-ex", None), ("--profile-aes", "aes", "--profile-basic"),
             ("--profile-null", "null", None))


def tls_mode(opts) -> str:
    """'none', 'auth' (+tls: key and certificate) or 'anonymous' (+tla)."""
    if getattr(opts, "tls_keys", None):
        return "auth"
    return "anonymous" if getattr(opts, "tls_anonymous", False) else "none"


def _evaluate_tls(cmd: CommandLine, app: _App, opts: Options) -> None:
    """storescu's transport layer security options (DcmTLSOptions::parseArguments), in its order and with its
    messages."""
    cmd.begin_block()
    if cmd.find("--disable-tls"):
        opts.tls_keys, opts.tls_anonymous = None, False
    if cmd.find("--enable-tls"):
        key = cmd.value()
        opts.tls_keys, opts.tls_anonymous = (key, cmd.value()), False
    if cmd.find("--anonymous-tls"):
        opts.tls_keys, opts.tls_anonymous = None, True
    cmd.end_block()
    mode = tls_mode(opts)
    tls = mode != "none"
    cmd.begin_block()
    if cmd.find("--std-passwd"):
        app.check_dependence("--std-passwd", "--enable-tls", mode == "auth")
        opts.tls_password = None
    if cmd.find("--use-passwd"):
        app.check_dependence("--use-passwd", "--enable-tls", mode == "auth")
        opts.tls_password = cmd.value()
    if cmd.find("--null-passwd"):
        app.check_dependence("--null-passwd", "--enable-tls", mode == "auth")
        opts.tls_password = ""
    cmd.end_block()
    cmd.begin_block()
    if cmd.find("--pem-keys"):
        app.check_dependence("--pem-keys", _TLS_ONLY, tls)
        opts.tls_der = False
    if cmd.find("--der-keys"):
        app.check_dependence("--der-keys", _TLS_ONLY, tls)
        opts.tls_der = True
    cmd.end_block()
    for name, field in (("--add-cert-file", "tls_ca_files"), ("--add-cert-dir", "tls_ca_dirs"),
                        ("--add-crl-file", "tls_crl_files")):
        values = cmd.values_from_left(name)
        if values:
            app.check_dependence(name, _TLS_ONLY, tls)
            setattr(opts, field, tuple(values))
    if opts.tls_crl_files and opts.tls_crl == "none":
        opts.tls_crl = "leaf"
    cmd.begin_block()
    if cmd.find("--enable-crl-vfy"):
        app.check_dependence("--enable-crl-vfy", _TLS_ONLY, tls)
        opts.tls_crl = "leaf"
    if cmd.find("--enable-crl-all"):
        app.check_dependence("--enable-crl-all", _TLS_ONLY, tls)
        opts.tls_crl = "all"
    cmd.end_block()
    cmd.begin_block()
    for long, profile, shown in _PROFILES:
        if cmd.find(long):
            app.check_dependence(shown or long, _TLS_ONLY, tls)
            opts.tls_profile = profile
    cmd.end_block()
    ciphers = cmd.values_from_left("--cipher")
    if ciphers:
        app.check_dependence("--cipher", _TLS_ONLY, tls)
        app.check_conflict("--cipher", "--profile-bcp195-ex", opts.tls_profile == "bcp195-ex")
        opts.tls_ciphers = tuple(ciphers)
    if cmd.find("--seed"):
        app.check_dependence("--seed", _TLS_ONLY, tls)
        opts.tls_seed_file = cmd.value()
    cmd.begin_block()
    if cmd.find("--write-seed"):
        app.check_dependence("--write-seed", _TLS_ONLY, tls)
        app.check_dependence("--write-seed", "--seed", bool(opts.tls_seed_file))
        opts.tls_write_seed_file = opts.tls_seed_file
    if cmd.find("--write-seed-file"):
        app.check_dependence("--write-seed-file", _TLS_ONLY, tls)
        app.check_dependence("--write-seed-file", "--seed", bool(opts.tls_seed_file))
        opts.tls_write_seed_file = cmd.value()
    cmd.end_block()
    cmd.begin_block()
    if cmd.find("--require-peer-cert"):
        app.check_dependence("--require-peer-cert", _TLS_ONLY, tls)
        opts.tls_verify_peer = True
    if cmd.find("--ignore-peer-cert"):
        app.check_dependence("--ignore-peer-cert", _TLS_ONLY, tls)
        opts.tls_verify_peer = False
    cmd.end_block()


def _evaluate_identity(cmd: CommandLine, app: _App, opts: Options) -> None:
    """storescu's user identity negotiation options, in its order and with its messages: a later kind replaces an
    earlier one (user name < Kerberos < SAML < JWT, see identity.from_options); the file of -kt/--saml/--jwt must
    be readable (storescu reads it here)."""
    kind = "user" if cmd.find("--user") else ""
    if kind:
        opts.identity_user = cmd.value()
    for long, field in (("--kerberos", "identity_kerberos"), ("--saml", "identity_saml"), ("--jwt", "identity_jwt")):
        if cmd.find(long):
            setattr(opts, field, cmd.value())
            kind = field
    if cmd.find("--password"):
        app.check_dependence("--password", "--user", kind == "user")
        opts.identity_password = cmd.value()
        kind = "password"
    if cmd.find("--empty-password"):
        app.check_dependence("--empty-password", "--user", kind == "user")
        opts.identity_password = ""
        kind = "password"
    if cmd.find("--pos-response"):
        app.check_dependence("--pos-response", "--user, --kerberos or --saml", bool(kind))
        opts.identity_response = True
    path = getattr(opts, kind, "") if kind.startswith("identity_") else ""
    if path:
        try:
            with open(path, "rb"):
                pass
        except OSError as exc:
            text = f"Unable to open Kerberos, SAML or JWT file: {os.strerror(exc.errno or 0)}"
            if app.library:
                raise ValueError(text) from None
            log.APP.error(text)
            raise Exit(exitcodes.COMMANDLINE_SYNTAX_ERROR) from None


def evaluate(argv: list[str], library: bool = False) -> Options:
    """Process the whole dcmsend command line (``argv[0]`` = program name as typed); see the module docstring.

    ``library``: for the Python API (which builds ``argv`` from its keyword options): errors raise ``ValueError``
    with the command line's message and print nothing, no ``@file`` is expanded and the logger is left alone."""
    program = argv[0] if argv else PROGRAM
    app = _App(library)
    if library:
        args = list(argv[1:])
    else:
        try:
            args = expand_command_files(list(argv[1:]))
        except CommandFileError as exc:
            app.error(f"Cannot open command file '{exc.name}'")
    try:
        cmd = CommandLine(program, args)
    except ParseError as exc:
        app.error(exc.message)
    if not cmd.args:
        app.usage()
    if cmd.exclusive:
        if cmd.find("--help"):
            app.usage()
        if cmd.find("--version"):
            _write(sys.stdout, version_text())
            raise Exit(exitcodes.NO_ERROR)
        if cmd.find("--list-decoders"):
            _write(sys.stdout, list_decoders_text())
            raise Exit(exitcodes.NO_ERROR)
        if cmd.find("--list-ciphers"):
            from dcmsend import tls

            # (storescu prints its header with the host lines, as --version does, then the list)
            host = version_text().split("\nExternal libraries used:")[0]
            _write(sys.stdout, host + "\nSupported TLS ciphersuites are:\n"
                   + "".join(f"  {name}\n" for name in tls.supported_ciphersuites()))
            raise Exit(exitcodes.NO_ERROR)
    elif len(cmd.param_pos) < len(PARAMS):
        app.error(f"Missing parameter {PARAMS[len(cmd.param_pos)].name}")

    opts = Options(program_name=program, arguments=list(cmd.args))

    # general options
    if not library:
        _configure_logger(cmd, app)
    from dcmsend.log import APP, INFO

    if cmd.find("--verbose-pc"):
        app.check_dependence("--verbose-pc", "verbose mode", library or APP.enabled(INFO))
        opts.verbose_pc = True

    # input options
    cmd.begin_block()
    if cmd.find("--read-file"):
        opts.read_mode = "file"
    if cmd.find("--read-file-only"):
        opts.read_mode = "fileonly"
    if cmd.find("--read-dataset"):
        opts.read_mode = "dataset"
    cmd.end_block()
    if cmd.find("--read-from-dicomdir"):
        opts.read_from_dicomdir = True
    if cmd.find("--scan-directories"):
        opts.scan_directories = True
    if cmd.find("--scan-pattern"):
        app.check_dependence("--scan-pattern", "--scan-directories", opts.scan_directories)
        opts.scan_pattern = cmd.value()
    cmd.begin_block()
    if cmd.find("--no-recurse"):
        opts.recurse = False
    if cmd.find("--recurse"):
        app.check_dependence("--recurse", "--scan-directories", opts.scan_directories)
        opts.recurse = True
    cmd.end_block()

    # processing options
    cmd.begin_block()
    if cmd.find("--decompress-never"):
        opts.decompress = "never"
    if cmd.find("--decompress-lossless"):
        opts.decompress = "lossless"
    if cmd.find("--decompress-lossy"):
        opts.decompress = "lossy"
    cmd.end_block()
    if cmd.find("--compression-level"):
        v, err = cmd.value_uint(0, 9)
        if err:
            app.error(err)
        opts.compression_level = v
    if cmd.find("--no-halt"):
        opts.no_halt = True
    if cmd.find("--no-illegal-proposal"):
        opts.no_illegal_proposal = True
    if cmd.find("--no-uid-checks"):
        opts.no_uid_checks = True

    # network options
    if cmd.find("--aetitle"):
        opts.calling_aetitle = cmd.value()
    if cmd.find("--call"):
        opts.called_aetitle = cmd.value()
    cmd.begin_block()
    if cmd.find("--multi-associations"):
        opts.multi_associations = True
    if cmd.find("--single-association"):
        opts.multi_associations = False
    cmd.end_block()
    if cmd.find("--timeout"):
        v, err = cmd.value_uint(1)
        if err:
            app.error(err)
        # dcmConnectionTimeout is a Sint32; a negative value means a blocking connect
        t = _sint32(v)
        opts.connect_timeout = t if t >= 0 else None
    if cmd.find("--acse-timeout"):
        v, err = cmd.value_uint(1)
        if err:
            app.error(err)
        opts.acse_timeout = v & 0xFFFFFFFF
    if cmd.find("--dimse-timeout"):
        v, err = cmd.value_uint(1)
        if err:
            app.error(err)
        opts.dimse_timeout = v & 0xFFFFFFFF
    if cmd.find("--max-pdu"):
        v, err = cmd.value_uint(MIN_PDU, MAX_PDU)
        if err:
            app.error(err)
        opts.max_pdu = v
    if cmd.find("--max-send-pdu"):
        v, err = cmd.value_uint(MIN_PDU, MAX_PDU)
        if err:
            app.error(err)
        opts.max_send_pdu = v

    # output options
    if cmd.find("--create-report-file"):
        opts.report_file = cmd.value()

    # extensions (not in DCMTK)
    if cmd.find("--create-json-report"):
        opts.json_report = cmd.value()
    if cmd.find("--strict-status"):
        opts.strict_status = True
    if cmd.find("--journal"):
        opts.journal = cmd.value()
    if cmd.find("--retry"):
        v, err = cmd.value_uint(0, MAX_RETRY)
        if err:
            app.error(err)
        opts.retry = v
    if cmd.find("--progress"):
        opts.progress = True
    _evaluate_identity(cmd, app, opts)
    _evaluate_tls(cmd, app, opts)
    # concurrent sending (extensions)
    if cmd.find("--parallel"):
        v, err = cmd.value_uint(PARALLEL_MIN, PARALLEL_MAX)
        if err:
            app.error(err)
        opts.parallel = v
    if cmd.find("--parallel-unit"):
        unit = cmd.value()
        if unit not in PARALLEL_UNITS:
            app.error(f"Invalid value for option --parallel-unit ({unit})")
        opts.parallel_unit = unit
    if cmd.find("--async-ops"):
        v, err = cmd.value_uint(1, ASYNC_MAX)
        if err:
            app.error(err)
        opts.async_ops = v

    # parameters
    opts.peer = cmd.param(1)
    v, err = cmd.param_uint(2, 1, 65535)
    if err:
        app.error(err)
    opts.port = v
    opts.files = [cmd.param(i) for i in range(3, len(cmd.param_pos) + 1)]

    if not library:
        APP.debug(BANNER + "\n")
    return opts
