"""The exit codes of DCMTK dcmsend (ofexit.h names)."""

NO_ERROR = 0
COMMANDLINE_SYNTAX_ERROR = 1
CANNOT_READ_INPUT_FILE = 20  # never used by dcmsend (placeholder)
NO_INPUT_FILES = 21
INVALID_INPUT_FILE = 22
NO_VALID_INPUT_FILES = 23
CANNOT_WRITE_OUTPUT_FILE = 40  # not used by DCMTK's dcmsend; ours: an unusable --journal (an extension)
CANNOT_WRITE_REPORT_FILE = 43
CANNOT_INITIALIZE_NETWORK = 60
CANNOT_NEGOTIATE_ASSOCIATION = 61
CANNOT_SEND_REQUEST = 62
CANNOT_ADD_PRESENTATION_CONTEXT = 65
# Not DCMTK codes (DCMTK has no signal handling and no catch-all; see docs/reliability.md):
# - SIGINT / SIGTERM end the program with "F: interrupted by signal N" (an open association is aborted first) and
#   the exit code 128 + N (130 for Ctrl-C, 143 for SIGTERM), as a shell reports a program killed by that signal.
INTERRUPTED_BASE = 128
# - an unexpected Python exception anywhere ends the program with "F: internal error: <type>: <text>" (never a
#   traceback; an open association is aborted first) and exit code 100 (the first "application-specific" code of
#   DCMTK's ofexit.h); running out of memory gives "F: internal error: out of memory" and ofexit.h's code 4.
INTERNAL_ERROR = 100
MEMORY_EXHAUSTED = 4  # EXITCODE_MEMORY_EXHAUSTED
# - --strict-status (an extension): the run would have ended with 0, but at least one SOP instance was not stored
#   with a success or warning status (refused, error, unknown status, not sent, no acceptable context).  101: the
#   next "application-specific" code of ofexit.h after our 100; DCMTK's dcmsend uses 0, 1, 21-23, 43, 60-65 and
#   ofexit.h reserves 2-99 for its own classes (input 20-39, output 40-59, network 60-79, processing 80-99); 101 is
#   below 126/127 (the shell's "cannot execute"/"not found") and 128+N (killed by signal N).
STRICT_STATUS_FAILED = 101


class Exit(Exception):
    """Raised by a stage after it has logged why the program ends; carries the exit code."""

    def __init__(self, code: int):
        super().__init__(code)
        self.code = code


class Condition:
    """A DCMTK OFCondition: module, code and text; ``str()`` gives the ``mmmm:cccc text`` form used in dumps."""

    __slots__ = ("module", "code", "text")

    def __init__(self, module: int, code: int, text: str):
        self.module = module
        self.code = code
        self.text = text

    def __str__(self) -> str:
        return f"{self.module:04x}:{self.code:04x} {self.text}"

    def __eq__(self, other) -> bool:
        return isinstance(other, Condition) and (self.module, self.code) == (other.module, other.code)

    def __hash__(self) -> int:
        return hash((self.module, self.code))

    def __repr__(self) -> str:
        return f"Condition({str(self)!r})"


class ConditionError(Exception):
    """An operation failed with a DCMTK condition (the text is what DCMTK prints after ``...: ``)."""

    def __init__(self, condition: Condition):
        super().__init__(condition.text)
        self.condition = condition
