// PUCT selection (MuZero, EfficientZero, Sampled MuZero, AlphaZero) and root statistics.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "errors.h"
#include "rng.h"
#include "simd.h"
#include "tree.h"

namespace pipezero {

namespace {

// The PUCT scores of one row of A child slots, score = clip((Q - lo) * inv_span, 0, 1) + pb_c * U
// on the legal slots and -inf on the others, and their maximum in *top; returns the best slot
// when no other is within kTieTolerance of it, else -1 (ties, drawn by the caller from score).
// Lanes of doubles (D, with int64 lanes L, uint64 lanes UL and byte lanes U8 of the same count) run the
// operations of the scalar code, so the scores are the same bits on every CPU.
template <typename D, typename L, typename UL, typename U8, int Lanes>
PIPEZERO_INLINE int puct_row(const double* q, const double* u, const uint8_t* ok, int A, double lo, double inv_span,
                             double pb_c, double* score, double* top_out) {
  constexpr double kIllegal = -std::numeric_limits<double>::infinity();
  double top = kIllegal;
  int a = 0;
  if constexpr (Lanes > 1) {
    D top_v = D{} + kIllegal;
    for (; a + Lanes <= A; a += Lanes) {
      D qv, uv;
      U8 okv;
      std::memcpy(&qv, q + a, sizeof(qv));
      std::memcpy(&uv, u + a, sizeof(uv));
      std::memcpy(&okv, ok + a, sizeof(okv));
      const D scaled = (qv - lo) * inv_span;
      const D low = scaled < 0.0 ? D{} : scaled;         // std::max(scaled, 0.0)
      const D clipped = 1.0 < low ? D{} + 1.0 : low;      // std::min(low, 1.0)
      const D s = __builtin_convertvector(okv, L) != 0 ? clipped + pb_c * uv : D{} + kIllegal;
      std::memcpy(score + a, &s, sizeof(s));
      top_v = s > top_v ? s : top_v;
    }
    for (int j = 0; j < Lanes; ++j) top = top_v[j] > top ? top_v[j] : top;
  }
  for (; a < A; ++a) {
    const double scaled = (q[a] - lo) * inv_span;
    const double s = ok[a] ? std::min(std::max(scaled, 0.0), 1.0) + pb_c * u[a] : kIllegal;
    score[a] = s;
    top = s > top ? s : top;
  }
  *top_out = top;
  const double near_top = top - kTieTolerance;
  int64_t count = 0, last = 0;
  a = 0;
#if PIPEZERO_VECTORS
  if (A <= 64) {
    // Rows of up to 64 slots: one bit per near slot, one reduction of the lanes at the end.
    uint64_t bits = 0;
    if constexpr (Lanes > 1) {
      UL bits_v = {}, weight_v;
      for (int j = 0; j < Lanes; ++j) weight_v[j] = uint64_t{1} << j;
      for (; a + Lanes <= A; a += Lanes) {
        D s;
        std::memcpy(&s, score + a, sizeof(s));
        bits_v |= (UL)(s >= near_top) & weight_v;
        weight_v <<= Lanes;
      }
      for (int j = 0; j < Lanes; ++j) bits |= bits_v[j];
    }
    for (; a < A; ++a) bits |= static_cast<uint64_t>(score[a] >= near_top) << a;
    return __builtin_popcountll(bits) == 1 ? __builtin_ctzll(bits) : -1;
  }
#endif
  if constexpr (Lanes > 1) {
    L count_v = {}, last_v = {}, index_v;
    for (int j = 0; j < Lanes; ++j) index_v[j] = j;
    for (; a + Lanes <= A; a += Lanes) {
      D s;
      std::memcpy(&s, score + a, sizeof(s));
      const L near = s >= near_top;  // -1 where near
      count_v -= near;
      last_v = near != 0 ? index_v : last_v;
      index_v += Lanes;
    }
    for (int j = 0; j < Lanes; ++j) {
      count += count_v[j];
      last = std::max(last, last_v[j]);
    }
  }
  for (; a < A; ++a) {
    const bool near = score[a] >= near_top;
    count += near;
    last = near ? a : last;
  }
  return count == 1 ? static_cast<int>(last) : -1;
}

#if PIPEZERO_VECTORS
typedef double d2 __attribute__((vector_size(16)));
typedef int64_t l2 __attribute__((vector_size(16)));
typedef uint64_t ul2 __attribute__((vector_size(16)));
typedef uint8_t u2 __attribute__((vector_size(2)));
typedef double d4 __attribute__((vector_size(32)));
typedef int64_t l4 __attribute__((vector_size(32)));
typedef uint64_t ul4 __attribute__((vector_size(32)));
typedef uint8_t u4 __attribute__((vector_size(4)));
#endif

#if PIPEZERO_VECTORS && (defined(__x86_64__) || defined(__i386__))
// Four lanes on x86-64 CPUs with AVX2 (no FMA: the same roundings as the two-lane kernel).
__attribute__((target("avx2"))) int puct_row_avx2(const double* q, const double* u, const uint8_t* ok, int A,
                                                  double lo, double inv_span, double pb_c, double* score,
                                                  double* top) {
  return puct_row<d4, l4, ul4, u4, 4>(q, u, ok, A, lo, inv_span, pb_c, score, top);
}

bool has_avx2() {
  static const bool yes = __builtin_cpu_supports("avx2");
  return yes;
}
#endif

int puct_scores(const double* q, const double* u, const uint8_t* ok, int A, double lo, double inv_span, double pb_c,
                double* score, double* top) {
#if PIPEZERO_VECTORS && (defined(__x86_64__) || defined(__i386__))
  if (has_avx2()) return puct_row_avx2(q, u, ok, A, lo, inv_span, pb_c, score, top);
#endif
#if PIPEZERO_VECTORS
  return puct_row<d2, l2, ul2, u2, 2>(q, u, ok, A, lo, inv_span, pb_c, score, top);
#else
  return puct_row<double, int64_t, uint64_t, uint8_t, 1>(q, u, ok, A, lo, inv_span, pb_c, score, top);
#endif
}

}  // namespace

// MuZero's PUCT rule (Schrittwieser et al., 2020, appendix B):
//   score(a) = Qn(a) + P(a) * sqrt(N) / (1 + n(a)) * (pb_c_init + log((N + pb_c_base + 1) / pb_c_base))
// with N the visits of node n, n(a) the visits of child a, Qn the min-max normalised Q of the
// tree (0 for unvisited children) and P the prior (with Dirichlet noise at the root).
int Forest::select_puct(int b, int n) {
  const int64_t f = node_at(b, n);
  const double pb_c = pb_c_table_[visits[f]];
  // Min-max normalisation, hoisted out of the loop: Qn = clip((Q - lo) * inv_span, 0, 1).
  // Before any Q is backed up every child is unvisited and scores Qn = 0 (lo = inv_span = 0).
  const bool seen = q_max[b] >= q_min[b];
  const double lo = seen ? q_min[b] : 0.0;
  const double inv_span = seen ? 1.0 / std::max(q_max[b] - q_min[b], cfg.value_delta_max) : 0.0;
  // The rows of n's child slots that the backup keeps current: U = P / (1 + n(a)) and Q, which
  // is kUnexpandedQ on unexpanded slots, so their Qn clips to 0 with no test of the visits.
  const int64_t base = f * A;
  double top;
  const int best = puct_scores(slot_q.data() + base, slot_u.data() + base, legal.data() + base, A, lo, inv_span,
                               pb_c, scores_.data(), &top);
  if (best >= 0) return best;
  if (!(top > -std::numeric_limits<double>::infinity())) {
    fail_order("internal error: no eligible child slot in tree ", b);
  }
  // Ties: the slots within kTieTolerance of the best, one drawn with the tree's generator (as
  // argmax_with_ties does).
  int count = 0;
  for (int a = 0; a < A; ++a) {
    if (scores_[a] >= top - kTieTolerance) candidates_[count++] = a;
  }
  return candidates_[static_cast<int>(rng_next(rng[b]) % static_cast<uint64_t>(count))];
}

// Chance nodes of stochastic trees (Antonoglou et al., 2022): the code maximising
// P(c) / (1 + n(c)) among the legal codes, so visits follow the chance distribution.
int Forest::select_chance(int b, int n) {
  const int64_t base = node_at(b, n) * A;
  const int64_t first_node = node_at(b, 0);
  for (int a = 0; a < A; ++a) {
    eligible_[a] = legal[base + a];
    if (!eligible_[a]) continue;
    const int c = children[base + a];
    const double child_visits = c >= 0 ? visits[first_node + c] : 0.0;
    scores_[a] = prior[base + a] / (1.0 + child_visits);
  }
  return argmax_with_ties(b, scores_.data(), eligible_.data());
}

void Forest::root_visits(int32_t* out) const {
  for (int b = 0; b < B; ++b) {
    const int64_t base = child_at(b, 0, 0);
    for (int a = 0; a < A; ++a) {
      const int c = children[base + a];
      out[static_cast<int64_t>(b) * A + a] = c >= 0 ? visits[node_at(b, c)] : 0;
    }
  }
}

void Forest::root_values(float* out) const {
  for (int b = 0; b < B; ++b) out[b] = static_cast<float>(node_value(node_at(b, 0)));
}

void Forest::root_q(float* out) const {
  for (int b = 0; b < B; ++b) {
    const int64_t base = child_at(b, 0, 0);
    for (int a = 0; a < A; ++a) {
      const int c = children[base + a];
      out[static_cast<int64_t>(b) * A + a] =
          c >= 0 ? static_cast<float>(child_q(b, 0, c)) : std::numeric_limits<float>::quiet_NaN();
    }
  }
}

}  // namespace pipezero
