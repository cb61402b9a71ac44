/* core/ref/ops.h — every ref kernel, written once and compiled twice by core/ref/ref.c (float, then double).
 *
 * A template, not a header: no include guard, included only by core/ref/ref.c, which defines four macros
 * before each inclusion:
 *   real          the element type of every buffer: float, then double;
 *   REF_FN(name)  the function's name: `name` for the float variant, name##_f64 for the double one — every
 *                 definition is written with its full float name (REF_FN(conv2d_forward_ref)), so grepping
 *                 conv2d_forward_ref finds it;
 *   REF_SELF      the first parameter every slot takes, `const bl_kernels *self,` (the table the kernel was called
 *                 through; ref never reads it), then nothing: the double variants are no slots;
 *   REAL_FMA      fmaf, then fma (fused multiply-add; only the optimizers use it).
 * The op files also use the type-free helpers ref.c defines first (sigmoid_stable, softplus_of_minus_abs,
 * pool_windows_covering, the bilinear taps, class_of).
 *
 * Numerics (the same in both variants):
 *   - every reduction — the k-sum of GEMM, the (ci,i,j) sum of a convolution, batchnorm's mean, variance and
 *     its two backward sums, pooling averages, the global average, sum, the BCE mean — is accumulated in
 *     `double` in a fixed sequential order, and every elementwise formula is evaluated in double; the result is
 *     rounded to `real` once, at the store. For the float variant this is "round once": the most accurate
 *     answer float can hold, which is what makes it a good oracle for the faster backends.
 *   - a backward kernel accumulates as dst = (real)(dst + contribution), the addition done in double, and every
 *     backward is a gather (one sum per gradient element, even for conv and pooling where windows overlap), so
 *     each gradient element is rounded once per call.
 *   - the two optimizers are the exception on purpose: they repeat torch's sequence of tensor operations
 *     (each one rounded to `real`, as torch's float tensor ops are, fused multiply-adds where torch fuses),
 *     because their purpose is to reproduce torch's trajectory, not to be more accurate than it. Scalars
 *     (1 − β, lr/bc1, √bc2, …) are computed in double from the float hyper-parameters, as torch computes them in
 *     Python floats, then rounded to `real` at use (core/ref/optim.h).
 * Shapes and formulas are those of core/kernels.h; each kernel's comment repeats every buffer's shape and role.
 * Kernels trust the shape struct (autograd's core/op_*.c validates shapes and returns a bl_status). */

#include "core/ref/sgemm.h"
#include "core/ref/conv2d.h"
#include "core/ref/batchnorm2d.h"
#include "core/ref/pool2d.h"
#include "core/ref/resize.h"
#include "core/ref/linear.h"
#include "core/ref/elementwise.h"
#include "core/ref/concat_channels.h"
#include "core/ref/loss.h"
#include "core/ref/optim.h"
