/* test_resource_limits.c — sizes in the library are checked before anything is allocated, with no wrap-around and
 * messages that carry the numbers: an arena capped below a tensor, element counts that overflow int64 and size_t,
 * a byte count near SIZE_MAX, image headers announcing sizes past the limit (PNG, BMP), and a BMP whose palette is
 * shorter than its pixels need (docs/reliability.md, "Resource limits"; the file-level rows are in
 * test_bad_input). */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "core/arena.h"
#include "core/autograd.h"
#include "core/kernels.h"
#include "harness.h"
#include "study/image.h"

static void resource_limits(void) {
    bl_ctx *ctx = NULL;
    CHECK(bl_ctx_create(bl_kernels_ref(), &ctx) == BL_OK, "context");
    if (!ctx) return;
    /* plan-time out of memory: the step arena capped at 1 MiB, a 4 MiB activation */
    bl_ctx_step_arena(ctx)->limit = (size_t)1 << 20;
    int shape[2] = {1024, 1024};
    CHECK(bl_tensor_new(ctx, 2, shape) == NULL, "a 4 MiB tensor in a 1 MiB arena is refused");
    /* needs = what the arena holds already (the tensor's header) + the data */
    CHECK(!strncmp(bl_ctx_error(ctx), "arena step: out of memory: needs 4194", 37) &&
              strstr(bl_ctx_error(ctx), " bytes, limit is 1048576, for a float32 tensor [1024,1024] of 4194304 bytes"),
          "out-of-memory message names the bytes, the arena and the tensor: %s", bl_ctx_error(ctx));
    bl_ctx_free(ctx);
    CHECK(bl_ctx_create(bl_kernels_ref(), &ctx) == BL_OK, "context");
    if (!ctx) return;
    /* element count that overflows int64 / size_t: refused before any arithmetic wraps */
    int huge[4] = {65536, 65536, 65536, 65536};
    CHECK(bl_tensor_new(ctx, 4, huge) == NULL && strstr(bl_ctx_error(ctx), "overflowing dimensions"),
          "2^64-element tensor refused: %s", bl_ctx_error(ctx));
    bl_ctx_free(ctx);
    /* the arena itself: a byte count near SIZE_MAX must not wrap when rounded up to the alignment */
    bl_arena a;
    bl_arena_init(&a, "test");
    CHECK(bl_arena_alloc(&a, SIZE_MAX - 3) == NULL && strstr(bl_last_error(), "arena test: out of memory: needs"),
          "SIZE_MAX-3 bytes refused without wrap-around: %s", bl_last_error());
    CHECK(bl_arena_reserve(&a, SIZE_MAX) != BL_OK, "reserve of SIZE_MAX refused");
    bl_arena_free(&a);
    /* images: the header's size is checked against the limit before decoding (a 45-byte PNG announcing 2^60
     * pixels), and the limit is a parameter */
    static const unsigned char png[] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n', 0, 0, 0, 13, 'I', 'H', 'D', 'R',
                                        0x40, 0, 0, 0, 0x40, 0, 0, 0, 8, 0, 0, 0, 0};
    bl_image img;
    CHECK(bl_image_decode(png, sizeof png, "hdr.png", 0, BL_IMAGE_MAX_PIXELS, &img) == BL_ERR_FORMAT &&
              strstr(bl_last_error(), "hdr.png: 1073741824x1073741824 exceeds the limit of 67108864 pixels"),
          "image header size checked first: %s", bl_last_error());
    /* an 8-bit BMP 2×1 whose palette has 1 entry (white) and whose second pixel uses index 5: stb 2.27 would copy
     * uninitialised stack bytes for it; blasto pads the palette with black entries first, so it decodes as 0 */
    static const unsigned char short_palette[14 + 40 + 4 + 4] = {
        'B', 'M', 62, 0, 0, 0, 0, 0, 0, 0, 58, 0, 0, 0,            /* file header: size 62, pixel data at 58 */
        40, 0, 0, 0, 2, 0, 0, 0, 1, 0, 0, 0, 1, 0, 8, 0,            /* 40-byte info header: 2 × 1, 1 plane, 8 bpp */
        0, 0, 0, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0,
        255, 255, 255, 0,                                           /* palette: one entry, white */
        0, 5, 0, 0};                                                /* pixels: index 0, index 5; row padding */
    for (int round = 0; round < 2; round++) {
        CHECK(bl_image_decode(short_palette, sizeof short_palette, "pal.bmp", 1, BL_IMAGE_MAX_PIXELS, &img) == BL_OK &&
                  img.width == 2 && img.height == 1 && img.pixels[0] == 255 && img.pixels[1] == 0,
              "BMP with a 1-entry palette: index 5 decodes as black (got %d %d): %s", img.pixels ? img.pixels[0] : -1,
              img.pixels ? img.pixels[1] : -1, bl_last_error());
        bl_image_free(&img);
    }
    static const unsigned char bmp[54] = {'B', 'M', [14] = 40, [18] = 0x01, [19] = 0x20, [22] = 0x01, [23] = 0x20};
    CHECK(bl_image_decode(bmp, sizeof bmp, "hdr.bmp", 0, 4096, &img) == BL_ERR_FORMAT &&
              strstr(bl_last_error(), "hdr.bmp: 8193x8193 exceeds the limit of 4096 pixels"),
          "BMP header size checked first: %s", bl_last_error());
}

int main(void) {
    resource_limits();
    return test_summary("test_resource_limits");
}
