/* fuzz_calibration.c — tools/study/calibration.c's isotonic model JSON (bl_isotonic_parse_json) on arbitrary bytes;
 * an accepted model must satisfy the documented invariants, and predictions from it must be probabilities. */
#include <math.h>

#include "fuzz_common.h"
#include "study/calibration.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    bl_isotonic iso;
    if (bl_isotonic_parse_json((const char *)data, size, "<fuzz>", &iso)) return 0;
    fuzz_check(iso.count >= 1);
    for (int i = 0; i < iso.count; i++) {
        fuzz_check(isfinite(iso.x[i]) && iso.y[i] >= 0.0 && iso.y[i] <= 1.0);
        if (i) fuzz_check(iso.x[i] > iso.x[i - 1] && iso.y[i] >= iso.y[i - 1]);
    }
    double x[7] = {-INFINITY, -1.0, 0.0, 0.25, 0.5, 1.0, INFINITY}, y[7];
    x[3] = iso.x[0];
    x[4] = 0.5 * (iso.x[0] + iso.x[iso.count - 1]);
    bl_isotonic_predict(&iso, 7, x, y);
    for (int i = 0; i < 7; i++) fuzz_check(y[i] >= 0.0 && y[i] <= 1.0);
    bl_isotonic_free(&iso);
    return 0;
}
