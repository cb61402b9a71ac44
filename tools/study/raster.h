/* raster.h — OpenCV-exact pixel operations the enhanced image is built from (paper-method.md §1.1–§1.2).
 *
 * These reproduce cv2 4.x bit for bit, proven in tests/test_raster.c against fixtures written by
 * tests/golden/gen_opencv.py with Debian's python3-opencv 4.6:
 *
 *   bl_gray_of_rgb / bl_rgb_to_gray   cv2.cvtColor(BGR, COLOR_BGR2GRAY) on 8-bit data:
 *                                     Y = (9798·R + 19235·G + 3735·B + 2^14) >> 15
 *   bl_fill_poly                      cv2.fillPoly(mask, contours, value, LINE_8, shift 0, offset (0,0)):
 *                                     every edge drawn as an 8-connected Bresenham line (cv2 Line), then an
 *                                     even–odd scanline fill of ALL contours together in 16.16 fixed point
 *   bl_draw_line8                     cv2.line(…, thickness 1, LINE_8) with OpenCV's clipping
 *   bl_truncate_coordinate            np.float64 → np.int32 as astype() does for in-range values (toward zero)
 *
 * This file is not a general drawing library: no anti-aliasing, no thickness, no sub-pixel shift. */
#ifndef BLASTO_RASTER_H
#define BLASTO_RASTER_H

#include <stdint.h>

#include "core/status.h"

/* Polygon coordinates are limited to |v| ≤ BL_RASTER_COORD_MAX so that every fixed-point product of the fill
 * and the line clipper fits in 64 bits (2^24 · 2^16 · 2 and (2^25)^2 both well below 2^63). */
#define BL_RASTER_COORD_MAX (1 << 24)

/* cv2 BGR2GRAY for one pixel (8-bit, 15-bit fixed-point weights, round half up). */
static inline uint8_t bl_gray_of_rgb(uint8_t r, uint8_t g, uint8_t b) {
    return (uint8_t)((9798u * r + 19235u * g + 3735u * b + 16384u) >> 15);
}

/* rgb [count·3] read (R,G,B interleaved) → gray [count] written. */
void bl_rgb_to_gray(const uint8_t *rgb, int64_t count, uint8_t *gray);

/* The int32 a float coordinate becomes under numpy's astype(np.int32): truncation toward zero
 * (−0.7 → 0, 3.9 → 3). The caller checks that v is finite and |v| ≤ BL_RASTER_COORD_MAX. */
int32_t bl_truncate_coordinate(double v);

/* One closed polygon: points[2·i] = x, points[2·i + 1] = y, i < n_points. */
typedef struct bl_contour {
    const int32_t *points;
    int n_points;
} bl_contour;

/* mask [height·width] (row-major, 1 byte per pixel) accumulated: pixels of the filled polygons are set to
 * `value`, all others left as they are. Contours with n_points ≤ 0 are skipped; a 1-point contour draws one
 * pixel, a 2-point contour a line, as in cv2. Coordinates outside the image are clipped like cv2 does.
 * Errors: a coordinate beyond ±BL_RASTER_COORD_MAX (BL_ERR_INVALID), out of memory for the edge list. */
bl_status bl_fill_poly(uint8_t *mask, int width, int height, const bl_contour *contours, int n_contours,
                       uint8_t value);

/* mask [height·width] accumulated: the 8-connected line from (x0,y0) to (x1,y1) inclusive, clipped to the image
 * exactly as cv2's LineIterator does (the clipped end points change the Bresenham path, so this matters).
 * Coordinates must lie within ±BL_RASTER_COORD_MAX. */
void bl_draw_line8(uint8_t *mask, int width, int height, int32_t x0, int32_t y0, int32_t x1, int32_t y1,
                   uint8_t value);

#endif
