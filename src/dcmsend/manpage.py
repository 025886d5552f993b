"""Generate the manual page ``docs/dcmsend.1`` (roff) from the option table in :mod:`dcmsend.cmdline`.

    python -m dcmsend.manpage            # rewrite docs/dcmsend.1 in a source tree (elsewhere: print it to stdout)
    python -m dcmsend.manpage -          # print it to stdout
    python -m dcmsend.manpage PATH       # write it to PATH

``--help``, the parser and this page are all generated from the same table, so they cannot drift apart
(tests/test_cmdline.py checks that the committed page is up to date).
"""

from __future__ import annotations

import os
import sys

from dcmsend import __date__, __version__, exitcodes
from dcmsend.cmdline import DESCRIPTION, PARAMS, PROGRAM, TABLE, Group, Opt, SubGroup, syntax_string

SOURCE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEFAULT_PATH = os.path.join(SOURCE_ROOT, "docs", "dcmsend.1")


def in_source_tree() -> bool:
    """True when this module runs from a source checkout (src/dcmsend next to pyproject.toml and docs/), where the
    page without an argument is rewritten; an installed copy (site-packages) has no such tree around it."""
    return (os.path.isfile(os.path.join(SOURCE_ROOT, "pyproject.toml"))
            and os.path.isdir(os.path.join(SOURCE_ROOT, "docs"))
            and os.path.basename(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))) == "src")

_DESCRIPTION_TEXT = """\
dcmsend is a storage service class user (SCU): it sends DICOM files to a storage service class provider (SCP),
for example a PACS.  It is a Python clone of the DCMTK tool of the same name (version 3.6.7) and behaves as that
program does: the same options, messages, exit codes, report file and presentation contexts.
.PP
The files given as dcmfile-in are checked first (they must be DICOM files with a storage SOP class, unless
the checks are switched off); then as many associations as needed are negotiated with the peer and every file
is sent with a C-STORE request.  Compressed data sets are decompressed if the peer does not accept their
transfer syntax and decompression is allowed (see the transfer syntax conversion options)."""

_NOTES = [
    ("Command line", """\
Options start with "+" or "-" followed by a character that is not a digit; everything else (including "-",
"-5" and the empty string) is a parameter.  Option names must be given exactly; there is no "--option=value"
form.  Options may appear before, between or after the parameters.  If an option is given more than once, or
several options of a mutually exclusive group are given, the rightmost one counts.
.PP
An argument "@file" is replaced by the words of that file before anything else is evaluated.  Words are
separated by spaces, tabs and line breaks; text in double or single quotes is one word (also when empty).  A
command file cannot include another command file."""),
    ("Logging", """\
By default only warnings and errors are written to standard error, as lines of the form "E: message".
--verbose adds informational messages, --debug debugging details and --quiet leaves only fatal errors; other
levels can be chosen with --log-level.  --log-config reads a log4cplus property file as DCMTK does, which can
send messages to files (with rollover), change the layout and filter by logger: see logger.cfg.example in the
source distribution.  The logger names are dcmtk.apps.dcmsend, dcmtk.dcmnet and dcmtk.dcmdata."""),
    ("Extensions", """\
The options in the section "extensions (not in DCMTK's dcmsend)" are not DCMTK's; without them dcmsend behaves
as DCMTK's does.  --create-json-report writes one JSON document (schema dcmsend-report/1, every field described
in docs/report-schema.json): the run, each attempt, each association with its presentation contexts and how it
ended, and each instance with its outcome, DIMSE status, error comment, condition, bytes sent and time.  It is
written atomically (a temporary file renamed), also when the run halts or is interrupted; instances never tried
have the outcome "not-tried".
.PP
--journal keeps an SQLite database (WAL mode, committed in batches of 64 rows or every second and at the end) of
the instances the peer stored with a success or warning status, per peer (host, port, calling and called AE
title).  A later run skips every instance whose file is unchanged (path, size, modification time and SOP Instance
UID), says how many it skipped, and both reports show them as skipped.  An unusable journal ends the run with
exit code 40.
.PP
--retry n: after a transient failure (connection refused or reset, A-ASSOCIATE-RJ rejected-transient, A-ABORT
by the peer, socket, ACSE or DIMSE timeout) or a status 0xA7xx (Refused: Out of Resources), the instances not yet
stored are sent again on a new association, up to n times, after 1, 2, 4, ... seconds (doubling, at most 60).
Permanent failures are not retried.  Each retry is announced with a warning and is an attempt in the JSON report.
.PP
--strict-status: exit code 101 instead of 0 when any instance was not stored with a success or warning status.
--progress shows a status line on standard error (on a terminal, at most 10 updates a second, wiped at the end
and before every log line) or a plain line every 5 seconds."""),
    ("Secure transport (TLS) and user identity", """\
DCMTK's dcmsend has neither; the options for them are DCMTK's storescu options, with storescu's names,
values, defaults, checks and messages.  With --enable-tls (a private key and a certificate) or --anonymous-tls the
association runs over TLS (Python's ssl module on OpenSSL); the security profiles set the protocol versions and
ciphersuites as DCMTK does, --cipher adds ciphersuites, --list-ciphers shows the ones available.  By default the
peer's certificate must verify against the certificates given with --add-cert-file or --add-cert-dir
(--ignore-peer-cert: no verification).  A TLS layer that cannot be set up (key, certificate, ciphersuite) and a
failed handshake end the program with exit code 61, as any failed association.  The seed file of --seed is added to
OpenSSL's random pool (which seeds itself anyway); --write-seed and --write-seed-file write new random bytes.
.PP
--user (with --password or --empty-password), --kerberos, --saml and --jwt send the user identity sub-item of
the A-ASSOCIATE-RQ; with --pos-response a user name (and password) request fails when the peer's A-ASSOCIATE-AC
has no user identity response: the association is aborted and the program ends with exit code 61.
Without these options nothing changes: the same bytes on the wire, and the ssl module is not even loaded."""),
]

_EXIT_CODE_GROUPS = [
    ("general", ("NO_ERROR", "COMMANDLINE_SYNTAX_ERROR", "MEMORY_EXHAUSTED")),
    ("input file errors", ("CANNOT_READ_INPUT_FILE", "NO_INPUT_FILES", "INVALID_INPUT_FILE", "NO_VALID_INPUT_FILES")),
    ("output file errors", ("CANNOT_WRITE_OUTPUT_FILE", "CANNOT_WRITE_REPORT_FILE")),
    ("network errors", ("CANNOT_INITIALIZE_NETWORK", "CANNOT_NEGOTIATE_ASSOCIATION", "CANNOT_SEND_REQUEST",
                        "CANNOT_ADD_PRESENTATION_CONTEXT")),
    ("extensions (not in DCMTK)", ("STRICT_STATUS_FAILED",)),
]
_UNUSED_CODES = ("CANNOT_READ_INPUT_FILE",)
# the codes DCMTK's dcmsend does not have (see exitcodes.py and docs/reliability.md): (code, name, explanation)
_OWN_CODES = [
    ("INTERNAL_ERROR", "an unexpected internal error (\"F: internal error: ...\"; never a Python traceback); an open "
     "association is aborted first"),
    ("INTERRUPTED_BASE", "128 + the signal number: ended by SIGINT (130, Ctrl-C) or SIGTERM (143) with \"F: "
     "interrupted by signal N\"; an open association is aborted first, a report file is written whole or not at "
     "all"),
]
_EXPLAIN = {
    "MEMORY_EXHAUSTED": "out of memory (\"F: internal error: out of memory\")",
}

_EXAMPLES = [
    ("send a single DICOM file to a storage SCP listening on port 11112, calling it BIGPACS:",
     "dcmsend -v pacs.example.org 11112 --call BIGPACS dicomfile.dcm"),
    ("send all DICOM files referenced from a DICOMDIR, using as many associations as needed:",
     "dcmsend -v localhost 11112 --read-from-dicomdir /media/cdrom/DICOMDIR"),
    ("send all DICOM files in a directory tree, going on after invalid files and unsuccessful stores:",
     "dcmsend -v localhost 11112 --scan-directories --recurse --no-halt /data/dicom"),
    ("the same for files ending in .dcm only, with a report file:",
     "dcmsend -v localhost 11112 +sd +r +sp '*.dcm' +crf report.txt /data/dicom"),
    ("decompress lossy compressed data sets when the peer does not accept them compressed:",
     "dcmsend -v localhost 11112 +dly images/*.dcm"),
    ("log to the console at INFO and to a rolling file at DEBUG (logger.cfg.example, source distribution):",
     "dcmsend -lc logger.cfg.example localhost 11112 /data/dicom/image.dcm"),
]


def esc(text: str) -> str:
    """Escape plain text for roff (backslashes, hyphens, control characters at the start of a line)."""
    text = text.replace("\\", "\\e").replace("-", "\\-")
    lines = []
    for line in text.split("\n"):
        if line[:1] in (".", "'"):
            line = "\\&" + line
        lines.append(line)
    return "\n".join(lines)


def _prose(text: str) -> str:
    """Paragraph text that may contain .PP requests of its own."""
    return "\n".join(line if line == ".PP" else esc(line) for line in text.split("\n"))


def _option(opt: Opt) -> str:
    names = " ".join(n for n in (opt.short, opt.long) if n)
    out = [".TP"]
    if opt.value:
        out.append(f'.BI "{esc(names)}" " {esc(opt.value)}"')
    else:
        out.append(f".B {esc(names)}")
    out.append("\n.br\n".join(esc(line) for line in opt.help.split("\n")))
    if opt.manual:
        out.append(".br\n" + esc(opt.manual))
    return "\n".join(out)


def render() -> str:
    out = [
        f'.TH {PROGRAM.upper()} 1 "{__date__}" "{PROGRAM} {__version__}" "User Commands"',
        ".SH NAME",
        f"{PROGRAM} \\- {esc(DESCRIPTION)}",
        ".SH SYNOPSIS",
        f".B {PROGRAM}\n{esc(syntax_string().strip())}",
        ".SH DESCRIPTION",
        _prose(_DESCRIPTION_TEXT),
        ".SH PARAMETERS",
    ]
    for p in PARAMS:
        out.append(f".TP\n.B {esc(p.name)}\n{esc(p.help)}")
    out.append(".SH OPTIONS")
    for entry in TABLE:
        if isinstance(entry, Group):
            out.append(f".SS {esc(entry.title.rstrip(':'))}")
        elif isinstance(entry, SubGroup):
            out.append(f".TP\n.I {esc(entry.title)}\n.PP")
        else:
            out.append(_option(entry))
    out.append(".SH NOTES")
    for title, text in _NOTES:
        out.append(f".SS {esc(title)}\n{_prose(text)}")
    out.append(".SH EXIT CODES")
    out.append(esc(f"{PROGRAM} ends with one of the following exit codes:"))
    for title, names in _EXIT_CODE_GROUPS:
        out.append(f".SS {esc(title)}")
        for name in names:
            mark = " (*)" if name in _UNUSED_CODES else ""
            explain = f" - {esc(_EXPLAIN[name])}" if name in _EXPLAIN else ""
            out.append(f".TP\n.B {getattr(exitcodes, name)}\nEXITCODE_{esc(name)}{mark}{explain}")
    out.append(".PP\n(*) " + esc("not used by dcmsend; reserved for the group, as in DCMTK."))
    out.append(".SS " + esc("not in DCMTK's dcmsend"))
    for name, text in _OWN_CODES:
        code = getattr(exitcodes, name)
        shown = f"{code + 2}, {code + 15}" if name == "INTERRUPTED_BASE" else str(code)
        out.append(f".TP\n.B {shown}\n{esc(text)}")
    out.append(".SH EXAMPLES")
    for text, command in _EXAMPLES:
        out.append(f".PP\n{esc(text)}\n.PP\n.RS\n.nf\n{esc(command)}\n.fi\n.RE")
    out.append(".SH SEE ALSO\n.BR dcmrecv (1),\n.BR storescu (1),\n.BR storescp (1)")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    text = render()
    target = argv[0] if argv else (DEFAULT_PATH if in_source_tree() else "-")
    if target == "-":
        sys.stdout.write(text)
        return 0
    os.makedirs(os.path.dirname(os.path.abspath(target)), exist_ok=True)
    with open(target, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
