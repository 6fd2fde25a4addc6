#include "tasks/code/compiler.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>

#include <openssl/evp.h>

namespace crucible::code {
namespace {

std::string run_host(const std::string& cmd) {
  std::string out;
  FILE* f = ::popen(cmd.c_str(), "r");
  if (!f) return "";
  char buf[512];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  ::pclose(f);
  size_t nl = out.find('\n');
  if (nl != std::string::npos) out.resize(nl);
  return out;
}

bool read_all(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream ss;
  ss << in.rdbuf();
  *out = ss.str();
  return static_cast<bool>(in) || in.eof();
}

void mkdirs(const std::string& dir) {
  std::string cur;
  for (size_t i = 0; i <= dir.size(); ++i) {
    if (i == dir.size() || (dir[i] == '/' && i > 0)) {
      cur = dir.substr(0, i);
      ::mkdir(cur.c_str(), 0755);
    }
  }
}

bool write_atomic(const std::string& path, const std::string& data) {
  static std::atomic<unsigned> counter{0};
  std::string tmp = path + ".tmp." + std::to_string(::getpid()) + "." + std::to_string(counter++);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  size_t off = 0;
  while (off < data.size()) {
    ssize_t w = ::write(fd, data.data() + off, data.size() - off);
    if (w < 0) {
      if (errno == EINTR) continue;
      ::close(fd);
      ::unlink(tmp.c_str());
      return false;
    }
    off += static_cast<size_t>(w);
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    ::unlink(tmp.c_str());
    return false;
  }
  return true;
}

std::string shell_quote(const std::string& s) {
  std::string r = "'";
  for (char c : s) {
    if (c == '\'') r += "'\\''";
    else r += c;
  }
  return r + "'";
}

std::string truncate_msg(const std::string& s, size_t n) {
  if (s.size() <= n) return s;
  return s.substr(0, n) + "\n... (truncated, " + std::to_string(s.size()) + " bytes)";
}

}  // namespace

std::string sha256_hex(const std::string& data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  static const char* hex = "0123456789abcdef";
  std::string r;
  for (unsigned i = 0; i < len; ++i) {
    r += hex[md[i] >> 4];
    r += hex[md[i] & 15];
  }
  return r;
}

std::string default_cache_dir() {
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return std::string(x) + "/crucible/compile";
  return "/tmp/crucible-compile-cache";
}

std::string compiler_version(Language l) {
  static std::mutex mu;
  static std::map<Language, std::string> cache;
  std::lock_guard<std::mutex> lock(mu);
  auto it = cache.find(l);
  if (it != cache.end()) return it->second;
  std::string v;
  switch (l) {
    case Language::kCpp: v = run_host("g++ --version 2>&1"); break;
    case Language::kC: v = run_host("gcc --version 2>&1"); break;
    case Language::kPython: v = run_host("/usr/bin/python3 --version 2>&1"); break;
  }
  cache[l] = v;
  return v;
}

Compiler::Compiler(const sandbox::Sandbox& sandbox, CompileOptions options)
    : sb_(sandbox), opt_(std::move(options)) {
  if (opt_.cache_dir.empty()) opt_.cache_dir = default_cache_dir();
}

CompileResult Compiler::compile(Language lang, const std::vector<SourceFile>& sources,
                                const std::vector<std::string>& extra_flags) const {
  CompileResult r;
  r.language = lang;
  std::vector<std::string> flags;
  if (lang == Language::kCpp) flags = opt_.cpp_flags;
  if (lang == Language::kC) flags = opt_.c_flags;
  flags.insert(flags.end(), extra_flags.begin(), extra_flags.end());
  if (lang != Language::kPython) flags.insert(flags.end(), opt_.link_flags.begin(), opt_.link_flags.end());

  // Cache key: every input that can change the output, length-prefixed.
  std::string keysrc = std::string("crucible-compile-v1\n") + language_name(lang) + "\n" +
                       compiler_version(lang) + "\n";
  for (auto& f : flags) keysrc += std::to_string(f.size()) + ":" + f + "\n";
  for (auto& s : sources)
    keysrc += std::to_string(s.name.size()) + ":" + s.name + (s.compile ? "+" : "-") +
              std::to_string(s.contents.size()) + ":" + s.contents + "\n";
  r.key = sha256_hex(keysrc);
  std::string base = opt_.cache_dir + "/" + r.key;

  if (opt_.use_cache) {
    std::string data;
    if (read_all(base + ".bin", &data)) {
      r.ok = true;
      r.cache_hit = true;
      r.binary = lang == Language::kPython ? sources.front().contents : std::move(data);
      return r;
    }
    if (read_all(base + ".err", &data)) {
      r.cache_hit = true;
      r.error = std::move(data);
      return r;
    }
  }

  sandbox::RunSpec spec;
  std::vector<std::string> compiled;
  for (auto& s : sources) {
    spec.files.push_back({s.name, s.contents, false});
    if (s.compile) compiled.push_back(s.name);
  }
  if (compiled.empty()) {
    r.error = "no source file to compile";
    return r;
  }
  if (lang == Language::kPython) {
    spec.argv = {"python3", "-m", "py_compile", compiled.front()};
  } else {
    std::string cmd = lang == Language::kCpp ? "g++" : "gcc";
    for (auto& f : flags) {
      if (f.rfind("-l", 0) == 0) continue;  // libraries go after the sources
      cmd += " " + shell_quote(f);
    }
    cmd += " -o /tmp/prog";
    for (auto& c : compiled) cmd += " " + shell_quote(c);
    for (auto& f : flags)
      if (f.rfind("-l", 0) == 0) cmd += " " + shell_quote(f);
    cmd += " 1>&2 && cat /tmp/prog";
    spec.argv = {"/bin/sh", "-c", cmd};
  }
  sandbox::RunResult rr = sb_.run(spec, opt_.limits);
  r.cpu_ms = rr.cpu_ms;
  if (rr.status == sandbox::RunStatus::internal) {
    r.internal_error = true;
    r.error = "sandbox failure while compiling: " + rr.reason;
    return r;
  }
  if (rr.status != sandbox::RunStatus::ok) {
    std::string msg = rr.stderr_data;
    if (rr.status != sandbox::RunStatus::runtime_error)
      msg += "\n[compiler " + std::string(sandbox::to_string(rr.status)) + ": " + rr.reason + "]";
    r.error = truncate_msg(msg, opt_.max_error_bytes);
    if (rr.status == sandbox::RunStatus::runtime_error && opt_.use_cache) {
      mkdirs(opt_.cache_dir);
      write_atomic(base + ".err", r.error);
    }
    return r;
  }
  r.ok = true;
  r.binary = lang == Language::kPython ? sources.front().contents : std::move(rr.stdout_data);
  if (lang != Language::kPython && r.binary.size() < 4) {
    r.ok = false;
    r.internal_error = true;
    r.error = "compiler produced no binary";
    return r;
  }
  if (opt_.use_cache) {
    mkdirs(opt_.cache_dir);
    write_atomic(base + ".bin", lang == Language::kPython ? std::string("ok") : r.binary);
  }
  return r;
}

void program_spec(const CompileResult& c, sandbox::RunSpec* spec, const std::vector<std::string>& args) {
  if (c.language == Language::kPython) {
    spec->files.push_back({"main.py", c.binary, false});
    spec->argv = {"python3", "main.py"};
  } else {
    spec->files.push_back({"prog", c.binary, true});
    spec->argv = {"./prog"};
  }
  spec->argv.insert(spec->argv.end(), args.begin(), args.end());
}

}  // namespace crucible::code
