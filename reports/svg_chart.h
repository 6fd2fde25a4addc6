// Inline SVG charts for the HTML report (no scripts, no external resources; all text escaped).
#pragma once
#include <string>
#include <utility>
#include <vector>

namespace crucible::reports {

// A stable colour per series index (10-colour palette, then repeats).
std::string chart_color(size_t index);

struct Bar {
  std::string label;
  double value = 0;      // 0..100
  double se = -1;        // error bar ±se when >= 0
  bool reference = false;  // drawn translucent with a dashed outline
  bool best = false;       // label in bold
  std::string color;
};

// Horizontal bar chart, x axis 0..100 (percentage points), one bar per model with ±stderr.
std::string bar_chart_svg(const std::string& title, const std::string& benchmark, const std::vector<Bar>& bars);

struct Series {
  std::string label;
  std::string color;
  std::vector<std::pair<int, double>> points;  // (k, pass@k in points), k >= 1
};

// pass@k curves: x = k on a log2 axis, y = pass@k (0..100), one polyline per model.
std::string pass_at_k_svg(const std::string& title, const std::string& benchmark, const std::vector<Series>& series);

}  // namespace crucible::reports
