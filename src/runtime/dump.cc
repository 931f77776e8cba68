#include "runtime/dump.h"

#include <algorithm>
#include <nlohmann/json.hpp>

#include "tensor/npy.h"

namespace qdiff::runtime {

namespace fs = std::filesystem;

std::string sanitize_file_name(const std::string& name) {
  std::string out;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    out += ok ? c : '_';
  }
  if (out.empty() || out[0] == '.') out = "_" + out;
  if (out.size() > 180) out.resize(180);
  return out;
}

Result<std::unique_ptr<DumpWriter>> DumpWriter::create(const fs::path& dir, const ir::Graph& graph,
                                                       std::vector<ir::ValueId> selection,
                                                       std::vector<std::string> sample_names) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec) return io_error(dir.string() + ": cannot create dump directory: " + ec.message());
  if (fs::exists(dir / "manifest.json"))
    fs::remove(dir / "manifest.json", ec);  // a stale manifest must not describe new files
  std::unique_ptr<DumpWriter> w(new DumpWriter(dir, graph));
  w->selected_.assign(graph.num_values(), selection.empty());
  for (ir::ValueId id : selection) w->selected_[id] = true;
  w->samples_ = std::move(sample_names);
  return w;
}

bool DumpWriter::wants(ir::ValueId id) const {
  return id < selected_.size() && selected_[id];
}

Status DumpWriter::observe(ir::ValueId id, const Tensor& value) {
  const std::string& name = graph_.value(id).name;
  auto [it, inserted] = entries_.try_emplace(id);
  Entry& e = it->second;
  if (inserted) {
    std::string base = sanitize_file_name(name);
    const int n = used_files_[base]++;
    e.file = (n ? base + "_" + std::to_string(n) : base) + ".npy";
    e.dtype = value.dtype();
    e.shape = value.shape();
    order_.push_back(id);
    e.stream.open(dir_ / e.file, std::ios::binary | std::ios::trunc);
    if (!e.stream) return io_error((dir_ / e.file).string() + ": cannot create file");
    Shape stacked = e.shape;
    stacked.insert(stacked.begin(), static_cast<int64_t>(samples_.size()));
    const std::string header = npy_header(e.dtype, stacked);
    e.stream.write(header.data(), static_cast<std::streamsize>(header.size()));
  } else if (value.dtype() != e.dtype || value.shape() != e.shape) {
    return invalid_argument("tensor '" + name + "' is " + std::string(dtype_name(value.dtype())) +
                            shape_to_string(value.shape()) + " in sample " +
                            std::to_string(e.rows) + " but " + std::string(dtype_name(e.dtype)) +
                            shape_to_string(e.shape) +
                            " before; a dump needs one shape per tensor");
  }
  if (e.rows >= static_cast<int64_t>(samples_.size()))
    return Status(ErrorCode::kInternal, "more rows than samples for tensor '" + name + "'");
  e.stream.write(reinterpret_cast<const char*>(value.raw()),
                 static_cast<std::streamsize>(value.nbytes()));
  if (!e.stream) return io_error((dir_ / e.file).string() + ": write failed (disk full?)");
  ++e.rows;
  return Status();
}

Status DumpWriter::finish(const std::string& model_path, const std::string& mode) {
  nlohmann::ordered_json manifest;
  manifest["schema"] = "qdiff.dump/1";
  manifest["model"] = model_path;
  manifest["mode"] = mode;
  manifest["tensors"] = nlohmann::ordered_json::array();
  for (ir::ValueId id : order_) {
    Entry& e = entries_.at(id);
    e.stream.close();
    if (e.rows != static_cast<int64_t>(samples_.size()))
      return Status(ErrorCode::kInternal, "tensor '" + graph_.value(id).name + "' has " +
                                              std::to_string(e.rows) + " rows");
    nlohmann::ordered_json t;
    t["name"] = graph_.value(id).name;
    t["file"] = e.file;
    t["dtype"] = dtype_name(e.dtype);
    Shape stacked = e.shape;
    stacked.insert(stacked.begin(), static_cast<int64_t>(samples_.size()));
    t["shape"] = stacked;
    if (e.shape.size() == 4) t["layout"] = "NCHW";
    // Graph outputs are marked: comparisons report top-1 agreement on them.
    if (std::find(graph_.outputs.begin(), graph_.outputs.end(), id) != graph_.outputs.end())
      t["output"] = true;
    if (auto a = annotations_.find(id); a != annotations_.end())
      for (const auto& [key, text] : a->second) {
        try {
          t[key] = nlohmann::ordered_json::parse(text);
        } catch (const nlohmann::json::exception& ex) {
          return Status(ErrorCode::kInternal, "bad manifest annotation: " + std::string(ex.what()));
        }
      }
    manifest["tensors"].push_back(t);
  }
  manifest["samples"] = samples_;
  // One line per tensor and per sample name: readable, and diffs well.
  std::ofstream out(dir_ / "manifest.json", std::ios::trunc);
  out << "{\n";
  bool first = true;
  for (const auto& [key, value] : manifest.items()) {
    out << (first ? "" : ",\n") << " " << nlohmann::ordered_json(key).dump() << ": ";
    first = false;
    if (!value.is_array()) {
      out << value.dump();
      continue;
    }
    out << "[";
    for (size_t i = 0; i < value.size(); ++i) out << (i ? ",\n  " : "\n  ") << value[i].dump();
    out << (value.empty() ? "]" : "\n ]");
  }
  out << "\n}\n";
  if (!out) return io_error((dir_ / "manifest.json").string() + ": write failed");
  return Status();
}

Result<Dump> read_dump(const fs::path& dir) {
  const fs::path manifest_path = dir / "manifest.json";
  std::ifstream in(manifest_path);
  if (!in) return io_error(manifest_path.string() + ": cannot open (not a dump directory?)");
  nlohmann::json manifest;
  try {
    in >> manifest;
  } catch (const std::exception& e) {
    return invalid_argument(manifest_path.string() + ": invalid JSON: " + e.what());
  }
  Dump dump;
  try {
    if (manifest.contains("samples"))
      for (const auto& s : manifest["samples"]) dump.samples.push_back(s.get<std::string>());
    for (const auto& t : manifest.at("tensors")) {
      const std::string name = t.at("name").get<std::string>();
      const std::string file = t.at("file").get<std::string>();
      auto tensor = read_npy(dir / file);
      if (!tensor.ok()) return tensor.status().with_context("tensor '" + name + "'");
      dump.names.push_back(name);
      dump.tensors[name] = std::move(tensor).value();
    }
  } catch (const nlohmann::json::exception& e) {
    return invalid_argument(manifest_path.string() + ": " + e.what());
  }
  return dump;
}

}  // namespace qdiff::runtime
