// Python bindings of the batched MCTS core (module pipezero.mcts._mcts_core).
//
// Every call that touches a batch validates its arguments with the GIL held, then releases
// the GIL for the work itself, so searches in different Python threads run in parallel.
#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <atomic>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "arrays.h"
#include "concurrency.h"
#include "decode.h"
#include "py_args.h"
#include "tree.h"

namespace py = pybind11;
using pipezero::Forest;
using pipezero::int_arg;
using pipezero::make_config;
using pipezero::parse_selection;

namespace {

// One Forest serves one thread at a time; a second concurrent call is an error, not a race.
class ExclusiveUse {
 public:
  explicit ExclusiveUse(std::atomic<bool>& flag) : flag_(flag) {
    if (flag_.exchange(true)) {
      throw std::runtime_error("Forest is already in use by another thread; give each thread its own search driver");
    }
  }
  ~ExclusiveUse() { flag_.store(false); }
  ExclusiveUse(const ExclusiveUse&) = delete;
  ExclusiveUse& operator=(const ExclusiveUse&) = delete;

 private:
  std::atomic<bool>& flag_;
};

struct PyForest {
  explicit PyForest(const pipezero::SearchConfig& c) : forest(c) {}
  Forest forest;
  std::atomic<bool> busy{false};
};

void reset(PyForest& self, const py::object& policy_logits, const py::object& value, const py::object& legal_mask,
           const py::object& to_play, const py::object& noise, double noise_weight, const py::object& gumbel,
           const py::object& reuse_action, const py::object& reuse_value, const py::object& reuse_reward) {
  Forest& f = self.forest;
  const char* fn = "Forest.reset";
  const pipezero::Shape ba{f.B, f.A}, b{f.B};
  pipezero::RootInputs in;
  in.logits = pipezero::checked_rows<float>(policy_logits, fn, "policy_logits", "[B, A]", ba, &in.logits_stride);
  in.value = pipezero::checked_array<float>(value, fn, "value", "[B]", b);
  in.legal = reinterpret_cast<const uint8_t*>(pipezero::checked_array<bool>(legal_mask, fn, "legal_mask", "[B, A]", ba));
  in.to_play = pipezero::checked_array<int32_t>(to_play, fn, "to_play", "[B]", b);
  in.noise = pipezero::optional_array<float>(noise, fn, "noise", "[B, A]", ba);
  in.noise_weight = noise_weight;
  in.gumbel = pipezero::optional_array<float>(gumbel, fn, "gumbel", "[B, A]", ba);
  in.reuse_action = pipezero::optional_array<int64_t>(reuse_action, fn, "reuse_action", "[B]", b);
  if (in.reuse_action == nullptr && (!reuse_value.is_none() || !reuse_reward.is_none())) {
    pipezero::fail(fn, ": arguments 'reuse_value' and 'reuse_reward' need 'reuse_action' ([B] int64, -1 where no "
                   "successor is known); got them without it");
  }
  if (in.reuse_action != nullptr) {
    in.reuse_value = pipezero::checked_array<float>(reuse_value, fn, "reuse_value", "[B]", b);
    in.reuse_reward = pipezero::checked_array<float>(reuse_reward, fn, "reuse_reward", "[B]", b);
  }
  ExclusiveUse use(self.busy);
  py::gil_scoped_release release;
  pipezero::ConcurrencyProbe probe;
  f.reset(in);
}

int simulate(PyForest& self) {
  ExclusiveUse use(self.busy);
  py::gil_scoped_release release;
  pipezero::ConcurrencyProbe probe;
  return self.forest.simulate();
}

// Reads the network outputs of the pending leaves (expand's and step's arguments).
// The [M, *S] float32 latents of the new nodes, M * L floats in C order, for a forest with a
// latent store (use_latents); None is accepted only without one, or when M = 0.
const float* leaf_latents(const Forest& f, const char* fn, const py::object& latent) {
  const int64_t m = f.num_pending;
  if (f.latent_dim == 0 || m == 0) {
    if (!latent.is_none() && f.latent_dim == 0) {
      pipezero::fail(fn, ": argument 'latent' is only read by a forest with a latent store (use_latents); got one "
                     "without");
    }
    return nullptr;
  }
  const char* expected = "a C-contiguous float32 array of M latents, shape [M, *S] with M = num_pending";
  if (latent.is_none()) pipezero::fail(fn, ": argument 'latent' must be ", expected, " (this forest stores latents), got None");
  if (!py::isinstance<py::array>(latent)) pipezero::fail_not_array(latent, fn, "latent", expected);
  const py::array arr = py::reinterpret_borrow<py::array>(latent);
  const bool ok = pipezero::type_num_of(arr) == pipezero::type_num<float>() && arr.ndim() >= 1 &&
                  arr.shape(0) == m && arr.size() == m * f.latent_dim && (arr.flags() & py::array::c_style);
  if (!ok) {
    pipezero::fail(fn, ": argument 'latent' must be ", expected, " = ", m, " and ", f.latent_dim,
                   " floats per latent, got a ", pipezero::describe_array(arr));
  }
  return static_cast<const float*>(arr.data());
}

pipezero::LeafInputs leaf_inputs(const Forest& f, const char* fn, const py::object& policy_logits,
                                 const py::object& value, const py::object& reward, const py::object& legal_mask,
                                 const py::object& to_play, const py::object& latent) {
  if (!f.awaiting_expand) pipezero::fail_order(fn, ": no pending simulation; call simulate() first");
  const int64_t m = f.num_pending;
  const pipezero::Shape ma{m, f.A}, mm{m};
  pipezero::LeafInputs in;
  in.count = f.num_pending;
  in.logits = pipezero::checked_rows<float>(policy_logits, fn, "policy_logits", "[M, A]", ma, &in.logits_stride);
  in.value = pipezero::checked_array<float>(value, fn, "value", "[M]", mm);
  in.reward = pipezero::checked_array<float>(reward, fn, "reward", "[M]", mm);
  in.legal = reinterpret_cast<const uint8_t*>(pipezero::optional_array<bool>(legal_mask, fn, "legal_mask", "[M, A]", ma));
  in.to_play = pipezero::optional_array<int32_t>(to_play, fn, "to_play", "[M]", mm);
  in.latent = leaf_latents(f, fn, latent);
  return in;
}

void expand(PyForest& self, const py::object& policy_logits, const py::object& value, const py::object& reward,
            const py::object& legal_mask, const py::object& to_play, const py::object& latent) {
  const pipezero::LeafInputs in =
      leaf_inputs(self.forest, "Forest.expand", policy_logits, value, reward, legal_mask, to_play, latent);
  ExclusiveUse use(self.busy);
  py::gil_scoped_release release;
  pipezero::ConcurrencyProbe probe;
  self.forest.expand(in);
}

// expand, then the next simulate in the same call (one crossing of the binding per
// simulation); 0 when that was the search's last simulation.
int step(PyForest& self, const py::object& policy_logits, const py::object& value, const py::object& reward,
         const py::object& legal_mask, const py::object& to_play, const py::object& latent) {
  Forest& f = self.forest;
  const pipezero::LeafInputs in =
      leaf_inputs(f, "Forest.step", policy_logits, value, reward, legal_mask, to_play, latent);
  ExclusiveUse use(self.busy);
  py::gil_scoped_release release;
  pipezero::ConcurrencyProbe probe;
  f.expand(in);
  return f.sim < f.cfg.num_simulations ? f.simulate() : 0;
}

// Forest.step as a METH_FASTCALL method: the drivers call it once per simulation, and
// pybind11's generic dispatch (argument vectors, defaults, overload loop) cost about as much as
// the tree work of a small batch. Positional calls take this path; a call with keywords goes to
// the same function bound by pybind11 (Forest._step), so both accept, convert and reject
// arguments in the same way.
PyObject* step_fastcall(PyObject* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  try {
    if (kwnames != nullptr || nargs < 3 || nargs > 6) {
      const py::object checked = py::handle(self).attr("_step");
      return PyObject_Vectorcall(checked.ptr(), args, static_cast<size_t>(nargs), kwnames);
    }
    auto arg = [&](Py_ssize_t i) {
      return i < nargs ? py::reinterpret_borrow<py::object>(args[i]) : py::none();
    };
    const int m = step(py::handle(self).cast<PyForest&>(), arg(0), arg(1), arg(2), arg(3), arg(4), arg(5));
    return PyLong_FromLong(m);
  } catch (py::error_already_set& err) {
    err.restore();
  } catch (py::builtin_exception& err) {
    err.set_error();
  } catch (const std::invalid_argument& err) {
    PyErr_SetString(PyExc_ValueError, err.what());
  } catch (const std::exception& err) {
    PyErr_SetString(PyExc_RuntimeError, err.what());
  }
  return nullptr;
}

constexpr const char* kStepDoc =
    "step($self, policy_logits, value, reward, legal_mask=None, to_play=None, latent=None)\n--\n\n"
    "expand() the pending leaves, then simulate() the next simulation in the same call; returns its M "
    "(0 after the last simulation).";

// Runs a const result method into a fresh array of the given shape.
template <typename T, typename Method>
py::array_t<T> result(PyForest& self, std::vector<py::ssize_t> shape, Method method) {
  if (!self.forest.has_roots) throw std::logic_error("Forest: no search yet; call reset() and run the simulations first");
  py::array_t<T> out(shape);
  T* data = out.mutable_data();
  ExclusiveUse use(self.busy);
  py::gil_scoped_release release;
  (self.forest.*method)(data);
  return out;
}

// Property getter: a [B] view of a per-tree vector (writeable for the eval_* scratch buffers).
template <typename T>
auto batch_view(std::vector<T> Forest::*member, bool writeable) {
  return [member, writeable](const py::object& owner) {
    Forest& f = owner.cast<PyForest&>().forest;
    return pipezero::view_of(f.*member, {f.B}, owner, writeable);
  };
}

// Property getter: a read-only [B, N] (or [B, N, A] per child slot) view of a tree array.
template <typename T>
auto tree_view(std::vector<T> Forest::*member, bool per_child) {
  return [member, per_child](const py::object& owner) {
    Forest& f = owner.cast<PyForest&>().forest;
    std::vector<py::ssize_t> shape{f.B, f.N};
    if (per_child) shape.push_back(f.A);
    return pipezero::view_of(f.*member, shape, owner, false);
  };
}

}  // namespace

PYBIND11_MODULE(_mcts_core, m) {
  m.doc() = "pipezero batched MCTS core (C++17): array trees for a whole batch, GIL released";
  m.attr("__version__") = "0.1.0";
  m.attr("MAX_ABS_VALUE") = pipezero::kMaxAbsValue;
  m.attr("MAX_SIMULATIONS") = pipezero::kMaxSimulations - 1;

  py::class_<PyForest> forest(m, "Forest", "B search trees of N = num_simulations + 1 nodes and A child slots each.");
  forest
      .def(py::init([](const py::object& batch_size, const py::object& num_simulations, const py::object& num_actions,
                       const py::object& selection, const py::object& pb_c_base, const py::object& pb_c_init,
                       const py::object& discount, const py::object& value_delta_max, const py::object& value_prefix,
                       const py::object& lstm_horizon_len, const py::object& max_num_considered_actions,
                       const py::object& maxvisit_init, const py::object& value_scale, const py::object& stochastic,
                       const py::object& seed) {
             return new PyForest(make_config(batch_size, num_simulations, num_actions, selection, pb_c_base,
                                             pb_c_init, discount, value_delta_max, value_prefix, lstm_horizon_len,
                                             max_num_considered_actions, maxvisit_init, value_scale, stochastic,
                                             seed));
           }),
           py::arg("batch_size"), py::arg("num_simulations"), py::arg("num_actions"), py::kw_only(),
           py::arg("selection") = py::str("puct"), py::arg("pb_c_base") = py::float_(19652.0),
           py::arg("pb_c_init") = py::float_(1.25), py::arg("discount") = py::float_(0.997),
           py::arg("value_delta_max") = py::float_(0.01), py::arg("value_prefix") = py::bool_(false),
           py::arg("lstm_horizon_len") = py::int_(5), py::arg("max_num_considered_actions") = py::int_(16),
           py::arg("maxvisit_init") = py::float_(50.0), py::arg("value_scale") = py::float_(0.1),
           py::arg("stochastic") = py::bool_(false), py::arg("seed") = py::int_(0))
      .def("reset", &reset, "Start a search: reset every tree and expand the B roots.", py::arg("policy_logits"),
           py::arg("value"), py::arg("legal_mask"), py::arg("to_play"), py::kw_only(), py::arg("noise") = py::none(),
           py::arg("noise_weight") = 0.0, py::arg("gumbel") = py::none(), py::arg("reuse_action") = py::none(),
           py::arg("reuse_value") = py::none(), py::arg("reuse_reward") = py::none())
      .def("simulate", &simulate, "Select one leaf per tree; returns M, the number of leaves to evaluate.")
      .def("expand", &expand, "Expand the M pending leaves with network outputs and back up every tree.",
           py::arg("policy_logits"), py::arg("value"), py::arg("reward"), py::kw_only(),
           py::arg("legal_mask") = py::none(), py::arg("to_play") = py::none(), py::arg("latent") = py::none())
      .def(
          "use_latents",
          [](PyForest& s, int dim) {
            ExclusiveUse use(s.busy);
            s.forest.use_latents(dim);
          },
          py::arg("dim"),
          "Keep one latent of `dim` floats per node (0: none): expand/step copy the new nodes' latents in, "
          "simulate/step copy the pending parents' latents to latent_gather.")
      .def(
          "set_root_latents",
          [](PyForest& s, const py::object& latents) {
            Forest& f = s.forest;
            if (f.latent_dim == 0) pipezero::fail_order("Forest.set_root_latents: call use_latents(dim) first");
            const float* data = pipezero::checked_array<float>(latents, "Forest.set_root_latents", "latents", "[B, L]",
                                                               {f.B, f.latent_dim});
            ExclusiveUse use(s.busy);
            f.set_root_latents(data);
          },
          py::arg("latents"), "Store the B roots' latents ([B, L] float32) at node 0 of every tree.")
      .def_property_readonly("latent_dim", [](const PyForest& s) { return s.forest.latent_dim; })
      .def_property_readonly("latent_gather",
                             [](const py::object& owner) {
                               Forest& f = owner.cast<PyForest&>().forest;
                               return pipezero::view_of(f.latent_gather, {f.B, f.latent_dim}, owner, true);
                             })
      .def("root_visit_counts", [](PyForest& s) { return result<int32_t>(s, {s.forest.B, s.forest.A}, &Forest::root_visits); })
      .def("root_values", [](PyForest& s) { return result<float>(s, {s.forest.B}, &Forest::root_values); })
      .def("root_q_values", [](PyForest& s) { return result<float>(s, {s.forest.B, s.forest.A}, &Forest::root_q); })
      .def("improved_policy", [](PyForest& s) { return result<float>(s, {s.forest.B, s.forest.A}, &Forest::improved_policy); })
      .def("gumbel_action",
           [](PyForest& s) {
             if (s.forest.cfg.selection != pipezero::Selection::kGumbel) {
               pipezero::fail_order("Forest.gumbel_action: this forest was built with selection='puct'; the Gumbel "
                                    "action needs selection='gumbel' (with PUCT play the most visited root action, "
                                    "root_visit_counts().argmax(1))");
             }
             return result<int64_t>(s, {s.forest.B}, &Forest::gumbel_action);
           })
      .def_property_readonly("batch_size", [](const PyForest& s) { return s.forest.B; })
      .def_property_readonly("num_nodes_capacity", [](const PyForest& s) { return s.forest.N; })
      .def_property_readonly("num_actions", [](const PyForest& s) { return s.forest.A; })
      .def_property_readonly("num_pending", [](const PyForest& s) { return s.forest.num_pending; })
      .def_property_readonly("simulations_done", [](const PyForest& s) { return s.forest.sim; })
      // Scratch buffers of the pending leaves, [B] each, valid in [0, num_pending).
      .def_property_readonly("eval_rows", batch_view(&Forest::eval_rows, true))
      .def_property_readonly("eval_parent", batch_view(&Forest::eval_parent, true))
      .def_property_readonly("eval_action", batch_view(&Forest::eval_action, true))
      .def_property_readonly("eval_action_flat", batch_view(&Forest::eval_action_flat, true))
      .def_property_readonly("eval_node", batch_view(&Forest::eval_node, true))
      .def_property_readonly("eval_keep_hidden", batch_view(&Forest::eval_keep_hidden, true))
      .def_property_readonly("eval_chance", batch_view(&Forest::eval_chance, true))
      .def_property_readonly("stochastic", [](const PyForest& s) { return s.forest.cfg.stochastic; })
      .def_property_readonly("num_nodes", batch_view(&Forest::num_nodes, false))
      // Read-only views of the tree: [B, N] per node, [B, N, A] per child slot.
      .def_property_readonly("node_visits", tree_view(&Forest::visits, false))
      .def_property_readonly("node_value_sum", tree_view(&Forest::value_sum, false))
      .def_property_readonly("node_raw_value", tree_view(&Forest::raw_value, false))
      .def_property_readonly("node_reward", tree_view(&Forest::reward, false))
      .def_property_readonly("node_parent", tree_view(&Forest::parent, false))
      .def_property_readonly("node_action", tree_view(&Forest::action, false))
      .def_property_readonly("node_depth", tree_view(&Forest::depth, false))
      .def_property_readonly("node_to_play", tree_view(&Forest::to_play, false))
      .def_property_readonly("node_kind", tree_view(&Forest::kind, false))
      .def_property_readonly("node_is_chance", tree_view(&Forest::chance, false))
      .def_property_readonly("children_index", tree_view(&Forest::children, true))
      .def_property_readonly("children_prior", tree_view(&Forest::prior, true))
      .def_property_readonly("children_legal", tree_view(&Forest::legal, true));
  // Named "step" so that its messages (wrong arguments) read as before the fast path.
  forest.attr("_step") = py::cpp_function(
      &step, py::name("step"), py::is_method(forest), "Forest.step bound by pybind11 (calls with keywords).",
      py::arg("policy_logits"), py::arg("value"), py::arg("reward"), py::arg("legal_mask") = py::none(),
      py::arg("to_play") = py::none(), py::arg("latent") = py::none());
  static PyMethodDef step_def = {"step", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(step_fastcall)),
                                 METH_FASTCALL | METH_KEYWORDS, kStepDoc};
  forest.attr("step") = py::reinterpret_steal<py::object>(
      PyDescr_NewMethod(reinterpret_cast<PyTypeObject*>(forest.ptr()), &step_def));

  m.def(
      "decode_supports",
      [](const py::tuple& heads, const py::object& support_size, double eps) {
        const char* fn = "decode_supports";
        const int s = int_arg(support_size, "support_size", 1, (std::numeric_limits<int>::max() - 1) / 2);
        if (!(eps >= 0.0 && eps <= 1.0)) pipezero::fail(fn, ": argument 'eps' must be in [0, 1], got ", eps);
        const int64_t k = static_cast<int64_t>(heads.size());
        if (k == 0) pipezero::fail(fn, ": argument 'heads' must hold at least one [R, 2S + 1] array, got none");
        const int64_t rows = py::reinterpret_borrow<py::array>(heads[0]).ndim() == 2
                                 ? py::reinterpret_borrow<py::array>(heads[0]).shape(0)
                                 : -1;
        std::vector<const float*> data(k);
        std::vector<int64_t> strides(k);
        for (int64_t h = 0; h < k; ++h) {
          data[h] = pipezero::checked_rows<float>(heads[h], fn, "heads", "[R, 2S + 1]", {rows, 2 * int64_t{s} + 1},
                                                  &strides[h]);
        }
        py::array_t<float> out({k, rows});
        float* o = out.mutable_data();
        {
          py::gil_scoped_release release;
          for (int64_t h = 0; h < k; ++h) pipezero::decode_support(data[h], strides[h], rows, s, eps, o + h * rows);
        }
        return out;
      },
      py::arg("heads"), py::arg("support_size"), py::arg("eps"),
      "Categorical value heads to scalars: for each [R, 2S + 1] float32 array of logits (rows may be spaced "
      "apart), h^-1 of the softmax expectation over the bins -S..S; returns [len(heads), R] float32.");
  m.def("considered_visit_sequence", &pipezero::considered_visit_sequence, py::arg("m"), py::arg("num_simulations"),
        "Gumbel sequential halving: visits the root action of each simulation must already have.");
  m.def(
      "forest_memory_bytes",
      [](const py::object& batch_size, const py::object& num_simulations, const py::object& num_actions,
         const py::object& selection, const py::object& max_num_considered_actions) {
        pipezero::SearchConfig c;
        c.batch_size = int_arg(batch_size, "batch_size", 1, std::numeric_limits<int>::max());
        c.num_simulations = int_arg(num_simulations, "num_simulations", 1, pipezero::kMaxSimulations - 1);
        c.num_actions = int_arg(num_actions, "num_actions", 1, pipezero::kMaxSimulations - 1);
        c.selection = parse_selection(selection);
        c.max_num_considered_actions =
            int_arg(max_num_considered_actions, "max_num_considered_actions", 1, std::numeric_limits<int>::max());
        return pipezero::forest_bytes(c);
      },
      py::arg("batch_size"), py::arg("num_simulations"), py::arg("num_actions"), py::arg("selection") = py::str("puct"),
      py::arg("max_num_considered_actions") = py::int_(16), "Bytes a Forest with these settings allocates.");
  m.def("max_forest_bytes", &pipezero::max_forest_bytes,
        "The most bytes one Forest may allocate (half of physical memory); larger forests are refused.");
  m.def("_set_rendezvous", &pipezero::set_rendezvous, py::arg("threads"), py::arg("timeout_ms"),
        "Test hook: the next batched calls wait (GIL released) until `threads` of them run at once.");
  m.def("_active_calls", &pipezero::active_calls, "Test hook: batched calls running right now (GIL released).");
  m.def("_max_concurrent_calls", &pipezero::max_concurrent_calls, py::arg("reset") = false,
        "Test hook: most batched calls seen running at the same time (GIL released).");
}
