/* fuzz_segmenter_options.c — the training options a segmenter checkpoint carries in its __metadata__ (read by
 * `blasto segment train --resume` and `segment predict`: bl_segment_options_of). The input is the options JSON
 * text; it is written with format "blasto-segmenter-1" into a small safetensors file, opened and parsed. Invariant:
 * accepted options are within the types the trainer uses (strings terminated within their buffers). */
#include <string.h>

#include "core/safetensors.h"
#include "fuzz_common.h"
#include "study/segment_train.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (size > 4096) return 0;
    char json[4097];
    memcpy(json, data, size);
    json[size] = '\0';
    if (strlen(json) != size) return 0; /* metadata values are strings: no NUL inside */
    const char *path = fuzz_path("ck.safetensors");
    bl_st_writer *w = NULL;
    float one = 1;
    int dims[1] = {1};
    if (bl_st_writer_create(&w) || bl_st_writer_add_metadata(w, "format", BL_SEGMENTER_FORMAT) ||
        bl_st_writer_add_metadata(w, "options", json) || bl_st_writer_add_f32(w, "x", 1, dims, &one) ||
        bl_st_writer_save(w, path)) {
        bl_st_writer_free(w);
        return 0;
    }
    bl_st_writer_free(w);
    bl_safetensors *st = NULL;
    if (bl_safetensors_open(path, &st)) return 0;
    bl_segment_options o;
    if (bl_segment_options_of(st, &o) == BL_OK) {
        fuzz_check(memchr(o.cohort, 0, sizeof o.cohort) && memchr(o.split, 0, sizeof o.split));
        fuzz_check(memchr(o.icm_labels, 0, sizeof o.icm_labels) && memchr(o.te_labels, 0, sizeof o.te_labels));
    }
    bl_safetensors_close(st);
    return 0;
}
