// Forest construction and sizes, root expansion (reset), node initialisation and the prior
// softmax of every expansion, and the helpers the selection rules share.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#if __has_include(<unistd.h>)
#include <unistd.h>
#endif

#include "errors.h"
#include "rng.h"
#include "softmax.h"
#include "tree.h"

namespace pipezero {

double forest_bytes(const SearchConfig& c) {
  const double trees = c.batch_size, nodes = trees * (c.num_simulations + 1.0), slots = nodes * c.num_actions;
  constexpr double kPerNode = 5 * 4 + 2 * 8 + 3 * 4 + 2;  // parent .. visits, value_sum, reward, floats, flags
  constexpr double kPerSlot = 4 + 4 + 1 + 8 + 8;          // children, prior, legal, slot U, slot Q
  constexpr double kPerTree = 3 * 4 + 2 * 8 + 8 + 8 + 2 * 4 + 5 * 8 + 4 + 1 + 3 * 4;
  const double gumbel = trees * c.num_actions * 8.0;
  const double scratch = c.num_actions * (8.0 + 8.0 + 1.0 + 4.0) + (c.num_simulations + 2.0) * 8.0;
  const double table =
      c.selection == Selection::kGumbel ? (considered_limit(c) + 1.0) * c.num_simulations * 4.0 : 0.0;
  return nodes * kPerNode + slots * kPerSlot + trees * kPerTree + gumbel + scratch + table;
}

double max_forest_bytes() {
#if defined(_SC_PHYS_PAGES) && defined(_SC_PAGE_SIZE)
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGE_SIZE);
  if (pages > 0 && page > 0) return 0.5 * static_cast<double>(pages) * static_cast<double>(page);
#endif
  return 8e9;  // physical memory unknown: 8 GB
}

namespace {

// A real setting must be finite and within [low, kMaxAbsValue] (low excluded when open).
void check_setting(const char* name, double v, double low, bool low_open) {
  const bool ok = (low_open ? v > low : v >= low) && v <= kMaxAbsValue;
  if (!ok) fail("Forest: argument '", name, "' must be ", low_open ? "> " : ">= ", low, " and <= 1e+20, got ", v);
}

// Checks the settings before any size is derived from them.
const SearchConfig& validated(const SearchConfig& c) {
  if (c.batch_size < 1) {
    fail("Forest: argument 'batch_size' must be >= 1, got ", c.batch_size, " (an empty batch has nothing to search)");
  }
  if (c.num_simulations < 1 || c.num_simulations >= kMaxSimulations) {
    fail("Forest: argument 'num_simulations' must be >= 1 and < 2**28, got ", c.num_simulations);
  }
  if (c.num_actions < 1 || c.num_actions >= kMaxSimulations) {
    fail("Forest: argument 'num_actions' must be >= 1 and < 2**28, got ", c.num_actions);
  }
  check_setting("pb_c_base", c.pb_c_base, 0.0, true);
  check_setting("pb_c_init", c.pb_c_init, 0.0, false);
  if (!(c.discount >= 0.0 && c.discount <= 1.0)) fail("Forest: argument 'discount' must be in [0, 1], got ", c.discount);
  check_setting("value_delta_max", c.value_delta_max, 0.0, true);
  if (c.value_prefix && c.lstm_horizon_len < 1) {
    fail("Forest: argument 'lstm_horizon_len' must be >= 1 with value_prefix=True (the value prefix restarts at "
         "depths that are multiples of it), got ",
         c.lstm_horizon_len);
  }
  if (c.max_num_considered_actions < 1) {
    fail("Forest: argument 'max_num_considered_actions' must be >= 1, got ", c.max_num_considered_actions);
  }
  check_setting("maxvisit_init", c.maxvisit_init, 0.0, false);
  check_setting("value_scale", c.value_scale, 0.0, false);
  if (c.stochastic && (c.selection != Selection::kPuct || c.value_prefix)) {
    fail("Forest: stochastic=True needs selection='puct' and value_prefix=False (chance nodes are "
         "implemented for the MuZero PUCT search only)");
  }
  const double need = forest_bytes(c);
  const double limit = max_forest_bytes();
  if (need > limit) {
    fail("Forest: batch_size=", c.batch_size, " trees x (num_simulations + 1)=", c.num_simulations + 1.0,
         " nodes x num_actions=", c.num_actions, " child slots need about ", need / 1e9,
         " GB, more than the limit of ", limit / 1e9,
         " GB (half of this machine's physical memory); lower batch_size, num_simulations or num_actions");
  }
  return c;
}

}  // namespace

Forest::Forest(const SearchConfig& config)
    : cfg(validated(config)), B(cfg.batch_size), N(cfg.num_simulations + 1), A(cfg.num_actions) {
  const size_t nodes = static_cast<size_t>(B) * static_cast<size_t>(N);
  const size_t slots = nodes * static_cast<size_t>(A);
  parent.assign(nodes, -1);
  action.assign(nodes, -1);
  depth.assign(nodes, 0);
  to_play.assign(nodes, -1);
  visits.assign(nodes, 0);
  value_sum.assign(nodes, 0.0);
  reward.assign(nodes, 0.0);
  raw_value.assign(nodes, 0.0f);
  value_prefix.assign(nodes, 0.0f);
  edge_prior_.assign(nodes, 0.0f);
  kind.assign(nodes, kInterior);
  chance.assign(nodes, 0);
  children.assign(slots, -1);
  prior.assign(slots, 0.0f);
  legal.assign(slots, 0);
  slot_u.assign(slots, 0.0);
  slot_q.assign(slots, kUnexpandedQ);
  num_nodes.assign(B, 0);
  num_considered.assign(B, 0);
  leaf.assign(B, 0);
  q_min.assign(B, 0.0);
  q_max.assign(B, 0.0);
  rng.resize(B);
  for (int b = 0; b < B; ++b) rng[b] = rng_init(cfg.seed, static_cast<uint64_t>(b));
  reuse_action.assign(B, -1);
  reuse_value.assign(B, 0.0f);
  reuse_reward.assign(B, 0.0f);
  gumbel.assign(static_cast<size_t>(B) * A, 0.0);
  // Gumbel: one sequential-halving schedule per possible number of considered actions.
  const int most_considered = cfg.selection == Selection::kGumbel ? considered_limit(cfg) : 0;
  considered_visit_table.reserve(static_cast<size_t>(most_considered + 1) * cfg.num_simulations);
  for (int m = 0; m <= most_considered; ++m) {
    const std::vector<int32_t> seq = considered_visit_sequence(m, cfg.num_simulations);
    considered_visit_table.insert(considered_visit_table.end(), seq.begin(), seq.end());
  }
  eval_rows.assign(B, 0);
  eval_parent.assign(B, 0);
  eval_action.assign(B, 0);
  eval_action_flat.assign(B, 0);
  eval_node.assign(B, 0);
  eval_keep_hidden.assign(B, 1.0f);
  eval_chance.assign(B, 0);
  pending_tree_.assign(B, 0);
  pending_parent_.assign(B, 0);
  pending_slot_.assign(B, 0);
  pb_c_table_.resize(static_cast<size_t>(N) + 1);
  for (int v = 0; v <= N; ++v) {
    const double parent_visits = v;
    pb_c_table_[v] = (std::log((parent_visits + cfg.pb_c_base + 1.0) / cfg.pb_c_base) + cfg.pb_c_init) *
                     std::sqrt(parent_visits);
  }
  scores_.assign(A, 0.0);
  sigma_.assign(A, 0.0);
  eligible_.assign(A, 0);
  candidates_.assign(A, 0);
}

void Forest::reset(const RootInputs& in) {
  const char* fn = "Forest.reset";
  for (int b = 0; b < B; ++b) {
    check_player(fn, "to_play", in.to_play[b], b);
    check_value(fn, "value", in.value[b], b);
    int n_legal = 0;
    for (int a = 0; a < A; ++a) {
      const int64_t i = static_cast<int64_t>(b) * A + a;
      if (!in.legal[i]) continue;
      ++n_legal;
      check_value(fn, "policy_logits", in.logits[b * in.logits_stride + a], b, a);
      if (in.noise != nullptr && !(in.noise[i] >= 0.0f && in.noise[i] <= 1.0f)) {
        fail(fn, ": argument 'noise' must be in [0, 1] (a Dirichlet sample), got ", in.noise[i], " at ",
             at_index(b, a));
      }
      if (in.gumbel != nullptr) check_value(fn, "gumbel", in.gumbel[i], b, a);
    }
    if (n_legal == 0) {
      fail(fn, ": argument 'legal_mask' has no legal action in row ", b,
           " (expected at least one True per root); a finished game has nothing to search");
    }
    if (in.reuse_action != nullptr && in.reuse_action[b] != -1) {
      const int64_t ra = in.reuse_action[b];
      if (ra < 0 || ra >= A) {
        fail(fn, ": argument 'reuse_action' must be -1 or in [0, ", A, "), got ", ra, " at ", at_index(b));
      }
      if (!in.legal[static_cast<int64_t>(b) * A + ra]) {
        fail(fn, ": argument 'reuse_action' is ", ra, " at ", at_index(b), " but that action is illegal at the root");
      }
      if (cfg.stochastic) {
        fail(fn, ": argument 'reuse_action' is not supported by stochastic trees (the root's children are "
             "chance nodes); pass reuse_action=None");
      }
      check_value(fn, "reuse_value", in.reuse_value[b], b);
      check_value(fn, "reuse_reward", in.reuse_reward[b], b);
    }
  }
  if (!(in.noise_weight >= 0.0 && in.noise_weight <= 1.0)) {
    fail(fn, ": argument 'noise_weight' must be in [0, 1], got ", in.noise_weight);
  }

  for (int b = 0; b < B; ++b) {
    init_node(b, 0, -1, -1, in.to_play[b]);
    const int64_t root = node_at(b, 0);
    raw_value[root] = in.value[b];
    set_children(b, 0, in.logits + b * in.logits_stride, in.legal + static_cast<int64_t>(b) * A);
    // The root counts its own evaluation as its first visit (as a freshly expanded leaf does).
    visits[root] = 1;
    value_sum[root] = in.value[b];
    num_nodes[b] = 1;
    q_min[b] = std::numeric_limits<double>::infinity();
    q_max[b] = -std::numeric_limits<double>::infinity();
    int n_legal = 0;
    for (int a = 0; a < A; ++a) {
      const int64_t i = child_at(b, 0, a);
      const int64_t k = static_cast<int64_t>(b) * A + a;  // index into the [B, A] inputs
      gumbel[k] = 0.0;
      if (!legal[i]) continue;
      ++n_legal;
      if (in.noise != nullptr) {
        prior[i] = static_cast<float>((1.0 - in.noise_weight) * prior[i] + in.noise_weight * in.noise[k]);
        slot_u[i] = prior[i];
      }
      if (in.gumbel != nullptr) gumbel[k] = in.gumbel[k];
    }
    num_considered[b] = std::min(n_legal, considered_limit(cfg));
    reuse_action[b] = in.reuse_action != nullptr ? in.reuse_action[b] : -1;
    reuse_value[b] = in.reuse_value != nullptr ? in.reuse_value[b] : 0.0f;
    reuse_reward[b] = in.reuse_reward != nullptr ? in.reuse_reward[b] : 0.0f;
  }
  sim = 0;
  num_pending = 0;
  awaiting_expand = false;
  has_roots = true;
}

void Forest::use_latents(int dim) {
  if (dim < 0) fail("Forest.use_latents: argument 'dim' must be >= 0, got ", dim);
  if (dim == latent_dim) return;
  if (latent_dim != 0) {
    // NumPy views of latent_gather may still be alive: the store is never reallocated.
    fail_order("Forest.use_latents: this forest already stores latents of ", latent_dim,
               " floats; its size cannot change (views of latent_gather may be alive), build a new Forest for ",
               dim == 0 ? "no store" : "another size");
  }
  latent_dim = dim;
  latent_store.assign(static_cast<size_t>(B) * N * dim, 0.0f);
  latent_gather.assign(static_cast<size_t>(B) * dim, 0.0f);
}

void Forest::set_root_latents(const float* latents) {
  const size_t row = static_cast<size_t>(latent_dim);
  for (int b = 0; b < B; ++b) {
    std::memcpy(latent_store.data() + node_at(b, 0) * row, latents + b * row, row * sizeof(float));
  }
}

void Forest::init_node(int b, int n, int parent_node, int slot, int player) {
  const int64_t f = node_at(b, n);
  parent[f] = parent_node;
  action[f] = slot;
  depth[f] = parent_node < 0 ? 0 : depth[node_at(b, parent_node)] + 1;
  edge_prior_[f] = parent_node < 0 ? 0.0f : prior[child_at(b, parent_node, slot)];
  to_play[f] = player;
  visits[f] = 0;
  value_sum[f] = 0.0;
  reward[f] = 0.0;
  raw_value[f] = 0.0f;
  value_prefix[f] = 0.0f;
  kind[f] = kInterior;
  chance[f] = 0;
}

void Forest::set_children(int b, int n, const float* logits, const uint8_t* legal_row) {
  // Raw row pointers and a local width: stores through them could otherwise alias the
  // vectors' own pointers and A, and force a reload of each per slot.
  const int width = A;
  const int64_t base = child_at(b, n, 0);
  uint8_t* ok = legal.data() + base;
  int32_t* child = children.data() + base;
  float* p = prior.data() + base;
  double* u = slot_u.data() + base;
  double* q = slot_q.data() + base;
  for (int a = 0; a < width; ++a) {
    child[a] = -1;
    q[a] = kUnexpandedQ;
  }
  for (int a = 0; a < width; ++a) ok[a] = legal_row == nullptr || legal_row[a] ? 1 : 0;
  if (!masked_softmax(logits, legal_row, width, p)) {  // no legal action: a terminal state
    kind[node_at(b, n)] = kTerminal;
    for (int a = 0; a < width; ++a) p[a] = 0.0f;
  }
  for (int a = 0; a < width; ++a) u[a] = p[a];  // no visits yet: U = P
}

double Forest::normalize_q(int b, double q) const {
  if (q_max[b] < q_min[b]) return 0.0;
  const double span = std::max(q_max[b] - q_min[b], cfg.value_delta_max);
  return std::clamp((q - q_min[b]) / span, 0.0, 1.0);
}

int Forest::argmax_with_ties(int b, const double* score, const uint8_t* eligible) {
  double best = -std::numeric_limits<double>::infinity();
  bool any = false;
  for (int a = 0; a < A; ++a) {
    if (eligible[a] && (!any || score[a] > best)) {
      best = score[a];
      any = true;
    }
  }
  if (!any) fail_order("internal error: no eligible child slot in tree ", b);
  int count = 0;
  for (int a = 0; a < A; ++a) {
    if (eligible[a] && score[a] >= best - kTieTolerance) candidates_[count++] = a;
  }
  if (count == 1) return candidates_[0];
  return candidates_[static_cast<int>(rng_next(rng[b]) % static_cast<uint64_t>(count))];
}

}  // namespace pipezero