#include "core/jsonl.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

namespace crucible {

Result<std::string> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::io(path + ": cannot open: " + std::strerror(errno));
  std::ostringstream ss;
  ss << in.rdbuf();
  if (in.bad()) return Status::io(path + ": read error");
  return ss.str();
}

Status write_file_atomic(const std::string& path, const std::string& contents) {
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return Status::io(tmp + ": cannot create: " + std::strerror(errno));
  size_t off = 0;
  while (off < contents.size()) {
    ssize_t w = ::write(fd, contents.data() + off, contents.size() - off);
    if (w < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      ::close(fd);
      return Status::io(tmp + ": write failed: " + std::strerror(e));
    }
    off += static_cast<size_t>(w);
  }
  ::fsync(fd);
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0)
    return Status::io(path + ": rename failed: " + std::strerror(errno));
  return Status::ok();
}

namespace {

Result<std::vector<JsonlRecord>> parse_lines(const std::string& path, const std::string& text,
                                             bool tolerate_torn_tail, bool* torn) {
  std::vector<JsonlRecord> out;
  size_t pos = 0, line = 0;
  if (torn) *torn = false;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    bool last_unterminated = (nl == std::string::npos);
    size_t end = last_unterminated ? text.size() : nl;
    ++line;
    std::string_view sv(text.data() + pos, end - pos);
    pos = last_unterminated ? text.size() : nl + 1;
    if (!sv.empty() && sv.back() == '\r') sv.remove_suffix(1);
    if (sv.find_first_not_of(" \t") == std::string_view::npos) continue;
    json v = json::parse(sv.begin(), sv.end(), nullptr, /*allow_exceptions=*/false);
    if (v.is_discarded()) {
      if (tolerate_torn_tail && last_unterminated) {
        if (torn) *torn = true;
        break;
      }
      return Status::parse(path + ":" + std::to_string(line) + ": invalid JSON");
    }
    if (!v.is_object())
      return Status::parse(path + ":" + std::to_string(line) + ": expected a JSON object, got " +
                           std::string(v.type_name()));
    out.push_back({line, std::move(v)});
  }
  return out;
}

}  // namespace

Result<std::vector<JsonlRecord>> read_jsonl(const std::string& path, bool allow_empty) {
  auto text = read_file(path);
  if (!text) return text.status();
  auto recs = parse_lines(path, *text, false, nullptr);
  if (!recs) return recs;
  if (!allow_empty && recs->empty()) return Status::invalid(path + ": file has no records");
  return recs;
}

Result<std::vector<JsonlRecord>> read_jsonl_tolerant(const std::string& path, bool* torn) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return std::vector<JsonlRecord>{};
  auto text = read_file(path);
  if (!text) return text.status();
  return parse_lines(path, *text, true, torn);
}

JsonlAppender::~JsonlAppender() { close(); }

Status JsonlAppender::open(const std::string& path) {
  close();
  path_ = path;
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0) return Status::io(path + ": cannot open for append: " + std::strerror(errno));
  // Drop a torn tail: find the last '\n' and truncate after it.
  off_t size = ::lseek(fd_, 0, SEEK_END);
  if (size > 0) {
    off_t keep = size;
    char buf[4096];
    bool found = false;
    while (keep > 0 && !found) {
      off_t chunk = std::min<off_t>(keep, sizeof(buf));
      if (::pread(fd_, buf, static_cast<size_t>(chunk), keep - chunk) != chunk)
        return Status::io(path + ": read failed");
      for (off_t i = chunk - 1; i >= 0; --i) {
        if (buf[i] == '\n') {
          keep = keep - chunk + i + 1;
          found = true;
          break;
        }
      }
      if (!found) keep -= chunk;
    }
    if (keep != size) {
      if (::ftruncate(fd_, keep) != 0) return Status::io(path + ": truncate failed");
      ::fsync(fd_);
    }
  }
  ::lseek(fd_, 0, SEEK_END);
  return Status::ok();
}

Status JsonlAppender::append(const json& value) {
  std::string line = value.dump(-1, ' ', false, json::error_handler_t::replace);
  line.push_back('\n');
  std::lock_guard<std::mutex> lock(mu_);
  if (fd_ < 0) return Status::internal("JsonlAppender: not open");
  size_t off = 0;
  while (off < line.size()) {
    ssize_t w = ::write(fd_, line.data() + off, line.size() - off);
    if (w < 0) {
      if (errno == EINTR) continue;
      return Status::io(path_ + ": append failed: " + std::strerror(errno));
    }
    off += static_cast<size_t>(w);
  }
  if (::fdatasync(fd_) != 0) return Status::io(path_ + ": fsync failed: " + std::strerror(errno));
  return Status::ok();
}

void JsonlAppender::close() {
  if (fd_ >= 0) ::close(fd_);
  fd_ = -1;
}

}  // namespace crucible
