#include "reports/escape.h"

namespace crucible::reports {
namespace {

// Length of the valid UTF-8 sequence starting at s[i], or 0 if invalid.
size_t utf8_seq_len(std::string_view s, size_t i) {
  unsigned char c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) return 1;
  size_t len = (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
  if (len == 0 || i + len > s.size()) return 0;
  for (size_t k = 1; k < len; ++k)
    if ((static_cast<unsigned char>(s[i + k]) & 0xC0) != 0x80) return 0;
  unsigned char c1 = static_cast<unsigned char>(s[i + 1]);
  if (len == 2 && c < 0xC2) return 0;                  // overlong
  if (len == 3 && c == 0xE0 && c1 < 0xA0) return 0;    // overlong
  if (len == 3 && c == 0xED && c1 >= 0xA0) return 0;   // surrogates
  if (len == 4 && c == 0xF0 && c1 < 0x90) return 0;    // overlong
  if (len == 4 && (c > 0xF4 || (c == 0xF4 && c1 >= 0x90))) return 0;
  return len;
}

const char kReplacement[] = "\xEF\xBF\xBD";

template <typename OnAscii>
std::string escape_impl(std::string_view s, OnAscii on_ascii) {
  std::string out;
  out.reserve(s.size() + s.size() / 8);
  size_t i = 0;
  while (i < s.size()) {
    size_t len = utf8_seq_len(s, i);
    if (len == 0) {
      out += kReplacement;
      ++i;
    } else if (len == 1) {
      on_ascii(out, s[i]);
      ++i;
    } else {
      out.append(s.data() + i, len);
      i += len;
    }
  }
  return out;
}

bool is_bad_control(char c) {
  unsigned char u = static_cast<unsigned char>(c);
  return (u < 0x20 && c != '\t' && c != '\n' && c != '\r') || u == 0x7F;
}

void html_char(std::string& out, char c) {
  switch (c) {
    case '&': out += "&amp;"; break;
    case '<': out += "&lt;"; break;
    case '>': out += "&gt;"; break;
    case '"': out += "&quot;"; break;
    case '\'': out += "&#39;"; break;
    default:
      if (is_bad_control(c)) out += kReplacement;
      else out.push_back(c);
  }
}

}  // namespace

std::string sanitize_utf8(std::string_view s) {
  return escape_impl(s, [](std::string& out, char c) { out.push_back(c); });
}

std::string html_escape(std::string_view s) { return escape_impl(s, html_char); }

std::string xml_escape(std::string_view s) {
  return escape_impl(s, [](std::string& out, char c) {
    if (is_bad_control(c)) return;  // not allowed in XML 1.0
    if (c == '\n') { out += "&#10;"; return; }  // keeps newlines inside attributes
    if (c == '\r') { out += "&#13;"; return; }
    html_char(out, c);
  });
}

std::string md_escape(std::string_view s) {
  return escape_impl(s, [](std::string& out, char c) {
    switch (c) {
      case '|': case '\\': case '`': case '*': case '_': case '[': case ']': case '#':
        out.push_back('\\');
        out.push_back(c);
        break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '&': out += "&amp;"; break;
      case '\n': case '\r': case '\t': out.push_back(' '); break;
      default:
        if (!is_bad_control(c)) out.push_back(c);
    }
  });
}

std::string_view utf8_prefix(std::string_view s, size_t max_bytes) {
  if (s.size() <= max_bytes) return s;
  size_t end = max_bytes;
  while (end > 0 && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80) --end;
  return s.substr(0, end);
}

}  // namespace crucible::reports
