/* stb_impl.c — the stb_image / stb_image_write implementations compiled into the fuzz binaries, so the decoder
 * itself runs under ASan/UBSan and libFuzzer's coverage (Debian's libstb.so is not instrumented). The executable's
 * definitions take precedence over the shared library's. Same header, same version as libblasto uses. The replay
 * programs (non-fuzz builds) link it too, so under -DBLASTO_SANITIZE=ON the regressions replay through an
 * instrumented decoder. */
#if defined(__clang__)
#pragma clang diagnostic ignored "-Wunused-function"
#endif
#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include <stb/stb_image.h>
#include <stb/stb_image_write.h>
