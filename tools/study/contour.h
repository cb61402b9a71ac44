/* contour.h — from a mask to polygons: the borders of its 8-connected regions (Suzuki & Abe 1985, the border
 * following of OpenCV's findContours) and Douglas–Peucker simplification, for writing predicted masks as labelme
 * polygons that blasto's own rasteriser (raster.h, cv2.fillPoly semantics) turns back into the masks.
 *
 * A border is the closed sequence of foreground pixels (x = column, y = row, pixel centres at integer coordinates)
 * along the boundary of one region: an outer border around each 8-connected foreground component, and a hole
 * border around each 4-connected background component enclosed by one. Filling ALL borders of a mask together
 * with the even–odd rule and their edges drawn (bl_fill_poly) gives back the mask — edges cover the border pixels,
 * a hole's inside is toggled twice. */
#ifndef BLASTO_CONTOUR_H
#define BLASTO_CONTOUR_H

#include <stdint.h>

#include "core/status.h"

typedef struct bl_polygon {
    int n_points;
    int32_t *points; /* [2·n_points]: x, y */
    int hole;        /* 1: the border of a hole */
} bl_polygon;

typedef struct bl_polygons {
    int count;
    bl_polygon *items;
} bl_polygons;

/* Every border of mask [height·width] (non-zero = foreground), outer borders and holes, in raster order of their
 * first pixel. */
bl_status bl_trace_borders(const uint8_t *mask, int width, int height, bl_polygons *out);
void bl_polygons_free(bl_polygons *p);

/* Douglas–Peucker on a closed polygon: drops points within `tolerance` pixels of the simplified outline (the
 * kept points are a subset of the original ones; at least 3 are kept when the polygon has 3 or more). */
void bl_polygon_simplify(bl_polygon *p, double tolerance);

#endif
