// PUCT selection (MuZero, EfficientZero, Sampled MuZero, AlphaZero) and root statistics.
#include <algorithm>
#include <cmath>
#include <limits>

#include "errors.h"
#include "rng.h"
#include "tree.h"

namespace pipezero {

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
  // The row of n's child slots: the backup keeps each expanded child's visits and Q there
  // (0 and 0 while unexpanded; an expanded child has at least its own first visit).
  const int64_t base = f * A;
  const uint8_t* ok = legal.data() + base;
  const float* p = prior.data() + base;
  const int32_t* n_child = slot_visits.data() + base;
  const double* q_child = slot_q.data() + base;
  double* score = scores_.data();
  // No branches and no legality test here, so the compiler vectorises the divisions; the
  // legal mask applies in the argmax below.
  for (int a = 0; a < A; ++a) {
    const double child_visits = n_child[a];
    const double scaled = (q_child[a] - lo) * inv_span;
    const double clipped = std::min(std::max(scaled, 0.0), 1.0);
    const double q = n_child[a] > 0 ? clipped : 0.0;
    score[a] = q + pb_c * p[a] / (1.0 + child_visits);
  }
  // The usual case without branches that depend on the scores: the best slot over the whole
  // row and the number of legal slots within kTieTolerance of it. When that slot is legal and
  // alone, it is the answer (the legal maximum is then the row's maximum).
  double top = score[0];
  int top_slot = 0;
  for (int a = 1; a < A; ++a) {
    const bool better = score[a] > top;
    top = better ? score[a] : top;
    top_slot = better ? a : top_slot;
  }
  int near = 0;
  for (int a = 0; a < A; ++a) near += (ok[a] != 0) & (score[a] >= top - kTieTolerance);
  if (near == 1 && ok[top_slot]) return top_slot;
  // Ties (or an illegal slot on top): the legal maximum, then the legal slots within
  // kTieTolerance of it, one drawn with the tree's generator (as argmax_with_ties does).
  double best = -std::numeric_limits<double>::infinity();
  bool any = false;
  for (int a = 0; a < A; ++a) {
    if (ok[a] && (!any || score[a] > best)) {
      best = score[a];
      any = true;
    }
  }
  if (!any) fail_order("internal error: no eligible child slot in tree ", b);
  int count = 0;
  for (int a = 0; a < A; ++a) {
    if (ok[a] && score[a] >= best - kTieTolerance) candidates_[count++] = a;
  }
  if (count == 1) return candidates_[0];
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
