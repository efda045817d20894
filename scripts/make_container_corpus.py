#!/usr/bin/env python3
"""Write the container test corpus: tests/containers/*  + manifest.json.

Archives, compressed streams, .npy files and legacy PyTorch streams around pickles, benign and
hostile, for brine-container's walk and `brine scan`. Hostile pickles are written as opcode
bytes (never pickled from a dangerous object, never unpickled); hostile archives are made with
zipfile / tarfile and then patched byte by byte. numpy and torch are not needed: `.npy` headers
and legacy torch streams are written by hand following their formats, and the torch-like zip
follows torch's writer (stored members, data aligned to 64 bytes with an 'FB' extra field).

The manifest lists, per file: the expected verdict and kind of the file, rule ids that must be
among its findings (file, members or pickle reports), and some members with their expected
kind and verdict. Technique ids are those of shared/pickle-attacks.md.
"""
import bz2
import gzip
import io
import json
import lzma
import os
import struct
import sys
import tarfile
import zipfile
import zlib

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "tests", "containers")


# --- pickles, as opcode bytes -------------------------------------------------------------
def G(mod, name):  # GLOBAL
    return b"c" + mod.encode() + b"\n" + name.encode() + b"\n"


def S(s):  # protocol 0 STRING
    return b"S'" + s.encode() + b"'\n"


def X(s):  # BINUNICODE
    b = s.encode()
    return b"X" + struct.pack("<I", len(b)) + b


def K(n):  # BININT1
    return b"K" + bytes([n])


P2 = b"\x80\x02"
OS_SYSTEM = G("os", "system") + b"(" + S("id") + b"tR."
BENIGN = P2 + b"}q\x00(" + X("a") + b"]q\x01(K\x01K\x02e" + X("b") + b"\x88u."


def torch_data_pkl(keys=("0",)):
    """OrderedDict of tensors rebuilt from ('storage', torch.FloatStorage, key, 'cpu', 4)."""
    body = P2 + G("collections", "OrderedDict") + b")R"
    for i, key in enumerate(keys):
        pid = b"(" + X("storage") + G("torch", "FloatStorage") + X(key) + X("cpu") + K(4) + b"t"
        tensor = (G("torch._utils", "_rebuild_tensor_v2") + b"(" + pid + b"Q" + K(0)
                  + b"(K\x02K\x02t" + b"(K\x02K\x01t" + b"\x89" + G("collections", "OrderedDict")
                  + b")R" + b"tR")
        body += X("w%d" % i) + tensor + b"s"
    return body + b"."


TENSOR = struct.pack("<4f", 1.0, 2.0, 3.0, 4.0)


# --- zip helpers --------------------------------------------------------------------------
def aligned_zip(members, prefix=b""):
    """A zip like torch's writer: stored, each member's data at a multiple of 64."""
    buf = io.BytesIO()
    buf.write(prefix)
    with zipfile.ZipFile(buf, "a" if prefix else "w", zipfile.ZIP_STORED) as z:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            offset = buf.tell()
            header = 30 + len(name.encode())
            pad = (-(offset + header + 4)) % 64
            info.extra = b"FB" + struct.pack("<H", pad) + b"Z" * pad
            z.writestr(info, data)
    return buf.getvalue()


def plain_zip(members, method=zipfile.ZIP_DEFLATED):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as z:
        for name, data in members:
            info = zipfile.ZipInfo(name, date_time=(2024, 1, 1, 0, 0, 0))
            info.compress_type = method
            z.writestr(info, data)
    return buf.getvalue()


def headers(data):
    """(local header offsets, central header offsets, eocd offset)."""
    eocd = data.rfind(b"PK\x05\x06")
    n, size, off = struct.unpack_from("<HII", data, eocd + 10)
    start = eocd - size
    central, local = [], []
    pos = start
    for _ in range(n):
        central.append(pos)
        nlen, xlen, clen = struct.unpack_from("<HHH", data, pos + 28)
        local.append(struct.unpack_from("<I", data, pos + 42)[0] + (start - off))
        pos += 46 + nlen + xlen + clen
    return local, central, eocd


def patch(data, at, fmt, *values):
    b = bytearray(data)
    struct.pack_into(fmt, b, at, *values)
    return bytes(b)


TORCH = [
    ("archive/data.pkl", torch_data_pkl()),
    ("archive/byteorder", b"little"),
    ("archive/data/0", TENSOR),
    ("archive/version", b"3\n"),
    ("archive/.data/serialization_id", b"1234567890123456789012345678901234567890"),
]


def torch_zip(data_pkl=None, extra=()):
    members = [(n, data_pkl if (data_pkl is not None and n.endswith("data.pkl")) else d)
               for n, d in TORCH]
    return aligned_zip(members + list(extra))


# --- npy, legacy torch --------------------------------------------------------------------
def npy(descr, shape, body, version=1):
    header = "{'descr': %s, 'fortran_order': False, 'shape': %s, }" % (descr, shape)
    lenlen = 2 if version == 1 else 4
    total = 6 + 2 + lenlen + len(header) + 1
    header += " " * ((-total) % 64) + "\n"
    fmt = "<H" if version == 1 else "<I"
    return b"\x93NUMPY" + bytes([version, 0]) + struct.pack(fmt, len(header)) + header.encode() + body


MAGIC = P2 + b"\x8a\x0a" + (0x1950a86a20f9469cfc6c).to_bytes(10, "little") + b"."
PROTOCOL = P2 + b"M\xe9\x03."  # 1001
SYS_INFO = (P2 + b"}(" + X("protocol_version") + b"M\xe9\x03" + X("little_endian") + b"\x88"
            + X("type_sizes") + b"}(" + X("short") + K(2) + X("int") + K(4) + X("long") + K(4)
            + b"uu.")
KEYS = P2 + b"]" + X("0") + b"a."


def legacy(sys_info=SYS_INFO, obj=None, trailing=b""):
    obj = obj if obj is not None else torch_data_pkl()
    return (MAGIC + PROTOCOL + sys_info + obj + KEYS + struct.pack("<q", 4) + TENSOR + trailing)


def tar(members):
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.USTAR_FORMAT) as t:
        for name, data in members:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 1700000000
            t.addfile(info, io.BytesIO(data))
    return buf.getvalue()


cases = []


def case(name, data, verdict, kind, rules=(), members=None, technique=None, desc=""):
    cases.append(dict(file=name, data=data, verdict=verdict, kind=kind, rules=list(rules),
                      members=members or {}, technique=technique, description=desc))


# --- benign -------------------------------------------------------------------------------
case("torch_zip_benign.pt", torch_zip(), "safe", "torch-zip",
     members={"archive/data.pkl": ["pickle", "safe"], "archive/data/0": ["storage", "safe"],
              "archive/byteorder": ["data", "safe"], "archive/version": ["data", "safe"]},
     desc="torch.save layout: stored, 64-byte aligned, storages skipped")
case("npz_benign.npz",
     plain_zip([("a.npy", npy("'<f4'", "(2, 2)", TENSOR)), ("b.npy", npy("'<i8'", "(0,)", b""))]),
     "safe", "zip", members={"a.npy": ["npy", "safe"], "b.npy": ["npy", "safe"]},
     desc="an .npz of number arrays (deflated)")
case("npy_object_benign.npy", npy("'|O'", "(2,)", b"\x80\x03]q\x00(K\x01K\x02e."),
     "safe", "npy-object", rules=["npy-object-array"], technique="D10",
     desc="object array whose pickle is plain data")
case("npy_v3_benign.npy", npy("'<f4'", "(4,)", TENSOR, version=3), "safe", "npy")
case("joblib_zlib_benign.joblib", zlib.compress(BENIGN), "safe", "zlib",
     members={"<zlib>": ["pickle", "safe"]}, desc="joblib's default compressor")
case("joblib_lzma_benign.joblib", lzma.compress(BENIGN, format=lzma.FORMAT_ALONE), "safe",
     "lzma", members={"<lzma>": ["pickle", "safe"]})
case("tar_benign.tar", tar([("model/data.pkl", BENIGN), ("model/README", b"hello\n")]),
     "safe", "tar", members={"model/data.pkl": ["pickle", "safe"], "model/README": ["data", "safe"]})
case("legacy_torch_benign.pt", legacy(), "safe", "torch-legacy",
     members={"<storage 0>": ["storage", "safe"]},
     desc="magic, protocol, sys_info, object, keys, one storage of 4 floats")
case("plain_benign.pkl", BENIGN, "safe", "pickle")

# --- hostile zips -------------------------------------------------------------------------
z = torch_zip()
local, central, _ = headers(z)
crc_at = [l + 14 for l in local[:1]] + [c + 16 for c in central[:1]]
bad = z
for at in crc_at:
    bad = patch(bad, at, "<I", 0xdeadbeef)
case("zip_crc_mismatch.pt", bad, "suspicious", "torch-zip", rules=["zip-crc-mismatch"],
     technique="D2", desc="data.pkl's CRC patched in both headers (PyTorch ignores CRCs)")

z = torch_zip(data_pkl=OS_SYSTEM)
local, central, _ = headers(z)
name_at = local[0] + 30
assert z[name_at:name_at + 16] == b"archive/data.pkl"
case("zip_name_mismatch.pt", z[:name_at] + b"archive/evil.pkl" + z[name_at + 16:], "malicious",
     "torch-zip", rules=["zip-name-mismatch", "denied-global"], technique="D4",
     desc="central directory says data.pkl, local header says evil.pkl; the payload is found")

dup = plain_zip([("data.pkl", BENIGN), ("data.pkl", OS_SYSTEM)])
case("zip_duplicate.zip", dup, "malicious", "torch-zip", rules=["zip-duplicate-name", "denied-global"],
     technique="D5", desc="two members named data.pkl, the second malicious")

z = torch_zip(data_pkl=OS_SYSTEM)
local, central, _ = headers(z)
z = patch(z, local[0] + 6, "<H", 0x0001)
z = patch(z, central[0] + 8, "<H", 0x0001)
case("zip_encrypted_flag.pt", z, "malicious", "torch-zip", rules=["zip-flag-bits", "denied-global"],
     technique="D3", desc="encryption bit set on a plain data.pkl (PyTorch reads it anyway)")

inner = plain_zip([("README", b"just a zip\n")])
case("polyglot.pkl", OS_SYSTEM + inner, "malicious", "zip", rules=["zip-polyglot", "denied-global"],
     members={"<prefix>": ["pickle", "malicious"], "README": ["data", "safe"]}, technique="D6",
     desc="pickle/zip polyglot: a malicious pickle before a benign zip")

core = plain_zip([("README", b"just a zip\n")])
rest = b"0" + OS_SYSTEM  # POP the bytes, then the payload
_, _, eocd = headers(core)
core = patch(core, eocd + 20, "<H", len(rest))
case("polyglot_engulfing.pkl", P2 + b"B" + struct.pack("<I", len(core)) + core + rest, "malicious",
     "zip", rules=["zip-polyglot", "denied-global"],
     members={"<prefix>": ["pickle", "malicious"], "README": ["data", "safe"]}, technique="D6",
     desc="a pickle whose BINBYTES holds the whole zip and whose payload is the zip comment")

inner = plain_zip([("evil.pkl", OS_SYSTEM)])
case("nested.zip", plain_zip([("inner.zip", inner), ("ok.pkl", BENIGN)]), "malicious", "zip",
     rules=["nested-archive", "denied-global"],
     members={"inner.zip": ["zip", "safe"], "inner.zip!evil.pkl": ["pickle", "malicious"]},
     technique="D7", desc="zip in zip with a malicious pickle inside")

zeros = plain_zip([("zeros.bin", bytes(10 << 20))])
local, central, _ = headers(zeros)
zeros = patch(zeros, local[0] + 22, "<I", 0xfffffff0)
zeros = patch(zeros, central[0] + 24, "<I", 0xfffffff0)
case("zip_bomb.zip", zeros, "suspicious", "zip", rules=["compression-ratio", "zip-header-mismatch"],
     technique="D12",
     desc="a member declaring 4 GiB from 10 KiB (ratio far over 1000:1)")

case("zip_slip.zip", plain_zip([("../../evil.pkl", BENIGN)]), "suspicious", "zip",
     rules=["path-traversal"], technique="D12", desc="a member name that climbs out")

case("torchscript.pt",
     torch_zip(extra=[("archive/code/__torch__.py", b"def forward(self, x):\n    return x\n"),
                      ("archive/constants.pkl", P2 + b")."),]),
     "suspicious", "torchscript", rules=["torchscript"], technique="E1",
     members={"archive/constants.pkl": ["pickle", "safe"],
              "archive/code/__torch__.py": ["data", "safe"]},
     desc="TorchScript-like archive: code/ and constants.pkl")

case("zip_unlisted.zip", None, "malicious", "zip", rules=["zip-unlisted-entry", "denied-global"],
     technique="D4", desc="a malicious local entry the central directory does not list")
z = plain_zip([("ok.pkl", BENIGN), ("evil.pkl", OS_SYSTEM)], method=zipfile.ZIP_STORED)
local, central, eocd = headers(z)
n, size, off = struct.unpack_from("<HII", z, eocd + 10)
cd = z[central[0]:central[1]]
unlisted = z[:central[0]] + cd + z[eocd:]
unlisted = patch(unlisted, len(z[:central[0]]) + len(cd) + 8, "<HHII", 1, 1, len(cd), off)
cases[-1]["data"] = unlisted

z = plain_zip([("evil.pkl", OS_SYSTEM), ("ok.pkl", BENIGN)], method=zipfile.ZIP_STORED)
_, _, eocd = headers(z)
case("zip_cd_outside.zip", patch(z, eocd + 16, "<I", 0x7fffffff), "malicious", "zip",
     rules=["zip-broken", "denied-global"], technique="D4",
     desc="the central directory points outside the file; the local headers are still scanned")

z = torch_zip(data_pkl=OS_SYSTEM)
case("zip_truncated.pt", z[:len(z) // 2], "malicious", "zip",
     rules=["zip-broken", "denied-global"],
     desc="a torch zip cut in half: no central directory, the local headers are scanned")

case("npz_malicious.npz",
     plain_zip([("a.npy", npy("'<f4'", "(4,)", TENSOR)), ("b.npy", npy("'|O'", "(1,)", OS_SYSTEM))]),
     "malicious", "zip", rules=["npy-object-array", "denied-global"],
     members={"b.npy": ["npy-object", "malicious"], "a.npy": ["npy", "safe"]}, technique="D10")

class Unseekable(io.RawIOBase):
    """A write-only stream zipfile cannot seek: it writes data descriptors."""

    def __init__(self):
        self.buf = bytearray()

    def writable(self):
        return True

    def write(self, b):
        self.buf += b
        return len(b)


u = Unseekable()
with zipfile.ZipFile(u, "w", zipfile.ZIP_DEFLATED) as zf:
    with zf.open("archive/data.pkl", "w") as f:
        f.write(OS_SYSTEM)
    with zf.open("archive/version", "w") as f:
        f.write(b"3\n")
case("zip_descriptor.pt", bytes(u.buf), "malicious", "torch-zip", rules=["denied-global"],
     members={"archive/data.pkl": ["pickle", "malicious"], "archive/version": ["data", "safe"]},
     desc="written to a stream: sizes and CRCs in data descriptors, zeros in the local headers")


def with_zip64_end(z):
    """Move the end record's counts, size and offset into zip64 records (as writers of
    large archives do), leaving 0xffff / 0xffffffff in the classic record."""
    _, _, eocd = headers(z)
    n, size, off = struct.unpack_from("<HII", z, eocd + 10)
    rec_at = eocd
    rec = b"PK\x06\x06" + struct.pack("<QHHIIQQQQ", 44, 45, 45, 0, 0, n, n, size, off)
    loc = b"PK\x06\x07" + struct.pack("<IQI", 0, rec_at, 1)
    end = b"PK\x05\x06" + struct.pack("<HHHHIIH", 0, 0, 0xffff, 0xffff, 0xffffffff,
                                       0xffffffff, 0)
    return z[:eocd] + rec + loc + end


case("zip64_end.zip", with_zip64_end(plain_zip([("ok.pkl", BENIGN), ("evil.pkl", OS_SYSTEM)])),
     "malicious", "zip", rules=["denied-global"],
     members={"ok.pkl": ["pickle", "safe"], "evil.pkl": ["pickle", "malicious"]},
     desc="zip64 end records: counts and offsets only there")

# --- npy, compressed, tar, legacy torch ----------------------------------------------------
case("npy_object_malicious.npy", npy("'|O'", "(1,)", OS_SYSTEM), "malicious", "npy-object",
     rules=["npy-object-array", "denied-global"], technique="D10")
case("npy_bad_header.npy", b"\x93NUMPY\x01\x00\x20\x00{'descr': '<f4', 'shape': (2,)}  \n",
     "suspicious", "npy", rules=["npy-bad-header"], technique="D10")
for fmt, data in [("gzip", gzip.compress(OS_SYSTEM, mtime=0)), ("zlib", zlib.compress(OS_SYSTEM)),
                  ("bzip2", bz2.compress(OS_SYSTEM)), ("xz", lzma.compress(OS_SYSTEM)),
                  ("lzma", lzma.compress(OS_SYSTEM, format=lzma.FORMAT_ALONE))]:
    case("compressed_malicious.%s.joblib" % fmt, data, "malicious", fmt, rules=["denied-global"],
         members={"<%s>" % fmt: ["pickle", "malicious"]}, technique="D9")
zf = b"ZF" + ("0x%x" % len(OS_SYSTEM)).ljust(19).encode() + zlib.compress(OS_SYSTEM)
case("joblib_zf_malicious.pkl", zf, "malicious", "joblib-zf", rules=["denied-global"],
     members={"<joblib-zf>": ["pickle", "malicious"]}, technique="D9",
     desc="joblib < 0.10 compressed format: 'ZF', a hex length, zlib")
case("compressed_truncated.gz", gzip.compress(BENIGN + OS_SYSTEM, mtime=0)[:-12], "malicious",
     "gzip", rules=["decompress-error", "denied-global"],
     desc="a truncated gzip: what decoded before the error is scanned")
case("tar_malicious.tar", tar([("ok.pkl", BENIGN), ("evil/data.pkl", OS_SYSTEM)]), "malicious",
     "tar", rules=["denied-global"], members={"evil/data.pkl": ["pickle", "malicious"]})
case("tar_polyglot.tar", tar([(OS_SYSTEM.decode(), BENIGN)]), "malicious", "tar",
     rules=["pickle-polyglot", "denied-global"], members={"<prefix>": ["pickle", "malicious"]},
     technique="D6", desc="a tar whose first member's name is a malicious pickle")
case("tar_gz_malicious.tar.gz", gzip.compress(tar([("evil.pkl", OS_SYSTEM)]), mtime=0),
     "malicious", "gzip", rules=["denied-global"],
     members={"<gzip>": ["tar", "safe"], "<gzip>!evil.pkl": ["pickle", "malicious"]})
def torch_tar(record=None, pid=None):
    """A pre-0.4 torch.save tar as torch 0.1 wrote it: sys_info, pickle (a dict naming its tensor
    by key: the persistent id '9'), tensors (tensor 9 on storage 7, 2x2), storages (storage 7,
    a FloatStorage of 4, then the empty list of storage views)."""
    record = record or (P2 + b"(" + K(7) + X("cpu") + G("torch", "FloatStorage") + b"t.")
    storages = P2 + K(1) + b"." + record + struct.pack("<q", 4) + TENSOR + P2 + b"]."
    tensor = P2 + b"(" + K(9) + K(7) + G("torch", "FloatTensor") + b"t."
    tensors = (P2 + K(1) + b"." + tensor + struct.pack("<ii", 2, 0) + struct.pack("<2q", 2, 2)
               + struct.pack("<2q", 2, 1) + struct.pack("<q", 0))
    obj = P2 + b"}" + X("w") + (pid or X("9")) + b"Qs."
    return tar([("sys_info", SYS_INFO), ("pickle", obj), ("tensors", tensors),
                ("storages", storages)])


case("torch_tar_benign.pt", torch_tar(), "safe", "torch-tar",
     members={"storages": ["torch-records", "safe"], "tensors": ["torch-records", "safe"],
              "sys_info": ["pickle", "safe"], "pickle": ["pickle", "safe"]},
     desc="pre-0.4 tar checkpoint: every record pickle scanned, raw records skipped; the "
          "object pickle's persistent ids are tensor keys")
case("torch_tar_foreign_pid.pt", torch_tar(pid=b"(" + X("tensor") + X("t0") + b"t"),
     "suspicious", "torch-tar", rules=["unknown-persistent-id"],
     members={"pickle": ["pickle", "suspicious"], "storages": ["torch-records", "safe"]},
     desc="a tar checkpoint whose object pickle has a persistent id that is not a key")
case("torch_tar_malicious.pt", torch_tar(record=OS_SYSTEM), "malicious", "torch-tar",
     rules=["denied-global", "torch-legacy-layout"],
     members={"storages": ["torch-records", "malicious"]},
     desc="a storage record pickle of an old tar checkpoint runs os.system")
case("legacy_torch_sysinfo.pt", legacy(sys_info=OS_SYSTEM), "malicious", "torch-legacy",
     rules=["denied-global"], technique="C7", desc="the sys_info pickle (the third) is malicious")
case("legacy_torch_object.pt", legacy(obj=P2 + OS_SYSTEM[:-1] + b"0" + torch_data_pkl()[2:]),
     "malicious", "torch-legacy", rules=["denied-global"], technique="C7",
     members={"<storage 0>": ["storage", "safe"]},
     desc="the object pickle calls os.system (result popped) before the state dict")
case("legacy_torch_trailing.pt", legacy(trailing=OS_SYSTEM), "malicious", "torch-legacy",
     rules=["torch-legacy-layout", "denied-global"],
     members={"<trailing>": ["pickle", "malicious"]},
     desc="a sixth pickle after the last storage")


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        os.remove(os.path.join(OUT, f))
    manifest = []
    for c in cases:
        with open(os.path.join(OUT, c["file"]), "wb") as f:
            f.write(c["data"])
        entry = {k: v for k, v in c.items() if k != "data"}
        manifest.append(entry)
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump({"generator": "scripts/make_container_corpus.py, Python %s" %
                   sys.version.split()[0], "cases": manifest}, f, indent=1)
        f.write("\n")
    print("%d files in %s" % (len(cases), OUT))


if __name__ == "__main__":
    main()
