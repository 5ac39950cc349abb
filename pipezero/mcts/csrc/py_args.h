// Conversion of the Python arguments of the Forest constructor and the module functions:
// each is taken as a Python object and converted here, so a wrong type or an out-of-range
// integer is reported by name (TypeError / ValueError) instead of pybind11's "incompatible
// function arguments".
#pragma once

#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>

#include "tree.h"

namespace pipezero {

namespace py = pybind11;

std::string type_name(const py::handle& obj);
int int_arg(const py::handle& obj, const char* name, long long low, long long high);
double real_arg(const py::handle& obj, const char* name);
bool bool_arg(const py::handle& obj, const char* name);
uint64_t seed_arg(const py::handle& obj);
Selection parse_selection(const py::handle& obj);
SearchConfig make_config(const py::object& batch_size, const py::object& num_simulations,
                         const py::object& num_actions, const py::object& selection, const py::object& pb_c_base,
                         const py::object& pb_c_init, const py::object& discount, const py::object& value_delta_max,
                         const py::object& value_prefix, const py::object& lstm_horizon_len,
                         const py::object& max_num_considered_actions, const py::object& maxvisit_init,
                         const py::object& value_scale, const py::object& stochastic, const py::object& seed);

}  // namespace pipezero
