"""TLS and user identity against real peers: storescp +tls (with and without a required client certificate) and a
pynetdicom peer that checks the user identity sub-item; side by side with DCMTK's storescu, which has the same
options.  Certificates are made here with the openssl command."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import threading

import pytest

from conftest import requires_dcmtk

HERE = os.path.dirname(__file__)
sys.path.insert(0, HERE)

import harness  # noqa: E402

STORESCU = "/usr/bin/storescu"
OPENSSL = shutil.which("openssl")
needs_openssl = pytest.mark.skipif(OPENSSL is None, reason="the openssl command is not installed")
pytestmark = [requires_dcmtk, needs_openssl]


def _openssl(*args: str, cwd: str) -> None:
    subprocess.run([OPENSSL, *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    """A CA, a server and a client certificate signed by it, an encrypted client key, another CA, an expired
    client certificate."""
    d = str(tmp_path_factory.mktemp("certs"))
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.pem", "-days", "30",
             "-subj", "/CN=Test CA", cwd=d)
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "other.key", "-out", "other.pem", "-days",
             "30", "-subj", "/CN=Other CA", cwd=d)
    for name, days in (("server", "30"), ("client", "30"), ("expired", "-1")):
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj",
                 f"/CN={name}", cwd=d)
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
                 "-out", f"{name}.pem", "-days", days, cwd=d)
    _openssl("pkey", "-in", "client.key", "-aes256", "-passout", "pass:secret", "-out", "client_enc.key", cwd=d)
    _openssl("x509", "-in", "client.pem", "-outform", "DER", "-out", "client.der", cwd=d)
    _openssl("pkey", "-in", "client.key", "-outform", "DER", "-out", "client.key.der", cwd=d)
    _openssl("x509", "-in", "ca.pem", "-outform", "DER", "-out", "ca.der", cwd=d)
    return d


@pytest.fixture(scope="module")
def ct_file():
    from pydicom.data import get_testdata_file

    return get_testdata_file("CT_small.dcm")


def _tls_peer(tmp_path, certs, require_client_cert=True):
    args = ["+tls", os.path.join(certs, "server.key"), os.path.join(certs, "server.pem"),
            "+cf", os.path.join(certs, "ca.pem")]
    if not require_client_cert:
        args.append("-vc")
    return harness.Peer(str(tmp_path / "received"), args)


def _run(cmd, args, cwd, timeout=60):
    env = {"DCMSEND_SOCKET_TIMEOUT": "10"}
    return harness.run_program(cmd, args, cwd, env=env, timeout=timeout)


def _ours(args, cwd, timeout=60):
    return _run(harness.ours_command(), args, cwd, timeout)


def _fatal(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if line.startswith(("F:", "E:"))]


def test_send_over_tls_with_client_certificate(tmp_path, certs, ct_file):
    with _tls_peer(tmp_path, certs) as peer:
        code, out, err, _ = _ours(["-d", "+tls", "client.key", "client.pem", "+cf", "ca.pem", "127.0.0.1",
                                   str(peer.port), ct_file], certs)
    assert code == 0, err
    assert "Transport connection: TLS over TCP/IP" in err
    assert "  Subject     : /CN=server" in err and "  Issued by   : /CN=Test CA" in err
    assert "  Public key  : RSA, 2048 bits" in err
    received = harness.received_files(str(tmp_path / "received"))
    assert len(received) == 1
    assert received == _plain_received(tmp_path, [ct_file])


def _plain_received(tmp_path, files, args=()):
    """What a plain storescp receives from us for the same files (the reference for the TLS runs)."""
    with harness.Peer(str(tmp_path / "plain")) as peer:
        code, _, err, _ = _ours([*args, "127.0.0.1", str(peer.port), *files], str(tmp_path))
    assert code == 0, err
    return harness.received_files(str(tmp_path / "plain"))


def test_anonymous_tls_to_peer_not_requiring_certificate(tmp_path, certs, ct_file):
    with _tls_peer(tmp_path, certs, require_client_cert=False) as peer:
        code, out, err, _ = _ours(["+tla", "+cf", "ca.pem", "-nh", "127.0.0.1", str(peer.port), ct_file, ct_file],
                                  certs)
    assert code == 0, err
    assert len(harness.received_files(str(tmp_path / "received"))) == 1


def test_der_keys_and_encrypted_key(tmp_path, certs, ct_file):
    with _tls_peer(tmp_path, certs) as peer:
        code, _, err, _ = _ours(["-der", "+tls", "client.key.der", "client.der", "+cf", "ca.der", "127.0.0.1",
                                 str(peer.port), ct_file], certs)
        assert code == 0, err
        code, _, err, _ = _ours(["+tls", "client_enc.key", "client.pem", "+pw", "secret", "+cf", "ca.pem",
                                 "127.0.0.1", str(peer.port), ct_file], certs)
        assert code == 0, err


def test_large_data_set_over_tls_streams(tmp_path, certs):
    """A data set of several MB goes out in many PDUs over TLS (the buffered write path) and arrives intact."""
    path = str(tmp_path / "big.dcm")
    _write_big(path)
    with _tls_peer(tmp_path, certs) as peer:
        code, _, err, _ = _ours(["+tls", "client.key", "client.pem", "+cf", "ca.pem", "-pdu", "4096",
                                 "127.0.0.1", str(peer.port), path], certs, timeout=120)
    assert code == 0, err
    assert harness.received_files(str(tmp_path / "received")) == _plain_received(tmp_path, [path], ["-pdu", "4096"])


def _write_big(path: str) -> None:
    import pydicom
    from pydicom.data import get_testdata_file

    ds = pydicom.dcmread(get_testdata_file("CT_small.dcm"))
    ds.PixelData = os.urandom(1500 * 2048 * 2)
    ds.Rows, ds.Columns = 1500, 2048
    ds.save_as(path)


# -- failures, side by side with storescu ------------------------------------------------------------------------

_FAILURES = [
    # (name, arguments, peer requires a client certificate, plain peer)
    ("wrong key password", ["+tls", "client_enc.key", "client.pem", "+pw", "wrong", "+cf", "ca.pem"], True, False),
    ("key not matching", ["+tls", "client.key", "server.pem", "+cf", "ca.pem"], True, False),
    ("unknown CA", ["+tls", "client.key", "client.pem", "+cf", "other.pem"], True, False),
    ("no CA at all", ["+tls", "client.key", "client.pem"], True, False),
    ("unsupported ciphersuite", ["+tla", "+cs", "TLS_ECDH_RSA_WITH_AES_128_CBC_SHA"], False, False),
    ("unknown ciphersuite", ["+tla", "+cs", "NO_SUCH_SUITE"], False, False),
    ("null cipher in secure profile", ["+tla", "+cs", "TLS_RSA_WITH_NULL_SHA"], False, False),
    ("TLS client to plain peer", ["+tla", "-ic"], False, True),
]


@pytest.mark.parametrize("name,args,require,plain", _FAILURES, ids=[f[0] for f in _FAILURES])
def test_failures_as_storescu(tmp_path, certs, ct_file, name, args, require, plain):
    results = []
    for which in ("storescu", "ours"):
        out_dir = tmp_path / which
        peer = harness.Peer(str(out_dir / "received")) if plain else _tls_peer(out_dir, certs, require)
        with peer:
            cmd = [STORESCU] if which == "storescu" else harness.ours_command()
            code, out, err, elapsed = _run(cmd, [*args, "127.0.0.1", str(peer.port), ct_file], certs)
        results.append((code, err))
    (real_code, real_err), (code, err) = results
    assert real_code == 1 and code == 61, (real_err, err)
    real = [re.sub(r"^F: Association Request Failed: [0-9a-f]{4}:[0-9a-f]{4} ", "F: ", line)
            for line in _fatal(real_err)]
    ours = [line.replace("F: cannot negotiate network association: ", "F: ") for line in _fatal(err)]
    # the lines of the code storescu and dcmsend share (DCMTK's TLS layer) are the same
    assert ours == real


def test_expired_certificate(tmp_path, certs, ct_file):
    """Our expired client certificate: the peer refuses it (storescu refuses to load it at all, oddly: key and
    certificate 'do not match'); in either case a clear message, exit code 61, no hang."""
    with _tls_peer(tmp_path, certs) as peer:
        code, _, err, _ = _ours(["+tls", "expired.key", "expired.pem", "+cf", "ca.pem", "127.0.0.1",
                                 str(peer.port), ct_file], certs)
    assert code == 61, err
    assert err.startswith("F: cannot negotiate network association: ") or "000b:" in err, err


def test_peer_with_expired_certificate(tmp_path, certs, ct_file):
    peer = harness.Peer(str(tmp_path / "received"), ["+tls", os.path.join(certs, "expired.key"),
                                                     os.path.join(certs, "expired.pem"), "-ic"])
    with peer:
        code, _, err, _ = _ours(["+tla", "+cf", "ca.pem", "127.0.0.1", str(peer.port), ct_file], certs)
        real_code, _, real_err, _ = _run([STORESCU], ["+tla", "+cf", "ca.pem", "127.0.0.1", str(peer.port),
                                                      ct_file], certs)
    assert code == 61 and real_code == 1
    assert "F: cannot negotiate network association: TLS error: certificate verify failed" in err
    assert "TLS error: certificate verify failed" in real_err


def test_plain_client_to_tls_peer(tmp_path, certs, ct_file):
    with _tls_peer(tmp_path, certs) as peer:
        code, _, err, _ = _ours(["127.0.0.1", str(peer.port), ct_file], certs)
    assert code == 61
    assert err.startswith("F: cannot negotiate network association: "), err


def test_anonymous_client_to_peer_requiring_certificate(tmp_path, certs, ct_file):
    with _tls_peer(tmp_path, certs) as peer:
        code, _, err, _ = _ours(["+tla", "+cf", "ca.pem", "127.0.0.1", str(peer.port), ct_file], certs)
    assert code == 61, err
    assert err.startswith("F: cannot negotiate network association: "), err
    assert not harness.received_files(str(tmp_path / "received"))


# -- command line ----------------------------------------------------------------------------------------------

_CMDLINE = [["+pw", "x"], ["-pw"], ["+ps"], ["-der"], ["+cf", "x"], ["+cd", "."], ["+crl", "x"], ["+crv"], ["+cra"],
            ["+px"], ["+pa"], ["+pn"], ["+pz"], ["+py"], ["+cs", "X"], ["+rs", "s"], ["+ws"], ["+wf", "x"], ["-rc"],
            ["-ic"], ["+tla", "+pw", "x"], ["+tla", "+ws"], ["+tls", "a", "b", "+pz", "+cs", "X"], ["-pwd", "x"],
            ["-epw"], ["-usr", "u", "-pwd", "x", "-epw"], ["-rsp"], ["-kt", "nosuch-ticket"],
            ["-usr", "u", "-pwd", "p", "-kt", "{ticket}"], ["+tls"]]


@pytest.mark.parametrize("args", _CMDLINE, ids=[" ".join(a) for a in _CMDLINE])
def test_option_errors_as_storescu(tmp_path, args, ct_file):
    ticket = tmp_path / "ticket"
    ticket.write_bytes(b"ticket")
    args = [a.replace("{ticket}", str(ticket)) for a in args]
    real = _run([STORESCU], [*args, "127.0.0.1", "1", ct_file], str(tmp_path))
    ours = _ours([*args, "127.0.0.1", "1", ct_file], str(tmp_path))
    assert real[0] == ours[0] == 1
    assert real[2].splitlines()[-1] == ours[2].splitlines()[-1]


def test_list_ciphers_as_storescu():
    real = subprocess.run([STORESCU, "+cc"], capture_output=True, text=True, timeout=30)
    ours = subprocess.run([*harness.ours_command(), "+cc"], capture_output=True, text=True, timeout=30)
    assert ours.returncode == real.returncode == 0
    assert ours.stdout.split("Supported TLS ciphersuites are:")[1] == real.stdout.split(
        "Supported TLS ciphersuites are:")[1]


def test_help_has_storescu_sections():
    out = subprocess.run([*harness.ours_command(), "--help"], capture_output=True, text=True, timeout=30).stdout
    real = subprocess.run([STORESCU, "--help"], capture_output=True, text=True, timeout=30).stdout
    assert "transport layer security (TLS) options (storescu's; not in DCMTK's dcmsend):" in out
    ours_tls = out.split("transport layer security (TLS) options (storescu's; not in DCMTK's dcmsend):\n")[1]
    real_tls = real.split("transport layer security (TLS) options:\n")[1]
    for line in real_tls.splitlines():
        if "--dhparam" in line or "read DH parameters" in line or "-vc " in line or "if present" in line:
            continue  # (storescp-only options)
        words = line.split()
        assert any(line2.split() == words for line2 in ours_tls.splitlines()), line


def test_no_ssl_import_without_tls(tmp_path):
    """The plain path never loads the ssl module."""
    code = ("import sys; from dcmsend import cli, send, network, transport; "
            "assert 'ssl' not in sys.modules and '_ssl' not in sys.modules, 'ssl imported'")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=30)


# -- user identity ---------------------------------------------------------------------------------------------


class _IdentityPeer:
    """A pynetdicom storage SCP that records the user identity sub-item and answers it (or not)."""

    def __init__(self, respond: bool):
        from pynetdicom import AE, evt
        from pynetdicom.sop_class import CTImageStorage

        self.seen = []
        self.respond = respond
        self.ae = AE()
        self.ae.add_supported_context(CTImageStorage, ["1.2.840.10008.1.2.1", "1.2.840.10008.1.2"])
        self.port = harness.free_port()
        handlers = [(evt.EVT_USER_ID, self._user_id), (evt.EVT_C_STORE, lambda event: 0x0000)]
        self.server = self.ae.start_server(("127.0.0.1", self.port), block=False, evt_handlers=handlers)

    def _user_id(self, event):
        self.seen.append((event.user_id_type, event.primary_field, event.secondary_field))
        return True, (b"welcome" if self.respond else None)

    def close(self):
        self.server.shutdown()


def _identity_side_by_side(tmp_path, ct_file, args, respond):
    pytest.importorskip("pynetdicom")
    results = []
    for cmd in ([STORESCU], harness.ours_command()):
        peer = _IdentityPeer(respond)
        try:
            code, out, err, _ = _run(cmd, ["-d", *args, "127.0.0.1", str(peer.port), ct_file], str(tmp_path))
        finally:
            peer.close()
        results.append((code, err, peer.seen))
    return results


def _identity_dump(err: str) -> str:
    """The user identity part of the A-ASSOCIATE-AC dump."""
    ac = err.split("BEGIN A-ASSOCIATE-AC")[1]
    return ac[ac.index("Requested User Identity Negotiation"):ac.index("END A-ASSOCIATE-AC")]


def test_user_password_without_positive_response_fails_as_storescu(tmp_path, ct_file):
    """pynetdicom answers user name/password requests without a response sub-item: with -rsp storescu gives up."""
    (real_code, real_err, real_seen), (code, err, seen) = _identity_side_by_side(
        tmp_path, ct_file, ["-usr", "alice", "-pwd", "s3cret", "-rsp"], True)
    assert seen == real_seen == [(2, b"alice", b"s3cret")]
    assert _identity_dump(err) == _identity_dump(real_err)
    assert real_code == 1 and code == 61, err
    line = "E: User Identity Negotiation failed: Positive response requested but none received"
    assert line in real_err and line in err
    assert "F: cannot negotiate network association: ASC User Identification Negotiation failed" in err


@pytest.mark.parametrize("args", [["-usr", "bob"], ["-usr", "bob", "-epw"], ["-usr", "bob", "-pwd", "x"]],
                         ids=["user", "empty password", "password"])
def test_user_identity_without_response_request(tmp_path, ct_file, args):
    (real_code, real_err, real_seen), (code, err, seen) = _identity_side_by_side(tmp_path, ct_file, args, True)
    assert seen == real_seen and len(seen) == 1
    assert real_code == code == 0, err
    assert _identity_dump(err) == _identity_dump(real_err)


@pytest.mark.parametrize("kind", ["-kt", "--saml", "--jwt"])
@pytest.mark.parametrize("respond", [True, False])
def test_ticket_identities_as_storescu(tmp_path, ct_file, kind, respond):
    ticket = tmp_path / "ticket"
    ticket.write_bytes(b"\x01\x02opaque-ticket")
    (real_code, real_err, real_seen), (code, err, seen) = _identity_side_by_side(
        tmp_path, ct_file, [kind, str(ticket), "-rsp"], respond)
    assert seen == real_seen and seen[0][1] == b"\x01\x02opaque-ticket"
    assert real_code == code == 0, err  # (storescu checks the positive response only for user name and password)
    assert _identity_dump(err) == _identity_dump(real_err)


def test_api_accepts_ssl_context(tmp_path, certs, ct_file):
    import ssl

    from dcmsend import send_files

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.load_verify_locations(os.path.join(certs, "ca.pem"))
    ctx.load_cert_chain(os.path.join(certs, "client.pem"), os.path.join(certs, "client.key"))
    with _tls_peer(tmp_path, certs) as peer:
        result = send_files("127.0.0.1", peer.port, [ct_file], tls_context=ctx)
    assert result.exit_code == 0
    assert len(harness.received_files(str(tmp_path / "received"))) == 1


def test_api_tls_options(tmp_path, certs, ct_file):
    from dcmsend import send_files

    with _tls_peer(tmp_path, certs) as peer:
        result = send_files("127.0.0.1", peer.port, [ct_file],
                            tls_keys=(os.path.join(certs, "client.key"), os.path.join(certs, "client.pem")),
                            tls_ca_files=[os.path.join(certs, "ca.pem")])
    assert result.exit_code == 0, result.errors
    with pytest.raises(ValueError, match="--use-passwd only allowed with --enable-tls"):
        send_files("127.0.0.1", 1, [ct_file], tls_anonymous=True, tls_password="x")
    with pytest.raises(ValueError, match="--password only allowed with --user"):
        send_files("127.0.0.1", 1, [ct_file], identity_password="x")
    with pytest.raises(ValueError):
        send_files("127.0.0.1", 1, [ct_file], tls_keys=("only-a-key",))


def test_api_tls_setup_failure(tmp_path, certs, ct_file):
    from dcmsend import send_files

    result = send_files("127.0.0.1", 1, [ct_file], tls_keys=(os.path.join(certs, "client.key"),
                                                             os.path.join(certs, "server.pem")))
    assert result.exit_code == 61
    assert "do not match" in result.message


def _tls_details(err: str) -> str:
    """The first block of TLS connection details of a -d run."""
    start = err.index("BEGIN TLS CONNECTION DETAILS")
    return err[start:err.index("END TLS CONNECTION DETAILS", start)]


@pytest.mark.parametrize("profile", ["+py", "+px", "+pz", "+pa", "+pn"])
def test_profiles_negotiate_as_storescu(tmp_path, certs, ct_file, profile):
    """Each security profile against a storescp with the same profile: the same protocol version, ciphersuite and
    connection details as storescu's."""
    peer = harness.Peer(str(tmp_path / "received"), [
        "+tls", os.path.join(certs, "server.key"), os.path.join(certs, "server.pem"), "+cf",
        os.path.join(certs, "ca.pem"), profile])
    args = ["-d", "+tls", "client.key", "client.pem", "+cf", "ca.pem", profile]
    with peer:
        real = _run([STORESCU], [*args, "127.0.0.1", str(peer.port), ct_file], certs)
        ours = _ours([*args, "127.0.0.1", str(peer.port), ct_file], certs)
    assert real[0] == ours[0] == 0, ours[2]
    assert _tls_details(ours[2]) == _tls_details(real[2])
    assert [line for line in ours[2].splitlines() if line.startswith("W:")] == [
        line for line in real[2].splitlines() if line.startswith("W:")]


def test_ignore_peer_certificate(tmp_path, certs, ct_file):
    """-ic: an unknown peer certificate is accepted (and still shown)."""
    with _tls_peer(tmp_path, certs, require_client_cert=False) as peer:
        real = _run([STORESCU], ["-d", "+tla", "-ic", "127.0.0.1", str(peer.port), ct_file], certs)
        ours = _ours(["-d", "+tla", "-ic", "127.0.0.1", str(peer.port), ct_file], certs)
    assert real[0] == ours[0] == 0, ours[2]
    assert _tls_details(ours[2]) == _tls_details(real[2])


def test_seed_files(tmp_path, certs, ct_file):
    seed = tmp_path / "seed"
    seed.write_bytes(os.urandom(1024))
    before = seed.read_bytes()
    out = tmp_path / "newseed"
    with _tls_peer(tmp_path, certs) as peer:
        code, _, err, _ = _ours(["+tls", "client.key", "client.pem", "+cf", "ca.pem", "+rs", str(seed), "+ws",
                                 "127.0.0.1", str(peer.port), ct_file], certs)
        assert code == 0, err
        assert seed.read_bytes() != before and len(seed.read_bytes()) == 1024
        code, _, err, _ = _ours(["+tls", "client.key", "client.pem", "+cf", "ca.pem", "+rs", str(tmp_path / "none"),
                                 "+wf", str(out), "127.0.0.1", str(peer.port), ct_file], certs)
        assert code == 0, err
        assert len(out.read_bytes()) == 1024


@pytest.mark.parametrize("password", [b"secret\n", b"wrong\n", b""])
def test_key_password_prompt_reads_stdin_as_storescu(tmp_path, certs, ct_file, password):
    """+ps (the default): OpenSSL's pass phrase prompt; without a terminal it reads standard input."""
    results = []
    with _tls_peer(tmp_path, certs) as peer:
        for cmd in ([STORESCU], harness.ours_command()):
            proc = subprocess.run([*cmd, "+tls", "client_enc.key", "client.pem", "+cf", "ca.pem", "127.0.0.1",
                                   str(peer.port), ct_file], cwd=certs, input=password, capture_output=True,
                                  timeout=60, start_new_session=True)
            results.append((proc.returncode, proc.stderr.decode()))
    (real_code, real_err), (code, err) = results
    assert (real_code, code) == ((0, 0) if password == b"secret\n" else (1, 61)), (real_err, err)
    if password == b"wrong\n":  # (OpenSSL's prompt gives Python no way to tell a wrong password from none)
        err, real_err = (e.replace("E: OpenSSL error 1400006b: processing error", "") for e in (err, real_err))
        err, real_err = (e.replace("E: OpenSSL error 1c800064: bad decrypt", "") for e in (err, real_err))
    assert _fatal(err) == _fatal(real_err)


def test_tls_to_silent_peer_times_out(tmp_path, ct_file):
    """A peer that accepts the connection and never answers the TLS handshake: the socket timeout ends it (here
    DCMSEND_SOCKET_TIMEOUT=2 instead of DCMTK's 60 s), with DCMTK's message and exit 61, no hang."""
    import socket

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    accepted = []
    thread = threading.Thread(target=lambda: accepted.append(listener.accept()), daemon=True)
    thread.start()
    try:
        code, _, err, _ = harness.run_program(harness.ours_command(), ["+tla", "-ic", "127.0.0.1", str(port),
                                                                       ct_file], str(tmp_path),
                                              env={"DCMSEND_SOCKET_TIMEOUT": "2"}, timeout=60)
    finally:
        thread.join(5)
        for conn, _ in accepted:
            conn.close()
        listener.close()
    assert code == 61
    assert err == "F: cannot negotiate network association: OpenSSL I/O error (SSL_ERROR_SYSCALL)\n"


def test_dimse_timeout_over_tls_as_plain(tmp_path, certs, ct_file):
    """-td over TLS: a peer that sleeps before its response ends the same way as over plain TCP."""
    runs = []
    for tls in (False, True):
        args = ["--sleep-during", "3"]
        if tls:
            args += ["+tls", os.path.join(certs, "server.key"), os.path.join(certs, "server.pem"), "+cf",
                     os.path.join(certs, "ca.pem")]
        out = tmp_path / ("tls" if tls else "plain")
        with harness.Peer(str(out / "received"), args) as peer:
            extra = ["+tls", "client.key", "client.pem", "+cf", "ca.pem"] if tls else []
            code, stdout, err, _ = _ours(["-td", "1", "-ta", "2", *extra, "127.0.0.1", str(peer.port), ct_file], certs)
        runs.append((code, stdout, err))
    assert runs[0] == runs[1]
    assert runs[0][0] != 0 and "DIMSE" in runs[0][2]


@pytest.fixture(scope="module")
def crls(certs):
    """Two CRLs of the test CA: one empty, one revoking the server's certificate."""
    d = os.path.join(certs, "crl")
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, "ca.cnf"), "w") as f:
        f.write("[ ca ]\ndefault_ca = CA_default\n[ CA_default ]\ndatabase = index.txt\ncrlnumber = crlnumber\n"
                "default_md = sha256\ndefault_crl_days = 30\n")
    open(os.path.join(d, "index.txt"), "w").close()
    with open(os.path.join(d, "crlnumber"), "w") as f:
        f.write("01\n")
    ca = ["-config", "ca.cnf", "-keyfile", os.path.join(certs, "ca.key"), "-cert", os.path.join(certs, "ca.pem")]
    _openssl("ca", *ca, "-gencrl", "-out", "clean.pem", cwd=d)
    _openssl("ca", *ca, "-revoke", os.path.join(certs, "server.pem"), cwd=d)
    _openssl("ca", *ca, "-gencrl", "-out", "revoked.pem", cwd=d)
    return d


@pytest.mark.parametrize("args,ok", [(["+crl", "crl/clean.pem"], True), (["+crl", "crl/revoked.pem"], False),
                                     (["+crl", "crl/clean.pem", "+cra"], True), (["+crv"], False)],
                         ids=["clean", "revoked", "clean-chain", "no-crl"])
def test_crl_as_storescu(tmp_path, certs, crls, ct_file, args, ok):
    with _tls_peer(tmp_path, certs) as peer:
        cmd_args = ["+tls", "client.key", "client.pem", "+cf", "ca.pem", *args, "127.0.0.1", str(peer.port), ct_file]
        real = _run([STORESCU], cmd_args, certs)
        ours = _ours(cmd_args, certs)
    assert (real[0], ours[0]) == ((0, 0) if ok else (1, 61)), (real[2], ours[2])
    if not ok:
        assert real[2].endswith("TLS error: certificate verify failed\n")
        assert ours[2] == "F: cannot negotiate network association: TLS error: certificate verify failed\n"


def test_cert_dir_as_storescu(tmp_path, certs, ct_file):
    """+cd: a directory of certificates named by their subject hash (as OpenSSL's rehash makes it)."""
    d = tmp_path / "cadir"
    d.mkdir()
    digest = subprocess.run([OPENSSL, "x509", "-hash", "-noout", "-in", os.path.join(certs, "ca.pem")],
                            capture_output=True, text=True, check=True).stdout.strip()
    shutil.copy(os.path.join(certs, "ca.pem"), d / f"{digest}.0")
    with _tls_peer(tmp_path, certs) as peer:
        for cadir, ok in ((str(d), True), (str(tmp_path), False)):
            cmd_args = ["+tls", "client.key", "client.pem", "+cd", cadir, "127.0.0.1", str(peer.port), ct_file]
            real = _run([STORESCU], cmd_args, certs)
            ours = _ours(cmd_args, certs)
            assert (real[0], ours[0]) == ((0, 0) if ok else (1, 61)), (real[2], ours[2])


def _captured_rq(cmd, args, files, cwd) -> bytes:
    """The A-ASSOCIATE-RQ PDU a program sends to a listener that reads it and closes the connection."""
    import socket
    import struct

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    got = []

    def serve():
        conn, _ = listener.accept()
        with conn:
            data = b""
            while len(data) < 6 or len(data) < 6 + struct.unpack(">I", data[2:6])[0]:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                data += chunk
            got.append(data)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        _run(cmd, [*args, "127.0.0.1", str(port), *files], cwd, timeout=60)
    finally:
        thread.join(10)
        listener.close()
    return got[0]


def _user_items(pdu: bytes) -> dict[int, bytes]:
    """The sub-items of the user information item (50H) of an A-ASSOCIATE-RQ, by type."""
    import struct

    pos = 74
    while pos < len(pdu):
        kind, length = pdu[pos], struct.unpack(">H", pdu[pos + 2:pos + 4])[0]
        if kind == 0x50:
            items, sub = {}, pos + 4
            while sub < pos + 4 + length:
                st, sl = pdu[sub], struct.unpack(">H", pdu[sub + 2:sub + 4])[0]
                items[st] = pdu[sub:sub + 4 + sl]
                sub += 4 + sl
            return items
        pos += 4 + length
    return {}


@pytest.mark.parametrize("args", [["-usr", "alice", "-pwd", "s3cret", "-rsp"], ["-usr", "bob"],
                                  ["-usr", "carol", "-epw"], ["-kt", "{ticket}", "-rsp"], ["--jwt", "{ticket}"]],
                         ids=["password", "user", "empty", "kerberos", "jwt"])
def test_user_identity_item_bytes_as_storescu(tmp_path, ct_file, args):
    ticket = tmp_path / "ticket"
    ticket.write_bytes(b"header.payload.signature")
    args = [a.replace("{ticket}", str(ticket)) for a in args]
    real = _user_items(_captured_rq([STORESCU], args, [ct_file], str(tmp_path)))
    ours = _user_items(_captured_rq(harness.ours_command(), args, [ct_file], str(tmp_path)))
    assert 0x58 in real and ours.get(0x58) == real[0x58]
    assert list(ours)[-1] == list(real)[-1] == 0x58  # (the last sub-item, after the implementation version name)


def test_tls_with_extensions(tmp_path, certs, ct_file):
    """TLS with the JSON report, the journal and retries: stored, then skipped; a TLS set-up failure still writes
    the JSON report (exit 61); passwords never appear in it."""
    import json

    report, journal = str(tmp_path / "r.json"), str(tmp_path / "j.sqlite")
    with _tls_peer(tmp_path, certs) as peer:
        args = ["+tls", "client_enc.key", "client.pem", "+pw", "secret", "+cf", "ca.pem", "-usr", "u", "-pwd",
                "hidden", "+crj", report, "+jo", journal, "+rt", "1", "127.0.0.1", str(peer.port), ct_file]
        code, _, err, _ = _ours(args, certs)
        assert code == 0, err
        with open(report) as f:
            doc = json.load(f)
        assert [i["outcome"] for i in doc["instances"]] == ["success"]
        assert "secret" not in json.dumps(doc) and "hidden" not in json.dumps(doc)
        code, _, err, _ = _ours(args, certs)
        assert code == 0 and "skipping 1 of 1 SOP instances already stored" in err
        code, _, err, _ = _ours(["+tls", "client.key", "server.pem", "+crj", report, "127.0.0.1", str(peer.port),
                                 ct_file], certs)
    assert code == 61 and "do not match" in err
    with open(report) as f:
        doc = json.load(f)
    assert doc["run"]["exit_code"] == 61 and [i["outcome"] for i in doc["instances"]] == ["not-tried"]
