#include "backends/safetensors/safetensors.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include <nlohmann/json.hpp>

#include "core/jsonl.h"

namespace crucible::safetensors {

namespace {
using json = nlohmann::json;

struct DTypeRow { DType d; const char* name; size_t size; };
constexpr DTypeRow kDTypes[] = {
    {DType::kF64, "F64", 8}, {DType::kF32, "F32", 4}, {DType::kF16, "F16", 2}, {DType::kBF16, "BF16", 2},
    {DType::kI64, "I64", 8}, {DType::kI32, "I32", 4}, {DType::kI16, "I16", 2}, {DType::kI8, "I8", 1},
    {DType::kU8, "U8", 1},   {DType::kBool, "BOOL", 1}};

constexpr uint64_t kMaxHeaderBytes = 100ull << 20;  // as the reference implementation

Status bad(const std::string& path, const std::string& why) {
  return Status::parse(path + ": invalid safetensors file: " + why);
}
}  // namespace

const char* dtype_name(DType d) {
  for (auto& r : kDTypes) if (r.d == d) return r.name;
  return "?";
}
size_t dtype_size(DType d) {
  for (auto& r : kDTypes) if (r.d == d) return r.size;
  return 0;
}
bool dtype_from_name(std::string_view s, DType* out) {
  for (auto& r : kDTypes)
    if (s == r.name) { *out = r.d; return true; }
  return false;
}

int64_t TensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

File::File(File&& o) noexcept { *this = std::move(o); }
File& File::operator=(File&& o) noexcept {
  if (this != &o) {
    if (map_) ::munmap(map_, map_size_);
    path_ = std::move(o.path_);
    map_ = o.map_; map_size_ = o.map_size_; data_ = o.data_;
    tensors_ = std::move(o.tensors_);
    metadata_ = std::move(o.metadata_);
    o.map_ = nullptr; o.map_size_ = 0; o.data_ = nullptr;
  }
  return *this;
}
File::~File() {
  if (map_) ::munmap(map_, map_size_);
}

Result<File> File::open(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Status::io(path + ": cannot open: " + std::strerror(errno));
  struct stat st;
  if (::fstat(fd, &st) != 0) { ::close(fd); return Status::io(path + ": stat failed"); }
  size_t size = static_cast<size_t>(st.st_size);
  if (size < 8) { ::close(fd); return bad(path, "file is " + std::to_string(size) + " bytes, shorter than the 8-byte header length"); }
  void* m = ::mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (m == MAP_FAILED) return Status::io(path + ": mmap failed: " + std::strerror(errno));
  File f;
  f.path_ = path; f.map_ = m; f.map_size_ = size;
  const auto* p = static_cast<const unsigned char*>(m);
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | p[i];
  if (n > kMaxHeaderBytes) return bad(path, "header length " + std::to_string(n) + " exceeds 100 MiB");
  if (n > size - 8) return bad(path, "header length " + std::to_string(n) + " runs past the end of the file (" + std::to_string(size) + " bytes): truncated?");
  std::string_view header(reinterpret_cast<const char*>(p + 8), n);
  if (header.empty() || header.front() != '{') return bad(path, "header does not start with '{'");
  json h = json::parse(header.begin(), header.end(), nullptr, false);
  if (h.is_discarded() || !h.is_object()) return bad(path, "header is not a JSON object");
  f.data_ = reinterpret_cast<const char*>(p + 8 + n);
  uint64_t data_size = size - 8 - n;
  for (auto& [name, v] : h.items()) {
    if (name == "__metadata__") {
      if (!v.is_object()) return bad(path, "__metadata__ is not an object");
      for (auto& [k, s] : v.items()) {
        if (!s.is_string()) return bad(path, "__metadata__." + k + " is not a string");
        f.metadata_[k] = s.get<std::string>();
      }
      continue;
    }
    TensorInfo t;
    t.name = name;
    if (!v.is_object() || !v.contains("dtype") || !v.contains("shape") || !v.contains("data_offsets"))
      return bad(path, "tensor '" + name + "' needs dtype, shape and data_offsets");
    if (!v["dtype"].is_string() || !dtype_from_name(v["dtype"].get<std::string>(), &t.dtype))
      return bad(path, "tensor '" + name + "' has unknown dtype " + v["dtype"].dump());
    if (!v["shape"].is_array()) return bad(path, "tensor '" + name + "' shape is not an array");
    for (auto& d : v["shape"]) {
      if (!d.is_number_unsigned()) return bad(path, "tensor '" + name + "' has a bad dimension " + d.dump());
      if (d.get<uint64_t>() > (1ull << 40)) return bad(path, "tensor '" + name + "' dimension too large");
      t.shape.push_back(d.get<int64_t>());
    }
    auto& off = v["data_offsets"];
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() || !off[1].is_number_unsigned())
      return bad(path, "tensor '" + name + "' data_offsets is not [begin, end]");
    t.begin = off[0].get<uint64_t>();
    t.end = off[1].get<uint64_t>();
    if (t.begin > t.end) return bad(path, "tensor '" + name + "' has begin > end");
    if (t.end > data_size)
      return bad(path, "tensor '" + name + "' ends at byte " + std::to_string(t.end) + " but the data is " +
                           std::to_string(data_size) + " bytes (out of range or truncated)");
    long double expect = static_cast<long double>(t.numel()) * dtype_size(t.dtype);
    if (expect != static_cast<long double>(t.end - t.begin))
      return bad(path, "tensor '" + name + "' has " + std::to_string(t.end - t.begin) + " bytes but shape and dtype need " +
                           std::to_string(static_cast<uint64_t>(expect)));
    f.tensors_.push_back(std::move(t));
  }
  // The buffer must be covered exactly: sorted by offset, each tensor starts where the last ended.
  std::vector<const TensorInfo*> by_off;
  for (auto& t : f.tensors_) by_off.push_back(&t);
  std::sort(by_off.begin(), by_off.end(), [](auto* a, auto* b) { return a->begin != b->begin ? a->begin < b->begin : a->end < b->end; });
  uint64_t at = 0;
  for (auto* t : by_off) {
    if (t->begin < at) return bad(path, "tensor '" + t->name + "' overlaps the previous tensor");
    if (t->begin > at) return bad(path, "hole in the data buffer before tensor '" + t->name + "'");
    at = t->end;
  }
  if (at != data_size) return bad(path, std::to_string(data_size - at) + " trailing bytes not covered by any tensor");
  return std::move(f);
}

const TensorInfo* File::find(std::string_view name) const {
  for (auto& t : tensors_) if (t.name == name) return &t;
  return nullptr;
}

std::string_view File::bytes(const TensorInfo& t) const {
  return std::string_view(data_ + t.begin, t.end - t.begin);
}

Status write(const std::string& path, const std::vector<TensorData>& tensors,
             const std::map<std::string, std::string>& metadata) {
  json h = json::object();
  if (!metadata.empty()) h["__metadata__"] = metadata;
  uint64_t off = 0;
  for (auto& t : tensors) {
    int64_t numel = 1;
    for (int64_t d : t.shape) {
      if (d < 0) return Status::invalid(path + ": tensor '" + t.name + "' has a negative dimension");
      numel *= d;
    }
    if (static_cast<uint64_t>(numel) * dtype_size(t.dtype) != t.bytes.size())
      return Status::invalid(path + ": tensor '" + t.name + "' has " + std::to_string(t.bytes.size()) +
                             " bytes, shape and dtype need " + std::to_string(numel * dtype_size(t.dtype)));
    if (h.contains(t.name)) return Status::invalid(path + ": duplicate tensor name '" + t.name + "'");
    h[t.name] = {{"dtype", dtype_name(t.dtype)}, {"shape", t.shape}, {"data_offsets", {off, off + t.bytes.size()}}};
    off += t.bytes.size();
  }
  std::string header = h.dump();
  while (header.size() % 8) header.push_back(' ');
  std::string out;
  out.reserve(8 + header.size() + off);
  uint64_t n = header.size();
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((n >> (8 * i)) & 0xff));
  out += header;
  for (auto& t : tensors) out.append(t.bytes.data(), t.bytes.size());
  return write_file_atomic(path, out);
}

Result<Model> Model::open_dir(const std::string& dir) {
  namespace fs = std::filesystem;
  Model m;
  std::vector<std::string> shards;
  fs::path index = fs::path(dir) / "model.safetensors.index.json";
  if (fs::exists(index)) {
    auto text = read_file(index.string());
    if (!text) return text.status();
    json j = json::parse(*text, nullptr, false);
    if (j.is_discarded() || !j.is_object() || !j.contains("weight_map") || !j["weight_map"].is_object())
      return Status::parse(index.string() + ": expected {\"weight_map\": {tensor: file}}");
    for (auto& [name, file] : j["weight_map"].items()) {
      if (!file.is_string()) return Status::parse(index.string() + ": weight_map." + name + " is not a file name");
      std::string f = file.get<std::string>();
      if (f.find('/') != std::string::npos) return Status::parse(index.string() + ": shard name '" + f + "' has a '/'");
      if (std::find(shards.begin(), shards.end(), f) == shards.end()) shards.push_back(f);
    }
  } else if (fs::exists(fs::path(dir) / "model.safetensors")) {
    shards.push_back("model.safetensors");
  } else {
    return Status::not_found(dir + ": no model.safetensors or model.safetensors.index.json");
  }
  for (auto& s : shards) {
    auto f = File::open((fs::path(dir) / s).string());
    if (!f) return f.status();
    m.files_.push_back(std::make_unique<File>(std::move(*f)));
    const File* file = m.files_.back().get();
    for (auto& t : file->tensors()) {
      if (!m.index_.emplace(t.name, std::make_pair(file, &t)).second)
        return Status::parse(file->path() + ": tensor '" + t.name + "' also appears in another shard");
    }
  }
  return std::move(m);
}

std::vector<std::string> Model::names() const {
  std::vector<std::string> out;
  for (auto& [k, v] : index_) out.push_back(k);
  return out;
}

const TensorInfo* Model::find(std::string_view name, std::string_view* bytes) const {
  auto it = index_.find(name);
  if (it == index_.end()) return nullptr;
  if (bytes) *bytes = it->second.first->bytes(*it->second.second);
  return it->second.second;
}

}  // namespace crucible::safetensors
