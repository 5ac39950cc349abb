// The three phases of one simulation on every tree: simulate (walk from the root to a leaf),
// expand (new nodes from the network outputs) and backup (statistics up the path).
#include <algorithm>
#include <cstring>

#include "errors.h"
#include "tree.h"

namespace pipezero {

namespace {

// Asks for the cache lines of a short row of `count` int32 (at most four lines; a hint with
// no effect on the results, skipped for longer rows).
inline void prefetch_row(const int32_t* row, int count) {
#if defined(__GNUC__) || defined(__clang__)
  if (count > 64) return;
  for (int i = 0; i < count; i += 16) __builtin_prefetch(row + i);
  __builtin_prefetch(row + count - 1);
#else
  (void)row;
  (void)count;
#endif
}

}  // namespace

int Forest::simulate() {
  if (!has_roots) fail_order("Forest.simulate: call reset() with the roots first");
  if (awaiting_expand) fail_order("Forest.simulate: the previous simulation was not expanded; call expand() first");
  if (sim >= cfg.num_simulations) {
    fail_order("Forest.simulate: all ", cfg.num_simulations, " simulations are done; call reset() for a new search");
  }
  const int new_node = sim + 1;
  num_pending = 0;
  for (int b = 0; b < B; ++b) {
    int n = 0;
    while (kind[node_at(b, n)] == kInterior) {
      // The child index is read once the slot is chosen: fetch the row while PUCT runs.
      prefetch_row(children.data() + child_at(b, n, 0), A);
      int a;
      if (chance[node_at(b, n)]) {
        a = select_chance(b, n);
      } else if (cfg.selection == Selection::kGumbel) {
        a = n == 0 ? select_gumbel_root(b) : select_gumbel_interior(b, n);
      } else {
        a = select_puct(b, n);
      }
      const int c = children[child_at(b, n, a)];
      if (c >= 0) {
        n = c;
        continue;
      }
      if (n == 0 && a == reuse_action[b]) {
        // ReZero: the successor's value is already known; make a fixed leaf, no network call.
        init_node(b, new_node, 0, a, next_to_play(to_play[node_at(b, 0)]));
        const int64_t f = node_at(b, new_node);
        kind[f] = kFixed;
        raw_value[f] = reuse_value[b];
        reward[f] = reuse_reward[b];
        children[child_at(b, 0, a)] = new_node;
        ++num_nodes[b];
        n = new_node;
        break;
      }
      const int p = num_pending++;
      pending_tree_[p] = b;
      pending_parent_[p] = n;
      pending_slot_[p] = a;
      eval_rows[p] = b;
      eval_parent[p] = node_at(b, n);
      eval_action[p] = a;
      eval_action_flat[p] = child_at(b, n, a);
      eval_node[p] = node_at(b, new_node);
      eval_keep_hidden[p] = resets_prefix(node_at(b, n)) ? 0.0f : 1.0f;
      eval_chance[p] = (cfg.stochastic && !chance[node_at(b, n)]) ? 1 : 0;
      n = -1;
      break;
    }
    leaf[b] = n;
  }
  if (latent_dim > 0) {
    const size_t row = static_cast<size_t>(latent_dim);
    for (int p = 0; p < num_pending; ++p) {
      std::memcpy(latent_gather.data() + p * row,
                  latent_store.data() + node_at(pending_tree_[p], pending_parent_[p]) * row, row * sizeof(float));
    }
  }
  awaiting_expand = true;
  return num_pending;
}

void Forest::expand(const LeafInputs& in) {
  const char* fn = "Forest.expand";
  if (!awaiting_expand) fail_order("Forest.expand: no pending simulation; call simulate() first");
  if (in.count != num_pending) {
    fail(fn, ": expected outputs for ", num_pending, " pending leaves (the value simulate() returned), got ", in.count);
  }
  for (int p = 0; p < in.count; ++p) {
    check_value(fn, "value", in.value[p], p);
    check_value(fn, "reward", in.reward[p], p);
    if (in.to_play != nullptr) check_player(fn, "to_play", in.to_play[p], p);
    const float* logits = in.logits + p * in.logits_stride;
    const uint8_t* legal_row = in.legal != nullptr ? in.legal + static_cast<int64_t>(p) * A : nullptr;
    if (values_ok(logits, legal_row, A)) continue;
    for (int a = 0; a < A; ++a) {
      if (legal_row == nullptr || legal_row[a]) check_value(fn, "policy_logits", logits[a], p, a);
    }
  }
  const int new_node = sim + 1;
  for (int p = 0; p < in.count; ++p) {
    // The exported eval_* buffers are writeable from Python, so only the private copies are
    // trusted here.
    const int b = pending_tree_[p];
    const int parent_node = pending_parent_[p];
    const int slot = pending_slot_[p];
    const int64_t pf = node_at(b, parent_node);
    // A chance node keeps its parent's player; a decision node takes the given player or the
    // next one.
    const bool new_chance = cfg.stochastic && !chance[pf];
    const int player = new_chance ? to_play[pf]
                       : in.to_play != nullptr ? in.to_play[p]
                                               : next_to_play(to_play[pf]);
    init_node(b, new_node, parent_node, slot, player);
    const int64_t f = node_at(b, new_node);
    chance[f] = new_chance ? 1 : 0;
    raw_value[f] = in.value[p];
    if (cfg.value_prefix) {
      value_prefix[f] = in.reward[p];
      reward[f] = static_cast<double>(in.reward[p]) - (resets_prefix(pf) ? 0.0 : value_prefix[pf]);
    } else {
      reward[f] = in.reward[p];
    }
    const int64_t row = static_cast<int64_t>(p) * A;
    set_children(b, new_node, in.logits + p * in.logits_stride, in.legal != nullptr ? in.legal + row : nullptr);
    children[child_at(b, parent_node, slot)] = new_node;
    ++num_nodes[b];
    leaf[b] = new_node;
    if (latent_dim > 0) {
      const size_t row = static_cast<size_t>(latent_dim);
      std::memcpy(latent_store.data() + f * row, in.latent + p * row, row * sizeof(float));
    }
  }
  for (int b = 0; b < B; ++b) backup(b, leaf[b]);
  ++sim;
  awaiting_expand = false;
}

bool Forest::resets_prefix(int64_t flat) const {
  const int d = depth[flat];
  return d == 0 || (cfg.lstm_horizon_len > 0 && d % cfg.lstm_horizon_len == 0);
}

double Forest::child_q(int b, int n, int c) const {
  const int64_t pf = node_at(b, n);
  const int64_t cf = node_at(b, c);
  return reward[cf] + edge_discount(cf) * perspective(to_play[pf], to_play[cf]) * node_value(cf);
}

double Forest::chance_value(int b, int n) const {
  const int64_t f = node_at(b, n);
  const int64_t base = f * A;
  double expected = 0.0, covered = 0.0;
  for (int a = 0; a < A; ++a) {
    const int c = children[base + a];
    if (c < 0) continue;
    const double p = prior[base + a];
    expected += p * child_q(b, n, c);
    covered += p;
  }
  return covered > 0.0 ? expected / covered : static_cast<double>(raw_value[f]);
}

void Forest::backup(int b, int leaf_node) {
  int64_t f = node_at(b, leaf_node);
  double g = raw_value[f];
  visits[f] += 1;
  value_sum[f] += g;
  int n = leaf_node;
  while (n != 0) {
    const int p = parent[f];
    const int64_t pf = node_at(b, p);
    // Node f's statistics are final for this backup: refresh its slot in the parent's row.
    const int64_t slot = pf * A + action[f];
    slot_u[slot] = edge_prior_[f] / (1.0 + visits[f]);
    visits[pf] += 1;
    if (chance[pf]) {
      // Chance node: its value is the expectation over its codes, and that goes up.
      g = chance_value(b, p);
      value_sum[pf] = g * visits[pf];
    } else {
      const double sign = perspective(to_play[pf], to_play[f]);
      const double discount = edge_discount(f);
      const double q = reward[f] + discount * sign * node_value(f);
      slot_q[slot] = q;
      q_min[b] = std::min(q_min[b], q);
      q_max[b] = std::max(q_max[b], q);
      g = reward[f] + discount * sign * g;
      value_sum[pf] += g;
    }
    n = p;
    f = pf;
  }
}

}  // namespace pipezero
