// Observes calls that run with the GIL released, so tests can prove that two Python threads
// were inside the core at the same time (an overlap check, not a timing threshold).
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <thread>

namespace pipezero {

namespace concurrency_detail {
inline std::atomic<int> active{0};
inline std::atomic<int> most{0};
inline std::atomic<int> rendezvous{0};
inline std::atomic<int> timeout_ms{0};
}  // namespace concurrency_detail

// Test hook: until `threads` probed calls overlap (or `timeout_ms` pass in one call), every
// probed call waits after entering. 0 disables it.
inline void set_rendezvous(int threads, int timeout_ms) {
  concurrency_detail::timeout_ms.store(timeout_ms);
  concurrency_detail::rendezvous.store(threads);
}

// Largest number of probed calls seen running together.
inline int max_concurrent_calls(bool reset) {
  return reset ? concurrency_detail::most.exchange(0) : concurrency_detail::most.load();
}

// Probed calls running right now.
inline int active_calls() { return concurrency_detail::active.load(); }

// Lives for the GIL-free part of a batched call.
class ConcurrencyProbe {
 public:
  ConcurrencyProbe() {
    using namespace concurrency_detail;
    const int now = ++active;
    int seen = most.load();
    while (now > seen && !most.compare_exchange_weak(seen, now)) {
    }
    const int target = rendezvous.load();
    if (target <= 0) return;
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms.load());
    while (active.load() < target && rendezvous.load() > 0 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    rendezvous.store(0);  // one meeting is enough; later calls run freely
  }
  ~ConcurrencyProbe() { --concurrency_detail::active; }
  ConcurrencyProbe(const ConcurrencyProbe&) = delete;
  ConcurrencyProbe& operator=(const ConcurrencyProbe&) = delete;
};

}  // namespace pipezero
