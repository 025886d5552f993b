"""The Python API: :func:`send` runs the command line's stages (input phase, planning, associations, sending,
report) in-process and returns a :class:`Result`.

Keyword options are checked as the command line checks them: they are turned into the command line they stand
for (the option table in :mod:`dcmsend.cmdline` says which option sets which field of :class:`Options`) and that is
evaluated by the command line's own code, so a bad value raises ``ValueError`` with the command line's message
(``Invalid value for option --compression-level (overflow: 42)``).  Messages go through Python's standard
:mod:`logging` (see :mod:`dcmsend.pylogging`).
"""

from __future__ import annotations

import os
import sys

from dcmsend import cmdline, exitcodes
from dcmsend.cmdline import Options

TYPE_CHECKING = False
if TYPE_CHECKING:  # (typing costs milliseconds to import; the API needs it for type checkers only)
    import ssl
    from collections.abc import Callable, Iterable
    from typing import IO, Literal, TypedDict, Union

    from pydicom import Dataset
    from typing_extensions import Unpack

    from dcmsend.collect import Instance
    from dcmsend.report_json import InstanceResult

    # one input: a path (file or directory), the bytes of a DICOM file, a binary file object, a pydicom Dataset
    Input = Union[str, "os.PathLike[str]", bytes, bytearray, memoryview, IO[bytes], Dataset]

    class SendOptions(TypedDict, total=False):
        """The keyword options of :func:`send`: the fields of :class:`dcmsend.cmdline.Options`."""

        read_mode: Literal["file", "fileonly", "dataset"]
        read_from_dicomdir: bool
        scan_directories: bool
        scan_pattern: str
        recurse: bool
        decompress: Literal["never", "lossless", "lossy"]
        compression_level: int
        no_halt: bool
        no_illegal_proposal: bool
        no_uid_checks: bool
        calling_aetitle: str
        called_aetitle: str
        multi_associations: bool
        connect_timeout: int | None
        acse_timeout: int
        dimse_timeout: int | None
        max_pdu: int
        max_send_pdu: int | None
        verbose_pc: bool
        report_file: str
        json_report: str
        strict_status: bool
        journal: str
        retry: int
        progress: bool
        tls_keys: tuple[str, str] | None
        tls_anonymous: bool
        tls_password: str | None
        tls_der: bool
        tls_ca_files: tuple[str, ...] | list[str]
        tls_ca_dirs: tuple[str, ...] | list[str]
        tls_crl_files: tuple[str, ...] | list[str]
        tls_crl: Literal["none", "leaf", "all"]
        tls_profile: Literal["bcp195-nd", "bcp195", "bcp195-ex", "aes", "null"]
        tls_ciphers: tuple[str, ...] | list[str]
        tls_seed_file: str
        tls_write_seed_file: str
        tls_verify_peer: bool
        tls_context: ssl.SSLContext | None
        identity_user: str
        identity_password: str | None
        identity_kerberos: str
        identity_saml: str
        identity_jwt: str
        identity_response: bool
        parallel: int
        parallel_unit: str
        async_ops: int

# fields of Options that are not keyword options of send() (the parameters, and what only the command line has)
_NOT_KEYWORDS = frozenset({"peer", "port", "files", "program_name", "arguments"})
# fields that are keyword options of send() only (no command-line option sets them): given as they are
API_ONLY = frozenset({"tls_context"})
AE_TITLE_FIELDS = {"calling_aetitle": "--aetitle", "called_aetitle": "--call"}


class Result:
    """What :func:`send` returns.

    ``exit_code``: the code the command line would exit with (0 = no error; see the README).
    ``instances``: the transfer list as far as the send got (also when the input phase stopped at an invalid file):
    one :class:`dcmsend.collect.Instance` per SOP instance with ``path``, ``sop_class_uid``, ``sop_instance_uid``,
    ``transfer_syntax_uid``, ``dataset_size``, ``association``, ``context_id``, ``network_ts`` and ``status`` (the
    DIMSE status of the C-STORE response; None: not sent; 0xFFFF: no acceptable presentation context).
    ``errors`` / ``warnings``: the texts of the error (and fatal) / warning messages of this send, in order: why it
    ended (``errors[-1]``, also :attr:`message`), which files were ignored, ...
    ``report``: the JSON report's document (a dict, see docs/report-schema.json; None when the input phase ended
    the run) and ``results``: one :class:`dcmsend.report_json.InstanceResult` per instance carrying that report's
    instance fields (``outcome``, ``status``, ``status_text``, ``error_comment``, ``condition``, ``bytes_sent``,
    ``seconds``, ``attempts``, ...).
    """

    __slots__ = ("exit_code", "instances", "errors", "warnings", "report", "results")

    def __init__(self, exit_code: int, instances: list[Instance] | None = None, errors: list[str] | None = None,
                 warnings: list[str] | None = None, report: dict | None = None,
                 results: list[InstanceResult] | None = None) -> None:
        self.exit_code: int = exit_code
        self.instances: list[Instance] = list(instances or [])
        self.errors: list[str] = list(errors or [])
        self.warnings: list[str] = list(warnings or [])
        self.report: dict | None = report
        self.results: list[InstanceResult] = list(results or [])

    def __repr__(self) -> str:
        failed = len(self.failed)
        return (f"Result(exit_code={self.exit_code}, instances=<{len(self.instances)} instances, {failed} failed>, "
                f"message={self.message!r})")

    @property
    def message(self) -> str:
        """Why the send ended unsuccessfully: the last error message ('' when there was none)."""
        return self.errors[-1] if self.errors else ""

    @property
    def stored(self) -> list[Instance]:
        """The instances the peer stored: response status success or warning."""
        return [i for i in self.instances if i.status is not None and stored(i.status)]

    @property
    def skipped(self) -> list[Instance]:
        """The instances not sent because the journal says this peer stored them before (``journal``)."""
        if len(self.results) != len(self.instances):
            return []
        return [i for i, r in zip(self.instances, self.results) if r.outcome == "skipped"]

    @property
    def failed(self) -> list[Instance]:
        """The instances not stored: not sent (status None; not those the journal skipped), refused, failed, or no
        acceptable presentation context."""
        skipped = {id(i) for i in self.skipped}
        return [i for i in self.instances if (i.status is None or not stored(i.status)) and id(i) not in skipped]

    @property
    def all_stored(self) -> bool:
        """Every instance of the transfer list was stored, now or (skipped by the journal) before; at least one."""
        return bool(self.instances) and not self.failed

    @property
    def ok(self) -> bool:
        """No error and every instance stored (with ``no_halt`` the exit code is 0 even when some failed)."""
        return self.exit_code == exitcodes.NO_ERROR and self.all_stored


def stored(status: int) -> bool:
    """A C-STORE response status that means stored: success, or a warning (DICOM_WARNING_STATUS)."""
    from dcmsend.report import _is_warning

    return status == 0 or _is_warning(status)


# ---------------------------------------------------------------------------------------------------------------
# Options: keyword options -> the command line they stand for -> cmdline.evaluate
# ---------------------------------------------------------------------------------------------------------------

_TYPES = {"str": str, "int": int, "bool": bool, "None": type(None), "float": float}


def _check_type(name: str, value: object, annotation: str) -> None:
    """A type check from the annotation text of an Options field (``str``, ``int | None``, ``list[str]``, ...)."""
    allowed = []
    for part in annotation.replace(" ", "").split("|"):
        base = part.split("[", 1)[0]
        if base in _TYPES:
            allowed.append(_TYPES[base])
        elif base in ("list", "tuple"):
            allowed += [list, tuple]
        else:
            return  # (an annotation we do not read: no check)
    if isinstance(value, bool) and bool not in allowed:
        ok = False  # (True is an int to Python, not to an option taking a number)
    else:
        ok = isinstance(value, tuple(allowed))
    if not ok:
        raise TypeError(f"{name} must be {annotation}, not {type(value).__name__}")


def _check_ae_title(option: str, value: str) -> None:
    """DCMTK copies at most 16 characters of an AE title (silently cut); the API refuses what cannot be one."""
    if not value.strip(" "):
        raise ValueError(f"Invalid value for option {option} (empty AE title)")
    if len(value) > 16:
        raise ValueError(f"Invalid value for option {option} (AE title longer than 16 characters: {value})")
    if "\\" in value or any(ord(c) < 0x20 or ord(c) > 0x7E for c in value):
        raise ValueError(f"Invalid value for option {option} (AE title with a backslash or a control or non-ASCII "
                         f"character: {value!r})")


def options_from_keywords(peer: str, port: int, keywords: dict, base: Options | None = None) -> Options:
    """The :class:`Options` for ``send(peer, port, ..., **keywords)``, checked as the command line checks them.

    Every keyword is a field of Options (else ``TypeError``) of the annotated type (else ``TypeError``); the
    options of the table that set it give the command line it stands for, which :func:`cmdline.evaluate` checks
    (``ValueError`` with its message).  ``base``: options to start from (the keywords override them)."""
    annotations = Options.__annotations__
    values: dict = {}
    if base is not None:
        for name in annotations:
            if name not in _NOT_KEYWORDS and getattr(base, name) != getattr(Options, name, None):
                values[name] = getattr(base, name)
    for name, value in keywords.items():
        if name in _NOT_KEYWORDS or name not in annotations:
            raise TypeError(f"send() got an unexpected keyword argument '{name}'")
        # file names may be path objects, as the inputs may (json_report=Path("run.json"), tls_keys=(key, cert))
        if isinstance(value, os.PathLike):
            value = os.fspath(value)
        elif isinstance(value, (list, tuple)) and any(isinstance(v, os.PathLike) for v in value):
            value = type(value)(os.fspath(v) if isinstance(v, os.PathLike) else v for v in value)
        values[name] = value
    if not isinstance(peer, str):
        raise TypeError(f"peer must be str, not {type(peer).__name__}")
    if isinstance(port, bool) or not isinstance(port, int):
        raise TypeError(f"port must be int, not {type(port).__name__}")
    if not peer:
        raise ValueError("Invalid parameter value (empty peer)")

    argv = [cmdline.PROGRAM]
    direct: dict = {}  # fields no option sets: given as they are
    for name, value in values.items():
        _check_type(name, value, annotations[name])
        if name in AE_TITLE_FIELDS:
            _check_ae_title(AE_TITLE_FIELDS[name], value)
        setting = [o for o in cmdline.OPTIONS if o.field == name]
        if not setting:
            direct[name] = value
            continue
        with_value = [o for o in setting if o.value]
        flags = [o for o in setting if not o.value]
        if value is None:
            if getattr(Options, name, None) is not None:
                raise TypeError(f"{name} must not be None")
            continue  # (the default: no option)
        flag = next((o for o in flags if type(o.sets) is type(value) and o.sets == value), None)
        if flag is not None:
            argv.append(flag.long)
        elif with_value and with_value[0].count > 1 and isinstance(value, (list, tuple)):
            if len(value) != with_value[0].count:  # (+tls: key file and certificate file)
                raise ValueError(f"Invalid value for {name}: {value!r} ({with_value[0].count} values)")
            argv += [with_value[0].long, *(str(v) for v in value)]
        elif with_value and isinstance(value, (list, tuple)):
            for item in value:  # (an option given once per value: +cf, +cd, +crl, +cs)
                argv += [with_value[0].long, str(item)]
        elif with_value and not isinstance(value, bool):
            argv += [with_value[0].long, str(value)]
        elif value == getattr(Options, name, None):
            continue  # (the default, which no option of its own sets)
        else:
            accepted = ", ".join(repr(o.sets) for o in flags)
            raise ValueError(f"Invalid value for {name}: {value!r} (one of {accepted})")
    argv += [peer, str(port), "<inputs>"]
    options = cmdline.evaluate(argv, library=True)
    for name, value in direct.items():
        setattr(options, name, value)
    options.files = []
    options.program_name = cmdline.PROGRAM
    return options


# ---------------------------------------------------------------------------------------------------------------
# Inputs: paths, bytes, file objects, pydicom data sets
# ---------------------------------------------------------------------------------------------------------------


def _is_dataset(item: object) -> bool:
    pydicom = sys.modules.get("pydicom")  # (a Dataset exists only if pydicom was imported: never imported here)
    return pydicom is not None and isinstance(item, pydicom.Dataset)


def _write_dataset(dataset, path: str) -> None:
    """A pydicom Dataset as a DICOM file: its file meta information, or one made for it (explicit VR little endian
    unless the data set says otherwise)."""
    import pydicom

    meta = getattr(dataset, "file_meta", None)
    if meta is not None and "TransferSyntaxUID" in meta:
        pydicom.dcmwrite(path, dataset, enforce_file_format=True)
    else:
        implicit = getattr(dataset, "is_implicit_VR", None)
        little = getattr(dataset, "is_little_endian", None)
        pydicom.dcmwrite(path, dataset, enforce_file_format=True,
                         implicit_vr=bool(implicit) if implicit is not None else False,
                         little_endian=bool(little) if little is not None else True)


def _spool(item: object, index: int, folder: list[str]) -> str | None:
    """The path of a temporary file holding an in-memory input (None: ``item`` is a path)."""
    if isinstance(item, (str, os.PathLike)):
        return None
    if isinstance(item, (bytes, bytearray, memoryview)):
        data = bytes(item)
        writer = None
    elif _is_dataset(item):
        data = b""
        writer = item
    elif callable(getattr(item, "read", None)):
        data = getattr(item, "read")()  # noqa: B009  (any object with a read method)
        if not isinstance(data, (bytes, bytearray)):
            raise TypeError(f"input {index}: a file object must be opened in binary mode")
        writer = None
    else:
        raise TypeError(f"input {index}: expected a path, bytes, a binary file object or a pydicom Dataset, not "
                        f"{type(item).__name__}")
    if not folder:
        import tempfile

        folder.append(tempfile.mkdtemp(prefix="dcmsend-inputs-"))
    path = os.path.join(folder[0], f"input-{index}.dcm")
    if writer is not None:
        _write_dataset(writer, path)
    else:
        with open(path, "wb") as fh:
            fh.write(data)
    return path


# ---------------------------------------------------------------------------------------------------------------
# send()
# ---------------------------------------------------------------------------------------------------------------

_state_lock = None
_active = 0
_recursion_limit = 0


def _enter() -> None:
    """The first of concurrent sends raises the recursion limit as the command line does (deep sequences)."""
    global _state_lock, _active, _recursion_limit
    import threading

    from dcmsend.cli import RECURSION_LIMIT

    if _state_lock is None:
        _state_lock = threading.Lock()
    with _state_lock:
        if _active == 0:
            _recursion_limit = sys.getrecursionlimit()
            if _recursion_limit < RECURSION_LIMIT:
                sys.setrecursionlimit(RECURSION_LIMIT)
        _active += 1


def _leave() -> None:
    global _active
    assert _state_lock is not None
    with _state_lock:
        _active -= 1
        if _active == 0 and sys.getrecursionlimit() != _recursion_limit:
            sys.setrecursionlimit(_recursion_limit)


def send(peer: str, port: int, inputs: Input | Iterable[Input], options: Options | None = None,
         on_instance: Callable[[InstanceResult], object] | None = None, **keywords: Unpack[SendOptions]) -> Result:
    """Send DICOM instances like ``dcmsend peer port inputs...`` and return a :class:`Result`.

    ``inputs``: one input or a list of them.  An input is a path (a file; a directory with
    ``scan_directories=True``; a DICOMDIR with ``read_from_dicomdir=True``), the bytes of a DICOM file, a binary
    file object (read to its end) or a pydicom ``Dataset`` (written with its file meta information, or with one
    made for it); in-memory inputs are sent from temporary files ``.../input-<index>.dcm``, removed afterwards.

    ``options``: a :class:`dcmsend.cmdline.Options` to start from; keyword options (the fields of Options, for
    example ``scan_directories=True``, ``no_halt=True``, ``called_aetitle="PACS"``, ``decompress="lossy"``,
    ``report_file="report.txt"``; the extensions too: ``json_report="run.json"``, ``strict_status=True``,
    ``journal="j.sqlite"``, ``retry=3``, ``progress=True``) override it.  They are checked as the command line
    checks its options: an unknown keyword or a value of the wrong type raises ``TypeError``, a value the command
    line refuses raises ``ValueError`` with the command line's message.

    ``on_instance``, if given, is called with a :class:`dcmsend.report_json.InstanceResult` each time an instance
    is done (its ``done`` and ``total`` say how far the run is).

    Messages go to the standard :mod:`logging` loggers ``dcmtk.apps.dcmsend``, ``dcmtk.dcmnet`` and
    ``dcmtk.dcmdata``; the result carries this send's warning and error texts.  Thread-safe: sends in several
    threads run independently (each record names its send in ``record.dcmsend_send``).
    """
    from dcmsend import collect, pylogging
    from dcmsend.exitcodes import Exit

    opts = options_from_keywords(peer, port, dict(keywords), base=options)
    if isinstance(inputs, (str, bytes, bytearray, memoryview, os.PathLike)) or _is_dataset(inputs) or callable(
            getattr(inputs, "read", None)):
        items: list = [inputs]
    else:
        items = list(inputs)
    folder: list[str] = []
    entries: list[Instance] = []
    outcome: dict = {}
    try:
        files = []
        for index, item in enumerate(items):
            spooled = _spool(item, index, folder)
            files.append(spooled if spooled is not None else os.fsdecode(os.fspath(item)))
        opts.files = files
        _enter()
        try:
            with pylogging.library_logging() as collector:
                from dcmsend import runner

                try:
                    collect.collect(opts, entries)
                except Exit as exc:
                    code = runner.input_phase_failed(opts, exc.code)
                else:
                    try:
                        code = runner.transfer(opts, entries, on_instance, outcome)
                    except Exit as exc:
                        code = exc.code
        finally:
            _leave()
    finally:
        if folder:
            import shutil

            shutil.rmtree(folder[0], ignore_errors=True)
    return Result(code, entries, collector.errors, collector.warnings, outcome.get("report"), outcome.get("results"))


__all__ = ["Result", "send", "options_from_keywords", "stored", "Options"]
