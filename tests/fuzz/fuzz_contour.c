/* fuzz_contour.c — border following and simplification on arbitrary masks (tools/study/contour.h), the step that
 * turns predicted masks into labelme polygons. Byte 0 and 1 give the mask's width and height (1 … 64), the rest its
 * pixels (bit 0 of each byte; missing bytes are 0). Invariants: every border point lies inside the mask's frame, and
 * filling all borders together (bl_fill_poly, as `blasto enhance` rasterises labelme) gives back the mask exactly;
 * simplification keeps at least 3 points of every border that had 3, all of them original points. */
#include <string.h>

#include "fuzz_common.h"
#include "study/contour.h"
#include "study/raster.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size < 2) return 0;
    int w = 1 + data[0] % 64, h = 1 + data[1] % 64;
    uint8_t mask[64 * 64], fill[64 * 64];
    for (int i = 0; i < w * h; i++) mask[i] = (size_t)i + 2 < size ? data[i + 2] & 1 : 0;
    bl_polygons p;
    if (bl_trace_borders(mask, w, h, &p) != BL_OK) return 0;
    bl_contour contours[64 * 64 + 1];
    fuzz_check(p.count <= 64 * 64);
    for (int i = 0; i < p.count; i++) {
        fuzz_check(p.items[i].n_points >= 1);
        for (int k = 0; k < p.items[i].n_points; k++) {
            int x = p.items[i].points[2 * k], y = p.items[i].points[2 * k + 1];
            fuzz_check(x >= 0 && x < w && y >= 0 && y < h && mask[y * w + x]);
        }
        contours[i] = (bl_contour){p.items[i].points, p.items[i].n_points};
    }
    memset(fill, 0, sizeof fill);
    fuzz_check(bl_fill_poly(fill, w, h, contours, p.count, 1) == BL_OK);
    for (int i = 0; i < w * h; i++) fuzz_check(fill[i] == mask[i]);
    for (int i = 0; i < p.count; i++) {
        int before = p.items[i].n_points;
        bl_polygon_simplify(&p.items[i], 0.5);
        fuzz_check(p.items[i].n_points <= before && (before < 3 || p.items[i].n_points >= 3));
        for (int k = 0; k < p.items[i].n_points; k++) {
            int x = p.items[i].points[2 * k], y = p.items[i].points[2 * k + 1];
            fuzz_check(x >= 0 && x < w && y >= 0 && y < h && mask[y * w + x]);
        }
    }
    bl_polygons_free(&p);
    return 0;
}
