/* json.h — one strict way to read the JSON documents a user gives blasto (experiment config, labelme annotations,
 * calibration models). cJSON alone accepts what different JSON readers read differently; refused here:
 *   - duplicate keys in an object (cJSON and the first-wins readers keep the first, Python keeps the last):
 *     "<label>: <where>: duplicate key '<k>' (JSON readers disagree on which one counts)"
 *   - anything but whitespace after the document: "<label>: unexpected data after the JSON document (byte N of M)"
 *   - \u0000 inside a string (a C reader cuts the string there): "<label>: a string holds \u0000 (byte N), which
 *     would cut it short"
 * and what cJSON refuses: "<label>: not valid JSON (error near byte N of M)". All BL_ERR_FORMAT. */
#ifndef BLASTO_JSON_H
#define BLASTO_JSON_H

#include <stddef.h>

#include <cjson/cJSON.h>

#include "core/status.h"

bl_status bl_json_parse(const char *text, size_t size, const char *label, cJSON **out);

#endif
