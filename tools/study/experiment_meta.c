/* experiment_meta.c — DIR/run.json: what ran, where, how long (docs/experiment.md, "run.json"). The report
 * (tools/study/report.c) shows it as the run's metadata. Written at the end of every `blasto experiment`
 * invocation; a unit skipped now because an earlier invocation computed it keeps that invocation's seconds. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "core/build_info.h"
#include "core/cpu/cpu_features.h"
#include "core/cpu/threads.h"
#include "study/csv.h"
#include "study/experiment.h"

static void iso8601(time_t t, char *buf, size_t size) {
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(buf, size, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* seconds of `unit` in an earlier run.json (status "ran"), or −1 */
static double earlier_seconds(const cJSON *old_units, const char *unit) {
    const cJSON *u;
    cJSON_ArrayForEach(u, old_units) {
        const cJSON *name = cJSON_GetObjectItemCaseSensitive(u, "unit");
        const cJSON *status = cJSON_GetObjectItemCaseSensitive(u, "status");
        const cJSON *sec = cJSON_GetObjectItemCaseSensitive(u, "seconds");
        if (cJSON_IsString(name) && !strcmp(name->valuestring, unit) && cJSON_IsString(status) &&
            (!strcmp(status->valuestring, "ran") || !strcmp(status->valuestring, "ran earlier")) && cJSON_IsNumber(sec))
            return sec->valuedouble;
    }
    return -1;
}

bl_status bl_experiment_write_run_json(const bl_experiment_config *c, const char *out_dir, const char *backend,
                                       const char *device, time_t started, time_t finished, int n_timings,
                                       const bl_experiment_timing *timings, const bl_experiment_fingerprint *fp) {
    char path[1200], when[32], build[256];
    if ((size_t)snprintf(path, sizeof path, "%s/run.json", out_dir) >= sizeof path)
        return bl_fail(BL_ERR_INVALID, "%s: path too long", out_dir);
    /* the previous invocation's file, for the seconds of units skipped now (unreadable → ignored: it is ours) */
    cJSON *old = NULL;
    char *text = NULL;
    size_t len = 0;
    if (bl_read_file(path, 1 << 24, &text, &len) == BL_OK) old = cJSON_ParseWithLength(text, len);
    bl_input_release(path); /* the earlier run.json is the state this one replaces */
    free(text);
    text = NULL;
    const cJSON *old_units = old ? cJSON_GetObjectItemCaseSensitive(old, "units") : NULL;

    const bl_build_info *b = bl_build();
    snprintf(build, sizeof build, "%s %s, simd %s, cuda %s, sanitize %s, fast-math %s", b->compiler, b->build_type,
             b->simd ? "on" : "off", b->cuda ? "on" : "off", b->sanitize ? "on" : "off", b->fast_math ? "on" : "off");
    cJSON *root = cJSON_CreateObject(), *config = NULL, *weights = cJSON_CreateObject(), *units = cJSON_CreateArray();
    cJSON_AddStringToObject(root, "blasto_version", b->version);
    cJSON_AddStringToObject(root, "build", build);
    cJSON_AddStringToObject(root, "backend", backend);
    char dev[512];
    if (!strcmp(device, "cpu") || !strcmp(device, "ref")) snprintf(dev, sizeof dev, "%s (%s)", device, bl_cpu_features());
    else snprintf(dev, sizeof dev, "%s", device);
    cJSON_AddStringToObject(root, "device", dev);
    cJSON_AddNumberToObject(root, "threads", bl_threads_get());
    cJSON_AddNumberToObject(root, "seed", (double)c->seed);
    cJSON_AddBoolToObject(root, "demo", c->demo);
    iso8601(started, when, sizeof when);
    cJSON_AddStringToObject(root, "started", when);
    iso8601(finished, when, sizeof when);
    cJSON_AddStringToObject(root, "finished", when);
    cJSON_AddStringToObject(root, "fingerprint", fp->whole); /* fingerprint.json has its parts */
    cJSON_AddStringToObject(root, "config_file", c->config_path);
    if (c->config_path[0] && bl_read_file(c->config_path, 1 << 20, &text, &len) == BL_OK)
        config = cJSON_ParseWithLength(text, len);
    free(text);
    cJSON_AddItemToObject(root, "config", config ? config : cJSON_CreateNull());
    for (int a = 0; a < c->n_archs; a++) {
        char w[1200];
        if (c->weights_dir[0]) snprintf(w, sizeof w, "%s/%s.safetensors", c->weights_dir, bl_arch_name(c->archs[a]));
        else snprintf(w, sizeof w, "random init");
        cJSON_AddStringToObject(weights, bl_arch_name(c->archs[a]), w);
    }
    cJSON_AddItemToObject(root, "weights", weights);
    for (int i = 0; i < n_timings; i++) {
        cJSON *u = cJSON_CreateObject();
        double sec = timings[i].seconds;
        const char *status = timings[i].status;
        double before = !strcmp(status, "skipped") ? earlier_seconds(old_units, timings[i].unit) : -1;
        if (before >= 0) sec = before, status = "ran earlier";
        cJSON_AddStringToObject(u, "unit", timings[i].unit);
        cJSON_AddStringToObject(u, "status", status);
        cJSON_AddNumberToObject(u, "seconds", sec);
        cJSON_AddItemToArray(units, u);
    }
    cJSON_AddItemToObject(root, "units", units);
    cJSON_Delete(old);
    char *json = cJSON_Print(root);
    cJSON_Delete(root);
    if (!json) return bl_fail(BL_ERR_NOMEM, "%s: out of memory", path);
    bl_status st = bl_write_file_atomic(path, json, strlen(json));
    free(json);
    return st;
}
