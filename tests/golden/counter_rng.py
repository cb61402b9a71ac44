"""counter_rng.py — the numpy twin of blasto's counter RNG (core/rng.c) and of bl_model_fill_deterministic
(models/models.h), shared by the golden generators (gen_models.py, gen_keras.py, keras_files.py).

What it is: bit-exact restatements, vectorised with numpy uint64 (wrapping arithmetic). Needs numpy only.
  mix = splitmix64 finaliser; stream key = mix(mix(mix(seed+γ) ^ (purpose+γ)) ^ (index+γ)), γ = 0x9E3779B97F4A7C15;
  the k-th value (k = 1, 2, …) is mix(key + k·γ); a uniform is (v >> 40)·2^-24 in float32 (exact).
  bl_model_fill_deterministic(seed) fills tensor `name` from stream (seed, RNG_INIT, fnv1a64(name)), element i
  (row-major) taking the (i+1)-th uniform u: ndim ≥ 2 → (2u − 1)·(float)sqrt(6/fan_in); BN weight and running_var
  → 0.5 + u; running_mean and every bias → 0.2·(u − 0.5) (float32 arithmetic).
What it is not: a random number generator for anything but fixtures.
"""
import numpy as np

MASK64 = (1 << 64) - 1
GAMMA = 0x9E3779B97F4A7C15
RNG_INIT, RNG_TEST = 1, 5  # BL_RNG_INIT, BL_RNG_TEST (core/rng.h)


def mix64_scalar(z):
    z &= MASK64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return z ^ (z >> 31)


def mix64_array(z):
    """splitmix64 finaliser on a uint64 array (wrapping arithmetic, in place where possible)."""
    z ^= z >> np.uint64(30)
    z *= np.uint64(0xBF58476D1CE4E5B9)
    z ^= z >> np.uint64(27)
    z *= np.uint64(0x94D049BB133111EB)
    z ^= z >> np.uint64(31)
    return z


def stream_key(seed, purpose, index):
    key = mix64_scalar(seed + GAMMA)
    key = mix64_scalar(key ^ ((purpose + GAMMA) & MASK64))
    return mix64_scalar(key ^ ((index + GAMMA) & MASK64))


def uniforms(seed, purpose, index, count, chunk=1 << 24):
    """The first `count` uniforms of stream (seed, purpose, index) as float32 [count], in chunks to bound memory."""
    key = np.uint64(stream_key(seed, purpose, index))
    out = np.empty(count, dtype=np.float32)
    for start in range(0, count, chunk):
        n = min(chunk, count - start)
        z = np.arange(start + 1, start + n + 1, dtype=np.uint64)
        z *= np.uint64(GAMMA)
        z += key
        mix64_array(z)
        z >>= np.uint64(40)
        out[start:start + n] = z.astype(np.float32) * np.float32(2.0 ** -24)
    return out


def fnv1a64(name):
    h = 0xCBF29CE484222325
    for byte in name.encode("utf-8"):
        h = ((h ^ byte) * 0x100000001B3) & MASK64
    return h


def deterministic_values(name, shape, seed):
    """float32 array of `shape` that bl_model_fill_deterministic writes into tensor `name` (float32 arithmetic)."""
    count = int(np.prod(shape)) if len(shape) else 1
    u = uniforms(seed, RNG_INIT, fnv1a64(name), count)
    leaf = name.rsplit(".", 1)[-1]
    if len(shape) >= 2:
        fan_in = int(np.prod(shape[1:]))
        scale = np.float32(np.sqrt(6.0 / fan_in))  # (float)sqrt(6.0 / fan_in), computed in double as in C
        values = (np.float32(2.0) * u - np.float32(1.0)) * scale
    elif leaf in ("weight", "running_var"):
        values = np.float32(0.5) + u
    elif leaf in ("bias", "running_mean"):
        values = np.float32(0.2) * (u - np.float32(0.5))
    else:
        raise ValueError("no deterministic fill rule for " + name)
    assert values.dtype == np.float32
    return values.reshape(shape)


