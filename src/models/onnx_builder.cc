#include "models/onnx_builder.h"

#include <algorithm>
#include <fstream>

#include "common/error.h"
#include "common/file_util.h"

namespace lineup {

namespace {

void SetValueInfo(onnx::ValueInfoProto* info, const std::string& name,
                  const std::vector<int64_t>& dims) {
  info->set_name(name);
  auto* tensor_type = info->mutable_type()->mutable_tensor_type();
  tensor_type->set_elem_type(onnx::TensorProto::FLOAT);
  auto* shape = tensor_type->mutable_shape();
  for (size_t i = 0; i < dims.size(); ++i) {
    auto* dim = shape->add_dim();
    if (dims[i] < 0) {
      dim->set_dim_param("d" + std::to_string(i));
    } else {
      dim->set_dim_value(dims[i]);
    }
  }
}

void SetAttr(onnx::AttributeProto* proto, const OnnxAttr& attr) {
  proto->set_name(attr.name);
  std::visit(
      [proto](const auto& v) {
        using T = std::decay_t<decltype(v)>;
        if constexpr (std::is_same_v<T, int64_t>) {
          proto->set_type(onnx::AttributeProto::INT);
          proto->set_i(v);
        } else if constexpr (std::is_same_v<T, float>) {
          proto->set_type(onnx::AttributeProto::FLOAT);
          proto->set_f(v);
        } else if constexpr (std::is_same_v<T, std::vector<int64_t>>) {
          proto->set_type(onnx::AttributeProto::INTS);
          for (int64_t x : v) proto->add_ints(x);
        } else if constexpr (std::is_same_v<T, std::vector<float>>) {
          proto->set_type(onnx::AttributeProto::FLOATS);
          for (float x : v) proto->add_floats(x);
        } else {
          proto->set_type(onnx::AttributeProto::STRING);
          proto->set_s(v);
        }
      },
      attr.value);
}

}  // namespace

OnnxBuilder::OnnxBuilder(const std::string& graph_name, int opset) {
  model_.set_ir_version(6);
  model_.set_producer_name("lineup");
  model_.set_producer_version(LINEUP_VERSION);
  auto* op = model_.add_opset_import();
  op->set_domain("");
  op->set_version(opset);
  graph_ = model_.mutable_graph();
  graph_->set_name(graph_name);
}

std::string OnnxBuilder::UniqueName(const std::string& hint) {
  std::string base = hint.empty() ? "v" : hint;
  std::string name = base;
  while (std::find(used_names_.begin(), used_names_.end(), name) != used_names_.end()) {
    name = base + "_" + std::to_string(next_id_++);
  }
  used_names_.push_back(name);
  return name;
}

void OnnxBuilder::AddInput(const std::string& name, const std::vector<int64_t>& dims) {
  used_names_.push_back(name);
  SetValueInfo(graph_->add_input(), name, dims);
}

void OnnxBuilder::AddOutput(const std::string& name, const std::vector<int64_t>& dims) {
  SetValueInfo(graph_->add_output(), name, dims);
}

std::string OnnxBuilder::AddFloatTensor(const std::string& name, const std::vector<int64_t>& dims,
                                        std::vector<float> data) {
  int64_t count = 1;
  for (int64_t d : dims) count *= d;
  if (count != static_cast<int64_t>(data.size())) {
    throw Error(Context("onnx tensor " + name, "shape holds " + std::to_string(count) +
                                                   " values, data has " +
                                                   std::to_string(data.size())));
  }
  std::string unique = UniqueName(name);
  auto* tensor = graph_->add_initializer();
  tensor->set_name(unique);
  tensor->set_data_type(onnx::TensorProto::FLOAT);
  for (int64_t d : dims) tensor->add_dims(d);
  tensor->set_raw_data(data.data(), data.size() * sizeof(float));
  return unique;
}

std::string OnnxBuilder::AddInt64Tensor(const std::string& name, const std::vector<int64_t>& dims,
                                        const std::vector<int64_t>& data) {
  std::string unique = UniqueName(name);
  auto* tensor = graph_->add_initializer();
  tensor->set_name(unique);
  tensor->set_data_type(onnx::TensorProto::INT64);
  for (int64_t d : dims) tensor->add_dims(d);
  tensor->set_raw_data(data.data(), data.size() * sizeof(int64_t));
  return unique;
}

onnx::NodeProto* OnnxBuilder::NewNode(const std::string& op_type,
                                      const std::vector<std::string>& inputs,
                                      const std::vector<OnnxAttr>& attrs) {
  auto* node = graph_->add_node();
  node->set_op_type(op_type);
  for (const auto& in : inputs) node->add_input(in);
  for (const auto& attr : attrs) SetAttr(node->add_attribute(), attr);
  return node;
}

std::string OnnxBuilder::AddNode(const std::string& op_type,
                                 const std::vector<std::string>& inputs, const std::string& hint,
                                 const std::vector<OnnxAttr>& attrs) {
  auto* node = NewNode(op_type, inputs, attrs);
  std::string out = UniqueName(hint);
  node->set_name(out);
  node->add_output(out);
  return out;
}

void OnnxBuilder::AddNodeWithOutputs(const std::string& op_type,
                                     const std::vector<std::string>& inputs,
                                     const std::vector<std::string>& outputs,
                                     const std::vector<OnnxAttr>& attrs) {
  auto* node = NewNode(op_type, inputs, attrs);
  node->set_name(outputs.empty() ? op_type : outputs.front());
  for (const auto& out : outputs) {
    used_names_.push_back(out);
    node->add_output(out);
  }
}

void OnnxBuilder::SetDocString(const std::string& doc) { model_.set_doc_string(doc); }

std::string OnnxBuilder::Serialize() const {
  std::string bytes;
  if (!model_.SerializeToString(&bytes)) {
    throw Error(Context("onnx graph " + graph_->name(), "serialisation failed"));
  }
  return bytes;
}

void OnnxBuilder::Save(const std::filesystem::path& path) const {
  WriteFileAtomically(path, Serialize());
}

}  // namespace lineup
