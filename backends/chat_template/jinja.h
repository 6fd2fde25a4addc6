// Internal: the Jinja2-subset interpreter behind ChatTemplate (lexer -> parser -> AST -> evaluator).
#pragma once
#include <cstddef>
#include <ctime>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "core/status.h"

namespace crucible::jinja {

struct Program;  // parsed template (opaque)

struct RenderLimits {
  size_t max_output_bytes = 16u << 20;
  size_t max_loop_iterations = 1000000;
  size_t max_call_depth = 64;
};

// Parses `source` with transformers' settings (trim_blocks, lstrip_blocks, no trailing newline).
Result<std::shared_ptr<const Program>> parse(const std::string& source, const std::string& name);

// Renders with the given variables (a JSON object; insertion order is kept for tojson).
Result<std::string> render(const Program& program, const nlohmann::ordered_json& variables,
                           const RenderLimits& limits, std::optional<std::time_t> now);

}  // namespace crucible::jinja
