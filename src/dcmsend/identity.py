"""User identity negotiation (PS3.7 D.3.3.7) as DCMTK's storescu does it: the sub-item of the A-ASSOCIATE-RQ made
from storescu's options (-usr/-pwd/-epw, -kt, --saml, --jwt, -rsp), the server's response read from the
A-ASSOCIATE-AC, and the lines ASC_dumpParameters shows for both."""

from __future__ import annotations

import os
import struct

REQUEST_ITEM = 0x58
RESPONSE_ITEM = 0x59
_MODES = {1: "Username", 2: "Username/Password", 3: "Kerberos", 4: "SAML", 5: "JWT"}


def from_options(options) -> tuple[int, bool, bytes, bytes] | None:
    """(type, positive response requested, primary field, secondary field) for storescu's options, or None (no
    request).  As storescu evaluates them, a later kind replaces an earlier one: user name (with password) <
    Kerberos < SAML < JWT.  The file of -kt/--saml/--jwt is read here (an unreadable file, which the command line
    refuses, gives an empty field)."""
    response = bool(getattr(options, "identity_response", False))
    for field, kind in (("identity_jwt", 5), ("identity_saml", 4), ("identity_kerberos", 3)):
        path = getattr(options, field, "")
        if path:
            try:
                with open(path, "rb") as f:
                    data = f.read()
            except OSError:
                data = b""
            return kind, response, data, b""
    user = getattr(options, "identity_user", "")
    if not user:
        return None
    password = getattr(options, "identity_password", None)
    if password is None:
        return 1, response, os.fsencode(user), b""
    return 2, response, os.fsencode(user), os.fsencode(password)


def encode(ident: tuple[int, bool, bytes, bytes]) -> bytes:
    """The User Identity sub-item (58H), placed last in the user information item as DCMTK places it."""
    kind, response, primary, secondary = ident
    payload = (struct.pack(">BBH", kind, 1 if response else 0, len(primary)) + primary
               + struct.pack(">H", len(secondary)) + secondary)
    return struct.pack(">BBH", REQUEST_ITEM, 0, len(payload)) + payload


def decode_response(value: bytes) -> bytes:
    """The server response of a User Identity response sub-item (59H) value."""
    length = struct.unpack(">H", value[:2])[0] if len(value) >= 2 else 0
    return value[2:2 + length]


def dump(ident: tuple[int, bool, bytes, bytes] | None, response: bytes | None) -> list[str]:
    """The user identity lines of ASC_dumpParameters (as DCMTK 3.6.7 shows them)."""
    if ident is None:
        lines = ["Requested User Identity Negotiation: none"]
    else:
        kind, requested, primary, secondary = ident
        lines = ["Requested User Identity Negotiation:",
                 f"  Authentication mode {kind}: {_MODES.get(kind, 'Unknown')}"]
        if kind in (1, 2):
            lines.append(f"  Username: [{primary.decode('latin-1')}]")
            if kind == 2:
                lines.append(f"  Password: [{secondary.decode('latin-1')}]")
        elif kind == 3:
            lines.append(f"  Kerberos Service Ticket (not dumped) length: {len(primary)}")
        elif kind == 4:
            lines.append(f"  SAML Assertion (not dumped) length: {len(primary)}")
        else:
            lines.append(f"  JSON Web Token (not dumped) length: {len(primary)}")
        lines.append(f"  Positive Response requested: {'Yes' if requested else 'No'}")
    if response is None:
        lines.append("User Identity Negotiation Response:  none")
    else:
        lines += ["User Identity Negotiation Response:", f"  Server Response (not dumped) length: {len(response)}"]
    return lines


def missing_positive_response(ident: tuple[int, bool, bytes, bytes] | None, response: bytes | None) -> bool:
    """storescu's check: a positive response was requested for a user name (and password) and none came.  (It does
    not check Kerberos, SAML or JWT requests.)"""
    return ident is not None and ident[1] and ident[0] in (1, 2) and response is None
