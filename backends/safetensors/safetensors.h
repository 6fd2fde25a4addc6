// safetensors: read (mmap, zero-copy) and write the Hugging Face tensor file format.
// Layout: u64 little-endian N, then N bytes of JSON header
//   {"__metadata__": {str: str}, "<name>": {"dtype": "BF16", "shape": [..], "data_offsets": [b, e]}}
// then the byte buffer; offsets are relative to the buffer's start.
// Validation (a clear Status naming the file otherwise): the header fits in the file and is a JSON
// object; every dtype is known; (e - b) == numel * dtype size; offsets lie inside the buffer and
// cover it exactly, without overlaps or holes; names are unique.
// A model directory holds model.safetensors or model.safetensors.index.json + shards.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace crucible::safetensors {

enum class DType { kF64, kF32, kF16, kBF16, kI64, kI32, kI16, kI8, kU8, kBool };
const char* dtype_name(DType d);          // "F32", "BF16", ...
size_t dtype_size(DType d);               // bytes per element
bool dtype_from_name(std::string_view s, DType* out);

struct TensorInfo {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;            // byte offsets into the data buffer
  int64_t numel() const;
};

// One mapped file. Movable, not copyable; the mapping lives as long as the object.
class File {
 public:
  static Result<File> open(const std::string& path);
  File(File&&) noexcept;
  File& operator=(File&&) noexcept;
  ~File();

  const std::string& path() const { return path_; }
  const std::vector<TensorInfo>& tensors() const { return tensors_; }  // in header order
  const TensorInfo* find(std::string_view name) const;
  std::string_view bytes(const TensorInfo& t) const;                   // the tensor's raw bytes
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  File() = default;
  std::string path_;
  void* map_ = nullptr;
  size_t map_size_ = 0;
  const char* data_ = nullptr;            // start of the byte buffer
  std::vector<TensorInfo> tensors_;
  std::map<std::string, std::string> metadata_;
};

// A tensor to write: raw little-endian bytes of numel * dtype_size.
struct TensorData {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  std::string_view bytes;
};

// Writes atomically (temp file + rename). The header is padded with spaces to a multiple of 8.
Status write(const std::string& path, const std::vector<TensorData>& tensors,
             const std::map<std::string, std::string>& metadata = {});

// All tensors of a model directory: model.safetensors, or the shards named by
// model.safetensors.index.json ({"weight_map": {tensor: shard file}}).
class Model {
 public:
  static Result<Model> open_dir(const std::string& dir);
  std::vector<std::string> names() const;                    // sorted
  const TensorInfo* find(std::string_view name, std::string_view* bytes) const;

 private:
  std::vector<std::unique_ptr<File>> files_;
  std::map<std::string, std::pair<const File*, const TensorInfo*>, std::less<>> index_;
};

}  // namespace crucible::safetensors
