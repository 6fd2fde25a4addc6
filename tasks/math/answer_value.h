// The parsed-answer model: what a math answer string means once parsed (tasks/math/latex_parser.h).
// A Value is one of: a scalar expression (GiNaC), an ordered tuple, an unordered set / bare list,
// an interval with open/closed ends, a union of sets, a relation chain (x = 5, 2 < x \le 3), a
// matrix, a plain-text word, or a multiple-choice letter. Values hold GiNaC objects, whose
// reference counts are not atomic: build, compare and destroy them only while holding
// ginac_mutex() (tasks/math/equivalence.h) and never share them across calls.
#pragma once
#include <string>
#include <vector>

#include <ginac/ginac.h>

namespace crucible::math {

enum class ValueKind {
  kExpr,      // expr
  kTuple,     // items, ordered; `paren2` marks "(a,b)", which may also mean an open interval
  kSet,       // items, unordered: \{...\}, \pm, or a bare top-level list "1, 2"
  kInterval,  // items[0], items[1]; left_closed / right_closed
  kUnion,     // items (sets / intervals), unordered
  kRelation,  // items = operands, ops[k] between items[k] and items[k+1]
  kMatrix,    // rows x cols items, row-major
  kText,      // text (lower-cased, spaces removed)
  kChoice,    // text = one upper-case letter A..E
};

// Relation operators, in a form that makes flipping easy.
enum class RelOp { kEq, kNeq, kLt, kLe, kGt, kGe };

struct Value {
  ValueKind kind = ValueKind::kExpr;
  GiNaC::ex expr;                 // kExpr
  bool inexact = false;           // kExpr built from a decimal / scientific literal
  bool percent = false;           // kExpr written with \% (expr holds the number without /100)
  std::vector<Value> items;
  std::vector<RelOp> ops;         // kRelation
  bool left_closed = false, right_closed = false;  // kInterval
  bool paren2 = false;            // kTuple written as "(a, b)"
  bool bare_list = false;         // kSet that came from a top-level comma list
  int rows = 0, cols = 0;         // kMatrix
  std::string text;               // kText / kChoice

  static Value make_expr(GiNaC::ex e, bool inexact = false) {
    Value v;
    v.kind = ValueKind::kExpr;
    v.expr = std::move(e);
    v.inexact = inexact;
    return v;
  }
};

}  // namespace crucible::math
