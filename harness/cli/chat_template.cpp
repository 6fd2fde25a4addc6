// `crucible chat-template`: render a model's chat template (tokenizer_config.json) for JSONL
// conversations, without Python.
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "backends/chat_template/chat_template.h"
#include "harness/cli/commands.h"

namespace {

struct ChatTemplateArgs {
  std::string tokenizer;
  std::string input;
  bool add_generation_prompt = false;
};

int run_chat_template(const ChatTemplateArgs& a) {
  using ojson = nlohmann::ordered_json;
  auto tpl = crucible::ChatTemplate::from_tokenizer_config(a.tokenizer);
  if (!tpl) {
    std::cerr << "crucible chat-template: " << tpl.status().message() << "\n";
    return 2;
  }
  std::ifstream file;
  std::string name;
  std::istream* in = crucible::cli::open_input(a.input, file, &name);
  if (!in) {
    std::cerr << "crucible chat-template: " << a.input << ": cannot open\n";
    return 2;
  }
  std::string line;
  size_t lineno = 0;
  while (std::getline(*in, line)) {
    ++lineno;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    ojson j;
    try {
      j = ojson::parse(line);
    } catch (const ojson::exception& e) {
      std::cerr << "crucible chat-template: " << name << ":" << lineno << ": not valid JSON: " << e.what() << "\n";
      return 2;
    }
    if (!j.is_object() || !j.contains("messages") || !j["messages"].is_array()) {
      std::cerr << "crucible chat-template: " << name << ":" << lineno
                << ": expected an object with an array \"messages\"\n";
      return 2;
    }
    ojson extra = ojson::object();
    for (auto it = j.begin(); it != j.end(); ++it)
      if (it.key() != "messages" && it.key() != "add_generation_prompt") extra[it.key()] = it.value();
    bool agp = a.add_generation_prompt;
    if (j.contains("add_generation_prompt") && j["add_generation_prompt"].is_boolean())
      agp = j["add_generation_prompt"].get<bool>();
    auto out = tpl->render_ordered(j["messages"], agp, extra);
    if (!out) {
      std::cerr << "crucible chat-template: " << name << ":" << lineno << ": " << out.status().message() << "\n";
      return 1;
    }
    std::string s = ojson(*out).dump(-1, ' ', false, ojson::error_handler_t::replace);
    s += '\n';
    std::fwrite(s.data(), 1, s.size(), stdout);
  }
  std::fflush(stdout);
  return 0;
}

crucible::cli::Register reg("chat-template", [](CLI::App& root, int& exit_code) {
  auto args = std::make_shared<ChatTemplateArgs>();
  CLI::App* cmd = root.add_subcommand(
      "chat-template",
      "Render a model's own chat template (the \"chat_template\" of tokenizer_config.json) for conversations,\n"
      "as transformers' apply_chat_template(tokenize=False) does, with no Python.\n"
      "Input is JSONL: one {\"messages\": [{\"role\": ..., \"content\": ...}, ...]} per line; any other keys\n"
      "of the line (tools, enable_thinking, date_string, add_generation_prompt, ...) become template\n"
      "variables. Output is one JSON string (the rendered prompt) per line.\n"
      "Exit status: 0 ok, 1 a template error (e.g. raise_exception), 2 bad arguments or input.\n"
      "Example:\n"
      "  echo '{\"messages\":[{\"role\":\"user\",\"content\":\"Hi\"}]}' |\n"
      "    crucible chat-template --tokenizer /models/Qwen3-8B --add-generation-prompt");
  cmd->add_option("--tokenizer", args->tokenizer,
                  "Model directory holding tokenizer_config.json, or that file itself")
      ->required();
  cmd->add_option("--input", args->input, "Read JSONL from this file instead of stdin ('-' = stdin)");
  cmd->add_flag("--add-generation-prompt", args->add_generation_prompt,
                "Append the assistant turn header (add_generation_prompt=True); a line's own "
                "\"add_generation_prompt\" overrides it");
  cmd->callback([args, &exit_code]() { exit_code = run_chat_template(*args); });
});

}  // namespace
