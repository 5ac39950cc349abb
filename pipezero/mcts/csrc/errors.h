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

inline void check_finite(const char* fn, const char* arg, double v, int64_t row, int64_t col = -1) {
  if (!std::isfinite(v)) {
    fail(fn, ": argument '", arg, "' must be finite, got ", v, " at ", at_index(row, col),
         "; check the network outputs (NaN/inf) before the search");
  }
}

inline void check_player(const char* fn, const char* arg, int32_t v, int64_t row) {
  if (v != -1 && v != 1 && v != 2) {
    fail(fn, ": argument '", arg, "' must hold -1 (single player), 1 or 2, got ", v, " at ",
         at_index(row));
  }
}

}  // namespace pipezero
