// Float vectors and a branchless exp shared by the row kernels (decode.cpp, kernels.cpp).
//
// With GCC or Clang the compilers' vector extensions give vectors of four floats (SSE2 on
// x86-64, NEON on ARM) and, inside functions compiled for AVX2 (AVX-512F), eight (sixteen).
// Every lane runs the float operations of the scalar code. The helpers are always inlined, so they take the
// instruction set of the kernel that calls them. This file is free of Python.
#pragma once

#include <cstdint>
#include <cstring>

namespace pipezero {
namespace simd {

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
#define PIPEZERO_VECTORS 1
#define PIPEZERO_INLINE inline __attribute__((always_inline))
typedef float f4 __attribute__((vector_size(16)));
typedef int32_t i4 __attribute__((vector_size(16)));
#if defined(__GNUC__) && !defined(__clang__)
// The eight- and sixteen-lane helpers are only ever inlined into AVX2 / AVX-512 kernels, never
// called across an ABI boundary, so GCC's note on passing AVX vectors without AVX does not apply.
#pragma GCC diagnostic ignored "-Wpsabi"
#endif
typedef float f8 __attribute__((vector_size(32)));
typedef int32_t i8 __attribute__((vector_size(32)));
// Sixteen lanes: only inside functions compiled for AVX-512F.
typedef float f16 __attribute__((vector_size(64)));
typedef int32_t i16 __attribute__((vector_size(64)));
PIPEZERO_INLINE i4 as_int(f4 x) { return (i4)x; }
PIPEZERO_INLINE f4 as_float(i4 x) { return (f4)x; }
PIPEZERO_INLINE i8 as_int(f8 x) { return (i8)x; }
PIPEZERO_INLINE f8 as_float(i8 x) { return (f8)x; }
PIPEZERO_INLINE i16 as_int(f16 x) { return (i16)x; }
PIPEZERO_INLINE f16 as_float(i16 x) { return (f16)x; }
#else
#define PIPEZERO_VECTORS 0
#define PIPEZERO_INLINE inline
#endif

// exp(x) for x <= 0 (Cephes expf, about 1 ulp): x = n ln2 + r with |r| <= ln2 / 2, a degree-6
// polynomial in r, times 2^n written into the exponent bits. No branches and no library call,
// so all lanes run at once. Inputs below -87 give exp(-87) < 2e-38: nothing next to the row's
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

}  // namespace simd
}  // namespace pipezero
