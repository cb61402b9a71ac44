/* fuzz_mask.c — ICM/TE mask PNGs as `blasto enhance` reads them (bl_row_masks with an "icm.png|te.png" row: file
 * read, decode, size match against the image, non-zero → 255). The image size given is the one the file's header
 * announces (so the size check passes and the thresholding runs), or 8×6 when stb cannot read a header. Inputs
 * announcing more than 2^20 pixels are skipped (that limit's check is fuzz_image's and test_bad_input's job). */
#include <stb/stb_image.h>

#include "fuzz_common.h"
#include "pipeline/cohort.h"
#include "pipeline/enhance.h"
#include "pipeline/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    int w = 8, h = 6, comp = 0;
    if (size <= 0x7fffffff && stbi_info_from_memory(data, (int)size, &w, &h, &comp)) {
        if (w < 1 || h < 1 || (int64_t)w * h > ((int64_t)1 << 20)) return 0;
    } else {
        w = 8, h = 6;
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
