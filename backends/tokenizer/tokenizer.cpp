#include "backends/tokenizer/tokenizer.h"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <mutex>
#include <sstream>
#include <sys/stat.h>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "backends/tokenizer/regex.h"
#include "backends/tokenizer/unicode.h"

namespace crucible {

using json = nlohmann::json;
using tokenizer::Regex;

namespace {

// GPT-2's byte <-> printable-character table used by ByteLevel.
struct ByteMap {
  std::array<uint32_t, 256> to_cp{};
  std::unordered_map<uint32_t, uint8_t> from_cp;
  ByteMap() {
    uint32_t n = 0;
    for (int b = 0; b < 256; ++b) {
      bool keep = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      to_cp[b] = keep ? uint32_t(b) : 256 + n++;
      from_cp[to_cp[b]] = uint8_t(b);
    }
  }
};
const ByteMap& byte_map() {
  static const ByteMap m;
  return m;
}

// Decodes a byte-level token string ("Ġworld") to its bytes (" world"); false if some character
// is not in the byte map.
bool byte_level_decode(std::string_view tok, std::string& out) {
  const ByteMap& m = byte_map();
  out.clear();
  size_t i = 0;
  while (i < tok.size()) {
    uint32_t cp = tokenizer::utf8_next(tok, i);
    auto it = m.from_cp.find(cp);
    if (it == m.from_cp.end()) return false;
    out.push_back(char(it->second));
  }
  return true;
}

bool is_white_space(uint32_t cp) {  // Unicode White_Space (Rust's char::is_whitespace)
  return (cp >= 9 && cp <= 13) || cp == 0x20 || cp == 0x85 || cp == 0xA0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200A) || cp == 0x2028 || cp == 0x2029 || cp == 0x202F ||
         cp == 0x205F || cp == 0x3000;
}

bool is_word_byte(unsigned char c) { return std::isalnum(c) || c == '_' || c >= 0x80; }

// Flat open-addressing map (left id, right id) -> (rank, merged id).
class MergeMap {
 public:
  void reserve(size_t n) {
    size_t cap = 16;
    while (cap < n * 2) cap <<= 1;
    slots_.assign(cap, Slot{kEmpty, 0, 0});
    mask_ = cap - 1;
  }
  void put(int32_t a, int32_t b, int32_t rank, int32_t out) {
    uint64_t k = key(a, b);
    size_t h = hash(k);
    while (slots_[h].key != kEmpty && slots_[h].key != k) h = (h + 1) & mask_;
    slots_[h] = Slot{k, rank, out};  // a later duplicate overrides, as in `tokenizers`
  }
  bool get(int32_t a, int32_t b, int32_t& rank, int32_t& out) const {
    uint64_t k = key(a, b);
    size_t h = hash(k);
    while (true) {
      const Slot& s = slots_[h];
      if (s.key == k) { rank = s.rank; out = s.out; return true; }
      if (s.key == kEmpty) return false;
      h = (h + 1) & mask_;
    }
  }

 private:
  static constexpr uint64_t kEmpty = ~uint64_t(0);
  struct Slot { uint64_t key; int32_t rank; int32_t out; };
  static uint64_t key(int32_t a, int32_t b) { return (uint64_t(uint32_t(a)) << 32) | uint32_t(b); }
  size_t hash(uint64_t k) const { return size_t((k * 0x9E3779B97F4A7C15ull) >> 29) & mask_; }
  std::vector<Slot> slots_;
  size_t mask_ = 0;
};

// Bounded per-word cache, sharded so that concurrent encoders rarely contend.
class WordCache {
 public:
  static constexpr size_t kMaxKey = 256;
  bool get(std::string_view key, size_t h, std::vector<int32_t>& out) const {
    Shard& s = shards_[h % kShards];
    std::lock_guard<std::mutex> lock(s.mu);
    auto it = s.map.find(h);
    if (it == s.map.end() || it->second.key != key) return false;
    out.insert(out.end(), it->second.ids.begin(), it->second.ids.end());
    return true;
  }
  void put(std::string_view key, size_t h, const int32_t* ids, size_t n) const {
    Shard& s = shards_[h % kShards];
    std::lock_guard<std::mutex> lock(s.mu);
    if (s.map.size() >= kPerShard) s.map.clear();
    Entry& e = s.map[h];
    e.key.assign(key.data(), key.size());
    e.ids.assign(ids, ids + n);
  }

 private:
  static constexpr size_t kShards = 64, kPerShard = 2048;
  struct Entry { std::string key; std::vector<int32_t> ids; };
  struct Shard { std::mutex mu; std::unordered_map<size_t, Entry> map; };
  mutable std::array<Shard, kShards> shards_;
};

// Byte trie for added tokens (leftmost-longest matching).
class Trie {
 public:
  void add(std::string_view s, int32_t value) {
    if (s.empty()) return;
    int32_t node = 0;
    for (unsigned char c : s) {
      uint64_t k = (uint64_t(node) << 8) | c;
      auto it = edges_.find(k);
      if (it == edges_.end()) {
        value_.push_back(-1);
        it = edges_.emplace(k, int32_t(value_.size() - 1)).first;
      }
      node = it->second;
    }
    value_[node] = value;
    first_[static_cast<unsigned char>(s[0])] = true;
  }
  bool empty() const { return edges_.empty(); }
  bool may_start(unsigned char c) const { return first_[c]; }
  // Longest token starting at pos: its value, and its length in len; -1 when none.
  int32_t longest(std::string_view s, size_t pos, size_t& len) const {
    int32_t node = 0, best = -1;
    for (size_t i = pos; i < s.size(); ++i) {
      auto it = edges_.find((uint64_t(node) << 8) | static_cast<unsigned char>(s[i]));
      if (it == edges_.end()) break;
      node = it->second;
      if (value_[node] >= 0) { best = value_[node]; len = i + 1 - pos; }
    }
    return best;
  }

 private:
  std::unordered_map<uint64_t, int32_t> edges_;
  std::vector<int32_t> value_{-1};
  std::array<bool, 256> first_{};
};

struct AddedToken {
  int32_t id = 0;
  std::string content;
  bool single_word = false, lstrip = false, rstrip = false, normalized = false, special = false;
};

enum class Behavior { kRemoved, kIsolated, kMergedWithPrevious, kMergedWithNext, kContiguous };

struct PreTok {
  enum Kind { kSplit, kByteLevel, kDigits } kind = kSplit;
  std::optional<Regex> re;
  Behavior behavior = Behavior::kIsolated;
  bool invert = false;
  bool add_prefix_space = false;
  bool use_regex = true;
  bool individual_digits = false;
};

struct PostStep {
  std::vector<int32_t> prefix, suffix;
};

struct Span { size_t b, e; bool match; };

// Applies a Split behavior to the match list of `s` and calls emit for each resulting piece.
template <typename Emit>
void split_with(const Regex& re, Behavior behavior, bool invert, std::string_view s, Emit&& emit) {
  size_t pos = 0, mb, me;
  if (behavior == Behavior::kIsolated) {  // fast path, no list
    while (re.find(s, pos, mb, me)) {
      if (mb > pos) emit(s.substr(pos, mb - pos));
      emit(s.substr(mb, me - mb));
      pos = me;
    }
    if (pos < s.size()) emit(s.substr(pos));
    return;
  }
  std::vector<Span> spans;
  while (re.find(s, pos, mb, me)) {
    if (mb > pos) spans.push_back({pos, mb, invert});
    spans.push_back({mb, me, !invert});
    pos = me;
  }
  if (pos < s.size()) spans.push_back({pos, s.size(), invert});
  std::vector<Span> out;
  bool prev_match = false;
  switch (behavior) {
    case Behavior::kRemoved:
      for (auto& sp : spans) if (!sp.match) out.push_back(sp);
      break;
    case Behavior::kIsolated:
      out = spans;
      break;
    case Behavior::kMergedWithPrevious:
      for (auto& sp : spans) {
        if (sp.match && !prev_match && !out.empty()) out.back().e = sp.e;
        else out.push_back(sp);
        prev_match = sp.match;
      }
      break;
    case Behavior::kMergedWithNext:
      for (size_t k = spans.size(); k-- > 0;) {
        const Span& sp = spans[k];
        if (sp.match && !prev_match && !out.empty()) out.back().b = sp.b;
        else out.push_back(sp);
        prev_match = sp.match;
      }
      std::reverse(out.begin(), out.end());
      break;
    case Behavior::kContiguous:
      for (auto& sp : spans) {
        if (sp.match == prev_match && !out.empty()) out.back().e = sp.e;
        else out.push_back(sp);
        prev_match = sp.match;
      }
      break;
  }
  for (auto& sp : out)
    if (sp.e > sp.b) emit(s.substr(sp.b, sp.e - sp.b));
}

Result<json> load_json(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Status::not_found(path + ": cannot open (" + std::strerror(errno) + ")");
  std::stringstream ss;
  ss << in.rdbuf();
  try {
    return json::parse(ss.str());
  } catch (const json::exception& e) {
    return Status::parse(path + ": not valid JSON: " + e.what());
  }
}

std::string type_of(const json& j) {
  if (j.is_object() && j.contains("type") && j["type"].is_string()) return j["type"].get<std::string>();
  return "";
}

bool get_bool(const json& j, const char* key, bool dflt) {
  if (!j.is_object() || !j.contains(key) || j[key].is_null()) return dflt;
  return j[key].is_boolean() ? j[key].get<bool>() : dflt;
}

const Regex& gpt2_regex() {
  static const Regex re = *Regex::compile(
      "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+");
  return re;
}

}  // namespace

struct Tokenizer::Impl {
  std::string path;
  // Vocabulary (model + added tokens). Maps view into the strings of id_tok / id_bytes, which are
  // not resized after the maps are built.
  std::vector<std::string> id_tok;    // token string per id ("" when the id is unused)
  std::vector<std::string> id_bytes;  // what decode emits per id
  std::vector<std::string> id_raw;    // byte-level models: the bytes a model token stands for
  std::vector<uint8_t> id_used, id_special, id_added;
  std::unordered_map<std::string_view, int32_t> vocab;      // token string -> id
  std::unordered_map<std::string_view, int32_t> raw_vocab;  // byte-level: raw bytes -> id
  size_t n_ids = 0;

  std::vector<AddedToken> added;
  Trie raw_trie, norm_trie;  // value = index into `added`

  enum class Norm { kNFC, kNFD };
  std::vector<Norm> normalizers;
  std::vector<PreTok> pretoks;
  bool byte_level = false;  // the last pre-tokenizer is ByteLevel: BPE runs on raw bytes

  MergeMap merges;
  std::array<int32_t, 256> byte_id{};     // byte-level: id of each byte's character
  std::array<int32_t, 256> fallback_id{};  // byte_fallback: id of "<0xXX>"
  bool ignore_merges = false, byte_fallback = false, fuse_unk = false;
  int32_t model_unk = -1;

  std::vector<PostStep> post;
  enum class Decoder { kNone, kByteLevel } decoder = Decoder::kNone;
  std::optional<int32_t> bos, eos, pad, unk;

  WordCache cache;

  // ---- encoding ----
  void encode_text(std::string_view text, std::vector<int32_t>& ids) const {
    split_added(text, raw_trie, ids, [&](std::string_view seg) { encode_segment(seg, ids); });
  }

  // Splits `text` on the added tokens of `trie`, pushing their ids and calling on_text for the rest.
  template <typename F>
  void split_added(std::string_view text, const Trie& trie, std::vector<int32_t>& ids, F&& on_text) const {
    if (trie.empty()) { if (!text.empty()) on_text(text); return; }
    size_t start = 0, i = 0;
    while (i < text.size()) {
      size_t len = 0;
      int32_t t = trie.may_start(static_cast<unsigned char>(text[i])) ? trie.longest(text, i, len) : -1;
      if (t < 0) { ++i; continue; }
      const AddedToken& tok = added[t];
      size_t b = i, e = i + len;
      if (tok.single_word) {
        bool left_ok = b == 0 || !is_word_byte(static_cast<unsigned char>(text[b - 1]));
        bool right_ok = e == text.size() || !is_word_byte(static_cast<unsigned char>(text[e]));
        if (!left_ok || !right_ok) { ++i; continue; }
      }
      if (tok.lstrip) {
        size_t nb = b;
        while (nb > start) {
          size_t p = nb - 1;
          while (p > start && (static_cast<unsigned char>(text[p]) & 0xC0) == 0x80) --p;
          size_t q = p;
          if (!is_white_space(tokenizer::utf8_next(text, q))) break;
          nb = p;
        }
        b = nb;
      }
      if (tok.rstrip) {
        while (e < text.size()) {
          size_t q = e;
          if (!is_white_space(tokenizer::utf8_next(text, q))) break;
          e = q;
        }
      }
      if (b > start) on_text(text.substr(start, b - start));
      ids.push_back(tok.id);
      start = i = e;
    }
    if (start < text.size()) on_text(text.substr(start));
  }

  void encode_segment(std::string_view seg, std::vector<int32_t>& ids) const {
    std::string normalized;
    for (Norm n : normalizers) {
      std::string out;
      bool changed = n == Norm::kNFC ? tokenizer::nfc(seg, out) : tokenizer::nfd(seg, out);
      if (changed) { normalized = std::move(out); seg = normalized; }
    }
    split_added(seg, norm_trie, ids, [&](std::string_view s) { pretokenize(0, s, ids); });
  }

  void pretokenize(size_t stage, std::string_view s, std::vector<int32_t>& ids) const {
    if (s.empty()) return;
    if (stage == pretoks.size()) { bpe(s, ids); return; }
    const PreTok& p = pretoks[stage];
    auto next = [&](std::string_view sub) { pretokenize(stage + 1, sub, ids); };
    switch (p.kind) {
      case PreTok::kSplit:
        split_with(*p.re, p.behavior, p.invert, s, next);
        break;
      case PreTok::kDigits: {
        size_t i = 0;
        while (i < s.size()) {
          bool d = s[i] >= '0' && s[i] <= '9';
          size_t j = i + 1;
          if (!(d && p.individual_digits))
            while (j < s.size() && (s[j] >= '0' && s[j] <= '9') == d) ++j;
          next(s.substr(i, j - i));
          i = j;
        }
        break;
      }
      case PreTok::kByteLevel: {
        std::string prefixed;
        if (p.add_prefix_space && s[0] != ' ') {
          prefixed.reserve(s.size() + 1);
          prefixed += ' ';
          prefixed.append(s.data(), s.size());
          s = prefixed;
        }
        if (p.use_regex) split_with(gpt2_regex(), Behavior::kIsolated, false, s, next);
        else next(s);
        break;
      }
    }
  }

  // Initial symbols of a word (one per byte for byte-level models, one per character otherwise).
  void initial_symbols(std::string_view w, std::vector<int32_t>& syms) const {
    size_t i = 0;
    bool last_unk = false;
    while (i < w.size()) {
      size_t b = i;
      int32_t id = -1;
      if (byte_level) {
        id = byte_id[static_cast<unsigned char>(w[i])];
        ++i;
      } else {
        tokenizer::utf8_next(w, i);
        auto it = vocab.find(w.substr(b, i - b));
        if (it != vocab.end()) id = it->second;
      }
      if (id >= 0) { syms.push_back(id); last_unk = false; continue; }
      if (byte_fallback) {
        bool all = true;
        for (size_t k = b; k < i; ++k) all = all && fallback_id[static_cast<unsigned char>(w[k])] >= 0;
        if (all) {
          for (size_t k = b; k < i; ++k) syms.push_back(fallback_id[static_cast<unsigned char>(w[k])]);
          last_unk = false;
          continue;
        }
      }
      if (model_unk >= 0) {
        if (!(fuse_unk && last_unk)) syms.push_back(model_unk);
        last_unk = true;
      }
    }
  }

  void merge_symbols(std::vector<int32_t>& syms) const {
    size_t n = syms.size();
    if (n < 2) return;
    if (n <= 48) {  // quadratic scan: fastest for ordinary words
      while (n > 1) {
        int32_t best_rank = INT32_MAX, best_out = -1, rank, out;
        size_t best = 0;
        for (size_t k = 0; k + 1 < n; ++k)
          if (merges.get(syms[k], syms[k + 1], rank, out) && rank < best_rank) {
            best_rank = rank; best_out = out; best = k;
          }
        if (best_out < 0) break;
        syms[best] = best_out;
        syms.erase(syms.begin() + best + 1);
        --n;
      }
      return;
    }
    // Long words: linked list + heap ordered by (rank, position), as `tokenizers` does.
    std::vector<int32_t> prev(n), next(n);
    for (size_t k = 0; k < n; ++k) { prev[k] = int32_t(k) - 1; next[k] = k + 1 < n ? int32_t(k + 1) : -1; }
    struct Cand { int32_t rank, pos, left, right, out; };
    auto cmp = [](const Cand& a, const Cand& b) { return a.rank != b.rank ? a.rank > b.rank : a.pos > b.pos; };
    std::vector<Cand> heap;
    auto push = [&](int32_t pos) {
      int32_t nx = next[pos], rank, out;
      if (nx >= 0 && merges.get(syms[pos], syms[nx], rank, out)) {
        heap.push_back({rank, pos, syms[pos], syms[nx], out});
        std::push_heap(heap.begin(), heap.end(), cmp);
      }
    };
    for (size_t k = 0; k + 1 < n; ++k) push(int32_t(k));
    std::vector<uint8_t> dead(n, 0);
    while (!heap.empty()) {
      std::pop_heap(heap.begin(), heap.end(), cmp);
      Cand c = heap.back();
      heap.pop_back();
      int32_t nx = next[c.pos];
      if (dead[c.pos] || nx < 0 || syms[c.pos] != c.left || syms[nx] != c.right) continue;
      syms[c.pos] = c.out;
      dead[nx] = 1;
      next[c.pos] = next[nx];
      if (next[nx] >= 0) prev[next[nx]] = c.pos;
      if (prev[c.pos] >= 0) push(prev[c.pos]);
      push(c.pos);
    }
    size_t w = 0;
    for (int32_t k = 0; k >= 0; k = next[k]) syms[w++] = syms[k];
    syms.resize(w);
  }

  void bpe(std::string_view w, std::vector<int32_t>& ids) const {
    if (byte_level && w.size() == 1 && byte_id[static_cast<unsigned char>(w[0])] >= 0) {
      ids.push_back(byte_id[static_cast<unsigned char>(w[0])]);
      return;
    }
    if (ignore_merges) {
      const auto& m = byte_level ? raw_vocab : vocab;
      auto it = m.find(w);
      if (it != m.end()) { ids.push_back(it->second); return; }
    }
    size_t h = 0;
    bool cacheable = w.size() <= WordCache::kMaxKey;
    if (cacheable) {
      h = std::hash<std::string_view>()(w);
      if (cache.get(w, h, ids)) return;
    }
    thread_local std::vector<int32_t> syms;
    syms.clear();
    initial_symbols(w, syms);
    merge_symbols(syms);
    ids.insert(ids.end(), syms.begin(), syms.end());
    if (cacheable) cache.put(w, h, syms.data(), syms.size());
  }

  void post_process(std::vector<int32_t>& ids, bool add_special) const {
    if (!add_special) return;
    for (const PostStep& p : post) {
      if (p.prefix.empty() && p.suffix.empty()) continue;
      ids.insert(ids.begin(), p.prefix.begin(), p.prefix.end());
      ids.insert(ids.end(), p.suffix.begin(), p.suffix.end());
    }
  }

  // ---- loading ----
  Status load(const std::string& file, const json& j);
  Status load_normalizer(const json& n);
  Status load_pretokenizer(const json& p);
  Status load_post(const json& p, std::vector<PostStep>& out);
  Status err(const std::string& what) const {
    return Status::invalid(path + ": " + what);
  }
  int32_t find_id(std::string_view tok) const {
    auto it = vocab.find(tok);
    return it == vocab.end() ? -1 : it->second;
  }
};

Status Tokenizer::Impl::load_normalizer(const json& n) {
  if (n.is_null()) return Status::ok();
  std::string t = type_of(n);
  if (t == "NFC") normalizers.push_back(Norm::kNFC);
  else if (t == "NFD") normalizers.push_back(Norm::kNFD);
  else if (t == "Sequence") {
    if (!n.contains("normalizers") || !n["normalizers"].is_array()) return err("normalizer Sequence without \"normalizers\" list");
    for (auto& x : n["normalizers"]) {
      Status s = load_normalizer(x);
      if (!s) return s;
    }
  } else {
    return err("unsupported normalizer \"" + (t.empty() ? n.dump() : t) + "\" (supported: null, NFC, NFD, Sequence)");
  }
  return Status::ok();
}

Status Tokenizer::Impl::load_pretokenizer(const json& p) {
  if (p.is_null()) return Status::ok();
  std::string t = type_of(p);
  if (t == "Sequence") {
    if (!p.contains("pretokenizers") || !p["pretokenizers"].is_array()) return err("pre_tokenizer Sequence without \"pretokenizers\" list");
    for (auto& x : p["pretokenizers"]) {
      Status s = load_pretokenizer(x);
      if (!s) return s;
    }
    return Status::ok();
  }
  if (!pretoks.empty() && pretoks.back().kind == PreTok::kByteLevel)
    return err("unsupported pre_tokenizer \"" + t + "\" after ByteLevel (ByteLevel must come last)");
  PreTok pt;
  if (t == "Split") {
    pt.kind = PreTok::kSplit;
    const json& pat = p.value("pattern", json());
    bool literal;
    std::string src;
    if (pat.is_object() && pat.contains("Regex") && pat["Regex"].is_string()) { literal = false; src = pat["Regex"]; }
    else if (pat.is_object() && pat.contains("String") && pat["String"].is_string()) { literal = true; src = pat["String"]; }
    else return err("pre_tokenizer Split: \"pattern\" must be {\"Regex\": ...} or {\"String\": ...}");
    auto re = Regex::compile(src, literal);
    if (!re) return err("pre_tokenizer Split: " + re.status().message());
    pt.re = std::move(*re);
    std::string b = p.value("behavior", std::string("Isolated"));
    if (b == "Removed") pt.behavior = Behavior::kRemoved;
    else if (b == "Isolated") pt.behavior = Behavior::kIsolated;
    else if (b == "MergedWithPrevious") pt.behavior = Behavior::kMergedWithPrevious;
    else if (b == "MergedWithNext") pt.behavior = Behavior::kMergedWithNext;
    else if (b == "Contiguous") pt.behavior = Behavior::kContiguous;
    else return err("pre_tokenizer Split: unsupported behavior \"" + b + "\"");
    pt.invert = get_bool(p, "invert", false);
  } else if (t == "ByteLevel") {
    pt.kind = PreTok::kByteLevel;
    pt.add_prefix_space = get_bool(p, "add_prefix_space", true);
    pt.use_regex = get_bool(p, "use_regex", true);
    byte_level = true;
  } else if (t == "Digits") {
    pt.kind = PreTok::kDigits;
    pt.individual_digits = get_bool(p, "individual_digits", false);
  } else {
    return err("unsupported pre_tokenizer \"" + (t.empty() ? p.dump() : t) + "\" (supported: Sequence, Split, ByteLevel, Digits)");
  }
  pretoks.push_back(std::move(pt));
  return Status::ok();
}

Status Tokenizer::Impl::load_post(const json& p, std::vector<PostStep>& out) {
  if (p.is_null()) return Status::ok();
  std::string t = type_of(p);
  if (t == "ByteLevel") return Status::ok();  // offsets only
  if (t == "Sequence") {
    if (!p.contains("processors") || !p["processors"].is_array()) return err("post_processor Sequence without \"processors\" list");
    for (auto& x : p["processors"]) {
      Status s = load_post(x, out);
      if (!s) return s;
    }
    return Status::ok();
  }
  PostStep step;
  if (t == "TemplateProcessing") {
    if (!p.contains("single") || !p["single"].is_array()) return err("post_processor TemplateProcessing without \"single\"");
    const json specials = p.value("special_tokens", json::object());
    bool seen_a = false;
    for (auto& item : p["single"]) {
      if (item.contains("Sequence")) {
        if (seen_a) return err("post_processor TemplateProcessing: $A twice in \"single\" is not supported");
        seen_a = true;
        continue;
      }
      if (!item.contains("SpecialToken")) return err("post_processor TemplateProcessing: bad item " + item.dump());
      std::string name = item["SpecialToken"].value("id", std::string());
      std::vector<int32_t> tids;
      if (specials.is_object() && specials.contains(name) && specials[name].contains("ids")) {
        for (auto& x : specials[name]["ids"]) tids.push_back(x.get<int32_t>());
      } else if (int32_t id = find_id(name); id >= 0) {
        tids.push_back(id);
      } else {
        return err("post_processor TemplateProcessing: special token \"" + name + "\" has no id");
      }
      auto& dst = seen_a ? step.suffix : step.prefix;
      dst.insert(dst.end(), tids.begin(), tids.end());
    }
  } else if (t == "BertProcessing" || t == "RobertaProcessing") {
    auto id_of = [&](const char* k) -> int32_t {
      if (p.contains(k) && p[k].is_array() && p[k].size() == 2 && p[k][1].is_number_integer()) return p[k][1].get<int32_t>();
      return -1;
    };
    int32_t cls = id_of("cls"), sep = id_of("sep");
    if (cls < 0 || sep < 0) return err("post_processor " + t + " without cls/sep");
    step.prefix = {cls};
    step.suffix = {sep};
  } else {
    return err("unsupported post_processor \"" + (t.empty() ? p.dump() : t) +
               "\" (supported: null, ByteLevel, TemplateProcessing, BertProcessing, RobertaProcessing, Sequence)");
  }
  out.push_back(std::move(step));
  return Status::ok();
}

Status Tokenizer::Impl::load(const std::string& file, const json& j) {
  path = file;
  if (!j.is_object()) return err("top level is not a JSON object");
  try {
    const json& model = j.value("model", json());
    if (!model.is_object()) return err("missing \"model\"");
    std::string mt = type_of(model);
    if (mt.empty() && model.contains("merges")) mt = "BPE";
    if (mt != "BPE")
      return err("unsupported model \"" + (mt.empty() ? std::string("?") : mt) + "\" (supported: BPE)");
    if (!model.contains("vocab") || !model["vocab"].is_object()) return err("model: \"vocab\" must be an object");
    if (!model.contains("merges") || !model["merges"].is_array()) return err("model: \"merges\" must be a list");
    if (model.contains("dropout") && model["dropout"].is_number() && model["dropout"].get<double>() > 0)
      return err("unsupported model option dropout > 0");
    for (const char* k : {"continuing_subword_prefix", "end_of_word_suffix"})
      if (model.contains(k) && model[k].is_string() && !model[k].get<std::string>().empty())
        return err(std::string("unsupported model option ") + k + " = \"" + model[k].get<std::string>() + "\"");
    ignore_merges = get_bool(model, "ignore_merges", false);
    byte_fallback = get_bool(model, "byte_fallback", false);
    fuse_unk = get_bool(model, "fuse_unk", false);

    // Ids: model vocab, then added tokens.
    int32_t max_id = -1;
    std::vector<std::pair<std::string, int32_t>> entries;
    entries.reserve(model["vocab"].size());
    for (auto it = model["vocab"].begin(); it != model["vocab"].end(); ++it) {
      if (!it.value().is_number_integer() || it.value().get<int64_t>() < 0 || it.value().get<int64_t>() > INT32_MAX)
        return err("model.vocab[\"" + it.key() + "\"] is not a valid id");
      entries.emplace_back(it.key(), it.value().get<int32_t>());
      max_id = std::max(max_id, entries.back().second);
    }
    const json& at = j.value("added_tokens", json::array());
    if (!at.is_array()) return err("\"added_tokens\" must be a list");
    for (auto& a : at) {
      if (!a.is_object() || !a.contains("id") || !a["id"].is_number_integer() || !a.contains("content") || !a["content"].is_string())
        return err("added_tokens: each entry needs integer \"id\" and string \"content\": " + a.dump());
      AddedToken t;
      t.id = a["id"].get<int32_t>();
      if (t.id < 0) return err("added_tokens: negative id " + std::to_string(t.id));
      t.content = a["content"].get<std::string>();
      t.single_word = get_bool(a, "single_word", false);
      t.lstrip = get_bool(a, "lstrip", false);
      t.rstrip = get_bool(a, "rstrip", false);
      t.normalized = get_bool(a, "normalized", !get_bool(a, "special", false));
      t.special = get_bool(a, "special", false);
      max_id = std::max(max_id, t.id);
      added.push_back(std::move(t));
    }
    id_tok.assign(size_t(max_id + 1), std::string());
    id_used.assign(id_tok.size(), 0);
    id_special.assign(id_tok.size(), 0);
    id_added.assign(id_tok.size(), 0);
    for (auto& [tok, id] : entries) { id_tok[id] = tok; id_used[id] = 1; }
    for (auto& a : added) {
      id_tok[a.id] = a.content;
      id_used[a.id] = 1;
      id_added[a.id] = 1;
      if (a.special) id_special[a.id] = 1;
    }
    vocab.reserve(id_tok.size() * 2);
    for (auto& [tok, id] : entries) vocab.emplace(std::string_view(id_tok[id]), id);  // model entries
    for (auto& a : added) vocab[std::string_view(id_tok[a.id])] = a.id;
    for (uint8_t u : id_used) n_ids += u;

    if (model.contains("unk_token") && model["unk_token"].is_string()) {
      model_unk = find_id(model["unk_token"].get<std::string>());
      if (model_unk < 0) return err("model.unk_token \"" + model["unk_token"].get<std::string>() + "\" is not in the vocabulary");
    }

    Status s = load_normalizer(j.value("normalizer", json()));
    if (!s) return s;
    s = load_pretokenizer(j.value("pre_tokenizer", json()));
    if (!s) return s;
    s = load_post(j.value("post_processor", json()), post);
    if (!s) return s;
    const json& dec = j.value("decoder", json());
    if (dec.is_null()) decoder = Decoder::kNone;
    else if (type_of(dec) == "ByteLevel") decoder = Decoder::kByteLevel;
    else if (type_of(dec) == "Sequence" && dec.contains("decoders") && dec["decoders"].is_array() &&
             dec["decoders"].size() == 1 && type_of(dec["decoders"][0]) == "ByteLevel")
      decoder = Decoder::kByteLevel;
    else return err("unsupported decoder \"" + (type_of(dec).empty() ? dec.dump() : type_of(dec)) + "\" (supported: null, ByteLevel)");

    // Byte tables.
    const ByteMap& bm = byte_map();
    for (int b = 0; b < 256; ++b) {
      std::string ch;
      tokenizer::utf8_append(ch, bm.to_cp[b]);
      byte_id[b] = byte_level ? find_id(ch) : -1;
      char buf[8];
      std::snprintf(buf, sizeof(buf), "<0x%02X>", b);
      fallback_id[b] = find_id(buf);
    }

    // What decode emits per id; raw-bytes vocabulary for byte-level models.
    id_bytes.assign(id_tok.size(), std::string());
    std::string tmp;
    for (size_t id = 0; id < id_tok.size(); ++id) {
      if (!id_used[id]) continue;
      if (id_added[id] || decoder != Decoder::kByteLevel || !byte_level_decode(id_tok[id], tmp)) id_bytes[id] = id_tok[id];
      else id_bytes[id] = tmp;
    }
    if (byte_level) {
      id_raw.assign(id_tok.size(), std::string());
      raw_vocab.reserve(entries.size() * 2);
      for (auto& [tok, id] : entries)
        if (byte_level_decode(tok, id_raw[id])) raw_vocab.emplace(std::string_view(id_raw[id]), id);
    }

    // Merges, in either encoding: "a b" strings (tokenizers < 0.20) or ["a", "b"] pairs.
    const json& ml = model["merges"];
    merges.reserve(ml.size());
    std::string a, b;
    for (size_t r = 0; r < ml.size(); ++r) {
      const json& m = ml[r];
      if (m.is_string()) {
        const std::string& s2 = m.get_ref<const std::string&>();
        size_t sp = s2.find(' ');
        if (sp == std::string::npos || s2.find(' ', sp + 1) != std::string::npos)
          return err("model.merges[" + std::to_string(r) + "] = \"" + s2 + "\" is not \"left right\"");
        a.assign(s2, 0, sp);
        b.assign(s2, sp + 1, std::string::npos);
      } else if (m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string()) {
        a = m[0].get<std::string>();
        b = m[1].get<std::string>();
      } else {
        return err("model.merges[" + std::to_string(r) + "] is neither \"a b\" nor [\"a\", \"b\"]: " + m.dump());
      }
      int32_t ia = find_id(a), ib = find_id(b), io = find_id(a + b);
      if (ia < 0 || ib < 0) return err("model.merges[" + std::to_string(r) + "]: \"" + (ia < 0 ? a : b) + "\" is not in the vocabulary");
      if (io < 0) return err("model.merges[" + std::to_string(r) + "]: merged token \"" + a + b + "\" is not in the vocabulary");
      merges.put(ia, ib, int32_t(r), io);
    }

    // Added-token tries: non-normalized on the raw text, normalized on the normalized text.
    for (size_t k = 0; k < added.size(); ++k) {
      const AddedToken& t = added[k];
      if (t.normalized && !normalizers.empty()) {
        std::string content = t.content, out;
        for (Norm n : normalizers)
          if (n == Norm::kNFC ? tokenizer::nfc(content, out) : tokenizer::nfd(content, out)) content = out;
        norm_trie.add(content, int32_t(k));
      } else {
        raw_trie.add(t.content, int32_t(k));
      }
    }
  } catch (const json::exception& e) {
    return err(std::string("malformed: ") + e.what());
  }
  return Status::ok();
}

namespace {
bool is_dir(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0 && S_ISDIR(st.st_mode);
}
bool exists(const std::string& p) {
  struct stat st;
  return ::stat(p.c_str(), &st) == 0;
}
}  // namespace

Result<Tokenizer> Tokenizer::from_file(const std::string& path) {
  auto j = load_json(path);
  if (!j) return j.status();
  auto impl = std::make_shared<Impl>();
  Status s = impl->load(path, *j);
  if (!s) return s;
  Tokenizer t;
  t.impl_ = std::move(impl);
  return t;
}

Result<Tokenizer> Tokenizer::from_dir(const std::string& dir, const TokenizerOptions& options) {
  std::string file = dir, base = dir;
  if (is_dir(dir)) {
    file = dir + "/tokenizer.json";
    if (!exists(file)) return Status::not_found(file + ": no tokenizer.json in " + dir);
  } else {
    size_t slash = dir.rfind('/');
    base = slash == std::string::npos ? "." : dir.substr(0, slash);
  }
  auto j = load_json(file);
  if (!j) return j.status();
  auto impl = std::make_shared<Impl>();
  Status s = impl->load(file, *j);
  if (!s) return s;
  std::string cfg_path = base + "/tokenizer_config.json";
  if (exists(cfg_path)) {
    auto cfg = load_json(cfg_path);
    if (!cfg) return cfg.status();
    if (!cfg->is_object()) return Status::parse(cfg_path + ": top level is not a JSON object");
    auto token_of = [&](const char* key, std::optional<int32_t>& dst) -> Status {
      if (!cfg->contains(key) || (*cfg)[key].is_null()) return Status::ok();
      const json& v = (*cfg)[key];
      std::string content;
      if (v.is_string()) content = v.get<std::string>();
      else if (v.is_object() && v.contains("content") && v["content"].is_string()) content = v["content"].get<std::string>();
      else return Status::parse(cfg_path + ": \"" + key + "\" is neither a string nor {\"content\": ...}");
      int32_t id = impl->find_id(content);
      if (id < 0) return Status::parse(cfg_path + ": " + key + " \"" + content + "\" is not in " + file);
      dst = id;
      return Status::ok();
    };
    for (auto [key, dst] : {std::pair<const char*, std::optional<int32_t>*>{"bos_token", &impl->bos},
                            {"eos_token", &impl->eos}, {"pad_token", &impl->pad}, {"unk_token", &impl->unk}}) {
      Status st = token_of(key, *dst);
      if (!st) return st;
    }
    std::string cls = cfg->value("tokenizer_class", std::string());
    if (options.transformers_compat && (cls == "LlamaTokenizerFast" || cls == "LlamaTokenizer")) {
      bool add_bos = get_bool(*cfg, "add_bos_token", true), add_eos = get_bool(*cfg, "add_eos_token", false);
      PostStep step;
      if (add_bos) {
        if (!impl->bos) return Status::parse(cfg_path + ": add_bos_token is set but there is no bos_token");
        step.prefix.push_back(*impl->bos);
      }
      if (add_eos) {
        if (!impl->eos) return Status::parse(cfg_path + ": add_eos_token is set but there is no eos_token");
        step.suffix.push_back(*impl->eos);
      }
      impl->post.clear();
      impl->post.push_back(step);
    }
  }
  if (!impl->unk && impl->model_unk >= 0) impl->unk = impl->model_unk;
  Tokenizer t;
  t.impl_ = std::move(impl);
  return t;
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool add_special_tokens) const {
  std::string repaired;
  if (!tokenizer::utf8_valid(text)) {
    repaired = tokenizer::utf8_repair(text);
    text = repaired;
  }
  std::vector<int32_t> ids;
  ids.reserve(text.size() / 3 + 4);
  impl_->encode_text(text, ids);
  impl_->post_process(ids, add_special_tokens);
  return ids;
}

std::string Tokenizer::decode_bytes(const std::vector<int32_t>& ids, bool skip_special_tokens) const {
  const Impl& m = *impl_;
  std::string out;
  bool first = true;
  for (int32_t id : ids) {
    if (id < 0 || size_t(id) >= m.id_tok.size() || !m.id_used[id]) continue;
    if (skip_special_tokens && m.id_special[id]) continue;
    if (m.decoder == Impl::Decoder::kNone && !first) out += ' ';
    out += m.id_bytes[id];
    first = false;
  }
  return out;
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids, bool skip_special_tokens) const {
  std::string raw = decode_bytes(ids, skip_special_tokens);
  if (tokenizer::utf8_valid(raw)) return raw;
  return tokenizer::utf8_repair(raw);
}

std::optional<int32_t> Tokenizer::token_to_id(std::string_view token) const {
  int32_t id = impl_->find_id(token);
  if (id < 0) return std::nullopt;
  return id;
}

std::optional<std::string> Tokenizer::id_to_token(int32_t id) const {
  if (id < 0 || size_t(id) >= impl_->id_tok.size() || !impl_->id_used[id]) return std::nullopt;
  return impl_->id_tok[id];
}

size_t Tokenizer::vocab_size() const { return impl_->n_ids; }
bool Tokenizer::is_special(int32_t id) const {
  return id >= 0 && size_t(id) < impl_->id_special.size() && impl_->id_special[id];
}
std::optional<int32_t> Tokenizer::bos_id() const { return impl_->bos; }
std::optional<int32_t> Tokenizer::eos_id() const { return impl_->eos; }
std::optional<int32_t> Tokenizer::pad_id() const { return impl_->pad; }
std::optional<int32_t> Tokenizer::unk_id() const { return impl_->unk; }
const std::string& Tokenizer::path() const { return impl_->path; }

}  // namespace crucible
