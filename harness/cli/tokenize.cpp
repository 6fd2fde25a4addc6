// `crucible tokenize`: encode JSONL text to token ids (or decode ids back) with a Hugging Face
// tokenizer.json, without Python.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>

#include <nlohmann/json.hpp>

#include "backends/tokenizer/tokenizer.h"
#include "harness/cli/commands.h"

namespace {

struct TokenizeArgs {
  std::string tokenizer;
  std::string input;
  bool no_special = false;
  bool decode = false;
};

int run_tokenize(const TokenizeArgs& a) {
  auto tok = crucible::Tokenizer::from_dir(a.tokenizer);
  if (!tok) {
    std::cerr << "crucible tokenize: " << tok.status().message() << "\n";
    return 2;
  }
  std::ifstream file;
  std::string name;
  std::istream* in = crucible::cli::open_input(a.input, file, &name);
  if (!in) {
    std::cerr << "crucible tokenize: " << a.input << ": cannot open\n";
    return 2;
  }
  std::ios::sync_with_stdio(false);
  std::string line, out;
  size_t lineno = 0;
  while (std::getline(*in, line)) {
    ++lineno;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(line);
    } catch (const nlohmann::json::exception& e) {
      std::cerr << "crucible tokenize: " << name << ":" << lineno << ": not valid JSON: " << e.what() << "\n";
      return 2;
    }
    try {
      if (a.decode) {
        const nlohmann::json& ids = j.is_array() ? j : j.is_object() && j.contains("ids") ? j["ids"] : nlohmann::json();
        if (!ids.is_array()) {
          std::cerr << "crucible tokenize: " << name << ":" << lineno << ": expected a JSON array of ids or {\"ids\": [...]}\n";
          return 2;
        }
        std::vector<int32_t> v = ids.get<std::vector<int32_t>>();
        out = nlohmann::json{{"text", tok->decode(v, a.no_special)}}.dump();
      } else {
        if (!j.is_object() || !j.contains("text") || !j["text"].is_string()) {
          std::cerr << "crucible tokenize: " << name << ":" << lineno << ": expected an object with a string \"text\"\n";
          return 2;
        }
        std::vector<int32_t> ids = tok->encode(j["text"].get_ref<const std::string&>(), !a.no_special);
        out.clear();
        out += '[';
        for (size_t i = 0; i < ids.size(); ++i) {
          if (i) out += ',';
          out += std::to_string(ids[i]);
        }
        out += ']';
      }
    } catch (const nlohmann::json::exception& e) {
      std::cerr << "crucible tokenize: " << name << ":" << lineno << ": " << e.what() << "\n";
      return 2;
    }
    out += '\n';
    std::fwrite(out.data(), 1, out.size(), stdout);
  }
  std::fflush(stdout);
  return 0;
}

crucible::cli::Register reg("tokenize", [](CLI::App& root, int& exit_code) {
  auto args = std::make_shared<TokenizeArgs>();
  CLI::App* cmd = root.add_subcommand(
      "tokenize",
      "Encode text to token ids (or decode ids to text) with a Hugging Face tokenizer.json.\n"
      "Input is JSONL: one {\"text\": \"...\"} per line; output is one JSON array of ids per line.\n"
      "With --decode, input lines are {\"ids\": [...]} or bare arrays, output is {\"text\": \"...\"}.\n"
      "Examples:\n"
      "  echo '{\"text\":\"Hello world\"}' | crucible tokenize --tokenizer /models/Qwen3-8B\n"
      "  echo '[9707,1879]' | crucible tokenize --tokenizer /models/Qwen3-8B --decode");
  cmd->add_option("--tokenizer", args->tokenizer,
                  "Model directory holding tokenizer.json (and tokenizer_config.json, used for BOS/EOS and, for "
                  "LlamaTokenizerFast models such as DeepSeek-R1, to add BOS as transformers does), "
                  "or the tokenizer.json file itself")
      ->required();
  cmd->add_option("--input", args->input, "Read JSONL from this file instead of stdin ('-' = stdin)");
  cmd->add_flag("--no-special", args->no_special,
                "Encode: do not add the post-processor's special tokens (e.g. BOS); special tokens written "
                "in the text are still recognised. Decode: drop special tokens from the output");
  cmd->add_flag("--decode", args->decode, "Decode ids to text instead of encoding");
  cmd->callback([args, &exit_code]() { exit_code = run_tokenize(*args); });
});

}  // namespace
