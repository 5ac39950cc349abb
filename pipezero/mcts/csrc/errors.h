// Error helpers: every message names the argument, what was expected and what was received.
#pragma once

#include <cmath>
#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>

namespace pipezero {

// Throws std::invalid_argument (ValueError in Python) built from the streamed parts.
template <typename... Parts>
[[noreturn]] void fail(const Parts&... parts) {
  std::ostringstream out;
  (out << ... << parts);
  throw std::invalid_argument(out.str());
}

// Throws std::logic_error (RuntimeError in Python): the calls came in the wrong order.
template <typename... Parts>
[[noreturn]] void fail_order(const Parts&... parts) {
  std::ostringstream out;
  (out << ... << parts);
  throw std::logic_error(out.str());
}

// "[r, c]" or "[r]" for error messages.
inline std::string at_index(int64_t row, int64_t col = -1) {
  std::ostringstream out;
  out << "[" << row;
  if (col >= 0) out << ", " << col;
  out << "]";
  return out.str();
}

// Largest magnitude accepted for any real-valued search input (legal logits, values, rewards,
// value prefixes, reuse values, Gumbel noise). With at most 2**28 simulations a return sums at
// most 2**29 such terms, so every value, Q and sum the core computes or returns stays below
// about 1e29, far inside float32's range (3.4e38); 3e38 would overflow to inf.
constexpr double kMaxAbsValue = 1e20;

// Throws unless v is finite and |v| <= kMaxAbsValue (one comparison on the good path).
inline void check_value(const char* fn, const char* arg, double v, int64_t row, int64_t col = -1) {
  if (std::fabs(v) <= kMaxAbsValue) return;
  if (!std::isfinite(v)) {
    fail(fn, ": argument '", arg, "' must be finite, got ", v, " at ", at_index(row, col),
         "; check the network outputs (NaN/inf) before the search");
  }
  fail(fn, ": argument '", arg, "' must have magnitude <= 1e+20 (pipezero.mcts.MAX_ABS_VALUE), got ", v, " at ",
       at_index(row, col), "; larger values overflow float32 once summed along a path: rescale rewards and values");
}

// True when every entry of v[0:n] that is checked (all of them, or those whose mask is set)
// would pass check_value. No branches, so the compiler vectorises it: callers run check_value
// over the entries only when this fails, for the message.
inline bool values_ok(const float* v, const uint8_t* mask, int n) {
  int bad = 0;
  if (mask == nullptr) {
    for (int i = 0; i < n; ++i) bad |= static_cast<int>(!(std::fabs(static_cast<double>(v[i])) <= kMaxAbsValue));
  } else {
    for (int i = 0; i < n; ++i) bad |= (mask[i] != 0) & !(std::fabs(static_cast<double>(v[i])) <= kMaxAbsValue);
  }
  return bad == 0;
}

inline void check_player(const char* fn, const char* arg, int32_t v, int64_t row) {
  if (v != -1 && v != 1 && v != 2) {
    fail(fn, ": argument '", arg, "' must hold -1 (single player), 1 or 2, got ", v, " at ",
         at_index(row));
  }
}

}  // namespace pipezero
