#!/usr/bin/python3
"""keras_files.py — Keras weights files of ResNet50, DenseNet121 and VGG16 in every layout blasto reads, written
with h5py from blasto's deterministic weights, exactly as Keras writes them (as far as a loader reads them).

What it is: the test-time stand-in for TensorFlow. tests/golden/gen_keras.py (run by hand with TensorFlow) saves
the same weights with Keras itself, checks that Keras' files and these have the same `loader view` (digest below)
and that Keras loads these files to the same logits, and freezes the digests and Keras' logits in
tests/golden/keras_logits.safetensors; tests/test_keras_files.c regenerates the files here (no TensorFlow), checks
their digests against the frozen ones, converts them and compares blasto's logits with Keras'.
Weights: every tensor is bl_model_fill_deterministic(SEED)'s value for the blasto name it converts to (counter_rng.py),
put into Keras' layout (the inverse of tools/export_keras_h5.py's transposes).
Layouts:
  keras2          Keras 2 `save_weights("x.h5")`: root attributes backend, keras_version, layer_names; one group per
                  layer with attribute weight_names `<layer>/kernel:0`; datasets `<layer>/<layer>/kernel:0`
  keras2-renamed  the same with the layer names Keras gives a model built without names (conv2d, conv2d_1,
                  batch_normalization, …, dense): a user's own model; Keras loads it by order
  keras1          Keras 1 weight names, as in the published VGG16 file: `<layer>/<layer>_W_1:0`, `_b_1:0`; no
                  keras_version attribute (VGG16 only: the file that exists)
  keras3-h5       Keras 3 `save("x.h5")` (its only .h5 writer; `save_weights` insists on .weights.h5): the legacy
                  layout under group model_weights, weight names without `:0`, keras_version 3.x
  keras3          Keras 3 native `.weights.h5`: `layers/<class>[_k]/vars/<i>` with attribute name, `vars` at the root
Faults (keras2 layout, for the refusal tests): missing (one layer left out), extra (one layer added), transposed (a
Conv2D kernel stored as (cout, cin, kh, kw)), missing-native (keras3 layout written for a model without one BN),
notop (no classifier, as the published `_notop` files).
Layers without weights (pooling, activations, …) are not written: neither Keras' loaders nor blasto's read them.
The loader view: legacy — backend, keras_version, whether under model_weights, and for every layer with weights in
layer_names order its name, weight_names, and each dataset's dtype, shape and bytes; native — every group under
layers/ with non-empty vars (key, name attribute, datasets) and the root vars' name. Its sha256 is the digest.
Needs numpy and h5py (Debian's python3-h5py).

Usage:
  keras_files.py --arch A --layout L [--fault F] OUT.h5      write one file (prints its digest)
  keras_files.py --digest FILE.h5                             print a file's loader-view digest
"""
import argparse
import hashlib
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools"))
from counter_rng import RNG_TEST, deterministic_values, uniforms  # noqa: E402
import export_keras_h5 as ek  # noqa: E402  (the architecture as Keras builds it: names, order, shapes, modules)

SEED = 20240603  # the seed of the whole-model goldens (gen_models.py)
BATCH, SIZE = 2, 224
LAYOUTS = ("keras2", "keras2-renamed", "keras1", "keras3-h5", "keras3")
FAULTS = ("missing", "extra", "transposed", "missing-native", "notop")
MODEL_NAME = {"resnet50": "resnet50", "densenet121": "densenet121", "vgg16": "vgg16"}
KERAS_VERSION = {"keras2": "2.15.0", "keras2-renamed": "2.15.0", "keras3-h5": "3.15.1"}


def layouts_of(arch):
    return [layout for layout in LAYOUTS if layout != "keras1" or arch == "vgg16"]


def test_input():
    """x [BATCH, 3, SIZE, SIZE] (NCHW) = −2 + 4u, u from stream (SEED, RNG_TEST, 0): the harness's
    test_fill_uniform, as in gen_models.py."""
    u = uniforms(SEED, RNG_TEST, 0, BATCH * 3 * SIZE * SIZE)
    return (np.float32(-2) + np.float32(4) * u).reshape(BATCH, 3, SIZE, SIZE)


def keras_array(layer, kind, shape):
    """The Keras-layout value of weight `kind` of `layer`: blasto's deterministic tensor, transposed back."""
    name = layer.module + "." + ek.BLASTO_LEAF[kind]
    if kind == "kernel" and len(shape) == 4:
        kh, kw, cin, cout = shape
        return deterministic_values(name, (cout, cin, kh, kw), SEED).transpose(2, 3, 1, 0)
    if kind == "kernel" and layer.module == "classifier.0":  # VGG16 fc1: torch (out, c·h·w) → Keras (h·w·c, out)
        out = shape[1]
        weight = deterministic_values(name, (out, 512, 7, 7), SEED)
        return weight.transpose(2, 3, 1, 0).reshape(7 * 7 * 512, out)
    if kind == "kernel":
        return deterministic_values(name, (shape[1], shape[0]), SEED).T
    return deterministic_values(name, shape, SEED)


def keras_weights(arch):
    """[(export_keras_h5.Layer, [Keras-layout float32 arrays])] in Keras' order."""
    return [(layer, [np.ascontiguousarray(keras_array(layer, kind, shape), dtype=np.float32)
                     for kind, shape in layer.weights]) for layer in ek.KERAS_LAYERS[arch]()]


def auto_names(layers):
    """The names Keras gives unnamed layers: the class key, then `_1`, `_2`, … per class."""
    count, out = {}, []
    for layer in layers:
        k = count.get(layer.cls, 0)
        count[layer.cls] = k + 1
        out.append(layer.cls if k == 0 else "%s_%d" % (layer.cls, k))
    return out


def stored_name(layer_name, kind, layout):
    if layout == "keras1":
        return "%s_%s_1:0" % (layer_name, {"kernel": "W", "bias": "b"}[kind])
    return kind if layout == "keras3-h5" else kind + ":0"


def apply_fault(arch, entries, fault):
    """entries [(name, layer, arrays)] with one fault put in (the layers named are Keras ResNet50's)."""
    index = {name: i for i, (name, _, _) in enumerate(entries)}
    if fault == "missing":
        del entries[index["conv2_block2_1_bn"]]
    elif fault == "extra":
        name, layer, arrays = entries[index["conv2_block2_1_conv"]]
        entries.insert(index["conv2_block2_1_conv"] + 1, ("extra_conv", layer, [a.copy() for a in arrays]))
    elif fault == "notop":
        entries = [entry for entry in entries if entry[1].cls != "dense"]
    elif fault == "transposed":
        name, layer, arrays = entries[index["conv3_block1_2_conv"]]
        entries[index[name]] = (name, layer, [np.ascontiguousarray(arrays[0].transpose(3, 2, 0, 1))] + arrays[1:])
    return entries


def write_legacy(f, layout, entries):
    if layout != "keras1":
        f.attrs["backend"] = "tensorflow"
        f.attrs["keras_version"] = KERAS_VERSION[layout]
    if layout == "keras3-h5":  # a whole-model file: the weights sit under model_weights, which repeats the attributes
        f = f.create_group("model_weights")
        f.attrs["backend"] = "tensorflow"
        f.attrs["keras_version"] = KERAS_VERSION[layout]
    f.attrs["layer_names"] = np.array([name.encode("utf8") for name, _, _ in entries])
    for name, layer, arrays in entries:
        group = f.create_group(name)
        stored = [stored_name(name.split("/")[-1], kind, layout) for kind, _ in layer.weights]
        group.attrs["weight_names"] = np.array([("%s/%s" % (name, s)).encode("utf8") for s in stored])
        for s, array in zip(stored, arrays):
            group.create_dataset("%s/%s" % (name, s), data=array)


def write_native(f, arch, entries):
    f.create_group("layers")
    f.create_group("vars").attrs["name"] = MODEL_NAME[arch]
    for key, (name, _, arrays) in zip(auto_names([layer for _, layer, _ in entries]), entries):
        group = f.create_group("layers/%s/vars" % key)
        group.attrs["name"] = name
        for i, array in enumerate(arrays):
            group.create_dataset(str(i), data=array)


def write(path, arch, layout, fault=None):
    import h5py
    weights = keras_weights(arch)
    if layout == "keras2-renamed":
        names = auto_names([layer for layer, _ in weights])
    elif layout.startswith("keras3"):
        names = [keras3_name(layer) for layer, _ in weights]
    else:
        names = [layer.names[0] for layer, _ in weights]
    entries = [(name, layer, arrays) for name, (layer, arrays) in zip(names, weights)]
    if fault == "missing-native":
        entries = apply_fault(arch, entries, "missing")
    elif fault:
        entries = apply_fault(arch, entries, fault)
    with h5py.File(path, "w") as f:
        if layout == "keras3":
            write_native(f, arch, entries)
        else:
            write_legacy(f, layout, entries)
    return digest(path)


def keras3_name(layer):
    """Keras 3 renamed DenseNet121's stem `conv1/conv` → `conv1_conv` (a `/` is not allowed in its names)."""
    return next((n for n in layer.names if "/" not in n), layer.names[0])


def digest(path):
    """sha256 of the loader view (see the module's description)."""
    import h5py
    h = hashlib.sha256()

    def put(*items):
        for item in items:
            h.update(repr(item).encode("utf8"))

    def dataset(d):
        put(str(d.dtype), tuple(d.shape))
        h.update(np.ascontiguousarray(d[()]).tobytes())

    with h5py.File(path, "r") as f:
        if "layers" in f and "layer_names" not in f.attrs:
            put("native", ek.text(f["vars"].attrs.get("name", "")))
            for key in sorted(f["layers"]):
                vars_ = f["layers"][key].get("vars")
                if vars_ is None or len(vars_) == 0:
                    continue
                put(key, ek.text(vars_.attrs.get("name", "")))
                for i in range(len(vars_)):
                    dataset(vars_[str(i)])
            return h.hexdigest()
        group = f["model_weights"] if "model_weights" in f else f
        put("legacy", "model_weights" in f, ek.text(group.attrs.get("backend", f.attrs.get("backend", ""))),
            ek.text(group.attrs.get("keras_version", f.attrs.get("keras_version", ""))))
        for layer in (ek.text(n) for n in group.attrs["layer_names"]):
            names = [ek.text(n) for n in group[layer].attrs.get("weight_names", [])]
            if names:
                put(layer, names)
                for n in names:
                    dataset(group[layer][n])
    return h.hexdigest()


def main():
    parser = argparse.ArgumentParser(description="Keras weights files from blasto's deterministic weights.")
    parser.add_argument("--arch", choices=sorted(ek.KERAS_LAYERS))
    parser.add_argument("--layout", choices=LAYOUTS)
    parser.add_argument("--fault", choices=FAULTS)
    parser.add_argument("--digest", action="store_true", help="print the loader-view digest of PATH")
    parser.add_argument("path")
    args = parser.parse_args()
    if args.digest:
        print(digest(args.path))
        return
    if not args.arch or not args.layout:
        parser.error("--arch and --layout are needed to write a file")
    if args.layout == "keras1" and args.arch != "vgg16":
        parser.error("--layout keras1: VGG16 only (the published Keras 1 file)")
    print(write(args.path, args.arch, args.layout, args.fault))


if __name__ == "__main__":
    main()
