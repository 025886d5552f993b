"""The exit codes of DCMTK dcmsend (ofexit.h names)."""

NO_ERROR = 0
COMMANDLINE_SYNTAX_ERROR = 1
CANNOT_READ_INPUT_FILE = 20  # never used by dcmsend (placeholder)
NO_INPUT_FILES = 21
INVALID_INPUT_FILE = 22
NO_VALID_INPUT_FILES = 23
CANNOT_WRITE_OUTPUT_FILE = 40  # never used by dcmsend (placeholder)
CANNOT_WRITE_REPORT_FILE = 43
CANNOT_INITIALIZE_NETWORK = 60
CANNOT_NEGOTIATE_ASSOCIATION = 61
CANNOT_SEND_REQUEST = 62
CANNOT_ADD_PRESENTATION_CONTEXT = 65
# Not a DCMTK code: the transfer was interrupted by SIGINT/SIGTERM (128 + signal number is used).


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
