// Gumbel MuZero (Danihelka et al., 2022, "Policy improvement by planning with Gumbel"):
// Gumbel-top-k root sampling with sequential halving, completed-Q policy improvement and the
// deterministic interior selection rule.
#include <algorithm>
#include <cmath>
#include <limits>

#include "errors.h"
#include "tree.h"

namespace pipezero {

namespace {

constexpr double kMinPrior = 1e-30;     // floor of priors inside the mixed value
constexpr double kMinQRange = 1e-8;     // floor of the Q range when rescaling to [0, 1]
constexpr double kNegInf = -std::numeric_limits<double>::infinity();

}  // namespace

std::vector<int32_t> considered_visit_sequence(int m, int num_simulations) {
  if (m < 0) fail("considered_visit_sequence: argument 'm' must be >= 0, got ", m);
  if (num_simulations < 0 || num_simulations >= kMaxSimulations) {
    fail("considered_visit_sequence: argument 'num_simulations' must be in [0, 2**28), got ", num_simulations);
  }
  m = std::min(m, num_simulations);  // exact: m >= S gives S zeros either way (see tree.h)
  std::vector<int32_t> seq;
  seq.reserve(num_simulations);
  if (m <= 1) {
    for (int i = 0; i < num_simulations; ++i) seq.push_back(i);
    return seq;
  }
  // Sequential halving: ceil(log2 m) rounds; each round spends about S / (rounds * k) visits on
  // each of the k surviving actions, then keeps the better half (never fewer than two).
  const int rounds = static_cast<int>(std::ceil(std::log2(static_cast<double>(m))));
  int survivors = m;
  int visits_each = 0;
  while (static_cast<int>(seq.size()) < num_simulations) {
    const int per_action = std::max(1, num_simulations / (rounds * survivors));
    for (int r = 0; r < per_action; ++r) {
      for (int j = 0; j < survivors; ++j) seq.push_back(visits_each);
      ++visits_each;
    }
    survivors = std::max(2, survivors / 2);
  }
  seq.resize(num_simulations);
  return seq;
}

// sigma(completed Q) of every legal slot of node n:
//   completed Q = Q(a) for visited children, v_mix for the others, where
//   v_mix = (v_raw + sum_b N(b) * sum_{visited} pi(b) Q(b) / sum_{visited} pi(b)) / (1 + sum_b N(b));
//   the completed Qs are rescaled to [0, 1] over the legal slots, then
//   sigma = (maxvisit_init + max_b N(b)) * value_scale * rescaled Q.
void Forest::completed_sigma(int b, int n, double* sigma) const {
  const int64_t f = node_at(b, n);
  const int64_t base = f * A;
  double sum_visits = 0.0, max_visits = 0.0, sum_prior = 0.0, weighted_q = 0.0;
  for (int a = 0; a < A; ++a) {
    const int c = children[base + a];
    if (!legal[base + a] || c < 0) continue;
    const double child_visits = visits[node_at(b, c)];
    const double q = child_q(b, n, c);
    const double p = std::max(static_cast<double>(prior[base + a]), kMinPrior);
    sigma[a] = q;
    sum_visits += child_visits;
    max_visits = std::max(max_visits, child_visits);
    sum_prior += p;
    weighted_q += p * q;
  }
  double v_mix = raw_value[f];
  if (sum_visits > 0.0) v_mix = (raw_value[f] + sum_visits * weighted_q / sum_prior) / (1.0 + sum_visits);
  double lo = std::numeric_limits<double>::infinity(), hi = kNegInf;
  for (int a = 0; a < A; ++a) {
    if (!legal[base + a]) continue;
    if (children[base + a] < 0) sigma[a] = v_mix;
    lo = std::min(lo, sigma[a]);
    hi = std::max(hi, sigma[a]);
  }
  const double scale = (cfg.maxvisit_init + max_visits) * cfg.value_scale / std::max(hi - lo, kMinQRange);
  for (int a = 0; a < A; ++a) {
    if (legal[base + a]) sigma[a] = (sigma[a] - lo) * scale;
  }
}

// Root: among the legal actions whose visit count equals the one sequential halving asks for
// at this simulation, take argmax g(a) + log pi(a) + sigma(a).
int Forest::select_gumbel_root(int b) {
  completed_sigma(b, 0, sigma_.data());
  const int64_t base = child_at(b, 0, 0);
  const int32_t wanted = considered_visit_table[static_cast<int64_t>(num_considered[b]) * cfg.num_simulations + sim];
  bool any = false;
  for (int a = 0; a < A; ++a) {
    eligible_[a] = 0;
    if (!legal[base + a]) continue;
    const int c = children[base + a];
    const int32_t child_visits = c >= 0 ? visits[node_at(b, c)] : 0;
    if (child_visits == wanted) {
      eligible_[a] = 1;
      any = true;
    }
    scores_[a] = gumbel[static_cast<int64_t>(b) * A + a] + std::log(static_cast<double>(prior[base + a])) + sigma_[a];
  }
  if (!any) {
    for (int a = 0; a < A; ++a) eligible_[a] = legal[base + a];
  }
  return argmax_with_ties(b, scores_.data(), eligible_.data());
}

// Interior: argmax pi'(a) - N(a) / (1 + sum_b N(b)) with pi' = softmax(log pi + sigma).
int Forest::select_gumbel_interior(int b, int n) {
  completed_sigma(b, n, sigma_.data());
  const int64_t base = child_at(b, n, 0);
  double sum_visits = 0.0, top = kNegInf;
  for (int a = 0; a < A; ++a) {
    eligible_[a] = legal[base + a];
    if (!eligible_[a]) continue;
    const int c = children[base + a];
    if (c >= 0) sum_visits += visits[node_at(b, c)];
    sigma_[a] += std::log(static_cast<double>(prior[base + a]));
    top = std::max(top, sigma_[a]);
  }
  double total = 0.0;
  for (int a = 0; a < A; ++a) {
    if (!eligible_[a]) continue;
    sigma_[a] = std::exp(sigma_[a] - top);
    total += sigma_[a];
  }
  for (int a = 0; a < A; ++a) {
    if (!eligible_[a]) continue;
    const int c = children[base + a];
    const double child_visits = c >= 0 ? visits[node_at(b, c)] : 0.0;
    scores_[a] = sigma_[a] / total - child_visits / (1.0 + sum_visits);
  }
  return argmax_with_ties(b, scores_.data(), eligible_.data());
}

void Forest::improved_policy(float* out) const {
  std::vector<double> sigma(A, 0.0);
  for (int b = 0; b < B; ++b) {
    completed_sigma(b, 0, sigma.data());
    const int64_t base = child_at(b, 0, 0);
    double top = kNegInf;
    for (int a = 0; a < A; ++a) {
      if (!legal[base + a]) continue;
      sigma[a] += std::log(static_cast<double>(prior[base + a]));
      top = std::max(top, sigma[a]);
    }
    double total = 0.0;
    for (int a = 0; a < A; ++a) {
      sigma[a] = legal[base + a] ? std::exp(sigma[a] - top) : 0.0;
      total += sigma[a];
    }
    for (int a = 0; a < A; ++a) out[static_cast<int64_t>(b) * A + a] = static_cast<float>(sigma[a] / total);
  }
}

// The action to play: the most visited legal action, ties between equally visited ones broken
// by g(a) + log pi(a) + sigma(a), then by the lowest index.
void Forest::gumbel_action(int64_t* out) const {
  std::vector<double> sigma(A, 0.0);
  for (int b = 0; b < B; ++b) {
    completed_sigma(b, 0, sigma.data());
    const int64_t base = child_at(b, 0, 0);
    int32_t most = -1;
    for (int a = 0; a < A; ++a) {
      const int c = children[base + a];
      if (legal[base + a]) most = std::max(most, c >= 0 ? visits[node_at(b, c)] : 0);
    }
    int best_action = -1;
    double best = kNegInf;
    for (int a = 0; a < A; ++a) {
      const int c = children[base + a];
      if (!legal[base + a] || (c >= 0 ? visits[node_at(b, c)] : 0) != most) continue;
      const double s = gumbel[static_cast<int64_t>(b) * A + a] + std::log(static_cast<double>(prior[base + a])) + sigma[a];
      if (best_action < 0 || s > best) {
        best = s;
        best_action = a;
      }
    }
    out[b] = best_action;
  }
}

}  // namespace pipezero
