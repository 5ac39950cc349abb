// NumPy argument checks for the bindings: arrays are used in place (no copy, no cast), so a
// wrong dtype, shape or memory layout is reported instead of silently converted.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <initializer_list>
#include <sstream>
#include <string>
#include <vector>

#include "errors.h"

namespace pipezero {

namespace py = pybind11;

template <typename T>
const char* dtype_name();
template <> inline const char* dtype_name<float>() { return "float32"; }
template <> inline const char* dtype_name<int32_t>() { return "int32"; }
template <> inline const char* dtype_name<int64_t>() { return "int64"; }
template <> inline const char* dtype_name<bool>() { return "bool"; }

// An expected array shape (at most 3 dimensions), held without a heap allocation: the
// bindings check the arguments of every simulation, so the good path builds no strings and
// allocates nothing; messages are only composed when a check fails.
struct Shape {
  Shape(std::initializer_list<int64_t> dims) : ndim(static_cast<int>(dims.size())) {
    int i = 0;
    for (const int64_t d : dims) dim[i++] = d;
  }
  int64_t dim[3] = {0, 0, 0};
  int ndim;
};

// "[M, A] = [3, 18]"-style description of an expected shape.
inline std::string describe_shape(const char* dims, const Shape& shape) {
  std::ostringstream out;
  out << dims << " = [";
  for (int i = 0; i < shape.ndim; ++i) out << (i ? ", " : "") << shape.dim[i];
  out << "]";
  return out.str();
}

inline std::string describe_array(const py::array& arr) {
  std::ostringstream out;
  out << py::str(arr.dtype()).cast<std::string>() << " array of shape (";
  for (py::ssize_t i = 0; i < arr.ndim(); ++i) out << (i ? ", " : "") << arr.shape(i);
  out << (arr.ndim() == 1 ? ",)" : ")");
  return out.str();
}

// NumPy type number of T (read once).
template <typename T>
int type_num() {
  static const int num = py::dtype::of<T>().num();
  return num;
}

inline int type_num_of(const py::array& arr) {
  return py::detail::array_descriptor_proxy(py::detail::array_proxy(arr.ptr())->descr)->type_num;
}

[[noreturn]] inline void fail_not_array(const py::handle& obj, const char* fn, const char* arg,
                                        const std::string& expected) {
  fail(fn, ": argument '", arg, "' must be ", expected, ", got an object of type ",
       py::str(py::type::of(obj).attr("__name__")).cast<std::string>());
}

// Returns the data pointer of `obj` after checking that it is a C-contiguous NumPy array of
// dtype T and the given shape; otherwise throws ValueError naming the argument.
template <typename T>
const T* checked_array(const py::handle& obj, const char* fn, const char* arg, const char* dims, const Shape& shape) {
  auto expected = [&] {
    return std::string("a C-contiguous ") + dtype_name<T>() + " array of shape " + describe_shape(dims, shape);
  };
  if (!py::isinstance<py::array>(obj)) fail_not_array(obj, fn, arg, expected());
  const py::array arr = py::reinterpret_borrow<py::array>(obj);
  bool ok = type_num_of(arr) == type_num<T>() && arr.ndim() == static_cast<py::ssize_t>(shape.ndim);
  for (int i = 0; ok && i < shape.ndim; ++i) ok = arr.shape(i) == shape.dim[i];
  if (!ok) fail(fn, ": argument '", arg, "' must be ", expected(), ", got a ", describe_array(arr));
  if (!(arr.flags() & py::array::c_style)) {
    fail(fn, ": argument '", arg, "' must be C-contiguous (np.ascontiguousarray or tensor.contiguous()), got a ",
         "strided ", describe_array(arr));
  }
  return static_cast<const T*>(arr.data());
}

// Like checked_array for a [rows, cols] matrix whose rows may be spaced apart (a column
// slice of a wider matrix, e.g. the policy part of a fused output head): the columns must be
// contiguous and the rows must not overlap. The row stride in elements goes to *row_stride.
template <typename T>
const T* checked_rows(const py::handle& obj, const char* fn, const char* arg, const char* dims, const Shape& shape,
                      int64_t* row_stride) {
  auto expected = [&] {
    return std::string("a ") + dtype_name<T>() + " array of shape " + describe_shape(dims, shape) +
           " with contiguous rows";
  };
  if (!py::isinstance<py::array>(obj)) fail_not_array(obj, fn, arg, expected());
  const py::array arr = py::reinterpret_borrow<py::array>(obj);
  const bool ok = type_num_of(arr) == type_num<T>() && arr.ndim() == 2 && arr.shape(0) == shape.dim[0] &&
                  arr.shape(1) == shape.dim[1];
  if (!ok) fail(fn, ": argument '", arg, "' must be ", expected(), ", got a ", describe_array(arr));
  const auto item = static_cast<py::ssize_t>(sizeof(T));
  const bool empty = arr.shape(0) == 0 || arr.shape(1) == 0;
  const bool columns_ok = empty || arr.shape(1) == 1 || arr.strides(1) == item;
  const bool rows_ok =
      empty || arr.shape(0) == 1 || (arr.strides(0) % item == 0 && arr.strides(0) >= arr.shape(1) * item);
  if (!columns_ok || !rows_ok) {
    fail(fn, ": argument '", arg, "' must have contiguous, non-overlapping rows (tensor.contiguous()), got a ",
         "strided ", describe_array(arr));
  }
  *row_stride = (empty || arr.shape(0) == 1) ? shape.dim[1] : arr.strides(0) / item;
  return static_cast<const T*>(arr.data());
}

// Like checked_array, but None gives nullptr.
template <typename T>
const T* optional_array(const py::handle& obj, const char* fn, const char* arg, const char* dims, const Shape& shape) {
  return obj.is_none() ? nullptr : checked_array<T>(obj, fn, arg, dims, shape);
}

// A NumPy view of memory owned by `owner` (kept alive by the view).
template <typename T>
py::array view_of(const std::vector<T>& data, std::vector<py::ssize_t> shape, const py::object& owner,
                  bool writeable) {
  py::array arr(py::dtype::of<T>(), shape, {}, data.data(), owner);
  if (!writeable) py::detail::array_proxy(arr.ptr())->flags &= ~py::detail::npy_api::NPY_ARRAY_WRITEABLE_;
  return arr;
}

}  // namespace pipezero
