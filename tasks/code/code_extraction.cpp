#include "tasks/code/code_extraction.h"

#include <algorithm>
#include <cctype>
#include <vector>

namespace crucible::code {
namespace {

std::string lower(std::string_view s) {
  std::string r(s);
  for (auto& c : r) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return r;
}

std::string trim(std::string_view s) {
  size_t b = 0, e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

struct Block {
  std::string tag;  // lower-cased info string's first word ("" for a bare fence)
  std::string body;
};

// Fences: a line starting (after up to 3 spaces) with >= 3 backticks; closed by a line with at
// least as many backticks and nothing else. An unclosed final block runs to the end of the text.
std::vector<Block> fenced_blocks(std::string_view text) {
  std::vector<Block> blocks;
  size_t pos = 0;
  bool in = false;
  size_t fence_len = 0;
  Block cur;
  while (pos <= text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    std::string_view line = text.substr(pos, eol - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    size_t ind = 0;
    while (ind < line.size() && ind < 3 && line[ind] == ' ') ++ind;
    size_t ticks = 0;
    while (ind + ticks < line.size() && line[ind + ticks] == '`') ++ticks;
    if (!in) {
      if (ticks >= 3) {
        std::string info = trim(line.substr(ind + ticks));
        if (info.find('`') == std::string::npos) {
          in = true;
          fence_len = ticks;
          cur = Block{};
          size_t sp = 0;
          while (sp < info.size() && !std::isspace(static_cast<unsigned char>(info[sp])) && info[sp] != '{') ++sp;
          cur.tag = lower(info.substr(0, sp));
        }
      }
    } else if (ticks >= fence_len && trim(line.substr(ind + ticks)).empty()) {
      in = false;
      blocks.push_back(std::move(cur));
    } else if (!(eol == text.size() && line.empty())) {
      cur.body.append(line.data(), line.size());
      cur.body.push_back('\n');
    }
    if (eol == text.size()) break;
    pos = eol + 1;
  }
  if (in && !trim(cur.body).empty()) blocks.push_back(std::move(cur));
  return blocks;
}

}  // namespace

const char* language_name(Language l) {
  switch (l) {
    case Language::kCpp: return "cpp";
    case Language::kC: return "c";
    case Language::kPython: return "python";
  }
  return "cpp";
}

std::optional<Language> language_from_name(std::string_view s) {
  std::string l = lower(trim(s));
  if (l == "cpp" || l == "c++" || l == "cc" || l == "cxx" || l == "g++" || l == "cpp17" || l == "c++17")
    return Language::kCpp;
  if (l == "c") return Language::kC;
  if (l == "python" || l == "python3" || l == "py" || l == "py3") return Language::kPython;
  return std::nullopt;
}

std::optional<Language> language_from_path(std::string_view path) {
  size_t dot = path.rfind('.');
  if (dot == std::string_view::npos) return std::nullopt;
  std::string ext = lower(path.substr(dot + 1));
  if (ext == "cpp" || ext == "cc" || ext == "cxx" || ext == "c++") return Language::kCpp;
  if (ext == "c") return Language::kC;
  if (ext == "py") return Language::kPython;
  return std::nullopt;
}

std::optional<ExtractedCode> extract_code(std::string_view completion, Language want) {
  std::string_view text = completion;
  size_t think = text.rfind("</think>");
  if (think != std::string_view::npos) text = text.substr(think + 8);
  std::vector<Block> blocks = fenced_blocks(text);
  for (auto it = blocks.rbegin(); it != blocks.rend(); ++it) {
    auto l = language_from_name(it->tag);
    if (l && *l == want && !trim(it->body).empty()) return ExtractedCode{it->body, want, false};
  }
  for (auto it = blocks.rbegin(); it != blocks.rend(); ++it) {
    if (it->tag.empty() && !trim(it->body).empty()) return ExtractedCode{it->body, want, true};
  }
  return std::nullopt;
}

}  // namespace crucible::code
