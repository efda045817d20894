#!/usr/bin/env python3
"""Regenerate brine's CPython-made test corpus in tests/corpus/.

Usage (from the repository root, stdlib only):  python3 scripts/make_corpus.py

Writes, after deleting the previous tests/corpus/:
  manifest.json             what every file is and what CPython does with it
  valid/<name>.pkl          pickles CPython's C `pickle.loads` accepts
  valid/<name>.dis          `python3 -m pickletools <file>` output (+ .memo/.annotate/.indent)
  bad/<name>.pkl            inputs the C `pickle.loads` rejects, with the exception it raises
  multi/                    a two-file `python3 -m pickletools -m a b` case (shared memo)
  pickletools_opcodes.json  `pickletools.opcodes` as data
  README.md                 the field reference

The output is deterministic: the script re-executes itself with PYTHONHASHSEED=0 (set
iteration order of str/bytes depends on it) and writes no timestamps, ids or addresses.
It exits 1 if any of the 68 opcodes is missing from valid/*.pkl.
"""

import os
import sys

if os.environ.get('PYTHONHASHSEED') != '0':
    if os.environ.get('BRINE_CORPUS_REEXEC'):
        sys.exit('make_corpus.py: cannot fix PYTHONHASHSEED=0 (is python running with -E?)')
    env = dict(os.environ, PYTHONHASHSEED='0', BRINE_CORPUS_REEXEC='1')
    os.execve(sys.executable, [sys.executable] + sys.argv, env)

import collections
import concurrent.futures
import contextlib
import datetime
import decimal
import fractions
import functools
import io
import json
import pickle
import pickletools
import re
import shutil
import struct
import subprocess
import unittest
import uuid
import warnings
from pathlib import Path

sys.dont_write_bytecode = True  # no scripts/__pycache__ from importing corpus_classes
SCRIPTS = Path(__file__).resolve().parent
ROOT = SCRIPTS.parent
OUT = ROOT / 'tests' / 'corpus'
sys.path.insert(0, str(SCRIPTS))

import corpus_classes as cc  # noqa: E402  (needs sys.path first)
# Importing pickletester injects its classes C, D, E into __main__ (its canned pickles name them).
import test.pickletester as pt  # noqa: E402

ALL = range(6)
P1 = range(1, 6)
P2 = range(2, 6)
P4 = range(4, 6)
BAD_SIZE_LIMIT = 64 * 1024
BAD_SIZE_EXCEPTIONS = {'hand_deep_marks_100000'}
# Files that also get `-m`, `-a` and `-l 2` disassemblies.
DIS_VARIANTS = [
    'str_edge_cases_p0', 'nested_mixed_p0', 'nested_mixed_p2', 'nested_mixed_p4',
    'instance_dict_p1', 'reduce_ex_full_p3', 'cycle_tuple_list_p1', 'tuple_nested_p2',
    'ext_codes_p2', 'persistent_p0', 'picklebuffer_oob_p5', 'state_setter_p2',
    'pt_DATA0', 'pt_DATA4', 'py2_datetime_p1', 'deep_marks_100',
]

# Types whose repr() the manifest records (exact types; subclasses give null).
REPR_LIMIT = 200_000  # longer reprs are left out of the manifest (repr null, repr_omitted)
REPR_TYPES = {
    type(None), bool, int, float, complex, str, bytes, bytearray, list, tuple, dict, set,
    frozenset, range, slice, collections.OrderedDict, datetime.date, datetime.datetime,
    datetime.time, datetime.timedelta, datetime.timezone,
}


STDLIB = os.path.dirname(os.__file__)


def scrub_paths(text):
    """Machine-specific absolute paths in error messages -> <repo> / <stdlib>."""
    return text.replace(str(ROOT), '<repo>').replace(STDLIB, '<stdlib>')


def jsonable_error(exc):
    return scrub_paths('%s: %s' % (type(exc).__name__, exc))


ADDRESS = re.compile(r' at 0x[0-9a-fA-F]+')


def check_no_address(text, where):
    if text is None:
        return
    if ADDRESS.search(text) or any(p in text for p in (str(ROOT), sys.prefix, sys.base_prefix)):
        raise SystemExit('non-deterministic address in %s: %r' % (where, text[:200]))


def inspect_value(value):
    """(all types allowed for repr, names of the types seen, contains a set of >1 element)."""
    seen = set()
    names = set()
    unordered = False
    stack = [value]
    while stack:
        x = stack.pop()
        t = type(x)
        if t not in REPR_TYPES:
            return False, None, None
        names.add(t.__name__)
        if t in (list, tuple, set, frozenset, dict, collections.OrderedDict, slice):
            if id(x) in seen:
                continue
            seen.add(id(x))
        if t in (set, frozenset):
            unordered = unordered or len(x) > 1
            stack.extend(x)
        elif t in (dict, collections.OrderedDict):
            stack.extend(x.keys())
            stack.extend(x.values())
        elif t in (list, tuple):
            stack.extend(x)
        elif t is slice:
            stack.extend((x.start, x.stop, x.step))
        elif t in (datetime.datetime, datetime.time) and x.tzinfo is not None:
            stack.append(x.tzinfo)
    return True, sorted(names), unordered


def safe_repr(value):
    """repr() with the int->str digit limit lifted (huge ints), or (None, error)."""
    old = sys.get_int_max_str_digits()
    sys.set_int_max_str_digits(0)
    try:
        return repr(value), None
    except RecursionError as exc:
        return None, jsonable_error(exc)
    finally:
        sys.set_int_max_str_digits(old)


def run_dis(data, indentlevel=4, annotate=0):
    """pickletools.dis exactly as `python3 -m pickletools` calls it for one file."""
    out = io.StringIO()
    try:
        pickletools.dis(io.BytesIO(data), out, None, indentlevel, annotate)
    except Exception as exc:  # pickletools rejects some pickles CPython loads
        return None, jsonable_error(exc), out.getvalue()
    return out.getvalue(), None, out.getvalue()


def opcode_names(data, count):
    names = []
    f = io.BytesIO(data)
    for _ in range(count):
        try:
            for op, _arg, _pos in pickletools.genops(f):
                names.append(op.name)
        except Exception:
            break
    return names


class CorpusPersistentPickler(pickle.Pickler):
    """Replaces corpus_classes.Stored objects by persistent ids (str at p0, tuples above)."""

    def __init__(self, file, protocol):
        super().__init__(file, protocol)
        self.protocol_used = protocol

    def persistent_id(self, obj):
        if isinstance(obj, cc.Stored):
            if self.protocol_used == 0:
                return 'storage:' + obj.key
            return ('storage', obj.key)
        return None


class WrappingUnpickler(pickle.Unpickler):
    """persistent_load returns ('persistent', pid) and records the pids in order."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.pids = []

    def persistent_load(self, pid):
        self.pids.append(pid)
        return ('persistent', pid)


class Corpus:
    def __init__(self, out):
        self.out = out
        self.valid = []
        self.bad = []
        self.valid_keys = {}   # (data, encoding) -> name
        self.bad_keys = {}     # data -> name
        self.names = set()
        self.opcode_counts = collections.Counter()
        self.dis_multi = []
        self.cli_checks = []   # (CLI args, expected stdout, expect failure), run from OUT

    # ---------------------------------------------------------------- valid
    def add_valid(self, name, data, *, description, protocol=None, origin='handwritten',
                  encoding='ASCII', buffers=None, ext=False, persistent=False, count=1,
                  shared_memo=False, expect_load_error=False, extra=None):
        assert name not in self.names, name
        assert re.fullmatch(r'[A-Za-z0-9_.-]+', name), name
        key = (data, encoding)
        if key in self.valid_keys:
            return self.valid_keys[key]
        self.names.add(name)
        self.valid_keys[key] = name
        path = 'valid/%s.pkl' % name
        (self.out / path).write_bytes(data)

        entry = {
            'name': name,
            'file': path,
            'protocol': protocol,
            'origin': origin,
            'description': description,
            'size': len(data),
        }
        if count != 1:
            entry['count'] = count
        if shared_memo:
            entry['shared_memo'] = True
        entry['encoding'] = encoding
        entry['buffers'] = [bytes(b).hex() for b in buffers] if buffers is not None else None
        if ext:
            entry['ext'] = {str(code): list(pair) for code, pair in sorted(cc.EXTENSIONS.items())}
        if persistent:
            entry['persistent_load'] = 'wrap'

        # Load with CPython's C unpickler.
        values, load_error, pids = None, None, None
        ctx = cc.extensions_registered() if ext else contextlib.nullcontext()
        kwargs = {'encoding': encoding}
        if buffers is not None:
            kwargs['buffers'] = [bytes(b) for b in buffers]
        try:
            with ctx:
                if count == 1 and not persistent:
                    values = [pickle.loads(data, **kwargs)]
                else:
                    cls = WrappingUnpickler if persistent else pickle.Unpickler
                    u = cls(io.BytesIO(data), **kwargs)
                    values = [u.load() for _ in range(count)]
                    if persistent:
                        pids = [repr(p) for p in u.pids]
        except Exception as exc:
            load_error = jsonable_error(exc)
        if (load_error is not None) != expect_load_error:
            raise SystemExit('%s: unexpected load result: %s' % (name, load_error))
        entry['loads_ok'] = load_error is None
        if load_error is not None:
            entry['load_error'] = load_error
        if pids is not None:
            entry['pids'] = pids

        reprs, types, unordered, repr_error = [], set(), False, None
        if values is not None and not persistent:
            for v in values:
                ok, names, unord = inspect_value(v)
                if not ok:
                    reprs = None
                    break
                r, err = safe_repr(v)
                if r is None:
                    reprs, repr_error = None, err
                    break
                check_no_address(r, name)
                if len(r) > REPR_LIMIT:
                    reprs, repr_error = None, None
                    entry['repr_omitted'] = 'repr is %d characters' % len(r)
                    break
                reprs.append(r)
                types.update(names)
                unordered = unordered or unord
        else:
            reprs = None
        if reprs is None:
            entry['repr'] = None
        else:
            entry['repr'] = reprs[0] if count == 1 else reprs
            entry['repr_types'] = sorted(types)
        if repr_error:
            entry['repr_error'] = repr_error
        entry['unordered'] = unordered

        dis_text, dis_error, partial = run_dis(data)
        if dis_text is None:
            entry['dis'] = None
            entry['dis_error'] = dis_error
            self.cli_checks.append(([path], partial, True))
        else:
            dis_path = 'valid/%s.dis' % name
            (self.out / dis_path).write_text(dis_text, encoding='utf-8')
            entry['dis'] = dis_path
        names = opcode_names(data, count)
        self.opcode_counts.update(names)
        entry['opcodes'] = sorted(set(names))
        if extra:
            entry.update(extra)
        self.valid.append(entry)
        return name

    def dump_case(self, base, obj, protocols, description, **kw):
        for p in protocols:
            self.add_valid('%s_p%d' % (base, p), pickle.dumps(obj, p), protocol=p,
                           origin='pickle.dumps', description=description, **kw)

    # ------------------------------------------------------------------ bad
    def add_bad(self, name, data, source, description=None):
        """Record `data` if the C pickle.loads rejects it (returns False if it is accepted)."""
        data = bytes(data)
        if data in self.bad_keys:
            return True
        try:
            pickle.loads(data)
        except Exception as exc:
            error_type, error = type(exc).__name__, scrub_paths(str(exc))
        else:
            return False
        assert name not in self.names, name
        if len(data) >= BAD_SIZE_LIMIT and name not in BAD_SIZE_EXCEPTIONS:
            raise SystemExit('bad input %s is too large (%d bytes)' % (name, len(data)))
        check_no_address(error, name)
        self.names.add(name)
        self.bad_keys[data] = name
        path = 'bad/%s.pkl' % name
        (self.out / path).write_bytes(data)
        entry = {'name': name, 'file': path, 'error_type': error_type, 'error': error,
                 'source': source}
        if description:
            entry['description'] = description
        self.bad.append(entry)
        return True

    # ------------------------------------------------------------- finalize
    def add_dis_variants(self):
        by_name = {e['name']: e for e in self.valid}
        for name in DIS_VARIANTS:
            entry = by_name[name]
            data = (self.out / entry['file']).read_bytes()
            assert entry['dis'] is not None, name
            for field, suffix, args, kwargs in (
                    ('dis_memo', 'memo', ['-m'], {}),
                    ('dis_annotate', 'annotate', ['-a'], {'annotate': 30}),
                    ('dis_indent', 'indent', ['-l', '2'], {'indentlevel': 2})):
                # With a single file the CLI ignores -m (memo=None): same text as .dis.
                text, err, _ = run_dis(data, **kwargs)
                assert err is None, (name, err)
                path = 'valid/%s.%s.dis' % (name, suffix)
                (self.out / path).write_text(text, encoding='utf-8')
                entry[field] = path

    def verify_cli(self):
        """Compare with the real `python3 -m pickletools`, run from tests/corpus.

        Several files per run where possible: without -m the CLI disassembles each file with
        a fresh memo, after a `==> path <==` preamble. Files pickletools fails on (the CLI
        stops there), `-m` (it shares the memo across files) and dis_multi run one by one.
        """
        def batch(args, entries, field):
            expected = ''.join('==> %s <==\n' % e['file'] +
                               (self.out / e[field]).read_text(encoding='utf-8')
                               for e in entries)
            return (args + [e['file'] for e in entries], expected, False)

        plain = [e for e in self.valid if e['dis'] is not None]
        variants = [e for e in self.valid if 'dis_annotate' in e]
        checks = list(self.cli_checks)
        checks += [batch([], plain[i:i + 200], 'dis') for i in range(0, len(plain), 200)]
        checks.append(batch(['-a'], variants, 'dis_annotate'))
        checks.append(batch(['-l', '2'], variants, 'dis_indent'))
        checks += [(['-m', e['file']], (self.out / e['dis_memo']).read_text(encoding='utf-8'),
                    False) for e in variants]
        checks += [(m['args'], (self.out / m['dis']).read_text(encoding='utf-8'), False)
                   for m in self.dis_multi]
        env = dict(os.environ, PYTHONIOENCODING='utf-8')

        def run(check):
            args, expected, fails = check
            proc = subprocess.run([sys.executable, '-m', 'pickletools'] + args, cwd=self.out,
                                  capture_output=True, env=env)
            ok = proc.stdout == expected.encode('utf-8') and (proc.returncode != 0) == fails
            return ok, args[:3], proc.returncode

        with concurrent.futures.ThreadPoolExecutor(4) as pool:
            results = list(pool.map(run, checks))
        bad = [(args, rc) for ok, args, rc in results if not ok]
        if bad:
            raise SystemExit('pickletools CLI output differs for: %r' % bad[:10])
        return len(plain) + 3 * len(variants) + len(self.cli_checks) + len(self.dis_multi)


# ====================================================================== valid
def make_strings():
    return [
        '', 'ascii', "single ' quote", 'double " quote', 'both \' and " quotes',
        'back\\slash', 'a\\u0041 literal backslash-u', '\n', '\r', '\t', '\x00', '\x1a', '\x7f',
        'line1\nline2\r\n\ttab', 'latin-1: caf\xe9 \xff \x80 \xa0', 'BMP: \u20ac \u4e2d\u6587 \ufffd',
        'astral: \U0001f600 \U00010000 \U0010ffff', '\ud800', '\udfff', '\ud83d\ude00',
        'mixed \ud800 lone and \U0001f600 pair',
    ]


def add_builtin_cases(c):
    c.dump_case('none', None, ALL, 'None at top level')
    c.dump_case('true', True, ALL, 'True at top level (I01 at p0/p1, NEWTRUE at p2+)')
    c.dump_case('false', False, ALL, 'False at top level')
    c.dump_case('singletons', [None, True, False, None, True], ALL, 'None/True/False in a list')

    ints = [0, 1, -1, 255, 256, -255, -256, 65535, 65536, -65536, 2**31 - 1, -2**31, 2**31,
            -2**31 - 1, 2**32, 2**63 - 1, -2**63, 2**63, -2**63 - 1, 2**64, 2**127, -2**127,
            2**2039 - 1, 2**2039, -2**2039, -2**2039 - 1, 2**2040, -2**2040]
    c.dump_case('int_boundaries', ints, ALL,
                'int width boundaries: BININT1/BININT2/BININT, LONG1/LONG4 (255/256 bytes)')
    c.dump_case('int_small', 42, ALL, 'a small int at top level')
    c.dump_case('int_neg1', -1, ALL, '-1 at top level (BININT, not BININT1)')
    c.dump_case('int_2p31', 2**31, ALL, '2**31 at top level (LONG / LONG1)')
    c.dump_case('int_2p2039', 2**2039, ALL, '2**2039 at top level (LONG4 at p2+)')
    c.dump_case('int_max_text', [10**4299 - 1, -(10**4299 - 1)], ALL,
                '10**4299-1: the largest int CPython writes as p0/p1 text (4299 digits)')
    c.dump_case('int_huge', [2**100000 + 1, -(2**100000), 10**4300], P2,
                'ints beyond the 4300-digit str limit: LONG4 only (repr computed with the limit lifted)')

    floats = [0.0, -0.0, 1.5, 0.1, 1e-07, 1e16, 1e22, 5e-324, 1.7976931348623157e308,
              float('inf'), float('-inf'), float('nan'), -1.5, 123456789.125, 2.5e-310]
    c.dump_case('float_values', floats, ALL, 'float edge values (FLOAT repr at p0, BINFLOAT)')
    c.dump_case('float_top', 0.1, ALL, 'a float at top level')
    nan_payloads = [struct.unpack('>d', bytes.fromhex(h))[0]
                    for h in ('7ff8000000000000', 'fff8000000000000', '7ff0000000000001',
                              '7ff4000000000abc')]
    c.dump_case('float_nan_payloads', nan_payloads, P1,
                'NaNs with sign/payload bits (BINFLOAT keeps them bit-exactly)')

    c.dump_case('str_edge_cases', make_strings(), ALL,
                'strings: quotes, escapes, control chars, latin-1, BMP, astral, lone surrogates')
    c.dump_case('str_empty', '', ALL, 'the empty string at top level')
    c.dump_case('str_lone_surrogate', '\ud800', ALL, 'a lone surrogate at top level')
    c.dump_case('str_surrogate_pair_as_two', '\ud83d\ude00', ALL,
                'a surrogate pair stored as two code points (two 3-byte sequences)')
    c.dump_case('str_emoji', '\U0001f600', ALL, 'an astral code point (4-byte UTF-8)')
    lengths = ['a' * 255, 'b' * 256, '\xe9' * 127 + 'a', '\xe9' * 128, '\u20ac' * 85,
               '\U0001f600' * 64, 'c' * 254 + '\xe9']
    c.dump_case('str_utf8_lengths', lengths, ALL,
                'strings of 255/256 UTF-8 bytes (SHORT_BINUNICODE limit counts bytes)')
    c.dump_case('str_70k', 'abcdefghij' * 7000, (0, 1, 4), 'a 70000-character string')

    byteses = [b'', b'a', b'\xe9', b'\x00\xff', bytes(range(255)), bytes(range(256)),
               b'\x80' * 3, b'latin1']
    c.dump_case('bytes_edge_cases', byteses, ALL,
                'bytes: empty, 1 byte, \\xe9, 255/256 bytes (_codecs.encode at p<3)')
    c.dump_case('bytes_empty', b'', ALL, 'b"" at top level (bytes() reduce at p<3)')
    c.dump_case('bytes_one', b'\xe9', ALL, 'one non-ASCII byte at top level')
    big_bytes = b'abcdefghij' * 6975 + bytes(range(256))
    assert len(big_bytes) == 70006
    c.dump_case('bytes_70k', big_bytes, (0, 2, 3, 4), 'a 70006-byte bytes object')
    c.dump_case('bytes_and_str_shared', [b'\xe9', '\xe9', b'a', 'a'], ALL,
                'bytes next to equal latin-1 str: cached 1-char objects become memo GETs')
    c.dump_case('bytearray_cases', [bytearray(), bytearray(b'abc'), bytearray(range(256)) * 2],
                ALL, 'bytearray: empty, small, 512 bytes (BYTEARRAY8 at p5)')
    c.dump_case('bytearray_large', bytearray(big_bytes), (0, 3, 5), 'a 70006-byte bytearray')

    c.dump_case('tuple_sizes', [(), (1,), (1, 2), (1, 2, 3), (1, 2, 3, 4), (1, 2, 3, 4, 5)],
                ALL, 'tuples of 0..5 items (TUPLE1/2/3 at p2+)')
    c.dump_case('tuple_empty', (), ALL, 'the empty tuple at top level')
    c.dump_case('tuple_nested', ((), ((),), (((1,),),), (1, (2, (3, (4, (5,))))), ('a', ('a',))),
                ALL, 'nested tuples')

    # Big sizes only where the bytes differ: p0 has no batching (one size is enough), p1-p3 and
    # p4-p5 batch the same way apart from the header/memo opcodes.
    for kind, make in (('list', list), ('dict', lambda r: {i: i % 7 for i in r}),
                       ('set', set), ('frozenset', frozenset)):
        for n in (0, 1, 2, 999, 1000, 1001, 2001):
            protocols = ALL if n < 3 else (0, 2, 4) if n == 1001 else (2, 4)
            c.dump_case('%s_len%d' % (kind, n), make(range(n)), protocols,
                        '%s of %d items (batching: 1000 per APPENDS/SETITEMS/ADDITEMS)' % (kind, n))
    c.dump_case('set_of_str', {'alpha', 'beta', 'gamma', 'delta'}, ALL,
                'a set of strings (order fixed by PYTHONHASHSEED=0)')

    keys = {7: 'int', -5: 'negative', 2**70: 'big int', 0.5: 'float', True: 'True',
            False: 'False', None: 'None', b'k': 'bytes', (1, 'a'): 'tuple',
            frozenset({3}): 'frozenset of 1', frozenset({1, 2}): 'frozenset of 2', '': 'empty str',
            1 + 2j: 'complex', 'str': 'str'}
    c.dump_case('dict_nonstr_keys', keys, ALL,
                'dict keys of many types: int, float, bool, None, bytes, tuple, frozenset')
    nested = {'a': [1, 2, {'b': (3, 4.5, None)}], 'c': {'d': [True, False, b'x']},
              'e': ((), [], {}, set(), frozenset()), 'f': [[[['deep']]]], 'g': {(1, 2): {3: [4]}}}
    c.dump_case('nested_mixed', nested, ALL, 'nested lists/dicts/tuples/sets')

    # Framing (protocol 4+): frames are cut at 64 KiB; big payloads are written unframed.
    c.dump_case('frames_multi', [('%05d' % i) * 6000 for i in range(4)], P4,
                'four 30000-char strings: frames committed once over 64 KiB')
    c.dump_case('frames_bytes_100k', [b'head', b'0123456789abcdef' * 6400, 'tail'], P4,
                'a 102400-byte bytes object between small ones (unframed BINBYTES)')

    # Shared references and the memo.
    shared = [1, 2]
    c.dump_case('shared_list_twice', [shared, shared, [1, 2]], ALL,
                'the same list twice (GET) and an equal distinct list')
    s1 = ''.join(['shared ', 'string'])
    s2 = ''.join(['shared ', 'string'])
    c.dump_case('shared_str_twice', [s1, s1, s2], ALL,
                'the same str object twice (GET) and an equal distinct str (written again)')
    big = list(range(20))
    c.dump_case('shared_big_list_1000', [big] * 1000, (0, 2, 4),
                'one 20-int list referenced 1000 times')
    target = ['target']
    c.dump_case('shared_long_binget', ['s%d' % i for i in range(300)] + [target, target], ALL,
                '300 memoized strings then a shared list: LONG_BINPUT / LONG_BINGET')
    x = ['x']
    c.dump_case('shared_in_dict_and_tuple', {'a': x, 'b': (x, x), 'c': [x]}, ALL,
                'one list shared by a dict, a tuple and a list')

    # Cycles.
    lst = []
    lst.append(lst)
    c.dump_case('cycle_list', lst, ALL, 'l = []; l.append(l)')
    d = {}
    d['self'] = d
    c.dump_case('cycle_dict', d, ALL, 'a dict containing itself')
    t = ([],)
    t[0].append(t)
    c.dump_case('cycle_tuple_list', t, ALL,
                't = ([],); t[0].append(t): POP + GET (p2+) / POP_MARK (p1) / POPs (p0)')
    t4 = ([], 1, 2, 3)
    t4[0].append(t4)
    c.dump_case('cycle_tuple4_list', t4, ALL, 'recursive 4-tuple through a list: POP_MARK + GET')
    a, b = [], []
    a.append(b)
    b.append(a)
    c.dump_case('cycle_two_lists', [a, b], ALL, 'two lists containing each other')

    c.dump_case('complex_range_slice',
                [1 + 2j, complex(-0.0, float('inf')), range(5), range(1, 10, 3), range(0),
                 slice(1, 10, 2), slice(None), slice('a', None, [1])], ALL,
                'complex, range (xrange at p<3), slice')
    c.dump_case('complex_top', 1 - 2.5j, ALL, 'a complex at top level')
    od = collections.OrderedDict([('z', 1), ('a', 2), ('m', [3])])
    c.dump_case('ordereddict', od, ALL, 'collections.OrderedDict (REDUCE + SETITEMS)')
    dts = [datetime.date(2000, 1, 1), datetime.datetime(2024, 2, 29, 12, 30, 45, 123456),
           datetime.datetime(1999, 12, 31, 23, 59, 59, tzinfo=datetime.timezone.utc),
           datetime.datetime(2021, 3, 4, 5, 6, 7,
                             tzinfo=datetime.timezone(datetime.timedelta(hours=-5), 'EST')),
           datetime.time(1, 2, 3, 4), datetime.time(23, 59, fold=1),
           datetime.timedelta(days=1, seconds=2, microseconds=3), datetime.timedelta(-1),
           datetime.datetime(2022, 11, 6, 1, 30, fold=1)]
    c.dump_case('datetime_values', dts, ALL, 'datetime.date/datetime/time/timedelta/timezone')
    c.dump_case('decimal', [decimal.Decimal('3.14159'), decimal.Decimal('-0'),
                            decimal.Decimal('NaN'), decimal.Decimal('1E+100')], ALL,
                'decimal.Decimal values')
    c.dump_case('fraction', [fractions.Fraction(1, 3), fractions.Fraction(-22, 7)], ALL,
                'fractions.Fraction values')
    c.dump_case('uuid', uuid.UUID('12345678-1234-5678-1234-567812345678'), ALL,
                'uuid.UUID (NEWOBJ/_reconstructor + BUILD with int state)')
    dd = collections.defaultdict(list)
    dd['a'].append(1)
    dd['b']
    c.dump_case('defaultdict', dd, ALL, 'collections.defaultdict(list)')
    c.dump_case('counter', collections.Counter('abracadabra'), ALL, 'collections.Counter')
    c.dump_case('deque', collections.deque([1, 2, 3], maxlen=5), ALL, 'collections.deque with maxlen')
    c.dump_case('globals_builtin',
                [type(None), type(Ellipsis), type(NotImplemented), len, int, str, range,
                 ValueError, FileNotFoundError, functools.reduce, Ellipsis, NotImplemented],
                ALL, 'builtins pickled as globals (py2 names at p<3) and singleton types')
    c.dump_case('global_len', len, ALL, 'the builtin len as a global at top level')
    c.dump_case('exception_instance', ValueError('bad value', 42), ALL, 'an exception instance')


def out_of_band(store):
    """A buffer_callback that keeps every buffer out of band (returns False), storing its bytes."""
    def callback(buf):
        store.append(buf.raw().tobytes())
        return False
    return callback


def add_class_cases(c):
    c.dump_case('nested_class', cc.Outer.Inner, ALL,
                'nested class Outer.Inner (getattr reduce at p<4, dotted STACK_GLOBAL at p4+)')
    c.dump_case('nested_class_instance', cc.Outer.Inner(), ALL, 'an instance of Outer.Inner')
    c.dump_case('instance_dict', cc.Point(1, 'two'), ALL,
                'plain __dict__ instance (_reconstructor at p0/p1, NEWOBJ at p2+)')
    c.dump_case('instances_shared', [cc.Point(1, 2), cc.Point(3, 4)], ALL,
                'two instances of one class (the class global is memoized once)')
    c.dump_case('reduce_call', cc.Reduced(1, [2]), ALL, '__reduce__ returning (Reduced, (a, b))')
    bag = cc.Bag('bag')
    bag.extend([1, 2, 3])
    bag['k'] = 'v'
    bag['k2'] = 'v2'
    c.dump_case('reduce_ex_full', bag, ALL,
                '__reduce_ex__ with state, list items and dict items')
    c.dump_case('getstate_setstate', cc.WithState({'v': [1]}), ALL,
                '__getstate__/__setstate__ with a tuple state')
    c.dump_case('slots', cc.Slotted(1, 'b'), P2, '__slots__ only: state (None, slots dict)')
    c.dump_case('slots_and_dict', cc.SlottedWithDict(1, 2, 3), P2,
                '__slots__ plus __dict__: state (dict, slots dict)')
    c.dump_case('getnewargs', cc.NewArgs(5), ALL, '__getnewargs__: NEWOBJ with args at p2+')
    c.dump_case('getnewargs_ex', cc.NewArgsEx(1, b=2), ALL,
                '__getnewargs_ex__: NEWOBJ_EX at p4+, functools.partial at p2/p3')
    c.dump_case('state_setter', cc.WithStateSetter([1, 2]), ALL,
                '6-tuple __reduce__ with a state_setter (setter obj state TUPLE2 REDUCE POP)')
    ml = cc.MyList([1, 2, 3])
    ml.attr = 'a'
    c.dump_case('list_subclass', ml, ALL, 'list subclass with items and an attribute')
    md = cc.MyDict({'a': 1, 'b': 2})
    md.attr = 'd'
    c.dump_case('dict_subclass', md, ALL, 'dict subclass with items and an attribute')
    p = cc.Point(0, 0)
    p.me = p
    c.dump_case('cycle_object', p, ALL, 'an instance whose attribute is itself')
    holder = cc.Outer.Inner()
    fs = frozenset([holder])
    holder.back = fs
    c.dump_case('cycle_frozenset_object', fs, P4,
                'frozenset reached again through its member: POP_MARK + GET')

    # Persistent ids.
    for proto in ALL:
        buf = io.BytesIO()
        obj = [cc.Stored('key1'), 'plain', cc.Stored('key2'), [cc.Stored('key1')]]
        CorpusPersistentPickler(buf, proto).dump(obj)
        c.add_valid('persistent_p%d' % proto, buf.getvalue(), protocol=proto,
                    origin='Pickler.persistent_id', persistent=True,
                    description='persistent ids: %s' % (
                        "'storage:key' strings (PERSID)" if proto == 0
                        else "('storage', key) tuples (BINPERSID)"))

    # Protocol 5 buffers.
    oob = []
    obj = [pickle.PickleBuffer(b'readonly bytes'), pickle.PickleBuffer(bytearray(b'writable')),
           pickle.PickleBuffer(memoryview(bytearray(b'ro view')).toreadonly()), 'after']
    data = pickle.dumps(obj, 5, buffer_callback=out_of_band(oob))
    c.add_valid('picklebuffer_oob_p5', data, protocol=5, origin='pickle.dumps', buffers=oob,
                description='out-of-band PickleBuffers: NEXT_BUFFER (+ READONLY_BUFFER for read-only); '
                            'repr computed with buffers passed as bytes objects')
    data = pickle.dumps([pickle.PickleBuffer(b'in-band ro'),
                         pickle.PickleBuffer(bytearray(b'in-band rw'))], 5)
    c.add_valid('picklebuffer_inband_p5', data, protocol=5, origin='pickle.dumps',
                description='in-band PickleBuffers: SHORT_BINBYTES (read-only) and BYTEARRAY8 (writable)')
    ro = pickle.PickleBuffer(memoryview(bytearray(b'readonly')).toreadonly())
    c.add_valid('picklebuffer_readonly_shared_p5', pickle.dumps([ro, ro], 5), protocol=5,
                origin='pickle.dumps',
                description='one read-only in-band PickleBuffer twice (C memoizes it: BINGET)')
    oob = []
    data = pickle.dumps(pt.ZeroCopyBytes(b'zero copy'), 5, buffer_callback=out_of_band(oob))
    c.add_valid('picklebuffer_zerocopy_oob_p5', data, protocol=5, origin='pickle.dumps', buffers=oob,
                description='pickletester ZeroCopyBytes with its buffer out of band')

    # Extension registry.
    with cc.extensions_registered():
        ext_pickles = [pickle.dumps([cc.ExtOne, cc.ExtTwo(), cc.ExtFour, cc.ExtOne], proto)
                       for proto in P2]
    for proto, data in zip(P2, ext_pickles):
        c.add_valid('ext_codes_p%d' % proto, data, protocol=proto, origin='pickle.dumps',
                    ext=True, description='EXT1 0x7f, EXT2 0x1234, EXT4 0x12345678 '
                    '(register "ext" in copyreg before loading)')

    # A Pickler used twice keeps its memo: the second pickle refers to the first one's memo.
    buf = io.BytesIO()
    pk = pickle.Pickler(buf, 2)
    shared = ['shared', 'list']
    pk.dump(shared)
    first_len = buf.tell()
    pk.dump({'again': shared, 'twice': shared})
    data = buf.getvalue()
    c.add_valid('memo_chain_p2', data, protocol=2, origin='Pickler.dump x2', count=2,
                shared_memo=True,
                description='two pickles from one Pickler: the second GETs memo entries of the '
                            'first, so load both with one Unpickler')
    multi = OUT / 'multi'
    multi.mkdir()
    (multi / 'memo_chain_a.pkl').write_bytes(data[:first_len])
    (multi / 'memo_chain_b.pkl').write_bytes(data[first_len:])
    args = ['-m', 'multi/memo_chain_a.pkl', 'multi/memo_chain_b.pkl']
    out = io.StringIO()
    memo = {}
    for f in args[1:]:
        out.write('==> %s <==\n' % f)
        pickletools.dis((OUT / f).read_bytes(), out, memo, 4, 0)
    (multi / 'memo_chain.memo.dis').write_text(out.getvalue(), encoding='utf-8')
    c.dis_multi.append({'args': args, 'cwd': 'tests/corpus', 'dis': 'multi/memo_chain.memo.dis',
                        'description': 'python3 -m pickletools -m on two files sharing a memo '
                                       '(run from tests/corpus; the preamble names the paths)'})

    # Structurally valid pickles naming things that do not exist: loads fails.
    c.add_valid('missing_module_p2', b'\x80\x02ccorpus_missing\nThing\nq\x00)\x81q\x01.',
                protocol=2, expect_load_error=True,
                description='NEWOBJ of corpus_missing.Thing: a module that does not exist')
    # Dump an instance of a class that exists only while dumping.
    missing = type('Missing', (), {'__module__': 'corpus_classes'})
    cc.Missing = missing
    try:
        data = pickle.dumps(missing(), 4)
    finally:
        del cc.Missing
    c.add_valid('missing_class_p4', data, protocol=4, origin='pickle.dumps',
                expect_load_error=True,
                description='NEWOBJ of corpus_classes.Missing: a class that does not exist')


def py2_repr_str(s):
    """Python 2 repr() of a byte string, as pickle protocol 0 wrote STRING arguments."""
    quote = "'"
    if b"'" in s and b'"' not in s:
        quote = '"'
    out = []
    for ch in s:
        c = chr(ch)
        if c == quote or c == '\\':
            out.append('\\' + c)
        elif c == '\t':
            out.append('\\t')
        elif c == '\n':
            out.append('\\n')
        elif c == '\r':
            out.append('\\r')
        elif ch < 0x20 or ch >= 0x7f:
            out.append('\\x%02x' % ch)
        else:
            out.append(c)
    return (quote + ''.join(out) + quote).encode('ascii')


def add_python2_cases(c):
    def py2(name, data, description, protocol, encoding='ASCII'):
        c.add_valid(name, data, protocol=protocol, origin='handwritten (Python 2 style)',
                    encoding=encoding, description=description)

    py2('py2_str_p0_ascii', b"S'hello'\np0\n.", 'STRING with ASCII text', 0)
    py2('py2_str_p0_quotes', b'S"it\'s"\np0\n.', 'STRING in double quotes (contains a single quote)', 0)
    py2('py2_str_p0_escapes', b"S" + py2_repr_str(b'a\nb\tc\\d\x00e\'') + b"\np0\n.",
        'STRING with \\n \\t \\\\ \\x00 and an escaped quote', 0)
    nonascii = b"S" + py2_repr_str(b'caf\xe9') + b"\np0\n."
    py2('py2_str_p0_nonascii_latin1', nonascii, "STRING 'caf\\xe9' loaded with encoding=latin1", 0, 'latin1')
    py2('py2_str_p0_nonascii_bytes', nonascii, "STRING 'caf\\xe9' loaded with encoding=bytes", 0, 'bytes')
    py2('py2_binstring_p1_ascii', b'T\x05\x00\x00\x00helloq\x00.', 'BINSTRING with ASCII text', 1)
    long_str = bytes(range(256)) + b'x' * 44
    py2('py2_binstring_p1_latin1', b'T' + struct.pack('<I', 300) + long_str + b'q\x01.',
        'BINSTRING of 300 bytes (all byte values) with encoding=latin1', 1, 'latin1')
    py2('py2_binstring_p1_bytes', b'T' + struct.pack('<I', 300) + long_str + b'q\x01.',
        'BINSTRING of 300 bytes with encoding=bytes', 1, 'bytes')
    py2('py2_short_binstring_p1_ascii', b'U\x05helloq\x01.', 'SHORT_BINSTRING ASCII', 1)
    py2('py2_short_binstring_p2_latin1', b'\x80\x02U\x04caf\xe9q\x01.',
        'SHORT_BINSTRING non-ASCII with encoding=latin1', 2, 'latin1')
    py2('py2_short_binstring_p2_bytes', b'\x80\x02U\x04caf\xe9q\x01.',
        'SHORT_BINSTRING non-ASCII with encoding=bytes', 2, 'bytes')
    py2dict = b"(dp1\nS'a'\np2\nI1\nsS'b'\np3\n(lp4\nI1\naI2\nasS'c'\np5\nS'text'\np6\ns."
    py2('py2_dict_p0', py2dict, 'cPickle p0 dict with str keys (memo starts at 1)', 0)
    py2('py2_dict_p0_bytes', py2dict, 'the same dict with encoding=bytes: keys become bytes', 0, 'bytes')
    py2('py2_dict_p2', b'\x80\x02}q\x01(U\x01aK\x01U\x01b]q\x02(K\x01K\x02eU\x01cU\x04textq\x03u.',
        'cPickle p2 dict with SHORT_BINSTRING keys', 2)
    py2('py2_bools_p0', b'(lp0\nI01\naI00\naI1\naI0\na.', 'I01/I00 bools next to I1/I0 ints', 0)
    py2('py2_long_p0', b'L123L\n.', 'LONG with the trailing L', 0)
    py2('py2_longs_p0', b'(lp0\nL12345678901234567890L\naL-99999999999999999999L\naL0L\naI2147483647\na.',
        'LONG values in a list', 0)
    py2('py2_float_p0_17digits', b'(lp0\nF0.10000000000000001\naF1e+16\naF-0.0\na.',
        'FLOAT as Python 2.6 wrote it (17 significant digits)', 0)
    py2('py2_float_p1', b'G?\xb9\x99\x99\x99\x99\x99\x9a.', 'BINFLOAT 0.1', 1)
    py2('py2_unicode_p0', b'V\\u03c0 caf\xe9 \\U0001f600\np0\n.',
        'UNICODE raw-unicode-escape: \\u, raw latin-1 byte, \\U', 0)
    py2('py2_unicode_narrow_astral_p2', b'\x80\x02X\x06\x00\x00\x00\xed\xa0\xbd\xed\xb8\x80q\x01.',
        'BINUNICODE from a narrow Python 2 build: an astral char as a CESU-8 surrogate pair', 2)
    py2('py2_set_p0', b'c__builtin__\nset\np0\n((lp1\nI1\naI2\natp2\nRp3\n.',
        'c__builtin__ set with a list (fix_imports maps __builtin__)', 0)
    py2('py2_frozenset_p2', b'\x80\x02c__builtin__\nfrozenset\nq\x01]q\x02(K\x01K\x02e\x85Rq\x03.',
        'c__builtin__ frozenset at p2', 2)
    py2('py2_reconstructor_p0',
        b"ccopy_reg\n_reconstructor\np0\n(ccorpus_classes\nPoint\np1\nc__builtin__\nobject\np2\n"
        b"Ntp3\nRp4\n(dp5\nS'x'\np6\nI1\nsS'y'\np7\nI2\nsb.",
        'ccopy_reg _reconstructor (new-style instance, protocol 0)', 0)
    py2('py2_reconstructor_p1',
        b"ccopy_reg\n_reconstructor\nq\x01(ccorpus_classes\nPoint\nq\x02c__builtin__\nobject\nq\x03"
        b"NtRq\x04}q\x05(U\x01xK\x01U\x01yK\x02ub.",
        'ccopy_reg _reconstructor, protocol 1 (cPickle skips memoizing the args tuple)', 1)
    py2('py2_newobj_p2', b'\x80\x02ccorpus_classes\nPoint\nq\x01)\x81q\x02}q\x03(U\x01xK\x01U\x01yK\x02ub.',
        'new-style instance at p2 (NEWOBJ) with SHORT_BINSTRING attribute names', 2)
    py2('py2_exception_p0', b"cexceptions\nValueError\np0\n(S'bad value'\np1\ntp2\nRp3\n.",
        'cexceptions ValueError (mapped to builtins)', 0)
    py2('py2_exception_p2', b'\x80\x02cexceptions\nValueError\nq\x01U\tbad valueq\x02\x85Rq\x03.',
        'cexceptions ValueError at p2', 2)
    dt = b'\x07\xd0\x01\x01\x00\x00\x00\x00\x00\x00'
    py2('py2_datetime_p0_cpickle', b'cdatetime\ndatetime\np1\n(S' + py2_repr_str(dt) + b'\ntRp2\n.',
        'datetime(2000, 1, 1) by cPickle p0 (state: 10-byte STRING)', 0, 'latin1')
    py2('py2_datetime_p0_pickle', b'cdatetime\ndatetime\np0\n(S' + py2_repr_str(dt) + b'\np1\ntp2\nRp3\n.',
        'datetime(2000, 1, 1) by pickle.py p0 (memoizes every object)', 0, 'latin1')
    py2('py2_datetime_p1', b'cdatetime\ndatetime\nq\x01(U\n' + dt + b'tRq\x02.',
        'datetime(2000, 1, 1) by cPickle p1 (SHORT_BINSTRING state)', 1, 'latin1')
    py2('py2_datetime_p2', b'\x80\x02cdatetime\ndatetime\nq\x01U\n' + dt + b'\x85Rq\x02.',
        'datetime(2000, 1, 1) by cPickle p2', 2, 'latin1')
    py2('py2_datetime_p2_bytes', b'\x80\x02cdatetime\ndatetime\nq\x01U\n' + dt + b'\x85Rq\x02.',
        'the same with encoding=bytes (datetime accepts bytes state)', 2, 'bytes')
    dt2 = b'\x07\xdf\x0b\x1b\x14;\x01\x00\x10\x00'
    py2('py2_datetime_usec_p0', b"cdatetime\ndatetime\n(S" + py2_repr_str(dt2) + b"\ntR.",
        'datetime(2015, 11, 27, 20, 59, 1, 4096) from CPython test_datetime (no memo)', 0, 'latin1')
    py2('py2_date_p2', b'\x80\x02cdatetime\ndate\nq\x01U\x04\x07\xd0\x02\x1d\x85Rq\x02.',
        'date(2000, 2, 29) at p2 (4-byte state)', 2, 'latin1')
    py2('py2_time_p1', b'cdatetime\ntime\nq\x01(U\x06\x0c\x22\x38\x00\x01\x00tRq\x02.',
        'time(12, 34, 56, 256) at p1 (6-byte state)', 1, 'latin1')
    py2('py2_timedelta_p2', b'\x80\x02cdatetime\ntimedelta\nq\x01K\x01K\x02K\x03\x87Rq\x02.',
        'timedelta(1, 2, 3) at p2 (int args)', 2)
    py2('py2_bytearray_p2',
        b'\x80\x02c__builtin__\nbytearray\nq\x01X\x04\x00\x00\x00ab\xc3\xa9q\x02U\x07latin-1q\x03\x86Rq\x04.',
        "bytearray(u'ab\\xe9', 'latin-1') as Python 2.7 wrote bytearray", 2)
    py2('py2_unicode_type_p2', b'\x80\x02c__builtin__\nunicode\nq\x01.',
        '__builtin__.unicode global (mapped to builtins.str)', 2)
    py2('py2_inst_p0', b"(icorpus_classes\nOldStyle\np0\n(dp1\nS'a'\np2\nI1\nsb.",
        'INST: a classic-class instance at p0', 0)
    py2('py2_inst_args_p0', b"(I1\nS'two'\np0\nicorpus_classes\nPair\np1\n(dp2\nb.",
        'INST with constructor arguments', 0)
    py2('py2_obj_p1', b'(ccorpus_classes\nOldStyle\nq\x01oq\x02}q\x03U\x01aK\x01sb.',
        'OBJ: a classic-class instance at p1', 1)
    py2('py2_obj_args_p1', b'(ccorpus_classes\nPair\nq\x01K\x01U\x03twoq\x02oq\x03.',
        'OBJ with constructor arguments', 1)


def add_quirk_cases(c):
    def quirk(name, data, description, **kw):
        c.add_valid(name, data, origin='handwritten (reader quirk)', description=description, **kw)

    quirk('quirk_int_hex', b'I0x10\n.', 'INT with a 0x literal: C loads 16 (base-0 parse), pickletools fails')
    quirk('quirk_int_space', b'I 1\n.', "INT ' 1': C loads True (3-byte line), pickletools says 1")
    quirk('quirk_int_octal', b'I010\n.', 'INT 010: C strtol reads octal 8, pickletools says 10')
    quirk('quirk_int_plus', b'I+5\n.', 'INT +5')
    quirk('quirk_int_underscore', b'I1_0\n.', 'INT 1_0: C loads 10')
    quirk('quirk_long_hex', b'L0x10L\n.', 'LONG 0x10L: 16')
    quirk('quirk_long_no_suffix', b'L123\n.', 'LONG without the trailing L')
    quirk('quirk_float_nan_caps', b'(lFNaN\naFinf\naF-inf\naF1E5\na.', 'FLOAT NaN/inf/-inf/1E5 spellings')
    quirk('quirk_string_inner_quote', b"S'a'b'\n.", "STRING 'a'b' (only the ends are checked)")
    quirk('quirk_string_unknown_escape', b"S'\\q'\n.", 'STRING with an unknown escape kept literally')
    quirk('quirk_unicode_backslash_x', b'V\\x41\n.', 'UNICODE \\x41 stays literal text (raw-unicode-escape)')
    quirk('quirk_put_overwrite', b'(K\x01q\x00K\x02q\x00h\x00t.',
          'BINPUT to an existing index overwrites: (1, 2, 2)')
    quirk('quirk_sparse_memo', b'(K\x01q\x05K\x02qch\x05hct.', 'sparse BINPUT indices 5 and 99')
    quirk('quirk_memoize_after_sparse', b'\x80\x04(K\x07q\x05K\x08\x94h\x01h\x05t.',
          'MEMOIZE stores at len(memo) (=1) after a sparse BINPUT 5: (7, 8, 8, 7)')
    quirk('quirk_large_memo_index', b'(]r\x00\x00\x10\x00j\x00\x00\x10\x00t.',
          'LONG_BINPUT/LONG_BINGET index 0x100000')
    quirk('quirk_proto_middle', b'K\x01\x80\x02K\x02\x86.', 'PROTO after the first opcode')
    quirk('quirk_proto_repeated', b'\x80\x02\x80\x05\x80\x00N.', 'PROTO three times (2, 5, 0)')
    quirk('quirk_new_opcodes_old_proto', b'\x80\x02\x8f(\x8c\x03abc\x94h\x00\x90.',
          'protocol-4 opcodes in a PROTO 2 stream')
    quirk('quirk_no_proto_binary', b'\x8c\x03abc\x85.', 'binary opcodes with no PROTO at all')
    quirk('quirk_frame_in_p2', b'\x80\x02\x95\x05\x00\x00\x00\x00\x00\x00\x00K\x01K\x02\x86.',
          'FRAME in a protocol 2 stream')
    quirk('quirk_frame_empty', b'\x80\x04\x95\x00\x00\x00\x00\x00\x00\x00\x00N.', 'a FRAME of length 0')
    quirk('quirk_frame_cuts_opcode', b'\x80\x04\x95\x02\x00\x00\x00\x00\x00\x00\x00X\x03\x00\x00\x00abc.',
          'a FRAME that ends inside an opcode argument (C reads past it)')
    quirk('quirk_trailing_bytes', b'N.garbage after STOP', 'bytes after STOP are ignored')
    quirk('quirk_mark_left', b'(N.', 'a MARK left on the stack at STOP')
    quirk('quirk_stack_left', b'K\x01K\x02.', 'two items on the stack at STOP (the top is returned)')
    quirk('quirk_build_none', b']Nb.', 'BUILD with state None is a no-op')
    quirk('quirk_setitem_on_list', b']K\x01aK\x00K\x05s.', 'SETITEM on a list is item assignment: [5]')
    quirk('quirk_dup', b'(K\x012t.', 'DUP: (1, 1)')
    quirk('quirk_pop_mark', b'(K\x01K\x021N.', 'POP_MARK discards a marked slice')
    quirk('quirk_pop_then_value', b'K\x01K\x020.', 'POP leaves the previous item')
    quirk('quirk_empty_set_no_proto', b'\x8f.', 'EMPTY_SET with no PROTO')
    quirk('quirk_binunicode8_small', b'\x80\x04\x8d\x03\x00\x00\x00\x00\x00\x00\x00abc.',
          'BINUNICODE8 with a small payload (CPython writes it only above 4 GiB)')
    quirk('quirk_binbytes8_small', b'\x80\x04\x8e\x03\x00\x00\x00\x00\x00\x00\x00abc.',
          'BINBYTES8 with a small payload')
    quirk('quirk_long1_empty', b'\x80\x02\x8a\x00.', 'LONG1 of length 0 is 0')
    quirk('quirk_long1_nonminimal', b'\x80\x02\x8a\x04\xff\xff\xff\xff.', 'LONG1 -1 in 4 bytes (not minimal)')
    quirk('quirk_long4_small', b'\x80\x02\x8b\x01\x00\x00\x00\x05.', 'LONG4 holding 5')
    quirk('quirk_stack_global_dotted', b'\x80\x04\x8c\x0bcollections\x8c\x14OrderedDict.fromkeys\x93.',
          'STACK_GLOBAL with a dotted name resolved attribute by attribute')
    quirk('quirk_global_py3_name_p0', b'cbuiltins\nset\n)R.', 'py3 module name in a p0 GLOBAL')
    quirk('quirk_inst_function', b'(Vabc\ni__builtin__\nlen\n.', 'INST calling a function: len("abc") = 3')
    quirk('quirk_deep_list_3000', b']' * 3000 + b'a' * 2999 + b'.',
          '3000 nested lists via EMPTY_LIST/APPEND (repr fails: recursion limit)')
    quirk('quirk_deep_tuple_3000', b'N' + b'\x85' * 3000 + b'.', '3000 nested 1-tuples via TUPLE1')
    quirk('deep_marks_100', b'(' * 100 + b'l' * 100 + b'.', '100 nested MARK ... LIST')
    quirk('quirk_encoding_koi8r', b'\x80\x02U\x03\xd0\xd2\xc9q\x00.',
          'SHORT_BINSTRING decoded with encoding=koi8-r', encoding='koi8-r')
    pickles = [pickle.dumps(1, 2), pickle.dumps('two', 4), pickle.dumps([3.0], 0),
               pickle.dumps({4: b'four'}, 5)]
    quirk('concat_4_pickles', b''.join(pickles), 'four pickles (p2, p4, p0, p5) concatenated', count=4)


def add_pickletester_constants(c):
    for name, proto in (('DATA0', 0), ('DATA1', 1), ('DATA2', 2), ('DATA3', 3), ('DATA4', 4)):
        c.add_valid('pt_' + name, getattr(pt, name), protocol=proto, origin='test.pickletester',
                    description='test.pickletester.%s (create_data(); __main__.C instances)' % name)
    for name, desc in (('DATA_SET', 'set([1,2]) from Python 2, p2'),
                       ('DATA_XRANGE', 'xrange(5) from Python 2, p2'),
                       ('DATA_COOKIE', 'Cookie.SimpleCookie from Python 2, p2'),
                       ('DATA_SET2', 'set([3]) from Python 2, p2'),
                       ('DATA_UEERR', 'UnicodeEncodeError from Python 2, p2')):
        c.add_valid('pt_' + name, getattr(pt, name), protocol=2, origin='test.pickletester',
                    description='test.pickletester.%s: %s' % (name, desc))
    for exc in ('ValueError', 'StandardError', 'KeyboardInterrupt'):
        c.add_valid('pt_exception_pickle_' + exc, pt.exception_pickle.replace(b'?', exc.encode()),
                    protocol=2, origin='test.pickletester',
                    description='test.pickletester.exception_pickle with %s' % exc)


# ============================================================ pickletester
SKIP_TESTS = {'test_unpickle_module_race'}


def harvest_pickletester():
    """Run AbstractUnpickleTests against the C pickle.loads, recording every input it used."""
    records = []

    class Harvest(pt.AbstractUnpickleTests, unittest.TestCase):
        bad_stack_errors = (pickle.UnpicklingError,)
        truncated_errors = (pickle.UnpicklingError,)

        def loads(self, data, **kwargs):
            try:
                value = pickle.loads(data, **kwargs)
            except Exception as exc:
                records.append((self._testMethodName, bytes(data), kwargs, exc))
                raise
            records.append((self._testMethodName, bytes(data), kwargs, None))
            return value

    names = sorted(n for n in dir(Harvest) if n.startswith('test_') and n not in SKIP_TESTS)
    suite = unittest.TestSuite(Harvest(n) for n in names)
    result = unittest.TestResult()
    suite.run(result)
    return records, result


def add_pickletester_harvest(c):
    records, result = harvest_pickletester()
    counters = collections.Counter()
    n_valid = n_bad = 0
    for test, data, kwargs, exc in records:
        short = test[len('test_'):]
        if set(kwargs) - {'encoding'}:
            continue
        if exc is None:
            counters[short] += 1
            encoding = kwargs.get('encoding', 'ASCII')
            name = 'pt_%s_%02d' % (short, counters[short])
            if (data, encoding) not in c.valid_keys:
                c.add_valid(name, data, origin='test.pickletester', encoding=encoding,
                            description='loaded successfully by AbstractUnpickleTests.%s' % test)
                n_valid += 1
        elif not kwargs:
            counters['bad_' + short] += 1
            name = 'pt_%s_%03d' % (short, counters['bad_' + short])
            if data not in c.bad_keys and c.add_bad(
                    name, data, 'test.pickletester.AbstractUnpickleTests.%s' % test):
                n_bad += 1
    return len(records), n_valid, n_bad, result


# ===================================================================== bad
def add_handmade_bad(c):
    def bad(name, data, description):
        if not c.add_bad('hand_' + name, data, 'handmade', description):
            raise SystemExit('handmade bad input %s is accepted by CPython' % name)

    for op, opname in ((b'\x8e', 'binbytes8'), (b'\x8d', 'binunicode8'), (b'\x96', 'bytearray8')):
        for n, label in ((2**63, '2p63'), (2**64 - 1, '2p64m1'), (2**62, '2p62')):
            if op == b'\x96' and n == 2**62:
                # CPython raises MemoryError but then prints "SystemError: deallocated
                # bytearray object has exported buffers" on stderr: left out to keep output clean.
                continue
            bad('%s_len_%s' % (opname, label), b'\x80\x05' + op + n.to_bytes(8, 'little') + b'abc.',
                '%s header claiming %d bytes, 3 present' % (opname.upper(), n))
    bad('binbytes_len_truncated', b'\x80\x03B\x00\x00\x01\x00abc.', 'BINBYTES claiming 65536 bytes, 4 present')
    bad('binunicode_len_4g', b'\x80\x03X\xff\xff\xff\xffabc.', 'BINUNICODE claiming 4 GiB - 1')
    bad('long4_negative', b'\x80\x02\x8b\xff\xff\xff\xff.', 'LONG4 with a negative length')
    bad('long4_negative_min', b'\x80\x02\x8b\x00\x00\x00\x80.', 'LONG4 with length -2**31')
    bad('binstring_negative', b'T\xff\xff\xff\xffabc.', 'BINSTRING with length 0xffffffff (i4 -1)')
    bad('binstring_truncated', b'T\x10\x00\x00\x00abc.', 'BINSTRING claiming 16 bytes')
    bad('binget_missing', b'h\x05.', 'BINGET of a never-stored key')
    bad('long_binget_missing', b'j\x05\x00\x00\x00.', 'LONG_BINGET of a never-stored key')
    bad('get_missing', b'g5\n.', 'GET of a never-stored key')
    bad('get_not_int', b'gx\n.', 'GET with a non-numeric key')
    bad('put_negative', b'Np-1\n.', 'PUT -1')
    for byte in (0x00, 0x0a, 0x20, 0x23, 0x41, 0x7a, 0x7f, 0x99, 0xa0, 0xff):
        bad('invalid_opcode_%02x' % byte, bytes([byte]) + b'.', 'invalid opcode byte 0x%02x' % byte)
    bad('invalid_opcode_after_proto', b'\x80\x05\x99.', 'invalid opcode after PROTO 5')
    bad('stop_empty_stack', b'.', 'STOP on an empty stack')
    bad('stop_after_mark', b'(.', 'STOP with only a MARK on the stack')
    bad('append_on_int', b'K\x01K\x02a.', 'APPEND on an int')
    bad('appends_on_int', b'K\x01(K\x02e.', 'APPENDS on an int')
    bad('setitem_on_int', b'K\x01K\x02K\x03s.', 'SETITEM on an int')
    bad('setitem_list_out_of_range', b']K\x01K\x02s.', 'SETITEM on an empty list (index error)')
    bad('additems_on_list', b'](K\x01\x90.', 'ADDITEMS on a list')
    bad('build_dict_on_list', b']}b.', 'BUILD a dict state on a list')
    bad('dict_odd', b'(K\x01d.', 'DICT with an odd number of items')
    bad('setitems_odd', b'}(K\x01u.', 'SETITEMS with an odd number of items')
    bad('tuple_without_mark', b'K\x01t.', 'TUPLE without a MARK')
    bad('list_without_mark', b'K\x01l.', 'LIST without a MARK')
    bad('pop_mark_without_mark', b'K\x011.', 'POP_MARK without a MARK')
    bad('deep_marks_100000', b'(' * 100000, '100000 MARKs followed by nothing (100 KB)')
    bad('deep_lists_unterminated', b']' * 10000, '10000 EMPTY_LISTs and no STOP')
    bad('binunicode_invalid_utf8', b'X\x02\x00\x00\x00\xff\xfe.', 'BINUNICODE with invalid UTF-8')
    bad('short_binunicode_invalid_utf8', b'\x80\x04\x8c\x02\xc3\x28.', 'SHORT_BINUNICODE invalid UTF-8')
    bad('binunicode_overlong', b'X\x02\x00\x00\x00\xc0\xaf.', 'BINUNICODE with an overlong encoding')
    bad('unicode_truncated_escape', b'V\\u12\n.', 'UNICODE with a truncated \\u escape')
    bad('proto_6', b'\x80\x06N.', 'PROTO 6 (unknown protocol)')
    bad('proto_255', b'\x80\xffN.', 'PROTO 255')
    bad('ext1_code_0', b'\x80\x02\x82\x00.', 'EXT1 with code 0')
    bad('ext4_negative', b'\x80\x02\x84\xff\xff\xff\xff.', 'EXT4 with code -1')
    bad('ext_unregistered', b'\x80\x02\x82\x7f.', 'EXT1 0x7f with an empty registry')
    bad('persid_no_loader', b'Pstorage:key1\n.', 'PERSID without persistent_load')
    bad('binpersid_no_loader', b'\x80\x02U\x03pidQ.', 'BINPERSID without persistent_load')
    bad('str_nonascii_default_encoding', b"S'caf\\xe9'\n.", 'non-ASCII STRING with the default ASCII encoding')
    bad('short_binstring_nonascii', b'U\x04caf\xe9.', 'non-ASCII SHORT_BINSTRING, default encoding')
    bad('int_too_many_digits', b'I' + b'1' * 4301 + b'\n.', 'INT with 4301 digits (str limit)')
    bad('long_too_many_digits', b'L' + b'1' * 4301 + b'L\n.', 'LONG with 4301 digits (str limit)')
    bad('int_junk', b'I12junk\n.', 'INT with trailing junk')
    bad('int_octal_9', b'I09\n.', 'INT 09 (C strtol octal)')
    bad('float_underscore', b'F1_0\n.', 'FLOAT 1_0 (C rejects, pure Python accepts)')
    bad('float_overflow', b'F1e500\n.', 'FLOAT 1e500 (C raises OverflowError)')
    bad('float_leading_space', b'F 1.5\n.', 'FLOAT with a leading space')
    bad('global_missing_module', b'cbrine_no_such_module\nthing\n.', 'GLOBAL of a module that does not exist')
    bad('global_missing_attr', b'cbuiltins\nno_such_builtin\n.', 'GLOBAL of a missing attribute')
    bad('global_py2_name_p3', b'\x80\x03c__builtin__\nset\n.', '__builtin__ with PROTO 3: no name mapping')
    bad('global_dotted_p3', b'\x80\x03ccollections\nOrderedDict.fromkeys\n.', 'dotted GLOBAL name below p4')
    bad('stack_global_not_str', b'K\x01K\x02\x93.', 'STACK_GLOBAL with int operands')
    bad('obj_not_callable', b'(K\x01o.', 'OBJ with an int as the class')
    bad('inst_missing_class', b'(icorpus_classes\nNoSuchClass\n.', 'INST of a missing class')
    bad('reduce_not_callable', b'K\x01)R.', 'REDUCE of an int')
    bad('reduce_args_not_tuple', b'cbuiltins\nint\n]R.', 'REDUCE with list args')
    bad('newobj_args_not_tuple', b'\x80\x02cbuiltins\nint\n]\x81.', 'NEWOBJ with list args')
    bad('newobj_ex_kwargs_not_dict', b'\x80\x04cbuiltins\nint\n)]\x92.', 'NEWOBJ_EX with list kwargs')
    bad('next_buffer_no_buffers', b'\x80\x05\x97.', 'NEXT_BUFFER without a buffers argument')
    bad('readonly_buffer_on_none', b'\x80\x05N\x98.', 'READONLY_BUFFER on None')
    bad('frame_huge', b'\x80\x04\x95\xff\xff\xff\xff\xff\xff\xff\x7fN.', 'FRAME claiming 2**63-1 bytes')
    bad('frame_truncated', b'\x80\x04\x95\x10\x00\x00\x00\x00\x00\x00\x00N.', 'FRAME claiming 16 bytes, 2 present')
    bad('dict_unhashable_key', b'}]K\x01s.', 'SETITEM with a list key')
    bad('set_unhashable_item', b'\x80\x04\x8f(]\x90.', 'ADDITEMS with a list')
    bad('frozenset_unhashable_item', b'\x80\x04(]\x91.', 'FROZENSET with a list')
    bad('string_unquoted', b'Sabc\n.', 'STRING without quotes')
    bad('string_trailing_backslash', b"S'abc\\'\n.", 'STRING ending in a lone backslash')
    bad('memoize_mark', b'\x80\x04(\x94.', 'MEMOIZE with a MARK on top')
    bad('empty_input', b'', 'no bytes at all')


def add_truncations(c, valid_names):
    for vname in valid_names:
        data = (c.out / ('valid/%s.pkl' % vname)).read_bytes()
        for k in range(len(data)):
            c.add_bad('trunc_%s_%03d' % (vname, k), data[:k],
                      'truncated valid/%s.pkl to %d bytes' % (vname, k))


# ======================================================== opcodes.json
def dump_opcodes():
    ops = []
    for op in pickletools.opcodes:
        ops.append({
            'name': op.name,
            'code': ord(op.code),
            'arg': None if op.arg is None else {'name': op.arg.name, 'n': op.arg.n,
                                                 'doc': op.arg.doc},
            'stack_before': [s.name for s in op.stack_before],
            'stack_after': [s.name for s in op.stack_after],
            'proto': op.proto,
            'doc': op.doc,
        })
    return ops


README = """\
# CPython-made pickle corpus

Generated by `python3 scripts/make_corpus.py` (do not edit by hand; rerun the script).
`manifest.json` records the Python version (`python`, = `sys.version`).

## valid/

`<name>.pkl` is accepted by CPython's C `pickle.loads` (except entries with `loads_ok: false`).
Manifest `valid` entries:

| field | meaning |
|---|---|
| `name`, `file` | file stem and path relative to tests/corpus |
| `protocol` | protocol it was written with (`pickle.dumps(obj, protocol)` or the Python 2 protocol imitated); null for quirks and harvested test inputs |
| `origin` | `pickle.dumps` (C pickler, default options: an encoder must reproduce these bytes), `Pickler.persistent_id`, `Pickler.dump x2`, `test.pickletester`, `handwritten (...)` |
| `description`, `size` | what it is; byte length |
| `encoding` | the `encoding=` to load with (`ASCII` is the default; `latin1`, `bytes`, `koi8-r` for Python 2 strings) |
| `buffers` | null, or the hex of each out-of-band buffer to pass as `buffers=` (repr computed with them as `bytes`) |
| `ext` | present when the pickle uses EXT1/2/4: `{"code": [module, name]}` to `copyreg.add_extension` before loading |
| `persistent_load` | `"wrap"`: needs an Unpickler whose `persistent_load(pid)` returns `('persistent', pid)`; `pids` lists `repr(pid)` in call order; `repr` is null |
| `count`, `shared_memo` | `count` pickles are concatenated in the file (`repr` is then a list); `shared_memo`: load them with one Unpickler (the memo carries over) |
| `loads_ok`, `load_error` | whether the C `pickle.loads` (with the options above) succeeds; the error text when it does not (missing classes) |
| `repr` | `repr(value)` when the value holds only None/bool/int/float/complex/str/bytes/bytearray/list/tuple/dict/set/frozenset/range/slice/OrderedDict/datetime types (exact types), else null. Ints are printed in full (the 4300-digit limit lifted) |
| `repr_types` | sorted type names found in the value (only when `repr` is set) |
| `repr_error` | why repr failed although the types qualify (RecursionError for very deep values) |
| `unordered` | the value holds a set/frozenset with more than one element: element order in `repr` may differ |
| `dis` | `<name>.dis` = stdout of `python3 -m pickletools <file>`; null when pickletools raises, with `dis_error` (`Type: message`) |
| `dis_memo`, `dis_annotate`, `dis_indent` | for a few files: the same with `-m`, `-a`, `-l 2` (with a single file the CLI ignores `-m`, so `.memo.dis` equals `.dis`) |
| `opcodes` | sorted names of the opcodes `pickletools.genops` reports (for every pickle in the file; up to a genops error) |

The script loads every file with scripts/ on `sys.path` (module `corpus_classes`) and with
test.pickletester imported (its classes `__main__.C/D/E`).

## bad/

Inputs the C `pickle.loads(data)` (default arguments) rejects. Entries: `name`, `file`,
`error_type` (exception class name), `error` (`str(exc)`), `source` (the pickletester test,
`handmade`, or the truncated valid file), optional `description`.

In `error`, `load_error` and `dis_error`, absolute paths are replaced by `<repo>` (this
checkout) and `<stdlib>` (the Python standard library directory) so the corpus does not
depend on where it was generated.

## multi/ and `dis_multi`

`python3 -m pickletools -m multi/memo_chain_a.pkl multi/memo_chain_b.pkl`, run from
tests/corpus, prints `multi/memo_chain.memo.dis` (the second file uses the first one's memo).

## pickletools_opcodes.json

`pickletools.opcodes` as data: `name`, `code` (byte value), `arg` (`name`, `n`, `doc` or null),
`stack_before`, `stack_after` (StackObject names), `proto`, `doc`.
"""


def main():
    # Loading S'\q' warns about the invalid escape sequence; the corpus keeps such quirks.
    warnings.simplefilter('ignore', DeprecationWarning)
    if OUT.exists():
        shutil.rmtree(OUT)
    (OUT / 'valid').mkdir(parents=True)
    (OUT / 'bad').mkdir()
    c = Corpus(OUT)

    add_builtin_cases(c)
    add_class_cases(c)
    add_python2_cases(c)
    add_quirk_cases(c)
    add_pickletester_constants(c)
    n_records, n_pt_valid, n_pt_bad, result = add_pickletester_harvest(c)
    add_handmade_bad(c)
    add_truncations(c, ['shared_list_twice_p0', 'instance_dict_p2', 'reduce_ex_full_p4'])
    c.add_dis_variants()
    n_cli = c.verify_cli()

    manifest = {'python': sys.version, 'generator': 'scripts/make_corpus.py',
                'valid': c.valid, 'bad': c.bad, 'dis_multi': c.dis_multi,
                'opcode_counts': {op.name: c.opcode_counts[op.name] for op in pickletools.opcodes}}
    manifest_text = json.dumps(manifest, indent=1, ensure_ascii=False) + '\n'
    check_no_address(manifest_text, 'manifest.json')
    for f in sorted(OUT.rglob('*.dis')):
        check_no_address(f.read_text(encoding='utf-8'), f.name)
    (OUT / 'manifest.json').write_text(manifest_text, encoding='utf-8')
    (OUT / 'pickletools_opcodes.json').write_text(
        json.dumps(dump_opcodes(), indent=1, ensure_ascii=False) + '\n', encoding='utf-8')
    (OUT / 'README.md').write_text(README, encoding='utf-8')

    total = sum(f.stat().st_size for f in OUT.rglob('*') if f.is_file())
    nfiles = sum(1 for f in OUT.rglob('*') if f.is_file())
    print('python %s' % sys.version.split()[0])
    print('valid pickles: %d (%d loads_ok, %d with repr, %d dis failures)' % (
        len(c.valid), sum(e['loads_ok'] for e in c.valid),
        sum(e['repr'] is not None for e in c.valid), sum(e['dis'] is None for e in c.valid)))
    print('bad inputs: %d (%d from pickletester, %d handmade, %d truncations)' % (
        len(c.bad), sum(e['source'].startswith('test.') for e in c.bad),
        sum(e['source'] == 'handmade' for e in c.bad),
        sum(e['source'].startswith('truncated') for e in c.bad)))
    print('pickletester: %d loads recorded, %d new valid, %d new bad; tests run %d '
          '(failures %d, errors %d)' % (n_records, n_pt_valid, n_pt_bad, result.testsRun,
                                        len(result.failures), len(result.errors)))
    print('disassemblies checked against the pickletools CLI: %d' % n_cli)
    print('files: %d, total %.2f MB' % (nfiles, total / 1e6))
    print('opcode coverage (occurrences in valid/*.pkl):')
    missing = []
    for op in pickletools.opcodes:
        n = c.opcode_counts[op.name]
        print('  %-16s %r %8d' % (op.name, op.code, n))
        if n == 0:
            missing.append(op.name)
    if missing:
        print('MISSING opcodes: %s' % ', '.join(missing))
        return 1
    print('all %d opcodes covered' % len(pickletools.opcodes))
    return 0


if __name__ == '__main__':
    sys.exit(main())
