/* json.c — strict JSON parsing on top of cJSON (see json.h). */
#include "study/json.h"

#include <stdio.h>
#include <string.h>

/* the first escape \u0000 in a string of the raw text, as a byte offset, or -1 */
static long nul_escape(const char *text, size_t size) {
    int in_string = 0;
    for (size_t i = 0; i < size; i++) {
        char c = text[i];
        if (!in_string) {
            in_string = c == '"';
        } else if (c == '"') {
            in_string = 0;
        } else if (c == '\\' && i + 1 < size) {
            if (text[i + 1] == 'u' && i + 5 < size && !strncmp(text + i + 2, "0000", 4)) return (long)i;
            i++; /* the escaped character, whatever it is, is not the string's end */
        }
    }
    return -1;
}

/* the first duplicate key under `node`, depth first; `where` gets the path of its object ("shapes[2]") */
static const char *duplicate_key(const cJSON *node, const char *path, char *where, size_t size) {
    if (cJSON_IsObject(node))
        for (const cJSON *a = node->child; a; a = a->next)
            for (const cJSON *b = a->next; b; b = b->next)
                if (a->string && b->string && !strcmp(a->string, b->string)) {
                    snprintf(where, size, "%s", path[0] ? path : "top level");
                    return a->string;
                }
    int index = 0;
    for (const cJSON *c = node->child; c; c = c->next, index++) {
        char child[256];
        if (cJSON_IsObject(node)) snprintf(child, sizeof child, "%s%s%s", path, path[0] ? "." : "", c->string);
        else snprintf(child, sizeof child, "%s[%d]", path, index);
        const char *dup = duplicate_key(c, child, where, size);
        if (dup) return dup;
    }
    return NULL;
}

bl_status bl_json_parse(const char *text, size_t size, const char *label, cJSON **out) {
    *out = NULL;
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, size, &end, 0);
    if (!root) {
        size_t at = end && end >= text && end <= text + size ? (size_t)(end - text) : 0;
        return bl_fail(BL_ERR_FORMAT, "%s: not valid JSON (error near byte %zu of %zu)", label, at, size);
    }
    size_t at = (size_t)(end - text);
    while (at < size && (text[at] == ' ' || text[at] == '\t' || text[at] == '\n' || text[at] == '\r')) at++;
    bl_status st = BL_OK;
    char where[256] = "";
    const char *dup = NULL;
    long nul = -1;
    if (at < size)
        st = bl_fail(BL_ERR_FORMAT, "%s: unexpected data after the JSON document (byte %zu of %zu)", label, at, size);
    else if ((nul = nul_escape(text, size)) >= 0)
        st = bl_fail(BL_ERR_FORMAT, "%s: a string holds \\u0000 (byte %ld), which would cut it short", label, nul);
    else if ((dup = duplicate_key(root, "", where, sizeof where)))
        st = bl_fail(BL_ERR_FORMAT, "%s: %s: duplicate key '%s' (JSON readers disagree on which one counts)", label,
                     where, dup);
    if (st) cJSON_Delete(root);
    else *out = root;
    return st;
}
