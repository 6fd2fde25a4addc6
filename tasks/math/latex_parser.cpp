// LaTeX answer parser (see latex_parser.h): Lexer (string -> tokens), Parser (tokens -> Value).
// Internally a ParseError exception unwinds the recursive descent; parse_answer() catches it and
// every GiNaC/CLN/std exception, so nothing escapes.
#include "tasks/math/latex_parser.h"

#include <cln/integer.h>
#include <cln/rational.h>
#include <cln/real.h>

#include <cctype>
#include <cmath>
#include <stdexcept>
#include <utility>
#include <vector>

namespace crucible::math {
namespace {

using GiNaC::ex;
using GiNaC::numeric;

struct ParseError : std::runtime_error {
  using std::runtime_error::runtime_error;
};
struct LimitError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// ---------------------------------------------------------------------------------------------
// Lexer
// ---------------------------------------------------------------------------------------------

enum class Tok { kEnd, kNum, kIdent, kCmd, kOp, kRel, kText, kSep };

struct Token {
  Tok kind = Tok::kEnd;
  std::string s;         // number digits ("12.5"), letter, command name, op char, text content
  RelOp rel = RelOp::kEq;
  bool space_before = false;
  bool decimal = false;  // number had a '.' or an exponent
  int sci_exp = 0;       // number: value = s * 10^sci_exp
};

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

bool in_list(const std::string& s, std::initializer_list<const char*> names) {
  for (const char* n : names)
    if (s == n) return true;
  return false;
}

class Lexer {
 public:
  Lexer(std::string_view t, int depth_budget) : t_(t), depth_budget_(depth_budget) {}

  std::vector<Token> run(bool* percent) {
    lex(t_, 0);
    *percent = percent_;
    Token end;
    end.kind = Tok::kEnd;
    out_.push_back(end);
    return std::move(out_);
  }

 private:
  void emit(Tok k, std::string s, RelOp r = RelOp::kEq) {
    Token tk;
    tk.kind = k;
    tk.s = std::move(s);
    tk.rel = r;
    tk.space_before = space_;
    space_ = false;
    out_.push_back(std::move(tk));
  }

  // Reads a balanced {...} starting at t[i] == '{'; returns the content, advances i past '}'.
  static std::string_view braced(std::string_view t, size_t& i) {
    if (i >= t.size() || t[i] != '{') throw ParseError("expected '{'");
    int d = 0;
    size_t start = i + 1;
    for (size_t j = i; j < t.size(); ++j) {
      if (t[j] == '\\' && j + 1 < t.size()) { ++j; continue; }
      if (t[j] == '{') ++d;
      else if (t[j] == '}' && --d == 0) {
        i = j + 1;
        return t.substr(start, j - start);
      }
    }
    throw ParseError("unbalanced braces");
  }

  static size_t skip_spaces(std::string_view t, size_t i) {
    while (i < t.size() && std::isspace(static_cast<unsigned char>(t[i]))) ++i;
    return i;
  }

  // After '^': "\circ", "{\circ}", "\prime", "{\prime}", "{\prime\prime}" mean degrees / primes.
  static bool degree_or_prime(std::string_view t, size_t& i) {
    size_t j = skip_spaces(t, i);
    bool brace = j < t.size() && t[j] == '{';
    if (brace) j = skip_spaces(t, j + 1);
    bool any = false;
    while (true) {
      if (t.substr(j, 5) == "\\circ" && (j + 5 >= t.size() || !is_alpha(t[j + 5]))) j += 5;
      else if (t.substr(j, 6) == "\\prime") j += 6;
      else break;
      any = true;
      j = skip_spaces(t, j);
      if (!brace) break;
    }
    if (!any) return false;
    if (brace) {
      if (j >= t.size() || t[j] != '}') return false;
      ++j;
    }
    i = j;
    return true;
  }

  void lex_number(std::string_view t, size_t& i, int nest) {
    std::string digits;
    size_t n = t.size();
    while (i < n && is_digit(t[i])) digits.push_back(t[i++]);
    // Thousands separators "1,000,000", "10{,}000", "1\,000" (only outside brackets).
    if (nest == 0 && !digits.empty() && digits.size() <= 3 && digits[0] != '0') {
      while (true) {
        size_t sep = 0;
        if (t.substr(i, 3) == ",\\!") sep = 3;
        else if (i < n && t[i] == ',') sep = 1;
        else if (t.substr(i, 3) == "{,}") sep = 3;
        else if (t.substr(i, 2) == "\\,") sep = 2;
        if (sep == 0) break;
        size_t j = i + sep;
        if (j + 3 <= n && is_digit(t[j]) && is_digit(t[j + 1]) && is_digit(t[j + 2]) &&
            (j + 3 == n || !is_digit(t[j + 3]))) {
          digits.append(t.substr(j, 3));
          i = j + 3;
        } else {
          break;
        }
      }
    }
    bool decimal = false;
    if (i + 1 < n && t[i] == '.' && is_digit(t[i + 1])) {
      decimal = true;
      digits.push_back('.');
      ++i;
      while (i < n && is_digit(t[i])) digits.push_back(t[i++]);
    }
    int sci = 0;
    if (i < n && (t[i] == 'e' || t[i] == 'E')) {
      size_t j = i + 1;
      bool neg = false;
      if (j < n && (t[j] == '+' || t[j] == '-')) { neg = t[j] == '-'; ++j; }
      if (j < n && is_digit(t[j])) {
        long v = 0;
        while (j < n && is_digit(t[j])) {
          v = v * 10 + (t[j] - '0');
          if (v > 100000) throw LimitError("scientific exponent too large");
          ++j;
        }
        if (v > 1000) throw LimitError("scientific exponent too large");
        sci = neg ? -static_cast<int>(v) : static_cast<int>(v);
        decimal = true;
        i = j;
      }
    }
    emit(Tok::kNum, digits);
    out_.back().decimal = decimal;
    out_.back().sci_exp = sci;
  }

  void lex(std::string_view t, int nest0) {
    if (++recursion_ > depth_budget_) throw LimitError("nesting too deep");
    int nest = nest0;
    size_t n = t.size();
    size_t i = 0;
    while (i < n) {
      char c = t[i];
      unsigned char uc = static_cast<unsigned char>(c);
      if (std::isspace(uc) || c == '~' || c == '$') { space_ = true; ++i; continue; }
      if (c == '\\') {
        if (i + 1 >= n) throw ParseError("dangling backslash");
        char d = t[i + 1];
        if (!is_alpha(d)) {
          i += 2;
          switch (d) {
            case '!': break;  // negative thin space: no separation
            case ',': case ';': case ':': case ' ': case '$': case '(': case ')':
            case '[': case ']':
              space_ = true; break;
            case '{': emit(Tok::kCmd, "{"); ++nest; break;
            case '}': emit(Tok::kCmd, "}"); --nest; break;
            case '%': percent_ = true; break;
            case '\\': emit(Tok::kOp, "\\\\"); break;
            case '|': emit(Tok::kOp, "|"); break;
            default: throw ParseError(std::string("unsupported \\") + d);
          }
          continue;
        }
        size_t j = i + 1;
        while (j < n && is_alpha(t[j])) ++j;
        std::string name(t.substr(i + 1, j - i - 1));
        i = j;
        if (in_list(name, {"left", "right", "big", "Big", "bigg", "Bigg", "bigl", "bigr", "Bigl",
                           "Bigr", "biggl", "biggr", "Biggl", "Biggr", "displaystyle",
                           "textstyle", "limits", "middle"})) {
          if ((name == "left" || name == "right") && i < n && t[i] == '.') ++i;
          space_ = true;
          continue;
        }
        if (in_list(name, {"circ", "degree", "prime"})) { space_ = true; continue; }
        if (in_list(name, {"quad", "qquad"})) { emit(Tok::kSep, name); continue; }
        if (in_list(name, {"text", "textbf", "textit", "textrm", "mbox", "textup", "textnormal",
                           "hbox", "textsf", "texttt", "emph"})) {
          i = skip_spaces(t, i);
          std::string_view content = braced(t, i);
          emit(Tok::kText, std::string(content));
          continue;
        }
        if (in_list(name, {"mathrm", "mathbf", "mathit", "mathsf", "mathtt", "boldsymbol",
                           "mathnormal", "bm"})) {
          i = skip_spaces(t, i);
          std::string_view content = braced(t, i);
          bool word = content.size() >= 2;
          for (char ch : content)
            if (!is_alpha(ch) && ch != ' ') word = false;
          if (word) emit(Tok::kText, std::string(content));
          else lex(content, nest);
          continue;
        }
        if (name == "operatorname") {
          i = skip_spaces(t, i);
          std::string_view content = braced(t, i);
          emit(Tok::kCmd, std::string(content));
          continue;
        }
        if (name == "begin" || name == "end") {
          i = skip_spaces(t, i);
          std::string_view env = braced(t, i);
          emit(Tok::kCmd, name + ":" + std::string(env));
          continue;
        }
        if (in_list(name, {"le", "leq", "leqslant"})) { emit(Tok::kRel, name, RelOp::kLe); continue; }
        if (in_list(name, {"ge", "geq", "geqslant"})) { emit(Tok::kRel, name, RelOp::kGe); continue; }
        if (in_list(name, {"ne", "neq"})) { emit(Tok::kRel, name, RelOp::kNeq); continue; }
        if (in_list(name, {"in", "approx", "equiv"})) { emit(Tok::kRel, name, RelOp::kEq); continue; }
        if (name == "lt") { emit(Tok::kRel, name, RelOp::kLt); continue; }
        if (name == "gt") { emit(Tok::kRel, name, RelOp::kGt); continue; }
        if (in_list(name, {"cdot", "times", "ast"})) { emit(Tok::kOp, "*"); continue; }
        if (name == "div") { emit(Tok::kOp, "/"); continue; }
        if (in_list(name, {"dfrac", "tfrac", "cfrac"})) name = "frac";
        if (name == "dbinom" || name == "tbinom") name = "binom";
        emit(Tok::kCmd, name);
        continue;
      }
      if (is_digit(c) || (c == '.' && i + 1 < n && is_digit(t[i + 1]))) {
        lex_number(t, i, nest);
        continue;
      }
      if (is_alpha(c)) { emit(Tok::kIdent, std::string(1, c)); ++i; continue; }
      if (c == '%') { percent_ = true; ++i; continue; }
      if (c == '\'') { ++i; continue; }  // primes
      if (c == '<' || c == '>' || c == '!' || c == '=') {
        bool eq2 = i + 1 < n && t[i + 1] == '=';
        if (c == '<') { emit(Tok::kRel, "<", eq2 ? RelOp::kLe : RelOp::kLt); i += eq2 ? 2 : 1; continue; }
        if (c == '>') { emit(Tok::kRel, ">", eq2 ? RelOp::kGe : RelOp::kGt); i += eq2 ? 2 : 1; continue; }
        if (c == '!' && eq2) { emit(Tok::kRel, "!=", RelOp::kNeq); i += 2; continue; }
        if (c == '=') { emit(Tok::kRel, "=", RelOp::kEq); i += eq2 ? 2 : 1; continue; }
      }
      if (c == '^') {
        ++i;
        if (degree_or_prime(t, i)) { space_ = true; continue; }
        emit(Tok::kOp, "^");
        continue;
      }
      if (c == '(' || c == '[' || c == '{') ++nest;
      if (c == ')' || c == ']' || c == '}') --nest;
      if (std::string_view("+-*/_()[]{}|!,;&:").find(c) != std::string_view::npos) {
        emit(Tok::kOp, std::string(1, c));
        ++i;
        continue;
      }
      if (uc >= 0x80) {  // a few common UTF-8 math characters
        auto starts = [&](const char* u) { return t.substr(i, std::strlen(u)) == u; };
        struct U { const char* utf8; Tok kind; const char* s; RelOp rel; };
        static const U kU[] = {
            {"\xC2\xB0", Tok::kEnd, "", RelOp::kEq},          // degree sign: dropped
            {"\xE2\x88\x92", Tok::kOp, "-", RelOp::kEq},      // minus sign
            {"\xC3\x97", Tok::kOp, "*", RelOp::kEq},          // multiplication sign
            {"\xC2\xB7", Tok::kOp, "*", RelOp::kEq},          // middle dot
            {"\xCF\x80", Tok::kCmd, "pi", RelOp::kEq},        // pi
            {"\xE2\x88\x9E", Tok::kCmd, "infty", RelOp::kEq}, // infinity
            {"\xE2\x89\xA4", Tok::kRel, "le", RelOp::kLe},
            {"\xE2\x89\xA5", Tok::kRel, "ge", RelOp::kGe},
            {"\xE2\x89\xA0", Tok::kRel, "ne", RelOp::kNeq},
            {"\xC2\xA0", Tok::kEnd, "", RelOp::kEq},          // no-break space
        };
        bool hit = false;
        for (const U& u : kU) {
          if (starts(u.utf8)) {
            i += std::strlen(u.utf8);
            if (u.kind == Tok::kEnd) space_ = true;
            else emit(u.kind, u.s, u.rel);
            hit = true;
            break;
          }
        }
        if (hit) continue;
      }
      throw ParseError(std::string("unexpected character '") + c + "'");
    }
    --recursion_;
  }

  std::string_view t_;
  int depth_budget_;
  int recursion_ = 0;
  bool space_ = false;
  bool percent_ = false;
  std::vector<Token> out_;
};

// ---------------------------------------------------------------------------------------------
// Exact-arithmetic guards
// ---------------------------------------------------------------------------------------------

double bit_length(const numeric& q) {
  if (q.is_zero()) return 1;
  if (q.is_rational()) {
    return static_cast<double>(cln::integer_length(cln::the<cln::cl_I>(q.numer().to_cl_N())) +
                               cln::integer_length(cln::the<cln::cl_I>(q.denom().to_cl_N())) - 1);
  }
  if (q.is_real()) {
    double d = std::fabs(q.to_double());
    return std::isfinite(d) && d > 0 ? std::fabs(std::log2(d)) + 1 : 64;
  }
  return bit_length(q.real()) + bit_length(q.imag());
}

// Largest bit length of any numeric inside e.
double max_numeric_bits(const ex& e, int budget = 10000) {
  if (GiNaC::is_a<numeric>(e)) return bit_length(GiNaC::ex_to<numeric>(e));
  double best = 1;
  for (size_t k = 0; k < e.nops() && budget > 0; ++k, --budget)
    best = std::max(best, max_numeric_bits(e.op(k), budget / 2));
  return best;
}

// ---------------------------------------------------------------------------------------------
// Parser
// ---------------------------------------------------------------------------------------------

class Parser {
 public:
  Parser(std::vector<Token> toks, ParseContext& ctx) : t_(std::move(toks)), ctx_(ctx) {}

  Value parse_top() {
    // Multiple choice: "A", "(A)".
    if (t_.size() == 2 && is_choice_letter(t_[0])) return choice(t_[0].s);
    if (t_.size() == 4 && is_op(t_[0], "(") && is_choice_letter(t_[1]) && is_op(t_[2], ")"))
      return choice(t_[1].s);
    std::vector<Value> items = parse_list([](const Token& tk) { return tk.kind == Tok::kEnd; });
    if (peek().kind != Tok::kEnd) throw ParseError("unexpected '" + peek().s + "'");
    if (items.empty()) throw ParseError("empty answer");
    if (items.size() == 1) return std::move(items[0]);
    Value v;
    v.kind = ValueKind::kSet;
    v.bare_list = true;
    v.items = std::move(items);
    return v;
  }

 private:
  // RAII nesting guard + deadline check.
  struct Depth {
    explicit Depth(Parser& p) : p_(p) {
      if (++p_.depth_ > p_.ctx_.max_depth) throw LimitError("nesting deeper than max_depth");
      if ((++p_.ticks_ & 63) == 0 && std::chrono::steady_clock::now() > p_.ctx_.deadline)
        throw LimitError("time budget exhausted while parsing");
    }
    ~Depth() { --p_.depth_; }
    Parser& p_;
  };

  static bool is_op(const Token& tk, const char* s) { return tk.kind == Tok::kOp && tk.s == s; }
  static bool is_cmd(const Token& tk, const char* s) { return tk.kind == Tok::kCmd && tk.s == s; }
  static bool is_choice_letter(const Token& tk) {
    return tk.kind == Tok::kIdent && tk.s[0] >= 'A' && tk.s[0] <= 'E';
  }
  static Value choice(const std::string& letter) {
    Value v;
    v.kind = ValueKind::kChoice;
    v.text = letter;
    return v;
  }
  static bool is_separator_text(const Token& tk) {
    if (tk.kind != Tok::kText) return false;
    std::string w;
    for (char c : tk.s)
      if (!std::isspace(static_cast<unsigned char>(c))) w.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    return w == "and" || w == "or" || w == "," || w == "or," || w == ",or" || w == ",and";
  }

  const Token& peek(size_t k = 0) const {
    size_t j = std::min(pos_ + k, t_.size() - 1);
    return t_[j];
  }
  Token next() {
    Token tk = t_[pos_];
    if (pos_ + 1 < t_.size()) ++pos_;
    return tk;
  }
  void expect_op(const char* s) {
    if (!is_op(peek(), s)) throw ParseError(std::string("expected '") + s + "'");
    next();
  }
  void skip_units() {
    while (peek().kind == Tok::kText && !is_separator_text(peek())) next();
  }

  static const ex& scalar(const Value& v) {
    if (v.kind != ValueKind::kExpr) throw ParseError("expected a scalar expression");
    return v.expr;
  }

  // list := relation (sep relation)* ; stops (without consuming) at a token where stop() holds.
  template <typename Stop>
  std::vector<Value> parse_list(Stop stop) {
    Depth d(*this);
    std::vector<Value> items;
    while (true) {
      skip_units();
      while (peek().kind == Tok::kSep || is_separator_text(peek())) next();
      if (stop(peek())) break;
      items.push_back(parse_relation());
      skip_units();
      const Token& tk = peek();
      if (is_op(tk, ",") || is_op(tk, ";") || tk.kind == Tok::kSep || is_separator_text(tk)) {
        next();
        continue;
      }
      if (stop(tk)) break;
      throw ParseError("unexpected '" + tk.s + "'");
    }
    return items;
  }

  Value parse_relation() {
    Depth d(*this);
    Value first = parse_union();
    if (peek().kind != Tok::kRel) return first;
    Value rel;
    rel.kind = ValueKind::kRelation;
    rel.items.push_back(std::move(first));
    while (peek().kind == Tok::kRel) {
      rel.ops.push_back(next().rel);
      skip_units();
      rel.items.push_back(parse_union());
    }
    return rel;
  }

  Value parse_union() {
    Value first = parse_expr();
    if (!is_cmd(peek(), "cup")) return first;
    Value u;
    u.kind = ValueKind::kUnion;
    u.items.push_back(std::move(first));
    while (is_cmd(peek(), "cup")) {
      next();
      u.items.push_back(parse_expr());
    }
    return u;
  }

  Value parse_expr() {
    Depth d(*this);
    Value lhs = parse_term();
    while (true) {
      const Token& tk = peek();
      int sign = 0;
      if (is_op(tk, "+")) sign = 1;
      else if (is_op(tk, "-")) sign = -1;
      else if (is_cmd(tk, "pm") || is_cmd(tk, "mp")) sign = 2;
      if (sign == 0) break;
      bool mp = is_cmd(tk, "mp");
      next();
      Value rhs = parse_term();
      ex r = scalar(rhs);
      if (sign == 2) r = (mp ? -1 : 1) * ex(ctx_.plus_minus()) * r;
      else if (sign < 0) r = -r;
      lhs = Value::make_expr(scalar(lhs) + r, lhs.inexact || rhs.inexact);
    }
    return lhs;
  }

  bool starts_implicit_factor(const Token& tk) const {
    switch (tk.kind) {
      case Tok::kNum: case Tok::kIdent: return true;
      case Tok::kOp: return tk.s == "(" || tk.s == "{";
      case Tok::kCmd:
        return !(tk.s == "}" || tk.s == "cup" || tk.s == "pm" || tk.s == "mp" || tk.s == "{" ||
                 tk.s.rfind("end:", 0) == 0 || tk.s == "rfloor" || tk.s == "rceil");
      default: return false;
    }
  }

  Value parse_term() {
    Depth d(*this);
    Value lhs = parse_unary();
    while (true) {
      skip_units();
      const Token& tk = peek();
      if (is_op(tk, "*") || is_op(tk, "/")) {
        bool div = tk.s == "/";
        next();
        Value rhs = parse_unary();
        ex r = scalar(rhs);
        ex l = scalar(lhs);
        lhs = Value::make_expr(div ? l / r : l * r, lhs.inexact || rhs.inexact);
      } else if (starts_implicit_factor(tk)) {
        Value rhs = parse_power();
        lhs = Value::make_expr(scalar(lhs) * scalar(rhs), lhs.inexact || rhs.inexact);
      } else {
        break;
      }
    }
    return lhs;
  }

  Value parse_unary() {
    Depth d(*this);
    const Token& tk = peek();
    if (is_op(tk, "-")) {
      next();
      Value v = parse_unary();
      return Value::make_expr(-scalar(v), v.inexact);
    }
    if (is_op(tk, "+")) {
      next();
      return parse_unary();
    }
    if (is_cmd(tk, "pm") || is_cmd(tk, "mp")) {
      next();
      Value v = parse_unary();
      return Value::make_expr(ex(ctx_.plus_minus()) * scalar(v), v.inexact);
    }
    return parse_power();
  }

  Value parse_power() {
    Depth d(*this);
    Value base = parse_primary();
    while (true) {
      const Token& tk = peek();
      if (is_op(tk, "^")) {
        next();
        // "2^10" is read as 2^{10} (the writer's intent), unlike \frac12.
        Value e = peek().kind == Tok::kNum ? parse_number() : parse_arg();
        base = Value::make_expr(make_pow(scalar(base), scalar(e)), base.inexact || e.inexact);
      } else if (is_op(tk, "!")) {
        next();
        base = Value::make_expr(make_factorial(scalar(base)), base.inexact);
      } else {
        break;
      }
    }
    return base;
  }

  // Argument of \frac, \sqrt, ^, _: a braced group or a single character / command.
  Value parse_arg() {
    Depth d(*this);
    Token& tk = t_[pos_];
    if (is_op(tk, "{")) {
      next();
      Value v = parse_relation();
      skip_units();
      expect_op("}");
      return v;
    }
    if (tk.kind == Tok::kNum) {
      if (tk.s.size() > 1 && tk.s[1] != '.' && tk.sci_exp == 0) {  // \frac12: one digit only
        std::string first = tk.s.substr(0, 1);
        tk.s.erase(0, 1);
        tk.space_before = false;
        return Value::make_expr(numeric(first.c_str()));
      }
      return parse_primary();
    }
    if (tk.kind == Tok::kIdent || tk.kind == Tok::kCmd) return parse_primary();
    if (is_op(tk, "-")) {  // x^-1
      next();
      Value v = parse_arg();
      return Value::make_expr(-scalar(v), v.inexact);
    }
    throw ParseError("expected an argument");
  }

  ex make_pow(const ex& b, const ex& e) {
    if (GiNaC::is_a<numeric>(e)) {
      const numeric& en = GiNaC::ex_to<numeric>(e);
      if (en.is_rational()) {
        double p = std::fabs(en.numer().to_double()), q = en.denom().to_double();
        double bb = max_numeric_bits(b);
        bool trivial = GiNaC::is_a<numeric>(b) &&
                       (b.is_zero() || b.is_equal(1) || b.is_equal(-1));
        if (!trivial) {
          if (!GiNaC::is_a<numeric>(b) && (p > 10000 || q > 10000))
            throw LimitError("exponent too large");
          double cost = p * std::max(1.0, bb - 1);
          if (cost > kMaxExactBits || cost > ctx_.bits_budget)
            throw LimitError("exact power too large");
          ctx_.bits_budget -= cost;
        }
      } else if (GiNaC::is_a<numeric>(b)) {
        double mag = std::fabs(en.real().to_double()) * bit_length(GiNaC::ex_to<numeric>(b));
        if (!(mag < 1e6)) throw LimitError("floating power too large");
      }
    }
    if (b.is_equal(GiNaC::exp(ex(1)))) return GiNaC::exp(e);
    return GiNaC::pow(b, e);
  }

  static ex make_factorial(const ex& a) {
    if (GiNaC::is_a<numeric>(a)) {
      const numeric& n = GiNaC::ex_to<numeric>(a);
      if (!n.is_nonneg_integer()) throw ParseError("factorial of a non-natural number");
      if (n > 2000) throw LimitError("factorial too large");
      return GiNaC::factorial(n);
    }
    return GiNaC::factorial(a);
  }

  static ex number_value(const Token& tk) {
    std::string mant;
    int frac_digits = 0;
    bool after_dot = false;
    for (char c : tk.s) {
      if (c == '.') { after_dot = true; continue; }
      mant.push_back(c);
      if (after_dot) ++frac_digits;
    }
    if (mant.empty()) throw ParseError("bad number");
    numeric v(cln::cl_I(mant.c_str()));
    int e10 = tk.sci_exp - frac_digits;
    if (e10 > 0) v = v * GiNaC::pow(numeric(10), numeric(e10));
    else if (e10 < 0) v = v / GiNaC::pow(numeric(10), numeric(-e10));
    return v;
  }

  static bool is_int_token(const Token& tk) {
    return tk.kind == Tok::kNum && !tk.decimal && tk.s.find('.') == std::string::npos;
  }

  Value parse_number() {
    Token tk = next();
    ex v = number_value(tk);
    bool integer = is_int_token(tk);
    // Number base: 1011_2, 1011_{2}.
    if (integer && is_op(peek(), "_")) {
      next();
      Value bv = parse_arg();
      const ex& be = scalar(bv);
      if (!GiNaC::is_a<numeric>(be) || !GiNaC::ex_to<numeric>(be).is_integer())
        throw ParseError("bad number base");
      int base = GiNaC::ex_to<numeric>(be).to_int();
      if (base < 2 || base > 10) throw ParseError("unsupported number base");
      numeric acc(0);
      for (char c : tk.s) {
        int dgt = c - '0';
        if (dgt >= base) throw ParseError("digit not valid in base");
        acc = acc * base + dgt;
      }
      return Value::make_expr(acc);
    }
    // Mixed numbers: 4\frac{4}{9}, 4\frac49, "4 4/9".
    if (integer) {
      if (is_cmd(peek(), "frac")) {
        const Token& a = peek(1);
        if (is_op(a, "{") && is_int_token(peek(2)) && is_op(peek(3), "}") && is_op(peek(4), "{") &&
            is_int_token(peek(5)) && is_op(peek(6), "}")) {
          ex num = number_value(peek(2)), den = number_value(peek(5));
          for (int k = 0; k < 7; ++k) next();
          return Value::make_expr(v + num / den);
        }
        if (is_int_token(a) && a.s.size() == 2 && !a.space_before) {
          ex num = numeric(a.s[0] - '0'), den = numeric(a.s[1] - '0');
          next();
          next();
          return Value::make_expr(v + num / den);
        }
      }
      const Token& a = peek();
      if (is_int_token(a) && a.space_before && is_op(peek(1), "/") && is_int_token(peek(2))) {
        const Token& after = peek(3);
        bool ends = after.kind == Tok::kEnd || after.kind == Tok::kText || after.kind == Tok::kRel ||
                    is_op(after, ",") || is_op(after, ";") || is_op(after, ")") ||
                    is_op(after, "]") || is_op(after, "}");
        if (ends) {
          ex num = number_value(a), den = number_value(peek(2));
          next();
          next();
          next();
          return Value::make_expr(v + num / den);
        }
      }
    }
    return Value::make_expr(v, tk.decimal);
  }

  std::string subscript_text() {
    // After '_' on a symbol: {content} or one token.
    if (is_op(peek(), "{")) {
      next();
      std::string s;
      int d = 1;
      while (peek().kind != Tok::kEnd) {
        if (is_op(peek(), "{")) ++d;
        if (is_op(peek(), "}") && --d == 0) break;
        s += next().s;
      }
      expect_op("}");
      return s;
    }
    Token& tk = t_[pos_];
    if (tk.kind == Tok::kNum && tk.s.size() > 1) {
      std::string first = tk.s.substr(0, 1);
      tk.s.erase(0, 1);
      return first;
    }
    if (tk.kind == Tok::kEnd) throw ParseError("dangling subscript");
    return next().s;
  }

  // Parses the closing part of a bracket group opened by `open` ("(", "[", "{").
  Value parse_bracket(const std::string& open) {
    auto closer = [](const Token& tk) {
      return tk.kind == Tok::kEnd || is_op(tk, ")") || is_op(tk, "]") || is_op(tk, "}") ||
             is_cmd(tk, "}");
    };
    std::vector<Value> items = parse_list(closer);
    Token close = next();
    if (close.kind == Tok::kEnd) throw ParseError("unclosed bracket");
    std::string c = close.s;
    if (open == "{") {
      if (c != "}" || close.kind != Tok::kOp) throw ParseError("mismatched braces");
      if (items.size() == 1) return std::move(items[0]);
      Value s;
      s.kind = ValueKind::kSet;
      s.items = std::move(items);
      return s;
    }
    if (close.kind != Tok::kOp || (c != ")" && c != "]")) throw ParseError("mismatched bracket");
    if (items.empty()) throw ParseError("empty brackets");
    if (items.size() == 1) {
      if ((open == "(") != (c == ")")) throw ParseError("mismatched bracket");
      return std::move(items[0]);
    }
    Value v;
    if (items.size() == 2 && !(open == "(" && c == ")") &&
        items[0].kind == ValueKind::kExpr && items[1].kind == ValueKind::kExpr) {
      v.kind = ValueKind::kInterval;
      v.left_closed = open == "[";
      v.right_closed = c == "]";
    } else {
      if ((open == "(") != (c == ")")) throw ParseError("mismatched bracket");
      v.kind = ValueKind::kTuple;
      v.paren2 = items.size() == 2 && open == "(";
    }
    v.items = std::move(items);
    return v;
  }

  Value parse_matrix(const std::string& env) {
    std::vector<std::vector<Value>> rows(1);
    const std::string end = "end:" + env;
    while (true) {
      if (peek().kind == Tok::kEnd) throw ParseError("unterminated matrix");
      if (is_cmd(peek(), end.c_str())) { next(); break; }
      if (is_op(peek(), "&")) { next(); continue; }
      if (is_op(peek(), "\\\\")) { next(); rows.emplace_back(); continue; }
      rows.back().push_back(parse_expr());
    }
    if (rows.size() > 1 && rows.back().empty()) rows.pop_back();
    Value m;
    m.kind = ValueKind::kMatrix;
    m.rows = static_cast<int>(rows.size());
    m.cols = static_cast<int>(rows[0].size());
    for (auto& r : rows) {
      if (static_cast<int>(r.size()) != m.cols || r.empty()) throw ParseError("ragged matrix");
      for (auto& x : r) m.items.push_back(std::move(x));
    }
    return m;
  }

  static bool greek(const std::string& s) {
    static const char* kGreek[] = {
        "alpha", "beta", "gamma", "delta", "epsilon", "varepsilon", "zeta", "eta", "theta",
        "vartheta", "iota", "kappa", "lambda", "mu", "nu", "xi", "rho", "sigma", "tau",
        "upsilon", "phi", "varphi", "chi", "psi", "omega", "Gamma", "Delta", "Theta", "Lambda",
        "Xi", "Pi", "Sigma", "Phi", "Psi", "Omega", "ell"};
    for (const char* g : kGreek)
      if (s == g) return true;
    return false;
  }

  // Function argument: (expr), {expr}, or a run of implicit factors ("\sin 2x").
  Value parse_func_arg() {
    if (is_op(peek(), "(") || is_op(peek(), "{")) return parse_primary();
    Value v = parse_power();
    while (peek().kind == Tok::kNum || peek().kind == Tok::kIdent ||
           (peek().kind == Tok::kCmd && (greek(peek().s) || peek().s == "pi"))) {
      Value r = parse_power();
      v = Value::make_expr(scalar(v) * scalar(r), v.inexact || r.inexact);
    }
    return v;
  }

  static bool apply_function(const std::string& f, const ex& x, bool inverse, ex* out) {
    using namespace GiNaC;
    std::string g = f;
    if (inverse) g = "arc" + f;
    if (g == "sin") *out = sin(x);
    else if (g == "cos") *out = cos(x);
    else if (g == "tan") *out = tan(x);
    else if (g == "cot") *out = 1 / tan(x);
    else if (g == "sec") *out = 1 / cos(x);
    else if (g == "csc") *out = 1 / sin(x);
    else if (g == "arcsin" || g == "asin") *out = asin(x);
    else if (g == "arccos" || g == "acos") *out = acos(x);
    else if (g == "arctan" || g == "atan") *out = atan(x);
    else if (g == "arccot") *out = atan(1 / x);
    else if (g == "arcsec") *out = acos(1 / x);
    else if (g == "arccsc") *out = asin(1 / x);
    else if (g == "sinh") *out = sinh(x);
    else if (g == "cosh") *out = cosh(x);
    else if (g == "tanh") *out = tanh(x);
    else if (g == "arcsinh") *out = asinh(x);
    else if (g == "arccosh") *out = acosh(x);
    else if (g == "arctanh") *out = atanh(x);
    else if (g == "ln" || g == "log") *out = log(x);
    else if (g == "exp") *out = exp(x);
    else return false;
    return true;
  }

  static bool is_function_name(const std::string& s) {
    static const char* kNames[] = {"sin", "cos", "tan", "cot", "sec", "csc", "arcsin", "arccos",
                                   "arctan", "arccot", "arcsec", "arccsc", "asin", "acos", "atan",
                                   "sinh", "cosh", "tanh", "arcsinh", "arccosh", "arctanh", "ln",
                                   "log", "exp"};
    for (const char* n : kNames)
      if (s == n) return true;
    return false;
  }

  Value parse_function(const std::string& f) {
    Value base_v;
    bool has_base = false;
    if (f == "log" && is_op(peek(), "_")) {
      next();
      base_v = parse_arg();
      has_base = true;
    }
    bool inverse = false;
    bool has_power = false;
    ex power;
    if (is_op(peek(), "^")) {
      next();
      Value p = parse_arg();
      const ex& pe = scalar(p);
      if (pe.is_equal(-1) && f != "log" && f != "ln" && f != "exp") inverse = true;
      else { has_power = true; power = pe; }
    }
    Value arg = parse_func_arg();
    ex x = scalar(arg);
    ex r;
    if (!apply_function(f, x, inverse, &r)) throw ParseError("unknown function \\" + f);
    if (has_base) r = r / GiNaC::log(scalar(base_v));
    if (has_power) r = make_pow(r, power);
    return Value::make_expr(r, arg.inexact);
  }

  ex floor_ceil(const ex& x, bool ceil) {
    ex v = x;
    if (!GiNaC::is_a<numeric>(v)) v = GiNaC::evalf(x);
    if (!GiNaC::is_a<numeric>(v) || !GiNaC::ex_to<numeric>(v).is_real())
      throw ParseError("floor/ceil of a non-number");
    const numeric& n = GiNaC::ex_to<numeric>(v);
    cln::cl_R r = cln::the<cln::cl_R>(n.to_cl_N());
    return numeric(ceil ? cln::ceiling1(r) : cln::floor1(r));
  }

  Value parse_primary() {
    Depth d(*this);
    skip_units();
    const Token& tk = peek();
    switch (tk.kind) {
      case Tok::kNum:
        return parse_number();
      case Tok::kIdent: {
        std::string name = next().s;
        if (is_op(peek(), "_")) {
          next();
          name += "_" + subscript_text();
          return Value::make_expr(ctx_.symbol(name));
        }
        if (name == "e") return Value::make_expr(GiNaC::exp(ex(1)));
        if (name == "i") return Value::make_expr(GiNaC::I);
        return Value::make_expr(ctx_.symbol(name));
      }
      case Tok::kOp: {
        std::string s = next().s;
        if (s == "(" || s == "[" || s == "{") return parse_bracket(s);
        if (s == "|") {
          Value v = parse_expr();
          expect_op("|");
          return Value::make_expr(GiNaC::abs(scalar(v)), v.inexact);
        }
        throw ParseError("unexpected '" + s + "'");
      }
      case Tok::kCmd:
        return parse_command();
      default:
        throw ParseError("unexpected token '" + tk.s + "'");
    }
  }

  Value parse_command() {
    std::string c = next().s;
    if (c == "frac") {
      Value a = parse_arg();
      Value b = parse_arg();
      return Value::make_expr(scalar(a) / scalar(b), a.inexact || b.inexact);
    }
    if (c == "sqrt") {
      if (is_op(peek(), "[")) {
        next();
        Value n = parse_expr();
        expect_op("]");
        Value x = parse_arg();
        const ex& ne = scalar(n);
        const ex& xe = scalar(x);
        if (GiNaC::is_a<numeric>(ne) && GiNaC::ex_to<numeric>(ne).is_odd() &&
            GiNaC::is_a<numeric>(xe) && GiNaC::ex_to<numeric>(xe).is_real() &&
            GiNaC::ex_to<numeric>(xe).is_negative())
          return Value::make_expr(-make_pow(-xe, 1 / ne), x.inexact);
        return Value::make_expr(make_pow(xe, 1 / ne), x.inexact || n.inexact);
      }
      Value x = parse_arg();
      return Value::make_expr(GiNaC::sqrt(scalar(x)), x.inexact);
    }
    if (c == "binom") {
      Value a = parse_arg();
      Value b = parse_arg();
      const ex &ae = scalar(a), &be = scalar(b);
      if (GiNaC::is_a<numeric>(ae) && GiNaC::ex_to<numeric>(ae) > 100000)
        throw LimitError("binomial too large");
      return Value::make_expr(GiNaC::binomial(ae, be));
    }
    if (c == "pi") return Value::make_expr(GiNaC::Pi);
    if (c == "infty" || c == "infin") return Value::make_expr(ctx_.infinity());
    if (c == "emptyset" || c == "varnothing") {
      Value s;
      s.kind = ValueKind::kSet;
      return s;
    }
    if (greek(c)) return Value::make_expr(ctx_.symbol(c));
    if (c == "{") {
      auto closer = [](const Token& tk) { return tk.kind == Tok::kEnd || is_cmd(tk, "}"); };
      std::vector<Value> items = parse_list(closer);
      if (!is_cmd(peek(), "}")) throw ParseError("unclosed \\{");
      next();
      Value s;
      s.kind = ValueKind::kSet;
      s.items = std::move(items);
      return s;
    }
    if (c == "lfloor" || c == "lceil") {
      Value v = parse_expr();
      if (!is_cmd(peek(), c == "lfloor" ? "rfloor" : "rceil")) throw ParseError("unclosed floor");
      next();
      return Value::make_expr(floor_ceil(scalar(v), c == "lceil"), v.inexact);
    }
    if (c.rfind("begin:", 0) == 0) {
      std::string env = c.substr(6);
      if (env == "pmatrix" || env == "bmatrix" || env == "matrix" || env == "Bmatrix" ||
          env == "smallmatrix" || env == "array")
        return parse_matrix(env);
      throw ParseError("unsupported environment " + env);
    }
    if (is_function_name(c)) return parse_function(c);
    throw ParseError("unsupported command \\" + c);
  }

  std::vector<Token> t_;
  size_t pos_ = 0;
  ParseContext& ctx_;
  int depth_ = 0;
  unsigned ticks_ = 0;
};

// Expands \pm (a ParseContext symbol) into a set of the two signs, and applies percent marks.
Value finish(Value v, ParseContext& ctx, bool percent) {
  if (v.kind == ValueKind::kExpr) {
    const GiNaC::symbol& pm = ctx.plus_minus();
    if (v.expr.has(pm)) {
      Value s;
      s.kind = ValueKind::kSet;
      s.items.push_back(Value::make_expr(v.expr.subs(pm == 1), v.inexact));
      s.items.push_back(Value::make_expr(v.expr.subs(pm == -1), v.inexact));
      for (auto& it : s.items) it.percent = percent;
      return s;
    }
    v.percent = percent;
    return v;
  }
  for (auto& it : v.items) it = finish(std::move(it), ctx, percent);
  return v;
}

// A plain word answer ("odd", "Evelyn", "\text{no solution}") -> lower-cased letters.
bool word_answer(std::string_view s, std::string* out) {
  out->clear();
  int letters = 0;
  for (char c : s) {
    if (is_alpha(c)) { out->push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c)))); ++letters; }
    else if (c == ' ' || c == '-' || c == '\'') continue;
    else return false;
  }
  return letters >= 3;
}

Result<Value> parse_impl(std::string_view text, ParseContext& ctx, int depth) {
  if (depth > 4) return Status::invalid("nested \\text too deep");
  // Whole-answer text: "\text{Evelyn}", "\textbf{(A)}", plain "odd".
  std::string word;
  if (word_answer(text, &word)) {
    Value v;
    v.kind = ValueKind::kText;
    v.text = word;
    return v;
  }
  bool percent = false;
  std::vector<Token> toks = Lexer(text, ctx.max_depth).run(&percent);
  if (toks.size() == 2 && toks[0].kind == Tok::kText) {
    Result<Value> inner = parse_impl(toks[0].s, ctx, depth + 1);
    if (inner.is_ok()) {
      if (percent) return finish(std::move(inner).value(), ctx, true);
      return inner;
    }
    std::string w;
    for (char c : toks[0].s)
      if (!std::isspace(static_cast<unsigned char>(c)))
        w.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
    Value v;
    v.kind = ValueKind::kText;
    v.text = w;
    return v;
  }
  Parser p(std::move(toks), ctx);
  return finish(p.parse_top(), ctx, percent);
}

}  // namespace

const GiNaC::symbol& ParseContext::symbol(const std::string& name) {
  auto it = symbols.find(name);
  if (it == symbols.end()) it = symbols.emplace(name, GiNaC::symbol(name)).first;
  return it->second;
}

Result<Value> parse_answer(std::string_view text, ParseContext& ctx) {
  try {
    return parse_impl(text, ctx, 0);
  } catch (const LimitError& e) {
    return Status::invalid(std::string("limit: ") + e.what());
  } catch (const ParseError& e) {
    return Status::parse(e.what());
  } catch (const std::exception& e) {
    return Status::parse(std::string("cas: ") + e.what());
  } catch (...) {
    return Status::internal("unknown exception while parsing");
  }
}

}  // namespace crucible::math
