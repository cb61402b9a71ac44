/* report_fixture.c — see report_fixture.h. */
#include "support/report_fixture.h"

#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include <stb/stb_image_write.h>

#include "support/test_support.h"

static int write_in(const char *dir, const char *name, const char *text) {
    char path[1024];
    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path) return -1;
    return test_write_file(path, text);
}

static int make_dir(const char *dir, const char *name) {
    char path[1024];
    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path) return -1;
    return mkdir(path, 0755) == 0 ? 0 : -1;
}

/* A 16×16 RGB image: a gradient whose colours depend on `seed`, with a bright square. */
static int write_png(const char *dir, const char *name, int seed) {
    char path[1024];
    unsigned char rgb[16 * 16 * 3];
    for (int y = 0; y < 16; y++)
        for (int x = 0; x < 16; x++) {
            unsigned char *p = rgb + 3 * (y * 16 + x);
            int square = x >= 5 && x < 11 && y >= 5 && y < 11;
            p[0] = (unsigned char)(square ? 255 : 16 * x);
            p[1] = (unsigned char)(16 * y);
            p[2] = (unsigned char)(40 * seed + 4 * (x + y));
        }
    if (snprintf(path, sizeof path, "%s/%s", dir, name) >= (int)sizeof path) return -1;
    return stbi_write_png(path, 16, 16, 3, rgb, 16 * 3) ? 0 : -1;
}

/* Test-set scores per unit (6 rows, labels 1 0 1 1 0 0). resnet50-original-f0 is the hand-worked ROC example of
 * test_report.c: thresholds 0.9 0.8 0.7 0.6 0.3 0.2 → (tp, fp) = (1,0) (1,1) (2,1) (3,1) (3,2) (3,3); sklearn's
 * drop_intermediate removes 0.7 and 0.3, leaving (fpr, tpr) = (0,0) (0,1/3) (1/3,1/3) (1/3,1) (1,1). */
static const int test_labels[6] = {1, 0, 1, 1, 0, 0};
static const double test_scores[8][6] = {
    {0.9, 0.8, 0.7, 0.6, 0.3, 0.2},  {0.8, 0.4, 0.7, 0.5, 0.6, 0.1},  /* resnet50 original f0, f1 */
    {0.95, 0.2, 0.9, 0.3, 0.4, 0.1}, {0.7, 0.3, 0.8, 0.6, 0.5, 0.2},  /* resnet50 enhanced f0, f1 */
    {0.6, 0.7, 0.5, 0.4, 0.3, 0.2},  {0.55, 0.5, 0.45, 0.6, 0.4, 0.3}, /* vgg16 original f0, f1 */
    {0.7, 0.6, 0.65, 0.3, 0.2, 0.4}, {0.9, 0.1, 0.3, 0.8, 0.2, 0.35}, /* vgg16 enhanced f0, f1 */
};
/* metrics.json "auroc" per unit (same order): Figure 4's boxes; resnet50 original → 0.70, 0.80 gives the box
 * whisker 0.7, Q1 0.725, median 0.75, Q3 0.775, whisker 0.8. */
static const double unit_auroc[8] = {0.70, 0.80, 0.75, 0.85, 0.60, 0.65, 0.66, 0.72};

static int write_units(const char *dir) {
    static const char *const archs[2] = {"resnet50", "vgg16"}, *const inputs[2] = {"original", "enhanced"};
    if (make_dir(dir, "runs")) return -1;
    for (int u = 0; u < 8; u++) {
        const char *arch = archs[u / 4], *input = inputs[(u / 2) % 2];
        int fold = u % 2;
        char name[256], text[2048];
        snprintf(name, sizeof name, "runs/%s-%s-f%d", arch, input, fold);
        if (make_dir(dir, name)) return -1;
        int len = snprintf(text, sizeof text, "id,label,score,arch,input,fold\n");
        for (int j = 0; j < 6; j++)
            len += snprintf(text + len, sizeof text - (size_t)len, "t%d,%d,%.17g,%s,%s,%d\n", j + 1, test_labels[j],
                            test_scores[u][j], arch, input, fold);
        char file[300];
        snprintf(file, sizeof file, "%s/test.csv", name);
        if (write_in(dir, file, text)) return -1;
        snprintf(text, sizeof text,
                 "{\n  \"arch\": \"%s\",\n  \"input\": \"%s\",\n  \"fold\": %d,\n  \"set\": \"test\",\n  \"n\": 6,\n"
                 "  \"auroc\": %.17g,\n  \"accuracy\": 0.5,\n  \"sensitivity\": 0.5,\n  \"specificity\": 0.5\n}\n",
                 arch, input, fold, unit_auroc[u]);
        snprintf(file, sizeof file, "%s/metrics.json", name);
        if (write_in(dir, file, text)) return -1;
    }
    return 0;
}

int report_fixture_write(const char *dir) {
    int bad = 0;
    bad |= write_in(dir, "run.json",
                    "{\"blasto_version\": \"0.1.0\", \"build\": \"Release, GCC 12.2.0, AVX-512\", \"backend\": \"cpu\",\n"
                    " \"device\": \"cpu <x86> & \\\"avx\\\"\", \"threads\": 2, \"seed\": 7, \"demo\": true,\n"
                    " \"started\": \"2026-11-27T10:00:00Z\", \"finished\": \"2026-11-27T10:04:30Z\",\n"
                    " \"config\": {\"folds\": 2, \"archs\": [\"resnet50\", \"vgg16\"], \"size\": 64},\n"
                    " \"weights\": {\"resnet50\": \"w/resnet50.safetensors\", \"vgg16\": \"random init\"},\n"
                    " \"units\": [{\"unit\": \"split\", \"seconds\": 0.25, \"status\": \"computed\"},\n"
                    "           {\"unit\": \"resnet50-original-f0\", \"seconds\": 61.5, \"status\": \"computed\"}]}\n");
    bad |= write_in(dir, "table1.csv",
                    "scope,clinic,n_pos,n_neg,age_mean_pos,age_sd_pos,age_mean_neg,age_sd_neg,student_t,student_df,"
                    "student_p,welch_t,welch_df,welch_p\n"
                    "all,,10,12,34.5,3.25,36.125,4,-1.2345,20,0.23114,-1.25,19.5,0.22553\n"
                    "clinic,A,1,3,35,,36,2,,,,,,\n");
    /* Table 2: resnet50 original shows AUROC "0.750 (0.071)" and accuracy "0.667 (0.100)" */
    bad |= write_in(dir, "table2.csv",
                    "arch,input,folds,auroc_mean,auroc_sd,accuracy_mean,accuracy_sd,sensitivity_mean,sensitivity_sd,"
                    "specificity_mean,specificity_sd\n"
                    "resnet50,original,2,0.75,0.070710678118654757,0.66666666666666663,0.1,0.5,0.2,0.8,0.05\n"
                    "resnet50,enhanced,2,0.80000000000000004,0.070710678118654757,0.75,0,0.625,0.125,0.875,0.125\n"
                    "vgg16,original,2,0.625,0.035355339059327376,0.58333333333333337,0.11785113019775792,0.5,0,0.5,0\n"
                    "vgg16,enhanced,2,0.69,0.042426406871192854,0.5,0.2357022603955158,0.25,0.35355339059327379,0.75,"
                    "0.35355339059327379\n");
    bad |= write_in(dir, "delong.csv",
                    "arch,fold,n,auroc_original,auroc_enhanced,enhanced_minus_original,z,p,cov\n"
                    "resnet50,0,6,0.77777777777777779,0.88888888888888884,0.11111111111111105,-0.5,0.61707507745197,"
                    "0.0123\n"
                    "resnet50,1,6,0.8,0.85,0.05,-0.25,0.80258,0.001\n"
                    "vgg16,0,6,0.6,0.66,0.06,-0.3,0.7642,0.002\n"
                    "vgg16,1,6,0.65,0.65,0,nan,nan,nan\n");
    bad |= write_in(dir, "calibration.json",
                    "{\"unit\": \"resnet50-enhanced-f1\", \"rule\": \"highest validation AUROC\",\n"
                    " \"before\": {\"brier\": 0.2, \"hosmer_lemeshow_quantile\": {\"chi2\": 5.5, \"df\": 8, \"p\": 0.7029,"
                    " \"groups\": 10}, \"hosmer_lemeshow_equal\": null,\n"
                    "  \"curve\": [{\"bin\": 1, \"low\": 0.1, \"high\": 0.2, \"total\": 2, \"prob_true\": 0, \"prob_pred\": 0.15},\n"
                    "            {\"bin\": 5, \"low\": 0.5, \"high\": 0.6, \"total\": 2, \"prob_true\": 0.5, \"prob_pred\": 0.55},\n"
                    "            {\"bin\": 8, \"low\": 0.8, \"high\": 0.9, \"total\": 2, \"prob_true\": 1, \"prob_pred\": 0.85}]},\n"
                    " \"after\": {\"brier\": 0.18, \"hosmer_lemeshow_quantile\": null, \"hosmer_lemeshow_equal\": {\"chi2\": null,"
                    " \"df\": 8, \"p\": null, \"groups\": 10, \"undefined\": \"a group has an expected count of 0\"},\n"
                    "  \"curve\": [{\"bin\": 0, \"low\": 0, \"high\": 0.1, \"total\": 3, \"prob_true\": 0, \"prob_pred\": 0},\n"
                    "            {\"bin\": 9, \"low\": 0.9, \"high\": 1, \"total\": 3, \"prob_true\": 1, \"prob_pred\": 1}]}}\n");
    bad |= write_in(dir, "table3.csv",
                    "category,n,model_a,hits_a,rate_a,model_b,hits_b,rate_b,mcnemar_b,mcnemar_c,mcnemar_exact_p,"
                    "mcnemar_chi2,mcnemar_chi2_p\n"
                    "both_correct,3,resnet50-original-f0,1,0.33333333333333331,resnet50-enhanced-f0,2,"
                    "0.66666666666666663,0,1,1,,\n"
                    "both_wrong,1,resnet50-original-f0,0,0,resnet50-enhanced-f0,1,1,0,1,1,,\n"
                    "only_a_correct,0,resnet50-original-f0,0,,resnet50-enhanced-f0,0,,0,0,1,,\n"
                    "only_b_correct,2,resnet50-original-f0,1,0.5,resnet50-enhanced-f0,2,1,0,1,1,,\n"
                    "total,6,resnet50-original-f0,2,0.33333333333333331,resnet50-enhanced-f0,5,0.83333333333333337,0,3,"
                    "0.25,1.3333333333333333,0.24821307898992373\n");
    bad |= make_dir(dir, "gradcam");
    bad |= make_dir(dir, "gradcam/resnet50-original-f0");
    bad |= make_dir(dir, "gradcam/resnet50-original-f0/overlays");
    bad |= make_dir(dir, "gradcam/resnet50-enhanced-f0");
    static const char focus_header[] = "id,label,score,hit,energy_icm,energy_te,energy_union,area_union\n";
    char text[1024];
    snprintf(text, sizeof text, "%sid1,1,0.91,1,0.4,0.3,0.6,0.2\nid2,0,0.25,0,0.1,0.1,0.15,0.2\n"
                                "id3,1,0.6,1,0.3,0.3,0.5,0.2\n", focus_header);
    bad |= write_in(dir, "gradcam/resnet50-original-f0/focus.csv", text);
    snprintf(text, sizeof text, "%sid1,1,0.97,1,0.5,0.3,0.7,0.2\nid2,0,0.12,1,0.2,0.4,0.5,0.2\n"
                                "id3,1,0.7,0,0.1,0.1,0.2,0.2\n", focus_header);
    bad |= write_in(dir, "gradcam/resnet50-enhanced-f0/focus.csv", text);
    char sub[1024];
    snprintf(sub, sizeof sub, "%s/gradcam/resnet50-original-f0/overlays", dir);
    bad |= write_png(sub, "id1.png", 1) | write_png(sub, "id2.png", 2);
    snprintf(sub, sizeof sub, "%s/gradcam/resnet50-enhanced-f0", dir);
    bad |= write_png(sub, "id1.png", 3) | write_png(sub, "id2.png", 4);
    bad |= write_units(dir);
    return bad ? -1 : 0;
}
