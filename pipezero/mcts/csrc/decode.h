// Support-to-scalar decode of MuZero's categorical value and reward heads (used by
// pipezero.model.support on CPU float32 logits): softmax expectation over the bins -S .. S,
// then the inverse value transform h^-1, one pass over each row. This file is free of Python.
#pragma once

#include <cstdint>

namespace pipezero {

// out[r] = h^-1(sum_i softmax(row r)_i * (i - S)) for `rows` rows of 2S + 1 logits spaced
// `stride` floats apart, with h^-1 of pipezero.model.support (parameter eps). exp is a float
// polynomial (Cephes expf, about 1 ulp); each row's sums run over float lanes (4; on x86-64
// CPUs 8 with AVX2 and FMA, 16 with AVX-512F, so the last bits depend on the CPU) that are
// added in double, in an order that does not depend on the number of rows.
void decode_support(const float* logits, int64_t stride, int64_t rows, int support_size, double eps, float* out);

}  // namespace pipezero
