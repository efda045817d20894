"""Makes tests/ml/torch/flags.pt: tensors saved with torch's conj and neg bits (lazy views
that torch.save keeps as flags in _rebuild_tensor_v2's metadata dict, over the unchanged
storage), and tests/ml/torch/flags.json: for each tensor, the sha256 of what
torch.load(weights_only=True) gives, resolved (resolve_conj / resolve_neg), as raw
little-endian element bytes.

Run inside the ML venv (scripts/make_ml_corpus.sh makes it):
    /tmp/brine-ml-venv/bin/python scripts/make_torch_flags_case.py
"""
import hashlib
import json
import pathlib

import torch

OUT = pathlib.Path(__file__).resolve().parent.parent / "tests" / "ml" / "torch"

base_c = torch.tensor([[1 + 2j, 3 - 4j], [-5 + 0.5j, 0 - 1j]], dtype=torch.complex64)
base_c128 = torch.tensor([1.5 - 2.25j, -0.0 + 3j], dtype=torch.complex128)
base_f = torch.tensor([1.0, -2.5, 0.0, 7.25], dtype=torch.float32)
objs = {
    "conj": base_c.conj(),
    "conj_t": base_c.conj().t(),
    "conj128": base_c128.conj(),
    "neg": torch._neg_view(base_f),
    "neg_f64": torch._neg_view(base_f.double()),
    "plain": base_f,
}
for k, v in objs.items():
    print(k, v.is_conj(), v.is_neg())
torch.save(objs, OUT / "flags.pt")
back = torch.load(OUT / "flags.pt", weights_only=True)
facts = {}
for k, t in back.items():
    r = t.resolve_conj().resolve_neg().contiguous()
    facts[k] = {
        "conj": bool(t.is_conj()),
        "neg": bool(t.is_neg()),
        "dtype": str(t.dtype),
        "shape": list(t.shape),
        "sha256": hashlib.sha256(r.reshape(-1).view(torch.uint8).numpy().tobytes()).hexdigest(),
    }
(OUT / "flags.json").write_text(json.dumps({"torch": torch.__version__, "tensors": facts}, indent=1) + "\n")
