// Chat templates: renders a model's own `chat_template` (from tokenizer_config.json) with a Jinja2
// subset interpreter, as `transformers`' apply_chat_template does (trim_blocks=True,
// lstrip_blocks=True, keep_trailing_newline=False, loopcontrols, tojson/raise_exception/
// strftime_now), with no Python.
//
//   auto tpl = crucible::ChatTemplate::from_tokenizer_config("/models/Qwen3-8B");
//   auto prompt = tpl->render(messages, /*add_generation_prompt=*/true, {{"enable_thinking", false}});
//
// Template variables: messages, add_generation_prompt, tools (None unless given in `extra`),
// bos_token / eos_token / pad_token / unk_token (when the config has them; values may be strings or
// {"content": ...} objects), plus every key of `extra` (e.g. enable_thinking, date_string).
// Rendering is bounded (output size, loop iterations, macro call depth); template errors,
// unsupported constructs and raise_exception() come back as a Status naming the construct and its
// line:column in the template. See docs/chat-templates.md for the supported subset.
#pragma once
#include <cstddef>
#include <ctime>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "core/status.h"

namespace crucible {

struct ChatTemplateLimits {
  size_t max_output_bytes = 16u << 20;     // rendered prompt size
  size_t max_loop_iterations = 1000000;    // summed over all for-loops of one render
  size_t max_call_depth = 64;              // macro recursion
};

class ChatTemplate {
 public:
  struct Impl;

  // Reads tokenizer_config.json (path_or_dir may be the file or the model directory). The
  // chat_template may be a string or a list of {"name", "template"} (the one named "default").
  static Result<ChatTemplate> from_tokenizer_config(const std::string& path_or_dir);
  // Parses a template given as text; `name` is used in error messages.
  static Result<ChatTemplate> from_string(const std::string& source, const std::string& bos_token = "",
                                          const std::string& eos_token = "", const std::string& name = "template");

  // Renders the template. `messages` must be a JSON array; `extra` (object or null) adds or
  // overrides template variables.
  Result<std::string> render(const nlohmann::json& messages, bool add_generation_prompt,
                             const nlohmann::json& extra = {}) const;
  // Same with insertion-ordered objects, so `tojson` keeps the caller's key order (as Python does).
  Result<std::string> render_ordered(const nlohmann::ordered_json& messages, bool add_generation_prompt,
                                     const nlohmann::ordered_json& extra = {}) const;

  void set_limits(const ChatTemplateLimits& limits);
  // Fixes the clock seen by strftime_now() (seconds since the epoch, formatted in local time);
  // unset = the real clock.
  void set_now(std::optional<std::time_t> now);

  const std::string& source() const;
  const std::optional<std::string>& bos_token() const;
  const std::optional<std::string>& eos_token() const;

 private:
  std::shared_ptr<Impl> impl_;
};

}  // namespace crucible
