// PUCT selection (MuZero, EfficientZero, Sampled MuZero, AlphaZero) and root statistics.
#include <algorithm>
#include <cmath>
#include <limits>

#include "tree.h"

namespace pipezero {

// MuZero's PUCT rule (Schrittwieser et al., 2020, appendix B):
//   score(a) = Qn(a) + P(a) * sqrt(N) / (1 + n(a)) * (pb_c_init + log((N + pb_c_base + 1) / pb_c_base))
// with N the visits of node n, n(a) the visits of child a, Qn the min-max normalised Q of the
// tree (0 for unvisited children) and P the prior (with Dirichlet noise at the root).
int Forest::select_puct(int b, int n) {
  const int64_t f = node_at(b, n);
  const double parent_visits = visits[f];
  const double pb_c = (std::log((parent_visits + cfg.pb_c_base + 1.0) / cfg.pb_c_base) + cfg.pb_c_init) *
                      std::sqrt(parent_visits);
  // Min-max normalisation, hoisted out of the loop: Qn = clip((Q - lo) * inv_span, 0, 1).
  const bool seen = q_max[b] >= q_min[b];
  const double lo = q_min[b];
  const double inv_span = seen ? 1.0 / std::max(q_max[b] - q_min[b], cfg.value_delta_max) : 0.0;
  const int32_t player = to_play[f];
  const int64_t base = f * A;
  const int64_t first_node = node_at(b, 0);
  for (int a = 0; a < A; ++a) {
    eligible_[a] = legal[base + a];
    if (!eligible_[a]) continue;
    const int c = children[base + a];
    double q = 0.0;
    double child_visits = 0.0;
    if (c >= 0) {
      const int64_t cf = first_node + c;
      child_visits = visits[cf];
      const double sign = (player > 0 && to_play[cf] > 0 && player != to_play[cf]) ? -1.0 : 1.0;
      const double child_q = reward[cf] + edge_discount(cf) * sign * (value_sum[cf] / child_visits);
      q = seen ? std::clamp((child_q - lo) * inv_span, 0.0, 1.0) : 0.0;
    }
    scores_[a] = q + pb_c * prior[base + a] / (1.0 + child_visits);
  }
  return argmax_with_ties(b, scores_.data(), eligible_.data());
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
