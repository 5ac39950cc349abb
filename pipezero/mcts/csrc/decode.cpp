// One-pass softmax expectation and h^-1 for categorical value heads (see decode.h).
#include "decode.h"

#include <cmath>
#include <cstring>

namespace pipezero {
namespace {

inline int32_t as_int(float x) {
  int32_t i;
  std::memcpy(&i, &x, sizeof(i));
  return i;
}
inline float as_float(int32_t x) {
  float f;
  std::memcpy(&f, &x, sizeof(f));
  return f;
}

#if defined(__GNUC__) || defined(__clang__)
#define PIPEZERO_INLINE inline __attribute__((always_inline))
// Vectors of floats with the compilers' vector extensions: four lanes (SSE2 on x86-64, NEON
// on ARM) and, on x86-64 CPUs with AVX2 and FMA, eight. Every lane runs the float operations
// of the scalar code. The helpers are always inlined, so they take the instruction set of
// the kernel that calls them.
typedef float f4 __attribute__((vector_size(16)));
typedef int32_t i4 __attribute__((vector_size(16)));
#if defined(__GNUC__) && !defined(__clang__)
// The eight-lane helpers are only ever inlined into the AVX2 kernel, never called across
// an ABI boundary, so GCC's note on passing AVX vectors without AVX does not apply.
#pragma GCC diagnostic ignored "-Wpsabi"
#endif
typedef float f8 __attribute__((vector_size(32)));
typedef int32_t i8 __attribute__((vector_size(32)));
PIPEZERO_INLINE i4 as_int(f4 x) { return (i4)x; }
PIPEZERO_INLINE f4 as_float(i4 x) { return (f4)x; }
PIPEZERO_INLINE i8 as_int(f8 x) { return (i8)x; }
PIPEZERO_INLINE f8 as_float(i8 x) { return (f8)x; }
#else
#define PIPEZERO_INLINE inline
#endif

// exp(x) for x <= 0 (Cephes expf): x = n ln2 + r with |r| <= ln2 / 2, a degree-6 polynomial
// in r, times 2^n written into the exponent bits. No branches and no library call, so all
// lanes run at once. Inputs below -87 give exp(-87) < 2e-38: nothing next to the row's
// largest term, exp(0) = 1.
template <typename F>
PIPEZERO_INLINE F exp_nonpositive(F x) {
  x = x < -87.0f ? F{} - 87.0f : x;
  const F t = x * 1.44269504088896341f + 12582912.0f;  // + 1.5 * 2^23 rounds to an integer
  const F n = t - 12582912.0f;
  const auto k = as_int(t) - 0x4B400000;  // that integer, from t's mantissa
  F r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  const F z = r * r;
  F y = F{} + 1.9875691500e-4f;
  y = y * r + 1.3981999507e-3f;
  y = y * r + 8.3334519073e-3f;
  y = y * r + 4.1665795894e-2f;
  y = y * r + 1.6666665459e-1f;
  y = y * r + 5.0000001201e-1f;
  y = y * z + r + 1.0f;
  return y * as_float((k + 127) << 23);
}

// One row: h^-1(sum_i softmax(l)_i * (first_bin + i)) over `width` logits, with vectors of
// `Lanes` floats for the bulk of the row and scalar code for its tail.
template <typename F, int Lanes>
PIPEZERO_INLINE float decode_row(const float* l, int width, float first_bin, float c, float four_eps) {
  float top = l[0];
  double sum = 0.0, weighted = 0.0;
  int done = 0;
  if constexpr (Lanes > 1) {
    const int vec_end = width / Lanes * Lanes;
    F top_v = F{} + top;
    for (int i = 0; i < vec_end; i += Lanes) {
      F v;
      std::memcpy(&v, l + i, sizeof(v));
      top_v = v > top_v ? v : top_v;
    }
    for (int j = 0; j < Lanes; ++j) top = std::fmax(top, top_v[j]);
    for (int i = vec_end; i < width; ++i) top = l[i] > top ? l[i] : top;
    // Four independent vectors per step, so the polynomials of 4 * Lanes logits overlap.
    F sum_v[4] = {}, weighted_v[4] = {};
    F bin_v;
    for (int j = 0; j < Lanes; ++j) bin_v[j] = first_bin + static_cast<float>(j);
    for (; done + 4 * Lanes <= width; done += 4 * Lanes) {
      for (int j = 0; j < 4; ++j) {
        F v;
        std::memcpy(&v, l + done + Lanes * j, sizeof(v));
        const F e = exp_nonpositive<F>(v - top);
        sum_v[j] += e;
        weighted_v[j] += e * (bin_v + static_cast<float>(Lanes * j));
      }
      bin_v += static_cast<float>(4 * Lanes);
    }
    const F s = (sum_v[0] + sum_v[1]) + (sum_v[2] + sum_v[3]);
    const F w = (weighted_v[0] + weighted_v[1]) + (weighted_v[2] + weighted_v[3]);
    for (int j = 0; j < Lanes; ++j) {
      sum += s[j];
      weighted += w[j];
    }
  } else {
    for (int i = 1; i < width; ++i) top = l[i] > top ? l[i] : top;
  }
  for (int i = done; i < width; ++i) {
    const float e = exp_nonpositive<float>(l[i] - top);
    sum += e;
    weighted += static_cast<double>(e) * (first_bin + static_cast<float>(i));
  }
  const float y = static_cast<float>(weighted / sum);
  // h^-1 in float32, the operations of pipezero.model.support.inverse_value_transform
  const float a = std::fabs(y);
  const float t = std::sqrt(a * four_eps + c * c) + c;
  const float w = (a * 2.0f) / t;
  return std::copysign(w * (w + 2.0f), y);
}

template <typename F, int Lanes>
PIPEZERO_INLINE void decode_rows(const float* logits, int64_t stride, int64_t rows, int support_size, double eps,
                                 float* out) {
  const int width = 2 * support_size + 1;
  const float first_bin = static_cast<float>(-support_size);
  const float c = static_cast<float>(1.0 + 2.0 * eps);
  const float four_eps = static_cast<float>(4.0 * eps);
  for (int64_t r = 0; r < rows; ++r) out[r] = decode_row<F, Lanes>(logits + r * stride, width, first_bin, c, four_eps);
}

#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
__attribute__((target("avx2,fma"))) void decode_rows_avx2(const float* logits, int64_t stride, int64_t rows,
                                                          int support_size, double eps, float* out) {
  decode_rows<f8, 8>(logits, stride, rows, support_size, eps, out);
}

bool has_avx2() {
  static const bool yes = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return yes;
}
#endif

}  // namespace

void decode_support(const float* logits, int64_t stride, int64_t rows, int support_size, double eps, float* out) {
#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
  if (has_avx2()) return decode_rows_avx2(logits, stride, rows, support_size, eps, out);
#endif
#if defined(__GNUC__) || defined(__clang__)
  decode_rows<f4, 4>(logits, stride, rows, support_size, eps, out);
#else
  decode_rows<float, 1>(logits, stride, rows, support_size, eps, out);
#endif
}

}  // namespace pipezero
