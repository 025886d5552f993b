"""Transfer-syntax conversion side by side with the real dcmsend: every compressed syntax under -dn / +dls / +dly,
with and without -nip, sent to a /usr/bin/storescp that accepts only the native syntaxes (its default).

Exit code, log (-v), report and the received data sets (byte for byte) must agree, except where we decode more than
DCMTK 3.6.7 does (JPEG 2000): there the differences are the ones intended, and they are asserted exactly.
"""

from __future__ import annotations

import os

import pytest

from conftest import requires_dcmtk
from dcmsend import decompress
from harness import compare, run_side
from test_pixels import TEST_FILES, build

pytestmark = requires_dcmtk

MODES = [["-dn"], ["+dls"], ["+dly"], ["-dn", "-nip"], ["+dls", "-nip"], ["+dly", "-nip"]]

# DCMTK decodes these (and so do we, with the same result).
DCMTK_DECODABLE = ["deflated", "baseline_ybr422", "baseline_ybr_mf", "extended12", "JPEG-lossy.dcm", "spectral",
                   "progressive12", "lossless_p14", "lossless_sv1_rgb_mf", "jls_lossless", "jls_near", "rle_rgb_mf"]
LOSSY_JPEG = {"baseline_ybr422", "baseline_ybr_mf", "extended12", "JPEG-lossy.dcm", "spectral", "progressive12"}


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = str(tmp_path_factory.mktemp("compressed"))
    out = {}
    for name in DCMTK_DECODABLE + ["j2k_lossless", "j2k_lossy", "jls_lossless_rgb"]:
        out[name] = os.path.join(TEST_FILES, name) if name.endswith(".dcm") else build(d, name)[0]
    return out


def _args(mode, path):
    return ["-v", *mode, "+crf", "{report}", "127.0.0.1", "{port}", path]


SCENARIOS = [(name, mode) for name in DCMTK_DECODABLE for mode in MODES]


@pytest.mark.parametrize("name,mode", SCENARIOS, ids=[f"{n}{''.join(m)}" for n, m in SCENARIOS])
def test_like_real_dcmsend(tmp_path, files, name, mode):
    exact = name not in LOSSY_JPEG or decompress._ijg_available() == "turbo"
    if name == "JPEG-lossy.dcm" and not exact and "+dly" in mode:
        pytest.skip("pylibjpeg-libjpeg rejects its invalid SOS parameters (libjpeg-turbo / DCMTK decode it)")
    real, ours = compare(_args(mode, files[name]), tmp_path, check_received=exact)
    if not exact:  # pylibjpeg-libjpeg instead of libjpeg-turbo: same files, pixel values may differ slightly
        assert [len(d) for _, d in real.received] == [len(d) for _, d in ours.received]


def test_several_files_in_one_run_no_halt(tmp_path, files):
    paths = [files[n] for n in DCMTK_DECODABLE if n not in LOSSY_JPEG or decompress._ijg_available() == "turbo"]
    compare(["-v", "-nh", "+dly", "+crf", "{report}", "127.0.0.1", "{port}", *paths], tmp_path)


# --- JPEG 2000: decoded here, not in DCMTK 3.6.7 ------------------------------------------------------------------

LL_CANNOT = ("W: transfer syntax uses a lossless compression but we cannot decompress it, so we are not proposing any "
             "uncompressed transfer syntax")
LL_CANNOT_E = ("E: transfer syntax uses a lossless compression but we cannot decompress it, so we cannot add a "
               "presentation context for this SOP instance")
LY_CANNOT = ("W: transfer syntax uses a lossy compression but we cannot decompress it, so we are not proposing any "
             "uncompressed transfer syntax")
NOTE = ("W:   (including the Default Transfer Syntax, which might result in a violation of the DICOM standard if it is "
        "not proposed in another presentation context)")
NO_PC = ["E: No Acceptable Presentation Contexts",
         "E: cannot negotiate network association: No acceptable Presentation Contexts"]


def _converting(name):
    ts = "JPEG 2000 (Lossless only)" if name == "j2k_lossless" else "JPEG 2000 (Lossless or Lossy)"
    return f"I: Converting transfer syntax: {ts} -> Little Endian Explicit"


# (file, mode, where the improvement applies)
J2K = [(n, m) for n in ("j2k_lossless", "j2k_lossy") for m in MODES]


def _improved(name, mode):
    return "-dn" not in mode and (name == "j2k_lossless" or "+dly" in mode)


@pytest.mark.parametrize("name,mode", J2K, ids=[f"{n}{''.join(m)}" for n, m in J2K])
def test_jpeg_2000(tmp_path, files, name, mode):
    if not _improved(name, mode):
        compare(_args(mode, files[name]), tmp_path)
        return
    base = str(tmp_path)
    real = run_side("real", _args(mode, files[name]), base, None, None, None, True)
    ours = run_side("ours", _args(mode, files[name]), base, None, None, None, True)
    real_lines, our_lines = real.stderr.splitlines(), ours.stderr.splitlines()
    # ours: proposed with the native fallback, converted, sent, stored
    assert ours.returncode == 0
    assert _converting(name) in our_lines
    assert len(ours.received) == 1
    assert "I:   * with status SUCCESS  : 1" in our_lines
    assert not any("cannot decompress" in line for line in our_lines)
    # the real one: no native fallback
    assert not real.received
    assert _converting(name) not in real_lines
    if name == "j2k_lossless" and "-nip" in mode:
        assert LL_CANNOT_E in real_lines and real.returncode == 65  # no context at all: halt
        assert real.report is None
    elif name == "j2k_lossless":
        assert LL_CANNOT in real_lines and NOTE in real_lines and real.returncode == 0
        assert all(line in real_lines for line in NO_PC)
        assert "Network Xfer  : 1.2.840.10008.1.2.1" in ours.report
    else:
        assert LY_CANNOT in real_lines and real.returncode == 0
        assert all(line in real_lines for line in NO_PC)


@pytest.mark.parametrize("extra", [[], ["-nh"]], ids=["halt", "no-halt"])
def test_failed_decode(tmp_path, files, extra):
    """A JPEG stream that fails to decode: "No conversion ... possible!", libjpeg's message as the condition, an
    unsuccessful store (halt: exit 62).  (libjpeg's own warnings before the error are not reproduced.)"""
    if decompress._ijg_available() != "turbo":
        pytest.skip("libjpeg-turbo (imagecodecs) gives libjpeg's messages")
    data = bytearray(open(files["spectral"], "rb").read())
    sos = data.find(b"\xff\xda")
    for k in range(sos + 20, len(data) - 20, 7):
        data[k] = 0xFF
    bad = tmp_path / "bad.dcm"
    bad.write_bytes(bytes(data))
    real, _ = compare(["-v", "+dly", *extra, "127.0.0.1", "{port}", str(bad), files["rle_rgb_mf"]], tmp_path,
                      ignore_lines=[r"^W: Corrupt JPEG data"])
    assert "E: No conversion to transfer syntax Little Endian Explicit possible!" in real.stderr


def test_no_jpeg_stream(tmp_path, files):
    """No JPEG marker where the stream should begin: DCMTK's bit-depth scan error, "Pixel representation cannot be
    changed"."""
    data = bytearray(open(files["spectral"], "rb").read())
    soi = data.find(b"\xff\xd8\xff")
    data[soi:soi + 3] = b"\0\0\0"
    bad = tmp_path / "bad.dcm"
    bad.write_bytes(bytes(data))
    real, _ = compare(["+dly", "127.0.0.1", "{port}", str(bad)], tmp_path)
    assert real.returncode == 62 and "scanning for bit depth: 0x0000" in real.stderr


DEBUG_CASES = [(n, "-d") for n in DCMTK_DECODABLE + ["jls_lossless_rgb"]] + \
    [(n, "trace") for n in ("baseline_ybr422", "progressive12", "lossless_sv1_rgb_mf", "rle_rgb_mf")]


@pytest.mark.parametrize("name,level", DEBUG_CASES, ids=[f"{n}{lv}" for n, lv in DEBUG_CASES])
def test_debug_output(tmp_path, files, name, level):
    """The decoders' own debug and trace lines (libjpeg's marker trace, per frame / pixel item) among dcmsend's."""
    if name in LOSSY_JPEG and decompress._ijg_available() != "turbo":
        pytest.skip("exact pixel values need libjpeg-turbo")
    flags = ["-d"] if level == "-d" else ["-ll", "trace"]
    # (at TRACE only libjpeg's lines are compared: the rest of the trace output is not this module's)
    ignore = [r"^T: (?!\s{8}|RST\d)"] if level == "trace" else None
    real, _ = compare([*flags, "+dly", "127.0.0.1", "{port}", files[name]], tmp_path, ignore_lines=ignore)
    assert "Converting transfer syntax" in real.stderr or name == "deflated"
