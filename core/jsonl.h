// JSONL reading and durable appending.
// read_jsonl: every non-blank line must be a JSON object; the first bad line is an error naming
//   "FILE:LINE: reason". An empty file (no records) is an error unless allow_empty.
// JsonlAppender: appends one record per line and fsyncs, so a kill -9 loses at most the line
//   being written; read_jsonl_tolerant() skips a torn (unterminated, unparsable) *last* line.
#pragma once
#include <cstdio>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/status.h"

namespace crucible {

using json = nlohmann::json;

struct JsonlRecord {
  size_t line = 0;  // 1-based line number in the file
  json value;
};

Result<std::vector<JsonlRecord>> read_jsonl(const std::string& path, bool allow_empty = false);

// Like read_jsonl, but a final line without '\n' that fails to parse is dropped (torn write);
// `torn` is set when that happened. A bad line in the middle is still an error.
Result<std::vector<JsonlRecord>> read_jsonl_tolerant(const std::string& path, bool* torn = nullptr);

class JsonlAppender {
 public:
  JsonlAppender() = default;
  ~JsonlAppender();
  JsonlAppender(const JsonlAppender&) = delete;
  JsonlAppender& operator=(const JsonlAppender&) = delete;
  // Opens for append; if the file ends with a torn line (no trailing '\n'), truncates it away.
  Status open(const std::string& path);
  // Writes value.dump() + '\n' and fsyncs. Thread-safe.
  Status append(const json& value);
  void close();

 private:
  std::mutex mu_;
  int fd_ = -1;
  std::string path_;
};

// Read a whole file; error names the path.
Result<std::string> read_file(const std::string& path);
// Write atomically (temp file + fsync + rename).
Status write_file_atomic(const std::string& path, const std::string& contents);

}  // namespace crucible
