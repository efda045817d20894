#!/usr/bin/env python3
"""Regenerate the expected outputs of `pickletools.optimize` for brine's optimize tests.

Usage (from the repository root, stdlib only):  python3 scripts/make_optimize_expected.py

Reads every input of the CPython-made corpus (tests/corpus/manifest.json: valid/, bad/, and
multi/*.pkl) plus the hand-made edge cases defined below, runs CPython's
`pickletools.optimize` on each, and then once more on its output (idempotence). Writes, after
deleting the previous tests/optimize/edge/ and expected/ (README.md and .gitattributes
there are kept):

  manifest.json          one entry per input (see below)
  edge/<name>.pkl        the hand-made edge-case inputs
  expected/<path>        the optimized bytes, when they differ from the input
  expected/<path>.again  the second pass's bytes, when they differ from the first pass's

Entry fields: `input` (path relative to the repository root), `size` and `fnv1a64` (hex) of
the input (the test checks them, so a regenerated corpus with a stale tests/optimize/ fails
loudly), `description` (edge cases), and either `error` (`Type: message` of the exception
CPython raises) or `output` (path of the expected bytes, or null: identical to the input)
and `output_size`; then `again` is "same" (optimize is idempotent on this input), "error"
(with `again_error`) or the path of the second pass's bytes.

The output is deterministic (optimize depends only on its input).
"""

import io
import json
import pickle
import pickletools
import shutil
import struct
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CORPUS = ROOT / 'tests' / 'corpus'
OUT = ROOT / 'tests' / 'optimize'

MASK64 = (1 << 64) - 1


def fnv1a64(data):
    h = 0xcbf29ce484222325
    for b in data:
        h = ((h ^ b) * 0x100000001b3) & MASK64
    return '%016x' % h


def u4(n):
    return struct.pack('<I', n)


def u8(n):
    return struct.pack('<Q', n)


def binbytes8(b):
    return b'\x8e' + u8(len(b)) + b


def frame(body):
    return b'\x95' + u8(len(body)) + body


def edge_cases():
    """(name, bytes, description) of hand-made inputs."""
    cases = []

    def add(name, data, description):
        cases.append((name, data, description))

    shared = [1, 2]
    obj = {'a': shared, 'b': shared, 'c': [shared, 'x' * 10, ('t', shared)], 'd': 'unused'}
    for proto in range(6):
        add('shared_p%d' % proto, pickle.dumps(obj, protocol=proto),
            'pickle.dumps of a dict with a shared list and unused memo entries, protocol %d'
            % proto)
    # Python pickler (pickle._dumps) frames differently from the C one in some cases.
    for proto in (4, 5):
        add('shared_py_p%d' % proto, pickle._dumps(obj, protocol=proto),
            'pure-Python pickler output, protocol %d' % proto)

    # More than 256 used memo entries: LONG_BINPUT / LONG_BINGET (protocols 1-3), MEMOIZE (4+).
    many = [[i] for i in range(300)]
    for proto in range(6):
        add('many_shared_p%d' % proto, pickle.dumps([many, many[::-1]], protocol=proto),
            '300 lists referenced twice (memo ids above 255), protocol %d' % proto)

    # MEMOIZE counts len(oldids), a set: after sparse PUTs its ids collide with them.
    add('memoize_after_sparse_put',
        b'\x80\x04]q\x05\x94]\x94(h\x01h\x05h\x01t.',
        'BINPUT 5 then MEMOIZE (id 1): GETs of 1 and 5')
    add('memoize_collides_with_put',
        b'\x80\x04]q\x01]\x94]\x94(h\x01h\x01t.',
        'BINPUT 1 then two MEMOIZEs that both get id 1 (len(oldids) stays 1)')
    add('memoize_then_put_same_id',
        b'\x80\x04]\x94]q\x00]\x94(h\x00h\x01t.',
        'MEMOIZE (0), BINPUT 0, MEMOIZE (1): GET 0 refers to the last store of 0')
    add('memoize_at_protocol_2',
        b'\x80\x02]\x94]\x94(h\x00h\x01t.',
        'MEMOIZE in a protocol 2 pickle: rewritten as BINPUT')
    add('memoize_no_proto_text_get',
        b'(l\x94(l\x94g0\ng1\ntl.',
        'MEMOIZE and text GETs without PROTO: protocol 0, rewritten as PUT')

    # GET before the PUT of its id.
    add('get_before_put_p0', b'(lg1\np1\nag1\na.',
        'protocol 0: a GET whose id is not stored yet is written as gNone')
    add('get_never_put_p0', b'(lg7\na.',
        'protocol 0: a GET of an id never stored (gNone)')
    add('get_before_put_binary', b'\x80\x02]h\x01q\x01h\x01.',
        'binary GET before its PUT: CPython fails (TypeError)')
    add('get_never_put_binary', b']j\x07\x00\x00\x00a.',
        'LONG_BINGET of an id never stored: CPython fails (TypeError)')
    add('put_twice_get_after_both', b'(lp0\n0(lp0\n0g0\n.',
        'two PUTs of id 0 both kept (renumbered 0 and 1), GET refers to the second: '
        'not idempotent')

    # Text memo keys: Python int() spellings, True/False, negative and big ids.
    add('text_keys_spellings',
        b'(lp 1_0 \n0g10\n(lp00\n0g0\n(lp01\n0g+1\n(lp-5\n0g-5\n'
        b'(lp123456789012345678901234567890\n0g123456789012345678901234567890\nl.',
        'PUT/GET ids with spaces, underscores, 00/01 (False/True), a sign, a big int')
    add('text_key_too_long', b'(lp' + b'1' * 4301 + b'\n.',
        'PUT id of 4301 digits: int() refuses it')
    add('text_key_bad', b'(lpx\n.', 'PUT id that is not an int')
    add('binput_unused_all', b'\x80\x02]q\x00K\x01a]q\x01K\x02a\x86q\x02.',
        'no GET at all: every put dropped')

    # PROTO handling.
    add('proto_not_at_start', b'N0\x80\x02]q\x00h\x00\x86.',
        'PROTO 2 after the first opcode: kept in place, protocol 2 detected')
    add('proto4_not_at_start', b'N0\x80\x04]\x94h\x00\x86.',
        'PROTO 4 after the first opcode: kept in the (single) frame, no header')
    add('two_protos', b'\x80\x02N0\x80\x04]q\x00h\x00\x86.',
        'PROTO 2 header then PROTO 4 later: framing at protocol 4, header kept')
    add('proto_6', b'\x80\x06N.', 'PROTO 6: pickle._Pickler refuses the protocol')
    add('proto_6_later', b'\x80\x02N0\x80\xffN.', 'PROTO 255 after the header')
    add('proto_0_header', b'\x80\x00(lp0\ng0\na.',
        'PROTO 0 at the start: header kept, text opcodes')
    add('proto_1_binget', b']q\x00h\x00a.',
        'no PROTO, BINGET: protocol 1 detected')

    # Frames.
    add('frame_without_proto', frame(b'N') + b'.',
        'FRAME in a pickle without PROTO (protocol 0): dropped, no re-framing')
    add('frame_in_proto2', b'\x80\x02' + frame(b']q\x00h\x00a') + b'.',
        'FRAME at protocol 2: dropped')
    add('bytes_after_stop', b'\x80\x04\x95\x03\x00\x00\x00\x00\x00\x00\x00N.N.garbage',
        'bytes after STOP are not part of the output')
    add('tiny_frames', b'\x80\x04N.', 'protocol 4, a 2-byte frame: written without FRAME')
    add('four_byte_frame', b'\x80\x04NNN.', 'protocol 4, a 4-byte frame: FRAME header')

    strings = [('%06d' % i) * 8 for i in range(3000)]
    add('big_frames_p4', pickle.dumps([strings, strings[:10]], protocol=4),
        'list of 3000 strings, > 128 KiB: several frames, protocol 4')
    add('big_frames_py_p5', pickle._dumps([strings, strings[:10]], protocol=5),
        'same from the pure-Python pickler, protocol 5')
    for n in (65535, 65536, 65537):
        blob = bytes(range(256)) * (n // 256) + bytes(range(n % 256))
        add('blob_%d' % n, pickle.dumps([b'a', blob, b'b', blob, 'tail'], protocol=4),
            'bytes of %d bytes (frame target 65536), referenced twice' % n)
    add('blob_5_bytearray', pickle.dumps([bytearray(b'x' * 66000), b'y' * 66000, 'z'], protocol=5),
        'bytearray and bytes over the frame target, protocol 5')
    add('input_frames_merged',
        b'\x80\x04' + frame(b']\x94(') + frame(b'\x8c\x01a\x94h\x01') + frame(b'e.'),
        'three small input frames become one')
    # A frame that reaches exactly the target at an opcode boundary.
    exact = b'\x80\x04]\x94(' + b'C\xfd' + b'e' * 253 + b'\x8e' + u8(65536 - 3 - 255 - 9) + \
        b'f' * (65536 - 3 - 255 - 9) + b'h\x00e.'
    add('frame_reaches_target', exact,
        'the frame reaches exactly 65536 bytes before the last opcodes, then a new frame')
    over = b'\x80\x04]\x94(' + b'\x8e' + u8(65536 - 9) + b'g' * (65536 - 9) + b'N' + \
        b'\x8e' + u8(65536 - 8) + b'h' * (65536 - 8) + b'h\x00e.'
    add('opcode_at_target_sizes', over,
        'BINBYTES8 opcodes of exactly 65536 (framed) and 65537 bytes (unframed)')

    # Errors genops raises.
    add('empty', b'', 'empty input')
    add('no_stop', b'\x80\x04N', 'no STOP')
    add('unknown_opcode', b'\x80\x04N\xff.', 'unknown opcode byte')
    add('truncated_binbytes', b'\x80\x03B\x05\x00\x00\x00ab', 'BINBYTES shorter than its length')
    add('bytes8_too_long', b'\x80\x04\x8e' + b'\xff' * 8 + b'.', 'BINBYTES8 length > sys.maxsize')
    add('string_bad_quotes', b"S'abc\n.", 'STRING without its closing quote')
    add('string_non_ascii', b"S'\xe9'\n.", 'STRING with a non-ASCII byte')
    add('unicode_bad_utf8', b'\x80\x04\x8c\x01\xff.', 'SHORT_BINUNICODE with invalid UTF-8')
    add('surrogate_utf8', b'\x80\x04\x8c\x03\xed\xa0\x80.',
        'SHORT_BINUNICODE with an encoded surrogate (surrogatepass accepts it)')
    add('float_underscores', b'F1_0.5\n.', 'FLOAT with an underscore (float() accepts it)')
    add('float_bad', b'F1..5\n.', 'FLOAT that float() refuses')
    add('float_nan_spaces', b'F -nan \n.', 'FLOAT nan with a sign and spaces')
    add('long_l_suffix', b'L12L\n.', 'LONG with its L')
    add('long_hex', b'L0x10\n.', 'LONG in hex: int(s) refuses it')
    add('global_escape', b'c\\x41\nB\n.', 'GLOBAL line with a backslash escape')
    add('string4_negative', b'T\xff\xff\xff\xff.', 'BINSTRING with a negative length')
    add('long4_negative', b'\x8b\xff\xff\xff\xff.', 'LONG4 with a negative length')
    add('raw_unicode_bad', b'V\\u12\n.', 'UNICODE with a truncated \\u escape')
    return cases


def main():
    manifest = json.loads((CORPUS / 'manifest.json').read_text())
    inputs = []
    for section in ('valid', 'bad'):
        for e in manifest[section]:
            inputs.append(('tests/corpus/' + e['file'], None))
    for p in sorted((CORPUS / 'multi').glob('*.pkl')):
        inputs.append((p.relative_to(ROOT).as_posix(), None))

    for sub in ('edge', 'expected'):
        if (OUT / sub).exists():
            shutil.rmtree(OUT / sub)
        (OUT / sub).mkdir(parents=True)
    seen = set()
    for name, data, description in edge_cases():
        assert name not in seen, name
        seen.add(name)
        path = OUT / 'edge' / (name + '.pkl')
        path.write_bytes(data)
        inputs.append((path.relative_to(ROOT).as_posix(), description))

    entries = []
    counts = {'ok': 0, 'error': 0, 'same': 0, 'not_idempotent': 0}
    for rel, description in inputs:
        data = (ROOT / rel).read_bytes()
        entry = {'input': rel, 'size': len(data), 'fnv1a64': fnv1a64(data)}
        if description is not None:
            entry['description'] = description
        try:
            out = pickletools.optimize(data)
        except Exception as exc:  # noqa: BLE001  (any exception: brine must return an error)
            entry['error'] = '%s: %s' % (type(exc).__name__, str(exc)[:200])
            counts['error'] += 1
            entries.append(entry)
            continue
        counts['ok'] += 1
        stem = rel.split('/', 1)[1]  # drop the leading "tests/"
        stem = stem[len('optimize/'):] if stem.startswith('optimize/') else stem
        if out == data:
            entry['output'] = None
            counts['same'] += 1
        else:
            target = OUT / 'expected' / stem
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(out)
            entry['output'] = target.relative_to(ROOT).as_posix()
        entry['output_size'] = len(out)
        try:
            again = pickletools.optimize(out)
        except Exception as exc:  # noqa: BLE001
            entry['again'] = 'error'
            entry['again_error'] = '%s: %s' % (type(exc).__name__, str(exc)[:200])
            counts['not_idempotent'] += 1
        else:
            if again == out:
                entry['again'] = 'same'
            else:
                target = OUT / 'expected' / (stem + '.again')
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(again)
                entry['again'] = target.relative_to(ROOT).as_posix()
                counts['not_idempotent'] += 1
        entries.append(entry)

    doc = {
        'python': sys.version,
        'generator': 'scripts/make_optimize_expected.py',
        'entries': entries,
    }
    (OUT / 'manifest.json').write_text(json.dumps(doc, indent=1) + '\n')
    print('%d inputs: %s' % (len(entries), counts))


if __name__ == '__main__':
    main()
