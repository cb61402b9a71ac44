/* fuzz_labelme.c — tools/study/labelme.c on arbitrary bytes; an accepted document is then rasterised the way
 * `blasto enhance` does (bl_row_masks: label → region mapping, coordinate range checks, cv2-exact fillPoly) on a
 * small canvas, so polygon coordinates chosen by the fuzzer reach the rasteriser. */
#include <string.h>

#include "fuzz_common.h"
#include "study/cohort.h"
#include "study/enhance.h"
#include "study/image.h"
#include "study/labelme.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    bl_labelme *doc = NULL;
    if (bl_labelme_parse((const char *)data, size, "<fuzz>", &doc)) return 0;
    int w = doc->image_width >= 1 && doc->image_width <= 256 ? doc->image_width : 37;
    int h = doc->image_height >= 1 && doc->image_height <= 256 ? doc->image_height : 29;
    for (int i = 0; i < doc->n_shapes; i++) fuzz_check(doc->shapes[i].label && doc->shapes[i].shape_type);
    bl_labelme_free(doc);
    bl_cohort_row row = {.id = "fuzz", .image = "fuzz.png", .line = 2};
    row.annotation = (char *)fuzz_write("a.json", data, size);
    bl_image icm, te;
    if (bl_row_masks(&row, NULL, w, h, &icm, &te) == BL_OK) {
        fuzz_check(icm.width == w && icm.height == h && te.width == w && te.height == h);
        for (int i = 0; i < w * h; i++) fuzz_check(icm.pixels[i] == 0 || icm.pixels[i] == 255);
        bl_image_free(&icm);
        bl_image_free(&te);
    }
    return 0;
}
