"""Makes the pre-0.4 PyTorch *tar* checkpoints of tests/ml/torch/ (tar_*.pt) and their
manifest, tests/ml/torch/tar.json.

Before the magic-number stream (torch 0.1.10), torch.save wrote a tar (tarfile.PAX_FORMAT) of
four members, in this order, each added from a temporary file (so with a float mtime, which
tarfile keeps in a pax header): `sys_info` (a pickled dict), `pickle` (the object, pickled with
a persistent_id that names every tensor or storage by str(obj._cdata), an address), `tensors`
(the tensor count, then per tensor a pickle (key, storage key, tensor type) and its metadata:
i64 ndim, ndim i64 sizes, ndim i64 strides, i64 storage offset) and `storages` (the storage
count, then per storage a pickle (key, location, storage type) and the storage as
storage._write_file writes it: i64 element count, raw elements; then a pickled list of
storage views (view key, root key, offset, size), in elements). torch 0.1's _save is
reproduced here by hand (torch 0.1 cannot be installed); current torch still reads the format
(serialization.py, _legacy_load -> legacy_load), and every file is loaded back with
torch.load(..., weights_only=False), the oracle for the facts written to the manifest.

Two flavours, as the two Pythons of the time wrote them: Python 3 (pickle.Pickler, protocol
2: BINUNICODE strings, LONG1 keys, OrderedDict() + SETITEMS) and Python 2 (cPickle, protocol
2: SHORT_BINSTRING strings, INT opcodes for 64-bit ints, OrderedDict([[k, v], ...]) and
records in another order than the object's, as Python 2 dicts iterate in hash order).

Run inside the ML venv (scripts/make_ml_corpus.sh makes it; that script deletes these files,
rerun this one after it):
    PYTHONHASHSEED=0 /tmp/brine-ml-venv/bin/python scripts/make_torch_tar_case.py
"""
import io
import json
import os
import pickle
import struct
import sys
import tarfile
import warnings
from collections import OrderedDict

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import make_ml_corpus as corpus  # noqa: E402 - facts and pickle descriptions, shared

warnings.filterwarnings("ignore")

OUT = os.path.join(corpus.OUT, "torch")

# name: (storage class, tensor class, numpy dtype); the types torch 0.1 had.
TYPES = {
    "float32": ("FloatStorage", "FloatTensor", "<f4"),
    "float64": ("DoubleStorage", "DoubleTensor", "<f8"),
    "float16": ("HalfStorage", "HalfTensor", "<f2"),
    "int64": ("LongStorage", "LongTensor", "<i8"),
    "int32": ("IntStorage", "IntTensor", "<i4"),
    "int16": ("ShortStorage", "ShortTensor", "<i2"),
    "int8": ("CharStorage", "CharTensor", "i1"),
    "uint8": ("ByteStorage", "ByteTensor", "u1"),
}

# Keys stand for the _cdata addresses of real files; fixed so that a rerun is identical.
_next_key = [0]


def new_key(base):
    _next_key[0] += 1
    return base + 0x30 * _next_key[0]


class Storage:
    """A torch 0.1 storage: typed, whole, or a view (elements offset..offset+size) of a root."""

    def __init__(self, dtype, values=None, root=None, offset=0, size=0):
        self.dtype = dtype
        self.key = new_key(94_013_000_000_000)
        self.root, self.offset = root, offset
        if root is None:
            self.array = np.asarray(values, dtype=TYPES[dtype][2]).reshape(-1)
        else:
            assert root.root is None and root.dtype == dtype
            self.array = root.array[offset:offset + size]

    def size(self):
        return self.array.size


class Tensor:
    """A torch 0.1 tensor: a storage, an offset, sizes and strides (in elements)."""

    def __init__(self, storage, offset, sizes, strides):
        self.storage, self.offset = storage, offset
        self.sizes, self.strides = tuple(sizes), tuple(strides)
        self.key = new_key(94_011_000_000_000)

    def expected(self):
        """The elements, by numpy from the storage (checked against torch.load's)."""
        a = self.storage.array
        item = a.itemsize
        return np.lib.stride_tricks.as_strided(
            a[self.offset:], shape=self.sizes, strides=[s * item for s in self.strides]).copy()


def type_global(name):
    return getattr(torch, name)  # torch.FloatStorage, torch.FloatTensor: what 0.1 pickled


# --- the Python 2 flavour -----------------------------------------------------------------


class Py2Pickler(pickle._Pickler):
    """cPickle at protocol 2, as Python 2.7 wrote it: str as SHORT_BINSTRING / BINSTRING, a
    64-bit int that does not fit 32 bits as INT (text), OrderedDict as OrderedDict(items)."""

    dispatch = dict(pickle._Pickler.dispatch)

    def save_py2_str(self, obj):
        b = obj.encode("ascii")
        if len(b) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(b)]) + b)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(b)) + b)
        self.memoize(obj)

    def save_py2_int(self, obj):
        if -(1 << 31) <= obj < (1 << 31):
            return pickle._Pickler.save_long(self, obj)
        self.write(pickle.INT + repr(obj).encode("ascii") + b"\n")

    dispatch[str] = save_py2_str
    dispatch[int] = save_py2_int

    def reducer_override(self, obj):
        if type(obj) is OrderedDict:
            return OrderedDict, ([[k, v] for k, v in obj.items()],)
        return NotImplemented


def dump(obj, f, py2, persistent_id=None):
    p = Py2Pickler(f, protocol=2) if py2 else pickle.Pickler(f, protocol=2)
    if persistent_id is not None:
        p.persistent_id = persistent_id
    p.dump(obj)


# --- torch 0.1's _save, by hand -----------------------------------------------------------


def save(obj, path, py2, mtime):
    serialized_tensors = {}
    serialized_storages = {}

    def persistent_id(o):
        if isinstance(o, Tensor):
            serialized_tensors[o.key] = o
            return str(o.key)
        if isinstance(o, Storage):
            serialized_storages[o.key] = o
            return str(o.key)
        return None

    def order(d):
        # Python 2 dicts iterate in hash order: here simply another order than insertion.
        return sorted(d.items(), reverse=True) if py2 else list(d.items())

    def sys_info():
        f = io.BytesIO()
        dump(dict(protocol_version=1000, little_endian=True,
                  type_sizes=dict(short=2, int=4, long=8)), f, py2)
        return f.getvalue()

    def pickle_objects():
        f = io.BytesIO()
        dump(obj, f, py2, persistent_id)
        return f.getvalue()

    def save_tensors():
        f = io.BytesIO()
        dump(len(serialized_tensors), f, py2)
        for key, t in order(serialized_tensors):
            serialized_storages[t.storage.key] = t.storage
            dump((key, t.storage.key, type_global(TYPES[t.storage.dtype][1])), f, py2)
            n = len(t.sizes)
            f.write(struct.pack("<q", n) + struct.pack("<%dq" % n, *t.sizes)
                    + struct.pack("<%dq" % n, *t.strides) + struct.pack("<q", t.offset))
        return f.getvalue()

    def save_storages():
        f = io.BytesIO()
        views = []
        roots = {}
        for key, s in order(serialized_storages):
            if s.root is not None:
                roots[s.root.key] = s.root
                views.append((key, s.root.key, s.offset, s.size()))
        for v in views:
            del serialized_storages[v[0]]
        serialized_storages.update(roots)
        dump(len(serialized_storages), f, py2)
        for key, s in order(serialized_storages):
            dump((key, "cpu", type_global(TYPES[s.dtype][0])), f, py2)
            f.write(struct.pack("<q", s.size()) + s.array.tobytes())
        dump(views, f, py2)
        return f.getvalue()

    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as tar:
        # The order matters: tensors adds the storages that storages writes.
        for name, fn in (("sys_info", sys_info), ("pickle", pickle_objects),
                         ("tensors", save_tensors), ("storages", save_storages)):
            data = fn()
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = mtime  # a float, as os.stat gives: tarfile writes a pax header
            info.mode = 0o600  # NamedTemporaryFile's
            info.uid = info.gid = 1000
            info.uname = info.gname = "user"
            tar.addfile(info, io.BytesIO(data))


# --- the checkpoints ----------------------------------------------------------------------


def make_objects():
    """(file name, object, description) of each checkpoint."""
    rng = np.random.default_rng(5)

    def whole(dtype, values, shape):
        s = Storage(dtype, values)
        strides = [int(np.prod(shape[i + 1:])) for i in range(len(shape))]
        return Tensor(s, 0, shape, strides)

    # A state dict of a small model, with the odd cases around it.
    fc_w = whole("float32", rng.standard_normal(12).astype("<f4"), (3, 4))
    fc_b = whole("float32", rng.standard_normal(3).astype("<f4"), (3,))
    base64 = Storage("float64", np.arange(6) * 0.5 - 1)
    transposed = Tensor(base64, 0, (3, 2), (1, 3))  # a (2, 3) matrix, transposed
    steps = Tensor(Storage("int64", np.arange(7) * 1000 - 3000), 2, (5,), (1,))  # offset 2
    bytes_ = Storage("uint8", np.arange(16) * 13 % 256)
    strided = Tensor(bytes_, 1, (2, 2, 2), (8, 4, 2))  # every other element, 3 dims
    half = whole("float16", np.array([0.5, -1.25, 65504, 1e-4], dtype="<f2"), (4,))
    shared = Storage("float32", np.linspace(-1, 1, 12).astype("<f4"))
    shared_a = Tensor(shared, 0, (2, 3), (3, 1))
    shared_b = Tensor(shared, 6, (6,), (1,))
    root = Storage("float32", np.arange(16, dtype="<f4") / 4)
    view = Storage("float32", root=root, offset=4, size=8)
    on_view = Tensor(view, 2, (2, 3), (3, 1))
    on_root = Tensor(root, 0, (4, 4), (4, 1))
    ints = whole("int32", [7, -8, 9, 2147483647], (2, 2))
    shorts = whole("int16", [-32768, 0, 1, 32767], (4,))
    chars = whole("int8", [-128, -1, 0, 127], (2, 2))
    sd = OrderedDict([
        ("fc.weight", fc_w), ("fc.bias", fc_b), ("transposed", transposed), ("steps", steps),
        ("strided", strided), ("half", half), ("shared_a", shared_a), ("shared_b", shared_b),
        ("on_view", on_view), ("on_root", on_root), ("ints", ints), ("shorts", shorts),
        ("chars", chars), ("tied", fc_w),
    ])
    yield ("tar_state_dict.pt", sd, False,
           "an OrderedDict state dict, Python 3 flavour: float32/64/16, int64/32/16/8, uint8; "
           "a transposed (non-contiguous) tensor, a storage offset, a 3-d step slice, two "
           "tensors on one storage, a tensor on a storage view (a slice of a root storage that "
           "another tensor uses whole), and one tensor stored twice (tied is fc.weight)")

    # The same kind of file as Python 2 wrote it.
    w = whole("float32", rng.standard_normal(6).astype("<f4"), (2, 3))
    b = whole("float64", [1.5, -2.5], (2,))
    t = Tensor(Storage("int64", np.arange(6) - 2), 1, (2, 2), (1, 2))
    r = Storage("uint8", np.arange(10))
    v = Tensor(Storage("uint8", root=r, offset=3, size=5), 0, (5,), (1,))
    py2 = OrderedDict([("conv.weight", w), ("conv.bias", b), ("strided", t), ("view", v),
                       ("again", w)])
    yield ("tar_state_dict_py2.pt", py2, True,
           "a state dict as Python 2 pickled it (SHORT_BINSTRING strings, INT keys, "
           "OrderedDict([[k, v], ...])): float32, float64, a strided int64 tensor with an "
           "offset, a uint8 tensor on a storage view, one tensor stored twice")

    # A training checkpoint as the ImageNet example of the time saved it: a plain dict with
    # the state dict, the optimizer's state (momentum buffers keyed by int) and plain values.
    m1 = whole("float32", rng.standard_normal(4).astype("<f4"), (2, 2))
    m2 = whole("float32", [0.0, 0.25], (2,))
    ck = {
        "epoch": 12,
        "arch": "resnet18",
        "best_prec1": 71.25,
        "state_dict": OrderedDict([("layer.weight", whole("float32", rng.standard_normal(4).astype("<f4"), (2, 2))),
                                   ("layer.bias", whole("float32", [0.5, -0.5], (2,)))]),
        "optimizer": {"state": {140_000_001: {"momentum_buffer": m1},
                                140_000_002: {"momentum_buffer": m2}},
                      "param_groups": [{"lr": 0.1, "momentum": 0.9, "weight_decay": 1e-4,
                                        "params": [140_000_001, 140_000_002]}]},
    }
    yield ("tar_checkpoint.pt", ck, False,
           "a training checkpoint dict: epoch, arch, best_prec1, a state dict and the "
           "optimizer's state (momentum buffers under int keys), Python 3 flavour")


def tensor_paths(root):
    """[(path, key, aliases)] of the tensor persistent ids of an inert parse, walk order."""
    out = []
    first = {}
    seen = set()

    def go(x, path):
        if isinstance(x, corpus.Pid):
            key = int(x.pid)
            if key in first:
                out[first[key]][2].append(path)
            else:
                first[key] = len(out)
                out.append((path, key, []))
            return
        if isinstance(x, corpus.Glob) and not isinstance(x, type):
            if id(x) in seen:
                return
            seen.add(id(x))
            pairs = None
            if type(x).name == "collections.OrderedDict":
                if not x.args:
                    pairs = x.items
                elif len(x.args) == 1 and not x.items:  # Python 2: OrderedDict(items)
                    pairs = [tuple(p) for p in x.args[0]]
            assert pairs is not None and not x.states, type(x).name
            for k, v in pairs:
                go(v, path + [corpus.key_component(k)])
            return
        if isinstance(x, dict):
            for k, v in x.items():
                go(v, path + [corpus.key_component(k)])
        elif isinstance(x, (list, tuple)):
            for i, v in enumerate(x):
                go(v, path + [i])

    go(root, [])
    return out


def records(data, count_then):
    """Splits a storages/tensors member: [(offset, length, value, raw_offset, raw)]."""
    f = io.BytesIO(data)
    out = []
    n = pickle.load(f)
    out.append((0, f.tell(), n, None, None))
    for _ in range(n):
        at = f.tell()
        rec = pickle.load(f)
        raw_at = f.tell()
        raw = count_then(f, rec)
        out.append((at, raw_at - at, rec, raw_at, raw))
    return out, f


def describe(name, obj, py2, description):
    path = os.path.join(OUT, name)
    data = open(path, "rb").read()
    real = torch.load(path, weights_only=False)  # the oracle
    with tarfile.open(path, format=tarfile.PAX_FORMAT) as tar:
        members = [{"name": m.name, "header_offset": m.offset, "data_offset": m.offset_data,
                    "size": m.size, "pax_headers": dict(m.pax_headers)} for m in tar.getmembers()]
        body = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}
    assert [m["name"] for m in members] == ["sys_info", "pickle", "tensors", "storages"]
    offset_of = {m["name"]: m["data_offset"] for m in members}

    pickles = []

    def info(member, start, what, persistent=False):
        i, root = corpus.pickle_info(body[member], start, what, persistent=persistent)
        i["member"] = member
        pickles.append(i)
        return root

    info("sys_info", 0, "member sys_info")
    root = info("pickle", 0, "member pickle (the object)", persistent=True)

    # storages: records, then the views.
    def storage_raw(f, rec):
        (count,) = struct.unpack("<q", f.read(8))
        elsize = getattr(torch, rec[2].__name__)._dtype.itemsize
        return count, f.read(count * elsize)

    st, f = records(body["storages"], storage_raw)
    views_at = f.tell()
    views = pickle.load(f)
    assert f.tell() == len(body["storages"])
    storages = {}
    for i, (at, length, rec, raw_at, raw) in enumerate(st):
        info("storages", at, "member storages, %s" % ("the storage count" if i == 0 else "storage record %d" % (i - 1)))
        if raw is None:
            continue
        key, location, stype = rec
        count, raw_bytes = raw
        storages[key] = {"key": str(key), "location": location,
                         "storage_type": "torch." + stype.__name__, "numel": count,
                         "element_size": getattr(torch, stype.__name__)._dtype.itemsize,
                         "count_offset": offset_of["storages"] + raw_at,
                         "data_offset": offset_of["storages"] + raw_at + 8,
                         "nbytes": len(raw_bytes), "sha256": corpus.sha(raw_bytes)}
    info("storages", views_at, "member storages, the storage views")
    storage_views = [{"key": str(k), "root": str(r), "offset": o, "numel": n} for k, r, o, n in views]

    def tensor_raw(f, rec):
        (ndim,) = struct.unpack("<i", f.read(4))
        f.read(4)
        sizes = struct.unpack("<%dq" % ndim, f.read(8 * ndim))
        strides = struct.unpack("<%dq" % ndim, f.read(8 * ndim))
        (offset,) = struct.unpack("<q", f.read(8))
        return list(sizes), list(strides), offset

    tr, f = records(body["tensors"], tensor_raw)
    assert f.tell() == len(body["tensors"])
    tensor_records = {}
    for i, (at, length, rec, raw_at, raw) in enumerate(tr):
        info("tensors", at, "member tensors, %s" % ("the tensor count" if i == 0 else "tensor record %d" % (i - 1)))
        if raw is None:
            continue
        key, storage_id, ttype = rec
        tensor_records[key] = {"key": str(key), "storage_key": str(storage_id),
                               "tensor_type": "torch." + ttype.__name__, "sizes": raw[0],
                               "strides": raw[1], "storage_offset": raw[2],
                               "metadata_offset": offset_of["tensors"] + raw_at}

    # The object pickle's tensors, against torch.load's result and our own description.
    by_key = {}

    def collect(x):
        if isinstance(x, Tensor):
            by_key[x.key] = x
        elif isinstance(x, dict):
            for v in x.values():
                collect(v)
        elif isinstance(x, (list, tuple)):
            for v in x:
                collect(v)

    collect(obj)
    view_keys = {v["key"]: v for v in storage_views}
    arrays = []
    for path, key, aliases in tensor_paths(root):
        t = corpus.get_path(real, path)
        assert isinstance(t, torch.Tensor), path
        for al in aliases:
            assert corpus.get_path(real, al) is t, al
        rec = tensor_records[key]
        mine = by_key[key]
        assert list(t.shape) == list(mine.sizes) == rec["sizes"], path
        assert list(t.stride()) == list(mine.strides) == rec["strides"], path
        assert t.storage_offset() == mine.offset == rec["storage_offset"], path
        assert np.array_equal(t.numpy(), mine.expected()), path
        assert str(t.dtype) == "torch." + mine.storage.dtype
        skey = rec["storage_key"]
        if skey in view_keys:
            v = view_keys[skey]
            stype = storages[int(v["root"])]["storage_type"]
        else:
            stype = storages[int(skey)]["storage_type"]
        fct = corpus.torch_facts(t, path, aliases, skey, False)
        fct["storage_type"] = stype
        fct["rebuild"] = rec["tensor_type"]
        arrays.append(fct)
    assert len(arrays) == len(tensor_records), "a tensor record the object does not use"

    entries = []

    def plain(x, path):
        if isinstance(x, torch.Tensor):
            return
        if isinstance(x, dict):
            for k, v in x.items():
                plain(v, path + [corpus.key_component(k)])
        elif isinstance(x, (list, tuple)):
            for i, v in enumerate(x):
                plain(v, path + [i])
        else:
            entries.append({"name": corpus.display(path), "value": repr(x)})

    plain(real, [])
    return {
        "path": "torch/" + name,
        "maker": {"library": "scripts/make_torch_tar_case.py",
                  "layout": "torch.save of torch 0.1.x (tar), Python %d flavour" % (2 if py2 else 3),
                  "loaded_by": "torch " + torch.__version__},
        "kind": "torch-tar",
        "compression": None,
        "size": len(data),
        "sha256": corpus.sha(data),
        "expected_verdict": "safe",
        "why": "sys_info is a dict; the object pickle builds OrderedDicts and plain containers "
               "and names tensors by key persistent ids (str of an int, which legacy_load looks "
               "up in the tensors it read); the record pickles hold ints, 'cpu', and torch's "
               "storage and tensor classes (torch.FloatStorage, torch.FloatTensor, ...), which "
               "legacy_load reads the dtype of and never calls",
        "description": description,
        "contains_pickle": True,
        "plain_pickle": False,
        "pickle_protocol": 2,
        "members": members,
        "pickles": pickles,
        "tar_storages": list(storages.values()),
        "storage_views": storage_views,
        "tar_tensors": list(tensor_records.values()),
        "arrays": arrays,
        "entries": entries,
    }


CONVENTIONS = {
    "shared": "As in tests/ml/manifest.json's conventions (paths, pickles, arrays: name/path, "
              "dtype, shape, strides, sha256...), with these additions for kind torch-tar.",
    "members": "the tar members in archive order: name, header_offset (where its headers start: "
               "its pax header, then its own), data_offset, size (bytes), pax_headers.",
    "pickles": "every pickle of every member: member, offset and length within the member.",
    "tar_storages": "the storages member's records in file order: key (str of the record's "
                    "int key), location, storage_type, numel (the i64 count), element_size, "
                    "count_offset and data_offset (in the file), nbytes, sha256 of the raw data.",
    "storage_views": "the list pickled after the storages: key of the view, key of its root, "
                     "offset and numel in elements of the root.",
    "tar_tensors": "the tensors member's records in file order: key, storage_key (the record's "
                   "storage id; a view's key for a tensor on a view), tensor_type, sizes, "
                   "strides, storage_offset, metadata_offset (in the file, of the i32 ndim).",
    "arrays": "storage_key: the tensor record's storage id (a storage or a view); "
              "storage_offset: in elements of that storage, as torch.load gives it; "
              "storage_nbytes: bytes of that storage (a view's own size); storage_type: the "
              "storage record's class (a view's root's); rebuild: the tensor record's tensor "
              "class (nothing is called: legacy_load makes the tensor with set_). A tensor "
              "key reached again is an alias. collections.OrderedDict(items) (Python 2's "
              "pickle of an OrderedDict) is a dict too: its keys are components directly.",
    "entries": "the values that are not tensors, by name, as repr() of what torch.load gives.",
}


def main():
    os.makedirs(OUT, exist_ok=True)
    files = []
    for i, (name, obj, py2, description) in enumerate(make_objects()):
        save(obj, os.path.join(OUT, name), py2, mtime=1490000000.25 + i)
        files.append(describe(name, obj, py2, description))
    manifest = {
        "generator": "scripts/make_torch_tar_case.py",
        "versions": {"python": corpus.VERSIONS["python"], "numpy": corpus.VERSIONS["numpy"],
                     "torch": corpus.VERSIONS["torch"]},
        "conventions": CONVENTIONS,
        "files": files,
    }
    with open(os.path.join(OUT, "tar.json"), "w") as f:
        json.dump(manifest, f, indent=1, ensure_ascii=False)
        f.write("\n")
    for e in files:
        print("%s: %d bytes, %d tensors" % (e["path"], e["size"], len(e["arrays"])), file=sys.stderr)


if __name__ == "__main__":
    main()
