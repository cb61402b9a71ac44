#!/usr/bin/python3
"""gen_models.py — write the whole-model golden files tests/golden/models_<arch>.safetensors.

What it is: the ONLY way those files are made. For each architecture of models/models.h — torchvision's vgg16,
resnet50 (v1.5) and densenet121 (built with weights=None), and a hand-written PyTorch module for "resnet50-keras"
(Keras applications ResNet50 v1 under torchvision-style names) — it fills every parameter and buffer with the Python
twin of bl_model_fill_deterministic (below), runs a forward at 224×224, batch 2, on an input drawn from the same
counter RNG, seeds backward with an upstream gradient from that RNG, and stores the logits and selected gradients,
in two BN modes:
  "running"  model.eval(): BN normalises with the running statistics;
  "batch"    model.train() with every BN's momentum = 0.0: torch normalises with the batch statistics and its
             running-stat update (1 − 0)·running + 0·batch leaves them unchanged; Dropout modules are put in eval
             mode (identity), so only BN differs from "running".
Weights and inputs are never stored: tests/test_golden_models.c regenerates them with the C generator, so each file
holds only the expected results (~2.7 MB each, ~10 MB in all).
Per stored tensor the metadata also holds max|reference| of the FULL tensor ("max_abs") and the "spread": how far
torch's other valid computations of it land (float64; float32 channels_last; float32 on the input moved ±1 ulp,
twice), max|variant − stored| / max|stored|, and "spread_median", the same with the median instead of the
maximum. At 224×224 whole-network gradients differ by up to a few percent
between ANY two float32 computations (ReLU / max-pool decisions within round-off of their kink flip), so the C test
holds gradients to max(1e-3, 3·spread) and their median error to max(1e-4, 3·spread_median); docs/numerics.md
("Whole-model golden tests") has the measurements.
Gradients that are zero in exact arithmetic (a conv bias just before batch-statistics BN) are listed in
"zero_in_exact_arithmetic" (checked zero in float64 here).
What it is not: a test. It checks nothing about blasto. It needs Debian's /usr/bin/python3 with python3-torch,
python3-torchvision and numpy; the safetensors writer is gen_golden.py's (imported, not copied).

Usage:  /usr/bin/python3 tests/golden/gen_models.py [--out DIR] [--arch A ...] [--no-spread] [--dump-activations DIR]
  --no-spread             skip the variant runs (a quick look; the files the C test reads need them)
  --dump-activations DIR  also write DIR/<arch>_<mode>.safetensors with every module's output (forward hooks,
                          keyed by module path) — compare with the C test's BLASTO_GOLDEN_DUMP output to find the
                          first layer that diverges.

The RNG (core/rng.c, restated): mix = splitmix64 finaliser; stream key = mix(mix(mix(seed+γ) ^ (purpose+γ)) ^
(index+γ)), γ = 0x9E3779B97F4A7C15; the k-th value (k = 1, 2, …) is mix(key + k·γ); a uniform is
(v >> 40)·2^-24 in float32 (exact). bl_model_fill_deterministic(seed) fills tensor `name` from stream
(seed, BL_RNG_INIT = 1, fnv1a64(name)), element i (row-major) taking the (i+1)-th uniform u:
  weight with ndim ≥ 2 (conv, linear): (2u − 1)·bound, bound = (float)sqrt(6/fan_in) in double,
  fan_in = shape[1]·kh·kw; the rest in float32:
  BN weight (ndim 1) and running_var: 0.5 + u;  running_mean and every bias: 0.2·(u − 0.5).
Inputs: x [2,3,224,224] from stream (seed, BL_RNG_TEST = 5, 0) uniform in [−2,2) as −2 + 4u; dy [2,1000] from
(seed, BL_RNG_TEST, 1) uniform in [−1,1) as −1 + 2u (the harness's test_fill_uniform).
"""
import argparse
import copy
import json
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_golden  # noqa: E402  (the safetensors writer; importing it sets 1 thread + deterministic algorithms)
from counter_rng import RNG_INIT, RNG_TEST, deterministic_values, uniforms  # noqa: E402
import torchvision  # noqa: E402

GENERATOR = "tests/golden/gen_models.py"
SEED = 20240603
THREADS = 2
BATCH, SIZE, CLASSES = 2, 224, 1000
FC_ROWS = 16  # rows of the last linear's weight gradient that are stored (the full one is up to 16 MB)

torch.set_num_threads(THREADS)
torch.use_deterministic_algorithms(True)


# ---------------------------------------------------------------------------------------------------------------
# The deterministic fill (models.h) applied to a torch module; the RNG twin itself is counter_rng.py.
# ---------------------------------------------------------------------------------------------------------------
def fill_deterministic(model, seed):
    """Every parameter and float buffer of model.state_dict() (num_batches_tracked excepted) ← the C fill."""
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if name.endswith("num_batches_tracked"):
                continue
            tensor.copy_(torch.from_numpy(deterministic_values(name, tuple(tensor.shape), seed)))


def test_input(seed, index, shape, lo, hi):
    """test_fill_uniform (tests/harness.c): lo + (hi − lo)·u in float32."""
    u = uniforms(seed, RNG_TEST, index, int(np.prod(shape)))
    return torch.from_numpy((np.float32(lo) + np.float32(hi - lo) * u).reshape(shape))


# ---------------------------------------------------------------------------------------------------------------
# Keras applications ResNet50 (v1) as a torch module with torchvision-style names (paper-method.md §3.3):
# stem conv 7×7/2 with bias (Keras ZeroPadding2D(3) + valid conv = torch padding 3), BN eps 1.001e-5, ReLU,
# ZeroPadding2D(1) + MaxPool 3×3/2 (zero padding = −inf padding here because the input is a ReLU output ≥ 0);
# bottleneck: conv1 1×1 WITH the stride, conv2 3×3 "same" stride 1, conv3 1×1, every conv with bias, shortcut
# conv 1×1 with the stride (downsample.0) + BN (downsample.1) in the first block of every stage.
# ---------------------------------------------------------------------------------------------------------------
KERAS_BN_EPS = 1.001e-5


class KerasBottleneck(nn.Module):
    def __init__(self, c_in, width, stride, shortcut_conv):
        super().__init__()
        c_out = 4 * width
        self.conv1 = nn.Conv2d(c_in, width, 1, stride=stride, bias=True)
        self.bn1 = nn.BatchNorm2d(width, eps=KERAS_BN_EPS)
        self.conv2 = nn.Conv2d(width, width, 3, stride=1, padding=1, bias=True)
        self.bn2 = nn.BatchNorm2d(width, eps=KERAS_BN_EPS)
        self.conv3 = nn.Conv2d(width, c_out, 1, bias=True)
        self.bn3 = nn.BatchNorm2d(c_out, eps=KERAS_BN_EPS)
        self.relu = nn.ReLU()
        self.downsample = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=True),
                                        nn.BatchNorm2d(c_out, eps=KERAS_BN_EPS)) if shortcut_conv else None

    def forward(self, x):
        h = self.relu(self.bn1(self.conv1(x)))
        h = self.relu(self.bn2(self.conv2(h)))
        h = self.bn3(self.conv3(h))
        shortcut = self.downsample(x) if self.downsample is not None else x
        return self.relu(h + shortcut)


class KerasResNet50(nn.Module):
    def __init__(self, classes=CLASSES):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=True)
        self.bn1 = nn.BatchNorm2d(64, eps=KERAS_BN_EPS)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        c_in = 64
        for stage, (width, blocks, stride) in enumerate([(64, 3, 1), (128, 4, 2), (256, 6, 2), (512, 3, 2)]):
            layer = []
            for b in range(blocks):
                layer.append(KerasBottleneck(c_in, width, stride if b == 0 else 1, shortcut_conv=(b == 0)))
                c_in = 4 * width
            setattr(self, "layer%d" % (stage + 1), nn.Sequential(*layer))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(2048, classes)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


# ---------------------------------------------------------------------------------------------------------------
# U-Net (models/unet.h) as a torch module with blasto's names: down.i / up.i double convolutions (conv 3×3 without
# bias, BN, ReLU, twice), up.i.upconv a 2×2 stride-2 transposed convolution with bias, the skip concatenated first,
# head a 1×1 convolution with bias.
# ---------------------------------------------------------------------------------------------------------------
UNET = {"in_channels": 1, "classes": 3, "depth": 3, "width": 8, "size": 32}


class UNetBlock(nn.Module):
    def __init__(self, c_in, c_out):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)

    def forward(self, x):
        return torch.relu(self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x))))))


class UNetUp(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.upconv = nn.ConvTranspose2d(2 * c, c, 2, stride=2)  # registered first: state_dict order
        self.conv1 = nn.Conv2d(2 * c, c, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c)
        self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c)

    def up(self, x, skip):
        x = torch.cat([skip, self.upconv(x)], 1)
        return torch.relu(self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x))))))


class UNet(nn.Module):
    def __init__(self, in_channels, classes, depth, width):
        super().__init__()
        self.down = nn.ModuleList([UNetBlock(in_channels if i == 0 else width << (i - 1), width << i)
                                   for i in range(depth + 1)])
        self.up = nn.ModuleList([UNetUp(width << i) for i in range(depth)])
        self.head = nn.Conv2d(width, classes, 1)
        self.depth = depth

    def forward(self, x):
        skips = []
        for i in range(self.depth):
            skips.append(self.down[i](x))
            x = torch.max_pool2d(skips[-1], 2)
        x = self.down[self.depth](x)
        for i in reversed(range(self.depth)):
            x = self.up[i].up(x, skips[i])
        return self.head(x)


# ---------------------------------------------------------------------------------------------------------------
# Per architecture: constructor, and the parameters whose gradients are stored (besides grad.input).
# Stored gradient tensors are named like blasto grad's output: "grad.<parameter name>"; when only the first rows
# are stored the tensor is "grad.<name>[:R]" (max|ref| in the metadata is still that of the FULL gradient).
# ---------------------------------------------------------------------------------------------------------------
ARCHS = {
    "vgg16": {
        "build": lambda: torchvision.models.vgg16(weights=None),
        # VGG has no BN: the middle conv stands in for the middle BN; its weight [256,256,3,3] is 2.4 MB, so
        # its bias and first 16 output channels are stored
        "grads": [("features.0.weight", None), ("features.14.weight", FC_ROWS), ("features.14.bias", None),
                  ("classifier.6.weight", FC_ROWS), ("classifier.6.bias", None)],
    },
    "resnet50": {
        "build": lambda: torchvision.models.resnet50(weights=None),
        "grads": [("conv1.weight", None), ("layer3.2.bn2.weight", None), ("layer3.2.bn2.bias", None),
                  ("fc.weight", FC_ROWS), ("fc.bias", None)],
    },
    "resnet50-keras": {
        "build": KerasResNet50,
        "grads": [("conv1.weight", None), ("conv1.bias", None), ("layer3.2.bn2.weight", None),
                  ("layer3.2.bn2.bias", None), ("fc.weight", FC_ROWS), ("fc.bias", None)],
        "zero_in_mode": {"batch": [("grad.conv1.bias", "grad.conv1.weight")]},
    },
    "densenet121": {
        "build": lambda: torchvision.models.densenet121(weights=None),
        "grads": [("features.conv0.weight", None), ("features.denseblock3.denselayer12.norm2.weight", None),
                  ("features.denseblock3.denselayer12.norm2.bias", None),
                  ("classifier.weight", FC_ROWS), ("classifier.bias", None)],
    },
    "unet": {
        "build": lambda: UNet(UNET["in_channels"], UNET["classes"], UNET["depth"], UNET["width"]),
        "input": (BATCH, UNET["in_channels"], UNET["size"], UNET["size"]),
        "output": (BATCH, UNET["classes"], UNET["size"], UNET["size"]),
        "grads": [("down.0.conv1.weight", None), ("down.2.bn1.weight", None), ("down.2.bn1.bias", None),
                  ("up.1.upconv.weight", None), ("up.1.upconv.bias", None), ("up.0.conv2.weight", None),
                  ("head.weight", None), ("head.bias", None)],
        "metadata": {"unet_" + k: str(v) for k, v in UNET.items()},
    },
}


def set_bn_mode(model, mode):
    if mode == "running":
        model.eval()
        return
    model.train()
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.momentum = 0.0  # batch statistics, running statistics unchanged
        elif isinstance(module, nn.Dropout):
            module.eval()  # identity


def has_batchnorm(model):
    return any(isinstance(m, nn.BatchNorm2d) for m in model.modules())


def attach_dump_hooks(model, store):
    """Forward hooks writing every module's output under its module path (the blasto activation-hook names)."""
    handles = []
    for path, module in model.named_modules():
        if path == "":
            continue

        def hook(_module, _inputs, output, path=path):
            if torch.is_tensor(output):
                store[path] = output.detach().clone()
        handles.append(module.register_forward_hook(hook))
    return handles


def run_mode(model, mode, x, dy, dump_path=None, dtype=torch.float32, channels_last=False):
    """Forward + backward in one BN mode → {"logits": …, "grad.input": …, "grad.<param>": …} (full tensors, in
    float64 for the comparisons; the stored float32 reference converts back exactly)."""
    set_bn_mode(model, mode)
    model.zero_grad(set_to_none=True)
    before = {k: v.clone() for k, v in model.state_dict().items() if "running" in k}
    acts, handles = {}, []
    if dump_path:
        handles = attach_dump_hooks(model, acts)
    xin = x.to(dtype)
    if channels_last:
        xin = xin.contiguous(memory_format=torch.channels_last)
    xin = xin.clone().requires_grad_(True)
    logits = model(xin)
    logits.backward(dy.to(dtype))
    for h in handles:
        h.remove()
    after = model.state_dict()
    for k, v in before.items():  # momentum 0 must leave the running statistics bit-identical
        if not torch.equal(v, after[k]):
            raise RuntimeError("%s changed in mode %s" % (k, mode))
    if dump_path:
        out = gen_golden.SafetensorsFile("torch forward-hook outputs, mode " + mode)
        out.metadata["generator"] = GENERATOR
        for path, t in acts.items():
            out.add(path, t)
        out.add("input", x)
        out.save(dump_path)
    results = {"logits": logits.detach().double(), "grad.input": xin.grad.detach().double()}
    for name, p in model.named_parameters():
        results["grad." + name] = p.grad.detach().double()
    return results


def perturbed_by_one_ulp(x, seed):
    """x with every element moved one float32 ulp up or down (random direction, fixed seed)."""
    up = np.random.default_rng(seed).random(x.shape) < 0.5
    values = x.numpy()
    return torch.from_numpy(np.where(up, np.nextafter(values, np.float32(np.inf)),
                                     np.nextafter(values, np.float32(-np.inf))).astype(np.float32))


# The other valid computations whose distance from the stored float32 result measures how far ANY correct float32
# implementation may land (the "spread"): the same model in float64 (the exact answer to ~1e-15), float32 with
# channels_last (oneDNN's other kernels and summation orders), and float32 on the input moved by ±1 ulp (twice) —
# a perturbation far below float32 round-off in the forward, which flips the few ReLU / max-pool decisions that sit
# within round-off of their kink. docs/numerics.md ("Whole-model golden tests") explains why this is needed.
VARIANTS = [
    ("float64", dict(dtype=torch.float64), None),
    ("float32-channels-last", dict(channels_last=True), None),
    ("float32-input-ulp-a", {}, 1),
    ("float32-input-ulp-b", {}, 2),
]


def variant_spread(model, mode, x, dy, reference, stored, quiet_names=()):
    """Over VARIANTS, per stored (name, rows): the largest max|variant − reference| / max|reference| (over the full
    tensor) and the largest median of |variant − reference| / max|reference| (over the stored rows, the lower
    median, as the C test computes it). The printed summary leaves out `quiet_names` (round-off-only gradients)."""
    spread = {n: 0.0 for n, _ in stored}
    median = {n: 0.0 for n, _ in stored}
    for label, options, ulp_seed in VARIANTS:
        t0 = time.time()
        m = copy.deepcopy(model)
        if options.get("dtype") == torch.float64:
            m = m.double()
        if options.get("channels_last"):
            m = m.to(memory_format=torch.channels_last)
        xin = perturbed_by_one_ulp(x, ulp_seed) if ulp_seed else x
        got = run_mode(m, mode, xin, dy, **options)
        del m
        worst = []
        for n, rows in stored:
            ref = reference[n]
            scale = float(ref.abs().max())
            if scale == 0:
                continue
            diff = (got[n] - ref).abs() / scale
            spread[n] = max(spread[n], float(diff.max()))
            median[n] = max(median[n], float((diff[:rows] if rows else diff).flatten().median()))
            if n not in quiet_names:
                worst.append(float(diff.max()))
        print("    variant %-22s %.1f s, max rel. distance %.2e" % (label, time.time() - t0, max(worst)), flush=True)
    return spread, median


def generate(arch, out_dir, dump_dir, with_spread=True):
    spec = ARCHS[arch]
    started = time.time()
    torch.manual_seed(0)  # the constructors' own init is overwritten; fixed anyway
    model = spec["build"]()
    fill_deterministic(model, SEED)
    print("%s: built and filled in %.1f s" % (arch, time.time() - started), flush=True)
    state = [[k, list(v.shape)] for k, v in model.state_dict().items() if not k.endswith("num_batches_tracked")]
    parameter_count = sum(p.numel() for p in model.parameters())
    x_shape, dy_shape = spec.get("input", (BATCH, 3, SIZE, SIZE)), spec.get("output", (BATCH, CLASSES))
    x = test_input(SEED, 0, x_shape, -2.0, 2.0)
    dy = test_input(SEED, 1, dy_shape, -1.0, 1.0)

    out = gen_golden.SafetensorsFile(
        "blasto whole-model golden results for %s: logits and gradients at %dx%d, batch 2, PyTorch float32 CPU, "
        "weights from the deterministic fill (models.h), input and upstream gradient from the test RNG"
        % (arch, x_shape[2], x_shape[3]))
    out.metadata["generator"] = GENERATOR
    max_abs, spread, spread_median, zero = {}, {}, {}, {}
    modes = ["running", "batch"] if has_batchnorm(model) else ["running"]
    results = {}
    for mode in modes:
        t0 = time.time()
        dump = os.path.join(dump_dir, "%s_%s.safetensors" % (arch, mode)) if dump_dir else None
        ref = run_mode(model, mode, x, dy, dump)
        results[mode] = ref
        stored = [("logits", None), ("grad.input", None)] + [("grad." + n, rows) for n, rows in spec["grads"]]
        for what, rows in stored:
            key = mode + "/" + what + ("[:%d]" % rows if rows else "")
            out.add(key, ref[what][:rows] if rows else ref[what])
            max_abs[key] = float(ref[what].abs().max())
        print("%s %-7s: fwd+bwd %.1f s, max|logits| %.4g, max|grad.input| %.4g" % (
            arch, mode, time.time() - t0, max_abs[mode + "/logits"], max_abs[mode + "/grad.input"]), flush=True)
        if with_spread:
            zero_names = [n for n, _ in spec.get("zero_in_mode", {}).get(mode, [])]
            s, s_median = variant_spread(model, mode, x, dy, ref, stored, zero_names)
            for what, rows in stored:
                spread[mode + "/" + what + ("[:%d]" % rows if rows else "")] = s[what]
                spread_median[mode + "/" + what + ("[:%d]" % rows if rows else "")] = s_median[what]
        # gradients that are exactly zero in exact arithmetic (a conv bias right before batch-statistics BN:
        # BN removes any per-channel constant); what torch stores is round-off, so the C test checks |got|
        # against the scale of a neighbouring gradient instead
        for name, scale_name in spec.get("zero_in_mode", {}).get(mode, []):
            g64 = run_mode(copy.deepcopy(model).double(), mode, x, dy, dtype=torch.float64)
            if float(g64[name].abs().max()) > 1e-9 * float(g64[scale_name].abs().max()):
                raise RuntimeError("%s %s: %s is not zero in float64" % (arch, mode, name))
            zero[mode + "/" + name] = mode + "/" + scale_name
    if "batch" not in modes:
        # no BN: "batch" mode is the same computation (dropout is identity in both); prove it and alias it
        again = run_mode(model, "batch", x, dy, None)
        if not all(torch.equal(again[k], results["running"][k]) for k in again):
            raise RuntimeError(arch + ": batch mode differs from running mode without any BN")

    out.metadata.update({
        "torchvision_version": torchvision.__version__,
        "arch": arch,
        "seed": str(SEED),
        "batch": str(BATCH), "size": str(x_shape[2]), "classes": str(dy_shape[1]),
        "input": "x %s = -2 + 4u, u from stream (seed, BL_RNG_TEST=5, index 0)" % list(x_shape),
        "grad_output": "dy %s = -1 + 2u, u from stream (seed, BL_RNG_TEST=5, index 1); backward of <logits, dy>"
                       % list(dy_shape),
        "fill": "bl_model_fill_deterministic(seed): stream (seed, BL_RNG_INIT=1, fnv1a64(name)); ndim>=2 weight "
                "(2u-1)*(float)sqrt(6/fan_in); BN weight, running_var 0.5+u; running_mean, bias 0.2*(u-0.5); float32",
        "bn_modes": ",".join(modes),
        # the C test reads, per blasto BN mode, which stored prefix holds the expected values
        "prefix.running": "running",
        "prefix.batch": "batch" if "batch" in modes else "running",
        "bn_mode_running": "model.eval()",
        "bn_mode_batch": "model.train(), every BatchNorm2d momentum=0.0 (batch statistics, running stats unchanged, "
                         "checked), Dropout modules eval (identity)" if "batch" in modes else
                         "no BatchNorm: identical to running (checked bit for bit), so stored once",
        "torch_threads": str(torch.get_num_threads()),
        "deterministic_algorithms": str(torch.are_deterministic_algorithms_enabled()),
        "partial_tensors": "grad.<name>[:%d] holds the first %d rows (output channels) only; max_abs and spread are "
                           "those of the full gradient" % (FC_ROWS, FC_ROWS),
        "max_abs": json.dumps(max_abs, separators=(",", ":")),
        "spread": json.dumps(spread, separators=(",", ":")),
        "spread_median": json.dumps(spread_median, separators=(",", ":")),
        "spread_variants": "max over: " + ", ".join(v[0] for v in VARIANTS) + " of max|variant - stored| / "
                           "max|stored| (spread), of the lower median of |variant - stored| / max|stored| over the "
                           "stored rows (spread_median)",
        "zero_in_exact_arithmetic": json.dumps(zero, separators=(",", ":")),
        "state_dict": json.dumps(state, separators=(",", ":")),
        "parameter_count": str(parameter_count),
        "tolerance": "err = max|got-want| / max_abs; logits: err <= 1e-4; gradients: err <= max(1e-3, 3 * spread) "
                     "and median|got-want| / max_abs <= max(1e-4, 3 * spread_median) (docs/numerics.md, "
                     "Whole-model golden tests)",
    })
    out.metadata.update(spec.get("metadata", {}))
    if arch == "resnet50-keras":
        out.metadata["keras_module"] = ("hand-written KerasResNet50 in gen_models.py: stride on conv1 (1x1) and "
                                        "downsample.0, all convs with bias, BN eps 1.001e-5")
    os.makedirs(out_dir, exist_ok=True)
    out.save(os.path.join(out_dir, "models_%s.safetensors" % arch))
    print("%s: parameters %d, %d state tensors, %.1f s" % (arch, parameter_count, len(state),
                                                            time.time() - started), flush=True)


def main():
    parser = argparse.ArgumentParser(description="write tests/golden/models_<arch>.safetensors")
    parser.add_argument("--out", default=os.path.dirname(os.path.abspath(__file__)), help="output directory")
    parser.add_argument("--arch", nargs="*", choices=list(ARCHS), default=list(ARCHS))
    parser.add_argument("--no-spread", action="store_true",
                        help="skip the variant runs (quick look; the C test needs the spread)")
    parser.add_argument("--dump-activations", metavar="DIR", default=None,
                        help="also write every module output (forward hooks) to DIR/<arch>_<mode>.safetensors")
    args = parser.parse_args()
    if args.dump_activations:
        os.makedirs(args.dump_activations, exist_ok=True)
    print("torch %s, torchvision %s, %d threads" % (torch.__version__, torchvision.__version__,
                                                    torch.get_num_threads()), flush=True)
    for arch in args.arch:
        generate(arch, args.out, args.dump_activations, not args.no_spread)


if __name__ == "__main__":
    main()
