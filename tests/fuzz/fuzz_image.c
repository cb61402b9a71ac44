/* fuzz_image.c — image decoding through tools/study/image.c (bl_image_decode: signature check, header size check
 * before allocation, then stb_image's PNG / JPEG / BMP decoders, compiled instrumented from stb_impl.c). The
 * length modulo 3 picks the requested channels (0 = the file's own, 1, 3). The pixel limit is 2^20 here instead of
 * BL_IMAGE_MAX_PIXELS (2^26) so that one run stays fast; the check is the same code. */
#include "fuzz_common.h"
#include "study/image.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    static const int channels[3] = {0, 1, 3};
    int want = channels[size % 3];
    bl_image img;
    if (bl_image_decode(data, size, "<fuzz>", want, (int64_t)1 << 20, &img)) return 0;
    fuzz_check(img.width >= 1 && img.height >= 1 && (int64_t)img.width * img.height <= ((int64_t)1 << 20));
    fuzz_check(img.channels == 1 || img.channels == 3);
    fuzz_check(want == 0 || img.channels == want);
    unsigned sum = 0; /* touch every byte: the buffer must really be width·height·channels */
    for (size_t i = 0; i < (size_t)img.width * img.height * img.channels; i++) sum += img.pixels[i];
    (void)sum;
    bl_image_free(&img);
    return 0;
}
