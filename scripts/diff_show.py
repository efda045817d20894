#!/usr/bin/env python3
"""Differential test: random nested built-in values, pickled by CPython at every protocol,
must print under `brine show --all` exactly as CPython's repr(pickle.loads(...)).

usage: diff_show.py BRINE_BINARY [SEED] [COUNT]; exits 1 on any mismatch."""
import os, pickle, random, subprocess, sys, tempfile
brine = sys.argv[1]
random.seed(int(sys.argv[2]) if len(sys.argv) > 2 else 1)
count = int(sys.argv[3]) if len(sys.argv) > 3 else 3000
def rstr():
    n = random.randint(0, 8)
    out = []
    for _ in range(n):
        r = random.random()
        if r < 0.5: out.append(chr(random.randint(32, 126)))
        elif r < 0.7: out.append(chr(random.randint(0, 0x2000)))
        elif r < 0.8: out.append(chr(random.randint(0xd800, 0xdfff)))
        elif r < 0.9: out.append(chr(random.randint(0x10000, 0x10ffff)))
        else: out.append(random.choice('\\\'"\n\r\t\x00\x7f'))
    return ''.join(out)
def rscalar():
    r = random.random()
    if r < 0.15: return random.randint(-2**70, 2**70)
    if r < 0.3: return random.choice([0, 1, -1, 255, 256, 65535, 65536, 2**31-1, -2**31, 2**31, 2**63, -2**63-1])
    if r < 0.45: return random.choice([0.0, -0.0, 1.5, float('inf'), float('-inf'), 1e16, 1e-7, 0.1, 123456.789, 5e-324]) if random.random()<0.5 else random.uniform(-1e20, 1e20)
    if r < 0.65: return rstr()
    if r < 0.75: return bytes(random.randint(0,255) for _ in range(random.randint(0,6)))
    if r < 0.8: return bytearray(random.randint(0,255) for _ in range(random.randint(0,4)))
    if r < 0.85: return complex(random.uniform(-5,5), random.choice([0.0, -0.0, 2.5, float('inf')]))
    if r < 0.9: return random.choice([None, True, False])
    return random.choice([range(0, random.randint(0,9), random.randint(1,3)), slice(1, None, 2)])
def rval(d=0):
    if d > 3 or random.random() < 0.4: return rscalar()
    r = random.random()
    if r < 0.3: return [rval(d+1) for _ in range(random.randint(0,4))]
    if r < 0.5: return tuple(rval(d+1) for _ in range(random.randint(0,4)))
    if r < 0.8:
        out = {}
        for _ in range(random.randint(0,4)):
            k = random.choice([rstr(), random.randint(-5,5), None, (1, 'a'), b'k', 2.5, True])
            out[k] = rval(d+1)
        return out
    # Sets of one member: CPython prints members in hash order, brine in insertion order.
    if r < 0.9: return {random.choice([rstr(), random.randint(0,9)])}
    return frozenset([random.randint(0,5)])
data = b''
reprs = []
for i in range(count):
    v = rval()
    p = random.randint(0, 5)
    try:
        b = pickle.dumps(v, protocol=p)
    except Exception:
        continue
    data += b
    reprs.append(repr(pickle.loads(b)))
with tempfile.NamedTemporaryFile(suffix='.pkl', delete=False) as f:
    f.write(data)
try:
    out = subprocess.run([brine, 'show', '--all', f.name], capture_output=True)
finally:
    os.unlink(f.name)
got = out.stdout.decode('utf-8', 'surrogateescape').split('\n')[:-1]
if out.returncode != 0: print('ERR', out.stderr.decode()[:300])
bad = 0
for i, (w, g) in enumerate(zip(reprs, got)):
    if w != g:
        bad += 1
        if bad <= 5: print('MISMATCH', i, '\n want', w[:200], '\n  got', g[:200])
print('compared', min(len(reprs), len(got)), 'of', len(reprs), 'mismatches', bad)
sys.exit(1 if bad or out.returncode != 0 or len(got) != len(reprs) else 0)
