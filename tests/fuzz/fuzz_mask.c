/* fuzz_mask.c — ICM/TE mask PNGs as `blasto enhance` reads them (bl_row_masks with an "icm.png|te.png" row: file
 * read, decode, size match against the image, non-zero → 255). The image size given is the one the file decodes to
 * with a 2^20-pixel limit (so the size check passes and the thresholding runs), else 8×6 (then bl_row_masks
 * refuses the file or finds the size different; larger images are fuzz_image's and test_bad_input's job). */
#include <string.h>

#include "fuzz_common.h"
#include "study/cohort.h"
#include "study/enhance.h"
#include "study/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* the size, through blasto's own checked decoder (never stb directly: stb would also parse formats blasto
     * refuses, e.g. PNM, whose 2.27 parser overflows an int on long digit strings — found by this target) */
    int w = 8, h = 6;
    bl_image probe;
    if (bl_image_decode(data, size, "<fuzz>", 0, (int64_t)1 << 20, &probe) == BL_OK) {
        w = probe.width, h = probe.height;
        bl_image_free(&probe);
    } else if (strstr(bl_last_error(), "exceeds the limit")) {
        return 0; /* bl_row_masks would decode it at the production limit (2^26 pixels): too slow per run */
    }
    bl_cohort_row row = {.id = "fuzz", .image = "fuzz.png", .line = 2};
    row.icm_mask = row.te_mask = (char *)fuzz_write("m.png", data, size);
    bl_image icm, te;
    if (bl_row_masks(&row, NULL, w, h, &icm, &te)) return 0;
    fuzz_check(icm.width == w && icm.height == h && icm.channels == 1);
    for (int i = 0; i < w * h; i++) fuzz_check((icm.pixels[i] == 0 || icm.pixels[i] == 255) && icm.pixels[i] == te.pixels[i]);
    bl_image_free(&icm);
    bl_image_free(&te);
    return 0;
}
