#include "backends/chat_template/chat_template.h"

#include <sys/stat.h>

#include "backends/chat_template/jinja.h"
#include "core/jsonl.h"

namespace crucible {

using ojson = nlohmann::ordered_json;

struct ChatTemplate::Impl {
  std::shared_ptr<const jinja::Program> program;
  std::string source;
  std::optional<std::string> bos, eos, pad, unk;
  jinja::RenderLimits limits;
  std::optional<std::time_t> now;
};

namespace {

bool is_dir(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}

// A special token in tokenizer_config.json: a string, an AddedToken object {"content": ...}, or null.
std::optional<std::string> token_string(const ojson& cfg, const char* key) {
  auto it = cfg.find(key);
  if (it == cfg.end() || it->is_null()) return std::nullopt;
  if (it->is_string()) return it->get<std::string>();
  if (it->is_object()) {
    auto c = it->find("content");
    if (c != it->end() && c->is_string()) return c->get<std::string>();
  }
  return std::nullopt;
}

}  // namespace

Result<ChatTemplate> ChatTemplate::from_string(const std::string& source, const std::string& bos_token,
                                               const std::string& eos_token, const std::string& name) {
  auto prog = jinja::parse(source, name);
  if (!prog) return prog.status();
  ChatTemplate t;
  t.impl_ = std::make_shared<Impl>();
  t.impl_->program = std::move(prog).value();
  t.impl_->source = source;
  if (!bos_token.empty()) t.impl_->bos = bos_token;
  if (!eos_token.empty()) t.impl_->eos = eos_token;
  return t;
}

Result<ChatTemplate> ChatTemplate::from_tokenizer_config(const std::string& path_or_dir) {
  std::string path = is_dir(path_or_dir) ? path_or_dir + "/tokenizer_config.json" : path_or_dir;
  auto text = read_file(path);
  if (!text) return text.status();
  ojson cfg;
  try {
    cfg = ojson::parse(*text);
  } catch (const ojson::exception& e) {
    return Status::parse(path + ": not valid JSON: " + e.what());
  }
  if (!cfg.is_object()) return Status::parse(path + ": expected a JSON object");
  auto it = cfg.find("chat_template");
  if (it == cfg.end() || it->is_null())
    return Status::not_found(path + ": no \"chat_template\" (the model ships no chat template)");
  std::string source;
  if (it->is_string()) {
    source = it->get<std::string>();
  } else if (it->is_array()) {
    bool found = false;
    for (auto& e : *it) {
      if (e.is_object() && e.value("name", "") == "default" && e.contains("template") && e["template"].is_string()) {
        source = e["template"].get<std::string>();
        found = true;
        break;
      }
    }
    if (!found) return Status::not_found(path + ": chat_template is a list without a template named \"default\"");
  } else {
    return Status::parse(path + ": chat_template must be a string or a list of {name, template}");
  }
  auto prog = jinja::parse(source, path + " chat_template");
  if (!prog) return prog.status();
  ChatTemplate t;
  t.impl_ = std::make_shared<Impl>();
  t.impl_->program = std::move(prog).value();
  t.impl_->source = std::move(source);
  t.impl_->bos = token_string(cfg, "bos_token");
  t.impl_->eos = token_string(cfg, "eos_token");
  t.impl_->pad = token_string(cfg, "pad_token");
  t.impl_->unk = token_string(cfg, "unk_token");
  return t;
}

Result<std::string> ChatTemplate::render_ordered(const ojson& messages, bool add_generation_prompt,
                                                 const ojson& extra) const {
  if (!impl_) return Status::invalid("chat template: not loaded");
  if (!messages.is_array()) return Status::invalid("chat template: messages must be a JSON array");
  if (!extra.is_null() && !extra.is_object()) return Status::invalid("chat template: extra variables must be an object");
  ojson vars = ojson::object();
  vars["messages"] = messages;
  vars["add_generation_prompt"] = add_generation_prompt;
  vars["tools"] = nullptr;
  if (impl_->bos) vars["bos_token"] = *impl_->bos;
  if (impl_->eos) vars["eos_token"] = *impl_->eos;
  if (impl_->pad) vars["pad_token"] = *impl_->pad;
  if (impl_->unk) vars["unk_token"] = *impl_->unk;
  if (extra.is_object())
    for (auto it = extra.begin(); it != extra.end(); ++it) vars[it.key()] = it.value();
  return jinja::render(*impl_->program, vars, impl_->limits, impl_->now);
}

Result<std::string> ChatTemplate::render(const nlohmann::json& messages, bool add_generation_prompt,
                                         const nlohmann::json& extra) const {
  return render_ordered(ojson::parse(messages.dump()), add_generation_prompt,
                        extra.is_null() ? ojson() : ojson::parse(extra.dump()));
}

void ChatTemplate::set_limits(const ChatTemplateLimits& limits) {
  impl_ = std::make_shared<Impl>(*impl_);  // copies of a ChatTemplate stay independent
  impl_->limits.max_output_bytes = limits.max_output_bytes;
  impl_->limits.max_loop_iterations = limits.max_loop_iterations;
  impl_->limits.max_call_depth = limits.max_call_depth;
}
void ChatTemplate::set_now(std::optional<std::time_t> now) {
  impl_ = std::make_shared<Impl>(*impl_);
  impl_->now = now;
}
const std::string& ChatTemplate::source() const { return impl_->source; }
const std::optional<std::string>& ChatTemplate::bos_token() const { return impl_->bos; }
const std::optional<std::string>& ChatTemplate::eos_token() const { return impl_->eos; }

}  // namespace crucible
