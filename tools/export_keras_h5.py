#!/usr/bin/python3
"""export_keras_h5.py — Keras applications ImageNet weights (.h5) → safetensors with blasto's names, for
`blasto convert --from keras`.

What it is: the name map and the layout transposes from Keras 2 `save_weights` HDF5 files (keras-team/keras
v2.10 `keras/saving/hdf5_format.py`: root attribute `layer_names`, one group per layer with attribute
`weight_names` such as `conv2_block1_1_conv/kernel:0`) to torchvision-style keys, as listed in docs/weights.md:
  Conv2D kernel (kh,kw,cin,cout) → (cout,cin,kh,kw);  Dense kernel (in,out) → (out,in);
  BatchNormalization gamma/beta/moving_mean/moving_variance → weight/bias/running_mean/running_var;
  VGG16 fc1: Keras flattens the 7×7×512 map in (h,w,c) order, torchvision in (c,h,w) order, so fc1's input axis is
  permuted (checked by this script on a random feature map every time it runs).
Architectures: resnet50 → blasto `resnet50-keras` (v1: stride on the first 1×1, conv biases, BN eps 1.001e-5),
densenet121 → `densenet121`, vgg16 → `vgg16`. What it is not: a loader for other Keras models or for full-model
files' optimizer state; nor a numerics check against TensorFlow (none is installed here).
Needs Debian's /usr/bin/python3 with python3-h5py and python3-numpy (no TensorFlow, no torch).

Usage:
  /usr/bin/python3 tools/export_keras_h5.py --arch resnet50 resnet50_weights_tf_dim_ordering_tf_kernels.h5 OUT
  blasto convert OUT resnet50-keras.safetensors --from keras
  /usr/bin/python3 tools/export_keras_h5.py --arch resnet50 --fixture FAKE.h5   (random weights in Keras layout,
                                                                                 for tests of this script)
"""
import argparse
import os
import re
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from export_torchvision import write_safetensors_raw  # noqa: E402  (the one safetensors writer of tools/)

EXPORTER = "tools/export_keras_h5.py"
BN_NAMES = {"gamma": "weight", "beta": "bias", "moving_mean": "running_mean", "moving_variance": "running_var"}
VGG16_FEATURES = {(1, 1): 0, (1, 2): 2, (2, 1): 5, (2, 2): 7, (3, 1): 10, (3, 2): 12, (3, 3): 14,
                  (4, 1): 17, (4, 2): 19, (4, 3): 21, (5, 1): 24, (5, 2): 26, (5, 3): 28}
BLASTO_ARCH = {"resnet50": "resnet50-keras", "densenet121": "densenet121", "vgg16": "vgg16"}
# The ImageNet classifier is `predictions` in tf.keras; files saved by the older keras-applications package may
# call it `probs` (resnet_common) or `fc1000` (densenet). Keras loads by layer order, so either name is valid.
CLASSIFIER_NAMES = ("predictions", "probs", "fc1000")


def module_resnet50(layer):
    """Keras ResNet50 layer name → blasto module (keras/applications/resnet.py block1/stack1 names)."""
    if layer in ("conv1_conv", "conv1_bn"):
        return "conv1" if layer.endswith("conv") else "bn1"
    if layer in CLASSIFIER_NAMES:
        return "fc"
    m = re.match(r"^conv([2-5])_block(\d+)_([0-3])_(conv|bn)$", layer)
    if not m:
        return None
    stage, block, k, kind = int(m.group(1)), int(m.group(2)), int(m.group(3)), m.group(4)
    prefix = "layer%d.%d." % (stage - 1, block - 1)
    if k == 0:
        return prefix + ("downsample.0" if kind == "conv" else "downsample.1")
    return prefix + ("conv%d" % k if kind == "conv" else "bn%d" % k)


def module_densenet121(layer):
    """Keras DenseNet121 layer name → blasto module (keras/applications/densenet.py; old files use conv1/conv)."""
    fixed = {"conv1/conv": "features.conv0", "conv1_conv": "features.conv0", "conv1/bn": "features.norm0",
             "conv1_bn": "features.norm0", "bn": "features.norm5"}
    if layer in fixed:
        return fixed[layer]
    if layer in CLASSIFIER_NAMES:
        return "classifier"
    m = re.match(r"^conv([2-5])_block(\d+)_([0-2])_(conv|bn)$", layer)
    if m:
        part = {(0, "bn"): "norm1", (1, "conv"): "conv1", (1, "bn"): "norm2", (2, "conv"): "conv2"}.get(
            (int(m.group(3)), m.group(4)))
        if part:
            return "features.denseblock%d.denselayer%s.%s" % (int(m.group(1)) - 1, m.group(2), part)
    m = re.match(r"^pool([2-4])_(bn|conv)$", layer)
    if m:
        return "features.transition%d.%s" % (int(m.group(1)) - 1, "norm" if m.group(2) == "bn" else "conv")
    return None


def module_vgg16(layer):
    """Keras VGG16 layer name → blasto module (keras/applications/vgg16.py)."""
    m = re.match(r"^block([1-5])_conv([1-3])$", layer)
    if m:
        index = VGG16_FEATURES.get((int(m.group(1)), int(m.group(2))))
        return None if index is None else "features.%d" % index
    if layer in CLASSIFIER_NAMES:
        return "classifier.6"
    return {"fc1": "classifier.0", "fc2": "classifier.3"}.get(layer)


MODULE_OF = {"resnet50": module_resnet50, "densenet121": module_densenet121, "vgg16": module_vgg16}


def text(value):
    return value.decode("utf8") if isinstance(value, bytes) else str(value)


def read_h5(path):
    """[(layer name, weight name without layer prefix and ':0', numpy array)] in the file's layer order."""
    import h5py
    out = []
    with h5py.File(path, "r") as f:
        group = f["model_weights"] if "model_weights" in f else f  # full-model files keep weights there
        if "layer_names" not in group.attrs:
            sys.exit("export_keras_h5.py: %s: no `layer_names` attribute (not a Keras 2 weights file)" % path)
        for layer in (text(n) for n in group.attrs["layer_names"]):
            for weight in (text(n) for n in group[layer].attrs.get("weight_names", [])):
                short = weight_kind(layer, weight.split("/")[-1].split(":")[0])
                out.append((layer, short, np.asarray(group[layer][weight])))
    return out


KERAS1_KINDS = {"W": "kernel", "b": "bias", "gamma": "gamma", "beta": "beta", "running_mean": "moving_mean"}


def weight_kind(layer, short):
    """A weight's kind from its short name: Keras 2 writes `kernel`, `bias`, `gamma`, …; Keras 1 (the published
    VGG16 file `vgg16_weights_tf_dim_ordering_tf_kernels.h5`) writes `<layer>_W_1` and `<layer>_b_1` (the `_1` a
    TensorFlow variable suffix, sometimes absent). Anything else is returned as it is (and refused by convert)."""
    if short in ("kernel", "bias") or short in BN_NAMES:
        return short
    rest = short[len(layer) + 1:] if short.startswith(layer + "_") else short
    rest = re.sub(r"_\d+$", "", rest)
    return KERAS1_KINDS.get(rest, short)


def vgg_fc1_to_torch(kernel):
    """Keras fc1 kernel (25088 = 7·7·512 in (h,w,c) order, 4096) → torchvision weight (4096, 25088 in (c,h,w))."""
    out_features = kernel.shape[1]
    return kernel.reshape(7, 7, 512, out_features).transpose(3, 2, 0, 1).reshape(out_features, 7 * 7 * 512)


def check_vgg_fc1(kernel, weight):
    """The permuted fc1 gives the same output on a random feature map in both layouts."""
    rng = np.random.default_rng(0)
    features_hwc = rng.standard_normal((7, 7, 512)).astype(np.float64)
    keras_out = features_hwc.reshape(-1) @ kernel.astype(np.float64)
    torch_out = weight.astype(np.float64) @ features_hwc.transpose(2, 0, 1).reshape(-1)
    if not np.allclose(keras_out, torch_out, rtol=1e-9, atol=1e-9):
        sys.exit("export_keras_h5.py: internal error: fc1 permutation check failed")


def convert(arch, entries):
    """Keras entries → [(blasto name, float32 array)]; stops on any name it cannot place."""
    module_of, tensors, seen = MODULE_OF[arch], [], set()
    for layer, weight, array in entries:
        module = module_of(layer)
        if module is None:
            sys.exit("export_keras_h5.py: layer %s (weight %s): not part of Keras %s as blasto knows it" %
                     (layer, weight, arch))
        if weight == "kernel" and array.ndim == 4:
            array = array.transpose(3, 2, 0, 1)
        elif weight == "kernel" and array.ndim == 2:
            if module == "classifier.0":
                converted = vgg_fc1_to_torch(array)
                check_vgg_fc1(array, converted)
                array = converted
            else:
                array = array.T
        name = module + "." + (BN_NAMES.get(weight) or {"kernel": "weight", "bias": "bias"}.get(weight, weight))
        if weight not in BN_NAMES and weight not in ("kernel", "bias"):
            sys.exit("export_keras_h5.py: layer %s: unknown weight %s" % (layer, weight))
        if name in seen:
            sys.exit("export_keras_h5.py: %s appears twice (layer %s)" % (name, layer))
        seen.add(name)
        tensors.append((name, np.ascontiguousarray(array, dtype=np.float32)))
    return tensors


def fixture_layers(arch):
    """Keras layer names and weight shapes of `arch` (include_top), from Keras applications' architecture rules —
    independent of blasto's names — for a random test file."""
    layers = []

    def conv(name, k, cin, cout, bias):
        layers.append((name, [("kernel", (k, k, cin, cout))] + ([("bias", (cout,))] if bias else [])))

    def bn(name, c):
        layers.append((name, [(w, (c,)) for w in ("gamma", "beta", "moving_mean", "moving_variance")]))

    if arch == "resnet50":
        conv("conv1_conv", 7, 3, 64, True)
        bn("conv1_bn", 64)
        cin = 64
        for stage, (filters, blocks) in enumerate([(64, 3), (128, 4), (256, 6), (512, 3)], start=2):
            for b in range(1, blocks + 1):
                name = "conv%d_block%d" % (stage, b)
                if b == 1:
                    conv(name + "_0_conv", 1, cin, 4 * filters, True)
                    bn(name + "_0_bn", 4 * filters)
                conv(name + "_1_conv", 1, cin, filters, True)
                bn(name + "_1_bn", filters)
                conv(name + "_2_conv", 3, filters, filters, True)
                bn(name + "_2_bn", filters)
                conv(name + "_3_conv", 1, filters, 4 * filters, True)
                bn(name + "_3_bn", 4 * filters)
                cin = 4 * filters
        layers.append(("predictions", [("kernel", (2048, 1000)), ("bias", (1000,))]))
    elif arch == "densenet121":
        conv("conv1/conv", 7, 3, 64, False)
        bn("conv1/bn", 64)
        channels = 64
        for stage, blocks in enumerate([6, 12, 24, 16], start=2):
            for b in range(1, blocks + 1):
                name = "conv%d_block%d" % (stage, b)
                bn(name + "_0_bn", channels)
                conv(name + "_1_conv", 1, channels, 128, False)
                bn(name + "_1_bn", 128)
                conv(name + "_2_conv", 3, 128, 32, False)
                channels += 32
            if stage < 5:
                bn("pool%d_bn" % stage, channels)
                conv("pool%d_conv" % stage, 1, channels, channels // 2, False)
                channels //= 2
        bn("bn", channels)
        layers.append(("predictions", [("kernel", (channels, 1000)), ("bias", (1000,))]))
    else:
        cin = 3
        for block, (convs, filters) in enumerate([(2, 64), (2, 128), (3, 256), (3, 512), (3, 512)], start=1):
            for c in range(1, convs + 1):
                conv("block%d_conv%d" % (block, c), 3, cin, filters, True)
                cin = filters
        layers.append(("fc1", [("kernel", (25088, 4096)), ("bias", (4096,))]))
        layers.append(("fc2", [("kernel", (4096, 4096)), ("bias", (4096,))]))
        layers.append(("predictions", [("kernel", (4096, 1000)), ("bias", (1000,))]))
    return layers


def write_fixture(arch, path, keras1_names=False):
    """keras1_names: weights named as Keras 1 did (`<layer>_W_1:0`, `<layer>_b_1:0`; convolutions and dense only)."""
    import h5py
    rng = np.random.default_rng(1)
    with h5py.File(path, "w") as f:
        layers = fixture_layers(arch)
        f.attrs["layer_names"] = np.array([n.encode() for n, _ in layers])
        f.attrs["backend"] = b"tensorflow"
        f.attrs["keras_version"] = b"fixture"
        for name, weights in layers:
            g = f.create_group(name)
            stored = [("%s_%s_1" % (name, {"kernel": "W", "bias": "b"}[w]) if keras1_names else w) for w, _ in weights]
            g.attrs["weight_names"] = np.array([("%s/%s:0" % (name, s)).encode() for s in stored])
            for (w, shape), s in zip(weights, stored):
                values = rng.uniform(0.5, 1.5, shape) if w == "moving_variance" else rng.standard_normal(shape) * 0.05
                g.create_dataset("%s/%s:0" % (name, s), data=values.astype(np.float32))
    print("wrote %s: random Keras %s weights in Keras 2 HDF5 layout (%d layers)" % (path, arch, len(layers)))


def main():
    parser = argparse.ArgumentParser(description="Keras applications .h5 weights → safetensors for blasto convert.")
    parser.add_argument("--arch", required=True, choices=sorted(MODULE_OF))
    parser.add_argument("--fixture", action="store_true", help="write random weights in Keras layout to the one path")
    parser.add_argument("--keras1-names", action="store_true",
                        help="with --fixture: name the weights as Keras 1 did (<layer>_W_1, <layer>_b_1; vgg16)")
    parser.add_argument("paths", nargs="+", help="IN.h5 OUT.safetensors (or, with --fixture, OUT.h5)")
    args = parser.parse_args()
    if args.fixture:
        if len(args.paths) != 1:
            parser.error("--fixture takes one path")
        if args.keras1_names and args.arch != "vgg16":
            parser.error("--keras1-names: only vgg16 (Keras 1 batch normalisation layouts are not supported)")
        write_fixture(args.arch, args.paths[0], args.keras1_names)
        return
    if len(args.paths) != 2:
        parser.error("expected IN.h5 OUT.safetensors")
    import h5py
    entries = read_h5(args.paths[0])
    tensors = convert(args.arch, entries)
    with h5py.File(args.paths[0], "r") as f:
        keras_version = text(f.attrs.get("keras_version", "unknown"))
    metadata = {"arch": BLASTO_ARCH[args.arch], "exporter": EXPORTER, "origin": os.path.basename(args.paths[0]),
                "keras_version": keras_version}

    items = [(name, "F32", list(a.shape), a.astype("<f4").tobytes()) for name, a in tensors]
    write_safetensors_raw(args.paths[1], items, metadata)
    print("wrote %s: %s (blasto %s), %d tensors, %d elements" % (args.paths[1], args.arch, BLASTO_ARCH[args.arch],
          len(tensors), sum(a.size for _, a in tensors)))


if __name__ == "__main__":
    main()
