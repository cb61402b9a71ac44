#!/usr/bin/python3
"""gen_golden.py — write blasto's frozen PyTorch golden files (tests/golden/*.safetensors).

What it is: the ONLY way the golden files are made. It runs every op of core/autograd.h, the optimizers of
core/optim.h and a small CNN training run in PyTorch (float32, CPU) from fixed seeds, and stores inputs,
parameters, upstream gradients, outputs and gradients so that the op-test harness (tests/ops/, its golden replay) and
tests/test_golden_train.c can compare blasto with PyTorch with no Python present.
What it is not: a test. It checks nothing about blasto; it needs Debian's /usr/bin/python3 with python3-torch
(torch 1.13) and numpy, and NOT the `safetensors` package — the format is written here by hand.

Usage:  /usr/bin/python3 tests/golden/gen_golden.py [output_dir]     (default: the directory of this script)

The files are append-only (SafetensorsFile.keep_frozen): a tensor or case an existing file already holds keeps its
stored value, so rerunning on another CPU adds new cases without rewriting the frozen ones.

One source of truth: every case's attributes (stride, padding, eps, …) and the tolerance inputs of every
compared tensor live in the file's __metadata__ under "cases" (a JSON array, as a string — safetensors metadata
values must be strings). The C tests read them from there and never repeat them.

Tolerance inputs ("compare" entries). For a tensor produced by a reduction, the generator stores K, the number
of terms summed into one element (the reduction length), and M, the largest per-element magnitude bound Σ|term|,
computed in float64. Any float32 summation order satisfies |computed − exact| ≤ γ_K·Σ|term|, γ_K ≈ K·2^-24, so
two correct implementations (torch and blasto) differ by at most 2·K·2^-24·M (plus a few roundings of the final
operations). docs/numerics.md ("Golden tests") gives the rule the C test applies and the measured worst errors.
kind "exact": pure data movement, must match bit for bit. kind "elementwise": rtol 1e-5, atol 1e-6.
"""
import json
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F

GENERATOR = "tests/golden/gen_golden.py"
OUT_DIR = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))

torch.set_num_threads(1)  # one fixed reduction order on the generating machine
torch.use_deterministic_algorithms(True)


# ---------------------------------------------------------------------------------------------------------------
# safetensors writer: 8-byte little-endian header length, JSON header padded with spaces to a multiple of 8,
# then the raw little-endian float32 data of every tensor in insertion order (offsets relative to the data start).
# ---------------------------------------------------------------------------------------------------------------
class SafetensorsFile:
    def __init__(self, description):
        self.tensors = []  # (name, float32 numpy array)
        self.names = set()
        self.metadata = {"torch_version": torch.__version__, "generator": GENERATOR, "description": description}

    def add(self, name, tensor):
        if name in self.names:
            raise ValueError("duplicate tensor name " + name)
        array = tensor.detach().to(torch.float32).contiguous().numpy() if torch.is_tensor(tensor) \
            else np.asarray(tensor, dtype=np.float32)
        self.names.add(name)
        # np.array(copy, order C), not np.ascontiguousarray: the latter turns a 0-d scalar into shape [1]
        self.tensors.append((name, np.array(array, dtype="<f4", order="C", copy=True)))

    def keep_frozen(self, path):
        """Golden files are append-only: what an existing file at `path` holds stays as it is. torch's GEMM-based
        results differ in their last bits between CPUs (its kernels depend on the instruction set), so regenerating
        on another machine would rewrite values the tests already pass against. Every tensor name the old file has
        keeps its stored bytes (the shape must agree), every metadata key keeps its value, and for "cases" (a JSON
        array) each case already there keeps its entry; only new tensors and cases are added."""
        if not os.path.exists(path):
            return
        raw = open(path, "rb").read()
        length = struct.unpack("<Q", raw[:8])[0]
        header = json.loads(raw[8:8 + length])
        data = raw[8 + length:]
        old_metadata = header.pop("__metadata__", {})
        kept = 0
        for i, (name, array) in enumerate(self.tensors):
            entry = header.get(name)
            if entry is None:
                continue
            if list(array.shape) != entry["shape"] or entry["dtype"] != "F32":
                raise SystemExit("%s: %s changed shape (%s, now %s): refreezing a golden tensor is not allowed"
                                 % (path, name, entry["shape"], list(array.shape)))
            begin, end = entry["data_offsets"]
            self.tensors[i] = (name, np.frombuffer(data[begin:end], dtype="<f4").reshape(array.shape).copy())
            kept += 1
        for key, value in old_metadata.items():
            if key == "cases" and key in self.metadata:
                old_cases = json.loads(value)
                frozen = {c["name"]: c for c in old_cases}
                new_cases = [frozen.get(c["name"], c) for c in json.loads(self.metadata[key])]
                self.metadata[key] = json.dumps(new_cases, separators=(",", ":"))
            else:
                self.metadata[key] = value
        print("%s: %d of %d tensors kept as frozen" % (path, kept, len(self.tensors)))

    def save(self, path):
        self.keep_frozen(path)
        header, offset = {}, 0
        for name, array in self.tensors:
            header[name] = {"dtype": "F32", "shape": list(array.shape), "data_offsets": [offset, offset + array.nbytes]}
            offset += array.nbytes
        for key, value in self.metadata.items():
            if not isinstance(value, str):
                raise TypeError("metadata values must be strings: " + key)
        header["__metadata__"] = self.metadata
        text = json.dumps(header, separators=(",", ":"), ensure_ascii=True).encode("ascii")
        text += b" " * ((8 - len(text) % 8) % 8)
        with open(path, "wb") as f:
            f.write(struct.pack("<Q", len(text)))
            f.write(text)
            for _, array in self.tensors:
                f.write(array.tobytes())
        print("wrote %s (%d tensors, %d bytes)" % (path, len(self.tensors), os.path.getsize(path)))


def accum(K, magnitude):
    """A 'compare' entry for a reduction of K terms whose per-element Σ|term| is `magnitude` (float64 tensor)."""
    M = float(magnitude.abs().max()) if torch.is_tensor(magnitude) else float(abs(magnitude))
    return {"kind": "accum", "K": int(K), "M": M}


EXACT = {"kind": "exact"}
ELEMENTWISE = {"kind": "elementwise"}


def leaf(t, requires_grad=True):
    return t.detach().clone().requires_grad_(requires_grad)


def grads_of(output, inputs, dy):
    """∂⟨output, dy⟩/∂inputs (None entries skipped)."""
    present = [t for t in inputs if t is not None]
    got = torch.autograd.grad(output, present, dy)
    it = iter(got)
    return [next(it) if t is not None else None for t in inputs]


def abs64(t):
    return None if t is None else t.detach().double().abs().requires_grad_(True)


# ---------------------------------------------------------------------------------------------------------------
# a) ops.safetensors
# ---------------------------------------------------------------------------------------------------------------
def gen_ops(path):
    torch.manual_seed(20240601)
    out = SafetensorsFile("blasto golden ops: inputs, upstream gradients dy, outputs y and gradients of every op "
                          "in core/autograd.h, PyTorch float32 CPU; case attributes and tolerance inputs in "
                          "__metadata__['cases']")
    cases = []

    def case(op, index, attrs, tensors, compare):
        name = "%s/case%d" % (op, index)
        for key, value in tensors.items():
            out.add(name + "/" + key, value)
        missing = [k for k in compare if k not in tensors]
        if missing:
            raise ValueError(name + ": compare names without tensors: " + str(missing))
        cases.append({"op": op, "name": name, "attrs": attrs, "compare": compare})

    # ---- conv2d: y = conv(x, w) + b. Multilinear, so Σ|term| for y, dx, dw, db is the same computation on
    # absolute values (float64): conv(|x|,|w|)+|b| and its gradients against |dy|.
    conv_cases = [
        # N, Cin, H, W, Cout, kh, kw, stride, pad, dil, bias
        (1, 3, 8, 8, 4, 3, 3, (1, 1), (1, 1), (1, 1), True),     # 3×3 "same"
        (2, 3, 9, 11, 5, 3, 3, (2, 2), (1, 1), (1, 1), False),   # stride 2, odd H/W
        (1, 3, 15, 13, 4, 7, 7, (2, 2), (3, 3), (1, 1), False),  # ResNet stem 7×7 s2 p3
        (2, 4, 6, 7, 6, 1, 1, (1, 1), (0, 0), (1, 1), True),     # 1×1
        (2, 4, 9, 11, 6, 1, 1, (2, 2), (0, 0), (1, 1), False),   # 1×1 stride 2 (downsample shortcut)
        (1, 3, 10, 9, 4, 3, 3, (1, 1), (2, 2), (2, 2), True),    # dilation 2
        (2, 3, 9, 11, 4, 3, 3, (1, 1), (0, 0), (1, 1), True),    # padding 0, odd H/W
        (1, 2, 11, 10, 3, 3, 5, (2, 1), (0, 2), (1, 2), True),   # every attribute different in h and w
        (2, 32, 6, 6, 8, 3, 3, (1, 1), (1, 1), (1, 1), False),   # long reduction: K = 288
        (1, 3, 7, 7, 2, 7, 7, (1, 1), (3, 3), (1, 1), True),     # window larger than most of the image
        (1, 2, 13, 12, 3, 3, 3, (2, 2), (0, 0), (2, 2), False),  # dilation 2 with stride 2
    ]
    for i, (n, cin, h, w_, cout, kh, kw, stride, pad, dil, bias) in enumerate(conv_cases):
        x = torch.randn(n, cin, h, w_)
        w = torch.randn(cout, cin, kh, kw) / math.sqrt(cin * kh * kw)
        b = torch.randn(cout) * 0.5 if bias else None
        xl, wl, bl = leaf(x), leaf(w), leaf(b) if bias else None
        y = F.conv2d(xl, wl, bl, stride=stride, padding=pad, dilation=dil)
        dy = torch.randn(y.shape)
        dx, dw, db = grads_of(y, [xl, wl, bl], dy)
        xa, wa, ba = abs64(x), abs64(w), abs64(b)
        ya = F.conv2d(xa, wa, ba, stride=stride, padding=pad, dilation=dil)
        dxa, dwa, dba = grads_of(ya, [xa, wa, ba], dy.double().abs())
        ho, wo = y.shape[2], y.shape[3]
        tensors = {"x": x, "w": w, "dy": dy, "y": y, "dx": dx, "dw": dw}
        compare = {"y": accum(cin * kh * kw + (1 if bias else 0), ya),
                   "dx": accum(cout * kh * kw, dxa),
                   "dw": accum(n * ho * wo, dwa)}
        if bias:
            tensors.update({"b": b, "db": db})
            compare["db"] = accum(n * ho * wo, dba)
        case("conv2d", i, {"stride": list(stride), "pad": list(pad), "dil": list(dil)}, tensors, compare)

    # ---- batchnorm2d. Not multilinear: magnitude bounds follow the structure of the formulas (float64),
    # with xhat = (x − μ)·invstd, K = N·H·W per channel:
    #   y  = γ·xhat + β:                 δμ ≤ γ_K·mean|x|, δvar/var ≤ γ_K (two-pass variance) ⇒
    #                                    M_y  = |γ|·invstd·(mean|x| + |x − μ|) + |β|
    #   dx = γ·invstd·(dy − mean(dy) − xhat·mean(dy·xhat)):
    #                                    M_dx = |γ|·invstd·(|dy| + mean|dy| + (|xhat| + invstd·mean|x|)·mean|dy·xhat|)
    #   dγ = Σ dy·xhat:                  M = Σ|dy|·(|xhat| + invstd·mean|x|);    dβ = Σ dy: M = Σ|dy|
    #   running_mean' = (1−m)·rm + m·μ:  M = (1−m)|rm| + m·mean|x|
    #   running_var'  = (1−m)·rv + m·var·K/(K−1): M = (1−m)|rv| + m·var·K/(K−1)
    # Eval (running statistics are constants): y and dx are a few roundings per element (K = 1).
    bn_cases = [
        # N, C, H, W, eps, momentum, training, track running stats, x mean, x std
        (2, 3, 5, 7, 1e-5, 0.1, True, True, 0.5, 2.0),
        (4, 5, 3, 3, 1.001e-5, 0.01, True, True, -0.3, 1.0),   # Keras ResNet eps, small momentum
        (3, 4, 4, 5, 1e-5, 0.3, True, True, 10.0, 0.5),        # offset ≫ spread: needs a stable variance
        (2, 3, 4, 4, 1e-5, 0.1, True, False, 0.0, 1.0),        # no running statistics (NULL)
        (1, 3, 6, 5, 1e-5, 0.1, True, True, 1.0, 3.0),         # batch of one
        (2, 3, 5, 7, 1e-5, 0.1, False, True, 0.5, 2.0),        # eval
        (2, 4, 3, 6, 1.001e-5, 0.1, False, True, -1.0, 0.7),   # eval, Keras eps
    ]
    for i, (n, c, h, w_, eps, momentum, training, running, mean, std) in enumerate(bn_cases):
        x = torch.randn(n, c, h, w_) * std + mean
        gamma = 1.0 + 0.3 * torch.randn(c)
        beta = 0.5 * torch.randn(c)
        rm0 = torch.randn(c) * 0.5 + (mean if not training else 0.0)
        rv0 = torch.rand(c) * 1.5 + 0.5
        rm, rv = (rm0.clone(), rv0.clone()) if running else (None, None)
        xl, gl, bl = leaf(x), leaf(gamma), leaf(beta)
        y = F.batch_norm(xl, rm, rv, gl, bl, training=training, momentum=momentum, eps=eps)
        dy = torch.randn(y.shape)
        dx, dgamma, dbeta = grads_of(y, [xl, gl, bl], dy)
        K = n * h * w_
        x64, dy64, g64, b64 = x.double(), dy.double(), gamma.double().view(1, c, 1, 1), beta.double().view(1, c, 1, 1)
        dims = (0, 2, 3)
        mean_abs_x = x64.abs().mean(dims, keepdim=True)
        if training:
            mu = x64.mean(dims, keepdim=True)
            var = ((x64 - mu) ** 2).mean(dims, keepdim=True)
            invstd = 1.0 / torch.sqrt(var + eps)
            xhat = (x64 - mu) * invstd
            xhat_err = xhat.abs() + invstd * mean_abs_x
            m_y = g64.abs() * invstd * (mean_abs_x + (x64 - mu).abs()) + b64.abs()
            m_dx = g64.abs() * invstd * (dy64.abs() + dy64.abs().mean(dims, keepdim=True)
                                         + xhat_err * (dy64 * xhat).abs().mean(dims, keepdim=True))
            compare = {"y": accum(K, m_y), "dx": accum(K, m_dx),
                       "dgamma": accum(K, (dy64.abs() * xhat_err).sum(dims)),
                       "dbeta": accum(K, dy64.abs().sum(dims))}
        else:
            invstd = 1.0 / torch.sqrt(rv0.double().view(1, c, 1, 1) + eps)
            xhat = (x64 - rm0.double().view(1, c, 1, 1)) * invstd
            compare = {"y": accum(1, g64.abs() * xhat.abs() + b64.abs()),
                       "dx": accum(1, (g64 * invstd * dy64).abs()),
                       "dgamma": accum(K, (dy64 * xhat).abs().sum(dims)),
                       "dbeta": accum(K, dy64.abs().sum(dims))}
        tensors = {"x": x, "gamma": gamma, "beta": beta, "dy": dy, "y": y, "dx": dx, "dgamma": dgamma,
                   "dbeta": dbeta}
        if running:
            tensors.update({"running_mean": rm0, "running_var": rv0, "running_mean_new": rm, "running_var_new": rv})
            if training:
                var_unbiased = x64.var(dims, unbiased=True)
                compare["running_mean_new"] = accum(K, (1 - momentum) * rm0.double().abs()
                                                    + momentum * mean_abs_x.view(c))
                compare["running_var_new"] = accum(K, (1 - momentum) * rv0.double().abs() + momentum * var_unbiased)
            else:
                compare["running_mean_new"] = EXACT  # eval leaves them untouched
                compare["running_var_new"] = EXACT
        case("batchnorm2d", i, {"eps": eps, "momentum": momentum, "training": training,
                                "track_running_stats": running}, tensors, compare)

    # ---- relu: exact in IEEE arithmetic; case 1 holds exact zeros, where torch's gradient is 0.
    for i in range(2):
        x = torch.randn(2, 3, 4, 5)
        if i == 1:
            x.view(-1)[::7] = 0.0
        xl = leaf(x)
        y = F.relu(xl)
        dy = torch.randn(y.shape)
        (dx,) = grads_of(y, [xl], dy)
        case("relu", i, {}, {"x": x, "dy": dy, "y": y, "dx": dx}, {"y": ELEMENTWISE, "dx": ELEMENTWISE})

    # ---- maxpool2d: inputs are a random permutation of distinct values, so no window has a tie and the
    # argmax is unambiguous. y is a selection (exact); dx sums the dy of every window that picked an element.
    max_cases = [
        # N, C, H, W, kernel, stride, pad
        (2, 3, 9, 11, (3, 3), (2, 2), (1, 1)),   # ResNet stem pool
        (2, 2, 8, 8, (2, 2), (2, 2), (0, 0)),
        (1, 3, 7, 9, (2, 2), (2, 2), (0, 0)),    # odd sizes: floor drops the last row/column
        (1, 2, 7, 7, (3, 3), (1, 1), (1, 1)),    # overlapping windows: dx accumulates
        (1, 2, 9, 8, (3, 2), (2, 1), (1, 0)),    # different h and w attributes
    ]
    for i, (n, c, h, w_, k, s, p) in enumerate(max_cases):
        count = n * c * h * w_
        x = ((torch.randperm(count).float() - count / 2) / count * 4).view(n, c, h, w_)
        xl = leaf(x)
        y, idx = F.max_pool2d(xl, k, s, p, return_indices=True)
        dy = torch.randn(y.shape)
        (dx,) = grads_of(y, [xl], dy)
        windows = -(-k[0] // s[0]) * -(-k[1] // s[1])  # most windows one element can belong to
        dxa = torch.zeros(n, c, h * w_, dtype=torch.float64)
        dxa.scatter_add_(2, idx.view(n, c, -1), dy.double().abs().view(n, c, -1))
        case("maxpool2d", i, {"kernel": list(k), "stride": list(s), "pad": list(p)},
             {"x": x, "dy": dy, "y": y, "dx": dx}, {"y": EXACT, "dx": accum(windows, dxa)})

    # ---- avgpool2d: linear; Σ|term| from the same pooling of |x| and its gradient against |dy|.
    avg_cases = [
        (2, 3, 8, 8, (2, 2), (2, 2), (0, 0), True),
        (2, 3, 7, 9, (3, 3), (1, 1), (1, 1), True),
        (2, 3, 7, 9, (3, 3), (1, 1), (1, 1), False),
        (1, 2, 9, 11, (3, 3), (2, 2), (1, 1), True),
        (1, 2, 9, 11, (3, 3), (2, 2), (1, 1), False),
        (1, 2, 7, 8, (2, 3), (1, 2), (1, 1), False),
    ]
    for i, (n, c, h, w_, k, s, p, include_pad) in enumerate(avg_cases):
        x = torch.randn(n, c, h, w_)
        xl = leaf(x)
        y = F.avg_pool2d(xl, k, s, p, count_include_pad=include_pad)
        dy = torch.randn(y.shape)
        (dx,) = grads_of(y, [xl], dy)
        xa = abs64(x)
        ya = F.avg_pool2d(xa, k, s, p, count_include_pad=include_pad)
        (dxa,) = grads_of(ya, [xa], dy.double().abs())
        windows = -(-k[0] // s[0]) * -(-k[1] // s[1])
        case("avgpool2d", i, {"kernel": list(k), "stride": list(s), "pad": list(p),
                              "count_include_pad": include_pad},
             {"x": x, "dy": dy, "y": y, "dx": dx},
             {"y": accum(k[0] * k[1] + 1, ya), "dx": accum(windows + 1, dxa)})  # +1: the division

    # ---- global average pool: adaptive_avg_pool2d(x, 1) then flatten → [N, C].
    for i, shape in enumerate([(2, 3, 5, 7), (1, 4, 1, 1), (2, 8, 7, 7)]):
        x = torch.randn(*shape) + 0.5
        xl = leaf(x)
        y = F.adaptive_avg_pool2d(xl, 1).flatten(1)
        dy = torch.randn(y.shape)
        (dx,) = grads_of(y, [xl], dy)
        hw = shape[2] * shape[3]
        case("global_avgpool", i, {}, {"x": x, "dy": dy, "y": y, "dx": dx},
             {"y": accum(hw + 1, x.double().abs().mean((2, 3))),
              "dx": accum(2, dy.double().abs() / hw)})

    # ---- linear: y = x·wᵀ + b.
    for i, (n, fin, fout, bias) in enumerate([(4, 10, 3, True), (5, 7, 2, False), (3, 200, 4, True)]):
        x = torch.randn(n, fin)
        w = torch.randn(fout, fin) / math.sqrt(fin)
        b = torch.randn(fout) * 0.5 if bias else None
        xl, wl, bl = leaf(x), leaf(w), leaf(b) if bias else None
        y = F.linear(xl, wl, bl)
        dy = torch.randn(y.shape)
        dx, dw, db = grads_of(y, [xl, wl, bl], dy)
        xa, wa, ba = abs64(x), abs64(w), abs64(b)
        ya = F.linear(xa, wa, ba)
        dxa, dwa, dba = grads_of(ya, [xa, wa, ba], dy.double().abs())
        tensors = {"x": x, "w": w, "dy": dy, "y": y, "dx": dx, "dw": dw}
        compare = {"y": accum(fin + (1 if bias else 0), ya), "dx": accum(fout, dxa), "dw": accum(n, dwa)}
        if bias:
            tensors.update({"b": b, "db": db})
            compare["db"] = accum(n, dba)
        case("linear", i, {}, tensors, compare)

    # ---- add: one rounding per element, identical in any correct implementation; gradients are copies.
    a, b = torch.randn(2, 3, 4, 5), torch.randn(2, 3, 4, 5)
    al, bl = leaf(a), leaf(b)
    y = al + bl
    dy = torch.randn(y.shape)
    da, db = grads_of(y, [al, bl], dy)
    case("add", 0, {}, {"a": a, "b": b, "dy": dy, "y": y, "da": da, "db": db},
         {"y": ELEMENTWISE, "da": ELEMENTWISE, "db": ELEMENTWISE})

    # ---- concat along channels (3 inputs): data movement, exact.
    xs = [torch.randn(2, c, 3, 4) for c in (1, 3, 2)]
    xls = [leaf(t) for t in xs]
    y = torch.cat(xls, dim=1)
    dy = torch.randn(y.shape)
    dxs = grads_of(y, xls, dy)
    tensors = {"dy": dy, "y": y}
    compare = {"y": EXACT}
    for j in range(3):
        tensors["x%d" % j], tensors["dx%d" % j] = xs[j], dxs[j]
        compare["dx%d" % j] = EXACT
    case("concat_channels", 0, {"count": 3}, tensors, compare)

    # ---- reshape (one case with −1 inferred) and flatten: views, exact.
    for i, shape in enumerate([[6, -1], [4, 30], [-1, 5, 2]]):
        x = torch.randn(2, 3, 4, 5)
        xl = leaf(x)
        y = xl.reshape(shape)
        dy = torch.randn(y.shape)
        (dx,) = grads_of(y, [xl], dy)
        case("reshape", i, {"shape": shape}, {"x": x, "dy": dy, "y": y, "dx": dx}, {"y": EXACT, "dx": EXACT})
    for i, shape in enumerate([(2, 3, 4, 5), (3, 7)]):
        x = torch.randn(*shape)
        xl = leaf(x)
        y = torch.flatten(xl, 1)
        dy = torch.randn(y.shape)
        (dx,) = grads_of(y, [xl], dy)
        case("flatten", i, {}, {"x": x, "dy": dy, "y": y, "dx": dx}, {"y": EXACT, "dx": EXACT})

    # ---- sigmoid: exp and a division, a few ulps apart between libms → elementwise tolerance.
    x = torch.rand(3, 7) * 40 - 20
    xl = leaf(x)
    y = torch.sigmoid(xl)
    dy = torch.randn(y.shape)
    (dx,) = grads_of(y, [xl], dy)
    case("sigmoid", 0, {}, {"x": x, "dy": dy, "y": y, "dx": dx}, {"y": ELEMENTWISE, "dx": ELEMENTWISE})

    # ---- BCE with logits, reduction mean: L = mean(w·l), l = max(z,0) − z·t + log(1 + exp(−|z|)).
    # The loss is a mean of n terms (K = n, plus ~4 roundings per term for log1p/exp: K = n + 4);
    # dz_i = dy·w_i·(σ(z_i) − t_i)/n is a few roundings per element (K = 4, M = |dy·w|·(σ + |t|)/n).
    bce_cases = [
        # z shape, targets, weights, logit scale
        ((8,), "binary", False, 3.0),
        ((8, 1), "binary", True, 3.0),
        ((6,), "soft", True, 30.0),   # large |z|: the stable form must not overflow
    ]
    for i, (zshape, targets, weighted, scale) in enumerate(bce_cases):
        n = zshape[0]
        z = torch.randn(*zshape) * scale
        t = (torch.rand(*zshape) < 0.5).float() if targets == "binary" else torch.rand(*zshape)
        w = torch.rand(*zshape) * 1.5 + 0.5 if weighted else None
        zl = leaf(z)
        y = F.binary_cross_entropy_with_logits(zl, t, weight=w, reduction="mean")
        dy = torch.rand(()) + 0.5
        (dz,) = grads_of(y, [zl], dy)
        z64, t64 = z.double(), t.double()
        w64 = w.double() if weighted else torch.ones_like(z64)
        term = w64.abs() * (z64.clamp(min=0) + (z64 * t64).abs() + torch.log1p(torch.exp(-z64.abs())))
        tensors = {"z": z, "t": t, "dy": dy, "y": y, "dz": dz}
        if weighted:
            tensors["w"] = w
        case("bce_with_logits", i, {"weighted": weighted}, tensors,
             {"y": accum(n + 4, term.mean()),
              "dz": accum(4, float(dy) * w64.abs() * (torch.sigmoid(z64) + t64.abs()) / n)})

    # ---- sum and mean over every element.
    for op, fn in (("sum", torch.sum), ("mean", torch.mean)):
        for i, shape in enumerate([(2, 3, 4, 5), (4, 250)]):
            x = torch.randn(*shape) + 1.0
            xl = leaf(x)
            y = fn(xl)
            dy = torch.rand(()) + 0.5
            (dx,) = grads_of(y, [xl], dy)
            count = x.numel()
            m_y = x.double().abs().sum() / (count if op == "mean" else 1)
            case(op, i, {}, {"x": x, "dy": dy, "y": y, "dx": dx},
                 {"y": accum(count + 1, m_y), "dx": accum(2, float(dy) / (count if op == "mean" else 1))})

    # ---- dropout: torch's mask RNG is not ours, so only the identities: p = 0 in training, and eval.
    for i, (p, training) in enumerate([(0.0, True), (0.5, False)]):
        x = torch.randn(2, 3, 4, 5)
        xl = leaf(x)
        y = F.dropout(xl, p=p, training=training)
        dy = torch.randn(y.shape)
        (dx,) = grads_of(y, [xl], dy)
        case("dropout", i, {"p": p, "training": training}, {"x": x, "dy": dy, "y": y, "dx": dx},
             {"y": EXACT, "dx": EXACT})

    # ---- the segmentation ops (drawn after every case above, so the earlier cases' random values are unchanged).
    # conv_transpose2d: multilinear like conv2d, so Σ|term| is the same op on absolute values. y: each output
    # receives at most Cin·kh·kw products, plus the bias.
    upconv_cases = [
        # N, Cin, H, W, Cout, kh, kw, stride, pad, dil, output padding, bias
        (2, 8, 5, 6, 4, 2, 2, (2, 2), (0, 0), (1, 1), (0, 0), True),    # the U-Net up-convolution
        (2, 16, 4, 4, 8, 2, 2, (2, 2), (0, 0), (1, 1), (0, 0), False),
        (1, 3, 5, 6, 4, 3, 3, (2, 2), (1, 1), (1, 1), (1, 1), True),    # output padding
        (2, 3, 6, 7, 5, 3, 3, (2, 1), (1, 0), (2, 1), (1, 0), True),    # every attribute different in h and w
    ]
    for i, (n, cin, h, w_, cout, kh, kw, stride, pad, dil, opad, bias) in enumerate(upconv_cases):
        x = torch.randn(n, cin, h, w_)
        w = torch.randn(cin, cout, kh, kw) / math.sqrt(cin)
        b = torch.randn(cout) * 0.5 if bias else None
        xl, wl, bl = leaf(x), leaf(w), leaf(b) if bias else None
        y = F.conv_transpose2d(xl, wl, bl, stride=stride, padding=pad, output_padding=opad, dilation=dil)
        dy = torch.randn(y.shape)
        dx, dw, db = grads_of(y, [xl, wl, bl], dy)
        xa, wa, ba = abs64(x), abs64(w), abs64(b)
        ya = F.conv_transpose2d(xa, wa, ba, stride=stride, padding=pad, output_padding=opad, dilation=dil)
        dxa, dwa, dba = grads_of(ya, [xa, wa, ba], dy.double().abs())
        tensors = {"x": x, "w": w, "dy": dy, "y": y, "dx": dx, "dw": dw}
        compare = {"y": accum(cin * kh * kw + (1 if bias else 0), ya), "dx": accum(cout * kh * kw, dxa),
                   "dw": accum(n * h * w_, dwa)}
        if bias:
            tensors.update({"b": b, "db": db})
            compare["db"] = accum(n * y.shape[2] * y.shape[3], dba)
        case("conv_transpose2d", i, {"stride": list(stride), "pad": list(pad), "dil": list(dil),
                                     "out_pad": list(opad)}, tensors, compare)

    # upsample_bilinear2d (align_corners=False): y is 4 products; dx gathers at most (⌈out/in⌉ + 1)² per axis pair.
    # torch computes the sample points and weights in float: a weight is off by up to ~in·2^-24 from the exact one,
    # which the extra 2·in terms of K cover (measured by check_ops_bounds below).
    for i, (n, c, h, w_, ho, wo) in enumerate([(2, 3, 7, 9, 14, 18), (2, 3, 5, 7, 13, 11), (1, 4, 20, 17, 7, 9),
                                               (2, 2, 6, 5, 6, 5)]):
        x = torch.randn(n, c, h, w_)
        xl = leaf(x)
        y = F.interpolate(xl, size=(ho, wo), mode="bilinear", align_corners=False)
        dy = torch.randn(y.shape)
        (dx,) = grads_of(y, [xl], dy)
        xa = abs64(x)
        ya = F.interpolate(xa, size=(ho, wo), mode="bilinear", align_corners=False)
        (dxa,) = grads_of(ya, [xa], dy.double().abs())
        weight_error = 2 * max(h, w_)
        span = (ho // h + 2) * (wo // w_ + 2)
        case("upsample_bilinear2d", i, {"size": [ho, wo]}, {"x": x, "dy": dy, "y": y, "dx": dx},
             {"y": accum(4 + weight_error, ya), "dx": accum(span + weight_error, dxa)})

    # softmax_cross_entropy: the per-pixel −log softmax is a few roundings of |lse| + |z_t|; the weighted mean adds
    # P terms (P pixels counted) and one division. dz: a few roundings of w·(p + [k = t])/Σw per element.
    ce_cases = [
        # logits shape, classes drawn from lowest … C−1, ignore_index, weighted, logit scale
        ((2, 3, 8, 9), -1, -1, False, 2.0),
        ((2, 3, 8, 9), -1, -1, True, 2.0),
        ((3, 10, 5, 7), 0, -100, False, 5.0),
        ((16, 5), 0, -100, True, 1.0),
    ]
    for i, (shape, lowest, ignore, weighted, scale) in enumerate(ce_cases):
        classes = shape[1]
        z = torch.randn(*shape) * scale
        labels = torch.randint(lowest, classes, (shape[0],) + tuple(shape[2:]))
        w = torch.rand(classes) * 1.75 + 0.25 if weighted else None
        zl = leaf(z)
        y = F.cross_entropy(zl, labels, weight=w, ignore_index=ignore, reduction="mean")
        dy = torch.rand(()) + 0.5
        (dz,) = grads_of(y, [zl], dy)
        z64 = z.double()
        lse = torch.logsumexp(z64, 1)
        valid = labels != ignore
        t = labels.clamp(min=0)
        w64 = (w.double() if weighted else torch.ones(classes, dtype=torch.float64))[t] * valid
        z_t = z64.gather(1, t.unsqueeze(1)).squeeze(1)
        pixels = int(valid.sum())
        m_y = float((w64 * (lse.abs() + z_t.abs())).sum() / w64.sum())
        p = torch.softmax(z64, 1)
        onehot = F.one_hot(t, classes).movedim(-1, 1).double()
        m_dz = float(dy) * (w64.unsqueeze(1) * (p + onehot)).max() / float(w64.sum())
        tensors = {"z": z, "labels": labels.float(), "dy": dy, "y": y, "dz": dz}
        if weighted:
            tensors["w"] = w
        case("softmax_cross_entropy", i, {"ignore_index": ignore}, tensors,
             {"y": accum(pixels + classes + 4, m_y), "dz": accum(classes + 4, m_dz)})

    # dice_loss has no torch function: the formula of docs/ops/dice_loss.md written with torch ops. The loss is
    # 1 − a mean of ratios of sums over P pixels (relative error ~P·2^-24 each, ratios ≤ 1); dz's terms are
    # p_k·(|a_k| + Σ_j |a_j|·p_j) with a_k from those sums.
    def dice(z, labels, ignore, smooth, skip_background):
        classes = z.shape[1]
        valid = (labels != ignore).unsqueeze(1).to(z.dtype)
        p = torch.softmax(z, 1) * valid
        g = F.one_hot(labels.clamp(min=0), classes).movedim(-1, 1).to(z.dtype) * valid
        dims = (0,) + tuple(range(2, z.dim()))
        ratio = (2 * (p * g).sum(dims) + smooth) / (p.sum(dims) + g.sum(dims) + smooth)
        return 1 - ratio[1 if skip_background else 0:].mean()

    dice_cases = [
        # logits shape, lowest class drawn, ignore_index, smooth, skip background
        ((2, 3, 8, 9), 0, -1, 1.0, False),
        ((2, 3, 8, 9), -1, -1, 1.0, True),
        ((3, 4, 6, 5), -1, -1, 0.5, False),
    ]
    for i, (shape, lowest, ignore, smooth, skip) in enumerate(dice_cases):
        classes = shape[1]
        z = torch.randn(*shape) * 2
        labels = torch.randint(lowest, classes, (shape[0],) + tuple(shape[2:]))
        zl = leaf(z)
        y = dice(zl, labels, ignore, smooth, skip)
        dy = torch.rand(()) + 0.5
        (dz,) = grads_of(y, [zl], dy)
        pixels = int((labels != ignore).sum())
        # |a_k| with the cancelling difference taken in absolute value: A_k = (2·g_k·D_k + 2·I_k + ε)/(m·D_k²)
        valid = (labels != ignore).unsqueeze(1).double()
        p = torch.softmax(z.double(), 1) * valid
        g = F.one_hot(labels.clamp(min=0), classes).movedim(-1, 1).double() * valid
        denom = (p.sum((0, 2, 3)) + g.sum((0, 2, 3)) + smooth).view(1, -1, 1, 1)
        inter = (p * g).sum((0, 2, 3)).view(1, -1, 1, 1)
        averaged = classes - (1 if skip else 0)
        big_a = (2 * g * denom + 2 * inter + smooth) / (averaged * denom ** 2)
        if skip:
            big_a[:, 0] = 0
        m_dz = float(dy) * float((p * (big_a + (big_a * p).sum(1, keepdim=True))).max())
        case("dice_loss", i, {"ignore_index": ignore, "smooth": smooth, "skip_background": skip},
             {"z": z, "labels": labels.float(), "dy": dy, "y": y, "dz": dz},
             {"y": accum(2 * pixels + classes + 8, 1.0), "dz": accum(2 * pixels + classes + 8, m_dz)})

    out.metadata["cases"] = json.dumps(cases, separators=(",", ":"))
    out.save(path)


# ---------------------------------------------------------------------------------------------------------------
# Self-check of the tolerance inputs: read ops.safetensors back with an independent parser, recompute every case
# in float64 from the stored inputs and require torch's float32 results to lie within ONE implementation's share
# of the accum bound, (K + 2)·2^-24·M (the C test allows twice that: torch's share plus blasto's). Exact and
# elementwise entries are checked against their own rules. Prints the worst fraction per op/tensor.
# ---------------------------------------------------------------------------------------------------------------
def read_safetensors(path):
    raw = open(path, "rb").read()
    length = struct.unpack("<Q", raw[:8])[0]
    header = json.loads(raw[8:8 + length])
    data = raw[8 + length:]
    metadata = header.pop("__metadata__")
    tensors = {}
    for name, entry in header.items():
        begin, end = entry["data_offsets"]
        values = np.frombuffer(data[begin:end], dtype="<f4").reshape(entry["shape"])
        tensors[name] = torch.from_numpy(values.astype(np.float64))
    return tensors, metadata


def recompute_float64(op, attrs, get):
    """The case's outputs and gradients in float64 from the stored inputs, by compare name."""
    def grad_leaf(name):
        t = get(name)
        return None if t is None else t.clone().requires_grad_(True)

    x = grad_leaf("x")
    if op == "conv2d":
        w, b = grad_leaf("w"), grad_leaf("b")
        y = F.conv2d(x, w, b, stride=attrs["stride"], padding=attrs["pad"], dilation=attrs["dil"])
        params = {"dx": x, "dw": w, "db": b}
    elif op == "linear":
        w, b = grad_leaf("w"), grad_leaf("b")
        y, params = F.linear(x, w, b), {"dx": x, "dw": w, "db": b}
    elif op == "batchnorm2d":
        gamma, beta = grad_leaf("gamma"), grad_leaf("beta")
        rm = get("running_mean").clone() if get("running_mean") is not None else None
        rv = get("running_var").clone() if get("running_var") is not None else None
        y = F.batch_norm(x, rm, rv, gamma, beta, training=attrs["training"], momentum=attrs["momentum"],
                         eps=attrs["eps"])
        params = {"dx": x, "dgamma": gamma, "dbeta": beta}
    elif op == "maxpool2d":
        y, params = F.max_pool2d(x, attrs["kernel"], attrs["stride"], attrs["pad"]), {"dx": x}
    elif op == "avgpool2d":
        y = F.avg_pool2d(x, attrs["kernel"], attrs["stride"], attrs["pad"],
                         count_include_pad=attrs["count_include_pad"])
        params = {"dx": x}
    elif op == "global_avgpool":
        y, params = x.mean((2, 3)), {"dx": x}
    elif op in ("sum", "mean"):
        y, params = (x.sum() if op == "sum" else x.mean()), {"dx": x}
    elif op == "bce_with_logits":
        z = grad_leaf("z")
        y, params = F.binary_cross_entropy_with_logits(z, get("t"), weight=get("w")), {"dz": z}
    elif op in ("sigmoid", "relu"):
        y, params = (torch.sigmoid(x) if op == "sigmoid" else torch.relu(x)), {"dx": x}
    elif op == "add":
        a, b = grad_leaf("a"), grad_leaf("b")
        y, params = a + b, {"da": a, "db": b}
    elif op == "conv_transpose2d":
        w, b = grad_leaf("w"), grad_leaf("b")
        y = F.conv_transpose2d(x, w, b, stride=attrs["stride"], padding=attrs["pad"],
                               output_padding=attrs["out_pad"], dilation=attrs["dil"])
        params = {"dx": x, "dw": w, "db": b}
    elif op == "upsample_bilinear2d":
        y = F.interpolate(x, size=attrs["size"], mode="bilinear", align_corners=False)
        params = {"dx": x}
    elif op == "softmax_cross_entropy":
        z = grad_leaf("z")
        y = F.cross_entropy(z, get("labels").long(), weight=get("w"), ignore_index=attrs["ignore_index"])
        params = {"dz": z}
    elif op == "dice_loss":
        z, labels, ignore = grad_leaf("z"), get("labels").long(), attrs["ignore_index"]
        valid = (labels != ignore).unsqueeze(1).double()
        p = torch.softmax(z, 1) * valid
        g = F.one_hot(labels.clamp(min=0), z.shape[1]).movedim(-1, 1).double() * valid
        dims = (0, 2, 3)
        ratio = (2 * (p * g).sum(dims) + attrs["smooth"]) / (p.sum(dims) + g.sum(dims) + attrs["smooth"])
        y, params = 1 - ratio[1 if attrs["skip_background"] else 0:].mean(), {"dz": z}
    else:
        return None  # data movement: nothing to recompute
    y.backward(get("dy"))
    result = {"y": y.detach()}
    result.update({k: v.grad for k, v in params.items() if v is not None})
    if op == "batchnorm2d":
        result["running_mean_new"], result["running_var_new"] = rm, rv
    return result


def check_ops_bounds(path):
    tensors, metadata = read_safetensors(path)
    worst = {}
    for c in json.loads(metadata["cases"]):
        result = recompute_float64(c["op"], c["attrs"], lambda key: tensors.get(c["name"] + "/" + key))
        if result is None:
            continue
        for key, spec in c["compare"].items():
            if result.get(key) is None:
                continue
            want, exact = tensors[c["name"] + "/" + key], result[key]
            error = (want - exact).abs()
            if spec["kind"] == "accum":
                share = (spec["K"] + 2) * 2.0 ** -24 * spec["M"]
                fraction = float(error.max()) / share if share > 0 else (0.0 if float(error.max()) == 0 else math.inf)
            elif spec["kind"] == "elementwise":
                fraction = float((error / (1e-6 + 1e-5 * exact.abs())).max())
            else:
                fraction = 0.0 if float(error.max()) == 0 else math.inf
            name = c["op"] + "." + key
            worst[name] = max(worst.get(name, 0.0), fraction)
    print("torch float32 vs float64, worst fraction of one implementation's tolerance share (must be <= 1):")
    for name, fraction in worst.items():
        print("  %-32s %.3g" % (name, fraction))
    bad = [name for name, fraction in worst.items() if fraction > 1]
    if bad:
        raise SystemExit("tolerance inputs too tight for torch itself: " + ", ".join(bad))


# ---------------------------------------------------------------------------------------------------------------
# b) optim.safetensors: one parameter, 5 fixed gradients, the parameter after each step (torch.optim, the
# single-tensor path: foreach=False).
# ---------------------------------------------------------------------------------------------------------------
def gen_optim(path):
    torch.manual_seed(20240602)
    out = SafetensorsFile("blasto golden optimizers: parameter p0, gradients[5] and params[5] after each step of "
                          "torch.optim SGD / Adam / AdamW (foreach=False); hyper-parameters in __metadata__['cases']")
    configs = [
        {"kind": "sgd", "lr": 0.1, "momentum": 0.0, "dampening": 0.0, "weight_decay": 0.0, "nesterov": False},
        {"kind": "sgd", "lr": 0.1, "momentum": 0.9, "dampening": 0.0, "weight_decay": 0.0, "nesterov": False},
        {"kind": "sgd", "lr": 0.1, "momentum": 0.9, "dampening": 0.0, "weight_decay": 0.0, "nesterov": True},
        {"kind": "sgd", "lr": 0.1, "momentum": 0.9, "dampening": 0.1, "weight_decay": 0.0, "nesterov": False},
        {"kind": "sgd", "lr": 0.1, "momentum": 0.9, "dampening": 0.0, "weight_decay": 1e-4, "nesterov": False},
        {"kind": "sgd", "lr": 0.1, "momentum": 0.9, "dampening": 0.0, "weight_decay": 1e-4, "nesterov": True},
        {"kind": "sgd", "lr": 0.1, "momentum": 0.9, "dampening": 0.1, "weight_decay": 1e-4, "nesterov": False},
        {"kind": "adam", "lr": 1e-2, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 0.0},
        {"kind": "adam", "lr": 1e-2, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 1e-2},
        {"kind": "adamw", "lr": 1e-2, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 1e-2},
        {"kind": "adamw", "lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 1e-2},
    ]
    steps = 5
    cases = []
    for i, cfg in enumerate(configs):
        name = "optim/case%d" % i
        p0 = torch.randn(4, 5)
        grads = torch.randn(steps, 4, 5)
        p = p0.clone().requires_grad_(True)
        if cfg["kind"] == "sgd":
            opt = torch.optim.SGD([p], lr=cfg["lr"], momentum=cfg["momentum"], dampening=cfg["dampening"],
                                  weight_decay=cfg["weight_decay"], nesterov=cfg["nesterov"], foreach=False)
        else:
            cls = torch.optim.Adam if cfg["kind"] == "adam" else torch.optim.AdamW
            opt = cls([p], lr=cfg["lr"], betas=(cfg["beta1"], cfg["beta2"]), eps=cfg["eps"],
                      weight_decay=cfg["weight_decay"], foreach=False)
        params = []
        for s in range(steps):
            p.grad = grads[s].clone()
            opt.step()
            params.append(p.detach().clone())
        out.add(name + "/p0", p0)
        out.add(name + "/grads", grads)
        out.add(name + "/params", torch.stack(params))
        cases.append({"name": name, "steps": steps, **cfg})
    out.metadata["cases"] = json.dumps(cases, separators=(",", ":"))
    out.save(path)


# ---------------------------------------------------------------------------------------------------------------
# c) train_cnn.safetensors: a small CNN trained 20 steps with SGD and, from the same init, with AdamW.
# ---------------------------------------------------------------------------------------------------------------
class SmallCNN(torch.nn.Module):
    """conv(3→8,3×3,p1,no bias)–BN–ReLU–maxpool2 → conv(8→16,3×3,p1)–BN–ReLU–maxpool2 → flatten → linear(256→1)."""

    def __init__(self):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, 8, 3, padding=1, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(8)
        self.conv2 = torch.nn.Conv2d(8, 16, 3, padding=1)
        self.bn2 = torch.nn.BatchNorm2d(16)
        self.fc = torch.nn.Linear(16 * 4 * 4, 1)

    def forward(self, x):
        h = F.max_pool2d(F.relu(self.bn1(self.conv1(x))), 2, 2)
        h = F.max_pool2d(F.relu(self.bn2(self.conv2(h))), 2, 2)
        return self.fc(torch.flatten(h, 1)).view(-1)


STATE_NAMES = ["conv1.weight", "bn1.weight", "bn1.bias", "bn1.running_mean", "bn1.running_var",
               "conv2.weight", "conv2.bias", "bn2.weight", "bn2.bias", "bn2.running_mean", "bn2.running_var",
               "fc.weight", "fc.bias"]


def train_run(init, x, t, optimizer, steps, batch, dtype, channels_last=False):
    """Train a copy of `init`; return (per-step losses, state after step 1, final state). Step s uses the
    batch of images 8·(s mod 2) … 8·(s mod 2) + 7; the loss of step s is computed before its update."""
    model = SmallCNN().to(dtype)
    model.load_state_dict({k: v.to(dtype) for k, v in init.items()}, strict=False)
    model.train()
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    if optimizer["kind"] == "sgd":
        opt = torch.optim.SGD(model.parameters(), lr=optimizer["lr"], momentum=optimizer["momentum"],
                              dampening=optimizer["dampening"], weight_decay=optimizer["weight_decay"],
                              nesterov=optimizer["nesterov"], foreach=False)
    else:
        opt = torch.optim.AdamW(model.parameters(), lr=optimizer["lr"], betas=(optimizer["beta1"], optimizer["beta2"]),
                                eps=optimizer["eps"], weight_decay=optimizer["weight_decay"], foreach=False)

    def snapshot():
        state = model.state_dict()
        return {k: state[k].detach().contiguous().clone() for k in STATE_NAMES}

    losses, after_step1 = [], None
    for s in range(steps):
        lo = (s % 2) * batch
        xb, tb = x[lo:lo + batch].to(dtype), t[lo:lo + batch].to(dtype)
        if channels_last:
            xb = xb.contiguous(memory_format=torch.channels_last)
        opt.zero_grad()
        loss = F.binary_cross_entropy_with_logits(model(xb), tb)
        loss.backward()
        opt.step()
        losses.append(float(loss))
        if s == 0:
            after_step1 = snapshot()
    return losses, after_step1, snapshot()


def gen_train(path):
    """The tolerance of a whole training trajectory cannot come from a per-op bound: rounding differences are
    amplified by the dynamics (BN, ReLU switching, momentum). So the generator measures how far OTHER valid
    float32-or-better runs of the same training land from the stored run — the spread: the float64 run, a
    channels_last float32 run (other reduction orders inside oneDNN) and three float32 runs whose initial
    weights are perturbed by ±1 ulp. A correct float32 implementation with its own reduction order should land
    within a small multiple of that spread; docs/numerics.md gives the multiple the C test uses."""
    torch.manual_seed(20240603)
    steps, batch = 20, 8
    # 16 images 3×16×16; label 1 when the red channel is brighter on average than the blue one.
    x = torch.randn(16, 3, 16, 16)
    t = (x[:, 0].mean((1, 2)) > x[:, 2].mean((1, 2))).float()
    init_model = SmallCNN()
    init = {k: v.detach().clone() for k, v in init_model.state_dict().items() if k in STATE_NAMES}
    perturbed_inits = []
    for _ in range(3):  # each element times (1 + r·2^-24), r ∈ {−1, 0, 1}: at most one ulp
        perturbed_inits.append({k: (v.double() * (1 + torch.randint(-1, 2, v.shape).double() * 2.0 ** -24)).float()
                                for k, v in init.items()})
    optimizers = {"sgd": {"kind": "sgd", "lr": 0.05, "momentum": 0.9, "dampening": 0.0, "weight_decay": 0.0,
                          "nesterov": False},
                  "adamw": {"kind": "adamw", "lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8,
                            "weight_decay": 1e-2}}
    out = SafetensorsFile("blasto golden training: SmallCNN (conv-BN-ReLU-maxpool x2, linear, BCE with logits) "
                          "trained 20 steps from init/* on data/x, data/t (batch 8, step s uses images "
                          "8*(s mod 2)..+7) with SGD and with AdamW. <opt>/loss per step (before the update), "
                          "<opt>/step1/* and <opt>/final/* the state after step 1 and after the last step; "
                          "<opt>/loss_spread, <opt>/step1_spread, <opt>/final_spread: max |difference| of other "
                          "valid runs (float64, channels_last, 1-ulp perturbed inits) from the stored run, per "
                          "step and per state tensor (order: config.state_names)")
    out.add("data/x", x)
    out.add("data/t", t)
    for k in STATE_NAMES:
        out.add("init/" + k, init[k])
    for opt_name, cfg in optimizers.items():
        losses, step1, final = train_run(init, x, t, cfg, steps, batch, torch.float32)
        others = [train_run(init, x, t, cfg, steps, batch, torch.float64),
                  train_run(init, x, t, cfg, steps, batch, torch.float32, channels_last=True)]
        others += [train_run(p, x, t, cfg, steps, batch, torch.float32) for p in perturbed_inits]
        loss_spread = [max(abs(o[0][s] - losses[s]) for o in others) for s in range(steps)]

        def state_spread(which, ref):
            return [max(float((o[which][k].double() - ref[k].double()).abs().max()) for o in others)
                    for k in STATE_NAMES]

        step1_spread, final_spread = state_spread(1, step1), state_spread(2, final)
        out.add(opt_name + "/loss", torch.tensor(losses))
        out.add(opt_name + "/loss_spread", torch.tensor(loss_spread))
        out.add(opt_name + "/step1_spread", torch.tensor(step1_spread))
        out.add(opt_name + "/final_spread", torch.tensor(final_spread))
        for k in STATE_NAMES:
            out.add(opt_name + "/step1/" + k, step1[k])
            out.add(opt_name + "/final/" + k, final[k])
        print("%s: losses %s" % (opt_name, " ".join("%.5f" % v for v in losses)))
        print("  spread per step: %s" % " ".join("%.1e" % v for v in loss_spread))
        for i, k in enumerate(STATE_NAMES):
            print("  %-18s step1 spread %.2e  final spread %.2e  max|final| %.3g"
                  % (k, step1_spread[i], final_spread[i], float(final[k].abs().max())))
    out.metadata["config"] = json.dumps({"steps": steps, "batch": batch, "bn_eps": 1e-5, "bn_momentum": 0.1,
                                         "optimizers": optimizers, "state_names": STATE_NAMES},
                                        separators=(",", ":"))
    out.save(path)


if __name__ == "__main__":
    os.makedirs(OUT_DIR, exist_ok=True)
    gen_ops(os.path.join(OUT_DIR, "ops.safetensors"))
    check_ops_bounds(os.path.join(OUT_DIR, "ops.safetensors"))
    gen_optim(os.path.join(OUT_DIR, "optim.safetensors"))
    gen_train(os.path.join(OUT_DIR, "train_cnn.safetensors"))
