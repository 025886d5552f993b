"""Input phase: turn the file parameters into the transfer list of Instance records."""

from __future__ import annotations

from dataclasses import dataclass

# Read modes (DCMTK's E_FileReadMode as chosen by +f / +fo / -f).
READ_FILE = "file"  # +f  : file format or bare data set (auto-detect)
READ_FILE_ONLY = "fileonly"  # +fo : file format only (default)
READ_DATASET = "dataset"  # -f  : bare data set without meta header

STATUS_NO_ACCEPTABLE_CONTEXT = 0xFFFF
STATUS_INVALID_DATASET_PTR = 0xFFFE


@dataclass(slots=True, eq=False)
class Instance:
    """One transfer-list entry: what DCMTK's DcmStorageSCU keeps per SOP instance."""

    path: str  # as DCMTK prints it
    read_mode: str
    sop_class_uid: str
    sop_instance_uid: str
    transfer_syntax_uid: str
    # Filled by later stages.
    dataset_offset: int = -1  # byte offset of the data set in the file, when the input phase knows it
    dataset_size: int = 0
    association: int = 0
    context_id: int = 0
    network_ts: str = ""
    status: int | None = None  # DIMSE status of the response; None: no response (not sent)
    request_sent: bool = False  # DCMTK's RequestSent: response received, or a pseudo-status (0xFFFF/0xFFFE) set

    @property
    def uncompressed(self) -> bool:
        return self.transfer_syntax_uid in ("1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2")
