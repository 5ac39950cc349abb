// Masked softmax of the priors (see softmax.h).
#include "softmax.h"

#include <cstring>
#include <limits>

#include "simd.h"

namespace pipezero {

using namespace simd;

namespace {

// Stands in for the illegal slots' logit - top: far below every legal term, so the
// polynomial runs on a harmless number before the mask zeroes it.
constexpr float kIllegal = -100.0f;

}  // namespace

bool masked_softmax(const float* logits, const uint8_t* legal, int width, float* prior) {
  float top = -std::numeric_limits<float>::infinity();
  bool any = false;
  for (int a = 0; a < width; ++a) {
    if (legal != nullptr && !legal[a]) continue;
    top = any && top >= logits[a] ? top : logits[a];
    any = true;
  }
  if (!any) return false;
  float sum = 0.0f;
  int done = 0;
#if PIPEZERO_VECTORS
  f4 sum_v = {};
  for (; done + 4 <= width; done += 4) {
    f4 x;
    std::memcpy(&x, logits + done, sizeof(x));
    i4 ok = {1, 1, 1, 1};
    if (legal != nullptr) ok = i4{legal[done], legal[done + 1], legal[done + 2], legal[done + 3]};
    x = ok != 0 ? x - top : f4{} + kIllegal;
    f4 e = exp_nonpositive<f4>(x);
    e = ok != 0 ? e : f4{};
    std::memcpy(prior + done, &e, sizeof(e));
    sum_v += e;
  }
  sum = (sum_v[0] + sum_v[1]) + (sum_v[2] + sum_v[3]);
#endif
  for (int a = done; a < width; ++a) {
    const bool ok = legal == nullptr || legal[a];
    const float e = ok ? exp_nonpositive<float>(logits[a] - top) : 0.0f;
    prior[a] = e;
    sum += e;
  }
  for (int a = 0; a < width; ++a) prior[a] /= sum;
  return true;
}

}  // namespace pipezero
