#include "reports/junit_report.h"

#include <sstream>

#include <fmt/format.h>

#include "reports/cell_format.h"
#include "reports/escape.h"

namespace crucible::reports {
namespace {

struct Case {
  std::string classname, name, body;
  bool failed = false, skipped = false;
};

Case make_case(const Row& row, const std::string& bench, const Cell* c, const GateReport* gate) {
  Case k{row.key, bench, "", false, false};
  if (!c || !c->avg()) {
    k.skipped = true;
    k.body = "<skipped message=\"not evaluated on this benchmark\"/>";
    return k;
  }
  std::string out = fmt::format("avg@n {} ({})", fmt_metric(*c->avg()), cell_detail(*c));
  const GateResult* g = gate && gate->enabled ? gate->find(row.key, bench) : nullptr;
  if (g) {
    std::string msg = gate_message(*g, gate->max_drop);
    out += "\n" + msg;
    if (g->failed) {
      k.failed = true;
      k.body += "<failure type=\"regression\" message=\"" + xml_escape(msg) + "\">" + xml_escape(msg) + "</failure>";
    }
  }
  k.body += "<system-out>" + xml_escape(out) + "</system-out>";
  return k;
}

}  // namespace

std::string render_junit(const Leaderboard& lb, const GateReport* gate) {
  std::vector<Case> cases;
  for (const auto& row : lb.rows) {
    if (row.reference) continue;
    for (const auto& b : lb.benchmarks) cases.push_back(make_case(row, b, row.cell(b), gate));
  }
  size_t failures = 0, skipped = 0;
  for (const auto& c : cases) failures += c.failed, skipped += c.skipped;
  std::ostringstream os;
  os << "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  os << fmt::format("<testsuites name=\"crucible\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{}\" time=\"0\">\n",
                    cases.size(), failures, skipped);
  os << fmt::format(
      "  <testsuite name=\"{}\" tests=\"{}\" failures=\"{}\" errors=\"0\" skipped=\"{}\" time=\"0\" timestamp=\"{}\">\n",
      xml_escape(lb.title), cases.size(), failures, skipped, xml_escape(lb.generated.substr(0, 19)));
  for (const auto& c : cases)
    os << "    <testcase classname=\"" << xml_escape(c.classname) << "\" name=\"" << xml_escape(c.name)
       << "\" time=\"0\">" << c.body << "</testcase>\n";
  os << "  </testsuite>\n</testsuites>\n";
  return os.str();
}

}  // namespace crucible::reports
