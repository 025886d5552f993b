"""Generate the manual page ``docs/dcmsend.1`` (roff) from the option table in :mod:`dcmsend.cmdline`.

    python -m dcmsend.manpage            # rewrite docs/dcmsend.1 in the source tree
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

DEFAULT_PATH = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                            "docs", "dcmsend.1")

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
    ("general", ("NO_ERROR", "COMMANDLINE_SYNTAX_ERROR")),
    ("input file errors", ("CANNOT_READ_INPUT_FILE", "NO_INPUT_FILES", "INVALID_INPUT_FILE", "NO_VALID_INPUT_FILES")),
    ("output file errors", ("CANNOT_WRITE_OUTPUT_FILE", "CANNOT_WRITE_REPORT_FILE")),
    ("network errors", ("CANNOT_INITIALIZE_NETWORK", "CANNOT_NEGOTIATE_ASSOCIATION", "CANNOT_SEND_REQUEST",
                        "CANNOT_ADD_PRESENTATION_CONTEXT")),
]
_UNUSED_CODES = ("CANNOT_READ_INPUT_FILE", "CANNOT_WRITE_OUTPUT_FILE")


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
            out.append(f".TP\n.B {getattr(exitcodes, name)}\nEXITCODE_{esc(name)}{mark}")
    out.append(".PP\n(*) " + esc("not used by dcmsend; reserved for the group, as in DCMTK."))
    out.append(".SH SEE ALSO\n.BR dcmrecv (1),\n.BR storescu (1),\n.BR storescp (1)")
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    text = render()
    target = argv[0] if argv else DEFAULT_PATH
    if target == "-":
        sys.stdout.write(text)
        return 0
    os.makedirs(os.path.dirname(os.path.abspath(target)), exist_ok=True)
    with open(target, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
