// Masked softmax of one row of logits into float priors (the expansion of every node).
// This file is free of Python.
#pragma once

#include <cstdint>

namespace pipezero {

// prior[a] = exp(logits[a] - top) / sum over the legal slots of exp(logits[a'] - top), 0 on the
// illegal ones, top the largest legal logit; legal == nullptr means every slot is legal. Only
// the legal logits are read as numbers (the others may hold anything). Returns false, writing
// nothing, when no slot is legal (a terminal state).
//
// In float: exp is a branchless polynomial (Cephes expf, about 1 ulp) on four lanes with the
// lanes' sums added at the end, the same operations on every CPU (no FMA), so the priors are
// the same on every x86-64 machine; they are within a few float ulps of the softmax computed
// in double and rounded to float.
bool masked_softmax(const float* logits, const uint8_t* legal, int width, float* prior);

}  // namespace pipezero
