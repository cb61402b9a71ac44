#!/usr/bin/env python3
"""gen_keras.py — freeze real Keras' logits and weights-file digests into tests/golden/keras_logits.safetensors.

What it is: the only way that file is made, and the proof that tests/golden/keras_files.py writes what Keras writes.
Run by hand with TensorFlow from PyPI in a venv, once per Keras major version (the file is merged, not replaced):
  python3 -m venv /tmp/k2 && /tmp/k2/bin/pip install tensorflow-cpu==2.15.1 h5py         # Keras 2.15
  python3 -m venv /tmp/k3 && /tmp/k3/bin/pip install tensorflow-cpu==2.17.1 keras h5py   # Keras 3
  /tmp/k2/bin/python tests/golden/gen_keras.py && /tmp/k3/bin/python tests/golden/gen_keras.py
For ResNet50, DenseNet121 and VGG16 (keras.applications, weights=None, classifier_activation=None: logits):
  1. every layer with weights gets keras_files.keras_weights(arch) — blasto's deterministic weights in Keras layout —
     by model.layers order, each name checked against export_keras_h5.py's architecture (so its order is Keras');
  2. logits = model(x, training=False) on x = keras_files.test_input() in NHWC; stored as "<arch>/keras<major>";
  3. each layout this Keras writes is saved by Keras itself and its loader-view digest compared with the file
     keras_files.py writes (Keras 2: keras2 with save_weights, keras2-renamed with save_weights of the application cloned
     with its layers named as Keras names unnamed ones; Keras 3: keras3 with save_weights to .weights.h5, keras3-h5 with save to .h5); a difference stops;
  4. each layout keras_files.py writes is loaded by this Keras into a fresh model (load_weights: by order for the
     legacy layouts, by class index for the native one) and must give the stored logits exactly.
The digests (one per arch and layout) go into __metadata__ "digest/<arch>/<layout>", with the versions used.
What it is not: a test of blasto; tests/test_keras_files.c is. Nothing here runs at test time.
"""
import json
import os
import struct
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "..", "tools"))
import keras_files as kf  # noqa: E402
from export_torchvision import write_safetensors_raw  # noqa: E402

OUT = os.path.join(HERE, "keras_logits.safetensors")
GENERATOR = "tests/golden/gen_keras.py"


def read_safetensors(path):
    """{name: float32 array}, metadata — for merging with an existing file."""
    if not os.path.exists(path):
        return {}, {}
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    meta = header.pop("__metadata__", {})
    return {k: np.frombuffer(data[v["data_offsets"][0]:v["data_offsets"][1]], dtype="<f4").reshape(v["shape"])
            for k, v in header.items()}, meta


def build(keras, arch):
    ctor = {"resnet50": keras.applications.ResNet50, "densenet121": keras.applications.DenseNet121,
            "vgg16": keras.applications.VGG16}[arch]
    return ctor(weights=None, classifier_activation=None)


def set_weights(model, arch, check_names=True):
    layers = [layer for layer in model.layers if layer.weights]
    weights = kf.keras_weights(arch)
    if len(layers) != len(weights):
        sys.exit("%s: Keras has %d layers with weights, export_keras_h5.py %d" % (arch, len(layers), len(weights)))
    for layer, (want, arrays) in zip(layers, weights):
        if check_names and layer.name not in want.names:
            sys.exit("%s: Keras' layer %s where export_keras_h5.py has %s" % (arch, layer.name, want.names[0]))
        layer.set_weights(arrays)


def renamed_clone(keras, arch, model):
    """The application rebuilt with the layers that have weights named as Keras names unnamed layers (conv2d,
    conv2d_1, …): what a user's own model of the same architecture looks like (its weights are named after them)."""
    names = dict(zip([layer.name for layer in model.layers if layer.weights],
                     kf.auto_names(kf.ek.KERAS_LAYERS[arch]())))

    def clone(layer):
        config = layer.get_config()
        config["name"] = names.get(layer.name, layer.name)
        return layer.__class__.from_config(config)

    copy = keras.models.clone_model(model, clone_function=clone)
    set_weights(copy, arch, check_names=False)
    return copy


def keras_writes(keras, arch, model, layout, path):
    """Save `model` with Keras in `layout`, or return False when this Keras does not write that layout."""
    major = keras.__version__.split(".")[0]
    if major == "2" and layout == "keras2":
        model.save_weights(path)
    elif major == "2" and layout == "keras2-renamed":
        renamed_clone(keras, arch, model).save_weights(path)
    elif major == "3" and layout == "keras3":
        model.save_weights(path)
    elif major == "3" and layout == "keras3-h5":
        model.save(path)
    else:
        return False
    return True


def main():
    import tensorflow as tf
    import keras
    major = keras.__version__.split(".")[0]
    tensors, meta = read_safetensors(OUT)
    meta.update({"generator": GENERATOR, "keras%s" % major: "Keras %s, TensorFlow %s" % (keras.__version__,
                 tf.__version__), "input": "x [%d,3,%d,%d] = -2 + 4u, u from stream (seed %d, BL_RNG_TEST=5, index 0), "
                 "NCHW (Keras gets its NHWC transpose)" % (kf.BATCH, kf.SIZE, kf.SIZE, kf.SEED),
                 "weights": "bl_model_fill_deterministic(seed %d) of the blasto names, in Keras layout" % kf.SEED,
                 "seed": str(kf.SEED)})
    x = kf.test_input().transpose(0, 2, 3, 1).copy()
    tmp = tempfile.mkdtemp(prefix="gen_keras_")
    for arch in ("resnet50", "densenet121", "vgg16"):
        model = build(keras, arch)
        set_weights(model, arch)
        logits = np.asarray(model(x, training=False), dtype=np.float32)
        tensors["%s/keras%s" % (arch, major)] = logits
        print("%s: Keras %s logits %s, max|.| %.4g" % (arch, keras.__version__, logits.shape, np.abs(logits).max()))
        for layout in kf.layouts_of(arch):
            ours = os.path.join(tmp, "ours" + (".weights.h5" if layout == "keras3" else ".h5"))
            theirs = os.path.join(tmp, "keras" + (".weights.h5" if layout == "keras3" else ".h5"))
            digest = kf.write(ours, arch, layout)
            meta["digest/%s/%s" % (arch, layout)] = digest
            written = keras_writes(keras, arch, model, layout, theirs)
            if written:
                got = kf.digest(theirs)
                if got != digest:
                    sys.exit("%s %s: Keras' file has loader-view digest %s, keras_files.py's %s" %
                             (arch, layout, got, digest))
                os.remove(theirs)
                meta["keras-wrote/%s/%s" % (arch, layout)] = "Keras %s: the same loader view" % keras.__version__
            fresh = build(keras, arch)
            try:
                fresh.load_weights(ours)
                loaded = np.asarray(fresh(x, training=False), dtype=np.float32)
                same = np.array_equal(loaded, logits)
                verdict = "loads, logits %s" % ("identical" if same else "DIFFER by %.3g" % np.abs(loaded - logits).max())
                if not same:
                    sys.exit("%s %s: %s" % (arch, layout, verdict))
            except Exception as e:  # a layout this Keras cannot read (noted, not fatal)
                verdict = "not loadable by this Keras (%s)" % str(e).splitlines()[0][:120]
            meta["loaded-by-keras%s/%s/%s" % (major, arch, layout)] = verdict
            print("  %-15s %s%s" % (layout, verdict, ", Keras' own file has the same digest" if written else ""))
            os.remove(ours)
    items = [(name, "F32", list(a.shape), np.ascontiguousarray(a, dtype="<f4").tobytes())
             for name, a in sorted(tensors.items())]
    write_safetensors_raw(OUT, items, meta)
    os.rmdir(tmp)
    print("wrote", OUT)


if __name__ == "__main__":
    main()
