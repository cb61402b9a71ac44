#!/usr/bin/python3
"""gen_opencv.py — write the OpenCV golden fixtures for blasto's raster code (tests/test_raster.c).

Run with Debian's python (packages python3-opencv, python3-numpy; no pip):

    /usr/bin/python3 tests/golden/gen_opencv.py            # writes tests/golden/opencv_*.{safetensors,png}
    /usr/bin/python3 tests/golden/gen_opencv.py /tmp/gold  # or somewhere else, to compare

Two files come out:

* opencv_fillpoly.safetensors — random polygon sets and the masks cv2.fillPoly(zeros, contours, 255) draws
  (lineType LINE_8, shift 0, all contours of a case in ONE call). Coordinates are stored as float64 exactly as
  a labelme file would hold them; the script converts them with `astype(np.int32)` (truncation toward zero) before
  calling cv2, and the C test must do the same. Tensors:
    case_info    I32 [cases, 5]   width, height, first contour, contour count, byte offset of the mask in `masks`
    contour_info I32 [contours, 2] first point, point count
    points       F64 [points, 2]  x, y
    masks        U8  [bytes]      each case's mask, (mask != 0) row-major, bit-packed with np.packbits
                                  (most significant bit first; each case starts on a byte boundary)
  __metadata__: generator, opencv and numpy versions, and "kinds": a JSON array naming each case's kind.
* opencv_gray.png — 1024×1024 8-bit gray PNG: pixel i (row-major) = cv2.cvtColor(BGR, COLOR_BGR2GRAY) of the
  colour with R = c & 255, G = (c >> 8) & 255, B = c >> 16, c = 16·i + (mix(i) & 15), where mix is the splitmix64
  finaliser below (also in tests/test_raster.c). That is one colour out of every 16 consecutive ones, 2^20 in all,
  every R, G and B value present.

The random draws come from numpy's Generator(PCG64(seed)) with a fixed seed, so rerunning the script reproduces
the files byte for byte with the same numpy and OpenCV.
"""
import json
import os
import struct
import sys

import cv2
import numpy as np

SEED = 20240501
MASK64 = (1 << 64) - 1


def splitmix64_finaliser(z):
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9 & MASK64
    z = (z ^ (z >> 27)) * 0x94D049BB133111EB & MASK64
    return z ^ (z >> 31)


# ---- safetensors, written by hand: u64 little-endian header length, JSON header padded to 8 bytes, raw data ----
def save_safetensors(path, tensors, metadata):
    dtype_names = {np.dtype(np.int32): "I32", np.dtype(np.float64): "F64", np.dtype(np.uint8): "U8"}
    header, blobs, offset = {}, [], 0
    for name, array in tensors:
        array = np.ascontiguousarray(array)
        data = array.astype(array.dtype.newbyteorder("<"), copy=False).tobytes()
        header[name] = {"dtype": dtype_names[array.dtype], "shape": list(array.shape),
                        "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    header["__metadata__"] = metadata
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * (-len(text) % 8)
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for blob in blobs:
            f.write(blob)
    os.replace(tmp, path)


# ---- polygon cases ----------------------------------------------------------------------------------------------
def star(rng, cx, cy, r_out, r_in, n):
    """A concave star: n spikes, alternating outer and inner radius, random rotation."""
    phase = rng.uniform(0, 2 * np.pi)
    angles = phase + np.arange(2 * n) * np.pi / n
    radii = np.where(np.arange(2 * n) % 2 == 0, r_out, r_in) * rng.uniform(0.8, 1.2, 2 * n)
    return np.stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)], axis=1)


def blob(rng, cx, cy, r, n):
    """A simple (non-self-intersecting) polygon: sorted angles, random radii."""
    angles = np.sort(rng.uniform(0, 2 * np.pi, n))
    radii = r * rng.uniform(0.5, 1.0, n)
    return np.stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)], axis=1)


def random_points(rng, lo_x, hi_x, lo_y, hi_y, n):
    """Points in random order: usually self-intersecting."""
    return np.stack([rng.uniform(lo_x, hi_x, n), rng.uniform(lo_y, hi_y, n)], axis=1)


def make_case(rng, kind):
    """Returns (width, height, [contour arrays of float64 (n, 2)])."""
    w, h = int(rng.integers(1, 97)), int(rng.integers(1, 97))
    if kind in ("ring", "multi", "star", "blob") and min(w, h) < 8:
        w, h = w + 8, h + 8
    cx, cy, r = w / 2, h / 2, max(w, h) / 2
    integral = rng.random() < 0.5  # half the cases have integer coordinates, half fractional ones

    if kind == "blob":
        contours = [blob(rng, cx, cy, r, int(rng.integers(3, 16)))]
    elif kind == "star":
        contours = [star(rng, cx, cy, r, r * rng.uniform(0.2, 0.6), int(rng.integers(3, 9)))]
    elif kind == "self_intersecting":
        contours = [random_points(rng, -2, w + 2, -2, h + 2, int(rng.integers(3, 12)))]
    elif kind == "multi":
        contours = []
        for _ in range(int(rng.integers(2, 5))):
            x, y = rng.uniform(0, w), rng.uniform(0, h)
            contours.append(blob(rng, x, y, r * rng.uniform(0.2, 0.7), int(rng.integers(3, 10))))
    elif kind == "ring":
        outer = blob(rng, cx, cy, r, int(rng.integers(8, 20)))
        inner = blob(rng, cx, cy, r * rng.uniform(0.2, 0.45), int(rng.integers(3, 12)))
        if rng.random() < 0.5:
            inner = inner[::-1]  # both orientations: the even-odd rule must not care
        contours = [outer, inner] if rng.random() < 0.5 else [inner, outer]
    elif kind == "partly_outside":
        contours = [random_points(rng, -w, 2 * w, -h, 2 * h, int(rng.integers(3, 9)))]
        if rng.random() < 0.5:
            contours.append(blob(rng, rng.uniform(-w, 2 * w), rng.uniform(-h, 2 * h), r, int(rng.integers(3, 9))))
    elif kind == "fully_outside":
        side = int(rng.integers(0, 5))
        pts = random_points(rng, 0, w, 0, h, int(rng.integers(3, 8)))
        if side == 0:
            pts[:, 0] -= w + 3       # left
        elif side == 1:
            pts[:, 0] += w + 1       # right
        elif side == 2:
            pts[:, 1] -= h + 3       # above
        elif side == 3:
            pts[:, 1] += h + 1       # below
        else:                        # a polygon around the whole image: everything filled
            pts = np.array([[-5, -7], [w + 9, -3], [w + 4, h + 6], [-8, h + 2]], dtype=np.float64)
        contours = [pts]
    elif kind == "far":
        # coordinates far outside a small image: exercises the line clipper's integer arithmetic
        n = int(rng.integers(3, 7))
        contours = [random_points(rng, -5000, 5000, -5000, 5000, n)]
    elif kind == "tiny":
        x, y = rng.uniform(-1, w), rng.uniform(-1, h)
        contours = [random_points(rng, x, x + 2.5, y, y + 2.5, int(rng.integers(3, 6)))]
    elif kind == "degenerate":
        choice = int(rng.integers(0, 6))
        x, y = rng.uniform(0, w), rng.uniform(0, h)
        if choice == 0:    # all points equal
            pts = np.array([[x, y]] * int(rng.integers(3, 5)))
        elif choice == 1:  # collinear, along a random direction
            t = rng.uniform(-r, r, int(rng.integers(3, 6)))
            dx, dy = rng.uniform(-1, 1, 2)
            pts = np.stack([x + t * dx, y + t * dy], axis=1)
        elif choice == 2:  # one point
            pts = np.array([[x, y]])
        elif choice == 3:  # two points
            pts = random_points(rng, 0, w, 0, h, 2)
        elif choice == 4:  # repeated consecutive vertices
            base = blob(rng, cx, cy, r, int(rng.integers(3, 7)))
            pts = np.repeat(base, 2, axis=0)
        else:              # horizontal and vertical edges only
            x0, x1 = sorted(rng.uniform(-2, w + 2, 2))
            y0, y1 = sorted(rng.uniform(-2, h + 2, 2))
            pts = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]])
        contours = [pts]
    elif kind == "negative_fraction":
        # coordinates in (−1, 0) truncate to 0, not −1: the np.int32 rule, not floor
        pts = blob(rng, 0, 0, r, int(rng.integers(3, 9)))
        contours = [pts, random_points(rng, -0.99, 0.99, -0.99, h, 3)]
        integral = False
    else:
        raise ValueError(kind)

    out = []
    for c in contours:
        c = np.asarray(c, dtype=np.float64)
        if integral:
            c = np.trunc(c)
        else:
            c = np.round(c, 3)  # the typical precision of a labelme file; keeps the JSON-like values readable
        out.append(c)
    return w, h, out


def fill(w, h, contours):
    mask = np.zeros((h, w), np.uint8)
    cv2.fillPoly(mask, [c.astype(np.int32) for c in contours], 255, lineType=cv2.LINE_8, shift=0)
    return mask


def polygon_fixture(rng):
    kinds = (["blob"] * 40 + ["star"] * 40 + ["self_intersecting"] * 50 + ["multi"] * 40 + ["ring"] * 50 +
             ["partly_outside"] * 50 + ["fully_outside"] * 25 + ["far"] * 20 + ["tiny"] * 30 +
             ["degenerate"] * 40 + ["negative_fraction"] * 15)
    cases = [(12, 12, [np.array([[2, 2], [9, 3], [6, 9]], np.float64)])]  # paper-method.md §1.2 example
    names = ["paper_triangle"]
    for kind in kinds:
        cases.append(make_case(rng, kind))
        names.append(kind)
    # a few larger images (the real data is 300–600 px)
    for _ in range(6):
        w, h = int(rng.integers(150, 260)), int(rng.integers(150, 260))
        contours = [star(rng, w / 2, h / 2, min(w, h) * 0.45, min(w, h) * 0.2, 7),
                    blob(rng, w / 2, h / 2, min(w, h) * 0.15, 9)]
        cases.append((w, h, [np.round(c, 2) for c in contours]))
        names.append("large_ring")

    case_info, contour_info, points, mask_bytes = [], [], [], []
    n_points = n_bytes = 0
    for w, h, contours in cases:
        mask = fill(w, h, contours)
        packed = np.packbits((mask != 0).reshape(-1))
        case_info.append([w, h, len(contour_info), len(contours), n_bytes])
        for c in contours:
            contour_info.append([n_points, len(c)])
            points.append(c)
            n_points += len(c)
        mask_bytes.append(packed)
        n_bytes += len(packed)
    tensors = [("case_info", np.array(case_info, np.int32)),
               ("contour_info", np.array(contour_info, np.int32)),
               ("points", np.concatenate(points).astype(np.float64)),
               ("masks", np.concatenate(mask_bytes).astype(np.uint8))]
    return tensors, names


def gray_fixture():
    i = np.arange(1 << 20, dtype=np.uint64)
    z = i.copy()
    with np.errstate(over="ignore"):
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    c = i * np.uint64(16) + (z & np.uint64(15))
    r = (c & np.uint64(255)).astype(np.uint8)
    g = ((c >> np.uint64(8)) & np.uint64(255)).astype(np.uint8)
    b = (c >> np.uint64(16)).astype(np.uint8)
    bgr = np.stack([b, g, r], axis=1).reshape(1024, 1024, 3)
    gray = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    # self-check of the mixing function against the scalar version used in the docstring and the C test
    assert int(c[12345]) == 16 * 12345 + (splitmix64_finaliser(12345) & 15)
    return gray


def main():
    out_dir = sys.argv[1] if len(sys.argv) > 1 else os.path.dirname(os.path.abspath(__file__))
    os.makedirs(out_dir, exist_ok=True)
    rng = np.random.Generator(np.random.PCG64(SEED))
    tensors, names = polygon_fixture(rng)
    metadata = {
        "generator": "tests/golden/gen_opencv.py",
        "opencv_version": cv2.__version__,
        "numpy_version": np.__version__,
        "description": "cv2.fillPoly(zeros(h,w,uint8), [pts.astype(np.int32) for each contour], 255, LINE_8, shift 0)",
        "kinds": json.dumps(names),
    }
    path = os.path.join(out_dir, "opencv_fillpoly.safetensors")
    save_safetensors(path, tensors, metadata)
    print(f"{path}: {len(names)} cases, {os.path.getsize(path)} bytes")

    gray = gray_fixture()
    path = os.path.join(out_dir, "opencv_gray.png")
    if not cv2.imwrite(path, gray, [cv2.IMWRITE_PNG_COMPRESSION, 9]):
        sys.exit(f"{path}: cannot write")
    print(f"{path}: 1024x1024 gray, {os.path.getsize(path)} bytes (cv2 {cv2.__version__})")


if __name__ == "__main__":
    main()
