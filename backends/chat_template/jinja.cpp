// Jinja2-subset interpreter for chat templates. Written from the Jinja2 documentation's semantics
// (Python flavour: str() of None is "None", // and % are floored, slices follow Python).
// Errors inside the interpreter are thrown as TemplateError (with the byte offset in the template)
// and converted to a Status at the API boundary.
#include "backends/chat_template/jinja.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <map>
#include <sstream>
#include <utility>
#include <vector>

namespace crucible::jinja {
namespace {

using ojson = nlohmann::ordered_json;

struct TemplateError {
  std::string msg;
  size_t pos;
};
struct RaiseError {
  std::string msg;
  size_t pos;
};

[[noreturn]] void fail(size_t pos, std::string msg) { throw TemplateError{std::move(msg), pos}; }

// ---------------------------------------------------------------- values
struct Value;
using ValueList = std::vector<Value>;
using ValueDict = std::vector<std::pair<std::string, Value>>;
struct Interp;
using Args = std::vector<Value>;
using Kwargs = std::vector<std::pair<std::string, Value>>;
using NativeFn = std::function<Value(Interp&, Args&, Kwargs&, size_t pos)>;

struct Value {
  enum Kind : uint8_t { Undefined, None, Bool, Int, Float, Str, List, Dict, Func };
  Kind k = Undefined;
  bool b = false;
  bool ns = false;  // a namespace() object (attribute assignment allowed)
  int64_t i = 0;
  double f = 0;
  std::string s;                       // Str; Undefined: the name that was missing
  std::shared_ptr<ValueList> list;     // List
  std::shared_ptr<ValueDict> dict;     // Dict
  std::shared_ptr<NativeFn> fn;        // Func

  static Value none() { Value v; v.k = None; return v; }
  static Value undefined(std::string name) { Value v; v.s = std::move(name); return v; }
  static Value boolean(bool x) { Value v; v.k = Bool; v.b = x; return v; }
  static Value integer(int64_t x) { Value v; v.k = Int; v.i = x; return v; }
  static Value real(double x) { Value v; v.k = Float; v.f = x; return v; }
  static Value str(std::string x) { Value v; v.k = Str; v.s = std::move(x); return v; }
  static Value make_list(ValueList l = {}) { Value v; v.k = List; v.list = std::make_shared<ValueList>(std::move(l)); return v; }
  static Value make_dict(ValueDict d = {}) { Value v; v.k = Dict; v.dict = std::make_shared<ValueDict>(std::move(d)); return v; }
  static Value func(NativeFn f) { Value v; v.k = Func; v.fn = std::make_shared<NativeFn>(std::move(f)); return v; }

  bool is_num() const { return k == Int || k == Float || k == Bool; }
  double num() const { return k == Float ? f : k == Int ? double(i) : double(b); }
  const Value* find(const std::string& key) const {
    if (k != Dict) return nullptr;
    for (auto& kv : *dict)
      if (kv.first == key) return &kv.second;
    return nullptr;
  }
};

const char* kind_name(const Value& v) {
  switch (v.k) {
    case Value::Undefined: return "undefined";
    case Value::None: return "none";
    case Value::Bool: return "bool";
    case Value::Int: return "int";
    case Value::Float: return "float";
    case Value::Str: return "string";
    case Value::List: return "list";
    case Value::Dict: return v.ns ? "namespace" : "dict";
    case Value::Func: return "function";
  }
  return "?";
}

Value from_json(const ojson& j) {
  switch (j.type()) {
    case ojson::value_t::null: return Value::none();
    case ojson::value_t::boolean: return Value::boolean(j.get<bool>());
    case ojson::value_t::number_integer: return Value::integer(j.get<int64_t>());
    case ojson::value_t::number_unsigned: return Value::integer(int64_t(j.get<uint64_t>()));
    case ojson::value_t::number_float: return Value::real(j.get<double>());
    case ojson::value_t::string: return Value::str(j.get<std::string>());
    case ojson::value_t::array: {
      ValueList l;
      l.reserve(j.size());
      for (auto& e : j) l.push_back(from_json(e));
      return Value::make_list(std::move(l));
    }
    case ojson::value_t::object: {
      ValueDict d;
      d.reserve(j.size());
      for (auto it = j.begin(); it != j.end(); ++it) d.emplace_back(it.key(), from_json(it.value()));
      return Value::make_dict(std::move(d));
    }
    default: return Value::none();
  }
}

bool truthy(const Value& v) {
  switch (v.k) {
    case Value::Undefined: case Value::None: return false;
    case Value::Bool: return v.b;
    case Value::Int: return v.i != 0;
    case Value::Float: return v.f != 0;
    case Value::Str: return !v.s.empty();
    case Value::List: return !v.list->empty();
    case Value::Dict: return !v.dict->empty();
    case Value::Func: return true;
  }
  return false;
}

// --- UTF-8 helpers (Python strings are sequences of code points)
std::vector<uint32_t> decode_utf8(const std::string& s) {
  std::vector<uint32_t> out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    unsigned char c = s[i];
    int n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 1;
    if (i + n > s.size()) n = 1;
    uint32_t cp = n == 1 ? c : n == 2 ? c & 0x1F : n == 3 ? c & 0x0F : c & 0x07;
    for (int k = 1; k < n; ++k) cp = (cp << 6) | (uint8_t(s[i + k]) & 0x3F);
    out.push_back(cp);
    i += n;
  }
  return out;
}
void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) out += char(cp);
  else if (cp < 0x800) { out += char(0xC0 | (cp >> 6)); out += char(0x80 | (cp & 0x3F)); }
  else if (cp < 0x10000) { out += char(0xE0 | (cp >> 12)); out += char(0x80 | ((cp >> 6) & 0x3F)); out += char(0x80 | (cp & 0x3F)); }
  else { out += char(0xF0 | (cp >> 18)); out += char(0x80 | ((cp >> 12) & 0x3F)); out += char(0x80 | ((cp >> 6) & 0x3F)); out += char(0x80 | (cp & 0x3F)); }
}
std::string encode_utf8(const std::vector<uint32_t>& cps) {
  std::string s;
  for (uint32_t c : cps) append_utf8(s, c);
  return s;
}
bool is_space_cp(uint32_t c) {
  return c == ' ' || (c >= 9 && c <= 13) || c == 0x1c || c == 0x1d || c == 0x1e || c == 0x1f || c == 0x85 ||
         c == 0xa0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200a) || c == 0x2028 || c == 0x2029 || c == 0x202f ||
         c == 0x205f || c == 0x3000;
}

std::string py_float(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  char buf[64];
  for (int prec = 1; prec <= 17; ++prec) {
    std::snprintf(buf, sizeof buf, "%.*g", prec, d);
    if (std::strtod(buf, nullptr) == d) break;
  }
  std::string s = buf;
  if (s.find_first_of(".eEn") == std::string::npos) s += ".0";
  return s;
}

std::string py_repr_str(const std::string& s) {
  char q = (s.find('\'') != std::string::npos && s.find('"') == std::string::npos) ? '"' : '\'';
  std::string out(1, q);
  for (char c : s) {
    if (c == q || c == '\\') { out += '\\'; out += c; }
    else if (c == '\n') out += "\\n";
    else if (c == '\t') out += "\\t";
    else if (c == '\r') out += "\\r";
    else out += c;
  }
  return out + q;
}

std::string to_str(const Value& v, bool repr = false);
std::string to_str(const Value& v, bool repr) {
  switch (v.k) {
    case Value::Undefined: return "";
    case Value::None: return "None";
    case Value::Bool: return v.b ? "True" : "False";
    case Value::Int: return std::to_string(v.i);
    case Value::Float: return py_float(v.f);
    case Value::Str: return repr ? py_repr_str(v.s) : v.s;
    case Value::List: {
      std::string out = "[";
      for (size_t i = 0; i < v.list->size(); ++i) out += (i ? ", " : "") + to_str((*v.list)[i], true);
      return out + "]";
    }
    case Value::Dict: {
      std::string out = v.ns ? "<Namespace {" : "{";
      bool first = true;
      for (auto& kv : *v.dict) {
        out += (first ? "" : ", ") + py_repr_str(kv.first) + ": " + to_str(kv.second, true);
        first = false;
      }
      return out + (v.ns ? "}>" : "}");
    }
    case Value::Func: return "<function>";
  }
  return "";
}

void json_str(std::string& out, const std::string& s) { out += ojson(s).dump(-1, ' ', false, ojson::error_handler_t::replace); }

void to_json_text(std::string& out, const Value& v, int indent, int depth, const std::string& item_sep,
                  const std::string& key_sep, size_t pos) {
  if (depth > 256) fail(pos, "tojson: value nested too deeply");
  auto newline = [&](int d) {
    out += '\n';
    out.append(size_t(indent) * size_t(d), ' ');
  };
  switch (v.k) {
    case Value::Undefined: case Value::None: out += "null"; return;
    case Value::Bool: out += v.b ? "true" : "false"; return;
    case Value::Int: out += std::to_string(v.i); return;
    case Value::Float:
      if (std::isnan(v.f)) out += "NaN";
      else if (std::isinf(v.f)) out += v.f > 0 ? "Infinity" : "-Infinity";
      else out += py_float(v.f);
      return;
    case Value::Str: json_str(out, v.s); return;
    case Value::List: {
      if (v.list->empty()) { out += "[]"; return; }
      out += '[';
      for (size_t i = 0; i < v.list->size(); ++i) {
        if (i) out += item_sep;
        if (indent >= 0) newline(depth + 1);
        to_json_text(out, (*v.list)[i], indent, depth + 1, item_sep, key_sep, pos);
      }
      if (indent >= 0) newline(depth);
      out += ']';
      return;
    }
    case Value::Dict: {
      if (v.dict->empty()) { out += "{}"; return; }
      out += '{';
      bool first = true;
      for (auto& kv : *v.dict) {
        if (!first) out += item_sep;
        first = false;
        if (indent >= 0) newline(depth + 1);
        json_str(out, kv.first);
        out += key_sep;
        to_json_text(out, kv.second, indent, depth + 1, item_sep, key_sep, pos);
      }
      if (indent >= 0) newline(depth);
      out += '}';
      return;
    }
    case Value::Func: fail(pos, "tojson: a function is not JSON serializable");
  }
}

bool equal(const Value& a, const Value& b) {
  if (a.is_num() && b.is_num()) {
    if (a.k == Value::Float || b.k == Value::Float) return a.num() == b.num();
    int64_t x = a.k == Value::Int ? a.i : int64_t(a.b), y = b.k == Value::Int ? b.i : int64_t(b.b);
    return x == y;
  }
  if (a.k != b.k) return false;
  switch (a.k) {
    case Value::Undefined: case Value::None: return true;
    case Value::Str: return a.s == b.s;
    case Value::List:
      if (a.list->size() != b.list->size()) return false;
      for (size_t i = 0; i < a.list->size(); ++i)
        if (!equal((*a.list)[i], (*b.list)[i])) return false;
      return true;
    case Value::Dict:
      if (a.dict->size() != b.dict->size()) return false;
      for (auto& kv : *a.dict) {
        const Value* o = b.find(kv.first);
        if (!o || !equal(kv.second, *o)) return false;
      }
      return true;
    case Value::Func: return a.fn == b.fn;
    default: return false;
  }
}

// ---------------------------------------------------------------- lexer
enum class Tok { Text, VarBegin, VarEnd, BlockBegin, BlockEnd, Name, String, Int, Float, Op, End };
struct Token {
  Tok t;
  std::string s;
  size_t pos;
  int64_t i = 0;
  double f = 0;
};

class Lexer {
 public:
  explicit Lexer(const std::string& src) : src_(src) {}

  std::vector<Token> run() {
    size_t n = src_.size();
    if (n && src_[n - 1] == '\n') --n;  // keep_trailing_newline=False
    if (n && src_[n - 1] == '\r' && src_.size() == n + 1) --n;
    end_ = n;
    size_t p = 0;
    bool lstrip_next = false;
    while (p < end_) {
      size_t open = find_open(p);
      std::string text = src_.substr(p, open - p);
      if (lstrip_next) {
        size_t k = text.find_first_not_of(" \t\r\n\f\v");
        text = k == std::string::npos ? "" : text.substr(k);
        lstrip_next = false;
      }
      if (open >= end_) {
        push_text(text, p);
        break;
      }
      char kind = src_[open + 1];  // '{', '%' or '#'
      size_t q = open + 2;
      char mod = q < end_ ? src_[q] : 0;
      if (mod == '-') {
        size_t k = text.find_last_not_of(" \t\r\n\f\v");
        text = k == std::string::npos ? "" : text.substr(0, k + 1);
        ++q;
      } else if (mod == '+') {
        ++q;
      } else if (kind != '{') {  // lstrip_blocks: only spaces/tabs between the line start and the tag
        size_t k = open;
        while (k > 0 && (src_[k - 1] == ' ' || src_[k - 1] == '\t')) --k;
        if (k == 0 || src_[k - 1] == '\n') {
          size_t e = text.find_last_not_of(" \t");
          text.resize(e == std::string::npos ? 0 : e + 1);
        }
      }
      push_text(text, p);
      if (kind == '#') {
        size_t close = src_.find("#}", q);
        if (close == std::string::npos || close + 2 > end_) fail(open, "unterminated comment '{#'");
        bool minus = close > q && src_[close - 1] == '-';
        bool plus = close > q && src_[close - 1] == '+';
        p = close + 2;
        after_tag(p, minus, plus, true, lstrip_next);
        continue;
      }
      bool is_var = kind == '{';
      tokens_.push_back({is_var ? Tok::VarBegin : Tok::BlockBegin, "", open});
      p = lex_expr(q, is_var, lstrip_next);
    }
    tokens_.push_back({Tok::End, "", end_});
    return std::move(tokens_);
  }

 private:
  size_t find_open(size_t p) const {
    for (size_t k = p; k + 1 < end_; ++k)
      if (src_[k] == '{' && (src_[k + 1] == '{' || src_[k + 1] == '%' || src_[k + 1] == '#')) return k;
    return end_;
  }
  void push_text(const std::string& text, size_t pos) {
    if (!text.empty()) tokens_.push_back({Tok::Text, text, pos});
  }
  void after_tag(size_t& p, bool minus, bool plus, bool block, bool& lstrip_next) {
    if (minus) lstrip_next = true;
    else if (block && !plus) {  // trim_blocks
      if (p < end_ && src_[p] == '\n') ++p;
      else if (p + 1 < end_ && src_[p] == '\r' && src_[p + 1] == '\n') p += 2;
    }
  }

  size_t lex_expr(size_t p, bool is_var, bool& lstrip_next) {
    size_t tag_start = p;
    int depth = 0;
    while (true) {
      while (p < end_ && std::isspace(uint8_t(src_[p]))) ++p;
      if (p >= end_) fail(tag_start - 2, is_var ? "unterminated '{{'" : "unterminated '{%'");
      // closing?
      auto closes = [&](size_t at) {
        return at + 2 <= end_ && src_.compare(at, 2, is_var ? "}}" : "%}") == 0;
      };
      if (depth == 0 && (src_[p] == '-' || src_[p] == '+') && closes(p + 1)) {
        bool minus = src_[p] == '-';
        tokens_.push_back({is_var ? Tok::VarEnd : Tok::BlockEnd, "", p});
        p += 3;
        after_tag(p, minus, !minus, !is_var, lstrip_next);
        return p;
      }
      if (depth == 0 && closes(p)) {
        tokens_.push_back({is_var ? Tok::VarEnd : Tok::BlockEnd, "", p});
        p += 2;
        after_tag(p, false, false, !is_var, lstrip_next);
        return p;
      }
      char c = src_[p];
      size_t start = p;
      if (std::isalpha(uint8_t(c)) || c == '_') {
        while (p < end_ && (std::isalnum(uint8_t(src_[p])) || src_[p] == '_')) ++p;
        tokens_.push_back({Tok::Name, src_.substr(start, p - start), start});
      } else if (std::isdigit(uint8_t(c))) {
        while (p < end_ && (std::isdigit(uint8_t(src_[p])) || src_[p] == '_')) ++p;
        bool is_float = false;
        if (p + 1 < end_ && src_[p] == '.' && std::isdigit(uint8_t(src_[p + 1]))) {
          is_float = true;
          ++p;
          while (p < end_ && std::isdigit(uint8_t(src_[p]))) ++p;
        }
        if (p < end_ && (src_[p] == 'e' || src_[p] == 'E')) {
          size_t e = p + 1;
          if (e < end_ && (src_[e] == '+' || src_[e] == '-')) ++e;
          if (e < end_ && std::isdigit(uint8_t(src_[e]))) {
            is_float = true;
            p = e;
            while (p < end_ && std::isdigit(uint8_t(src_[p]))) ++p;
          }
        }
        std::string num;
        for (size_t k = start; k < p; ++k)
          if (src_[k] != '_') num += src_[k];
        Token t{is_float ? Tok::Float : Tok::Int, num, start};
        if (is_float) t.f = std::strtod(num.c_str(), nullptr);
        else {
          errno = 0;
          t.i = std::strtoll(num.c_str(), nullptr, 10);
          if (errno == ERANGE) fail(start, "integer literal out of range");
        }
        tokens_.push_back(t);
      } else if (c == '\'' || c == '"') {
        tokens_.push_back({Tok::String, lex_string(p), start});
      } else {
        static const char* ops[] = {"//", "**", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~", "<", ">",
                                    "=", "(", ")", "[", "]", "{", "}", ".", ",", ":", "|"};
        bool found = false;
        for (const char* op : ops) {
          size_t len = std::strlen(op);
          if (src_.compare(p, len, op) == 0) {
            if (*op == '(' || *op == '[' || *op == '{') ++depth;
            if ((*op == ')' || *op == ']' || *op == '}') && depth > 0) --depth;
            tokens_.push_back({Tok::Op, op, p});
            p += len;
            found = true;
            break;
          }
        }
        if (!found) fail(p, std::string("unexpected character '") + c + "' in expression");
      }
    }
  }

  std::string lex_string(size_t& p) {
    char q = src_[p];
    size_t start = p++;
    std::string out;
    while (true) {
      if (p >= end_) fail(start, "unterminated string literal");
      char c = src_[p];
      if (c == q) { ++p; return out; }
      if (c == '\\' && p + 1 < end_) {
        char e = src_[p + 1];
        p += 2;
        switch (e) {
          case 'n': out += '\n'; break;
          case 't': out += '\t'; break;
          case 'r': out += '\r'; break;
          case 'b': out += '\b'; break;
          case 'f': out += '\f'; break;
          case 'v': out += '\v'; break;
          case '0': out += '\0'; break;
          case '\\': out += '\\'; break;
          case '\'': out += '\''; break;
          case '"': out += '"'; break;
          case '\n': break;
          case 'x': case 'u': case 'U': {
            size_t len = e == 'x' ? 2 : e == 'u' ? 4 : 8;
            if (p + len > end_) fail(p - 2, "bad escape in string literal");
            uint32_t cp = 0;
            for (size_t k = 0; k < len; ++k) {
              char h = src_[p + k];
              if (!std::isxdigit(uint8_t(h))) fail(p - 2, "bad escape in string literal");
              cp = cp * 16 + uint32_t(std::isdigit(uint8_t(h)) ? h - '0' : (std::tolower(h) - 'a' + 10));
            }
            p += len;
            append_utf8(out, cp);
            break;
          }
          default: out += '\\'; out += e;
        }
        continue;
      }
      out += c;
      ++p;
    }
  }

  const std::string& src_;
  size_t end_ = 0;
  std::vector<Token> tokens_;
};

// ---------------------------------------------------------------- AST
struct Expr;
using ExprP = std::unique_ptr<Expr>;
struct Expr {
  enum Kind { Lit, Name, Attr, Item, Slice, Call, Filter, Test, Neg, Pos, Not, Bin, And, Or, Cond, ListLit, DictLit };
  Kind kind = Lit;
  size_t pos = 0;
  Value lit;
  std::string name;          // Name / Attr / Filter / Test name; Bin operator
  bool negated = false;      // Test: "is not"
  std::vector<ExprP> args;   // operands / call args / list items / dict k,v pairs
  std::vector<std::pair<std::string, ExprP>> kwargs;
  ExprP a, b, c, d;          // object / slice parts / cond
};

struct Stmt;
using Body = std::vector<std::unique_ptr<Stmt>>;
struct Stmt {
  enum Kind { Text, Output, If, For, Set, SetBlock, Macro, Break, Continue, CallBlock };
  Kind kind;
  size_t pos;
  std::string text;                  // Text; Set/SetBlock/Macro name
  std::string attr;                  // Set: ns.attr
  std::vector<std::string> names;    // For / Set tuple targets; Macro parameter names
  std::vector<ExprP> exprs;          // If conditions; Macro defaults (nullptr = none)
  std::vector<Body> bodies;          // If bodies (+ else); For body, else
  ExprP e, cond;                     // Output / For iter / Set value; For filter
};

}  // namespace

struct Program {
  Body body;
  std::string source;
  std::string name;
};

namespace {

// ---------------------------------------------------------------- parser
class Parser {
 public:
  explicit Parser(std::vector<Token> toks) : t_(std::move(toks)) {}

  Body parse_template() {
    std::string end;
    Body b = parse_body({}, &end);
    return b;
  }

 private:
  const Token& peek(size_t k = 0) const { return t_[std::min(i_ + k, t_.size() - 1)]; }
  const Token& next() { return t_[std::min(i_++, t_.size() - 1)]; }
  bool is_op(const char* op, size_t k = 0) const { return peek(k).t == Tok::Op && peek(k).s == op; }
  bool is_name(const char* n, size_t k = 0) const { return peek(k).t == Tok::Name && peek(k).s == n; }
  bool accept_op(const char* op) {
    if (is_op(op)) { ++i_; return true; }
    return false;
  }
  bool accept_name(const char* n) {
    if (is_name(n)) { ++i_; return true; }
    return false;
  }
  static std::string describe(const Token& t) {
    switch (t.t) {
      case Tok::Text: return "text";
      case Tok::VarBegin: return "'{{'";
      case Tok::VarEnd: return "'}}'";
      case Tok::BlockBegin: return "'{%'";
      case Tok::BlockEnd: return "'%}'";
      case Tok::Name: return "name '" + t.s + "'";
      case Tok::String: return "string literal";
      case Tok::Int: case Tok::Float: return "number " + t.s;
      case Tok::Op: return "'" + t.s + "'";
      case Tok::End: return "end of template";
    }
    return "?";
  }
  void expect_op(const char* op) {
    if (!accept_op(op)) fail(peek().pos, std::string("expected '") + op + "', got " + describe(peek()));
  }
  std::string expect_name() {
    if (peek().t != Tok::Name) fail(peek().pos, "expected a name, got " + describe(peek()));
    return next().s;
  }
  void expect_block_end() {
    if (peek().t != Tok::BlockEnd) fail(peek().pos, "expected '%}', got " + describe(peek()));
    ++i_;
  }

  // Parses statements until one of `ends` (a block tag name) is met; leaves i_ after that tag name.
  Body parse_body(const std::vector<std::string>& ends, std::string* end_found) {
    Body body;
    while (true) {
      const Token& tk = peek();
      if (tk.t == Tok::End) {
        if (!ends.empty()) fail(tk.pos, "unexpected end of template, expected {% " + ends.back() + " %}");
        *end_found = "";
        return body;
      }
      if (tk.t == Tok::Text) {
        auto s = std::make_unique<Stmt>();
        s->kind = Stmt::Text;
        s->pos = tk.pos;
        s->text = tk.s;
        body.push_back(std::move(s));
        ++i_;
        continue;
      }
      if (tk.t == Tok::VarBegin) {
        ++i_;
        auto s = std::make_unique<Stmt>();
        s->kind = Stmt::Output;
        s->pos = tk.pos;
        s->e = parse_expr();
        if (peek().t != Tok::VarEnd) fail(peek().pos, "expected '}}', got " + describe(peek()));
        ++i_;
        body.push_back(std::move(s));
        continue;
      }
      if (tk.t != Tok::BlockBegin) fail(tk.pos, "unexpected " + describe(tk));
      size_t tag_pos = tk.pos;
      ++i_;
      if (peek().t != Tok::Name) fail(peek().pos, "expected a tag name after '{%', got " + describe(peek()));
      std::string tag = peek().s;
      if (std::find(ends.begin(), ends.end(), tag) != ends.end()) {
        ++i_;
        *end_found = tag;
        return body;
      }
      ++i_;
      body.push_back(parse_tag(tag, tag_pos));
    }
  }

  std::unique_ptr<Stmt> parse_tag(const std::string& tag, size_t pos) {
    auto s = std::make_unique<Stmt>();
    s->pos = pos;
    if (tag == "if") {
      s->kind = Stmt::If;
      s->exprs.push_back(parse_expr());
      expect_block_end();
      while (true) {
        std::string end;
        s->bodies.push_back(parse_body({"elif", "else", "endif"}, &end));
        if (end == "elif") {
          s->exprs.push_back(parse_expr());
          expect_block_end();
        } else if (end == "else") {
          expect_block_end();
          s->bodies.push_back(parse_body({"endif"}, &end));
          expect_block_end();
          break;
        } else {
          expect_block_end();
          break;
        }
      }
    } else if (tag == "for") {
      s->kind = Stmt::For;
      s->names.push_back(expect_name());
      while (accept_op(",")) s->names.push_back(expect_name());
      if (!accept_name("in")) fail(peek().pos, "expected 'in' in for loop, got " + describe(peek()));
      s->e = parse_cond_free();
      if (accept_name("if")) s->cond = parse_cond_free();
      if (is_name("recursive")) fail(peek().pos, "unsupported: recursive for loops");
      expect_block_end();
      std::string end;
      s->bodies.push_back(parse_body({"else", "endfor"}, &end));
      if (end == "else") {
        expect_block_end();
        s->bodies.push_back(parse_body({"endfor"}, &end));
      }
      expect_block_end();
    } else if (tag == "set") {
      std::string name = expect_name();
      if (accept_op(".")) {
        s->attr = expect_name();
      }
      s->names.push_back(name);
      while (s->attr.empty() && accept_op(",")) s->names.push_back(expect_name());
      s->text = name;
      if (accept_op("=")) {
        s->kind = Stmt::Set;
        s->e = parse_expr();
        expect_block_end();
      } else {
        if (!s->attr.empty() || s->names.size() != 1) fail(peek().pos, "expected '=' in set");
        s->kind = Stmt::SetBlock;
        expect_block_end();
        std::string end;
        s->bodies.push_back(parse_body({"endset"}, &end));
        expect_block_end();
      }
    } else if (tag == "macro") {
      s->kind = Stmt::Macro;
      s->text = expect_name();
      expect_op("(");
      if (!is_op(")")) {
        do {
          s->names.push_back(expect_name());
          s->exprs.push_back(accept_op("=") ? parse_expr() : nullptr);
        } while (accept_op(","));
      }
      expect_op(")");
      expect_block_end();
      std::string end;
      s->bodies.push_back(parse_body({"endmacro"}, &end));
      if (peek().t == Tok::Name) ++i_;  // {% endmacro name %}
      expect_block_end();
    } else if (tag == "break" || tag == "continue") {
      s->kind = tag == "break" ? Stmt::Break : Stmt::Continue;
      expect_block_end();
    } else if (tag == "generation") {  // transformers' assistant-mask marker: renders its body as is
      expect_block_end();
      std::string end;
      Body inner = parse_body({"endgeneration"}, &end);
      expect_block_end();
      s->kind = Stmt::If;
      auto t = std::make_unique<Expr>();
      t->kind = Expr::Lit;
      t->pos = pos;
      t->lit = Value::boolean(true);
      s->exprs.push_back(std::move(t));
      s->bodies.push_back(std::move(inner));
    } else {
      fail(pos, "unsupported template tag '" + tag + "'");
    }
    return s;
  }

  // expressions ---------------------------------------------------------
  ExprP make(Expr::Kind k, size_t pos) {
    auto e = std::make_unique<Expr>();
    e->kind = k;
    e->pos = pos;
    return e;
  }

 public:
  ExprP parse_expr() {
    ExprP e = parse_or();
    while (is_name("if")) {  // a if cond else b
      size_t pos = next().pos;
      auto c = make(Expr::Cond, pos);
      c->b = parse_or();
      if (accept_name("else")) c->c = parse_expr();
      c->a = std::move(e);
      e = std::move(c);
    }
    return e;
  }

 private:
  // for-loop iterables: no conditional expression (the 'if' is the loop filter)
  ExprP parse_cond_free() { return parse_or(); }

  ExprP parse_or() {
    ExprP e = parse_and();
    while (is_name("or")) {
      auto n = make(Expr::Or, next().pos);
      n->a = std::move(e);
      n->b = parse_and();
      e = std::move(n);
    }
    return e;
  }
  ExprP parse_and() {
    ExprP e = parse_not();
    while (is_name("and")) {
      auto n = make(Expr::And, next().pos);
      n->a = std::move(e);
      n->b = parse_not();
      e = std::move(n);
    }
    return e;
  }
  ExprP parse_not() {
    if (is_name("not")) {
      auto n = make(Expr::Not, next().pos);
      n->a = parse_not();
      return n;
    }
    return parse_compare();
  }
  ExprP parse_compare() {
    ExprP e = parse_math1();
    while (true) {
      std::string op;
      size_t pos = peek().pos;
      if (peek().t == Tok::Op && (peek().s == "==" || peek().s == "!=" || peek().s == "<" || peek().s == ">" ||
                                  peek().s == "<=" || peek().s == ">=")) {
        op = next().s;
      } else if (is_name("in")) {
        ++i_;
        op = "in";
      } else if (is_name("not") && is_name("in", 1)) {
        i_ += 2;
        op = "not in";
      } else {
        return e;
      }
      // chained comparisons: a < b < c == (a < b) and (b < c); rare in templates, evaluated pairwise
      auto n = make(Expr::Bin, pos);
      n->name = op;
      n->a = std::move(e);
      n->b = parse_math1();
      e = std::move(n);
    }
  }
  ExprP bin(ExprP a, const std::string& op, size_t pos, ExprP b) {
    auto n = make(Expr::Bin, pos);
    n->name = op;
    n->a = std::move(a);
    n->b = std::move(b);
    return n;
  }
  ExprP parse_math1() {
    ExprP e = parse_concat();
    while (is_op("+") || is_op("-")) {
      const Token& t = next();
      e = bin(std::move(e), t.s, t.pos, parse_concat());
    }
    return e;
  }
  ExprP parse_concat() {
    ExprP e = parse_math2();
    while (is_op("~")) {
      const Token& t = next();
      e = bin(std::move(e), "~", t.pos, parse_math2());
    }
    return e;
  }
  ExprP parse_math2() {
    ExprP e = parse_pow();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      const Token& t = next();
      e = bin(std::move(e), t.s, t.pos, parse_pow());
    }
    return e;
  }
  ExprP parse_pow() {
    ExprP e = parse_unary(true);
    while (is_op("**")) {
      const Token& t = next();
      e = bin(std::move(e), "**", t.pos, parse_unary(true));
    }
    return e;
  }
  ExprP parse_unary(bool with_filter) {
    ExprP e;
    if (is_op("-") || is_op("+")) {
      const Token& t = next();
      e = make(t.s == "-" ? Expr::Neg : Expr::Pos, t.pos);
      e->a = parse_unary(false);
    } else {
      e = parse_primary();
    }
    e = parse_postfix(std::move(e));
    if (with_filter) e = parse_filter_expr(std::move(e));
    return e;
  }
  ExprP parse_primary() {
    const Token& t = peek();
    if (t.t == Tok::Name) {
      ++i_;
      if (t.s == "true" || t.s == "True") return lit(Value::boolean(true), t.pos);
      if (t.s == "false" || t.s == "False") return lit(Value::boolean(false), t.pos);
      if (t.s == "none" || t.s == "None") return lit(Value::none(), t.pos);
      auto e = make(Expr::Name, t.pos);
      e->name = t.s;
      return e;
    }
    if (t.t == Tok::String) {
      std::string s;
      size_t pos = t.pos;
      while (peek().t == Tok::String) s += next().s;  // adjacent literals concatenate
      return lit(Value::str(std::move(s)), pos);
    }
    if (t.t == Tok::Int) { ++i_; return lit(Value::integer(t.i), t.pos); }
    if (t.t == Tok::Float) { ++i_; return lit(Value::real(t.f), t.pos); }
    if (is_op("(")) {
      size_t pos = next().pos;
      if (accept_op(")")) return make(Expr::ListLit, pos);  // empty tuple
      ExprP e = parse_expr();
      if (is_op(",")) {
        auto l = make(Expr::ListLit, pos);
        l->args.push_back(std::move(e));
        while (accept_op(",")) {
          if (is_op(")")) break;
          l->args.push_back(parse_expr());
        }
        e = std::move(l);
      }
      expect_op(")");
      return e;
    }
    if (is_op("[")) {
      auto l = make(Expr::ListLit, next().pos);
      while (!is_op("]")) {
        l->args.push_back(parse_expr());
        if (!accept_op(",")) break;
      }
      expect_op("]");
      return l;
    }
    if (is_op("{")) {
      auto d = make(Expr::DictLit, next().pos);
      while (!is_op("}")) {
        d->args.push_back(parse_expr());
        expect_op(":");
        d->args.push_back(parse_expr());
        if (!accept_op(",")) break;
      }
      expect_op("}");
      return d;
    }
    fail(t.pos, "unexpected " + describe(t) + " in expression");
  }
  ExprP lit(Value v, size_t pos) {
    auto e = make(Expr::Lit, pos);
    e->lit = std::move(v);
    return e;
  }
  void parse_call_args(Expr& call) {
    expect_op("(");
    while (!is_op(")")) {
      if (peek().t == Tok::Name && is_op("=", 1)) {
        std::string k = next().s;
        ++i_;
        call.kwargs.emplace_back(k, parse_expr());
      } else {
        call.args.push_back(parse_expr());
      }
      if (!accept_op(",")) break;
    }
    expect_op(")");
  }
  ExprP parse_postfix(ExprP e) {
    while (true) {
      if (is_op(".")) {
        size_t pos = next().pos;
        auto n = make(Expr::Attr, pos);
        if (peek().t == Tok::Int) n->name = next().s;
        else n->name = expect_name();
        n->a = std::move(e);
        e = std::move(n);
      } else if (is_op("[")) {
        size_t pos = next().pos;
        ExprP start, stop, step;
        bool is_slice = false;
        if (!is_op(":")) start = parse_expr();
        if (accept_op(":")) {
          is_slice = true;
          if (!is_op(":") && !is_op("]")) stop = parse_expr();
          if (accept_op(":")) {
            if (!is_op("]")) step = parse_expr();
          }
        }
        expect_op("]");
        auto n = make(is_slice ? Expr::Slice : Expr::Item, pos);
        n->a = std::move(e);
        n->b = std::move(start);
        n->c = std::move(stop);
        n->d = std::move(step);
        e = std::move(n);
      } else if (is_op("(")) {
        auto n = make(Expr::Call, e->pos);
        n->a = std::move(e);
        parse_call_args(*n);
        e = std::move(n);
      } else {
        return e;
      }
    }
  }
  ExprP parse_filter_expr(ExprP e) {
    while (true) {
      if (is_op("|")) {
        ++i_;
        auto n = make(Expr::Filter, peek().pos);
        n->name = expect_name();
        while (accept_op(".")) n->name += "." + expect_name();
        if (is_op("(")) parse_call_args(*n);
        n->a = std::move(e);
        e = std::move(n);
      } else if (is_name("is")) {
        ++i_;
        auto n = make(Expr::Test, peek().pos);
        if (accept_name("not")) n->negated = true;
        if (peek().t == Tok::Name) n->name = next().s;
        else fail(peek().pos, "expected a test name after 'is', got " + describe(peek()));
        if (is_op("(")) {
          parse_call_args(*n);
        } else if (is_op("[") || is_op("{") || peek().t == Tok::String || peek().t == Tok::Int || peek().t == Tok::Float ||
                   (peek().t == Tok::Name && !is_name("and") && !is_name("or") && !is_name("else") &&
                    !is_name("if") && !is_name("in") && !is_name("not") && !is_name("is"))) {
          n->args.push_back(parse_unary(false));  // `is divisibleby 3`, `is sameas none`
        }
        n->a = std::move(e);
        e = std::move(n);
      } else {
        return e;
      }
    }
  }

  std::vector<Token> t_;
  size_t i_ = 0;
};

// ---------------------------------------------------------------- evaluator
struct BreakSignal {};
struct ContinueSignal {};

struct Interp {
  const RenderLimits& limits;
  std::optional<std::time_t> now;
  std::vector<std::map<std::string, Value>> frames;
  std::string out;
  size_t iterations = 0;
  size_t depth = 0;
  int loop_depth = 0;

  Interp(const RenderLimits& l, std::optional<std::time_t> n) : limits(l), now(n) {}

  Value lookup(const std::string& name) const {
    for (auto it = frames.rbegin(); it != frames.rend(); ++it) {
      auto f = it->find(name);
      if (f != it->end()) return f->second;
    }
    return Value::undefined(name);
  }
  Value* lookup_ref(const std::string& name) {
    for (auto it = frames.rbegin(); it != frames.rend(); ++it) {
      auto f = it->find(name);
      if (f != it->end()) return &f->second;
    }
    return nullptr;
  }
  void emit(const std::string& s, size_t pos) {
    if (out.size() + s.size() > limits.max_output_bytes)
      fail(pos, "output limit exceeded (" + std::to_string(limits.max_output_bytes) + " bytes)");
    out += s;
  }
  void tick(size_t pos) {
    if (++iterations > limits.max_loop_iterations)
      fail(pos, "loop iteration limit exceeded (" + std::to_string(limits.max_loop_iterations) + ")");
  }

  // --- statements
  void exec(const Body& body) {
    for (auto& s : body) exec(*s);
  }
  void exec(const Stmt& s) {
    switch (s.kind) {
      case Stmt::Text: emit(s.text, s.pos); return;
      case Stmt::Output: {
        Value v = eval(*s.e);
        emit(to_str(v), s.pos);
        return;
      }
      case Stmt::If:
        for (size_t k = 0; k < s.exprs.size(); ++k)
          if (truthy(eval(*s.exprs[k]))) return exec(s.bodies[k]);
        if (s.bodies.size() > s.exprs.size()) exec(s.bodies.back());
        return;
      case Stmt::For: return exec_for(s);
      case Stmt::Set: {
        Value v = eval(*s.e);
        if (!s.attr.empty()) {
          Value* target = lookup_ref(s.text);
          if (!target || target->k != Value::Dict || !target->ns)
            fail(s.pos, "cannot assign attribute '" + s.attr + "' of '" + s.text + "': not a namespace()");
          for (auto& kv : *target->dict)
            if (kv.first == s.attr) { kv.second = std::move(v); return; }
          target->dict->emplace_back(s.attr, std::move(v));
          return;
        }
        if (s.names.size() == 1) {
          frames.back()[s.text] = std::move(v);
          return;
        }
        ValueList items = iterate(v, s.pos);
        if (items.size() != s.names.size())
          fail(s.pos, "set: cannot unpack " + std::to_string(items.size()) + " values into " +
                          std::to_string(s.names.size()) + " names");
        for (size_t k = 0; k < items.size(); ++k) frames.back()[s.names[k]] = items[k];
        return;
      }
      case Stmt::SetBlock: {
        std::string saved;
        saved.swap(out);
        exec(s.bodies[0]);
        saved.swap(out);
        frames.back()[s.text] = Value::str(std::move(saved));
        return;
      }
      case Stmt::Macro: {
        const Stmt* def = &s;
        frames.back()[s.text] = Value::func([def](Interp& in, Args& args, Kwargs& kwargs, size_t pos) {
          return in.call_macro(*def, args, kwargs, pos);
        });
        return;
      }
      case Stmt::Break:
        if (loop_depth == 0) fail(s.pos, "'break' outside of a for loop");
        throw BreakSignal{};
      case Stmt::Continue:
        if (loop_depth == 0) fail(s.pos, "'continue' outside of a for loop");
        throw ContinueSignal{};
      case Stmt::CallBlock: fail(s.pos, "unsupported: call blocks");
    }
  }

  Value call_macro(const Stmt& def, Args& args, Kwargs& kwargs, size_t pos) {
    if (depth + 1 > limits.max_call_depth)
      fail(pos, "macro call depth limit exceeded (" + std::to_string(limits.max_call_depth) + ")");
    if (args.size() > def.names.size()) fail(pos, "macro '" + def.text + "' takes at most " +
                                                      std::to_string(def.names.size()) + " arguments");
    std::map<std::string, Value> frame;
    for (size_t k = 0; k < def.names.size(); ++k) {
      if (k < args.size()) frame[def.names[k]] = args[k];
      else {
        bool found = false;
        for (auto& kv : kwargs)
          if (kv.first == def.names[k]) { frame[def.names[k]] = kv.second; found = true; }
        if (!found) frame[def.names[k]] = def.exprs[k] ? eval(*def.exprs[k]) : Value::undefined(def.names[k]);
      }
    }
    for (auto& kv : kwargs)
      if (std::find(def.names.begin(), def.names.end(), kv.first) == def.names.end())
        fail(pos, "macro '" + def.text + "' has no parameter '" + kv.first + "'");
    std::string saved;
    saved.swap(out);
    frames.push_back(std::move(frame));
    ++depth;
    int saved_loop = loop_depth;
    loop_depth = 0;
    try {
      exec(def.bodies[0]);
    } catch (...) {
      frames.pop_back();
      --depth;
      loop_depth = saved_loop;
      saved.swap(out);
      throw;
    }
    loop_depth = saved_loop;
    frames.pop_back();
    --depth;
    saved.swap(out);
    return Value::str(std::move(saved));
  }

  ValueList iterate(const Value& v, size_t pos) {
    switch (v.k) {
      case Value::List: return *v.list;
      case Value::Dict: {
        ValueList keys;
        for (auto& kv : *v.dict) keys.push_back(Value::str(kv.first));
        return keys;
      }
      case Value::Str: {
        ValueList chars;
        for (uint32_t c : decode_utf8(v.s)) {
          std::string s;
          append_utf8(s, c);
          chars.push_back(Value::str(s));
        }
        return chars;
      }
      case Value::Undefined: return {};
      default: fail(pos, std::string("'") + kind_name(v) + "' object is not iterable");
    }
  }

  void bind_targets(std::map<std::string, Value>& frame, const std::vector<std::string>& names, const Value& item,
                    size_t pos) {
    if (names.size() == 1) {
      frame[names[0]] = item;
      return;
    }
    ValueList parts = iterate(item, pos);
    if (parts.size() != names.size())
      fail(pos, "for: cannot unpack " + std::to_string(parts.size()) + " values into " + std::to_string(names.size()) +
                    " names");
    for (size_t k = 0; k < names.size(); ++k) frame[names[k]] = parts[k];
  }

  void exec_for(const Stmt& s) {
    Value seq = eval(*s.e);
    ValueList items = iterate(seq, s.e->pos);
    if (s.cond) {
      ValueList kept;
      for (auto& it : items) {
        tick(s.pos);
        frames.emplace_back();
        bind_targets(frames.back(), s.names, it, s.pos);
        bool keep = truthy(eval(*s.cond));
        frames.pop_back();
        if (keep) kept.push_back(it);
      }
      items.swap(kept);
    }
    if (items.empty()) {
      if (s.bodies.size() > 1) exec(s.bodies[1]);
      return;
    }
    size_t n = items.size();
    ++loop_depth;
    struct Guard {
      Interp& in;
      ~Guard() { --in.loop_depth; }
    } guard{*this};
    for (size_t k = 0; k < n; ++k) {
      tick(s.pos);
      frames.emplace_back();
      auto& frame = frames.back();
      bind_targets(frame, s.names, items[k], s.pos);
      ValueDict loop = {
          {"index", Value::integer(int64_t(k + 1))},
          {"index0", Value::integer(int64_t(k))},
          {"revindex", Value::integer(int64_t(n - k))},
          {"revindex0", Value::integer(int64_t(n - k - 1))},
          {"first", Value::boolean(k == 0)},
          {"last", Value::boolean(k + 1 == n)},
          {"length", Value::integer(int64_t(n))},
          {"depth", Value::integer(1)},
          {"depth0", Value::integer(0)},
          {"previtem", k > 0 ? items[k - 1] : Value::undefined("previtem")},
          {"nextitem", k + 1 < n ? items[k + 1] : Value::undefined("nextitem")},
      };
      Value lv = Value::make_dict(std::move(loop));
      size_t kk = k;
      lv.dict->emplace_back("cycle", Value::func([kk](Interp&, Args& args, Kwargs&, size_t pos) {
                              if (args.empty()) fail(pos, "loop.cycle() needs at least one argument");
                              return args[kk % args.size()];
                            }));
      frame["loop"] = std::move(lv);
      bool stop = false;
      try {
        exec(s.bodies[0]);
      } catch (const BreakSignal&) {
        stop = true;
      } catch (const ContinueSignal&) {
      } catch (...) {
        frames.pop_back();
        throw;
      }
      frames.pop_back();
      if (stop) break;
    }
  }

  // --- expressions
  Value eval(const Expr& e) {
    switch (e.kind) {
      case Expr::Lit: return e.lit;
      case Expr::Name: return lookup(e.name);
      case Expr::Attr: {
        Value obj = eval(*e.a);
        return get_attr(obj, e.name, e.pos, *e.a);
      }
      case Expr::Item: {
        Value obj = eval(*e.a);
        Value key = eval(*e.b);
        return get_item(obj, key, e.pos, *e.a);
      }
      case Expr::Slice: return slice(eval(*e.a), e);
      case Expr::Call: return call(e);
      case Expr::Filter: {
        Value v = eval(*e.a);
        Args args;
        Kwargs kwargs;
        eval_args(e, args, kwargs);
        return apply_filter(e.name, v, args, kwargs, e.pos);
      }
      case Expr::Test: {
        Value v = eval(*e.a);
        Args args;
        Kwargs kwargs;
        eval_args(e, args, kwargs);
        bool r = apply_test(e.name, v, args, e.pos);
        return Value::boolean(e.negated ? !r : r);
      }
      case Expr::Neg: case Expr::Pos: {
        Value v = eval(*e.a);
        if (v.k == Value::Int || v.k == Value::Bool) return Value::integer(e.kind == Expr::Neg ? -v.num() : v.num());
        if (v.k == Value::Float) return Value::real(e.kind == Expr::Neg ? -v.f : v.f);
        fail(e.pos, std::string("bad operand type for unary ") + (e.kind == Expr::Neg ? "-" : "+") + ": '" +
                        kind_name(v) + "'");
      }
      case Expr::Not: return Value::boolean(!truthy(eval(*e.a)));
      case Expr::And: {
        Value a = eval(*e.a);
        return truthy(a) ? eval(*e.b) : a;
      }
      case Expr::Or: {
        Value a = eval(*e.a);
        return truthy(a) ? a : eval(*e.b);
      }
      case Expr::Cond:
        if (truthy(eval(*e.b))) return eval(*e.a);
        return e.c ? eval(*e.c) : Value::undefined("else");
      case Expr::ListLit: {
        ValueList l;
        for (auto& x : e.args) l.push_back(eval(*x));
        return Value::make_list(std::move(l));
      }
      case Expr::DictLit: {
        ValueDict d;
        for (size_t k = 0; k + 1 < e.args.size(); k += 2) {
          Value key = eval(*e.args[k]);
          if (key.k != Value::Str) fail(e.args[k]->pos, "dict literal keys must be strings");
          Value v = eval(*e.args[k + 1]);
          bool replaced = false;
          for (auto& kv : d)
            if (kv.first == key.s) { kv.second = v; replaced = true; }
          if (!replaced) d.emplace_back(key.s, std::move(v));
        }
        return Value::make_dict(std::move(d));
      }
      case Expr::Bin: return binary(e);
    }
    fail(e.pos, "internal: unknown expression");
  }

  static std::string describe_expr(const Expr& e) {
    if (e.kind == Expr::Name) return "'" + e.name + "'";
    if (e.kind == Expr::Attr) return describe_expr(*e.a) + "." + e.name;
    return "value";
  }

  Value get_attr(const Value& obj, const std::string& name, size_t pos, const Expr& obj_expr) {
    if (obj.k == Value::Undefined) fail(pos, describe_expr(obj_expr) + " is undefined (reading attribute '" + name + "')");
    if (obj.k == Value::Dict) {
      if (const Value* v = obj.find(name)) return *v;
      return Value::undefined(name);
    }
    if (obj.k == Value::List && !name.empty() && std::isdigit(uint8_t(name[0])))
      return get_item(obj, Value::integer(std::stoll(name)), pos, obj_expr);
    return Value::undefined(name);
  }

  Value get_item(const Value& obj, const Value& key, size_t pos, const Expr& obj_expr) {
    if (obj.k == Value::Undefined) fail(pos, describe_expr(obj_expr) + " is undefined (subscripted with [...])");
    if (obj.k == Value::Dict) {
      if (key.k != Value::Str) return Value::undefined("item");
      if (const Value* v = obj.find(key.s)) return *v;
      return Value::undefined(key.s);
    }
    if (obj.k == Value::List || obj.k == Value::Str) {
      if (key.k != Value::Int && key.k != Value::Bool) {
        if (key.k == Value::Str) return Value::undefined(key.s);
        fail(pos, std::string("indices must be integers, not ") + kind_name(key));
      }
      int64_t idx = key.k == Value::Int ? key.i : int64_t(key.b);
      if (obj.k == Value::List) {
        int64_t n = int64_t(obj.list->size());
        if (idx < 0) idx += n;
        if (idx < 0 || idx >= n) return Value::undefined("index");
        return (*obj.list)[size_t(idx)];
      }
      auto cps = decode_utf8(obj.s);
      int64_t n = int64_t(cps.size());
      if (idx < 0) idx += n;
      if (idx < 0 || idx >= n) return Value::undefined("index");
      std::string s;
      append_utf8(s, cps[size_t(idx)]);
      return Value::str(s);
    }
    return Value::undefined("item");
  }

  Value slice(const Value& obj, const Expr& e) {
    auto opt = [&](const ExprP& x) -> std::optional<int64_t> {
      if (!x) return std::nullopt;
      Value v = eval(*x);
      if (v.k == Value::None || v.k == Value::Undefined) return std::nullopt;
      if (v.k != Value::Int) fail(x->pos, "slice indices must be integers");
      return v.i;
    };
    std::optional<int64_t> start = opt(e.b), stop = opt(e.c), step_o = opt(e.d);
    int64_t step = step_o.value_or(1);
    if (step == 0) fail(e.pos, "slice step cannot be zero");
    auto pick = [&](int64_t n) {
      std::vector<int64_t> idx;
      int64_t lo, hi;
      if (step > 0) {
        lo = start ? (*start < 0 ? std::max<int64_t>(*start + n, 0) : std::min(*start, n)) : 0;
        hi = stop ? (*stop < 0 ? std::max<int64_t>(*stop + n, 0) : std::min(*stop, n)) : n;
        for (int64_t k = lo; k < hi; k += step) idx.push_back(k);
      } else {
        lo = start ? (*start < 0 ? std::max<int64_t>(*start + n, -1) : std::min(*start, n - 1)) : n - 1;
        hi = stop ? (*stop < 0 ? std::max<int64_t>(*stop + n, -1) : std::min(*stop, n - 1)) : -1;
        for (int64_t k = lo; k > hi; k += step) idx.push_back(k);
      }
      return idx;
    };
    if (obj.k == Value::List) {
      ValueList out;
      for (int64_t k : pick(int64_t(obj.list->size()))) out.push_back((*obj.list)[size_t(k)]);
      return Value::make_list(std::move(out));
    }
    if (obj.k == Value::Str) {
      auto cps = decode_utf8(obj.s);
      std::vector<uint32_t> out;
      for (int64_t k : pick(int64_t(cps.size()))) out.push_back(cps[size_t(k)]);
      return Value::str(encode_utf8(out));
    }
    if (obj.k == Value::Undefined) fail(e.pos, describe_expr(*e.a) + " is undefined (sliced)");
    fail(e.pos, std::string("cannot slice a ") + kind_name(obj));
  }

  void eval_args(const Expr& e, Args& args, Kwargs& kwargs) {
    for (auto& a : e.args) args.push_back(eval(*a));
    for (auto& kv : e.kwargs) kwargs.emplace_back(kv.first, eval(*kv.second));
  }

  Value call(const Expr& e) {
    Args args;
    Kwargs kwargs;
    if (e.a->kind == Expr::Attr) {
      Value obj = eval(*e.a->a);
      eval_args(e, args, kwargs);
      const std::string& m = e.a->name;
      if (obj.k == Value::Str || obj.k == Value::List || (obj.k == Value::Dict && !obj.ns)) {
        bool handled = false;
        Value r = call_method(obj, m, args, kwargs, e.pos, handled);
        if (handled) return r;
      }
      Value f = get_attr(obj, m, e.a->pos, *e.a->a);
      if (f.k != Value::Func) {
        fail(e.pos, f.k == Value::Undefined ? std::string("unknown method '") + m + "' of " + kind_name(obj)
                                            : "'" + m + "' is not callable");
      }
      return (*f.fn)(*this, args, kwargs, e.pos);
    }
    Value f = eval(*e.a);
    eval_args(e, args, kwargs);
    if (f.k != Value::Func) {
      if (f.k == Value::Undefined && e.a->kind == Expr::Name)
        fail(e.pos, "unknown function '" + e.a->name + "'");
      fail(e.pos, std::string("'") + kind_name(f) + "' object is not callable");
    }
    return (*f.fn)(*this, args, kwargs, e.pos);
  }

  static std::string need_str(const Value& v, const char* what, size_t pos) {
    if (v.k != Value::Str) fail(pos, std::string(what) + ": expected a string, got " + kind_name(v));
    return v.s;
  }

  static std::string strip_chars(const std::string& s, const Value* chars, bool left, bool right) {
    auto cps = decode_utf8(s);
    std::vector<uint32_t> set;
    bool ws = !chars || chars->k == Value::None || chars->k == Value::Undefined;
    if (!ws) set = decode_utf8(chars->s);
    auto strip = [&](uint32_t c) { return ws ? is_space_cp(c) : std::find(set.begin(), set.end(), c) != set.end(); };
    size_t b = 0, en = cps.size();
    if (left)
      while (b < en && strip(cps[b])) ++b;
    if (right)
      while (en > b && strip(cps[en - 1])) --en;
    return encode_utf8(std::vector<uint32_t>(cps.begin() + long(b), cps.begin() + long(en)));
  }

  static ValueList split(const std::string& s, const Value* sep, int64_t maxsplit, size_t pos) {
    ValueList out;
    if (!sep || sep->k == Value::None) {
      auto cps = decode_utf8(s);
      size_t k = 0, n = cps.size();
      int64_t splits = 0;
      while (true) {
        while (k < n && is_space_cp(cps[k])) ++k;
        if (k >= n) break;
        if (maxsplit >= 0 && splits >= maxsplit) {
          size_t e = n;
          while (e > k && is_space_cp(cps[e - 1])) --e;
          out.push_back(Value::str(encode_utf8(std::vector<uint32_t>(cps.begin() + long(k), cps.begin() + long(e)))));
          break;
        }
        size_t st = k;
        while (k < n && !is_space_cp(cps[k])) ++k;
        out.push_back(Value::str(encode_utf8(std::vector<uint32_t>(cps.begin() + long(st), cps.begin() + long(k)))));
        ++splits;
      }
      return out;
    }
    std::string d = need_str(*sep, "split", pos);
    if (d.empty()) fail(pos, "split: empty separator");
    size_t st = 0;
    int64_t splits = 0;
    while (true) {
      size_t f = (maxsplit >= 0 && splits >= maxsplit) ? std::string::npos : s.find(d, st);
      if (f == std::string::npos) {
        out.push_back(Value::str(s.substr(st)));
        return out;
      }
      out.push_back(Value::str(s.substr(st, f - st)));
      st = f + d.size();
      ++splits;
    }
  }

  static std::string replace_all(const std::string& s, const std::string& a, const std::string& b, int64_t count) {
    if (a.empty()) {  // Python inserts between characters
      auto cps = decode_utf8(s);
      std::string out;
      int64_t done = 0;
      for (size_t k = 0; k <= cps.size(); ++k) {
        if (count < 0 || done < count) { out += b; ++done; }
        if (k < cps.size()) append_utf8(out, cps[k]);
      }
      return out;
    }
    std::string out;
    size_t st = 0;
    int64_t done = 0;
    while (count < 0 || done < count) {
      size_t f = s.find(a, st);
      if (f == std::string::npos) break;
      out.append(s, st, f - st);
      out += b;
      st = f + a.size();
      ++done;
    }
    out.append(s, st, std::string::npos);
    return out;
  }

  static const Value* arg(Args& args, Kwargs& kwargs, size_t idx, const char* name) {
    if (idx < args.size()) return &args[idx];
    for (auto& kv : kwargs)
      if (kv.first == name) return &kv.second;
    return nullptr;
  }

  static std::string case_map(const std::string& s, bool upper) {
    std::string r = s;
    for (auto& c : r) c = char(upper ? std::toupper(uint8_t(c)) : std::tolower(uint8_t(c)));
    return r;
  }
  static std::string title_case(const std::string& s) {
    std::string r = s;
    bool start = true;
    for (auto& c : r) {
      if (std::isalpha(uint8_t(c))) {
        c = char(start ? std::toupper(uint8_t(c)) : std::tolower(uint8_t(c)));
        start = false;
      } else {
        start = !(uint8_t(c) >= 0x80);
      }
    }
    return r;
  }

  Value call_method(const Value& obj, const std::string& m, Args& args, Kwargs& kw, size_t pos, bool& handled) {
    handled = true;
    if (obj.k == Value::Str) {
      const std::string& s = obj.s;
      if (m == "strip" || m == "lstrip" || m == "rstrip") {
        const Value* c = arg(args, kw, 0, "chars");
        if (c && c->k != Value::None && c->k != Value::Str) fail(pos, m + ": chars must be a string");
        return Value::str(strip_chars(s, c, m != "rstrip", m != "lstrip"));
      }
      if (m == "split" || m == "rsplit") {
        const Value* sep = arg(args, kw, 0, "sep");
        const Value* mx = arg(args, kw, 1, "maxsplit");
        int64_t maxsplit = mx && mx->k == Value::Int ? mx->i : -1;
        if (m == "rsplit" && maxsplit >= 0) fail(pos, "unsupported: rsplit with maxsplit");
        return Value::make_list(split(s, sep, maxsplit, pos));
      }
      if (m == "startswith" || m == "endswith") {
        const Value* p = arg(args, kw, 0, "prefix");
        if (!p) fail(pos, m + "() takes one argument");
        auto test = [&](const std::string& x) {
          return m == "startswith" ? s.compare(0, x.size(), x) == 0 && s.size() >= x.size()
                                   : s.size() >= x.size() && s.compare(s.size() - x.size(), x.size(), x) == 0;
        };
        if (p->k == Value::List) {
          for (auto& x : *p->list)
            if (test(need_str(x, m.c_str(), pos))) return Value::boolean(true);
          return Value::boolean(false);
        }
        return Value::boolean(test(need_str(*p, m.c_str(), pos)));
      }
      if (m == "upper" || m == "lower") return Value::str(case_map(s, m == "upper"));
      if (m == "title") return Value::str(title_case(s));
      if (m == "capitalize") {
        std::string r = case_map(s, false);
        if (!r.empty()) r[0] = char(std::toupper(uint8_t(r[0])));
        return Value::str(r);
      }
      if (m == "replace") {
        const Value* a = arg(args, kw, 0, "old");
        const Value* b = arg(args, kw, 1, "new");
        const Value* c = arg(args, kw, 2, "count");
        if (!a || !b) fail(pos, "replace() takes two arguments");
        return Value::str(replace_all(s, need_str(*a, "replace", pos), need_str(*b, "replace", pos),
                                      c && c->k == Value::Int ? c->i : -1));
      }
      if (m == "find" || m == "count") {
        const Value* a = arg(args, kw, 0, "sub");
        if (!a) fail(pos, m + "() takes one argument");
        std::string sub = need_str(*a, m.c_str(), pos);
        if (m == "find") {
          size_t f = s.find(sub);
          if (f == std::string::npos) return Value::integer(-1);
          return Value::integer(int64_t(decode_utf8(s.substr(0, f)).size()));
        }
        if (sub.empty()) return Value::integer(int64_t(decode_utf8(s).size() + 1));
        int64_t n = 0;
        for (size_t f = s.find(sub); f != std::string::npos; f = s.find(sub, f + sub.size())) ++n;
        return Value::integer(n);
      }
      if (m == "join") {
        const Value* a = arg(args, kw, 0, "iterable");
        if (!a) fail(pos, "join() takes one argument");
        std::string r;
        bool first = true;
        for (auto& x : iterate(*a, pos)) {
          if (!first) r += s;
          first = false;
          r += need_str(x, "join", pos);
        }
        return Value::str(r);
      }
      if (m == "isdigit" || m == "isspace" || m == "isalpha" || m == "isalnum" || m == "isupper" || m == "islower") {
        if (s.empty()) return Value::boolean(false);
        bool ok = true, cased = false;
        for (char ch : s) {
          uint8_t c = uint8_t(ch);
          if (m == "isdigit") ok &= bool(std::isdigit(c));
          else if (m == "isspace") ok &= bool(std::isspace(c));
          else if (m == "isalpha") ok &= bool(std::isalpha(c));
          else if (m == "isalnum") ok &= bool(std::isalnum(c));
          else if (m == "isupper") { ok &= !std::islower(c); cased |= bool(std::isupper(c)); }
          else { ok &= !std::isupper(c); cased |= bool(std::islower(c)); }
        }
        if (m == "isupper" || m == "islower") ok &= cased;
        return Value::boolean(ok);
      }
      if (m == "format") fail(pos, "unsupported string method 'format'");
    } else if (obj.k == Value::Dict) {
      if (m == "items" || m == "keys" || m == "values") {
        ValueList out;
        for (auto& kv : *obj.dict) {
          if (m == "items") out.push_back(Value::make_list({Value::str(kv.first), kv.second}));
          else if (m == "keys") out.push_back(Value::str(kv.first));
          else out.push_back(kv.second);
        }
        return Value::make_list(std::move(out));
      }
      if (m == "get") {
        const Value* k = arg(args, kw, 0, "key");
        const Value* d = arg(args, kw, 1, "default");
        if (!k) fail(pos, "get() takes at least one argument");
        if (k->k == Value::Str)
          if (const Value* v = obj.find(k->s)) return *v;
        return d ? *d : Value::none();
      }
    } else if (obj.k == Value::List) {
      if (m == "index" || m == "count") {
        const Value* x = arg(args, kw, 0, "value");
        if (!x) fail(pos, m + "() takes one argument");
        int64_t n = 0;
        for (size_t k = 0; k < obj.list->size(); ++k) {
          if (equal((*obj.list)[k], *x)) {
            if (m == "index") return Value::integer(int64_t(k));
            ++n;
          }
        }
        if (m == "index") fail(pos, "index(): value not in list");
        return Value::integer(n);
      }
      if (m == "append" || m == "pop" || m == "extend" || m == "insert" || m == "remove" || m == "clear")
        fail(pos, "unsupported: list." + m + "() (lists are immutable in chat templates)");
    }
    handled = false;
    return Value();
  }

  Value binary(const Expr& e) {
    const std::string& op = e.name;
    Value a = eval(*e.a);
    Value b = eval(*e.b);
    if (op == "==") return Value::boolean(equal(a, b));
    if (op == "!=") return Value::boolean(!equal(a, b));
    if (op == "in" || op == "not in") {
      bool r;
      if (b.k == Value::Str) r = a.k == Value::Str ? b.s.find(a.s) != std::string::npos
                                                   : (fail(e.pos, "'in <string>' requires a string on the left"), false);
      else if (b.k == Value::List) r = std::any_of(b.list->begin(), b.list->end(), [&](const Value& x) { return equal(x, a); });
      else if (b.k == Value::Dict) r = a.k == Value::Str && b.find(a.s) != nullptr;
      else if (b.k == Value::Undefined) fail(e.pos, describe_expr(*e.b) + " is undefined (right side of 'in')");
      else fail(e.pos, std::string("argument of type '") + kind_name(b) + "' is not iterable");
      return Value::boolean(op == "in" ? r : !r);
    }
    if (op == "<" || op == ">" || op == "<=" || op == ">=") {
      int c;
      if (a.is_num() && b.is_num()) c = a.num() < b.num() ? -1 : a.num() > b.num() ? 1 : 0;
      else if (a.k == Value::Str && b.k == Value::Str) c = a.s.compare(b.s) < 0 ? -1 : a.s == b.s ? 0 : 1;
      else fail(e.pos, "'" + op + "' not supported between " + kind_name(a) + " and " + kind_name(b));
      return Value::boolean(op == "<" ? c < 0 : op == ">" ? c > 0 : op == "<=" ? c <= 0 : c >= 0);
    }
    if (op == "~") return Value::str(to_str(a) + to_str(b));
    if (op == "+") {
      if (a.k == Value::Str && b.k == Value::Str) return Value::str(a.s + b.s);
      if (a.k == Value::List && b.k == Value::List) {
        ValueList l = *a.list;
        l.insert(l.end(), b.list->begin(), b.list->end());
        return Value::make_list(std::move(l));
      }
    }
    if (op == "%" && a.k == Value::Str) fail(e.pos, "unsupported: printf-style string formatting with '%'");
    if (op == "*" && ((a.k == Value::Str && b.k == Value::Int) || (a.k == Value::Int && b.k == Value::Str))) {
      const Value& s = a.k == Value::Str ? a : b;
      int64_t n = a.k == Value::Int ? a.i : b.i;
      if (n > 0 && s.s.size() * size_t(n) > limits.max_output_bytes) fail(e.pos, "string repetition too large");
      std::string r;
      for (int64_t k = 0; k < n; ++k) r += s.s;
      return Value::str(r);
    }
    if (a.is_num() && b.is_num()) {
      bool ints = a.k != Value::Float && b.k != Value::Float;
      int64_t x = a.k == Value::Int ? a.i : int64_t(a.b), y = b.k == Value::Int ? b.i : int64_t(b.b);
      double fx = a.num(), fy = b.num();
      if (op == "+") return ints ? Value::integer(x + y) : Value::real(fx + fy);
      if (op == "-") return ints ? Value::integer(x - y) : Value::real(fx - fy);
      if (op == "*") return ints ? Value::integer(x * y) : Value::real(fx * fy);
      if (op == "/") {
        if (fy == 0) fail(e.pos, "division by zero");
        return Value::real(fx / fy);
      }
      if (op == "//" || op == "%") {
        if (fy == 0) fail(e.pos, op == "%" ? "modulo by zero" : "integer division by zero");
        if (ints) {
          int64_t q = x / y, r = x % y;
          if (r != 0 && ((r < 0) != (y < 0))) { --q; r += y; }
          return Value::integer(op == "//" ? q : r);
        }
        double q = std::floor(fx / fy);
        return Value::real(op == "//" ? q : fx - q * fy);
      }
      if (op == "**") {
        if (ints && y >= 0) {
          int64_t r = 1;
          for (int64_t k = 0; k < y && k < 64; ++k) r *= x;
          return Value::integer(r);
        }
        return Value::real(std::pow(fx, fy));
      }
    }
    if (a.k == Value::Undefined || b.k == Value::Undefined) {
      const Expr& ue = a.k == Value::Undefined ? *e.a : *e.b;
      fail(e.pos, describe_expr(ue) + " is undefined (operand of '" + op + "')");
    }
    fail(e.pos, "unsupported operand types for '" + op + "': " + kind_name(a) + " and " + kind_name(b));
  }

  // --- filters
  Value apply_filter(const std::string& name, const Value& v, Args& args, Kwargs& kw, size_t pos) {
    auto str_of = [&](const Value& x) { return to_str(x); };
    if (name == "trim") {
      const Value* c = arg(args, kw, 0, "chars");
      return Value::str(strip_chars(str_of(v), c, true, true));
    }
    if (name == "length" || name == "count") {
      if (v.k == Value::Str) return Value::integer(int64_t(decode_utf8(v.s).size()));
      if (v.k == Value::List) return Value::integer(int64_t(v.list->size()));
      if (v.k == Value::Dict) return Value::integer(int64_t(v.dict->size()));
      if (v.k == Value::Undefined) return Value::integer(0);
      fail(pos, std::string("length: object of type '") + kind_name(v) + "' has no len()");
    }
    if (name == "tojson") {
      const Value* ind = arg(args, kw, 0, "indent");
      int indent = ind && ind->k == Value::Int ? int(ind->i) : -1;
      const Value* seps = arg(args, kw, 99, "separators");
      std::string item_sep = indent >= 0 ? "," : ", ", key_sep = ": ";
      if (seps && seps->k == Value::List && seps->list->size() == 2) {
        item_sep = need_str((*seps->list)[0], "tojson separators", pos);
        key_sep = need_str((*seps->list)[1], "tojson separators", pos);
      }
      std::string out;
      to_json_text(out, v, indent, 0, item_sep, key_sep, pos);
      return Value::str(out);
    }
    if (name == "string") return Value::str(str_of(v));
    if (name == "safe" || name == "e" || name == "escape" || name == "forceescape") {
      if (name == "safe") return v;
      std::string s = str_of(v), r;
      for (char c : s) {
        switch (c) {
          case '&': r += "&amp;"; break;
          case '<': r += "&lt;"; break;
          case '>': r += "&gt;"; break;
          case '"': r += "&#34;"; break;
          case '\'': r += "&#39;"; break;
          default: r += c;
        }
      }
      return Value::str(r);
    }
    if (name == "lower" || name == "upper") return Value::str(case_map(str_of(v), name == "upper"));
    if (name == "title") return Value::str(title_case(str_of(v)));
    if (name == "capitalize") {
      std::string r = case_map(str_of(v), false);
      if (!r.empty()) r[0] = char(std::toupper(uint8_t(r[0])));
      return Value::str(r);
    }
    if (name == "replace") {
      const Value* a = arg(args, kw, 0, "old");
      const Value* b = arg(args, kw, 1, "new");
      const Value* c = arg(args, kw, 2, "count");
      if (!a || !b) fail(pos, "replace filter takes two arguments");
      return Value::str(replace_all(str_of(v), str_of(*a), str_of(*b), c && c->k == Value::Int ? c->i : -1));
    }
    if (name == "join") {
      const Value* sep = arg(args, kw, 0, "d");
      const Value* attr = arg(args, kw, 1, "attribute");
      std::string d = sep ? str_of(*sep) : "", r;
      bool first = true;
      for (auto& x : iterate(v, pos)) {
        if (!first) r += d;
        first = false;
        r += str_of(attr ? attribute_of(x, *attr, pos) : x);
      }
      return Value::str(r);
    }
    if (name == "first" || name == "last") {
      ValueList items = iterate(v, pos);
      if (items.empty()) return Value::undefined(name);
      return name == "first" ? items.front() : items.back();
    }
    if (name == "default" || name == "d") {
      const Value* dv = arg(args, kw, 0, "default_value");
      const Value* boolean = arg(args, kw, 1, "boolean");
      bool use = v.k == Value::Undefined || (boolean && truthy(*boolean) && !truthy(v));
      if (use) return dv ? *dv : Value::str("");
      return v;
    }
    if (name == "items") {
      if (v.k == Value::Undefined) return Value::make_list();
      if (v.k != Value::Dict) fail(pos, std::string("items: expected a mapping, got ") + kind_name(v));
      bool h;
      Args a;
      Kwargs k;
      return call_method(v, "items", a, k, pos, h);
    }
    if (name == "list") return Value::make_list(iterate(v, pos));
    if (name == "reverse") {
      if (v.k == Value::Str) {
        auto cps = decode_utf8(v.s);
        std::reverse(cps.begin(), cps.end());
        return Value::str(encode_utf8(cps));
      }
      ValueList l = iterate(v, pos);
      std::reverse(l.begin(), l.end());
      return Value::make_list(std::move(l));
    }
    if (name == "selectattr" || name == "rejectattr" || name == "select" || name == "reject") {
      bool by_attr = name == "selectattr" || name == "rejectattr";
      bool want = name == "selectattr" || name == "select";
      size_t k0 = 0;
      Value attr;
      if (by_attr) {
        if (args.empty()) fail(pos, name + " needs an attribute name");
        attr = args[0];
        k0 = 1;
      }
      std::string test = args.size() > k0 ? need_str(args[k0], name.c_str(), pos) : "";
      Args targs(args.begin() + long(std::min(args.size(), k0 + 1)), args.end());
      ValueList out;
      for (auto& x : iterate(v, pos)) {
        tick(pos);
        Value subject = by_attr ? attribute_of(x, attr, pos) : x;
        bool r = test.empty() ? truthy(subject) : apply_test(test, subject, targs, pos);
        if (r == want) out.push_back(x);
      }
      return Value::make_list(std::move(out));
    }
    if (name == "map") {
      const Value* attr = arg(args, kw, 99, "attribute");
      ValueList out;
      if (attr) {
        const Value* dflt = arg(args, kw, 99, "default");
        for (auto& x : iterate(v, pos)) {
          Value r = attribute_of(x, *attr, pos);
          out.push_back(r.k == Value::Undefined && dflt ? *dflt : r);
        }
        return Value::make_list(std::move(out));
      }
      if (args.empty()) fail(pos, "map needs a filter name or attribute=");
      std::string f = need_str(args[0], "map", pos);
      Args fargs(args.begin() + 1, args.end());
      for (auto& x : iterate(v, pos)) {
        Args a = fargs;
        Kwargs k;
        out.push_back(apply_filter(f, x, a, k, pos));
      }
      return Value::make_list(std::move(out));
    }
    if (name == "unique") {
      ValueList out;
      for (auto& x : iterate(v, pos))
        if (std::none_of(out.begin(), out.end(), [&](const Value& y) { return equal(x, y); })) out.push_back(x);
      return Value::make_list(std::move(out));
    }
    if (name == "indent") {
      const Value* w = arg(args, kw, 0, "width");
      const Value* first = arg(args, kw, 1, "first");
      const Value* blank = arg(args, kw, 2, "blank");
      std::string pad = w ? (w->k == Value::Str ? w->s : std::string(size_t(std::max<int64_t>(0, w->i)), ' ')) : "    ";
      std::string s = str_of(v), r;
      std::vector<std::string> lines;
      size_t st = 0;
      while (true) {
        size_t f = s.find('\n', st);
        if (f == std::string::npos) { lines.push_back(s.substr(st)); break; }
        lines.push_back(s.substr(st, f - st));
        st = f + 1;
      }
      for (size_t k = 0; k < lines.size(); ++k) {
        if (k) r += '\n';
        bool is_blank = lines[k].find_first_not_of(" \t\r\f\v") == std::string::npos;
        bool do_pad = k == 0 ? (first && truthy(*first)) : (!is_blank || (blank && truthy(*blank)));
        if (do_pad) r += pad;
        r += lines[k];
      }
      return Value::str(r);
    }
    if (name == "int") {
      if (v.k == Value::Int) return v;
      if (v.k == Value::Float) return Value::integer(int64_t(v.f));
      if (v.k == Value::Bool) return Value::integer(v.b);
      if (v.k == Value::Str) {
        char* end = nullptr;
        long long x = std::strtoll(v.s.c_str(), &end, 10);
        if (end && *end == 0 && !v.s.empty()) return Value::integer(x);
      }
      const Value* d = arg(args, kw, 0, "default");
      return d ? *d : Value::integer(0);
    }
    if (name == "float") {
      if (v.is_num()) return Value::real(v.num());
      if (v.k == Value::Str) {
        char* end = nullptr;
        double x = std::strtod(v.s.c_str(), &end);
        if (end && *end == 0 && !v.s.empty()) return Value::real(x);
      }
      const Value* d = arg(args, kw, 0, "default");
      return d ? *d : Value::real(0);
    }
    if (name == "abs") {
      if (v.k == Value::Int) return Value::integer(v.i < 0 ? -v.i : v.i);
      if (v.k == Value::Float) return Value::real(std::fabs(v.f));
      fail(pos, std::string("abs: expected a number, got ") + kind_name(v));
    }
    if (name == "dictsort") {
      if (v.k != Value::Dict) fail(pos, std::string("dictsort: expected a mapping, got ") + kind_name(v));
      ValueDict d = *v.dict;
      std::stable_sort(d.begin(), d.end(), [](auto& x, auto& y) { return x.first < y.first; });
      ValueList out;
      for (auto& kv : d) out.push_back(Value::make_list({Value::str(kv.first), kv.second}));
      return Value::make_list(std::move(out));
    }
    fail(pos, "unsupported filter '" + name + "'");
  }

  Value attribute_of(const Value& x, const Value& attr, size_t pos) {
    if (attr.k == Value::Int) return get_item(x, attr, pos, Expr{});
    std::string path = need_str(attr, "attribute", pos);
    Value cur = x;
    size_t st = 0;
    while (true) {
      size_t dot = path.find('.', st);
      std::string part = path.substr(st, dot == std::string::npos ? std::string::npos : dot - st);
      if (cur.k == Value::Dict) {
        const Value* f = cur.find(part);
        cur = f ? *f : Value::undefined(part);
      } else if (cur.k == Value::List && !part.empty() && std::isdigit(uint8_t(part[0]))) {
        cur = get_item(cur, Value::integer(std::stoll(part)), pos, Expr{});
      } else {
        return Value::undefined(part);
      }
      if (dot == std::string::npos) return cur;
      st = dot + 1;
    }
  }

  // --- tests
  bool apply_test(const std::string& name, const Value& v, const Args& args, size_t pos) {
    auto need_arg = [&]() -> const Value& {
      if (args.empty()) fail(pos, "test '" + name + "' needs an argument");
      return args[0];
    };
    if (name == "defined") return v.k != Value::Undefined;
    if (name == "undefined") return v.k == Value::Undefined;
    if (name == "none") return v.k == Value::None;
    if (name == "string") return v.k == Value::Str;
    if (name == "number") return v.k == Value::Int || v.k == Value::Float;
    if (name == "integer") return v.k == Value::Int;
    if (name == "float") return v.k == Value::Float;
    if (name == "boolean") return v.k == Value::Bool;
    if (name == "true") return v.k == Value::Bool && v.b;
    if (name == "false") return v.k == Value::Bool && !v.b;
    if (name == "mapping") return v.k == Value::Dict;
    if (name == "iterable") return v.k == Value::List || v.k == Value::Dict || v.k == Value::Str;
    if (name == "sequence") return v.k == Value::List || v.k == Value::Dict || v.k == Value::Str;
    if (name == "callable") return v.k == Value::Func;
    if (name == "equalto" || name == "eq" || name == "==" || name == "sameas") return equal(v, need_arg());
    if (name == "ne" || name == "!=") return !equal(v, need_arg());
    if (name == "odd" || name == "even") {
      if (v.k != Value::Int) fail(pos, "test '" + name + "' needs an integer");
      return (((v.i % 2) + 2) % 2 == 1) == (name == "odd");
    }
    if (name == "divisibleby") {
      const Value& d = need_arg();
      if (v.k != Value::Int || d.k != Value::Int || d.i == 0) fail(pos, "divisibleby needs non-zero integers");
      return v.i % d.i == 0;
    }
    if (name == "lower" || name == "upper") {
      if (v.k != Value::Str) return false;
      return case_map(v.s, name == "upper") == v.s;
    }
    if (name == "in") {
      const Value& c = need_arg();
      if (c.k == Value::List) return std::any_of(c.list->begin(), c.list->end(), [&](const Value& x) { return equal(x, v); });
      if (c.k == Value::Str) return v.k == Value::Str && c.s.find(v.s) != std::string::npos;
      if (c.k == Value::Dict) return v.k == Value::Str && c.find(v.s) != nullptr;
      return false;
    }
    if (name == "gt" || name == "lt" || name == "ge" || name == "le" || name == "greaterthan" || name == "lessthan") {
      const Value& o = need_arg();
      if (!v.is_num() || !o.is_num()) fail(pos, "test '" + name + "' needs numbers");
      double a = v.num(), b = o.num();
      if (name == "gt" || name == "greaterthan") return a > b;
      if (name == "lt" || name == "lessthan") return a < b;
      return name == "ge" ? a >= b : a <= b;
    }
    fail(pos, "unsupported test '" + name + "'");
  }
};

void line_col(const std::string& src, size_t pos, size_t& line, size_t& col) {
  line = 1;
  col = 1;
  for (size_t k = 0; k < pos && k < src.size(); ++k) {
    if (src[k] == '\n') { ++line; col = 1; }
    else if ((uint8_t(src[k]) & 0xC0) != 0x80) ++col;
  }
}

std::string where(const std::string& name, const std::string& src, size_t pos) {
  size_t line, col;
  line_col(src, pos, line, col);
  return name + ":" + std::to_string(line) + ":" + std::to_string(col);
}

void install_globals(std::map<std::string, Value>& g) {
  g["raise_exception"] = Value::func([](Interp&, Args& args, Kwargs&, size_t pos) -> Value {
    throw RaiseError{args.empty() ? std::string("raise_exception() called") : to_str(args[0]), pos};
  });
  g["strftime_now"] = Value::func([](Interp& in, Args& args, Kwargs&, size_t pos) -> Value {
    if (args.empty() || args[0].k != Value::Str) fail(pos, "strftime_now(format) needs a format string");
    std::time_t t = in.now ? *in.now : std::time(nullptr);
    std::tm tm{};
    localtime_r(&t, &tm);
    char buf[512];
    size_t n = std::strftime(buf, sizeof buf, args[0].s.c_str(), &tm);
    return Value::str(std::string(buf, n));
  });
  g["namespace"] = Value::func([](Interp&, Args& args, Kwargs& kwargs, size_t pos) -> Value {
    Value ns = Value::make_dict();
    ns.ns = true;
    for (auto& a : args) {
      if (a.k != Value::Dict) fail(pos, "namespace() positional arguments must be mappings");
      for (auto& kv : *a.dict) ns.dict->push_back(kv);
    }
    for (auto& kv : kwargs) ns.dict->push_back(kv);
    return ns;
  });
  g["range"] = Value::func([](Interp& in, Args& args, Kwargs&, size_t pos) -> Value {
    int64_t a = 0, b = 0, st = 1;
    for (auto& x : args)
      if (x.k != Value::Int) fail(pos, "range() arguments must be integers");
    if (args.size() == 1) b = args[0].i;
    else if (args.size() >= 2) { a = args[0].i; b = args[1].i; if (args.size() > 2) st = args[2].i; }
    else fail(pos, "range() needs 1 to 3 arguments");
    if (st == 0) fail(pos, "range() step must not be zero");
    ValueList l;
    for (int64_t k = a; st > 0 ? k < b : k > b; k += st) {
      in.tick(pos);
      l.push_back(Value::integer(k));
    }
    return Value::make_list(std::move(l));
  });
  g["dict"] = Value::func([](Interp&, Args& args, Kwargs& kwargs, size_t pos) -> Value {
    Value d = Value::make_dict();
    for (auto& a : args) {
      if (a.k != Value::Dict) fail(pos, "dict() positional arguments must be mappings");
      for (auto& kv : *a.dict) d.dict->push_back(kv);
    }
    for (auto& kv : kwargs) d.dict->push_back(kv);
    return d;
  });
}

}  // namespace

Result<std::shared_ptr<const Program>> parse(const std::string& source, const std::string& name) {
  try {
    Lexer lx(source);
    Parser ps(lx.run());
    auto prog = std::make_shared<Program>();
    prog->body = ps.parse_template();
    prog->source = source;
    prog->name = name;
    return std::shared_ptr<const Program>(std::move(prog));
  } catch (const TemplateError& e) {
    return Status::parse(where(name, source, e.pos) + ": " + e.msg);
  }
}

Result<std::string> render(const Program& program, const ojson& variables, const RenderLimits& limits,
                           std::optional<std::time_t> now) {
  Interp in(limits, now);
  in.frames.emplace_back();
  install_globals(in.frames.back());
  in.frames.emplace_back();
  if (variables.is_object())
    for (auto it = variables.begin(); it != variables.end(); ++it) in.frames.back()[it.key()] = from_json(it.value());
  in.frames.emplace_back();  // template-level `set`s
  try {
    in.exec(program.body);
  } catch (const TemplateError& e) {
    return Status::invalid(where(program.name, program.source, e.pos) + ": " + e.msg);
  } catch (const RaiseError& e) {
    return Status::invalid(where(program.name, program.source, e.pos) + ": raise_exception: " + e.msg);
  } catch (const BreakSignal&) {
    return Status::invalid(program.name + ": 'break' outside of a for loop");
  } catch (const ContinueSignal&) {
    return Status::invalid(program.name + ": 'continue' outside of a for loop");
  }
  return std::move(in.out);
}

}  // namespace crucible::jinja
