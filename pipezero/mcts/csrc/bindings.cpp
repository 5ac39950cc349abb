// Python bindings of the batched MCTS core (module pipezero.mcts._mcts_core).
#include <pybind11/pybind11.h>

namespace py = pybind11;

PYBIND11_MODULE(_mcts_core, m) {
    m.doc() = "pipezero batched MCTS core (C++17)";
    m.attr("__version__") = "0.1.0";
}
