// One-pass softmax expectation and h^-1 for categorical value heads (see decode.h).
#include "decode.h"

#include <cmath>
#include <cstring>

#include "simd.h"

namespace pipezero {
namespace {

using namespace simd;

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
    // Four independent vectors per step, so the polynomials of 4 * Lanes logits overlap; then
    // one vector at a time; then the last `Lanes` logits of the row once more with the lanes
    // already counted masked out (no scalar exp unless the row is shorter than a vector).
    F sum_v[4] = {}, weighted_v[4] = {};
    F lane;
    for (int j = 0; j < Lanes; ++j) lane[j] = static_cast<float>(j);
    F bin_v = lane + first_bin;
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
    for (int j = 0; done + Lanes <= width; done += Lanes, j = (j + 1) & 3) {
      F v;
      std::memcpy(&v, l + done, sizeof(v));
      const F e = exp_nonpositive<F>(v - top);
      sum_v[j] += e;
      weighted_v[j] += e * bin_v;
      bin_v += static_cast<float>(Lanes);
    }
    if (done < width && width >= Lanes) {
      const int start = width - Lanes;  // overlaps the counted logits [start, done)
      F v;
      std::memcpy(&v, l + start, sizeof(v));
      F e = exp_nonpositive<F>(v - top);
      e = lane + static_cast<float>(start) >= static_cast<float>(done) ? e : F{};
      sum_v[0] += e;
      weighted_v[0] += e * (lane + (first_bin + static_cast<float>(start)));
      done = width;
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

__attribute__((target("avx512f"))) void decode_rows_avx512(const float* logits, int64_t stride, int64_t rows,
                                                           int support_size, double eps, float* out) {
  decode_rows<f16, 16>(logits, stride, rows, support_size, eps, out);
}

bool has_avx2() {
  static const bool yes = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
  return yes;
}

bool has_avx512() {
  static const bool yes = __builtin_cpu_supports("avx512f");
  return yes;
}
#endif

}  // namespace

void decode_support(const float* logits, int64_t stride, int64_t rows, int support_size, double eps, float* out) {
#if (defined(__GNUC__) || defined(__clang__)) && (defined(__x86_64__) || defined(__i386__))
  if (has_avx512()) return decode_rows_avx512(logits, stride, rows, support_size, eps, out);
  if (has_avx2()) return decode_rows_avx2(logits, stride, rows, support_size, eps, out);
#endif
#if PIPEZERO_VECTORS
  decode_rows<f4, 4>(logits, stride, rows, support_size, eps, out);
#else
  decode_rows<float, 1>(logits, stride, rows, support_size, eps, out);
#endif
}

}  // namespace pipezero
