// Compiling submissions, graders and checkers INSIDE the sandbox, with a content-addressed cache.
//
// C/C++: `g++`/`gcc` with the configured flags (+ extra flags such as -DEVAL for IOI graders);
// the binary is written to the box's /tmp and streamed back on stdout (no writable bind needed).
// Python 3: syntax check with `python3 -m py_compile`; the "binary" is the source itself and runs
// as `python3 main.py`.
// Cache: key = sha256(language, flags, compiler version (`g++ --version` / `python3 --version`),
// every source name + contents). Entries live under cache_dir as <key>.bin (success) or <key>.err
// (compile error, the truncated stderr), written to a unique temp file then renamed, so concurrent
// compiles of the same sources are safe (the last rename wins, all contents are identical).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"
#include "sandbox/sandbox.h"
#include "tasks/code/code_extraction.h"

namespace crucible::code {

struct SourceFile {
  std::string name;      // file name inside the box (e.g. "grader.cpp", "aplusb.h")
  std::string contents;
  bool compile = true;   // passed to the compiler (false: a header, only present in the box)
};

struct CompileOptions {
  std::string cache_dir;  // "" = $XDG_CACHE_HOME/crucible/compile, else /tmp/crucible-compile-cache
  bool use_cache = true;
  std::vector<std::string> cpp_flags = {"-std=gnu++17", "-O2", "-pipe"};
  std::vector<std::string> c_flags = {"-std=gnu11", "-O2", "-pipe"};
  std::vector<std::string> link_flags = {"-lm"};
  size_t max_error_bytes = 4000;  // compiler stderr kept in a compile_error verdict
  sandbox::Limits limits = default_limits();

  static sandbox::Limits default_limits() {
    sandbox::Limits l;
    l.cpu_ms = 20000;             // testlib.h checkers take ~10 s of cc1plus on a slow core
    l.wall_ms = 60000;
    l.memory_bytes = 1ll << 30;
    l.processes = 64;             // g++ -> cc1plus, as, collect2, ld
    l.file_bytes = 256ll << 20;
    l.output_bytes = 128ll << 20; // the binary comes back on stdout
    l.open_files = 256;
    return l;
  }
};

struct CompileResult {
  bool ok = false;
  Language language = Language::kCpp;
  std::string binary;     // executable bytes (C/C++) or the Python source
  std::string error;      // compiler diagnostics (truncated) when !ok; sandbox reason if internal
  bool internal_error = false;  // the sandbox failed (not the submission's fault)
  bool cache_hit = false;
  std::string key;        // sha256 hex
  int64_t cpu_ms = 0;
};

std::string sha256_hex(const std::string& data);
std::string default_cache_dir();
// First line of `g++ --version` / `gcc --version` / `python3 --version` (cached per process).
std::string compiler_version(Language l);

class Compiler {
 public:
  Compiler(const sandbox::Sandbox& sandbox, CompileOptions options = {});
  // Never throws; compile errors and sandbox failures are in the result.
  CompileResult compile(Language lang, const std::vector<SourceFile>& sources,
                        const std::vector<std::string>& extra_flags = {}) const;
  const CompileOptions& options() const { return opt_; }

 private:
  const sandbox::Sandbox& sb_;
  CompileOptions opt_;
};

// How to run a compiled program in the sandbox: argv and the files to put in /box.
void program_spec(const CompileResult& c, sandbox::RunSpec* spec, const std::vector<std::string>& args = {});

}  // namespace crucible::code
