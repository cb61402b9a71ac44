#!/usr/bin/python3
"""gen_augment.py — golden fixtures for blasto's preprocessing and augmentation (tools/study/preprocess.c, augment.c).

Run with Debian's interpreter and packages (python3-opencv 4.6, python3-numpy); no TensorFlow is needed:

    /usr/bin/python3 tests/golden/gen_augment.py            # writes tests/golden/{resize,augment}.safetensors
    /usr/bin/python3 tests/golden/gen_augment.py /tmp/gold  # or somewhere else, to compare

resize.safetensors   cv2.resize(float32, INTER_LINEAR) outputs — the reference itself, compared bit for bit-ish
                     (max |diff| <= 1e-5 required, 0 expected). Cases: down / up / mixed / exactly 2x down (cv2's
                     INTER_AREA fast path, 1 and 3 channels) / 1x1 source / identity / a 500x375 -> 224x224 image
                     whose source comes from blasto's counter RNG (re-implemented below) so only a few output rows
                     are stored.
augment.safetensors  the TF 2.10 augmentation ops restated in float64 numpy from TensorFlow's kernels
                     (adjust_saturation_op.cc rgb_to_hsv / hsv_to_rgb, adjust_contrast_op.h AdjustContrastv2,
                     image_ops_impl.py adjust_brightness / flips) — NOT TensorFlow output; C must agree within 1e-6.
                     Plus whole-pipeline cases whose random draws follow blasto's keyed stream (augment.h), so the
                     fixture also pins the draw order and keys.

The safetensors format is written by hand (8-byte little-endian header length, JSON header padded with spaces to a
multiple of 8, raw little-endian float32 data); __metadata__["cases"] is a JSON array describing every case.
"""
import json
import os
import struct
import sys

import cv2
import numpy as np

GENERATOR = "tests/golden/gen_augment.py"
MASK = (1 << 64) - 1
GAMMA = 0x9E3779B97F4A7C15
RNG_AUGMENT = 4
RNG_TEST = 5


# ---------------------------------------------------------------------------------------------------------------
# blasto's counter RNG (core/rng.c) and the augmentation keys (tools/study/augment.c)
# ---------------------------------------------------------------------------------------------------------------
def mix64(z):
    z &= MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


class Stream:
    def __init__(self, seed, purpose, index):
        key = mix64(seed + GAMMA)
        key = mix64(key ^ ((purpose + GAMMA) & MASK))
        self.key = mix64(key ^ ((index + GAMMA) & MASK))
        self.counter = 0

    def next_u64(self):
        self.counter += 1
        return mix64(self.key + self.counter * GAMMA)

    def uniform(self):  # float32: top 24 bits * 2^-24
        return np.float32(self.next_u64() >> 40) * np.float32(1.0 / 16777216.0)

    def uniform_range(self, lo, hi):  # lo + (hi - lo) * u, every operation in float32
        lo, hi = np.float32(lo), np.float32(hi)
        return np.float32(lo + np.float32(np.float32(hi - lo) * self.uniform()))


def sample_key(text):  # FNV-1a 64
    h = 0xcbf29ce484222325
    for byte in text.encode("utf-8"):
        h = ((h ^ byte) * 0x100000001b3) & MASK
    return h


def stream_index(epoch, key):
    return mix64((key + GAMMA * (epoch + 1)) & MASK)


def draws(options, seed, epoch, sid):
    s = Stream(seed, RNG_AUGMENT, stream_index(epoch, sample_key(sid)))
    d = options["brightness_max_delta"]
    return {
        "brightness_delta": s.uniform_range(-np.float32(d), d),
        "saturation_factor": s.uniform_range(options["saturation_lower"], options["saturation_upper"]),
        "contrast_factor": s.uniform_range(options["contrast_lower"], options["contrast_upper"]),
        "flip_up_down": int(s.uniform() < np.float32(0.5)),
        "flip_left_right": int(s.uniform() < np.float32(0.5)),
    }


def rng_uniform_array(seed, index, count, lo, hi):  # harness.c test_fill_uniform
    s = Stream(seed, RNG_TEST, index)
    return np.array([s.uniform_range(lo, hi) for _ in range(count)], dtype=np.float32)


# ---------------------------------------------------------------------------------------------------------------
# TF 2.10 augmentation math in float64
# ---------------------------------------------------------------------------------------------------------------
def adjust_brightness(x, delta):
    return x + float(delta)


def rgb_to_hsv(r, g, b):
    v = max(r, g, b)
    rng = v - min(r, g, b)
    s = rng / v if v > 0 else 0.0
    if rng <= 0:
        h = 0.0
    elif r == v:
        h = (g - b) / (6 * rng)
    elif g == v:
        h = (b - r) / (6 * rng) + 2.0 / 6.0
    else:
        h = (r - g) / (6 * rng) + 4.0 / 6.0
    if h < 0:
        h += 1
    return h, s, v


def hsv_to_rgb(h, s, v):
    c = s * v
    m = v - c
    dh = h * 6
    category = int(dh)
    fmodu = dh
    while fmodu <= 0:
        fmodu += 2.0
    while fmodu >= 2.0:
        fmodu -= 2.0
    x = c * (1 - abs(fmodu - 1))
    rgb = {0: (c, x, 0), 1: (x, c, 0), 2: (0, c, x), 3: (0, x, c), 4: (x, 0, c), 5: (c, 0, x)}.get(category, (0, 0, 0))
    return rgb[0] + m, rgb[1] + m, rgb[2] + m


def adjust_saturation(x, factor):
    out = np.empty_like(x)
    for idx in np.ndindex(x.shape[:2]):
        h, s, v = rgb_to_hsv(*x[idx])
        s = min(1.0, max(0.0, s * float(factor)))
        out[idx] = hsv_to_rgb(h, s, v)
    return out


def adjust_contrast(x, factor):
    mean = x.mean(axis=(0, 1), keepdims=True)
    return (x - mean) * float(factor) + mean


def augment(x, d, options):
    x = np.array(x, dtype=np.float64)
    if options["brightness"]:
        x = adjust_brightness(x, d["brightness_delta"])
    if options["saturation"]:
        x = adjust_saturation(x, d["saturation_factor"])
    if options["contrast"]:
        x = adjust_contrast(x, d["contrast_factor"])
    if options["flip_up_down"] and d["flip_up_down"]:
        x = x[::-1]
    if options["flip_left_right"] and d["flip_left_right"]:
        x = x[:, ::-1]
    return np.clip(x, 0.0, 1.0)


DEFAULT_OPTIONS = {"brightness": 1, "brightness_max_delta": 0.1, "saturation": 1, "saturation_lower": 0.8,
                   "saturation_upper": 1.2, "contrast": 1, "contrast_lower": 0.8, "contrast_upper": 1.2,
                   "flip_up_down": 1, "flip_left_right": 1}


# ---------------------------------------------------------------------------------------------------------------
# safetensors writer
# ---------------------------------------------------------------------------------------------------------------
class SafetensorsFile:
    def __init__(self, description):
        self.tensors, self.names = [], set()
        self.metadata = {"generator": GENERATOR, "description": description, "opencv_version": cv2.__version__,
                         "numpy_version": np.__version__}

    def add(self, name, array):
        if name in self.names:
            raise ValueError("duplicate tensor name " + name)
        self.names.add(name)
        self.tensors.append((name, np.array(array, dtype="<f4", order="C", copy=True)))

    def save(self, path):
        header, offset = {}, 0
        for name, array in self.tensors:
            header[name] = {"dtype": "F32", "shape": list(array.shape), "data_offsets": [offset, offset + array.nbytes]}
            offset += array.nbytes
        header["__metadata__"] = self.metadata
        text = json.dumps(header, separators=(",", ":"), ensure_ascii=True).encode("ascii")
        text += b" " * ((8 - len(text) % 8) % 8)
        with open(path, "wb") as f:
            f.write(struct.pack("<Q", len(text)))
            f.write(text)
            for _, array in self.tensors:
                f.write(array.tobytes())
        print("wrote %s (%d tensors, %d bytes)" % (path, len(self.tensors), os.path.getsize(path)))


# ---------------------------------------------------------------------------------------------------------------
# resize.safetensors
# ---------------------------------------------------------------------------------------------------------------
def cv2_resize(src, dst_h, dst_w):
    out = cv2.resize(src, (dst_w, dst_h), interpolation=cv2.INTER_LINEAR)
    return out.reshape(dst_h, dst_w, src.shape[2])


def gen_resize(path):
    f = SafetensorsFile("cv2.resize(float32 HWC, (w, h), interpolation=INTER_LINEAR) references")
    rng = np.random.default_rng(20240604)
    cases = []
    # (name, src h, w, channels, dst h, w, value range)
    shapes = [("down", 37, 23, 3, 16, 20, 255.0), ("up", 7, 5, 3, 19, 23, 255.0),
              ("half_3ch", 32, 32, 3, 16, 16, 255.0), ("half_1ch_tail", 38, 22, 1, 19, 11, 255.0),
              ("one_pixel", 1, 1, 3, 5, 4, 255.0), ("third_1ch", 9, 9, 1, 3, 3, 255.0),
              ("mixed", 20, 30, 3, 40, 15, 255.0), ("unit_range", 64, 48, 3, 56, 56, 1.0),
              ("identity", 3, 7, 3, 3, 7, 255.0), ("double", 12, 10, 3, 24, 20, 255.0),
              ("one_row", 1, 9, 3, 4, 5, 255.0), ("tall_1ch", 41, 3, 1, 10, 7, 1.0)]
    for i, (name, sh, sw, c, dh, dw, top) in enumerate(shapes):
        src = (rng.random((sh, sw, c)) * top).astype(np.float32)
        dst = cv2_resize(src, dh, dw)
        f.add("resize/case%d/src" % i, src)
        f.add("resize/case%d/dst" % i, dst)
        cases.append({"name": name, "src": [sh, sw, c], "dst": [dh, dw], "source": "stored", "rows": None})
    # a realistic image: 500x375 RGB -> 224x224 (source from the counter RNG, only some output rows stored)
    sh, sw, dh, dw, seed, index = 375, 500, 224, 224, 7, 11
    src = rng_uniform_array(seed, index, sh * sw * 3, 0.0, 255.0).reshape(sh, sw, 3)
    dst = cv2_resize(src, dh, dw)
    rows = [0, 1, 2, 111, 112, 221, 222, 223]
    f.add("resize/case%d/dst" % len(cases), dst[rows])
    cases.append({"name": "photo_rng", "src": [sh, sw, 3], "dst": [dh, dw], "source": "rng",
                  "rng": {"seed": seed, "index": index, "lo": 0.0, "hi": 255.0}, "rows": rows})
    f.metadata["cases"] = json.dumps(cases)
    f.save(path)


# ---------------------------------------------------------------------------------------------------------------
# augment.safetensors
# ---------------------------------------------------------------------------------------------------------------
def gen_augment(path):
    f = SafetensorsFile("TF 2.10 augmentation formulas in float64 numpy (not TensorFlow output)")
    rng = np.random.default_rng(77)
    cases = []

    def add(op, x, y, **attrs):
        i = len(cases)
        f.add("augment/case%d/x" % i, x)
        f.add("augment/case%d/y" % i, y)
        cases.append(dict(op=op, shape=list(x.shape), **attrs))

    unit = rng.random((6, 7, 3)).astype(np.float32)
    wide = (rng.random((5, 4, 3)) * 1.3 - 0.15).astype(np.float32)  # values outside [0,1]: the ops do not clip
    x64 = lambda a: np.array(a, dtype=np.float64)
    for delta in (0.1, -0.0731):
        add("brightness", unit, adjust_brightness(x64(unit), np.float32(delta)), factor=float(np.float32(delta)))
    # saturation: random pixels, and edge pixels (grays, primaries, secondaries, ties, negatives, > 1)
    edge = np.array([[0, 0, 0], [1, 1, 1], [0.5, 0.5, 0.5], [1, 0, 0], [0, 1, 0], [0, 0, 1], [1, 1, 0], [0, 1, 1],
                     [1, 0, 1], [0.3, 0.3, 0.1], [0.2, 0.6, 0.6], [0.6, 0.2, 0.6], [-0.05, 0.5, 1.05],
                     [-0.1, -0.2, -0.3], [0.9, 0.1, 0.10001], [0.25, 0.75, 0.5]], dtype=np.float32).reshape(4, 4, 3)
    for factor in (0.5, 0.8, 1.17, 1.3, 5.0, 0.0):
        add("saturation", unit, adjust_saturation(x64(unit), np.float32(factor)), factor=float(np.float32(factor)))
    for factor in (0.5, 1.2, 3.0):
        add("saturation", edge, adjust_saturation(x64(edge), np.float32(factor)), factor=float(np.float32(factor)))
    add("saturation", wide, adjust_saturation(x64(wide), np.float32(1.1)), factor=float(np.float32(1.1)))
    for factor in (0.8, 1.2, 2.0):
        add("contrast", unit, adjust_contrast(x64(unit), np.float32(factor)), factor=float(np.float32(factor)))
    add("contrast", wide, adjust_contrast(x64(wide), np.float32(0.9)), factor=float(np.float32(0.9)))
    add("flip_up_down", unit, x64(unit)[::-1])
    add("flip_left_right", unit, x64(unit)[:, ::-1])
    add("clip", wide, np.clip(x64(wide), 0, 1))

    # whole pipeline with keyed draws: (seed, epoch, id)
    image = rng.random((12, 10, 3)).astype(np.float32)
    no_sat = dict(DEFAULT_OPTIONS, saturation=0)
    strong = dict(DEFAULT_OPTIONS, brightness_max_delta=0.3, saturation_lower=0.2, saturation_upper=1.9,
                  contrast_lower=0.5, contrast_upper=1.6)
    for seed, epoch, sid, options in [(0, 0, "e001", DEFAULT_OPTIONS), (0, 1, "e001", DEFAULT_OPTIONS),
                                      (0, 0, "e002", DEFAULT_OPTIONS), (42, 3, "e001", DEFAULT_OPTIONS),
                                      (42, 7, "clinicB/emb-17", strong), (1, 0, "e001", no_sat),
                                      (9, 2, "x", DEFAULT_OPTIONS), (9, 5, "x", DEFAULT_OPTIONS)]:
        d = draws(options, seed, epoch, sid)
        i = len(cases)
        f.add("augment/case%d/x" % i, image)
        f.add("augment/case%d/y" % i, augment(image, d, options))
        f.add("augment/case%d/draws" % i, [d["brightness_delta"], d["saturation_factor"], d["contrast_factor"],
                                           d["flip_up_down"], d["flip_left_right"]])
        cases.append({"op": "pipeline", "shape": list(image.shape), "seed": seed, "epoch": epoch, "id": sid,
                      "options": options})
    f.metadata["cases"] = json.dumps(cases)
    f.save(path)


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    os.makedirs(out_dir, exist_ok=True)
    gen_resize(os.path.join(out_dir, "resize.safetensors"))
    gen_augment(os.path.join(out_dir, "augment.safetensors"))


if __name__ == "__main__":
    main()
