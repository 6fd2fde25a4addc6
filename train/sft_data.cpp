#include "train/sft_data.h"

#include <algorithm>
#include <numeric>
#include <set>
#include <stdexcept>

#include <ATen/ATen.h>

#include "core/jsonl.h"

namespace crucible::train {

using json = nlohmann::json;

SftDataOptions sft_data_options(const SftConfig& cfg) {
  SftDataOptions o;
  o.max_length = cfg.sft.max_length;
  o.packing = cfg.sft.packing;
  o.packing_strategy = cfg.sft.packing_strategy;
  o.assistant_only_loss = cfg.sft.assistant_only_loss.value_or(true);
  o.completion_only_loss = cfg.sft.completion_only_loss.value_or(true);
  o.eos_token = cfg.sft.eos_token.value_or("");
  o.text_field = cfg.data.dataset_text_field;
  o.chat_template_kwargs = cfg.training.chat_template_kwargs;
  return o;
}

namespace {

bool starts_with(const std::string& s, const std::string& p) { return s.size() >= p.size() && s.compare(0, p.size(), p) == 0; }

// Longest L such that a's last L bytes equal t[from, from + L) (prefix function over
// t[from..] + sentinel + a, on ints so the sentinel cannot collide with a byte).
size_t longest_suffix_continued(const std::string& a, const std::string& t, size_t from) {
  size_t m = std::min(a.size(), t.size() - from);
  std::vector<int> s;
  s.reserve(m + 1 + a.size());
  for (size_t i = 0; i < m; ++i) s.push_back(static_cast<unsigned char>(t[from + i]));
  s.push_back(-1);
  for (unsigned char c : a) s.push_back(c);
  std::vector<size_t> pi(s.size(), 0);
  for (size_t i = 1; i < s.size(); ++i) {
    size_t k = pi[i - 1];
    while (k > 0 && s[i] != s[k]) k = pi[k - 1];
    if (s[i] == s[k]) ++k;
    pi[i] = k;
  }
  return pi.back();
}

size_t common_prefix(const std::string& a, const std::string& t, size_t from) {
  size_t n = 0;
  while (n < a.size() && from + n < t.size() && a[n] == t[from + n]) ++n;
  return n;
}

json slice(const json& messages, size_t n) {
  json out = json::array();
  for (size_t i = 0; i < n; ++i) out.push_back(messages[i]);
  return out;
}

Result<int32_t> eos_id(const Tokenizer& tok, const SftDataOptions& opt) {
  if (!opt.eos_token.empty()) {
    auto id = tok.token_to_id(opt.eos_token);
    if (!id) return Status::invalid("eos_token '" + opt.eos_token + "' is not a token of the tokenizer");
    return *id;
  }
  auto id = tok.eos_id();
  if (!id) return Status::invalid("the tokenizer has no EOS token; set eos_token in the recipe");
  return *id;
}

void append(SftExample& ex, const std::vector<int32_t>& ids, bool loss) {
  ex.input_ids.insert(ex.input_ids.end(), ids.begin(), ids.end());
  ex.loss_mask.insert(ex.loss_mask.end(), ids.size(), loss ? 1 : 0);
}

// Tokenizes text[0, n) segment by segment: segments alternate context / loss at `cuts`.
SftExample tokenize_segments(const Tokenizer& tok, const std::string& text,
                             const std::vector<std::pair<size_t, size_t>>& loss_spans) {
  SftExample ex;
  size_t pos = 0;
  for (const auto& [b, e] : loss_spans) {
    if (b > pos) append(ex, tok.encode(std::string_view(text).substr(pos, b - pos), false), false);
    if (e > b) append(ex, tok.encode(std::string_view(text).substr(b, e - b), false), true);
    pos = e;
  }
  if (pos < text.size()) append(ex, tok.encode(std::string_view(text).substr(pos), false), false);
  return ex;
}

Status check_messages(const json& messages, const char* field) {
  if (!messages.is_array() || messages.empty()) return Status::invalid(std::string("'") + field + "' must be a non-empty list of messages");
  for (size_t i = 0; i < messages.size(); ++i) {
    const json& m = messages[i];
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string())
      return Status::invalid(std::string("'") + field + "'[" + std::to_string(i) + "] must be an object with a string 'role'");
    if (m.contains("content") && !m["content"].is_string() && !m["content"].is_null())
      return Status::invalid(std::string("'") + field + "'[" + std::to_string(i) + "].content must be a string");
  }
  return Status::ok();
}

Result<SftExample> tokenize_conversation(const json& messages, const Tokenizer& tok, const ChatTemplate* tpl,
                                         const SftDataOptions& opt) {
  Status s = check_messages(messages, "messages");
  if (!s.is_ok()) return s;
  if (!tpl) return Status::invalid("'messages' rows need a chat template");
  if (!opt.assistant_only_loss) {
    auto text = tpl->render(messages, false, opt.chat_template_kwargs);
    if (!text.is_ok()) return text.status();
    return tokenize_segments(tok, *text, {{0, text->size()}});
  }
  auto rc = render_with_assistant_spans(*tpl, messages, opt.chat_template_kwargs);
  if (!rc.is_ok()) return rc.status();
  return tokenize_segments(tok, rc->text, rc->assistant_spans);
}

Result<SftExample> tokenize_prompt_completion(const json& prompt, const json& completion, const Tokenizer& tok,
                                              const ChatTemplate* tpl, const SftDataOptions& opt) {
  if (prompt.is_string() && completion.is_string()) {
    auto eos = eos_id(tok, opt);
    if (!eos.is_ok()) return eos.status();
    SftExample ex;
    append(ex, tok.encode(prompt.get<std::string>(), true), !opt.completion_only_loss);
    append(ex, tok.encode(completion.get<std::string>(), false), true);
    if (ex.input_ids.empty() || ex.input_ids.back() != *eos) append(ex, {*eos}, true);
    return ex;
  }
  if (prompt.is_array() && completion.is_array()) {
    Status s = check_messages(prompt, "prompt");
    if (!s.is_ok()) return s;
    s = check_messages(completion, "completion");
    if (!s.is_ok()) return s;
    if (!tpl) return Status::invalid("conversational prompt/completion rows need a chat template");
    auto p = tpl->render(prompt, true, opt.chat_template_kwargs);
    if (!p.is_ok()) return p.status();
    json all = prompt;
    for (const auto& m : completion) all.push_back(m);
    auto f = tpl->render(all, false, opt.chat_template_kwargs);
    if (!f.is_ok()) return f.status();
    if (!starts_with(*f, *p))
      return Status::invalid("the chat template renders prompt + completion without the prompt as a prefix");
    if (!opt.completion_only_loss) return tokenize_segments(tok, *f, {{0, f->size()}});
    return tokenize_segments(tok, *f, {{p->size(), f->size()}});
  }
  return Status::invalid("'prompt' and 'completion' must both be strings or both be lists of messages");
}

}  // namespace

Result<RenderedConversation> render_with_assistant_spans(const ChatTemplate& tpl, const json& messages,
                                                         const json& extra) {
  Status ok = check_messages(messages, "messages");
  if (!ok.is_ok()) return ok;
  auto full = tpl.render(messages, false, extra);
  if (!full.is_ok()) return full.status();
  RenderedConversation rc;
  rc.text = *full;
  const std::string& T = rc.text;
  size_t last_end = 0;
  for (size_t i = 0; i < messages.size(); ++i) {
    if (messages[i].value("role", std::string()) != "assistant") continue;
    auto prefix = tpl.render(slice(messages, i), true, extra);
    if (!prefix.is_ok())
      return Status::invalid("messages[" + std::to_string(i) + "]: rendering the conversation before it failed: " +
                             prefix.status().message());
    auto upto = tpl.render(slice(messages, i + 1), false, extra);
    if (!upto.is_ok()) return upto.status();
    const std::string& P = *prefix;
    if (!starts_with(T, P) || !starts_with(*upto, P))
      return Status::invalid("messages[" + std::to_string(i) +
                             "]: the chat template does not render the conversation before this assistant turn "
                             "(with the generation prompt) as a prefix of the whole conversation");
    std::string A = upto->substr(P.size());
    size_t begin = P.size();
    size_t len = std::max(common_prefix(A, T, begin), longest_suffix_continued(A, T, begin));
    if (len == 0 && !A.empty())
      return Status::invalid("messages[" + std::to_string(i) + "]: cannot locate this assistant turn in the rendered conversation");
    if (begin < last_end)
      return Status::invalid("messages[" + std::to_string(i) + "]: assistant turns overlap in the rendered conversation");
    rc.assistant_spans.push_back({begin, begin + len});
    last_end = begin + len;
  }
  return rc;
}

Result<SftExample> tokenize_sft_row(const json& row, const Tokenizer& tok, const ChatTemplate* tpl,
                                    const SftDataOptions& opt) {
  if (!row.is_object()) return Status::invalid("row is not a JSON object");
  if (row.contains("messages")) return tokenize_conversation(row["messages"], tok, tpl, opt);
  bool has_p = row.contains("prompt"), has_c = row.contains("completion");
  if (has_p || has_c) {
    if (!has_p) return Status::invalid("row has 'completion' but no 'prompt'");
    if (!has_c) return Status::invalid("row has 'prompt' but no 'completion'");
    return tokenize_prompt_completion(row["prompt"], row["completion"], tok, tpl, opt);
  }
  if (row.contains(opt.text_field)) {
    if (!row[opt.text_field].is_string()) return Status::invalid("'" + opt.text_field + "' must be a string");
    auto eos = eos_id(tok, opt);
    if (!eos.is_ok()) return eos.status();
    SftExample ex;
    append(ex, tok.encode(row[opt.text_field].get<std::string>(), true), true);
    if (ex.input_ids.empty() || ex.input_ids.back() != *eos) append(ex, {*eos}, true);
    return ex;
  }
  return Status::invalid("row has none of 'messages', 'prompt' + 'completion', '" + opt.text_field + "'");
}

Result<std::vector<SftExample>> load_sft_jsonl(const std::string& path, const Tokenizer& tok, const ChatTemplate* tpl,
                                               const SftDataOptions& opt) {
  auto records = read_jsonl(path);
  if (!records.is_ok()) return records.status();
  std::vector<SftExample> out;
  out.reserve(records->size());
  for (const auto& r : *records) {
    auto ex = tokenize_sft_row(r.value, tok, tpl, opt);
    if (!ex.is_ok()) return Status::invalid(path + ":" + std::to_string(r.line) + ": " + ex.status().message());
    ex->line = r.line;
    out.push_back(std::move(ex).value());
  }
  return out;
}

std::vector<std::vector<size_t>> best_fit_decreasing(const std::vector<int64_t>& lengths, int64_t capacity) {
  std::vector<size_t> order(lengths.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return lengths[a] > lengths[b]; });
  std::vector<std::vector<size_t>> bins;
  std::set<std::pair<int64_t, size_t>> room;  // (remaining capacity, bin)
  for (size_t i : order) {
    int64_t len = lengths[i];
    if (len < 0 || len > capacity) throw std::invalid_argument("best_fit_decreasing: item longer than the capacity");
    auto it = room.lower_bound({len, 0});
    if (it == room.end()) {
      bins.push_back({i});
      room.insert({capacity - len, bins.size() - 1});
    } else {
      auto [left, bin] = *it;
      room.erase(it);
      bins[bin].push_back(i);
      room.insert({left - len, bin});
    }
  }
  return bins;
}

std::vector<PackedRow> build_sft_rows(const std::vector<SftExample>& examples, const SftDataOptions& opt) {
  // Documents: (example, begin, end) token ranges after truncation / splitting.
  struct Doc {
    size_t ex, begin, end;
  };
  std::vector<Doc> docs;
  const size_t L = opt.max_length ? static_cast<size_t>(std::max<int64_t>(1, *opt.max_length)) : SIZE_MAX;
  for (size_t e = 0; e < examples.size(); ++e) {
    size_t n = examples[e].input_ids.size();
    if (n == 0) continue;
    if (opt.packing && opt.packing_strategy == PackingStrategy::kBfdSplit) {
      for (size_t b = 0; b < n; b += L) docs.push_back({e, b, std::min(n, b + L)});
    } else {
      docs.push_back({e, 0, std::min(n, L)});
    }
  }
  std::vector<std::vector<size_t>> rows_of_docs;
  if (opt.packing) {
    std::vector<int64_t> lens;
    for (const auto& d : docs) lens.push_back(static_cast<int64_t>(d.end - d.begin));
    rows_of_docs = best_fit_decreasing(lens, static_cast<int64_t>(L));
  } else {
    for (size_t d = 0; d < docs.size(); ++d) rows_of_docs.push_back({d});
  }
  std::vector<PackedRow> rows;
  rows.reserve(rows_of_docs.size());
  for (const auto& bin : rows_of_docs) {
    PackedRow r;
    int32_t doc_id = 0;
    for (size_t d : bin) {
      const Doc& doc = docs[d];
      const SftExample& ex = examples[doc.ex];
      for (size_t t = doc.begin; t < doc.end; ++t) {
        r.input_ids.push_back(ex.input_ids[t]);
        bool first = t == doc.begin;
        r.labels.push_back(!first && ex.loss_mask[t] ? ex.input_ids[t] : -100);
        r.position_ids.push_back(static_cast<int32_t>(t - doc.begin));
        r.document_ids.push_back(doc_id);
      }
      ++doc_id;
    }
    rows.push_back(std::move(r));
  }
  return rows;
}

SftBatch collate_sft_rows(const std::vector<PackedRow>& rows, int64_t pad_id, int64_t pad_to_multiple_of) {
  int64_t T = 0;
  for (const auto& r : rows) T = std::max<int64_t>(T, static_cast<int64_t>(r.input_ids.size()));
  if (pad_to_multiple_of > 1 && T % pad_to_multiple_of) T += pad_to_multiple_of - T % pad_to_multiple_of;
  const int64_t B = static_cast<int64_t>(rows.size());
  auto opts = at::TensorOptions().dtype(at::kLong);
  SftBatch b;
  b.input_ids = at::full({B, T}, pad_id, opts);
  b.labels = at::full({B, T}, -100, opts);
  b.position_ids = at::zeros({B, T}, opts);
  b.document_ids = at::full({B, T}, -1, opts);
  auto ids = b.input_ids.accessor<int64_t, 2>();
  auto lab = b.labels.accessor<int64_t, 2>();
  auto pos = b.position_ids.accessor<int64_t, 2>();
  auto doc = b.document_ids.accessor<int64_t, 2>();
  for (int64_t i = 0; i < B; ++i) {
    const PackedRow& r = rows[static_cast<size_t>(i)];
    for (size_t t = 0; t < r.input_ids.size(); ++t) {
      ids[i][static_cast<int64_t>(t)] = r.input_ids[t];
      lab[i][static_cast<int64_t>(t)] = r.labels[t];
      pos[i][static_cast<int64_t>(t)] = r.position_ids[t];
      doc[i][static_cast<int64_t>(t)] = r.document_ids[t];
    }
  }
  return b;
}

}  // namespace crucible::train
