#!/usr/bin/python3
"""export_keras_h5.py — Keras applications weights (.h5, .weights.h5) → safetensors with blasto's names, for
`blasto convert --from keras`.

What it is: a reader that places a Keras weights file's tensors the way Keras itself loads them, then renames and
transposes them to torchvision-style keys (docs/weights.md, "Keras files"):
  * legacy HDF5 (Keras 1, 2 and 3 `save_weights`/`save` to .h5; root or `model_weights/` attribute `layer_names`,
    per layer `weight_names`): the layers that have weights are matched IN ORDER against the architecture's layers
    that have weights, and each layer's weights in order — Keras' legacy loader does the same (by_name=False), so
    layer and weight names do not matter: Keras 1 names (`block1_conv1_W_1:0`, the published VGG16 file), Keras 2
    names (`kernel:0`), Keras 3 names (`kernel`) and a user's own layer names all load;
  * Keras 3 native `.weights.h5` (groups `layers/<class>[_k]/vars/<i>`): layer k of a class (conv2d,
    batch_normalization, dense) is the k-th layer of that class in the model, as Keras 3 numbers them.
Every shape is checked against the architecture; names are a cross-check only (a name that Keras gives to a
DIFFERENT layer of the architecture is refused: the file's order is not Keras'), and they make the messages exact:
a missing layer, an extra layer or a transposed kernel is refused naming the layer.
Per weight: Conv2D kernel (kh,kw,cin,cout) → (cout,cin,kh,kw); Dense kernel (in,out) → (out,in); BN gamma, beta,
moving_mean, moving_variance → weight, bias, running_mean, running_var; VGG16 fc1's input axis permuted from
Keras' (h,w,c) flattening to torchvision's (c,h,w) (checked on a random feature map every time it runs).
Architectures: resnet50 → blasto `resnet50-keras` (v1), densenet121 → `densenet121`, vgg16 → `vgg16`.
What it is not: a loader for other Keras models, for optimizer state, or for `.keras` zip archives (extract the
`model.weights.h5` inside one first). Needs Debian's /usr/bin/python3 with python3-h5py and python3-numpy.
tests/golden/gen_keras.py checks it against TensorFlow's Keras itself (files and logits).

Usage:
  /usr/bin/python3 tools/export_keras_h5.py --arch resnet50 resnet50_weights_tf_dim_ordering_tf_kernels.h5 OUT
  blasto convert OUT resnet50-keras.safetensors --from keras
"""
import argparse
import hashlib
import os
import re
import sys
from collections import namedtuple

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from export_torchvision import write_safetensors_raw  # noqa: E402  (the one safetensors writer of tools/)

EXPORTER = "tools/export_keras_h5.py"
BLASTO_ARCH = {"resnet50": "resnet50-keras", "densenet121": "densenet121", "vgg16": "vgg16"}
KERAS_NAME = {"resnet50": "ResNet50", "densenet121": "DenseNet121", "vgg16": "VGG16"}
BN_KINDS = ("gamma", "beta", "moving_mean", "moving_variance")
BLASTO_LEAF = {"kernel": "weight", "bias": "bias", "gamma": "weight", "beta": "bias", "moving_mean": "running_mean",
               "moving_variance": "running_var"}
# The ImageNet classifier is `predictions` in tf.keras; the older keras-applications package called it `probs`
# (resnet_common) or `fc1000` (densenet). Keras 2 names DenseNet121's stem `conv1/conv`, Keras 3 `conv1_conv`.
CLASSIFIER = ("predictions", "probs", "fc1000")

# One layer with weights, as Keras builds the application: `names` (the first is Keras' own, the rest other
# versions' names for the same layer), Keras 3 class key, [(weight kind, Keras shape)], blasto module.
Layer = namedtuple("Layer", "names cls weights module")
# One layer with weights as the file holds it: its name, [(weight name, h5py dataset)], where it is in the file.
FileLayer = namedtuple("FileLayer", "name weights where")


class Refusal(Exception):
    """The file does not hold the architecture's weights; the message names the layer."""


def conv(names, module, k, cin, cout, bias):
    shapes = [("kernel", (k, k, cin, cout))] + ([("bias", (cout,))] if bias else [])
    return Layer(names if isinstance(names, tuple) else (names,), "conv2d", shapes, module)


def bn(names, module, c):
    return Layer(names if isinstance(names, tuple) else (names,), "batch_normalization",
                 [(w, (c,)) for w in BN_KINDS], module)


def dense(names, module, cin, cout):
    return Layer(names if isinstance(names, tuple) else (names,), "dense",
                 [("kernel", (cin, cout)), ("bias", (cout,))], module)


def resnet50_layers():
    """keras/applications/resnet.py ResNet50 (block1, stack1), layers with weights in Keras' model.layers order:
    the first block of a stage builds its 1×1 shortcut after the 3×3 convolution (…_2_bn, _0_conv, _3_conv, _0_bn,
    _3_bn), as TensorFlow 2.15 / Keras 2.15 and Keras 3 both order it."""
    out = [conv("conv1_conv", "conv1", 7, 3, 64, True), bn("conv1_bn", "bn1", 64)]
    cin = 64
    for stage, (filters, blocks) in enumerate([(64, 3), (128, 4), (256, 6), (512, 3)], start=2):
        for b in range(1, blocks + 1):
            name, module = "conv%d_block%d_" % (stage, b), "layer%d.%d." % (stage - 1, b - 1)
            out += [conv(name + "1_conv", module + "conv1", 1, cin, filters, True),
                    bn(name + "1_bn", module + "bn1", filters),
                    conv(name + "2_conv", module + "conv2", 3, filters, filters, True),
                    bn(name + "2_bn", module + "bn2", filters)]
            if b == 1:
                out += [conv(name + "0_conv", module + "downsample.0", 1, cin, 4 * filters, True),
                        conv(name + "3_conv", module + "conv3", 1, filters, 4 * filters, True),
                        bn(name + "0_bn", module + "downsample.1", 4 * filters)]
            else:
                out.append(conv(name + "3_conv", module + "conv3", 1, filters, 4 * filters, True))
            out.append(bn(name + "3_bn", module + "bn3", 4 * filters))
            cin = 4 * filters
    return out + [dense(CLASSIFIER, "fc", 2048, 1000)]


def densenet121_layers():
    """keras/applications/densenet.py DenseNet121 (blocks [6, 12, 24, 16], growth 32, bottleneck 128)."""
    out = [conv(("conv1/conv", "conv1_conv"), "features.conv0", 7, 3, 64, False),
           bn(("conv1/bn", "conv1_bn"), "features.norm0", 64)]
    channels = 64
    for stage, blocks in enumerate([6, 12, 24, 16], start=2):
        for b in range(1, blocks + 1):
            name = "conv%d_block%d_" % (stage, b)
            module = "features.denseblock%d.denselayer%d." % (stage - 1, b)
            out += [bn(name + "0_bn", module + "norm1", channels), conv(name + "1_conv", module + "conv1", 1,
                    channels, 128, False), bn(name + "1_bn", module + "norm2", 128),
                    conv(name + "2_conv", module + "conv2", 3, 128, 32, False)]
            channels += 32
        if stage < 5:
            module = "features.transition%d." % (stage - 1)
            out += [bn("pool%d_bn" % stage, module + "norm", channels),
                    conv("pool%d_conv" % stage, module + "conv", 1, channels, channels // 2, False)]
            channels //= 2
    return out + [bn("bn", "features.norm5", channels), dense(CLASSIFIER, "classifier", channels, 1000)]


def vgg16_layers():
    """keras/applications/vgg16.py VGG16 with its top (fc1, fc2, predictions)."""
    out, cin, index = [], 3, 0
    for block, (convs, filters) in enumerate([(2, 64), (2, 128), (3, 256), (3, 512), (3, 512)], start=1):
        for c in range(1, convs + 1):
            out.append(conv("block%d_conv%d" % (block, c), "features.%d" % index, 3, cin, filters, True))
            cin, index = filters, index + 2
        index += 1  # the max-pool
    return out + [dense("fc1", "classifier.0", 25088, 4096), dense("fc2", "classifier.3", 4096, 4096),
                  dense(CLASSIFIER, "classifier.6", 4096, 1000)]


KERAS_LAYERS = {"resnet50": resnet50_layers, "densenet121": densenet121_layers, "vgg16": vgg16_layers}


def text(value):
    return value.decode("utf8") if isinstance(value, bytes) else str(value)


def weight_kind(layer, name):
    """The kind a weight's name says (`kernel`, `bias`, `gamma`, …), or None when the name says nothing known.
    Keras 2 writes `<layer>/kernel:0`, Keras 3 `<layer>/kernel`, Keras 1 `<layer>/<layer>_W_1:0` (`_W`, `_b`; the
    `_1` a TensorFlow variable suffix, sometimes absent)."""
    short = name.split("/")[-1].split(":")[0]
    if short in BLASTO_LEAF:
        return short
    rest = re.sub(r"_\d+$", "", short[len(layer) + 1:] if short.startswith(layer + "_") else short)
    return {"W": "kernel", "b": "bias", "gamma": "gamma", "beta": "beta", "running_mean": "moving_mean"}.get(rest)


def legacy_layers(group):
    """Layers with weights of a legacy HDF5 file, in the order of its `layer_names` attribute."""
    out = []
    for index, layer in enumerate(text(n) for n in group.attrs["layer_names"]):
        if layer not in group:
            raise Refusal("layer_names[%d] %s: no group of that name in the file" % (index, layer))
        names = [text(n) for n in group[layer].attrs.get("weight_names", [])]
        for name in names:
            if name not in group[layer]:
                raise Refusal("layer %s: weight_names lists %s, which is not in the file" % (layer, name))
        if names:
            out.append(FileLayer(layer, [(n, group[layer][n]) for n in names], "layer_names[%d]" % index))
    return out


def native_layers(group, expected):
    """Keras 3 `.weights.h5`: {class: [FileLayer in the class's order]} and the groups with weights of classes the
    architecture does not have. Layer k (from 0) of class c lives at `layers/<class>` (k = 0) or `layers/<class>_<k>`."""
    by_class, foreign = {layer.cls: [] for layer in expected}, []
    for key in group["layers"]:
        m = re.match(r"^(.*?)(?:_(\d+))?$", key)
        vars_ = group["layers"][key].get("vars")
        if vars_ is None or len(vars_) == 0:
            continue
        name = text(vars_.attrs.get("name", key))
        count = len(vars_)
        if sorted(vars_) != [str(i) for i in range(count)]:
            raise Refusal("layers/%s/vars: expected datasets 0..%d, got %s" % (key, count - 1, sorted(vars_)))
        item = FileLayer(name, [(str(i), vars_[str(i)]) for i in range(count)], "layers/" + key)
        if m.group(1) in by_class:
            by_class[m.group(1)].append((int(m.group(2) or 0), item))
        else:
            foreign.append(item)
    for cls, items in by_class.items():
        items.sort(key=lambda pair: pair[0])
        if [k for k, _ in items] != list(range(len(items))):
            missing = next(k for k in range(len(items) + 1) if k not in [i for i, _ in items])
            raise Refusal("layers/%s%s: missing (the file has later layers of class %s)" %
                          (cls, "_%d" % missing if missing else "", cls))
        by_class[cls] = [item for _, item in items]
    return by_class, foreign


def describe(shape):
    return "(" + ", ".join(str(s) for s in shape) + ")"


def misfit(want, got):
    """Why file layer `got` cannot hold layer `want`'s weights, or None when it can."""
    if len(got.weights) != len(want.weights):
        return "%d weights, expected %d (%s)" % (len(got.weights), len(want.weights),
                                                 ", ".join(k for k, _ in want.weights))
    for (kind, shape), (name, data) in zip(want.weights, got.weights):
        said = weight_kind(got.name, name)
        if said is not None and said != kind:
            return "weight %s is named as a %s where Keras has its %s" % (name, said, kind)
        if tuple(data.shape) != tuple(shape):
            hint = ""
            if sorted(data.shape) == sorted(shape):
                hint = (" — the same sizes in another order: a transposed %s? Keras stores a Conv2D kernel as "
                        "(kh, kw, cin, cout) and a Dense kernel as (in, out)" % kind)
            return "%s %s has shape %s, expected %s%s" % (kind, name, describe(data.shape), describe(shape), hint)
    return None


def match(arch, want, got, what):
    """Pair the architecture's layers `want` with the file's `got` (its `what`: "layers with weights", "conv2d
    layers", …), in order; Refusal names the first layer that does not fit, saying 'missing' or 'extra' where the
    names show which."""
    known = {n: i for i, layer in enumerate(want) for n in layer.names}
    keras = "Keras %s" % KERAS_NAME[arch]
    for i, layer in enumerate(want):
        label = "%s layer %s (%d of its %d %s)" % (keras, layer.names[0], i + 1, len(want), what)
        if i >= len(got) and all(rest.cls == "dense" for rest in want[i:]):
            raise Refusal("%s: missing, with the rest of the ImageNet classifier: the file ends where the classifier "
                          "begins (a _notop file? blasto needs the full model's weights)" % label)
        if i >= len(got):
            raise Refusal("%s: missing (the file's %s end after %d)" % (label, what, len(got)))
        g, problem = got[i], misfit(layer, got[i])
        elsewhere = known.get(g.name, i) != i
        if problem is None and not elsewhere:
            continue
        if i + 1 < len(want) and g.name in want[i + 1].names:
            raise Refusal("%s: missing from the file (its %s is %s, the next layer)" % (label, g.where, g.name))
        if i + 1 < len(got) and got[i + 1].name in layer.names:
            raise Refusal("%s: the file has an extra layer %s (%s) before it" % (label, g.name, g.where))
        if elsewhere:
            raise Refusal("%s: the file's %s is %s, which %s has as its %s %d: the file's order is not Keras'" %
                          (label, g.where, g.name, keras, what, known[g.name] + 1))
        raise Refusal("%s, the file's %s (%s): %s" % (label, g.name, g.where, problem))
    if len(got) > len(want):
        g = got[len(want)]
        raise Refusal("the file has an extra layer %s (%s) after the last of %s's %d %s" %
                      (g.name, g.where, keras, len(want), what))
    return list(zip(want, got))


def read_pairs(arch, path):
    """[(architecture layer, file layer)], the layout's description and the file's Keras version."""
    import h5py
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        with open(path, "rb") as raw:
            if raw.read(4) == b"PK\x03\x04":
                raise Refusal("a zip archive (a Keras 3 .keras file?): extract its model.weights.h5 (unzip) and "
                              "export that")
        raise Refusal("cannot read as HDF5 (%s)" % e)
    want = KERAS_LAYERS[arch]()
    group = f["model_weights"] if "model_weights" in f and isinstance(f["model_weights"], h5py.Group) else f
    if "layer_names" in group.attrs:
        version = text(group.attrs.get("keras_version", f.attrs.get("keras_version", "unknown")))
        got = legacy_layers(group)
        layout = "legacy HDF5 (Keras %s%s)" % (version, ", full model" if group is not f else "")
        return match(arch, want, got, "layers with weights"), layout, version, f
    if "layers" in f and isinstance(f["layers"], h5py.Group):
        by_class, foreign = native_layers(f, want)
        if foreign:
            raise Refusal("%s (%s) has weights, and Keras %s has no layer of that class" %
                          (foreign[0].where, foreign[0].name, KERAS_NAME[arch]))
        pairs = {}
        for cls, items in by_class.items():
            want_cls = [layer for layer in want if layer.cls == cls]
            pairs.update((id(w), (w, g)) for w, g in match(arch, want_cls, items, "%s layers" % cls))
        return [pairs[id(w)] for w in want], "Keras 3 native .weights.h5", "3", f
    raise Refusal("neither a legacy Keras weights file (no `layer_names` attribute at the root or in model_weights) "
                  "nor a Keras 3 .weights.h5 (no `layers` group)")


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
        raise RuntimeError("internal error: fc1 permutation check failed")


def to_blasto(layer, kind, array):
    """One Keras weight → (blasto name, float32 array in torch layout)."""
    if kind == "kernel" and array.ndim == 4:
        array = array.transpose(3, 2, 0, 1)
    elif kind == "kernel" and layer.module == "classifier.0":
        converted = vgg_fc1_to_torch(array)
        check_vgg_fc1(array, converted)
        array = converted
    elif kind == "kernel":
        array = array.T
    return layer.module + "." + BLASTO_LEAF[kind], np.ascontiguousarray(array, dtype=np.float32)


def md5_of(path):
    digest = hashlib.md5()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def export(arch, in_path, out_path):
    pairs, layout, version, f = read_pairs(arch, in_path)
    with f:
        tensors = [to_blasto(want, kind, np.asarray(data)) for want, got in pairs
                   for (kind, _), (_, data) in zip(want.weights, got.weights)]
        other_names = [got.name for want, got in pairs if got.name not in want.names]
    metadata = {"arch": BLASTO_ARCH[arch], "exporter": EXPORTER, "origin": os.path.basename(in_path),
                "origin_md5": md5_of(in_path), "keras_version": version, "keras_layout": layout,
                "keras_layer_names": ("Keras applications' own" if not other_names else
                                      "%d of %d differ from Keras applications' (first: %s); placed by order" %
                                      (len(other_names), len(pairs), other_names[0]))}
    items = [(name, "F32", list(a.shape), a.astype("<f4").tobytes()) for name, a in tensors]
    write_safetensors_raw(out_path, items, metadata)
    print("wrote %s: Keras %s from %s, %s; %d layers with weights placed in order, %d tensors, %d elements%s" %
          (out_path, KERAS_NAME[arch], os.path.basename(in_path), layout, len(pairs), len(tensors),
           sum(a.size for _, a in tensors), "" if not other_names else "; " + metadata["keras_layer_names"]))


def main():
    parser = argparse.ArgumentParser(
        description="Keras applications weights (.h5 of Keras 1/2/3, Keras 3 .weights.h5) → safetensors for "
                    "`blasto convert --from keras`. Layers are placed in order, as Keras loads them.")
    parser.add_argument("--arch", required=True, choices=sorted(KERAS_LAYERS))
    parser.add_argument("input", metavar="IN.h5")
    parser.add_argument("output", metavar="OUT.safetensors")
    args = parser.parse_args()
    if not os.path.isfile(args.input):
        sys.exit("export_keras_h5.py: %s: %s" % (args.input, "no such file" if not os.path.exists(args.input)
                                                  else "not a regular file"))
    try:
        export(args.arch, args.input, args.output)
    except Refusal as e:
        sys.exit("export_keras_h5.py: %s: %s%s" % (args.input, e, other_arch_hint(args.arch, args.input)))


def other_arch_hint(arch, path):
    """' (the file fits --arch X)' when the file's layers fit another architecture, else ''."""
    for other in sorted(KERAS_LAYERS):
        try:
            if other != arch and read_pairs(other, path):
                return " (the file fits --arch %s)" % other
        except Refusal:
            pass
    return ""


if __name__ == "__main__":
    main()
