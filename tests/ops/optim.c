/* optim.c — the op-test cases of the SGD and Adam/AdamW updates (docs/ops/sgd.md, adam.md): an optimizer made with
 * the public API (core/optim.h) over one parameter, several steps, a fresh random gradient before each; the parameter
 * and the optimizer's state compared bitwise with ref's on every backend (every backend repeats ref's float
 * operations in ref's order, with fused multiply-adds exactly where ref has them). Their trajectories against
 * torch.optim are tests/test_golden_train.c's. */
#include "core/optim.h"
#include "ops/optest.h"

#define PARAMETER(count) .in = {{.ndim = 1, .shape = {count}, .fill = OPTEST_AWKWARD}}

enum { FIXED = 0, NESTEROV_ALTERNATES };

static const optest_case sgd_cases[] = {
    {"plain SGD, 4 steps", PARAMETER(4099), .a = {.steps = 4, .lr = 0.05f}, .flags = OPTEST_FORWARD_ONLY},
    {"momentum, weight decay, 4 steps", PARAMETER(4099),
     .a = {.steps = 4, .lr = 0.05f, .momentum_sgd = 0.9f, .weight_decay = 1e-4f}, .flags = OPTEST_FORWARD_ONLY},
    {"momentum, dampening, weight decay, 4 steps", PARAMETER(4099),
     .a = {.steps = 4, .lr = 0.05f, .momentum_sgd = 0.9f, .dampening = 0.1f, .weight_decay = 5e-4f},
     .flags = OPTEST_FORWARD_ONLY},
    {"Nesterov, 4 steps", PARAMETER(4099),
     .a = {.steps = 4, .lr = 0.05f, .momentum_sgd = 0.9f, .weight_decay = 1e-4f, .nesterov = 1},
     .flags = OPTEST_FORWARD_ONLY},
    {"100003 elements, 2 steps, Nesterov on the second", PARAMETER(100003),
     .a = {.steps = 2, .lr = 0.01f, .momentum_sgd = 0.9f, .dampening = 0.1f, .weight_decay = 1e-4f,
           .variant = NESTEROV_ALTERNATES},
     .flags = OPTEST_FORWARD_ONLY},
};

static const optest_case adam_cases[] = {
    {"Adam, weight decay, 5 steps", PARAMETER(4099),
     .a = {.steps = 5, .lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 1e-2f},
     .flags = OPTEST_FORWARD_ONLY},
    {"AdamW, 5 steps", PARAMETER(4099),
     .a = {.steps = 5, .lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 1e-2f,
           .decoupled = 1},
     .flags = OPTEST_FORWARD_ONLY},
    {"Adam, 100003 elements, 2 steps", PARAMETER(100003),
     .a = {.steps = 2, .lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0.01f},
     .flags = OPTEST_FORWARD_ONLY},
    {"AdamW, 100003 elements, 2 steps", PARAMETER(100003),
     .a = {.steps = 2, .lr = 1e-3f, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f, .weight_decay = 0.01f,
           .decoupled = 1},
     .flags = OPTEST_FORWARD_ONLY},
};

/* The steps: before each, a fresh gradient in [−1, 1) into the parameter's .grad. Declares the optimizer's state
 * tensors as outputs ("momentum", "m", "v"); returns the parameter. */
static bl_tensor *run_steps(optest_run *r, bl_optimizer *opt) {
    const optest_attrs *a = optest_attrs_of(r);
    bl_ctx *ctx = optest_ctx(r);
    bl_tensor *p = optest_in(r, 0);
    for (int step = 0; step < a->steps && bl_ctx_status(ctx) == BL_OK; step++) {
        float *g = optest_random(r, p->numel, (uint64_t)step + 1, -1.0f, 1.0f);
        if (!g || bl_tensor_upload(ctx, p->grad, g) != BL_OK) break;
        if (a->variant == NESTEROV_ALTERNATES) opt->nesterov = step % 2;
        if (bl_optimizer_step(opt) != BL_OK) bl_ctx_fail(ctx, BL_ERR_INVALID, "optimizer step: %s", bl_last_error());
    }
    if (opt->state_a && opt->state_a[0]) optest_output(r, opt->kind == BL_OPTIM_SGD ? "momentum" : "m", opt->state_a[0]);
    if (opt->state_b && opt->state_b[0]) optest_output(r, "v", opt->state_b[0]);
    bl_optimizer_free(opt); /* its state tensors live in the context's arena: still there for the harness */
    return bl_ctx_status(ctx) == BL_OK ? p : NULL;
}

static bl_tensor *build_sgd(optest_run *r) {
    const optest_attrs *a = optest_attrs_of(r);
    bl_optimizer *opt = NULL;
    if (bl_sgd_create(optest_ctx(r), a->lr, a->momentum_sgd, a->dampening, a->weight_decay, a->nesterov, &opt) !=
        BL_OK)
        return bl_ctx_fail(optest_ctx(r), BL_ERR_INVALID, "sgd: %s", bl_last_error());
    return run_steps(r, opt);
}

static bl_tensor *build_adam(optest_run *r) {
    const optest_attrs *a = optest_attrs_of(r);
    bl_optimizer *opt = NULL;
    if (bl_adam_create(optest_ctx(r), a->decoupled ? BL_OPTIM_ADAMW : BL_OPTIM_ADAM, a->lr, a->beta1, a->beta2,
                       a->eps, a->weight_decay, &opt) != BL_OK)
        return bl_ctx_fail(optest_ctx(r), BL_ERR_INVALID, "adam: %s", bl_last_error());
    return run_steps(r, opt);
}

static optest_tol bitwise(const optest_case *c, const char *t, optest_class cls, int64_t *k) { return OPTEST_BITWISE; }

const optest_op optest_op_sgd = {
    .name = "sgd", .doc = "docs/ops/sgd.md", .n_inputs = 1, .input_names = {"p"}, .default_roles = {OPTEST_PARAM},
    .cases = sgd_cases, .n_cases = (int)(sizeof sgd_cases / sizeof sgd_cases[0]), .build = build_sgd,
    .tolerance = bitwise,
};

const optest_op optest_op_adam = {
    .name = "adam", .doc = "docs/ops/adam.md", .n_inputs = 1, .input_names = {"p"}, .default_roles = {OPTEST_PARAM},
    .cases = adam_cases, .n_cases = (int)(sizeof adam_cases / sizeof adam_cases[0]), .build = build_adam,
    .tolerance = bitwise,
};
