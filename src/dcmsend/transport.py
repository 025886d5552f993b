"""The transport layer: a plain TCP connection or TLS over TCP, behind one interface.

:func:`connect` opens the connection the association code (network.py) talks through: name resolution, the connect
with its timeout, the socket options (send/receive timeout, buffer lengths, ``TCP_NODELAY``) and, with TLS, the
handshake.  What it returns behaves like a non-blocking socket to the association code, which never knows which
it has:

- ``recv(n, flags)`` returns what is there (``b""``: the connection ended), raises BlockingIOError when nothing is;
- ``send(data, flags)`` / ``sendmsg(parts, (), flags)`` write what the connection takes without waiting;
- ``pending()``: bytes already received and decrypted but not yet read (0 for plain TCP), so that a wait for the
  socket to become readable is skipped while they are there;
- ``fileno()`` for ``select``/``poll``, ``setsockopt``, ``setblocking``, ``close``.

Plain TCP is the socket itself (:class:`TcpSocket`, a ``_socket.socket`` with ``pending() == 0``): the bytes, the
system calls and the start-up cost are those of the code before this layer existed; the ``ssl`` module is imported
only when a TLS option is given.  TLS (:class:`TlsSocket`) wraps Python's ``ssl.SSLSocket`` in non-blocking mode:
``sendmsg`` becomes one ``SSL_write`` per piece (the data PDUs are still read from the file straight into the
reused PDU buffer and written from there: memory stays bounded), a write OpenSSL could not complete is repeated with
the same piece, as OpenSSL requires.

The TLS context follows storescu's options (DCMTK 3.6.7's DcmTLSOptions / DcmTLSTransportLayer): key and
certificate files (PEM or DER), the key's password, trusted certificates and directories, CRLs, the security
profiles (protocol versions and ciphersuites as DCMTK sets them), extra ciphersuites, peer verification.  The
differences OpenSSL-through-Python imposes are listed in docs/conformance.md.
"""

from __future__ import annotations

import _socket as socket
import errno
import os
import select

from dcmsend.exitcodes import Condition
from dcmsend.log import NET

TYPE_CHECKING = False
if TYPE_CHECKING:  # (typing costs milliseconds to import: for type checkers only)
    from typing import Any, Protocol

    class Transport(Protocol):
        """What the association code uses of a transport (TcpSocket or tls.TlsSocket)."""

        tls: bool

        def fileno(self) -> int: ...
        def pending(self) -> int: ...
        def recv(self, n: int, flags: int = ..., /) -> bytes: ...
        def send(self, data: Any, flags: int = ..., /) -> int: ...
        def sendmsg(self, parts: Any, ancdata: Any = ..., flags: int = ..., /) -> int: ...
        def setsockopt(self, level: int, option: int, value: int, /) -> None: ...
        def setblocking(self, flag: bool, /) -> None: ...
        def close(self) -> None: ...

_NET = 6
_TLS = 0x0B  # DCMTK's module number of dcmtls (OFM_dcmtls)
_TCP_INIT_ERROR = 0x31C
_ILLEGAL_SERVICE_PARAMETER = 0x30C
_UNKNOWN_HOST = 0x320


def _errno_text(err: int) -> str:
    return os.strerror(err) if err else "Success"


def _scan_int(text: str, pos: int) -> str | None:
    """The number at ``pos`` after blanks (sign allowed), as sscanf's %d would read it, or None."""
    n = len(text)
    while pos < n and text[pos].isspace():
        pos += 1
    start = pos
    if pos < n and text[pos] in "+-":
        pos += 1
    digits = pos
    while pos < n and text[pos].isdecimal():
        pos += 1
    return text[start:pos] if pos > digits else None


def _parse_int_env(text: str) -> int | None:
    """sscanf("%d") on an environment value, as glibc does it: saturated to a 64-bit long, then cut to 32 bits."""
    number = _scan_int(text, 0)
    if number is None:
        return None
    value = max(-(1 << 63), min((1 << 63) - 1, int(number)))
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value & 0x80000000 else value


class TcpSocket(socket.socket):
    """The plain transport: the TCP socket itself (nothing is ever buffered above it)."""

    __slots__ = ()
    tls = False

    def pending(self) -> int:
        return 0


# ---------------------------------------------------------------------------------------------------------------
# Opening the connection


def connect(options, io_timeout: int) -> tuple[Transport | None, Condition | None]:
    """Open the transport connection to ``options.peer``:``options.port`` (DCMTK's requestAssociationTCP up to the
    A-ASSOCIATE-RQ, its log lines and conditions); with TLS (``tls_keys``, ``tls_anonymous`` or ``tls_context``) the
    handshake follows.  Returns (transport, None) or (None, the failure condition)."""
    address = f"{options.peer}:{options.port}"
    colon = address.find(":")  # (the peer up to its first colon, then the port: "([^:]+):\s*([+-]?\d+)")
    number = _scan_int(address, colon + 1) if colon > 0 else None
    if number is None:
        return None, Condition(_NET, _ILLEGAL_SERVICE_PARAMETER, f"Illegal service parameter: {address}")
    node, port = address[:colon], int(number) & 0xFFFF
    try:
        socket.inet_aton(node)
        if node.strip() == "255.255.255.255":
            raise OSError
        host = socket.inet_ntoa(socket.inet_aton(node))
        family = socket.AF_INET
    except OSError:
        try:
            infos = socket.getaddrinfo(node, None, socket.AF_UNSPEC, socket.SOCK_STREAM)
        except (OSError, UnicodeError):
            infos = []
        if not infos:
            return None, Condition(_NET, _UNKNOWN_HOST, f"Attempt to connect to unknown host: {node}")
        family, host = infos[0][0], str(infos[0][4][0])
    try:
        sock = TcpSocket(family, socket.SOCK_STREAM)
    except OSError as exc:
        return None, Condition(_NET, _TCP_INIT_ERROR, f"TCP Initialization Error: {_errno_text(exc.errno or 0)}")
    timeout = options.connect_timeout
    try:
        if timeout is None or timeout < 0:
            sock.connect((host, port))
        else:
            sock.setblocking(False)
            err = sock.connect_ex((host, port))
            if err in (errno.EINPROGRESS, errno.EWOULDBLOCK):
                _, w, _ = select.select([], [sock], [], timeout)
                if not w:
                    sock.close()
                    return None, Condition(_NET, _TCP_INIT_ERROR,
                                           f"TCP Initialization Error: {_errno_text(errno.EINPROGRESS)} (Timeout)")
                err = sock.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                sock.close()
                return None, Condition(_NET, _TCP_INIT_ERROR, f"TCP Initialization Error: {_errno_text(err)}")
            sock.setblocking(True)
    except OSError as exc:
        sock.close()
        return None, Condition(_NET, _TCP_INIT_ERROR, f"TCP Initialization Error: {_errno_text(exc.errno or 0)}")
    NET.debug(f"setting network send timeout to {io_timeout} seconds")
    NET.debug(f"setting network receive timeout to {io_timeout} seconds")
    sock.setblocking(True)  # the timeouts are applied per operation (select/poll, see network.py)
    buffer_length = os.environ.get("TCP_BUFFER_LENGTH")
    if buffer_length is not None:
        value = _parse_int_env(buffer_length)
        if value is None:
            NET.warn(f"DULFSM: cannot parse environment variable TCP_BUFFER_LENGTH={buffer_length}")
        else:
            value = value or 65536  # (0: DCMTK's default length)
            try:
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, value)
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, value)
                NET.debug(f"DULFSM: setting TCP buffer length to {value} bytes")
            except OSError as exc:
                NET.warn("DULFSM: setTCPBufferLength: cannot set TCP buffer length socket option: "
                         + _errno_text(exc.errno or 0))
    nodelay_env = os.environ.get("TCP_NODELAY")
    nodelay = 1  # our default (documented improvement): Nagle off
    if nodelay_env is not None:
        value = _parse_int_env(nodelay_env)
        if value is None:
            NET.warn(f"DULFSM: cannot parse environment variable TCP_NODELAY={nodelay_env}")
        else:
            nodelay = value
            if value:
                NET.debug(f"DULFSM: disabling Nagle algorithm as requested at runtime (TCP_NODELAY={nodelay_env})")
    if nodelay:
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        except OSError:
            pass
    if (getattr(options, "tls_context", None) is None and not getattr(options, "tls_keys", None)
            and not getattr(options, "tls_anonymous", False)):
        return sock, None
    from dcmsend import tls

    return tls.handshake(sock, options, io_timeout)
