#!/usr/bin/env python3
"""Write tests/ml/: small benign files made by numpy, pandas, scikit-learn, joblib, torch and
safetensors, and tests/ml/manifest.json, which says what every file is and every fact of every
array and tensor in it (dtype, shape, strides, offsets, storage keys, sha256 of the bytes).

Run it inside the venv that scripts/make_ml_corpus.sh makes (that script pins the versions):
    bash scripts/make_ml_corpus.sh

The manifest's "conventions" key defines every field. Facts are taken from the objects as the
libraries load them back, and cross-checked against an inert parse of each pickle stream (a
pickle.Unpickler whose find_class returns recording stubs, so no library code runs) and
against the raw records of the containers (zip members, legacy torch storages, safetensors).
Any disagreement stops the script.
"""

import bz2
import gzip
import hashlib
import io
import itertools
import json
import lzma
import os
import pickle
import pickletools
import platform
import shutil
import struct
import sys
import warnings
import zipfile
import zlib

import joblib
import joblib.numpy_pickle as jnp
import numpy as np
import pandas as pd
import sklearn
from sklearn.decomposition import PCA
from sklearn.ensemble import RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler

try:
    import torch
    import torch.nn as nn
except ImportError:  # the manifest then says so under not_made
    torch = None
try:
    import safetensors
    import safetensors.torch
except ImportError:
    safetensors = None
try:
    import lz4

    HAVE_LZ4 = True
except ImportError:
    HAVE_LZ4 = False

warnings.filterwarnings("ignore")

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
OUT = os.path.join(ROOT, "tests", "ml")

FILES = []  # manifest entries
NOT_MADE = []  # [{"what", "why"}]


def sha(b):
    return hashlib.sha256(b).hexdigest()


def versions():
    v = {
        "python": platform.python_version(),
        "numpy": np.__version__,
        "pandas": pd.__version__,
        "scikit-learn": sklearn.__version__,
        "joblib": joblib.__version__,
    }
    if torch is not None:
        v["torch"] = torch.__version__
    if safetensors is not None:
        v["safetensors"] = safetensors.__version__
    if HAVE_LZ4:
        v["lz4"] = lz4.__version__
    return v


VERSIONS = versions()


def maker(lib):
    return {"library": lib, "version": VERSIONS[lib]}


def write(rel, data):
    path = os.path.join(OUT, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(data)
    return data


def read(rel):
    with open(os.path.join(OUT, rel), "rb") as f:
        return f.read()


# --- the inert parse: what a decoder that runs nothing sees ---------------------------------

ARRAY_MAKERS = {
    "numpy._core.multiarray._reconstruct",
    "numpy.core.multiarray._reconstruct",
    "numpy._core.numeric._frombuffer",
    "numpy.core.numeric._frombuffer",
}
SCALAR_MAKERS = {"numpy._core.multiarray.scalar", "numpy.core.multiarray.scalar"}
TENSOR_MAKERS = {
    "torch._utils._rebuild_tensor",
    "torch._utils._rebuild_tensor_v2",
    "torch._utils._rebuild_tensor_v3",
}
PARAMETER_MAKERS = {"torch._utils._rebuild_parameter", "torch._utils._rebuild_parameter_with_state"}
DICT_LIKE = {"collections.OrderedDict"}


class Glob:
    """Marker base of the stub classes that stand for globals."""

    name = ""


class Pid:
    """A persistent id, as persistent_load received it."""

    def __init__(self, pid):
        self.pid = pid


def stub_class(name, counter):
    def new(cls, *args, **kwargs):
        obj = object.__new__(cls)
        obj.args = args
        obj.kwargs = kwargs
        obj.states = []
        obj.items = []
        obj.appends = []
        obj.seq = next(counter) if name in ARRAY_MAKERS | SCALAR_MAKERS | TENSOR_MAKERS else None
        return obj

    def setstate(self, state):
        self.states.append(state)

    def setitem(self, k, v):
        self.items.append((k, v))

    def append(self, v):
        self.appends.append(v)

    def extend(self, vs):
        self.appends.extend(vs)

    return type(
        name,
        (Glob,),
        {
            "name": name,
            "__new__": new,
            "__init__": lambda self, *a, **k: None,
            "__setstate__": setstate,
            "__setitem__": setitem,
            "append": append,
            "extend": extend,
            "__hash__": object.__hash__,
        },
    )


class InertUnpickler(pickle.Unpickler):
    """Loads a pickle without running any library code: every global is a stub class."""

    def __init__(self, f, **kw):
        super().__init__(f, **kw)
        self.counter = itertools.count()
        self.stubs = {}
        self.globals_seen = []

    def find_class(self, module, name):
        full = module + "." + name
        if full not in self.globals_seen:
            self.globals_seen.append(full)
        if full not in self.stubs:
            self.stubs[full] = stub_class(full, self.counter)
        return self.stubs[full]


class InertPersistentUnpickler(InertUnpickler):
    """InertUnpickler that also accepts persistent ids (torch)."""

    def persistent_load(self, pid):
        return Pid(pid)


class RecordingUnpickler(pickle.Unpickler):
    """Loads for real, recording the arrays and scalars the stream creates, in order."""

    def __init__(self, f, **kw):
        super().__init__(f, **kw)
        self.made = []

    def find_class(self, module, name):
        obj = super().find_class(module, name)
        full = module + "." + name
        if full in ARRAY_MAKERS | SCALAR_MAKERS:
            made = self.made

            def wrapper(*args):
                r = obj(*args)
                made.append(r)
                return r

            return wrapper
        return obj


def pickle_ops(data, start=0):
    """(protocol, end offset, opcodes) of the pickle starting at `start`."""
    proto = None
    end = None
    n = 0
    f = io.BytesIO(data)
    f.seek(start)
    for op, arg, pos in pickletools.genops(f):
        n += 1
        if op.name == "PROTO" and proto is None:
            proto = arg
        if op.name == "STOP":
            end = pos + 1
    return proto, end, n


def walk(root):
    """Leaves (arrays, scalars, tensors) of an inert tree: [(path, node, parameter, aliases)].

    Paths follow the manifest conventions: dict keys and list/tuple indices as they are;
    "@args"/"@kwargs"/"@state"/"@items"/"@append" inside calls; collections.OrderedDict() is
    a dict; a torch parameter is the tensor it wraps (marked parameter).
    """
    out = []
    first = {}  # id -> index in out
    seen = set()

    def leaf(path, node, parameter):
        if id(node) in first:
            out[first[id(node)]][3].append(path)
            return
        first[id(node)] = len(out)
        out.append((path, node, parameter, []))

    def go(x, path):
        if isinstance(x, Glob) and not isinstance(x, type):
            name = type(x).name
            if name in ARRAY_MAKERS or name in SCALAR_MAKERS or name in TENSOR_MAKERS:
                leaf(path, x, False)
                return
            if name in PARAMETER_MAKERS:
                inner = x.args[0]
                leaf(path, inner, True)
                return
            if id(x) in seen:
                return
            seen.add(id(x))
            if name in DICT_LIKE and not x.args:
                for k, v in x.items:
                    go(v, path + [key_component(k)])
                for i, s in enumerate(x.states):
                    go(s, path + ["@state" if i == 0 else "@state%d" % i])
                return
            for i, a in enumerate(x.args):
                go(a, path + ["@args", i])
            for k, v in x.kwargs.items():
                go(v, path + ["@kwargs", k])
            for i, s in enumerate(x.states):
                go(s, path + ["@state" if i == 0 else "@state%d" % i])
            for k, v in x.items:
                go(v, path + ["@items", key_component(k)])
            for i, v in enumerate(x.appends):
                go(v, path + ["@append", i])
            return
        if isinstance(x, np.ndarray):  # a real array (joblib's inline arrays)
            leaf(path, x, False)
            return
        if isinstance(x, dict):
            if id(x) in seen:
                return
            seen.add(id(x))
            for k, v in x.items():
                go(v, path + [key_component(k)])
        elif isinstance(x, (list, tuple)):
            if id(x) in seen:
                return
            seen.add(id(x))
            for i, v in enumerate(x):
                go(v, path + [i])

    go(root, [])
    return out


def key_component(k):
    if isinstance(k, (str, int)) and not isinstance(k, bool):
        return k
    return repr(k)


def display(path):
    return ".".join(str(c) for c in path)


# --- facts --------------------------------------------------------------------------------


def descr(dt):
    d = np.lib.format.dtype_to_descr(dt)
    return json.loads(json.dumps(d))  # tuples -> lists


def le_bytes(a):
    a = np.ascontiguousarray(a)
    if a.dtype.hasobject:
        raise ValueError("object arrays have no bytes")
    return a.astype(a.dtype.newbyteorder("<"), copy=False).tobytes()


def np_facts(a, path, aliases=(), kind="array"):
    a_arr = np.asarray(a)
    d = {
        "name": display(path),
        "path": path,
        "kind": kind,
        "dtype": descr(a_arr.dtype),
        "dtype_name": str(a_arr.dtype),
        "itemsize": a_arr.dtype.itemsize,
        "shape": list(a_arr.shape),
        "strides": list(a_arr.strides) if kind == "array" else [],
        "strides_unit": "bytes",
        "order": "F" if a_arr.ndim > 1 and a_arr.flags.f_contiguous and not a_arr.flags.c_contiguous else "C",
        "numel": int(a_arr.size),
    }
    if aliases:
        d["aliases"] = [display(p) for p in aliases]
    if a_arr.dtype.hasobject:
        d["sha256"] = None
        d["elements_repr"] = [repr(x) for x in a_arr.ravel(order="C")]
    else:
        d["sha256"] = sha(le_bytes(a_arr))
    return d


def check_np_node(node, arr):
    """The inert node of an array agrees with the array loaded for real."""
    name = type(node).name
    if name in ARRAY_MAKERS and "reconstruct" in name:
        state = node.states[0]
        # (version, shape, dtype, is_fortran, data)
        shape = state[1]
        assert tuple(shape) == arr.shape, (shape, arr.shape)
    elif name in ARRAY_MAKERS:  # _frombuffer(buf, dtype, shape, order)
        assert tuple(node.args[2]) == arr.shape, (node.args[2], arr.shape)


def torch_bytes(t):
    t = t.detach().contiguous().reshape(-1)
    if t.dtype != torch.uint8:
        t = t.view(torch.uint8)
    return t.numpy().tobytes()


def storage_bytes(t):
    s = t.untyped_storage()
    u = torch.empty(0, dtype=torch.uint8)
    u.set_(s, 0, (s.nbytes(),), (1,))
    return u.numpy().tobytes()


def torch_facts(t, path, aliases, storage_key, parameter):
    d = {
        "name": display(path),
        "path": path,
        "kind": "tensor",
        "dtype": str(t.dtype),
        "itemsize": t.element_size(),
        "shape": list(t.shape),
        "strides": list(t.stride()),
        "strides_unit": "elements",
        "storage_offset": t.storage_offset(),
        "storage_key": storage_key,
        "storage_nbytes": t.untyped_storage().nbytes(),
        "numel": t.numel(),
        "requires_grad": bool(t.requires_grad),
        "parameter": parameter,
        "sha256": sha(torch_bytes(t)),
    }
    if aliases:
        d["aliases"] = [display(p) for p in aliases]
    return d


def get_path(obj, path):
    for c in path:
        if isinstance(c, str) and c.startswith("@"):
            raise KeyError(c)
        obj = obj[c]
    return obj


# --- pickle streams -----------------------------------------------------------------------


def inert_load(data, start=0, buffers=None, persistent=False):
    f = io.BytesIO(data)
    f.seek(start)
    u = (InertPersistentUnpickler if persistent else InertUnpickler)(f, buffers=buffers)
    root = u.load()
    return root, u.globals_seen, f.tell()


def pickle_info(data, start, where, buffers=None, persistent=False):
    proto, end, nops = pickle_ops(data, start)
    root, globs, end2 = inert_load(data, start, buffers, persistent)
    assert end == end2, (end, end2)
    return {
        "where": where,
        "offset": start,
        "length": end - start,
        "protocol": proto,
        "opcodes": nops,
        "globals": globs,
    }, root


def np_pickle_arrays(data, start=0, buffers=None):
    """Facts of every array and numpy scalar that a plain pickle stream creates."""
    root, _, _ = inert_load(data, start, buffers)
    f = io.BytesIO(data)
    f.seek(start)
    r = RecordingUnpickler(f, buffers=buffers)
    r.load()
    out = []
    for path, node, _param, aliases in walk(root):
        real = r.made[node.seq]
        if type(node).name in SCALAR_MAKERS:
            e = np_facts(real, path, aliases, kind="scalar")
        else:
            check_np_node(node, real)
            e = np_facts(real, path, aliases)
        e["stream_index"] = node.seq
        out.append(e)
    return out


def add(rel, lib, kind, compression, verdict, why, description, **extra):
    data = read(rel)
    e = {
        "path": rel,
        "maker": maker(lib),
        "kind": kind,
        "compression": compression,
        "size": len(data),
        "sha256": sha(data),
        "expected_verdict": verdict,
        "why": why,
        "description": description,
    }
    e.update(extra)
    FILES.append(e)
    return e


SAFE_PICKLE = (
    "every global is a data constructor of {lib} (arrays, dtypes, {what}); no call runs code "
    "beyond rebuilding data"
)


def plain_pickle(rel, obj, protocol, lib, description, what, buffers_out=False):
    """pickle.dumps(obj, protocol) to rel, with its manifest entry."""
    bufs = []
    if buffers_out:
        data = pickle.dumps(obj, protocol=protocol, buffer_callback=bufs.append)
    else:
        data = pickle.dumps(obj, protocol=protocol)
    write(rel, data)
    raw = [bytes(b.raw()) for b in bufs]
    buffer_files = []
    for i, b in enumerate(raw):
        bf = rel + ".buf%d" % i
        write(bf, b)
        buffer_files.append({"path": bf, "size": len(b), "sha256": sha(b)})
    info, _ = pickle_info(data, 0, "file", buffers=raw or None)
    arrays = np_pickle_arrays(data, 0, buffers=raw or None)
    extra = {}
    if buffer_files:
        extra["out_of_band_buffers"] = buffer_files
    return add(
        rel,
        lib,
        "pickle",
        None,
        "safe",
        SAFE_PICKLE.format(lib=lib, what=what),
        description,
        contains_pickle=True,
        plain_pickle=True,
        pickles=[info],
        arrays=arrays,
        **extra,
    )


# --- numpy --------------------------------------------------------------------------------


def np_arrays():
    rng = np.random.default_rng(0)
    structured = np.array(
        [(1, 1.5, b"ab"), (2, -2.5, b"cd"), (3, 0.0, b"")],
        dtype=[("id", "<i4"), ("x", "<f8"), ("tag", "S2")],
    )
    obj = np.empty(5, dtype=object)
    obj[:] = [1, "two", {"three": [3]}, None, 4.5]
    return {
        "float32_c": rng.standard_normal((3, 4)).astype(np.float32),
        "float64_f": np.asfortranarray(np.arange(12, dtype=np.float64).reshape(3, 4) / 7),
        "int8": np.array([-128, -1, 0, 1, 127], dtype=np.int8),
        "bool": np.array([[True, False], [False, True]]),
        "complex64": (np.arange(4) + 1j * np.arange(4, 8)).astype(np.complex64),
        "structured": structured,
        "big_endian_int32": np.arange(6, dtype=">i4").reshape(2, 3),
        "datetime64_ms": np.array(["2024-01-01T00:00:00.123", "1970-01-01", "NaT"], dtype="datetime64[ms]"),
        "object": obj,
    }


def npy_header(f, version):
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(f)
    return np.lib.format.read_array_header_2_0(f)


def npy_entry(rel, arr_name, a):
    data = read(rel)
    f = io.BytesIO(data)
    version = np.lib.format.read_magic(f)
    hdr = npy_header(f, version)
    off = f.tell()
    loaded = np.load(io.BytesIO(data), allow_pickle=a.dtype.hasobject)
    if a.dtype.hasobject:
        assert [repr(x) for x in loaded.ravel()] == [repr(x) for x in a.ravel()]
    else:
        assert le_bytes(loaded) == le_bytes(a) and loaded.dtype == a.dtype
    facts = np_facts(loaded, [])
    npy = {
        "version": list(version),
        "header": {"descr": descr(hdr[2]), "fortran_order": hdr[1], "shape": list(hdr[0])},
        "data_offset": off,
    }
    return data, npy, facts, off, loaded


def make_numpy():
    arrays = np_arrays()
    for name, a in arrays.items():
        rel = "numpy/%s.npy" % name
        buf = io.BytesIO()
        np.save(buf, a, allow_pickle=a.dtype.hasobject)
        write(rel, buf.getvalue())
        data, npy, facts, off, _ = npy_entry(rel, name, a)
        assert npy["version"] == [1, 0]
        extra = {"npy": npy, "arrays": [facts], "contains_pickle": False, "plain_pickle": False}
        verdict, why = "safe", "an .npy header and raw array data: no pickle"
        if a.dtype.hasobject:
            info, _ = pickle_info(data, off, "npy data (offset %d)" % off)
            extra.update(contains_pickle=True, pickles=[info])
            why = ("contains a pickle (object arrays are pickled after the .npy header; "
                   "np.load needs allow_pickle=True) that only rebuilds an object array of "
                   "plain Python values")
        add(rel, "numpy", "npy", None, verdict, why, "np.save of a %s array" % name, **extra)

    # npz: savez (stored) and savez_compressed (deflate); one with an object member
    plain = {k: v for k, v in arrays.items() if k != "object"}
    for fn, rel, comp in (
        (np.savez, "numpy/arrays.npz", "zip-stored"),
        (np.savez_compressed, "numpy/arrays_compressed.npz", "zip-deflate"),
        (np.savez, "numpy/with_object.npz", "zip-stored"),
    ):
        content = dict(plain) if "object" not in rel else {"ints": arrays["int8"], "object": arrays["object"]}
        buf = io.BytesIO()
        fn(buf, **content)
        write(rel, buf.getvalue())
        z = zipfile.ZipFile(io.BytesIO(buf.getvalue()))
        members = []
        all_facts = []
        pickles = []
        for m in z.infolist():
            mdata = z.read(m)
            key = m.filename[:-4]
            a = content[key]
            mf = io.BytesIO(mdata)
            version = np.lib.format.read_magic(mf)
            hdr = npy_header(mf, version)
            loaded = np.load(io.BytesIO(mdata), allow_pickle=True)
            facts = np_facts(loaded, [key])
            facts["member"] = m.filename
            all_facts.append(facts)
            members.append({
                "name": m.filename,
                "compress_type": {0: "stored", 8: "deflate"}[m.compress_type],
                "size": m.file_size,
                "sha256": sha(mdata),
                "npy": {"version": list(version),
                        "header": {"descr": descr(hdr[2]), "fortran_order": hdr[1], "shape": list(hdr[0])},
                        "data_offset": mf.tell()},
            })
            if a.dtype.hasobject:
                info, _ = pickle_info(mdata, mf.tell(), "member %s, offset %d" % (m.filename, mf.tell()))
                pickles.append(info)
        has_pickle = bool(pickles)
        why = ("a zip of .npy members: no pickle" if not has_pickle else
               "a zip of .npy members; %s holds a pickle of an object array of plain Python "
               "values (loads only with allow_pickle=True)" % pickles[0]["where"].split(",")[0])
        add(rel, "numpy", "npz", comp, "safe", why,
            "%s of %s" % (fn.__name__, ", ".join(content)), contains_pickle=has_pickle,
            plain_pickle=False, members=members, pickles=pickles, arrays=all_facts)

    # pickle.dumps of arrays, scalars and dtypes
    sel = {k: arrays[k] for k in ("float32_c", "float64_f", "int8", "bool", "complex64",
                                   "structured", "big_endian_int32", "datetime64_ms")}
    sel["noncontig_view"] = arrays["float32_c"][:, 1::2]
    for proto in (2, 4, 5):
        plain_pickle("numpy/arrays_p%d.pkl" % proto, sel, proto, "numpy",
                     "pickle.dumps(dict of arrays, protocol=%d)%s" % (proto, " (in-band buffers)" if proto == 5 else ""),
                     "numpy.ndarray")
    plain_pickle("numpy/arrays_p5_oob.pkl", sel, 5, "numpy",
                 "pickle.dumps(dict of arrays, protocol=5, buffer_callback=...): out-of-band "
                 "buffers, written to <file>.bufN in the order of the NEXT_BUFFER opcodes "
                 "(pass them as buffers= to load)", "numpy.ndarray", buffers_out=True)
    plain_pickle("numpy/object_array_p4.pkl", arrays["object"], 4, "numpy",
                 "pickle.dumps(object array, protocol=4)", "numpy.ndarray")
    scalars = {
        "float32": np.float32(1.5), "float64": np.float64(-2.25), "int64": np.int64(-7),
        "uint8": np.uint8(200), "bool": np.bool_(True), "complex128": np.complex128(1 - 2j),
        "datetime64": np.datetime64("2024-05-06T07:08:09", "s"), "float16": np.float16(0.5),
    }
    for proto in (2, 4):
        plain_pickle("numpy/scalars_p%d.pkl" % proto, scalars, proto, "numpy",
                     "pickle.dumps(dict of numpy scalars, protocol=%d)" % proto, "numpy scalars")
    dtypes = [np.dtype("f4"), np.dtype(">i8"), np.dtype("datetime64[ms]"), np.dtype("U5"),
              np.dtype([("a", "<i2"), ("b", ">f8", (2,))]), np.dtype("O")]
    for proto in (2, 4):
        plain_pickle("numpy/dtypes_p%d.pkl" % proto, dtypes, proto, "numpy",
                     "pickle.dumps(list of numpy dtypes, protocol=%d)" % proto, "numpy dtypes")


# --- pandas -------------------------------------------------------------------------------


def make_pandas():
    df = pd.DataFrame({
        "i": np.array([1, 2, 3, 4], dtype=np.int64),
        "f": [0.5, 1.5, np.nan, -2.0],
        "b": [True, False, True, True],
        "when": pd.to_datetime(["2024-01-01", "2024-02-29 12:00", "1999-12-31", "2030-06-15"], format="ISO8601"),
        "cat": pd.Categorical(["a", "b", "a", "c"]),
        "s": pd.array(["x", "yy", None, "zzz"], dtype="str"),
        "obj": pd.Series([1, "two", 3.0, None], dtype=object),
    })
    series = pd.Series([1.0, 2.5, -3.0], index=pd.date_range("2024-01-01", periods=3, freq="D"), name="temp")
    what = "DataFrame, BlockManager, Index and extension arrays"
    plain_pickle("pandas/dataframe_p4.pkl", df, 4, "pandas", "pickle.dumps(DataFrame, protocol=4)", what)
    plain_pickle("pandas/dataframe_p5.pkl", df, 5, "pandas", "pickle.dumps(DataFrame, protocol=5)", what)
    plain_pickle("pandas/series_p4.pkl", series, 4, "pandas",
                 "pickle.dumps(Series with a DatetimeIndex, protocol=4)", what)
    path = os.path.join(OUT, "pandas/dataframe_to_pickle.pkl")
    df.to_pickle(path)
    data = read("pandas/dataframe_to_pickle.pkl")
    info, _ = pickle_info(data, 0, "file")
    add("pandas/dataframe_to_pickle.pkl", "pandas", "pickle", None, "safe",
        SAFE_PICKLE.format(lib="pandas", what=what), "DataFrame.to_pickle(path) (defaults)",
        contains_pickle=True, plain_pickle=True, pickles=[info], arrays=np_pickle_arrays(data))
    path = os.path.join(OUT, "pandas/dataframe_to_pickle.pkl.gz")
    df.to_pickle(path, compression={"method": "gzip", "mtime": 0})
    gz = read("pandas/dataframe_to_pickle.pkl.gz")
    inner = gzip.decompress(gz)
    info, _ = pickle_info(inner, 0, "gzip stream")
    add("pandas/dataframe_to_pickle.pkl.gz", "pandas", "pickle", "gzip", "safe",
        SAFE_PICKLE.format(lib="pandas", what=what) + " (inside a gzip stream)",
        "DataFrame.to_pickle(path, compression={'method': 'gzip', 'mtime': 0})",
        contains_pickle=True, plain_pickle=False,
        decompressed={"size": len(inner), "sha256": sha(inner)}, pickles=[info],
        arrays=np_pickle_arrays(inner))


# --- scikit-learn and joblib --------------------------------------------------------------


def sk_models():
    rng = np.random.default_rng(1)
    X = rng.standard_normal((40, 4))
    y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(np.int64)
    lr = LogisticRegression().fit(X, y)
    rf = RandomForestClassifier(n_estimators=3, max_depth=3, random_state=0).fit(X, y)
    pipe = Pipeline([("scale", StandardScaler()), ("pca", PCA(n_components=2, random_state=0)),
                     ("clf", LogisticRegression())]).fit(X, y)
    return {"logreg": lr, "forest": rf, "pipeline": pipe}


def joblib_arrays(rel):
    """Inert and real loads of a joblib file: (pickle info, array facts, decompressed bytes)."""
    path = os.path.join(OUT, rel)
    with open(path, "rb") as f:
        with jnp._validate_fileobject_and_memmap(f, path, None) as (fobj, _):
            raw = fobj.read()
    spans = []

    class Inert(jnp.NumpyUnpickler):
        dispatch = jnp.NumpyUnpickler.dispatch.copy()
        counter = itertools.count()
        REAL = {"joblib.numpy_pickle.NumpyArrayWrapper", "numpy.dtype"}

        def find_class(self, module, name):
            full = module + "." + name
            if full not in globs:
                globs.append(full)
            if full in self.REAL:
                return super().find_class(module, name)
            if full not in stubs:
                stubs[full] = stub_class(full, self.counter)
            return stubs[full]

        def load_build(self):
            start = self.file_handle.tell()
            wrapped = isinstance(self.stack[-2], jnp.NumpyArrayWrapper) if len(self.stack) > 1 else False
            super().load_build()
            if wrapped:
                spans.append((start, self.file_handle.tell(), self.stack[-1]))

        dispatch[pickle.BUILD[0]] = load_build

    globs = []
    stubs = {}
    u = Inert(path, io.BytesIO(raw), ensure_native_byte_order=False)
    root = u.load()
    end = u.file_handle.tell()
    assert end == len(raw), (end, len(raw))
    order = {id(a): i for i, (_, _, a) in enumerate(spans)}
    arrays = []
    for p, node, _param, aliases in walk(root):
        if isinstance(node, np.ndarray):
            i = order[id(node)]
            e = np_facts(node, p, aliases)
            e["stream_index"] = i
            e["inline_data"] = {"start": spans[i][0], "end": spans[i][1]}
            arrays.append(e)
        elif type(node).name in SCALAR_MAKERS:  # numpy scalars stay ordinary pickle calls
            dtype, scalar_bytes = node.args
            e = np_facts(np._core.multiarray.scalar(dtype, scalar_bytes), p, aliases, kind="scalar")
            e["stream_index"] = None
            arrays.append(e)
    info = {"where": "file" if raw == read(rel) else "decompressed stream", "offset": 0,
            "length": len(raw), "protocol": raw[1] if raw[:1] == b"\x80" else 0,
            "globals": globs, "inline_arrays": len(spans)}
    return info, arrays, raw


JOBLIB_COMPRESS = [
    (None, None, ""),
    (3, "zlib", "_z3"),
    (("gzip", 3), "gzip", "_gzip"),
    (("bz2", 3), "bz2", "_bz2"),
    (("xz", 3), "xz", "_xz"),
    (("lzma", 3), "lzma", "_lzma"),
]
if HAVE_LZ4:
    JOBLIB_COMPRESS.append((("lz4", 3), "lz4", "_lz4"))

JOBLIB_WHY = (
    "a pickle whose globals are joblib.numpy_pickle.NumpyArrayWrapper and data constructors "
    "({what}); each NumpyArrayWrapper BUILD is followed by raw array bytes (not opcodes: see "
    "inline_data), which a scanner must skip as joblib's unpickler does. joblib is a loader, "
    "but NumpyArrayWrapper itself only describes an array"
)


def joblib_file(rel, obj, compress, comp_name, lib, description, what):
    path = os.path.join(OUT, rel)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    if compress is None:
        joblib.dump(obj, path)
    else:
        joblib.dump(obj, path, compress=compress)
    info, arrays, raw = joblib_arrays(rel)
    extra = {}
    if comp_name:
        extra["decompressed"] = {"size": len(raw), "sha256": sha(raw)}
    add(rel, lib, "joblib", comp_name, "safe", JOBLIB_WHY.format(what=what), description,
        contains_pickle=True, plain_pickle=False, pickles=[info], arrays=arrays, **extra)


def make_sklearn():
    models = sk_models()
    what = "estimators, trees, numpy arrays"
    for name, m in models.items():
        for proto in (4, 5):
            plain_pickle("sklearn/%s_p%d.pkl" % (name, proto), m, proto, "scikit-learn",
                         "pickle.dumps(fitted %s, protocol=%d)" % (type(m).__name__, proto), what)
    plain_pickle("sklearn/logreg_p2.pkl", models["logreg"], 2, "scikit-learn",
                 "pickle.dumps(fitted LogisticRegression, protocol=2)", what)
    for name in ("logreg", "forest", "pipeline"):
        for compress, comp_name, suffix in JOBLIB_COMPRESS:
            if name != "pipeline" and comp_name not in (None, "zlib"):
                continue  # every compressor once, on the pipeline
            joblib_file("sklearn/%s%s.joblib" % (name, suffix), models[name], compress, comp_name,
                        "scikit-learn",
                        "joblib.dump(fitted %s%s)" % (type(models[name]).__name__,
                                                      ", compress=%r" % (compress,) if compress else ""),
                        what)


def make_joblib():
    obj_arr = np.empty(3, dtype=object)
    obj_arr[:] = ["a", 2, (3, 4)]
    data = {
        "f32": np.linspace(0, 1, 6, dtype=np.float32).reshape(2, 3),
        "f64_fortran": np.asfortranarray(np.arange(6, dtype=np.float64).reshape(2, 3)),
        "i16": np.array([-3, 0, 3], dtype=np.int16),
        "u8": np.arange(5, dtype=np.uint8),
        "bool": np.array([True, False, True]),
        "c128": np.array([1 + 1j, -2j]),
        "be_f8": np.array([1.0, 2.0], dtype=">f8"),
        "list": [1, "two", 3.0, [4]],
        "object": obj_arr,
    }
    for compress, comp_name, suffix in JOBLIB_COMPRESS:
        if comp_name not in (None, "zlib", "gzip"):
            continue
        joblib_file("joblib/dict%s.joblib" % suffix, data, compress, comp_name, "joblib",
                    "joblib.dump(dict of arrays, a list and an object array%s)" % (
                        ", compress=%r" % (compress,) if compress else ""),
                    "numpy arrays and dtypes, plain containers")


# --- torch --------------------------------------------------------------------------------


def tiny_model():
    torch.manual_seed(0)
    return nn.Sequential(nn.Embedding(10, 4), nn.Linear(4, 3), nn.LayerNorm(3))


def zip_info(data):
    z = zipfile.ZipFile(io.BytesIO(data))
    names = z.namelist()
    prefix = names[0].split("/")[0]
    return z, names, prefix


def torch_pickle_tensors(root, real):
    """Walks the inert tree of a torch pickle, checks each tensor against the loaded object,
    returns [(facts, pid)]."""
    out = []
    for path, node, parameter, aliases in walk(root):
        name = type(node).name
        assert name in TENSOR_MAKERS, (path, name)
        a = node.args
        pid = a[0].pid
        t = get_path(real, path)
        assert isinstance(t, torch.Tensor), path
        assert list(a[2]) == list(t.shape), (path, a[2], t.shape)
        assert list(a[3]) == list(t.stride()), (path, a[3], t.stride())
        assert a[1] == t.storage_offset(), (path, a[1], t.storage_offset())
        assert parameter == isinstance(t, nn.Parameter), path
        for al in aliases:
            assert get_path(real, al) is t, al
        f = torch_facts(t, path, aliases, pid[2], parameter)
        f["storage_type"] = pid[1].name
        f["rebuild"] = name
        if name == "torch._utils._rebuild_tensor_v3":
            f["rebuild_dtype"] = a[6].name
        out.append((f, pid, t))
    return out


def torch_zip_entry(rel, obj, description, lib="torch", kind="torch-zip"):
    data = read(rel)
    z, names, prefix = zip_info(data)
    pkl = z.read(prefix + "/data.pkl")
    info, root = pickle_info(pkl, 0, "member %s/data.pkl" % prefix, persistent=True)
    real = torch.load(io.BytesIO(data), weights_only=False)
    tensors = torch_pickle_tensors(root, real)
    storages = {}
    for f, pid, t in tensors:
        key = pid[2]
        rec = z.read("%s/data/%s" % (prefix, key))
        assert rec == storage_bytes(t), (rel, key)
        st = {"record": "%s/data/%s" % (prefix, key), "storage_type": pid[1].name,
              "location": pid[3], "numel": pid[4], "nbytes": len(rec), "sha256": sha(rec)}
        assert storages.setdefault(key, st) == st
    members = [{"name": i.filename, "size": i.file_size,
                "compress_type": {0: "stored", 8: "deflate"}[i.compress_type],
                "offset": i.header_offset} for i in z.infolist()]
    assert all(m["compress_type"] == "stored" for m in members)
    weights_only_ok = True
    try:
        torch.load(io.BytesIO(data), weights_only=True)
    except Exception:  # noqa: BLE001 - recorded, not raised
        weights_only_ok = False
    return add(rel, lib, kind, None, "safe",
               "data.pkl only calls torch's tensor/parameter rebuild functions with "
               "('storage', <storage type>, key, location, numel) persistent ids, and builds "
               "OrderedDicts and plain containers; the storages are raw bytes",
               description, contains_pickle=True, plain_pickle=False, archive_prefix=prefix,
               members=members, pickles=[info], storages=storages,
               loads_with_weights_only=weights_only_ok,
               arrays=[f for f, _, _ in tensors])


def torch_legacy_entry(rel, obj, protocol, description):
    data = read(rel)
    infos = []
    pos = 0
    what = ["magic number", "protocol version", "sys_info", "object", "storage keys"]
    roots = []
    for i, w in enumerate(what):
        info, root = pickle_info(data, pos, "%s (pickle %d of the stream)" % (w, i), persistent=(i == 3))
        infos.append(info)
        roots.append(root)
        pos = info["offset"] + info["length"]
    keys = roots[4]
    real = torch.load(io.BytesIO(data), weights_only=False)
    tensors = torch_pickle_tensors(roots[3], real)
    by_key = {}
    for f, pid, t in tensors:
        by_key.setdefault(pid[2], (pid, t))
    records = []
    for key in keys:
        pid, t = by_key[key]
        (numel,) = struct.unpack_from("<q", data, pos)
        elsize = t.element_size()
        nbytes = numel * elsize
        rec = data[pos + 8:pos + 8 + nbytes]
        assert rec == storage_bytes(t), (rel, key)
        records.append({"key": key, "offset": pos, "numel": numel, "element_size": elsize,
                        "data_offset": pos + 8, "nbytes": nbytes, "sha256": sha(rec),
                        "storage_type": pid[1].name, "location": pid[3], "pid_numel": pid[4]})
        pos += 8 + nbytes
    assert pos == len(data), (pos, len(data))
    return add(rel, "torch", "torch-legacy", None, "safe",
               "five pickles (magic number, protocol version, sys_info, the object, the storage "
               "keys) followed by raw storages; the object pickle only calls torch's rebuild "
               "functions with ('storage', ...) persistent ids",
               description, contains_pickle=True, plain_pickle=False, pickle_protocol=protocol,
               pickles=infos, legacy_storages=records, arrays=[f for f, _, _ in tensors])


LEGACY_DTYPES = ("float64", "float32", "float16", "bfloat16", "int8", "int16", "int32", "int64",
                 "uint8", "bool", "complex64", "complex128")


def dtype_zoo():
    zoo = {}
    base = torch.tensor([[0.0, 1.5, -2.0], [3.25, -0.5, 100.0]])
    for name in ("float64", "float32", "float16", "bfloat16"):
        zoo[name] = base.to(getattr(torch, name))
    ints = torch.tensor([[0, 1, -2], [3, -4, 5]])
    for name in ("int8", "int16", "int32", "int64"):
        zoo[name] = ints.to(getattr(torch, name))
    zoo["uint8"] = torch.tensor([[0, 1, 2], [253, 254, 255]], dtype=torch.uint8)
    zoo["bool"] = torch.tensor([[True, False, True], [False, False, True]])
    zoo["complex64"] = torch.complex(base, -base)
    zoo["complex128"] = torch.complex(base.double(), base.double() * 2)
    optional = {
        "float8_e4m3fn": lambda: base.to(torch.float8_e4m3fn),
        "float8_e5m2": lambda: base.to(torch.float8_e5m2),
        "float8_e4m3fnuz": lambda: base.to(torch.float8_e4m3fnuz),
        "float8_e5m2fnuz": lambda: base.to(torch.float8_e5m2fnuz),
        "float8_e8m0fnu": lambda: base.abs().add(1).to(torch.float8_e8m0fnu),
        "uint16": lambda: torch.tensor([[0, 1, 2], [65533, 65534, 65535]], dtype=torch.int64).to(torch.uint16),
        "uint32": lambda: torch.tensor([[0, 1, 2], [2**32 - 3, 2**32 - 2, 2**32 - 1]], dtype=torch.int64).to(torch.uint32),
        "uint64": lambda: torch.tensor([[0, 1, 2], [3, 4, 5]], dtype=torch.int64).to(torch.uint64),
        "complex32": lambda: torch.complex(base, -base).to(torch.complex32),
        "float4_e2m1fn_x2": lambda: torch.tensor([[0x12, 0x34, 0xff]], dtype=torch.uint8).view(torch.float4_e2m1fn_x2),
    }
    for name, fn in optional.items():
        if not hasattr(torch, name):
            NOT_MADE.append({"what": "torch dtype " + name, "why": "torch %s has no such dtype" % torch.__version__})
            continue
        try:
            t = fn()
            b = io.BytesIO()
            torch.save(t, b)
            back = torch.load(io.BytesIO(b.getvalue()), weights_only=False)
            assert torch_bytes(back) == torch_bytes(t)
            torch_bytes(t)
        except Exception as e:  # noqa: BLE001 - recorded in the manifest
            NOT_MADE.append({"what": "torch dtype " + name, "why": "%s: %s" % (type(e).__name__, e)})
            continue
        zoo[name] = t
    return zoo


class TinyScript(nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = nn.Linear(3, 2)

    def forward(self, x):
        return torch.relu(self.lin(x)) * 2


def make_torch():
    model = tiny_model()
    sd = model.state_dict()

    def save_zip(rel, obj, **kw):
        path = os.path.join(OUT, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        torch.save(obj, path, **kw)

    save_zip("torch/state_dict.pt", sd)
    torch_zip_entry("torch/state_dict.pt", sd, "torch.save(state_dict of Sequential(Embedding, Linear, LayerNorm), path): zip format, pickle protocol 2 (default)")
    buf = io.BytesIO()
    torch.save(sd, buf)
    write("torch/state_dict_buffer.pt", buf.getvalue())
    torch_zip_entry("torch/state_dict_buffer.pt", sd, "torch.save(state_dict, io.BytesIO()): zip format; the archive prefix is 'archive'")
    save_zip("torch/state_dict_p4.pt", sd, pickle_protocol=4)
    torch_zip_entry("torch/state_dict_p4.pt", sd, "torch.save(state_dict, path, pickle_protocol=4): zip format")
    for proto in (2, 4):
        rel = "torch/state_dict_legacy_p%d.pt" % proto
        save_zip(rel, sd, _use_new_zipfile_serialization=False, pickle_protocol=proto)
        torch_legacy_entry(rel, sd, proto, "torch.save(state_dict, path, _use_new_zipfile_serialization=False, pickle_protocol=%d): legacy format" % proto)

    # checkpoint
    torch.manual_seed(1)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss = model(torch.tensor([[1, 2], [3, 4]])).pow(2).mean()
    loss.backward()
    opt.step()
    ckpt = {"model": model.state_dict(), "optimizer": opt.state_dict(), "epoch": 3,
            "config": {"lr": 1e-3, "sizes": [10, 4, 3], "name": "tiny", "betas": (0.9, 0.999)}}
    save_zip("torch/checkpoint.pt", ckpt)
    torch_zip_entry("torch/checkpoint.pt", ckpt, "torch.save({'model': state_dict, 'optimizer': Adam state_dict after one step, 'epoch': 3, 'config': {...}}): zip format")
    save_zip("torch/checkpoint_legacy.pt", ckpt, _use_new_zipfile_serialization=False)
    torch_legacy_entry("torch/checkpoint_legacy.pt", ckpt, 2, "the same checkpoint, legacy format, pickle protocol 2")

    # dtypes
    zoo = dtype_zoo()
    save_zip("torch/dtypes.pt", zoo)
    torch_zip_entry("torch/dtypes.pt", zoo, "torch.save(dict of one 2x3 tensor per dtype: %s): zip format" % ", ".join(zoo))
    try:
        b = io.BytesIO()
        torch.save(zoo, b, _use_new_zipfile_serialization=False)
        torch.load(io.BytesIO(b.getvalue()), weights_only=False)
    except Exception as e:  # noqa: BLE001 - recorded in the manifest
        NOT_MADE.append({"what": "legacy-format file of the dtypes without a typed storage class (%s)"
                         % ", ".join(k for k in zoo if k not in LEGACY_DTYPES),
                         "why": "torch.save(..., _use_new_zipfile_serialization=False) writes it but "
                         "torch.load cannot read it back (%s: %s)" % (type(e).__name__, e)})
    legacy_zoo = {k: v for k, v in zoo.items() if k in LEGACY_DTYPES}
    save_zip("torch/dtypes_legacy.pt", legacy_zoo, _use_new_zipfile_serialization=False)
    torch_legacy_entry("torch/dtypes_legacy.pt", legacy_zoo, 2,
                       "the dtypes that have a typed storage class (%s), legacy format" % ", ".join(legacy_zoo))

    # views and shared storages
    base = torch.arange(24, dtype=torch.float32).reshape(4, 6)
    views = {
        "transposed": base.t(),
        "sliced": base[1:3, 2:5],
        "every_other_column": base[:, ::2],
        "expanded": torch.arange(3, dtype=torch.int32).reshape(3, 1).expand(3, 4),
        "scalar": torch.tensor(7.5, dtype=torch.float64),
        "empty": torch.zeros(0, 3),
    }
    save_zip("torch/views.pt", views)
    torch_zip_entry("torch/views.pt", views, "torch.save of non-contiguous views: transpose, a slice with a storage offset, a step-2 slice (these three share one 24-element storage that is saved whole), expand (stride 0), a 0-d tensor and an empty tensor")
    save_zip("torch/views_legacy.pt", views, _use_new_zipfile_serialization=False)
    torch_legacy_entry("torch/views_legacy.pt", views, 2, "the same views, legacy format")

    torch.manual_seed(2)
    emb = nn.Embedding(5, 3)
    head = nn.Linear(3, 5, bias=False)
    head.weight = emb.weight
    tied_model = nn.ModuleDict({"embed": emb, "head": head})
    w = torch.randn(2, 2)
    tied = {"state_dict": tied_model.state_dict(), "alias_a": w, "alias_b": w}
    save_zip("torch/tied.pt", tied)
    torch_zip_entry("torch/tied.pt", tied, "tied weights (embed.weight and head.weight are two tensors on one storage) and one tensor object stored twice (alias_b is a memo reference to alias_a)")
    save_zip("torch/tied_legacy.pt", tied, _use_new_zipfile_serialization=False)
    torch_legacy_entry("torch/tied_legacy.pt", tied, 2, "the same, legacy format")

    torch.manual_seed(3)
    param = nn.Parameter(torch.randn(2, 3))
    save_zip("torch/parameter.pt", param)
    torch_zip_entry("torch/parameter.pt", param, "torch.save(nn.Parameter) (requires_grad=True)")

    # TorchScript
    scripted = torch.jit.script(TinyScript())
    path = os.path.join(OUT, "torch/torchscript.pt")
    scripted.save(path)
    data = read("torch/torchscript.pt")
    z, names, prefix = zip_info(data)
    pickles = []
    for n in names:
        if n.endswith(".pkl"):
            info, _ = pickle_info(z.read(n), 0, "member " + n, persistent=True)
            pickles.append(info)
    code = [n for n in names if "/code/" in n and not n.endswith(".debug_pkl")]
    add("torch/torchscript.pt", "torch", "torchscript", None, "suspicious",
        "TorchScript: the archive carries code (%s) that torch.jit.load compiles and runs; its "
        "pickles name __torch__ classes that exist only in that code. Benign here, but a "
        "scanner cannot tell what the code does without judging TorchScript, and torch.load "
        "hands such files to torch.jit.load (CVE-2025-32434), so it must report code" % ", ".join(code),
        "torch.jit.script(Linear(3, 2) + relu module).save(path)", contains_pickle=True,
        plain_pickle=False, contains_code=True, archive_prefix=prefix, code_members=code,
        members=[{"name": i.filename, "size": i.file_size,
                  "compress_type": {0: "stored", 8: "deflate"}[i.compress_type]} for i in z.infolist()],
        pickles=pickles)

    if safetensors is None:
        NOT_MADE.append({"what": "safetensors file", "why": "safetensors did not import"})
        return
    st_sd = {k: v.contiguous() for k, v in sd.items()}
    safetensors.torch.save_file(st_sd, os.path.join(OUT, "torch/state_dict.safetensors"), metadata={"format": "pt"})
    data = read("torch/state_dict.safetensors")
    (hlen,) = struct.unpack_from("<Q", data, 0)
    header = json.loads(data[8:8 + hlen])
    arrays = []
    for k, t in st_sd.items():
        h = header[k]
        lo, hi = h["data_offsets"]
        raw = data[8 + hlen + lo:8 + hlen + hi]
        assert raw == torch_bytes(t)
        arrays.append({"name": k, "path": [k], "kind": "tensor", "dtype": str(t.dtype),
                       "safetensors_dtype": h["dtype"], "itemsize": t.element_size(),
                       "shape": list(t.shape), "strides": list(t.stride()), "strides_unit": "elements",
                       "storage_offset": 0, "storage_key": None, "numel": t.numel(),
                       "data_offsets": [lo, hi], "sha256": sha(raw)})
    add("torch/state_dict.safetensors", "safetensors", "safetensors", None, "safe",
        "safetensors: a JSON header and raw little-endian tensor bytes; no pickle, no code",
        "safetensors.torch.save_file(the state_dict of torch/state_dict.pt, metadata={'format': 'pt'})",
        contains_pickle=False, plain_pickle=False, header_size=hlen, data_start=8 + hlen,
        arrays=arrays)


CONVENTIONS = {
    "paths": "path: relative to tests/ml. size and sha256: of the whole file.",
    "kind": "npy | npz | pickle (the file, or after decompression, is pickle bytes) | joblib | torch-zip | torch-legacy | torchscript | safetensors",
    "compression": "null (none) | zip-stored | zip-deflate (npz) | gzip | zlib | bz2 | xz | lzma | lz4 (joblib's compressors, and pandas' gzip). decompressed: size and sha256 of the stream after decompression.",
    "plain_pickle": "true when the whole file is pickle bytes and nothing else (a decoder needs no container, no decompression and no inline data); out_of_band_buffers then lists the buffers to pass to loads(buffers=...) in NEXT_BUFFER order.",
    "expected_verdict": "what a careful scanner should say: safe (only data is rebuilt; reasons in why) or suspicious (TorchScript: carries code). Files without a pickle are safe.",
    "pickles": "every pickle stream of the file: where (the file, a zip member, a byte offset), offset and length (bytes, in the file, the member or the decompressed stream), protocol (the first PROTO's argument, null if none), opcodes (count, pickletools.genops), globals (module.name as GLOBAL/STACK_GLOBAL/INST name them, before Python-2 name mapping, in first-use order).",
    "arrays": "every numpy array, numpy scalar or torch tensor rebuilt by the file, in walk order (depth first, as the pickle's value tree nests). For .npy/.npz/safetensors: the stored arrays.",
    "name / path": "path is the list of components from the root of the pickled value to the array; name joins them with '.' (ambiguous when a key contains '.', path is not). Components: a dict key (str or int as stored; other keys as their repr), a list/tuple index (int). Inside an object rebuilt by a call (REDUCE, NEWOBJ, NEWOBJ_EX, INST, OBJ): '@args', i (the call's positional arguments), '@kwargs', k, '@state' (the BUILD argument; a second BUILD is '@state1'), '@items', key (SETITEM(S) on it), '@append', i (APPEND(S) on it). Exceptions: collections.OrderedDict() is a dict (its SETITEMS keys are components directly, so a torch state_dict's tensors are named like 'model.0.weight'); torch._utils._rebuild_parameter(...) is the tensor it wraps (parameter: true). .npy: path []. .npz: path [member name without .npy] (member: the zip member). safetensors: path [tensor name]. aliases: other paths that reach the same object through the memo (the same array or tensor object stored twice).",
    "dtype": "numpy: dtype descr as in an .npy header (numpy.lib.format.dtype_to_descr; structured dtypes as a list of [name, descr(, shape)]), with byte order as stored; dtype_name: str(dtype). torch: str(tensor.dtype), e.g. 'torch.bfloat16'; safetensors_dtype: the header's name. itemsize: bytes per element.",
    "shape / numel": "shape as a list ([] for 0-d and numpy scalars); numel = product of shape.",
    "strides": "numpy: strides in BYTES of the array as numpy loads it (Fortran-order arrays load with Fortran strides, views pickle as contiguous copies); order: 'F' for a Fortran-contiguous array of 2+ dims that is not also C-contiguous, else 'C'. torch: strides in ELEMENTS (tensor.stride()), storage_offset in ELEMENTS, storage_key: the persistent id key (zip: the member <prefix>/data/<key>; legacy: the key in the storage-keys pickle), storage_nbytes: bytes of the whole storage (saved whole, even when only a view of it is saved), storage_type: the persistent id's storage class; rebuild: the torch._utils function that rebuilds it (_v3 also names a dtype: rebuild_dtype).",
    "sha256": "sha256 of the array's elements in C (row-major) order, little-endian, packed (no padding between elements): numpy: np.ascontiguousarray(a).astype(a.dtype.newbyteorder('<')).tobytes() (so big-endian arrays and structured fields are byte-swapped to little-endian; structured records keep their packed field layout; datetime64 is its int64; bool is one byte 0/1; complex is real then imaginary). torch: t.detach().contiguous().reshape(-1).view(torch.uint8).numpy().tobytes() (the raw little-endian element bytes, which is how bfloat16, float16, float8_*, complex32, float4_e2m1fn_x2 (two 4-bit values per byte) and the uint16/32/64 dtypes are hashed; bool is one byte 0/1). Object arrays have sha256 null and elements_repr: repr() of each element in C order.",
    "stream_index": "numpy arrays and scalars in pickles: the 0-based order in which the stream creates the array or scalar (the order of the _reconstruct / _frombuffer / scalar calls, counted together), so a reader can match them without walking paths. joblib: the order of the NumpyArrayWrapper BUILDs (numpy scalars in joblib files stay ordinary scalar calls: stream_index null); inline_data: start and end (bytes, in the decompressed stream) of what follows that BUILD: one padding-length byte and that many 0xff bytes (arrays of non-object dtype) then the array's bytes in its stored order (C or F, as order says) and byte order; for object dtype a nested pickle of the array.",
    "npy": "version, header (descr, fortran_order, shape) and data_offset (bytes from the start of the .npy to the array data or, for object arrays, to the pickle).",
    "torch zip": "archive_prefix: the zip's top folder (the file name's stem for a path, 'archive' for a buffer); members: every zip member with its local header offset; storages: key -> record, storage_type, location, numel (elements of the storage type; bytes for UntypedStorage), nbytes, sha256 of the record. loads_with_weights_only: torch.load(weights_only=True) accepts it.",
    "torch legacy": "pickles: the five pickles of the stream; legacy_storages: for each key in the storage-keys pickle, in that order: offset of its int64 little-endian element count, numel, element_size, data_offset, nbytes, sha256; the last storage ends at the end of the file.",
    "safetensors": "header_size (the u64 at offset 0), data_start = 8 + header_size, data_offsets relative to data_start.",
    "not_made": "what could not be made with these versions, and why.",
}


def main():
    if os.path.isdir(OUT):
        for entry in os.listdir(OUT):
            p = os.path.join(OUT, entry)
            if entry == "README.md":
                continue
            shutil.rmtree(p) if os.path.isdir(p) else os.remove(p)
    os.makedirs(OUT, exist_ok=True)
    make_numpy()
    make_pandas()
    make_sklearn()
    make_joblib()
    if torch is None:
        NOT_MADE.append({"what": "every torch and safetensors file", "why": "torch did not import"})
    else:
        make_torch()
    manifest = {
        "generator": "scripts/make_ml_corpus.py (run by scripts/make_ml_corpus.sh)",
        "versions": VERSIONS,
        "conventions": CONVENTIONS,
        "not_made": NOT_MADE,
        "files": FILES,
    }
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump(manifest, f, indent=1, ensure_ascii=False)
        f.write("\n")
    total = sum(e["size"] for e in FILES)
    print("%d files, %d bytes; not made: %d" % (len(FILES), total, len(NOT_MADE)), file=sys.stderr)


if __name__ == "__main__":
    main()
