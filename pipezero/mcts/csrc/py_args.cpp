// Conversion of the constructor's and module functions' Python arguments (see py_args.h).
#include "py_args.h"

#include <limits>

#include "errors.h"

namespace pipezero {

std::string type_name(const py::handle& obj) {
  return py::str(py::type::of(obj).attr("__name__")).cast<std::string>();
}

int int_arg(const py::handle& obj, const char* name, long long low, long long high) {
  if (py::isinstance<py::bool_>(obj) || !PyIndex_Check(obj.ptr())) {
    throw py::type_error(std::string("Forest: argument '") + name + "' must be an int, got " + type_name(obj) +
                         " " + py::repr(obj).cast<std::string>());
  }
  const auto value = py::reinterpret_steal<py::object>(PyNumber_Index(obj.ptr()));
  int overflow = 0;
  const long long v = PyLong_AsLongLongAndOverflow(value.ptr(), &overflow);
  if (overflow != 0 || v < low || v > high) {
    const bool below = overflow < 0 || (overflow == 0 && v < low);
    fail("Forest: argument '", name, "' must be ", below ? ">= " : "<= ", below ? low : high, ", got ",
         py::repr(value).cast<std::string>(), " (valid range [", low, ", ", high, "])");
  }
  return static_cast<int>(v);
}

double real_arg(const py::handle& obj, const char* name) {
  if (py::isinstance<py::bool_>(obj) || !(PyFloat_Check(obj.ptr()) || PyIndex_Check(obj.ptr()) ||
                                          py::isinstance(obj, py::module_::import("numbers").attr("Real")))) {
    throw py::type_error(std::string("Forest: argument '") + name + "' must be a real number, got " +
                         type_name(obj) + " " + py::repr(obj).cast<std::string>());
  }
  return obj.cast<double>();
}

bool bool_arg(const py::handle& obj, const char* name) {
  if (!py::isinstance<py::bool_>(obj) && type_name(obj) != "bool_") {
    throw py::type_error(std::string("Forest: argument '") + name + "' must be a bool, got " + type_name(obj) +
                         " " + py::repr(obj).cast<std::string>());
  }
  return PyObject_IsTrue(obj.ptr()) == 1;
}

uint64_t seed_arg(const py::handle& obj) {
  if (py::isinstance<py::bool_>(obj) || !PyIndex_Check(obj.ptr())) {
    throw py::type_error("Forest: argument 'seed' must be an int, got " + type_name(obj));
  }
  const auto value = py::reinterpret_steal<py::object>(PyNumber_Index(obj.ptr()));
  const unsigned long long v = PyLong_AsUnsignedLongLong(value.ptr());
  if (PyErr_Occurred()) {
    PyErr_Clear();
    fail("Forest: argument 'seed' must be in [0, 2**64), got ", py::repr(value).cast<std::string>());
  }
  return v;
}

Selection parse_selection(const py::handle& obj) {
  if (!py::isinstance<py::str>(obj)) {
    throw py::type_error("Forest: argument 'selection' must be 'puct' or 'gumbel', got " + type_name(obj));
  }
  const auto name = obj.cast<std::string>();
  if (name == "puct") return Selection::kPuct;
  if (name == "gumbel") return Selection::kGumbel;
  fail("Forest: argument 'selection' must be 'puct' or 'gumbel', got '", name, "'");
}

SearchConfig make_config(const py::object& batch_size, const py::object& num_simulations,
                         const py::object& num_actions, const py::object& selection, const py::object& pb_c_base,
                         const py::object& pb_c_init, const py::object& discount, const py::object& value_delta_max,
                         const py::object& value_prefix, const py::object& lstm_horizon_len,
                         const py::object& max_num_considered_actions, const py::object& maxvisit_init,
                         const py::object& value_scale, const py::object& stochastic, const py::object& seed) {
  constexpr long long kIntMax = std::numeric_limits<int>::max();
  SearchConfig c;
  c.batch_size = int_arg(batch_size, "batch_size", 1, kIntMax);
  c.num_simulations = int_arg(num_simulations, "num_simulations", 1, kMaxSimulations - 1);
  c.num_actions = int_arg(num_actions, "num_actions", 1, kMaxSimulations - 1);
  c.selection = parse_selection(selection);
  c.pb_c_base = real_arg(pb_c_base, "pb_c_base");
  c.pb_c_init = real_arg(pb_c_init, "pb_c_init");
  c.discount = real_arg(discount, "discount");
  c.value_delta_max = real_arg(value_delta_max, "value_delta_max");
  c.value_prefix = bool_arg(value_prefix, "value_prefix");
  c.lstm_horizon_len = int_arg(lstm_horizon_len, "lstm_horizon_len", -kIntMax, kIntMax);
  c.max_num_considered_actions = int_arg(max_num_considered_actions, "max_num_considered_actions", 1, kIntMax);
  c.maxvisit_init = real_arg(maxvisit_init, "maxvisit_init");
  c.value_scale = real_arg(value_scale, "value_scale");
  c.stochastic = bool_arg(stochastic, "stochastic");
  c.seed = seed_arg(seed);
  return c;
}

}  // namespace pipezero
