#!/usr/bin/env python3
"""Writes crates/brine/tests/data/sign_vectors.json: known-answer vectors for brine::sign.

This is a second implementation of docs/sign.md (key ids, the signed statement, the
envelope and the detached signature file), written from the spec with Python's hmac and
hashlib and the `cryptography` package's Ed25519, so that tests/sign.rs checks brine's
bytes against something brine did not make. Both algorithms are deterministic, so the
vectors are fixed.

    python3 scripts/make_sign_vectors.py
"""

import hashlib
import hmac
import json
import pickle
import platform
import struct
from pathlib import Path

from cryptography import __version__ as cryptography_version
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

OUT = Path(__file__).resolve().parent.parent / "crates/brine/tests/data/sign_vectors.json"

MAGIC = b"\xffBRINESIG\n"
VERSION = 1
DOMAIN = b"brine-sign/v1\x00"
KEY_ID_DOMAIN = b"brine-sign/v1 key-id\x00"
ALG_ID = {"hmac-sha256": 1, "ed25519": 2}
FORM_ENVELOPE = 1
FORM_DETACHED = 2


def key_id(alg, secret):
    if alg == "hmac-sha256":
        return hmac.new(secret, KEY_ID_DOMAIN + bytes([1]), hashlib.sha256).digest()[:8]
    public = public_bytes(secret)
    return hashlib.sha256(KEY_ID_DOMAIN + bytes([2]) + public).digest()[:8]


def public_bytes(seed):
    return (
        Ed25519PrivateKey.from_private_bytes(seed)
        .public_key()
        .public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    )


def statement(alg, form, kid, payload):
    s = (
        DOMAIN
        + bytes([ALG_ID[alg], form])
        + kid
        + struct.pack("<Q", len(payload))
        + hashlib.sha256(payload).digest()
    )
    assert len(s) == 64
    return s


def raw_sign(alg, secret, msg):
    if alg == "hmac-sha256":
        return hmac.new(secret, msg, hashlib.sha256).digest()
    return Ed25519PrivateKey.from_private_bytes(secret).sign(msg)


def envelope(alg, secret, payload):
    kid = key_id(alg, secret)
    header = MAGIC + bytes([VERSION, ALG_ID[alg]]) + bytes(4) + kid + struct.pack("<Q", len(payload))
    assert len(header) == 32
    return header + payload + raw_sign(alg, secret, statement(alg, FORM_ENVELOPE, kid, payload))


def detached(alg, secret, payload):
    kid = key_id(alg, secret)
    sig = raw_sign(alg, secret, statement(alg, FORM_DETACHED, kid, payload))
    return (
        "brine-signature v1\n"
        f"algorithm: {alg}\n"
        f"key-id: {kid.hex()}\n"
        f"payload-length: {len(payload)}\n"
        f"payload-sha256: {hashlib.sha256(payload).hexdigest()}\n"
        f"signature: {sig.hex()}\n"
    )


def main():
    payloads = [
        pickle.dumps({"a": [1, 2.5, None]}, protocol=2),
        pickle.dumps(["x" * 40, b"\x00\xff", (1, 2)], protocol=5),
        b"",
    ]
    keys = [
        ("hmac-sha256", bytes(range(32))),
        ("hmac-sha256", b"a longer shared secret of more than sixty-four bytes, hashed by HMAC first"),
        ("ed25519", bytes([7] * 32)),
        ("ed25519", hashlib.sha256(b"brine test key").digest()),
    ]
    cases = []
    for alg, secret in keys:
        if alg == "hmac-sha256":
            secret_text = "brine-hmac-sha256:" + secret.hex()
            verify_text = secret_text
        else:
            secret_text = "brine-ed25519-secret:" + secret.hex()
            verify_text = "brine-ed25519-public:" + public_bytes(secret).hex()
        for payload in payloads:
            cases.append(
                {
                    "algorithm": alg,
                    "secret_key": secret_text,
                    "verify_key": verify_text,
                    "key_id": key_id(alg, secret).hex(),
                    "payload": payload.hex(),
                    "envelope": envelope(alg, secret, payload).hex(),
                    "detached": detached(alg, secret, payload),
                }
            )
    doc = {
        "generator": "scripts/make_sign_vectors.py",
        "python": platform.python_version(),
        "cryptography": cryptography_version,
        "cases": cases,
    }
    OUT.write_text(json.dumps(doc, indent=1) + "\n")
    print(f"wrote {len(cases)} cases to {OUT}")


if __name__ == "__main__":
    main()
