#!/usr/bin/env python3
"""Write the scanner test corpus: tests/scan/{malicious,benign,suspicious}/ + manifest.json.

Every hostile file is written as opcode bytes here. Nothing is ever pickled from a dangerous
object and nothing is ever unpickled. Technique ids are those of shared/pickle-attacks.md.
Benign files are copied from tests/corpus/valid (CPython's own pickles of plain data) and a few
hand-written model-like pickles.
"""
import json
import os
import shutil
import struct
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
OUT = os.path.join(ROOT, "tests", "scan")


def G(mod, name):  # GLOBAL
    return b"c" + mod.encode() + b"\n" + name.encode() + b"\n"


def S(s):  # protocol 0 STRING
    return b"S'" + s.encode() + b"'\n"


def U(s):  # SHORT_BINUNICODE
    b = s.encode()
    return b"\x8c" + bytes([len(b)]) + b


def SG(mod, name):  # STACK_GLOBAL
    return U(mod) + U(name) + b"\x93"


def B(b):  # BINBYTES
    return b"B" + struct.pack("<I", len(b)) + b


def call(fn, *args):  # fn(*args) with MARK ... TUPLE REDUCE
    return fn + b"(" + b"".join(args) + b"tR"


P2 = b"\x80\x02"
P4 = b"\x80\x04"
STOP = b"."
OS_SYSTEM = call(G("os", "system"), S("id")) + STOP

cases = []


def case(kind, name, technique, data, desc):
    cases.append((kind, name, technique, data, desc))


def mal(name, technique, data, desc):
    case("malicious", name, technique, data, desc)


# --- A: blocklist gaps --------------------------------------------------------------------
mal("a0_os_system", "A", OS_SYSTEM, "classic os.system('id') by GLOBAL + REDUCE")
mal("a0_posix_system_p4", "A", P4 + call(SG("posix", "system"), U("id")) + STOP, "posix.system by STACK_GLOBAL")
mal("a0_subprocess_popen", "A", call(G("subprocess", "Popen"), S("id")) + STOP, "subprocess.Popen")
mal("a0_builtins_eval", "A", call(G("__builtin__", "eval"), S("1")) + STOP, "py2 __builtin__.eval (fix_imports)")
mal("a0_builtins_exec_p4", "A", P4 + call(SG("builtins", "exec"), U("pass")) + STOP, "builtins.exec")
mal("a1_pip_main", "A1", call(G("pip", "main"), b"(lp0\n" + S("install") + b"a" + S("x") + b"a") + STOP, "pip.main(['install', 'x'])")
mal("a1_ensurepip", "A1", call(G("ensurepip", "_run_pip"), b"(l" + S("x") + b"a") + STOP, "ensurepip._run_pip")
mal("a2_runpy", "A2", call(G("runpy", "_run_code"), S("1"), b"(d") + STOP, "runpy._run_code")
mal("a2_cprofile_run", "A2", call(G("cProfile", "run"), S("1")) + STOP, "cProfile.run")
mal("a2_timeit", "A2", call(G("timeit", "timeit"), S("1")) + STOP, "timeit.timeit")
mal("a2_code_runcode_p4", "A2", P4 + call(SG("code", "InteractiveInterpreter.runcode"), U("1")) + STOP, "code.InteractiveInterpreter.runcode (dotted)")
mal("a3_code_runsource_p4", "A3", P4 + SG("code", "InteractiveInterpreter") + b")\x81" + U("runsource") + b"0" + STOP, "a sibling of a listed name (code.InteractiveInterpreter)")
mal("a4_uuid_command", "A4", call(G("uuid", "_get_command_stdout"), S("id")) + STOP, "uuid._get_command_stdout")
mal("a4_osx_support", "A4", call(G("_osx_support", "_read_output"), S("id")) + STOP, "_osx_support._read_output")
mal("a4_imaplib_stream", "A4", call(G("imaplib", "IMAP4_stream"), S("id")) + STOP, "imaplib.IMAP4_stream")
mal("a5_filehandler_reconstructor", "A5", call(G("copy_reg", "_reconstructor"), G("logging", "FileHandler"), G("logging", "FileHandler"), S("/tmp/x")) + STOP, "logging.FileHandler via copyreg._reconstructor")
mal("a5_fileio", "A5", call(G("_io", "FileIO"), S("/tmp/x"), S("w")) + STOP, "_io.FileIO")
mal("a5_distutils_write_file", "A5", call(G("distutils.file_util", "write_file"), S("/tmp/x"), b"(l") + STOP, "distutils.file_util.write_file")
mal("a6_numpy_runstring", "A6", call(G("numpy.testing._private.utils", "runstring"), S("1"), b"(d") + STOP, "numpy.testing runstring")
mal("a6_torch_collect_env", "A6", call(G("torch.utils.collect_env", "run"), S("id")) + STOP, "torch.utils.collect_env.run")
mal("a7_function_type", "A7", call(G("types", "FunctionType"), call(G("marshal", "loads"), B(b"\xe3")), b"(d") + STOP, "types.FunctionType(marshal.loads(...), {})")
mal("a7_code_type_p4", "A7", P4 + call(SG("types", "CodeType"), b"K\x00") + STOP, "types.CodeType")
mal("a8_ctypes_cdll", "A8", call(G("ctypes", "CDLL"), S("libc.so.6")) + STOP, "ctypes.CDLL")

# --- B: indirection -----------------------------------------------------------------------
mal("b1_resolve_name", "B1", call(call(G("pkgutil", "resolve_name"), S("os:system")), S("id")) + STOP, "pkgutil.resolve_name('os:system')('id')")
mal("b1_import_module_getattr_static", "B1", call(call(G("inspect", "getattr_static"), call(G("importlib", "import_module"), S("os")), S("system")), S("id")) + STOP, "inspect.getattr_static(importlib.import_module('os'), 'system')('id')")
mal("b1_attrgetter", "B1", call(call(G("operator", "attrgetter"), S("system")), call(G("importlib", "import_module"), S("os"))) + STOP, "operator.attrgetter('system')(import_module('os'))")
mal("b1_pydoc_locate", "B1", call(call(G("pydoc", "locate"), S("os.system")), S("id")) + STOP, "pydoc.locate")
mal("b1_partial", "B1", call(call(G("functools", "partial"), G("builtins", "eval"), S("1"))) + STOP, "functools.partial(eval, '1')()")
mal("b2_dict_get_vars_p4", "B2", P4 + call(call(SG("builtins", "dict.get"), call(SG("builtins", "vars"), call(SG("builtins", "__import__"), U("os"))), U("system")), U("id")) + STOP, "dict.get(vars(__import__('os')), 'system')('id')")
mal("b3_getattr_import", "B3", call(call(G("__builtin__", "getattr"), call(G("__builtin__", "__import__"), S("os")), S("system")), S("id")) + STOP, "getattr(__import__('os'), 'system')('id')")
mal("b3_pathlib_os_system_p4", "B3", P4 + call(SG("pathlib", "os.system"), U("id")) + STOP, "protocol 4 dotted name pathlib + os.system")
mal("b3_collections_sys_p4", "B3", P4 + SG("collections", "_sys.modules") + STOP, "collections + _sys.modules")
mal("b4_copyright_globals_p4", "B4", P4 + SG("builtins", "copyright.__init__.__globals__") + STOP, "builtins.copyright.__init__.__globals__")
mal("b4_subclasses_p4", "B4", P4 + call(SG("builtins", "print.__class__.__base__.__subclasses__")) + STOP, "print.__class__.__base__.__subclasses__()")
mal("b4_setattr_stash_p4", "B4", P4 + call(SG("builtins", "__setattr__"), U("stash"), SG("builtins", "len")) + b"0" + call(SG("builtins", "stash.system"), U("id")) + STOP, "builtins.__setattr__ stash then dotted re-resolution")
mal("b5_build_on_module", "B5", G("model", "config") + b"}" + S("x") + b"I1\nsb" + STOP, "BUILD on a global: rewrites a module's attributes")
mal("b5_partial_setstate", "B5", call(G("functools", "partial"), G("builtins", "len")) + b"(" + G("os", "system") + b"(" + S("id") + b"tNNtb" + STOP, "functools.partial + BUILD swapping the function")
# CPython's protocol 2-3 NEWOBJ_EX form is partial(getattr(C, '__new__')) + BUILD (F, (C, ...), {}, None);
# here the BUILD swaps in another function.
mal("b5_partial_newobj_swap", "B5", P2 + G("functools", "partial") + b"q\x00" + call(G("__builtin__", "getattr"), G("datetime", "date") + b"q\x01", U("__new__")) + b"\x85R" + b"(" + G("os", "system") + b"(" + U("id") + b"t}Nt" + b"b)R" + STOP, "CPython's partial(getattr(C, '__new__')) form with a swapped function in BUILD")
mal("b6_add_extension_then_ext", "B6", call(G("copyreg", "add_extension"), S("os"), S("system"), b"I240\n") + b"0" + P2 + b"\x82\xf0(X\x02\x00\x00\x00idtR" + STOP, "copyreg.add_extension then EXT1")
mal("b7_pickle_loads_nested", "B7", call(G("pickle", "loads"), B(OS_SYSTEM)) + STOP, "pickle.loads(b'<os.system pickle>')")
mal("b7_pickle_loads_codecs", "B7", P2 + call(G("_pickle", "loads"), call(G("_codecs", "encode"), U("cos\nsystem\n(S'id'\ntR.").replace(b"\x8c", b"\x8c"), U("latin1"))) + STOP, "_pickle.loads(_codecs.encode(str, 'latin1'))")
mal("b7_torch_load_from_bytes", "B7", call(G("torch.storage", "_load_from_bytes"), B(b"\x80\x02N.")) + STOP, "torch.storage._load_from_bytes")
mal("b7_numpy_load", "B7", call(G("numpy", "load"), S("x.npy")) + STOP, "numpy.load(allow_pickle)")
mal("b8_picklescan_patch", "B8", G("picklescan.scanner", "_safe_globals") + b"0" + STOP, "imports the picklescan scanner (deactivation)")

# --- C: parser differentials --------------------------------------------------------------
mal("c1_int_base0", "C1", b"I0x1\n0" + OS_SYSTEM, "I0x1 first: pickletools raises, CPython reads 1")
mal("c1_long_base0", "C1", b"L0x1L\n0" + OS_SYSTEM, "L0x1L first")
mal("c2_non_ascii_string", "C2", b"S'\xc3\xa9'\n0" + OS_SYSTEM, "non-ASCII STRING first")
mal("c3_memo_confusion_p4", "C3", P4 + U("math") + b"\x94" + U("sqrt") + b"\x94" + b"0" + b"0" + U("os") + b"q\x00" + U("system") + b"q\x01" + b"h\x00h\x01\x93" + b"(" + U("id") + b"tR" + STOP, "names from the memo, re-PUT over a decoy")
mal("c4_string_operands_p4", "C4", P4 + S("os") + S("system") + b"\x93(" + S("id") + b"tR" + STOP, "STACK_GLOBAL operands from STRING opcodes")
mal("c4_decoy_pop_p4", "C4", P4 + U("builtins") + U("len") + b"0" + U("posix") + U("system") + b"\x93(" + U("id") + b"tR" + STOP, "decoy push + POP before STACK_GLOBAL")
mal("c4_computed_name_p4", "C4", P4 + call(SG("_codecs", "decode"), U("b3M="), U("base64")) + U("system") + b"\x93(" + U("id") + b"tR" + STOP, "STACK_GLOBAL module computed by _codecs.decode")
mal("c4_computed_name_allowlisted_p4", "C4", P4 + call(SG("builtins", "str"), B(b"os"), U("latin1")) + U("system") + b"\x93(" + U("id") + b"tR" + STOP, "STACK_GLOBAL module computed by an allowlisted call (str(b'os', 'latin1'))")
mal("c5_inst", "C5", b"(" + S("id") + b"ios\nsystem\n" + STOP, "INST instead of REDUCE")
mal("c5_obj_pop", "C5", b"(" + G("os", "system") + S("id") + b"o0N" + STOP, "OBJ + POP instead of REDUCE")
mal("c6_truncated_after_call", "C6", call(G("os", "system"), S("id")), "payload then no STOP (nullifAI)")
mal("c6_broken_after_call", "C6", call(G("os", "system"), S("id")) + b"\xff\xff", "payload then garbage")
mal("c7_second_pickle", "C7", P2 + b"N." + OS_SYSTEM, "benign pickle, then a malicious one after STOP")
mal("c8_proto_confusion", "C8", b"\x80\x01" + SG("os", "system") + b"\x80\x04(" + U("id") + b"tR" + STOP, "PROTO 1 header, protocol 4 opcodes, PROTO again mid-stream")
payload = SG("os", "system") + b"(" + U("id") + b"tR" + STOP
mal("c9_frame_cut", "C9", P4 + b"\x95" + struct.pack("<Q", 3) + payload, "FRAME shorter than the opcodes it holds")

# --- expected suspicious ------------------------------------------------------------------
def sus(name, technique, data, desc):
    case("suspicious", name, technique, data, desc)

sus("s_unknown_class_p2", "", P2 + G("mymodule", "MyClass") + b")\x81}X\x01\x00\x00\x00aK\x01sb" + STOP, "an unknown user class (NEWOBJ + BUILD)")
sus("s_ext_unknown", "B6", P2 + b"\x82\x01)R" + STOP, "EXT1 with no registry")
sus("s_truncated_no_call", "C6", P2 + b"]q\x00(K\x01K\x02", "truncated before any call")
sus("s_persistent_id", "D11", b"P1\n." , "a persistent id that is not a torch storage")
sus("s_codecs_encode_wrong", "", P2 + call(G("_codecs", "encode"), U("x"), U("rot13")) + STOP, "_codecs.encode with another codec")
sus("s_bytearray_huge", "E5", P2 + call(G("__builtin__", "bytearray"), b"\x8a\x06\x00\x00\x00\x00\x00\x01") + STOP, "bytearray(1 << 40)")

# --- benign hand-written ------------------------------------------------------------------
def ben(name, data, desc):
    case("benign", name, "", data, desc)

storage_pid = b"(" + U("storage") + SG("torch", "FloatStorage") + U("0") + U("cpu") + b"K\x04t\x94Q"
ben("torch_state_dict_p2", P2 + G("collections", "OrderedDict") + b")R" + U("weight") + call(G("torch._utils", "_rebuild_tensor_v2"), storage_pid.replace(b"\x94", b""), b"K\x00", b"K\x04\x85", b"K\x01\x85", b"\x89", G("collections", "OrderedDict") + b")R") + b"s" + STOP, "a torch state_dict data.pkl with a ('storage', ...) persistent id")
ben("numpy_array_p2", P2 + call(G("numpy.core.multiarray", "_reconstruct"), G("numpy", "ndarray"), b"K\x00\x85", B(b"b")) + b"(K\x01K\x03\x85" + call(G("numpy", "dtype"), U("f8"), b"\x89", b"\x88") + b"(K\x03U\x01<NNNJ\xff\xff\xff\xffJ\xff\xff\xff\xffK\x00tb\x89" + B(b"\x00" * 24) + b"tb" + STOP, "a numpy float64 array (protocol 2, as numpy writes it)")
ben("newobj_ex_partial_form_p2", P2 + G("functools", "partial") + call(G("__builtin__", "getattr"), G("datetime", "date") + b"q\x01", U("__new__")) + b"q\x02\x85R" + b"(h\x02(h\x01M\xe4\x07K\x01K\x01t}Nt" + b"b)R" + STOP, "CPython's NEWOBJ_EX below protocol 4: partial(getattr(C, '__new__')) + BUILD (F, (C, ...), {}, None)")
ben("py2_object_reconstructor", call(G("copy_reg", "_reconstructor"), G("datetime", "date"), G("__builtin__", "object"), b"N") + STOP, "copyreg._reconstructor(cls, object, None)")

BENIGN_PREFIXES = (
    "none_", "true_", "false_", "int_", "float_", "str_", "bytes_", "bytearray_", "list_len", "tuple_",
    "dict_len", "dict_nonstr_keys", "set_len", "set_of_str", "frozenset_len", "complex_", "datetime_values",
    "decimal_", "fraction_", "uuid_", "counter_", "ordereddict_", "defaultdict_", "deque_", "cycle_list",
    "cycle_dict", "cycle_tuple", "cycle_two_lists", "shared_", "memo_chain", "py2_binstring", "py2_bools",
    "py2_bytearray", "py2_date", "py2_datetime", "py2_dict", "py2_float", "py2_frozenset", "py2_long",
    "py2_set", "py2_short_binstring", "py2_str", "py2_time", "py2_timedelta", "py2_unicode",
    "singletons_", "nested_mixed_", "frames_multi",
)


def main():
    for sub in ("malicious", "benign", "suspicious"):
        d = os.path.join(OUT, sub)
        shutil.rmtree(d, ignore_errors=True)
        os.makedirs(d)
    manifest = []
    for kind, name, technique, data, desc in cases:
        path = os.path.join(kind, name + ".pkl")
        with open(os.path.join(OUT, path), "wb") as f:
            f.write(data)
        manifest.append({"file": path, "expected": "safe" if kind == "benign" else kind,
                         "technique": technique, "description": desc})
    valid = os.path.join(ROOT, "tests", "corpus", "valid")
    for fn in sorted(os.listdir(valid)):
        if not fn.endswith(".pkl") or not fn.startswith(BENIGN_PREFIXES):
            continue
        src = os.path.join(valid, fn)
        if os.path.getsize(src) > 16384:
            continue
        path = os.path.join("benign", "cpython_" + fn)
        shutil.copyfile(src, os.path.join(OUT, path))
        manifest.append({"file": path, "expected": "safe", "technique": "",
                         "description": "CPython pickle.dumps of plain data (tests/corpus/valid/%s)" % fn})
    with open(os.path.join(OUT, "manifest.json"), "w") as f:
        json.dump({"generator": "scripts/make_scan_corpus.py", "cases": manifest}, f, indent=1)
        f.write("\n")
    print("%d cases" % len(manifest), file=sys.stderr)


if __name__ == "__main__":
    main()
