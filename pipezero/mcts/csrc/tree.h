// Batched search trees stored as preallocated arrays (no heap node objects).
//
// A Forest holds B independent trees. Each tree has room for N = num_simulations + 1 nodes:
// node 0 is the root and the node expanded at simulation i is node i + 1, so nodes are never
// allocated or freed during a search. Every node owns one row of A child slots.
//
// Layout (row-major, b = tree, n = node, a = child slot):
//   per node  [B, N]    : parent, action, depth, to_play, visits, value_sum, raw_value,
//                         value_prefix, reward, kind, chance
//   per child [B, N, A] : children (node index or -1), prior, legal, and two rows the backup
//                         keeps current for PUCT: prior / (1 + the child's visits) and the
//                         Q of the edge from the parent's view
//   per tree  [B]       : q_min / q_max (min-max statistics), rng state, root reuse data
//
// Values are stored from the point of view of the player to move at the node (to_play);
// the reward of a node is the reward of the edge that led to it, seen by the player who
// moved (its parent's to_play). The Q of edge (n, a) -> c seen from n is
//   Q = reward(c) + discount * sign(n, c) * value(c),   sign = -1 when to_play differs.
//
// Stochastic trees (Stochastic MuZero, Antonoglou et al., 2022; SearchConfig::stochastic)
// alternate decision nodes and chance (afterstate) nodes: the child of a decision node's
// action is a chance node, whose child slots are chance outcomes (codes) picked by
// argmax prior / (visits + 1). The edge into a chance node is not discounted (one
// environment step is action + chance outcome); a chance node keeps the same player as its
// parent. A chance node's value is the expectation over its expanded codes,
//   V = sum_{expanded c} P(c) Q(c) / sum_{expanded c} P(c)   (the network's value before any),
// recomputed at every backup through it, and that value (not the sampled return) is what
// it passes up to its parent.
// This file is free of Python; bindings.cpp wraps it.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

namespace pipezero {

enum class Selection : int { kPuct = 0, kGumbel = 1 };

// What a node is. Terminal and fixed nodes are leaves forever: a simulation that reaches one
// backs up its stored value again and needs no network call.
enum NodeKind : uint8_t { kInterior = 0, kTerminal = 1, kFixed = 2 };

struct SearchConfig {
  int batch_size = 1;
  int num_simulations = 1;
  int num_actions = 1;  // A: child slots per node (actions, or K sampled actions)
  Selection selection = Selection::kPuct;
  double pb_c_base = 19652.0;
  double pb_c_init = 1.25;
  double discount = 0.997;
  double value_delta_max = 0.01;
  bool value_prefix = false;  // EfficientZero: the network's reward output is a value prefix
  int lstm_horizon_len = 5;   // value prefix resets at depths that are multiples of this
  int max_num_considered_actions = 16;  // Gumbel: m
  double maxvisit_init = 50.0;          // Gumbel: c_visit
  double value_scale = 0.1;             // Gumbel: c_scale
  bool stochastic = false;  // Stochastic MuZero: decision and chance nodes alternate
  uint64_t seed = 0;
};

// Root data for one search (pointers to caller-owned arrays, validated by the bindings).
struct RootInputs {
  const float* logits = nullptr;       // [B, A] prior logits, rows logits_stride apart
  int64_t logits_stride = 0;           // elements between rows (>= A)
  const float* value = nullptr;        // [B]
  const uint8_t* legal = nullptr;      // [B, A] (bool)
  const int32_t* to_play = nullptr;    // [B] -1, 1 or 2
  const float* noise = nullptr;        // [B, A] Dirichlet sample or nullptr
  double noise_weight = 0.0;
  const float* gumbel = nullptr;       // [B, A] Gumbel(0, 1) * scale or nullptr
  const int64_t* reuse_action = nullptr;  // [B] ReZero: action with known successor, -1 none
  const float* reuse_value = nullptr;     // [B] value of that successor (its own view)
  const float* reuse_reward = nullptr;    // [B] reward of that edge
};

// Network outputs for the M leaves that simulate() left pending, in pending order.
struct LeafInputs {
  int count = 0;                     // M
  const float* logits = nullptr;     // [M, A], rows logits_stride apart
  int64_t logits_stride = 0;         // elements between rows (>= A)
  const float* value = nullptr;      // [M]
  const float* reward = nullptr;     // [M] reward, or value prefix in EfficientZero mode
  const uint8_t* legal = nullptr;    // [M, A] or nullptr (all legal); all-false = terminal
  const int32_t* to_play = nullptr;  // [M] or nullptr (alternate two players / keep -1)
  const float* latent = nullptr;     // [M, L] latents of the new nodes (with use_latents)
};

class Forest {
 public:
  explicit Forest(const SearchConfig& config);

  // Starts a new search: resets every tree and expands the roots. Throws std::invalid_argument
  // (before changing anything) when the inputs are invalid.
  void reset(const RootInputs& in);
  // Phase 1: walks every tree from its root to a leaf. Returns M, the number of trees whose
  // leaf needs a network evaluation; their rows are listed in eval_rows[0:M].
  int simulate();
  // Phases 2 and 3: expands the M pending leaves with the network outputs and backs up every
  // tree (also those whose simulation ended at a terminal or fixed node).
  void expand(const LeafInputs& in);

  // Optional store of one latent of L floats per node, so the drivers' gather of the
  // parents' latents and scatter of the new ones happen inside simulate() and expand():
  // expand() copies in.latent into the new nodes' rows, simulate() copies the pending
  // parents' rows into latent_gather. L = 0 (the default) turns the store off; once set,
  // L cannot change (the store is never reallocated under a live view of it).
  void use_latents(int dim);
  void set_root_latents(const float* latents);  // [B, L]

  // Results, written into caller arrays.
  void root_visits(int32_t* out) const;          // [B, A]
  void root_values(float* out) const;            // [B]
  void root_q(float* out) const;                 // [B, A] Q from the root's view; NaN unvisited
  void improved_policy(float* out) const;        // [B, A] Gumbel completed-Q policy
  void gumbel_action(int64_t* out) const;        // [B]

  const SearchConfig cfg;
  const int B, N, A;

  // Node arrays [B, N].
  std::vector<int32_t> parent, action, depth, to_play, visits;
  std::vector<double> value_sum, reward;
  std::vector<float> raw_value, value_prefix;
  std::vector<uint8_t> kind;
  std::vector<uint8_t> chance;  // 1 for chance (afterstate) nodes of stochastic trees
  // Child arrays [B, N, A].
  std::vector<int32_t> children;
  std::vector<float> prior;
  std::vector<uint8_t> legal;
  // Per child slot, written by the backup so that PUCT reads two contiguous rows instead of
  // following children[] into the node arrays: U = P / (1 + the child's visits) (P while
  // unexpanded), and the Q of the edge seen from the parent (kUnexpandedQ while unexpanded).
  std::vector<double> slot_u;
  std::vector<double> slot_q;
  // Tree arrays [B].
  std::vector<int32_t> num_nodes, num_considered, leaf;
  std::vector<double> q_min, q_max;
  std::vector<uint64_t> rng;
  std::vector<int64_t> reuse_action;
  std::vector<float> reuse_value, reuse_reward;
  std::vector<double> gumbel;                   // [B, A]
  std::vector<int32_t> considered_visit_table;  // [min(A, m) + 1, S]: Gumbel sequential halving
  // Pending leaves of the current simulation, [B] each, valid in [0, num_pending): written for
  // Python (numpy views), never read back by the core.
  std::vector<int64_t> eval_rows;         // tree index b
  std::vector<int64_t> eval_parent;       // flat node index b * N + parent
  std::vector<int64_t> eval_action;       // child slot in [0, A)
  std::vector<int64_t> eval_action_flat;  // (b * N + parent) * A + slot
  std::vector<int64_t> eval_node;         // flat node index b * N + new node
  std::vector<float> eval_keep_hidden;    // 0 where the parent resets the value prefix
  std::vector<uint8_t> eval_chance;       // 1 where the new node is a chance node
  int num_pending = 0;
  int latent_dim = 0;              // L, 0 without a latent store
  std::vector<float> latent_store;   // [B * N, L]: row b * N + n holds node n of tree b
  std::vector<float> latent_gather;  // [B, L]: the pending leaves' parent latents, rows [0, M)
  int sim = 0;  // simulations completed in this search
  bool awaiting_expand = false;
  bool has_roots = false;

 private:
  int64_t node_at(int b, int n) const { return static_cast<int64_t>(b) * N + n; }
  int64_t child_at(int b, int n, int a) const { return node_at(b, n) * A + a; }
  double node_value(int64_t flat) const { return value_sum[flat] / visits[flat]; }
  double child_q(int b, int n, int c) const;
  // Discount of the edge into node cf: 1 into a chance node, cfg.discount otherwise.
  double edge_discount(int64_t cf) const { return chance[cf] ? 1.0 : cfg.discount; }
  // Stochastic trees: the expectation over the codes of chance node n (see the top).
  double chance_value(int b, int n) const;
  bool resets_prefix(int64_t flat) const;
  int next_to_play(int parent_to_play) const { return parent_to_play < 0 ? -1 : 3 - parent_to_play; }
  void init_node(int b, int n, int parent_node, int slot, int player);
  void set_children(int b, int n, const float* logits, const uint8_t* legal_row);
  void backup(int b, int leaf_node);
  double normalize_q(int b, double q) const;
  // Index of the best eligible score; exact ties (within kTieTolerance) are broken uniformly
  // at random with tree b's seeded generator (one draw only when there is a tie).
  int argmax_with_ties(int b, const double* score, const uint8_t* eligible);

  // Selection rules (muzero.cpp, gumbel.cpp).
  int select_puct(int b, int n);
  int select_chance(int b, int n);
  int select_gumbel_root(int b);
  int select_gumbel_interior(int b, int n);
  // Gumbel helpers: completed Q of every slot, rescaled to [0, 1], then sigma(q).
  void completed_sigma(int b, int n, double* sigma) const;

  // [B, N]: the prior of the slot that leads to each node (0 at the roots), copied when the
  // node is made, so the backup's update of slot_u reads it from a small node array instead
  // of the parent's prior row.
  std::vector<float> edge_prior_;
  // Pending leaves as simulate() left them: tree, parent node, child slot ([B] each).
  std::vector<int32_t> pending_tree_, pending_parent_, pending_slot_;
  // PUCT's exploration factor per parent visit count v in [0, N]:
  //   (log((v + pb_c_base + 1) / pb_c_base) + pb_c_init) * sqrt(v).
  std::vector<double> pb_c_table_;
  // Scratch rows of length A (a Forest is used by one thread at a time).
  std::vector<double> scores_, sigma_;
  std::vector<uint8_t> eligible_;
  std::vector<int> candidates_;
};

// num_simulations and num_actions are below this (2**28), so node and slot indices fit int32.
constexpr int kMaxSimulations = 1 << 28;

// Bytes a Forest with these settings allocates (its arrays, scratch rows and Gumbel table).
double forest_bytes(const SearchConfig& config);
// The most bytes one Forest may allocate: half of the machine's physical memory. A larger
// request is refused with a ValueError before anything is allocated.
double max_forest_bytes();

// Gumbel: most root actions sequential halving considers, min(A, m, S). Sequences for
// m >= S are all zeros (each simulation visits a new action), so clamping m to S is exact.
inline int considered_limit(const SearchConfig& c) {
  return std::min({c.num_actions, c.max_num_considered_actions, c.num_simulations});
}

// slot_q of an unexpanded slot: far below any Q (|Q| < 1e30, see kMaxAbsValue), so its
// min-max normalised Q clips to 0 without a test of the child's visits, and never NaN (the
// normalisation's scale is finite or +inf, never of the opposite sign).
constexpr double kUnexpandedQ = -1e300;

// Signs the child's value into its parent's point of view: -1 when two different players
// move at the two nodes, +1 otherwise (single-player trees use to_play = -1).
inline double perspective(int32_t parent_player, int32_t child_player) {
  return (parent_player > 0 && child_player > 0 && parent_player != child_player) ? -1.0 : 1.0;
}

// Scores closer than this to the best one count as ties.
constexpr double kTieTolerance = 1e-12;

// Number of visits the Gumbel root action of simulation i must already have (sequential
// halving with m considered actions and S simulations), one entry per simulation.
std::vector<int32_t> considered_visit_sequence(int m, int num_simulations);

}  // namespace pipezero
