// Escaping for the report writers. Every string that comes from a run record (model names,
// problem ids, completions) goes through one of these before it reaches HTML, SVG, XML or
// Markdown output.
#pragma once
#include <string>
#include <string_view>

namespace crucible::reports {

// & < > " ' -> entities. Also replaces invalid UTF-8 bytes and C0 controls other than \t \n \r
// with U+FFFD so the result is always valid in HTML text and attribute values.
std::string html_escape(std::string_view s);
// Same as html_escape but safe for XML 1.0 (JUnit): C0 controls are dropped.
std::string xml_escape(std::string_view s);
// A Markdown table cell: escapes | \ ` * _ < > & [ ] and turns newlines into spaces.
std::string md_escape(std::string_view s);
// Valid UTF-8 with bad bytes replaced by U+FFFD.
std::string sanitize_utf8(std::string_view s);
// Truncate to at most `max_bytes` bytes without splitting a UTF-8 sequence.
std::string_view utf8_prefix(std::string_view s, size_t max_bytes);

}  // namespace crucible::reports
