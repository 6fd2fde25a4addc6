// Equivalence of parsed answers; see equivalence.h for the rules.
#include "tasks/math/equivalence.h"

#include <algorithm>
#include <cmath>
#include <set>

#include <cln/integer.h>
#include <cln/rational.h>

namespace crucible::math {
namespace {

using GiNaC::ex;
using GiNaC::numeric;

bool past(const EquivContext& c) { return std::chrono::steady_clock::now() > c.deadline; }

// |a-b| <= tol * max(1,|a|,|b|) on (possibly complex) numerics.
bool close(const numeric& a, const numeric& b, double tol) {
  numeric scale = std::max(numeric(1), std::max(GiNaC::abs(a), GiNaC::abs(b)));
  return GiNaC::abs(a - b) <= numeric(tol) * scale;
}

void collect_symbols(const ex& e, std::set<ex, GiNaC::ex_is_less>& out, int& budget) {
  if (--budget < 0) return;
  if (GiNaC::is_a<GiNaC::symbol>(e)) { out.insert(e); return; }
  for (size_t k = 0; k < e.nops(); ++k) collect_symbols(e.op(k), out, budget);
}

size_t tree_size(const ex& e, size_t cap) {
  size_t n = 1;
  for (size_t k = 0; k < e.nops() && n < cap; ++k) n += tree_size(e.op(k), cap - n);
  return n;
}

// Largest |integer exponent| of a power inside e (normal()/expand() cost driver).
double max_exponent(const ex& e) {
  double m = 0;
  if (GiNaC::is_a<GiNaC::power>(e) && GiNaC::is_a<numeric>(e.op(1)))
    m = std::fabs(GiNaC::ex_to<numeric>(e.op(1)).to_double());
  for (size_t k = 0; k < e.nops(); ++k) m = std::max(m, max_exponent(e.op(k)));
  return m;
}

bool to_numeric(const ex& e, numeric* out) {
  ex v = GiNaC::evalf(e);
  if (!GiNaC::is_a<numeric>(v)) return false;
  *out = GiNaC::ex_to<numeric>(v);
  return true;
}

// Largest magnitude (in bits) of an exact rational inside e; drives the evaluation precision.
double max_rational_bits(const ex& e, int& budget) {
  if (--budget < 0) return 0;
  if (GiNaC::is_a<numeric>(e)) {
    const numeric& q = GiNaC::ex_to<numeric>(e);
    if (!q.is_rational()) return 0;
    return static_cast<double>(
        std::max(cln::integer_length(cln::the<cln::cl_I>(q.numer().to_cl_N())),
                 cln::integer_length(cln::the<cln::cl_I>(q.denom().to_cl_N()))));
  }
  double m = 0;
  for (size_t k = 0; k < e.nops(); ++k) m = std::max(m, max_rational_bits(e.op(k), budget));
  return m;
}

// Sets GiNaC::Digits for the scope (safe: all GiNaC use is under ginac_mutex()).
struct DigitsScope {
  explicit DigitsScope(long d) : saved(static_cast<long>(GiNaC::Digits)) { GiNaC::Digits = d; }
  ~DigitsScope() { GiNaC::Digits = saved; }
  long saved;
};

bool exprs_equal(const ex& a, const ex& b, bool inexact, EquivContext& c) {
  const double tol = c.opts->rel_tol;
  ex d = a - b;
  if (d.is_zero()) { c.method = "exact"; return true; }
  const ex inf = c.parse->infinity();
  if (a.has(inf) || b.has(inf)) { c.method = "exact"; return false; }
  if (GiNaC::is_a<numeric>(a) && GiNaC::is_a<numeric>(b) &&
      GiNaC::ex_to<numeric>(a).is_rational() && GiNaC::ex_to<numeric>(b).is_rational() &&
      !inexact) {
    c.method = "exact";
    return false;
  }
  std::set<ex, GiNaC::ex_is_less> syms;
  int budget = 5000;
  collect_symbols(a, syms, budget);
  collect_symbols(b, syms, budget);
  if (past(c)) { c.note = "time budget exhausted"; return false; }
  if (syms.empty()) {
    // Big exact numbers inside (sin(10^{100}) vs sin(10^{100}+1)) need more than 17 digits.
    int budget2 = 5000;
    double bits = std::max(max_rational_bits(a, budget2), max_rational_bits(b, budget2));
    long digits = 17;
    if (bits > 40) digits = static_cast<long>(20 + bits * 0.31);
    if (digits > 400) {
      c.note = "numbers too large for the numeric check";
      c.method = "numeric";
      return false;
    }
    DigitsScope scope(digits);
    numeric va, vb;
    if (!to_numeric(a, &va) || !to_numeric(b, &vb)) return false;
    c.method = "numeric";
    return close(va, vb, tol);
  }
  // Symbolic: normal() of the difference, only on small, low-degree inputs.
  if (tree_size(d, 400) < 400 && max_exponent(d) <= 24) {
    ex n = GiNaC::normal(d);
    if (n.is_zero()) { c.method = "symbolic"; return true; }
  }
  // Random (fixed) points: every evaluable point must agree; at least two must evaluate.
  static const int kPts[][2] = {{7, 13}, {-11, 17}, {23, 9}, {5, 31}, {-19, 7}, {29, 11}};
  int ok = 0;
  for (int p = 0; p < 6; ++p) {
    if (past(c)) { c.note = "time budget exhausted"; return false; }
    GiNaC::exmap m;
    int k = 0;
    for (const ex& s : syms) {
      const int* q = kPts[(p + 2 * k) % 6];
      m[s] = numeric(q[0] + 3 * k, q[1]);
      ++k;
    }
    numeric va, vb;
    try {
      if (!to_numeric(a.subs(m), &va) || !to_numeric(b.subs(m), &vb)) continue;
    } catch (const std::exception&) {
      continue;  // a pole at this point
    }
    if (!close(va, vb, tol)) { c.method = "numeric_points"; return false; }
    ++ok;
  }
  c.method = "numeric_points";
  return ok >= 2;
}

bool scalar_equal(const Value& g, const Value& p, EquivContext& c) {
  bool inexact = g.inexact || p.inexact;
  try {
    const bool lenient = c.opts->percent_lenient;
    if (lenient) {
      if (exprs_equal(g.expr, p.expr, inexact, c)) return true;
      if (g.percent && !p.percent) return exprs_equal(g.expr / 100, p.expr, inexact, c);
      if (p.percent && !g.percent) return exprs_equal(g.expr, p.expr / 100, inexact, c);
      return false;
    }
    ex a = g.percent ? g.expr / 100 : g.expr;
    ex b = p.percent ? p.expr / 100 : p.expr;
    return exprs_equal(a, b, inexact, c);
  } catch (const std::exception& e) {
    c.note = std::string("cas error: ") + e.what();
    return false;
  }
}

bool lone_symbol(const Value& v, const EquivContext& c) {
  return v.kind == ValueKind::kExpr && GiNaC::is_a<GiNaC::symbol>(v.expr) &&
         !v.expr.is_equal(c.parse->infinity()) && !v.expr.is_equal(c.parse->plus_minus());
}

RelOp flip(RelOp op) {
  switch (op) {
    case RelOp::kLt: return RelOp::kGt;
    case RelOp::kGt: return RelOp::kLt;
    case RelOp::kLe: return RelOp::kGe;
    case RelOp::kGe: return RelOp::kLe;
    default: return op;
  }
}

// x > a, a < x, a < x <= b ... -> interval; false if not of that shape.
bool relation_to_interval(const Value& r, EquivContext& c, Value* out) {
  if (r.kind != ValueKind::kRelation) return false;
  for (RelOp op : r.ops)
    if (op == RelOp::kEq || op == RelOp::kNeq) return false;
  ex inf = c.parse->infinity();
  Value iv;
  iv.kind = ValueKind::kInterval;
  auto strict = [](RelOp op) { return op == RelOp::kLt || op == RelOp::kGt; };
  if (r.items.size() == 2) {
    RelOp op = r.ops[0];
    const Value* bound = nullptr;
    if (lone_symbol(r.items[0], c)) bound = &r.items[1];
    else if (lone_symbol(r.items[1], c)) { bound = &r.items[0]; op = flip(op); }
    if (!bound || bound->kind != ValueKind::kExpr) return false;
    // now: x op bound
    if (op == RelOp::kGt || op == RelOp::kGe) {
      iv.items = {*bound, Value::make_expr(inf)};
      iv.left_closed = !strict(op);
    } else {
      iv.items = {Value::make_expr(-inf), *bound};
      iv.right_closed = !strict(op);
    }
    *out = std::move(iv);
    return true;
  }
  if (r.items.size() == 3 && lone_symbol(r.items[1], c) && r.items[0].kind == ValueKind::kExpr &&
      r.items[2].kind == ValueKind::kExpr) {
    RelOp a = r.ops[0], b = r.ops[1];
    bool up = (a == RelOp::kLt || a == RelOp::kLe) && (b == RelOp::kLt || b == RelOp::kLe);
    bool down = (a == RelOp::kGt || a == RelOp::kGe) && (b == RelOp::kGt || b == RelOp::kGe);
    if (up) {
      iv.items = {r.items[0], r.items[2]};
      iv.left_closed = !strict(a);
      iv.right_closed = !strict(b);
    } else if (down) {
      iv.items = {r.items[2], r.items[0]};
      iv.left_closed = !strict(b);
      iv.right_closed = !strict(a);
    } else {
      return false;
    }
    *out = std::move(iv);
    return true;
  }
  return false;
}

bool ordered_equal(const std::vector<Value>& a, const std::vector<Value>& b, EquivContext& c) {
  if (a.size() != b.size()) return false;
  for (size_t k = 0; k < a.size(); ++k)
    if (!values_equal(a[k], b[k], c)) return false;
  return true;
}

// Set equality: every element of each side equals some element of the other.
bool unordered_equal(const std::vector<Value>& a, const std::vector<Value>& b, EquivContext& c) {
  if (a.size() > 200 || b.size() > 200) { c.note = "set too large"; return false; }
  if (a.empty() || b.empty()) return a.empty() && b.empty();
  std::vector<char> b_hit(b.size(), 0);
  for (const Value& x : a) {
    bool found = false;
    for (size_t k = 0; k < b.size(); ++k) {
      if (past(c)) { c.note = "time budget exhausted"; return false; }
      if (values_equal(x, b[k], c)) { found = true; b_hit[k] = 1; break; }
    }
    if (!found) return false;
  }
  for (size_t k = 0; k < b.size(); ++k) {
    if (b_hit[k]) continue;
    bool found = false;
    for (const Value& x : a)
      if (values_equal(x, b[k], c)) { found = true; break; }
    if (!found) return false;
  }
  return true;
}

bool relations_equal(const Value& g, const Value& p, EquivContext& c) {
  if (g.items.size() != p.items.size()) return false;
  // Single equation: sides pairwise, swapped, or lhs-rhs equal up to sign.
  if (g.items.size() == 2 && g.ops[0] == RelOp::kEq && p.ops[0] == RelOp::kEq) {
    if (values_equal(g.items[0], p.items[0], c) && values_equal(g.items[1], p.items[1], c))
      return true;
    if (values_equal(g.items[0], p.items[1], c) && values_equal(g.items[1], p.items[0], c))
      return true;
    if (g.items[0].kind == ValueKind::kExpr && g.items[1].kind == ValueKind::kExpr &&
        p.items[0].kind == ValueKind::kExpr && p.items[1].kind == ValueKind::kExpr) {
      ex dg = g.items[0].expr - g.items[1].expr, dp = p.items[0].expr - p.items[1].expr;
      bool inexact = g.items[0].inexact || g.items[1].inexact || p.items[0].inexact ||
                     p.items[1].inexact;
      try {
        if (exprs_equal(dg, dp, inexact, c) || exprs_equal(dg, -dp, inexact, c)) return true;
      } catch (const std::exception&) {
        return false;
      }
    }
    return false;
  }
  bool same = true, flipped = true;
  const size_t n = g.ops.size();
  for (size_t k = 0; k < n; ++k) {
    if (g.ops[k] != p.ops[k]) same = false;
    if (g.ops[k] != flip(p.ops[n - 1 - k])) flipped = false;
  }
  if (same) {
    bool all = true;
    for (size_t k = 0; k < g.items.size() && all; ++k)
      all = values_equal(g.items[k], p.items[k], c);
    if (all) return true;
  }
  if (flipped) {
    bool all = true;
    for (size_t k = 0; k < g.items.size() && all; ++k)
      all = values_equal(g.items[k], p.items[g.items.size() - 1 - k], c);
    if (all) return true;
  }
  return false;
}

bool intervals_equal(const Value& a, const Value& b, EquivContext& c) {
  return a.left_closed == b.left_closed && a.right_closed == b.right_closed &&
         ordered_equal(a.items, b.items, c);
}

bool values_equal_impl(const Value& g, const Value& p, EquivContext& c) {
  using K = ValueKind;
  // Relations.
  if (g.kind == K::kRelation && p.kind == K::kRelation) {
    if (relations_equal(g, p, c)) return true;
    Value gi, pi;
    if (relation_to_interval(g, c, &gi) && relation_to_interval(p, c, &pi))
      return intervals_equal(gi, pi, c);
    return false;
  }
  if (g.kind == K::kRelation || p.kind == K::kRelation) {
    const Value& r = g.kind == K::kRelation ? g : p;
    const Value& o = g.kind == K::kRelation ? p : g;
    bool r_is_gold = &r == &g;
    // "x = 5" vs "5": the right-hand side; "\frac{10}{2} = 5" vs "5": the last member.
    bool all_eq = std::all_of(r.ops.begin(), r.ops.end(), [](RelOp op) { return op == RelOp::kEq; });
    auto constant = [](const Value& v) {
      if (v.kind != ValueKind::kExpr) return false;
      std::set<ex, GiNaC::ex_is_less> syms;
      int budget = 5000;
      collect_symbols(v.expr, syms, budget);
      return syms.empty() && budget > 0;
    };
    if (all_eq && (lone_symbol(r.items[0], c) || constant(r.items[0]))) {
      const Value& last = r.items.back();
      if (o.kind != K::kInterval || lone_symbol(r.items[0], c))
        return r_is_gold ? values_equal(last, o, c) : values_equal(o, last, c);
    }
    if (o.kind == K::kInterval || o.kind == K::kUnion || (o.kind == K::kTuple && o.paren2)) {
      Value iv;
      if (relation_to_interval(r, c, &iv))
        return r_is_gold ? values_equal(iv, o, c) : values_equal(o, iv, c);
    }
    return false;
  }
  if (g.kind == K::kExpr && p.kind == K::kExpr) return scalar_equal(g, p, c);
  if (g.kind == K::kText || g.kind == K::kChoice || p.kind == K::kText || p.kind == K::kChoice)
    return g.kind == p.kind && g.text == p.text;
  // Sets and bare lists.
  if (g.kind == K::kSet && p.kind == K::kSet) return unordered_equal(g.items, p.items, c);
  if (g.kind == K::kSet && g.items.size() == 1 && !g.bare_list) return values_equal(g.items[0], p, c);
  if (p.kind == K::kSet && p.items.size() == 1 && !p.bare_list) return values_equal(g, p.items[0], c);
  if (g.kind == K::kTuple && p.kind == K::kTuple) return ordered_equal(g.items, p.items, c);
  // A bare list against a tuple: "1, 2" vs "(1, 2)" compare in order.
  if ((g.kind == K::kSet && g.bare_list && p.kind == K::kTuple) ||
      (p.kind == K::kSet && p.bare_list && g.kind == K::kTuple))
    return ordered_equal(g.items, p.items, c);
  if (g.kind == K::kInterval && p.kind == K::kInterval) return intervals_equal(g, p, c);
  // "(a, b)" is both a point and an open interval.
  if ((g.kind == K::kTuple && g.paren2 && p.kind == K::kInterval && !p.left_closed &&
       !p.right_closed) ||
      (p.kind == K::kTuple && p.paren2 && g.kind == K::kInterval && !g.left_closed &&
       !g.right_closed))
    return ordered_equal(g.items, p.items, c);
  if (g.kind == K::kUnion && p.kind == K::kUnion) return unordered_equal(g.items, p.items, c);
  if (g.kind == K::kMatrix && p.kind == K::kMatrix)
    return g.rows == p.rows && g.cols == p.cols && ordered_equal(g.items, p.items, c);
  // A one-row / one-column matrix against a tuple.
  if ((g.kind == K::kMatrix && p.kind == K::kTuple && (g.rows == 1 || g.cols == 1)) ||
      (p.kind == K::kMatrix && g.kind == K::kTuple && (p.rows == 1 || p.cols == 1)))
    return ordered_equal(g.items, p.items, c);
  return false;
}

}  // namespace

std::mutex& ginac_mutex() {
  static std::mutex m;
  return m;
}

bool values_equal(const Value& gold, const Value& pred, EquivContext& ctx) {
  try {
    return values_equal_impl(gold, pred, ctx);
  } catch (const std::exception& e) {
    ctx.note = std::string("error: ") + e.what();
    return false;
  } catch (...) {
    ctx.note = "unknown error";
    return false;
  }
}

}  // namespace crucible::math
