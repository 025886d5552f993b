"""DCMTK-style command-line engine and the dcmsend option table.

(Placeholder: the engine is being written; ``Options`` below is the stable interface for the other stages.)
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Options:
    """The evaluated dcmsend command line (what the other stages read)."""

    peer: str = ""
    port: int = 0
    files: list[str] = field(default_factory=list)
    # input
    read_mode: str = "fileonly"  # collect.READ_FILE ('file', +f) / READ_FILE_ONLY ('fileonly', +fo) / READ_DATASET ('dataset', -f)
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
