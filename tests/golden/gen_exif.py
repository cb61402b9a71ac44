#!/usr/bin/python3
"""gen_exif.py — JPEGs with each EXIF orientation and what cv2.imread makes of them (tests/test_image_exif.c).

Run with Debian's python (packages python3-opencv, python3-numpy; no pip):

    /usr/bin/python3 tests/golden/gen_exif.py            # writes tests/golden/exif/
    /usr/bin/python3 tests/golden/gen_exif.py /tmp/gold  # or somewhere else, to compare

The picture is 24×16 pixels, six flat 8×8 blocks (3 across, 2 down) of distinct colours, so each of the eight
orientations gives a different arrangement and the rotations swap width and height. It is JPEG-encoded once
(cv2.imencode, quality 95); orientation_<k>.jpg (k = 1 … 8) is that file with an APP1 Exif segment inserted after
SOI whose IFD0 holds the one tag Orientation (0x0112) = k, little-endian ("II") for odd k and big-endian ("MM")
for even k, so both byte orders are read. plain.jpg has no Exif segment.

cv2.imread (IMREAD_COLOR, which applies the orientation as labelme does) decodes each; expected.json holds, per
file, the decoded width and height and the colour (R, G, B) at the centre of each 8×8 block of the result, in
row-major block order. JPEG decoders may differ by a level or two; flat blocks keep the centres stable.
"""
import json
import os
import struct
import sys

import cv2
import numpy as np

BLOCKS = [[(200, 30, 30), (30, 200, 30), (30, 30, 200)],
          [(220, 220, 40), (40, 220, 220), (120, 120, 120)]]


def exif_segment(orientation, big_endian):
    e = ">" if big_endian else "<"
    tiff = (b"MM" if big_endian else b"II") + struct.pack(e + "HI", 42, 8)
    tiff += struct.pack(e + "H", 1)                                  # one entry in IFD0
    tiff += struct.pack(e + "HHI", 0x0112, 3, 1) + struct.pack(e + "HH", orientation, 0)
    tiff += struct.pack(e + "I", 0)                                  # no next IFD
    body = b"Exif\x00\x00" + tiff
    return b"\xff\xe1" + struct.pack(">H", len(body) + 2) + body


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "exif")
    os.makedirs(out, exist_ok=True)
    rgb = np.zeros((16, 24, 3), np.uint8)
    for r in range(2):
        for c in range(3):
            rgb[8 * r:8 * r + 8, 8 * c:8 * c + 8] = BLOCKS[r][c]
    ok, jpg = cv2.imencode(".jpg", rgb[:, :, ::-1].copy(), [cv2.IMWRITE_JPEG_QUALITY, 95])
    assert ok
    jpg = jpg.tobytes()
    assert jpg[:2] == b"\xff\xd8"
    files = {"plain.jpg": jpg}
    for k in range(1, 9):
        files["orientation_%d.jpg" % k] = jpg[:2] + exif_segment(k, k % 2 == 0) + jpg[2:]
    expected = {"generator": "tests/golden/gen_exif.py", "opencv": cv2.__version__, "numpy": np.__version__,
                "files": {}}
    for name, data in sorted(files.items()):
        path = os.path.join(out, name)
        with open(path, "wb") as f:
            f.write(data)
        bgr = cv2.imread(path, cv2.IMREAD_COLOR)
        h, w = bgr.shape[:2]
        centres = []
        for by in range(h // 8):
            for bx in range(w // 8):
                b, g, r = (int(v) for v in bgr[8 * by + 4, 8 * bx + 4])
                centres.append([r, g, b])
        expected["files"][name] = {"width": w, "height": h, "centres": centres}
    with open(os.path.join(out, "expected.json"), "w") as f:
        json.dump(expected, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
