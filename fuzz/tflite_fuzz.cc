// Fuzz target: ParseTfliteModel (src/models/tflite_model.cc) over our
// FlatBuffers reader (src/models/flatbuffer_reader.cc), which `lineup models
// import` runs on .tflite files from npm packages. Feeds: the input as the
// whole model file.
//
// Asserts beyond "no crash, no out-of-bounds read, no UB":
//  - failures are lineup::Error only (no std::length_error or bad_alloc
//    from a size the file claims);
//  - every operator input/output and every graph input/output is a tensor
//    index in -1..tensors-1 (-1 = absent optional input);
//  - a constant tensor's data holds exactly the product of its shape
//    (int_data too, for int32), a non-constant one holds nothing.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "common/error.h"
#include "fuzz_check.h"
#include "models/tflite_model.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace lineup;
  TfliteModel model;
  try {
    model = ParseTfliteModel(std::vector<uint8_t>(data, data + size), "fuzz.tflite");
  } catch (const Error&) {
    return 0;
  }
  const int64_t tensors = static_cast<int64_t>(model.tensors.size());
  auto valid = [&](int32_t index) { return index >= -1 && index < tensors; };
  for (const TfliteOperator& op : model.operators) {
    for (int32_t i : op.inputs) FUZZ_CHECK(valid(i), "operator input out of range");
    for (int32_t i : op.outputs) FUZZ_CHECK(valid(i), "operator output out of range");
  }
  for (int32_t i : model.inputs) FUZZ_CHECK(valid(i), "graph input out of range");
  for (int32_t i : model.outputs) FUZZ_CHECK(valid(i), "graph output out of range");
  for (const TfliteTensor& t : model.tensors) {
    if (!t.is_constant) {
      FUZZ_CHECK(t.data.empty() && t.int_data.empty(), "data on a non-constant tensor");
      continue;
    }
    int64_t count = 1;
    for (int32_t d : t.shape) {
      FUZZ_CHECK(d >= 0, "constant tensor with a negative dimension");
      count *= d;  // bounded: the data is in the file
    }
    FUZZ_CHECK(static_cast<int64_t>(t.data.size()) == count, "constant data size != shape product");
    if (t.type == 2) FUZZ_CHECK(static_cast<int64_t>(t.int_data.size()) == count, "int32 data size");
  }
  return 0;
}
