"""TLS for the transport layer (imported only when a TLS option is given): the ``ssl.SSLContext`` made from
storescu's options, the handshake, the non-blocking TLS socket the association code talks through, and DCMTK's log
lines and conditions for all of it.  See transport.py for the interface and docs/conformance.md for the
differences from DCMTK's TLS layer."""

from __future__ import annotations

import errno
import os
import select
import ssl
import time

from dcmsend.exitcodes import Condition
from dcmsend.log import APP, DEBUG, NET

_TLS = 0x0B  # OFM_dcmtls

# DCMTK 3.6.7's ciphersuite names (RFC names) and OpenSSL's names for them, weakest first, as DCMTK orders them
CIPHERSUITES = (
    ("TLS_RSA_WITH_NULL_SHA", "NULL-SHA"),
    ("TLS_RSA_WITH_3DES_EDE_CBC_SHA", "DES-CBC3-SHA"),
    ("TLS_RSA_WITH_AES_128_CBC_SHA", "AES128-SHA"),
    ("TLS_RSA_WITH_CAMELLIA_128_CBC_SHA", "CAMELLIA128-SHA"),
    ("TLS_RSA_WITH_AES_128_CBC_SHA256", "AES128-SHA256"),
    ("TLS_RSA_WITH_AES_128_GCM_SHA256", "AES128-GCM-SHA256"),
    ("TLS_ECDH_ECDSA_WITH_AES_128_CBC_SHA", "ECDH-ECDSA-AES128-SHA"),
    ("TLS_ECDH_RSA_WITH_AES_128_CBC_SHA", "ECDH-RSA-AES128-SHA"),
    ("TLS_ECDH_ECDSA_WITH_AES_128_CBC_SHA256", "ECDH-ECDSA-AES128-SHA256"),
    ("TLS_ECDH_RSA_WITH_AES_128_CBC_SHA256", "ECDH-RSA-AES128-SHA256"),
    ("TLS_ECDH_ECDSA_WITH_AES_128_GCM_SHA256", "ECDH-ECDSA-AES128-GCM-SHA256"),
    ("TLS_ECDH_RSA_WITH_AES_128_GCM_SHA256", "ECDH-RSA-AES128-GCM-SHA256"),
    ("TLS_RSA_WITH_CAMELLIA_256_CBC_SHA", "CAMELLIA256-SHA"),
    ("TLS_RSA_WITH_AES_256_CBC_SHA", "AES256-SHA"),
    ("TLS_RSA_WITH_AES_256_CBC_SHA256", "AES256-SHA256"),
    ("TLS_RSA_WITH_AES_256_GCM_SHA384", "AES256-GCM-SHA384"),
    ("TLS_ECDH_ECDSA_WITH_AES_256_CBC_SHA", "ECDH-ECDSA-AES256-SHA"),
    ("TLS_ECDH_RSA_WITH_AES_256_CBC_SHA", "ECDH-RSA-AES256-SHA"),
    ("TLS_ECDH_ECDSA_WITH_AES_256_CBC_SHA384", "ECDH-ECDSA-AES256-SHA384"),
    ("TLS_ECDH_RSA_WITH_AES_256_CBC_SHA384", "ECDH-RSA-AES256-SHA384"),
    ("TLS_ECDH_ECDSA_WITH_AES_256_GCM_SHA384", "ECDH-ECDSA-AES256-GCM-SHA384"),
    ("TLS_ECDH_RSA_WITH_AES_256_GCM_SHA384", "ECDH-RSA-AES256-GCM-SHA384"),
    ("TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA", "ECDHE-ECDSA-AES128-SHA"),
    ("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA", "ECDHE-RSA-AES128-SHA"),
    ("TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256", "ECDHE-ECDSA-AES128-SHA256"),
    ("TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256", "ECDHE-RSA-AES128-SHA256"),
    ("TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256", "ECDHE-ECDSA-AES128-GCM-SHA256"),
    ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "ECDHE-RSA-AES128-GCM-SHA256"),
    ("TLS_DHE_DSS_WITH_AES_128_CBC_SHA", "DHE-DSS-AES128-SHA"),
    ("TLS_DHE_DSS_WITH_CAMELLIA_128_CBC_SHA", "DHE-DSS-CAMELLIA128-SHA"),
    ("TLS_DHE_RSA_WITH_AES_128_CBC_SHA", "DHE-RSA-AES128-SHA"),
    ("TLS_DHE_RSA_WITH_CAMELLIA_128_CBC_SHA", "DHE-RSA-CAMELLIA128-SHA"),
    ("TLS_DHE_DSS_WITH_AES_128_CBC_SHA256", "DHE-DSS-AES128-SHA256"),
    ("TLS_DHE_RSA_WITH_AES_128_CBC_SHA256", "DHE-RSA-AES128-SHA256"),
    ("TLS_DHE_DSS_WITH_AES_128_GCM_SHA256", "DHE-DSS-AES128-GCM-SHA256"),
    ("TLS_DHE_RSA_WITH_AES_128_GCM_SHA256", "DHE-RSA-AES128-GCM-SHA256"),
    ("TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA", "ECDHE-ECDSA-AES256-SHA"),
    ("TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA", "ECDHE-RSA-AES256-SHA"),
    ("TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384", "ECDHE-ECDSA-AES256-SHA384"),
    ("TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA384", "ECDHE-RSA-AES256-SHA384"),
    ("TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-ECDSA-CHACHA20-POLY1305"),
    ("TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "ECDHE-RSA-CHACHA20-POLY1305"),
    ("TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384", "ECDHE-ECDSA-AES256-GCM-SHA384"),
    ("TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "ECDHE-RSA-AES256-GCM-SHA384"),
    ("TLS_DHE_DSS_WITH_AES_256_CBC_SHA", "DHE-DSS-AES256-SHA"),
    ("TLS_DHE_RSA_WITH_AES_256_CBC_SHA", "DHE-RSA-AES256-SHA"),
    ("TLS_DHE_DSS_WITH_CAMELLIA_256_CBC_SHA", "DHE-DSS-CAMELLIA256-SHA"),
    ("TLS_DHE_RSA_WITH_CAMELLIA_256_CBC_SHA", "DHE-RSA-CAMELLIA256-SHA"),
    ("TLS_DHE_DSS_WITH_AES_256_CBC_SHA256", "DHE-DSS-AES256-SHA256"),
    ("TLS_DHE_RSA_WITH_AES_256_CBC_SHA256", "DHE-RSA-AES256-SHA256"),
    ("TLS_DHE_RSA_WITH_CHACHA20_POLY1305_SHA256", "DHE-RSA-CHACHA20-POLY1305"),
    ("TLS_DHE_DSS_WITH_AES_256_GCM_SHA384", "DHE-DSS-AES256-GCM-SHA384"),
    ("TLS_DHE_RSA_WITH_AES_256_GCM_SHA384", "DHE-RSA-AES256-GCM-SHA384"),
)
_OPENSSL_NAME = dict(CIPHERSUITES)
_BCP195 = ("TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256", "TLS_DHE_RSA_WITH_AES_128_GCM_SHA256",
           "TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384", "TLS_DHE_RSA_WITH_AES_256_GCM_SHA384")
# profile: (name in DCMTK's messages, its ciphersuites (an optional 3DES last), TLS 1.3 allowed, at least TLS 1.2)
PROFILES = {
    "bcp195-nd": ("Non-downgrading BCP 195 TLS Profile", _BCP195, True, True),
    "bcp195": ("BCP 195 TLS Profile", _BCP195 + ("TLS_RSA_WITH_AES_128_CBC_SHA", "TLS_RSA_WITH_3DES_EDE_CBC_SHA"),
               True, False),
    "bcp195-ex": ("Extended BCP 195 TLS Profile", _BCP195 + ("TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384",
                                                            "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256"), False, True),
    "aes": ("AES TLS Secure Transport Connection Profile",
            ("TLS_RSA_WITH_AES_128_CBC_SHA", "TLS_RSA_WITH_3DES_EDE_CBC_SHA"), False, False),
    "null": ("Authenticated unencrypted communication", ("TLS_RSA_WITH_NULL_SHA",), False, False),
}


class SetupError(Exception):
    """The TLS layer cannot be set up; the message was logged, the condition says why."""

    def __init__(self, condition: Condition):
        super().__init__(condition.text)
        self.condition = condition


def _openssl_supported() -> set[str]:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    try:
        ctx.set_ciphers("ALL:eNULL")
    except ssl.SSLError:
        pass
    return {c["name"] for c in ctx.get_ciphers()}


def supported_ciphersuites() -> list[str]:
    """+cc: DCMTK's ciphersuites the OpenSSL library under Python's ssl module offers, in DCMTK's order."""
    have = _openssl_supported()
    return [tls for tls, name in CIPHERSUITES if name in have]


def _error_code(exc: BaseException) -> tuple[int, str]:
    """(OpenSSL's packed error code, its reason text) for an exception of the ssl module or a file error."""
    if isinstance(exc, OSError) and not isinstance(exc, ssl.SSLError):
        return 0x80000000 | (exc.errno or 0), "OpenSSL error"
    text = str(exc.args[1] if len(exc.args) > 1 else exc)
    if "] " in text:
        text = text.split("] ", 1)[1]
    text = text.rsplit(" (_ssl.c", 1)[0]
    verify = getattr(exc, "verify_message", None)
    if verify and text.endswith(": " + verify):
        text = text[:-len(verify) - 2]
    codes = getattr(getattr(ssl, "_ssl", None), "err_names_to_codes", {})
    lib, reason = codes.get(getattr(exc, "reason", None) or "", (0, 0))
    return (lib << 23) | reason, text


def _log_openssl_error(exc: BaseException) -> None:
    code, text = _error_code(exc)
    if code:  # (Python does not give OpenSSL's code for every error: then DCMTK's line cannot be written)
        APP.error(f"OpenSSL error {code:08x}: {text}")


def _pem(path: str, der: bool, kind: str) -> str:
    """The path of the file in PEM form: the file itself, or (-der) its content converted into a memory file."""
    if not der:
        return path
    with open(path, "rb") as f:
        data = f.read()
    import base64

    body = base64.encodebytes(data).decode("ascii")
    text = f"-----BEGIN {kind}-----\n{body}-----END {kind}-----\n"
    fd = os.memfd_create("dcmsend-tls")
    os.write(fd, text.encode("ascii"))
    _MEMFILES.append(fd)
    return f"/proc/self/fd/{fd}"


_MEMFILES: list[int] = []


def _release_memfiles() -> None:
    while _MEMFILES:
        try:
            os.close(_MEMFILES.pop())
        except OSError:
            pass


def _add_trusted(ctx: ssl.SSLContext, options) -> None:
    """+cf / +cd / +crl, each a warning when it cannot be loaded (as DCMTK: the rightmost first)."""
    for path in reversed(options.tls_ca_files):
        try:
            if options.tls_der:
                with open(path, "rb") as f:
                    ctx.load_verify_locations(cadata=f.read())
            else:
                ctx.load_verify_locations(cafile=path)
        except (OSError, ValueError) as exc:
            _log_openssl_error(exc)
            APP.warn(f"unable to load certificate file '{path}', ignoring")
    for path in reversed(options.tls_ca_dirs):
        try:
            ctx.load_verify_locations(capath=path)
        except (OSError, ValueError):
            pass  # (DCMTK does not say anything either: the directory is only looked into when needed)
    for path in reversed(options.tls_crl_files):
        try:
            ctx.load_verify_locations(cafile=_pem(path, options.tls_der, "X509 CRL"))
        except (OSError, ValueError) as exc:
            _log_openssl_error(exc)
            APP.warn(f"unable to load CRL file '{path}', ignoring")
    if options.tls_crl == "leaf":
        ctx.verify_flags |= ssl.VERIFY_CRL_CHECK_LEAF
    elif options.tls_crl == "all":
        ctx.verify_flags |= ssl.VERIFY_CRL_CHECK_CHAIN


def _load_key(ctx: ssl.SSLContext, options) -> None:
    key, cert = options.tls_keys
    cert_ok = True
    try:
        probe = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        if options.tls_der:
            with open(cert, "rb") as f:
                probe.load_verify_locations(cadata=f.read())
        else:
            probe.load_verify_locations(cafile=cert)
    except (OSError, ValueError):
        cert_ok = False
    try:
        certfile = _pem(cert, options.tls_der, "CERTIFICATE")
    except OSError:
        certfile = cert
    keyfiles = [key]
    if options.tls_der:
        keyfiles = []
        for kind in ("PRIVATE KEY", "RSA PRIVATE KEY", "EC PRIVATE KEY", "ENCRYPTED PRIVATE KEY"):
            try:
                keyfiles.append(_pem(key, True, kind))
            except OSError:
                keyfiles = [key]
                break
    failure: BaseException | None = None
    for keyfile in keyfiles:
        try:
            ctx.load_cert_chain(certfile, keyfile, options.tls_password)
            failure = None
            break
        except (OSError, ValueError) as exc:
            failure = exc
            if getattr(exc, "reason", None) == "KEY_VALUES_MISMATCH":
                break
    _release_memfiles()
    if failure is None:
        return
    if getattr(failure, "reason", None) == "KEY_VALUES_MISMATCH":  # (DCMTK compares them itself: no OpenSSL error)
        raise SetupError(Condition(_TLS, 6, f"Private key '{key}' and certificate '{cert}' do not match"))
    wrong = _wrong_password(key, options)
    if wrong:  # (what OpenSSL 3 says; Python only says "PEM lib")
        APP.error("OpenSSL error 1c800064: bad decrypt" if options.tls_password is not None
                  else "OpenSSL error 1400006b: processing error")
    else:
        _log_openssl_error(failure)
    if (not cert_ok and os.path.exists(key)):
        raise SetupError(Condition(_TLS, 6, f"Private key '{key}' and certificate '{cert}' do not match"))
    raise SetupError(Condition(_TLS, 4, f"Unable to load private TLS key from '{key}'"))


def _wrong_password(key: str, options) -> bool:
    """An encrypted PEM key that did not load with the given password."""
    if options.tls_der or ssl.OPENSSL_VERSION_INFO < (3,):
        return False
    try:
        with open(key, "rb") as f:
            return b"ENCRYPTED" in f.read(4096)
    except OSError:
        return False


def _ciphers(options) -> tuple[str, bool, bool]:
    """The OpenSSL cipher list of the profile and +cs (DCMTK's checks and warnings), TLS 1.3, TLS 1.2 minimum."""
    profile = options.tls_profile
    title, suites, tls13, modern = PROFILES[profile]
    have = _openssl_supported()
    # (DCMTK checks a profile's ciphersuites against its own table only; OpenSSL skips the ones it lacks, such as
    # 3DES in OpenSSL 3)
    chosen: list[str] = list(suites)
    for suite in reversed(options.tls_ciphers):  # (DCMTK takes them rightmost first)
        name = _OPENSSL_NAME.get(suite)
        if name is None:
            raise SetupError(Condition(1, 7, "Illegal call, perhaps wrong parameters"))
        if name not in have:
            APP.fatal(f"Ciphersuite '{suite}' not supported by the OpenSSL library used to compile this application.")
            raise SetupError(Condition(_TLS, 3, f"Unknown or invalid ciphersuite: {suite}"))
        if profile in ("aes", "bcp195", "bcp195-nd"):
            if suite == "TLS_RSA_WITH_NULL_SHA":
                APP.fatal(f"Unencrypted ciphersuite '{suite}' not permitted with security profile '{title}'")
                raise SetupError(Condition(_TLS, 10, "Ciphersuite not allowed in current DICOM security profile"))
            # (DCMTK 3.6.7 warns about every ciphersuite added to these profiles, with this odd wording)
            transport = "RSA" if suite.startswith("TLS_RSA_") else "NO RSA"
            APP.warn(f"Ciphersuite '{suite}' uses {transport} key transport. RFC 7525 recommends that such cipher "
                     "suites should not be used.")
        chosen.append(suite)
    text = ":".join(_OPENSSL_NAME[s] for s in chosen)
    if profile == "null":
        text += ":@SECLEVEL=0"  # (unencrypted ciphersuites exist only at OpenSSL's security level 0)
    return text, tls13, modern


def _seed(options) -> None:
    """+rs / +ws / +wf: OpenSSL under Python seeds itself; the seed file's content is added to its pool
    (``RAND_add``), and new random bytes are written back where asked."""
    if options.tls_seed_file:
        try:
            with open(options.tls_seed_file, "rb") as f:
                data = f.read(1 << 20)
            if data:
                ssl.RAND_add(data, len(data))
        except OSError:
            pass  # (as DCMTK: a missing seed file is no error)
    if options.tls_write_seed_file:
        try:
            with open(options.tls_write_seed_file, "wb") as f:
                f.write(ssl.RAND_bytes(1024))
        except OSError:
            APP.warn(f"cannot write random seed file '{options.tls_write_seed_file}', ignoring.")


def make_context(options) -> ssl.SSLContext:
    """The client-side ``SSLContext`` for storescu's TLS options (``options.tls_context`` as it is, if given).
    Raises SetupError after logging DCMTK's messages."""
    given = getattr(options, "tls_context", None) or getattr(options, "_tls_made", None)
    if given is not None:
        return given
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False  # (DCMTK does not compare host names with the certificate)
    ctx.verify_mode = ssl.CERT_REQUIRED if options.tls_verify_peer else ssl.CERT_NONE
    _seed(options)
    _add_trusted(ctx, options)
    if options.tls_keys:
        _load_key(ctx, options)
    ciphers, tls13, modern = _ciphers(options)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2 if modern else ssl.TLSVersion.MINIMUM_SUPPORTED
    if not tls13:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    try:
        ctx.set_ciphers(ciphers)
    except ssl.SSLError as exc:
        _log_openssl_error(exc)
        raise SetupError(Condition(_TLS, 3, f"Unknown or invalid ciphersuite: {ciphers}")) from None
    return ctx


# ---------------------------------------------------------------------------------------------------------------
# The connection


_RECORD_WAIT = 5.0  # seconds a blocking read waits for the rest of a TLS record


class TlsSocket:
    """The TLS transport: an ``ssl.SSLSocket`` in non-blocking mode with the socket interface of transport.py."""

    tls = True
    __slots__ = ("_s",)

    def __init__(self, sslsock):
        self._s = sslsock

    def fileno(self) -> int:
        return self._s.fileno()

    def pending(self) -> int:
        try:
            return self._s.pending()
        except (OSError, ValueError):
            return 0

    def recv(self, n: int, flags: int = 0) -> bytes:
        """Without MSG_DONTWAIT (the association code's A-ABORT wait, after the socket became readable): wait a
        moment for the rest of a TLS record, as a blocking read would."""
        deadline = None if flags else time.monotonic() + _RECORD_WAIT
        while True:
            try:
                return self._s.recv(n)
            except (ssl.SSLWantReadError, ssl.SSLWantWriteError):
                remaining = 0.0 if deadline is None else deadline - time.monotonic()
                if remaining <= 0 or not select.select([self._s], [], [], remaining)[0]:
                    raise BlockingIOError(errno.EAGAIN, "TLS record incomplete") from None
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                return b""
            except ssl.SSLError as exc:
                raise ConnectionResetError(errno.ECONNRESET, str(exc)) from None

    def send(self, data, flags: int = 0) -> int:
        try:
            return self._s.send(data)
        except (ssl.SSLWantWriteError, ssl.SSLWantReadError):
            raise BlockingIOError(errno.EAGAIN, "TLS write incomplete") from None
        except ssl.SSLError as exc:
            raise BrokenPipeError(errno.EPIPE, str(exc)) from None

    def sendmsg(self, parts, ancdata=(), flags: int = 0) -> int:
        """The pieces one after the other (one TLS write each); stops at the first piece not written at once."""
        sent = 0
        for part in parts:
            try:
                n = self._s.send(part)
            except (ssl.SSLWantWriteError, ssl.SSLWantReadError):
                if sent:
                    return sent
                raise BlockingIOError(errno.EAGAIN, "TLS write incomplete") from None
            except ssl.SSLError as exc:
                if sent:
                    return sent
                raise BrokenPipeError(errno.EPIPE, str(exc)) from None
            sent += n
            if n < len(part):
                break
        return sent

    def setsockopt(self, *args) -> None:
        self._s.setsockopt(*args)

    def getsockopt(self, *args):
        return self._s.getsockopt(*args)

    def setblocking(self, flag: bool) -> None:
        pass  # (always non-blocking: the waits are the association code's)

    def close(self) -> None:
        """Send the TLS close_notify (without waiting for the peer's) and close the connection."""
        try:
            self._s._sslobj.shutdown()
        except (OSError, ValueError, AttributeError):
            pass
        try:
            self._s.close()
        except OSError:
            pass


def _condition(exc: BaseException) -> Condition:
    """DCMTK's condition for a failed TLS handshake."""
    if isinstance(exc, ssl.SSLError) and not isinstance(exc, (ssl.SSLEOFError, ssl.SSLSyscallError)):
        code, text = _error_code(exc)
        return Condition(_TLS, 0x800 + (code & 0x7FFFFF), f"TLS error: {text}")
    return Condition(_TLS, 0x17, "OpenSSL I/O error (SSL_ERROR_SYSCALL)")


def handshake(sock, options, io_timeout: int):
    """The client side of the TLS handshake on the connected ``sock``: (TlsSocket, None) or (None, condition)."""
    try:
        ctx = make_context(options)
    except SetupError as exc:  # (made before the association for the command line; here for the Python API)
        sock.close()
        return None, exc.condition
    try:
        sslsock = ctx.wrap_socket(sock, server_side=False, do_handshake_on_connect=False)
    except (OSError, ValueError) as exc:
        sock.close()
        return None, _condition(exc)
    try:
        sslsock.settimeout(io_timeout)
        sslsock.do_handshake()
        sslsock.setblocking(False)
    except (OSError, ValueError) as exc:
        try:
            sslsock.close()
        except OSError:
            pass
        return None, _condition(exc)
    if NET.enabled(DEBUG):
        NET.debug(describe(sslsock))
    return TlsSocket(sslsock), None


# ---------------------------------------------------------------------------------------------------------------
# DEBUG: the connection details DCMTK's TLS layer logs after the handshake

_SHORT_NAMES = {"commonName": "CN", "countryName": "C", "organizationName": "O", "organizationalUnitName": "OU",
                "localityName": "L", "stateOrProvinceName": "ST", "emailAddress": "emailAddress",
                "domainComponent": "DC", "serialNumber": "serialNumber", "givenName": "GN", "surname": "SN",
                "title": "title", "userId": "UID", "streetAddress": "street"}


def _name(rdns) -> str:
    return "".join(f"/{_SHORT_NAMES.get(k, k)}={v}" for rdn in rdns for k, v in rdn)


def _der_items(data: bytes, pos: int, end: int):
    """(tag, content start, content end) of each DER element in data[pos:end]."""
    while pos < end:
        tag = data[pos]
        length = data[pos + 1]
        pos += 2
        if length & 0x80:
            count = length & 0x7F
            length = int.from_bytes(data[pos:pos + count], "big")
            pos += count
        yield tag, pos, pos + length
        pos += length


def _public_key(der: bytes) -> str:
    """'RSA, 2048 bits' / 'EC, 256 bits' from a certificate's SubjectPublicKeyInfo (a small DER walk)."""
    try:
        _, start, end = next(_der_items(der, 0, len(der)))  # Certificate
        _, start, end = next(_der_items(der, start, end))  # TBSCertificate
        items = list(_der_items(der, start, end))
        if items[0][0] == 0xA0:
            items = items[1:]
        _, s, e = items[5]  # subjectPublicKeyInfo
        (_, a, b), (_, ks, ke) = list(_der_items(der, s, e))[:2]
        oids = list(_der_items(der, a, b))
        oid = der[oids[0][1]:oids[0][2]]
        if oid == bytes.fromhex("2a864886f70d010101"):  # rsaEncryption
            _, ms, me = next(_der_items(der, ks + 1, ke))
            _, ns, ne = next(_der_items(der, ms, me))
            return f"RSA, {int.from_bytes(der[ns:ne], 'big').bit_length()} bits"
        if oid == bytes.fromhex("2a8648ce3d0201"):  # id-ecPublicKey
            curve = der[oids[1][1]:oids[1][2]]
            bits = {bytes.fromhex("2a8648ce3d030107"): 256, bytes.fromhex("2b81040022"): 384,
                    bytes.fromhex("2b81040023"): 521}.get(curve, 0)
            return f"EC, {bits} bits"
        return "unknown"
    except (StopIteration, IndexError, ValueError):
        return "unknown"


def describe(sslsock) -> str:
    version = sslsock.version() or "unknown"
    name, _protocol, bits = sslsock.cipher() or ("unknown", "", 0)
    lines = ["================== BEGIN TLS CONNECTION DETAILS =================",
             "Transport connection: TLS over TCP/IP",
             f"  Protocol    : {version}",
             f"  Ciphersuite : {name}, encryption: {bits} bits"]
    der = sslsock.getpeercert(binary_form=True)
    if der:
        info = _decode(der)
        serial = int(info.get("serialNumber", "0") or "0", 16)
        lines += [f"Peer X.509v{info.get('version', 3)} Certificate",
                  f"  Subject     : {_name(info.get('subject', ()))}",
                  f"  Issued by   : {_name(info.get('issuer', ()))}",
                  f"  Serial no.  : {serial if serial < (1 << 63) else -1}",
                  f"  Validity    : not before {info.get('notBefore', '')}, not after {info.get('notAfter', '')}",
                  f"  Public key  : {_public_key(der)}"]
    else:
        lines.append("Peer X.509 Certificate: none")
    lines.append("=================== END TLS CONNECTION DETAILS ==================")
    return "\n".join(lines)


def _decode(der: bytes) -> dict:
    """The peer certificate as the ssl module decodes it (also when it was not verified: -ic)."""
    fd = -1
    try:
        fd = os.memfd_create("dcmsend-cert")
        os.write(fd, ssl.DER_cert_to_PEM_cert(der).encode("ascii"))
        decode = getattr(getattr(ssl, "_ssl", None), "_test_decode_cert")  # (the ssl module's own decoder)
        return decode(f"/proc/self/fd/{fd}")
    except (OSError, ValueError, AttributeError):
        return {}
    finally:
        if fd >= 0:
            os.close(fd)
