#include "reports/svg_chart.h"

#include <algorithm>
#include <cmath>
#include <sstream>

#include <fmt/format.h>

#include "reports/escape.h"

namespace crucible::reports {
namespace {

constexpr double kWidth = 760;

std::string short_label(const std::string& s, size_t max_bytes) {
  if (s.size() <= max_bytes) return s;
  return std::string(utf8_prefix(s, max_bytes - 3)) + "...";
}

double clamp100(double v) { return std::max(0.0, std::min(100.0, v)); }

void x_grid(std::ostringstream& os, double x0, double x1, double y0, double y1) {
  for (int t = 0; t <= 100; t += 20) {
    double x = x0 + (x1 - x0) * t / 100.0;
    os << fmt::format("<line x1=\"{0:.1f}\" y1=\"{1:.1f}\" x2=\"{0:.1f}\" y2=\"{2:.1f}\" class=\"grid\"/>", x, y0, y1);
    os << fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" class=\"tick\" text-anchor=\"middle\">{}</text>", x, y1 + 14, t);
  }
}

void one_bar(std::ostringstream& os, const Bar& b, double x0, double x1, double y, double h) {
  double scale = (x1 - x0) / 100.0;
  double w = clamp100(b.value) * scale;
  std::string label = html_escape(b.label);
  os << fmt::format("<g class=\"bar-row\" data-model=\"{}\"><title>{}: {:.1f}{}</title>", label, label, b.value,
                    b.se >= 0 ? fmt::format(" ± {:.1f}", b.se) : std::string(b.reference ? " (reference)" : ""));
  os << fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" class=\"label{}\" text-anchor=\"end\">{}</text>", x0 - 6,
                    y + h * 0.72, b.best ? " best" : "", html_escape(short_label(b.label, 38)));
  os << fmt::format("<rect class=\"bar{}\" x=\"{:.1f}\" y=\"{:.1f}\" width=\"{:.1f}\" height=\"{:.1f}\" fill=\"{}\"/>",
                    b.reference ? " reference" : "", x0, y, w, h, b.color);
  double end = x0 + w;
  if (b.se > 0) {
    double lo = x0 + clamp100(b.value - b.se) * scale, hi = x0 + clamp100(b.value + b.se) * scale;
    double cy = y + h / 2;
    os << fmt::format("<path class=\"errbar\" d=\"M{0:.1f} {1:.1f}H{2:.1f}M{0:.1f} {3:.1f}V{4:.1f}M{2:.1f} {3:.1f}V{4:.1f}\"/>",
                      lo, cy, hi, y + 3, y + h - 3);
    end = std::max(end, hi);
  }
  os << fmt::format("<text x=\"{:.1f}\" y=\"{:.1f}\" class=\"value\">{:.1f}</text></g>", end + 4, y + h * 0.72,
                    b.value);
}

}  // namespace

std::string chart_color(size_t index) {
  static const char* kPalette[] = {"#4269d0", "#efb118", "#ff725c", "#6cc5b0", "#3ca951",
                                   "#ff8ab7", "#a463f2", "#97bbf5", "#9c6b4e", "#9498a0"};
  return kPalette[index % 10];
}

std::string bar_chart_svg(const std::string& title, const std::string& benchmark, const std::vector<Bar>& bars) {
  const double left = 250, right = kWidth - 60, top = 30, bar_h = 18, gap = 8;
  double height = top + bars.size() * (bar_h + gap) + 30;
  std::ostringstream os;
  os << fmt::format("<svg class=\"chart bar-chart\" data-benchmark=\"{}\" xmlns=\"http://www.w3.org/2000/svg\" "
                    "viewBox=\"0 0 {} {:.0f}\" width=\"{}\" height=\"{:.0f}\" role=\"img\">",
                    html_escape(benchmark), kWidth, height, kWidth, height);
  os << "<title>" << html_escape(title) << "</title>";
  os << fmt::format("<text x=\"{}\" y=\"18\" class=\"chart-title\">{}</text>", left, html_escape(title));
  double bottom = top + bars.size() * (bar_h + gap);
  x_grid(os, left, right, top - 4, bottom);
  for (size_t i = 0; i < bars.size(); ++i) one_bar(os, bars[i], left, right, top + i * (bar_h + gap), bar_h);
  os << "</svg>";
  return os.str();
}

std::string pass_at_k_svg(const std::string& title, const std::string& benchmark, const std::vector<Series>& series) {
  const double left = 50, right = kWidth - 230, top = 30, bottom = 290, height = 330;
  int max_k = 1;
  for (const auto& s : series)
    for (const auto& p : s.points) max_k = std::max(max_k, p.first);
  double max_log = std::max(1.0, std::ceil(std::log2(static_cast<double>(max_k))));
  auto px = [&](int k) { return left + (right - left) * std::log2(std::max(1, k)) / max_log; };
  auto py = [&](double v) { return bottom - (bottom - top) * clamp100(v) / 100.0; };
  std::ostringstream os;
  os << fmt::format("<svg class=\"chart passk-chart\" data-benchmark=\"{}\" xmlns=\"http://www.w3.org/2000/svg\" "
                    "viewBox=\"0 0 {} {}\" width=\"{}\" height=\"{}\" role=\"img\">",
                    html_escape(benchmark), kWidth, height, kWidth, height);
  os << "<title>" << html_escape(title) << "</title>";
  os << fmt::format("<text x=\"{}\" y=\"18\" class=\"chart-title\">{}</text>", left, html_escape(title));
  for (int t = 0; t <= 100; t += 20)
    os << fmt::format("<line x1=\"{0}\" y1=\"{1:.1f}\" x2=\"{2}\" y2=\"{1:.1f}\" class=\"grid\"/><text x=\"{3}\" "
                      "y=\"{4:.1f}\" class=\"tick\" text-anchor=\"end\">{5}</text>",
                      left, py(t), right, left - 6, py(t) + 4, t);
  for (int e = 0; e <= static_cast<int>(max_log); ++e)
    os << fmt::format("<line x1=\"{0:.1f}\" y1=\"{1}\" x2=\"{0:.1f}\" y2=\"{2}\" class=\"grid\"/><text x=\"{0:.1f}\" "
                      "y=\"{3}\" class=\"tick\" text-anchor=\"middle\">{4}</text>",
                      px(1 << e), top, bottom, bottom + 16, 1 << e);
  os << fmt::format("<text x=\"{:.1f}\" y=\"{}\" class=\"tick\" text-anchor=\"middle\">k (log2 scale) → pass@k %</text>",
                    (left + right) / 2, bottom + 34);
  for (size_t i = 0; i < series.size(); ++i) {
    const Series& s = series[i];
    std::string label = html_escape(s.label);
    os << fmt::format("<g class=\"series\" data-model=\"{}\"><title>{}</title><polyline fill=\"none\" stroke=\"{}\" "
                      "stroke-width=\"2\" points=\"",
                      label, label, s.color);
    for (const auto& [k, v] : s.points) os << fmt::format("{:.1f},{:.1f} ", px(k), py(v));
    os << "\"/>";
    for (const auto& [k, v] : s.points)
      os << fmt::format("<circle cx=\"{:.1f}\" cy=\"{:.1f}\" r=\"3\" fill=\"{}\"><title>{} pass@{} = {:.1f}</title></circle>",
                        px(k), py(v), s.color, label, k, v);
    double ly = top + 4 + i * 18;
    os << fmt::format("<rect x=\"{}\" y=\"{:.1f}\" width=\"12\" height=\"12\" fill=\"{}\"/><text x=\"{}\" y=\"{:.1f}\" "
                      "class=\"legend\">{}</text></g>",
                      right + 16, ly, s.color, right + 34, ly + 10, html_escape(short_label(s.label, 30)));
  }
  os << "</svg>";
  return os.str();
}

}  // namespace crucible::reports
