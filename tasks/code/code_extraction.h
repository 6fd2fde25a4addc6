// Code extraction from a model completion: the last fenced code block in the requested language,
// after the last </think>; a bare ``` block is the fallback. No block -> no code (no_answer).
#pragma once
#include <optional>
#include <string>
#include <string_view>

namespace crucible::code {

enum class Language { kCpp, kC, kPython };
const char* language_name(Language l);  // "cpp", "c", "python"
// Accepts cpp, c++, cc, cxx, g++, c, python, python3, py (case-insensitive).
std::optional<Language> language_from_name(std::string_view s);
// From a file name's extension (.cpp/.cc/.cxx/.c++ -> cpp, .c -> c, .py -> python).
std::optional<Language> language_from_path(std::string_view path);

struct ExtractedCode {
  std::string code;
  Language language = Language::kCpp;
  bool fallback = false;  // from a bare ``` block (no language tag)
};

// Returns nullopt when the completion has no usable code block.
std::optional<ExtractedCode> extract_code(std::string_view completion, Language want);

}  // namespace crucible::code
