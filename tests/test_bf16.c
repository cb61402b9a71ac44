/* test_bf16.c — the bfloat16 rounding every mixed-precision path uses (core/bf16.h), against its definition.
 *
 *   1. float → bf16 for every one of the 65,536 upper halves with 16 lower halves each (0, 1, just below, at and
 *      just above the tie 0x8000, 0xFFFF, and random ones): equal to the rule read off the bits (keep the upper
 *      half; add one ulp when the lower half is above 0x8000, or equal to it and the upper half is odd; NaN stays
 *      a quiet NaN of the same sign) and to bl_bf16_from_f64 of the same value (two implementations);
 *   2. every bf16 widens exactly and rounds back to itself (both roundings);
 *   3. double → bf16 rounds once: cases where (float) first would round twice, the subnormal grid and its ties,
 *      overflow at exactly the tie above the largest bf16, signed zeros and infinities. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "core/bf16.h"
#include "harness.h"

static float from_bits(uint32_t bits) {
    float f;
    memcpy(&f, &bits, 4);
    return f;
}

static int is_nan_bf16(bl_bf16 h) { return (h & 0x7F80u) == 0x7F80u && (h & 0x007Fu); }

static bl_bf16 by_definition(uint32_t bits) {
    uint16_t hi = (uint16_t)(bits >> 16), lo = (uint16_t)bits;
    if ((bits & 0x7FFFFFFFu) > 0x7F800000u) return (bl_bf16)(hi | 0x0040u);
    int up = lo > 0x8000u || (lo == 0x8000u && (hi & 1u));
    return (bl_bf16)(hi + up);
}

static void test_every_upper_half(void) {
    static const uint16_t fixed[8] = {0x0000, 0x0001, 0x3FFF, 0x7FFF, 0x8000, 0x8001, 0xBFFF, 0xFFFF};
    uint64_t state = 0x9E3779B97F4A7C15u;
    long bad_def = 0, bad_f64 = 0, checked = 0;
    for (uint32_t hi = 0; hi < 65536; hi++)
        for (int j = 0; j < 16; j++) {
            state = state * 6364136223846793005u + 1442695040888963407u;
            uint16_t lo = j < 8 ? fixed[j] : (uint16_t)(state >> 48);
            uint32_t bits = hi << 16 | lo;
            float f = from_bits(bits);
            bl_bf16 got = bl_bf16_from_f32(f), want = by_definition(bits), via64 = bl_bf16_from_f64((double)f);
            bad_def += got != want;
            bad_f64 += isnan(f) ? !(is_nan_bf16(via64) && (via64 & 0x8000u) == (got & 0x8000u)) : via64 != got;
            checked++;
        }
    CHECK(bad_def == 0, "float → bf16: %ld of %ld differ from the rule read off the bits", bad_def, checked);
    CHECK(bad_f64 == 0, "float → bf16: %ld of %ld differ between the float and the double rounding", bad_f64, checked);
    printf("float → bf16: %ld values (every upper half × 16 lower halves) agree with the definition\n", checked);
}

static void test_round_trip(void) {
    long bad = 0;
    for (uint32_t h = 0; h < 65536; h++) {
        float f = bl_bf16_to_f32((bl_bf16)h);
        uint32_t bits;
        memcpy(&bits, &f, 4);
        if (bits != h << 16) bad++;
        if (!is_nan_bf16((bl_bf16)h) && (bl_bf16_from_f32(f) != h || bl_bf16_from_f64((double)f) != h)) bad++;
    }
    CHECK(bad == 0, "every bf16 widens exactly and rounds back to itself (%ld failures)", bad);
    float src[4] = {1.0f, -2.5f, 0x1.01p0f, 3e38f}, back[4];
    bl_bf16 mid[4];
    bl_bf16_from_f32_array(src, mid, 4);
    bl_bf16_to_f32_array(mid, back, 4);
    CHECK(back[0] == 1.0f && back[1] == -2.5f && back[2] == 1.0f && mid[3] == 0x7F62 && back[3] == 0x1.c4p127f,
          "array conversions: %g %g %g %g (0x%04x)", back[0], back[1], back[2], back[3], mid[3]);
}

static void test_double_rounding(void) {
    struct { double d; bl_bf16 want; const char *what; } cases[] = {
        {1.0 + 0x1p-8 + 0x1p-40, 0x3F81, "just above a tie: up (float first would make it a tie and round to even: down)"},
        {1.0 + 0x1p-8, 0x3F80, "a tie: to even (down)"},
        {1.0 + 0x1p-7 + 0x1p-8, 0x3F82, "a tie: to even (up)"},
        {1.0 + 0x1p-8 - 0x1p-40, 0x3F80, "just below a tie: down"},
        {0x1.8p-133, 0x0002, "subnormal tie 1.5 grid steps: to even (2)"},
        {0x1p-134, 0x0000, "half the smallest subnormal: to even (0)"},
        {0x1p-134 + 0x1p-160, 0x0001, "just above half the smallest subnormal: the smallest subnormal"},
        {-0x1.4p-133, 0x8001, "negative subnormal rounds by magnitude"},
        {0x1.ffp127 - 0x1p100, 0x7F7F, "just below the tie above the largest bf16: the largest"},
        {0x1.ffp127, 0x7F80, "the tie above the largest bf16: to even, which is +Inf"},
        {1e300, 0x7F80, "far beyond: +Inf"},
        {-1e300, 0xFF80, "far beyond, negative: −Inf"},
        {0.0, 0x0000, "+0"},
        {-0.0, 0x8000, "−0 keeps its sign"},
        {INFINITY, 0x7F80, "+Inf"},
        {-INFINITY, 0xFF80, "−Inf"},
        {0x1p-126, 0x0080, "the smallest normal"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
        bl_bf16 got = bl_bf16_from_f64(cases[i].d);
        CHECK(got == cases[i].want, "double → bf16, %s: %a → 0x%04x, expected 0x%04x", cases[i].what, cases[i].d, got,
              cases[i].want);
    }
    bl_bf16 nan = bl_bf16_from_f64(-NAN);
    CHECK(is_nan_bf16(nan) && (nan & 0x8000u) && (nan & 0x0040u), "a NaN stays a quiet NaN with its sign (0x%04x)", nan);
    /* double rounding exists: the first case differs when rounded through float */
    CHECK(bl_bf16_from_f32((float)(1.0 + 0x1p-8 + 0x1p-40)) == 0x3F80, "through float the first case rounds twice");
}

int main(void) {
    test_every_upper_half();
    test_round_trip();
    test_double_rounding();
    return test_summary("test_bf16");
}
