// One-pass softmax expectation and h^-1 for categorical value heads (see decode.h).
#include "decode.h"

#include <cmath>
#include <cstring>

namespace pipezero {
namespace {

#if defined(__GNUC__) || defined(__clang__)
// Four floats at a time with the compilers' vector extensions (SSE2 on x86-64, NEON on ARM);
// every lane runs the float operations of the scalar code.
typedef float f4 __attribute__((vector_size(16)));
typedef int32_t i4 __attribute__((vector_size(16)));
inline i4 as_int(f4 x) { return (i4)x; }
inline f4 as_float(i4 x) { return (f4)x; }
#endif

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

// exp(x) for x <= 0 (Cephes expf): x = n ln2 + r with |r| <= ln2 / 2, a degree-6 polynomial
// in r, times 2^n written into the exponent bits. No branches and no library call, so four
// lanes run at once. Inputs below -87 give exp(-87) < 2e-38: nothing next to the row's
// largest term, exp(0) = 1.
template <typename F>
inline F exp_nonpositive(F x) {
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

// sum_i exp(l_i - top) and sum_i exp(l_i - top) * (first_bin + i) over l[begin, end), added
// to *sum and *weighted (scalar code: the tail of a row, or every row without vectors).
void scalar_sums(const float* l, int begin, int end, float top, float first_bin, double* sum, double* weighted) {
  for (int i = begin; i < end; ++i) {
    const float e = exp_nonpositive<float>(l[i] - top);
    *sum += e;
    *weighted += static_cast<double>(e) * (first_bin + static_cast<float>(i));
  }
}

}  // namespace

void decode_support(const float* logits, int64_t stride, int64_t rows, int support_size, double eps, float* out) {
  const int width = 2 * support_size + 1;
  const float first_bin = static_cast<float>(-support_size);
  const float c = static_cast<float>(1.0 + 2.0 * eps);
  const float four_eps = static_cast<float>(4.0 * eps);
  for (int64_t r = 0; r < rows; ++r) {
    const float* l = logits + r * stride;
    float top = l[0];
    double sum = 0.0, weighted = 0.0;
    int done = 0;
#if defined(__GNUC__) || defined(__clang__)
    {
      const int vec_end = width / 4 * 4;
      f4 top4 = f4{} + top;
      for (int i = 0; i < vec_end; i += 4) {
        f4 v;
        std::memcpy(&v, l + i, sizeof(v));
        top4 = v > top4 ? v : top4;
      }
      top = std::fmax(std::fmax(top4[0], top4[1]), std::fmax(top4[2], top4[3]));
      for (int i = vec_end; i < width; ++i) top = l[i] > top ? l[i] : top;
      // Four independent vectors per step, so the polynomials of 16 logits overlap.
      f4 sum4[4] = {}, weighted4[4] = {};
      f4 bin4 = f4{0.0f, 1.0f, 2.0f, 3.0f} + first_bin;
      for (; done + 16 <= width; done += 16) {
        for (int j = 0; j < 4; ++j) {
          f4 v;
          std::memcpy(&v, l + done + 4 * j, sizeof(v));
          const f4 e = exp_nonpositive<f4>(v - top);
          sum4[j] += e;
          weighted4[j] += e * (bin4 + 4.0f * static_cast<float>(j));
        }
        bin4 += 16.0f;
      }
      const f4 s4 = (sum4[0] + sum4[1]) + (sum4[2] + sum4[3]);
      const f4 w4 = (weighted4[0] + weighted4[1]) + (weighted4[2] + weighted4[3]);
      sum = (static_cast<double>(s4[0]) + s4[1]) + (static_cast<double>(s4[2]) + s4[3]);
      weighted = (static_cast<double>(w4[0]) + w4[1]) + (static_cast<double>(w4[2]) + w4[3]);
    }
#else
    for (int i = 1; i < width; ++i) top = l[i] > top ? l[i] : top;
#endif
    scalar_sums(l, done, width, top, first_bin, &sum, &weighted);
    const float y = static_cast<float>(weighted / sum);
    // h^-1 in float32, the operations of pipezero.model.support.inverse_value_transform
    const float a = std::fabs(y);
    const float t = std::sqrt(a * four_eps + c * c) + c;
    const float w = (a * 2.0f) / t;
    out[r] = std::copysign(w * (w + 2.0f), y);
  }
}

}  // namespace pipezero
