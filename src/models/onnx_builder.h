// A thin writer of ONNX graphs (opset 11, the set OpenCV 4.6 DNN reads best).
// Importers translate foreign model formats into calls on this builder; the
// builder owns names: every Add* returns the name of the value it produced so
// callers can chain nodes without inventing names themselves.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <variant>
#include <vector>

#include <onnx/onnx_pb.h>

namespace lineup {

struct OnnxAttr {
  std::string name;
  std::variant<int64_t, float, std::vector<int64_t>, std::vector<float>, std::string> value;

  static OnnxAttr Int(std::string n, int64_t v) { return {std::move(n), v}; }
  static OnnxAttr Float(std::string n, float v) { return {std::move(n), v}; }
  static OnnxAttr Ints(std::string n, std::vector<int64_t> v) { return {std::move(n), std::move(v)}; }
  static OnnxAttr Str(std::string n, std::string v) { return {std::move(n), std::move(v)}; }
};

class OnnxBuilder {
 public:
  explicit OnnxBuilder(const std::string& graph_name, int opset = 11);

  // Graph inputs/outputs are float32; a dimension of -1 is left symbolic.
  void AddInput(const std::string& name, const std::vector<int64_t>& dims);
  void AddOutput(const std::string& name, const std::vector<int64_t>& dims);

  // Constant tensors. Returns the (possibly uniquified) initializer name.
  std::string AddFloatTensor(const std::string& name, const std::vector<int64_t>& dims,
                             std::vector<float> data);
  std::string AddInt64Tensor(const std::string& name, const std::vector<int64_t>& dims,
                             const std::vector<int64_t>& data);

  // Adds one node producing a single output named after `hint` (uniquified);
  // returns that output's name.
  std::string AddNode(const std::string& op_type, const std::vector<std::string>& inputs,
                      const std::string& hint, const std::vector<OnnxAttr>& attrs = {});
  // Adds a node whose outputs are named exactly `outputs` (for graph outputs).
  void AddNodeWithOutputs(const std::string& op_type, const std::vector<std::string>& inputs,
                          const std::vector<std::string>& outputs,
                          const std::vector<OnnxAttr>& attrs = {});

  void SetDocString(const std::string& doc);
  const onnx::ModelProto& model() const { return model_; }
  std::string Serialize() const;
  // Writes atomically (temp file + rename); throws Error on failure.
  void Save(const std::filesystem::path& path) const;

 private:
  std::string UniqueName(const std::string& hint);
  onnx::NodeProto* NewNode(const std::string& op_type, const std::vector<std::string>& inputs,
                           const std::vector<OnnxAttr>& attrs);

  onnx::ModelProto model_;
  onnx::GraphProto* graph_;
  int next_id_ = 0;
  std::vector<std::string> used_names_;
};

}  // namespace lineup
