// `crucible eval`: score a model (OpenAI-compatible server, or recorded completions) on a
// benchmark JSONL. Exit codes: 0 success, 1 backend/runtime failures (missing samples are retried
// when the same command is run again), 2 bad input.
#include <cerrno>
#include <cstdlib>
#include <iostream>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "harness/backend_factory.h"
#include "harness/cli/commands.h"
#include "harness/eval_runner.h"
#include "harness/metrics.h"
#include "harness/run_store.h"
#include "tasks/task_registry.h"

namespace crucible::cli {
namespace {

struct EvalFlags {
  std::string task, data, backend = "openai", url = "http://127.0.0.1:8000", model, api_key, replay, out;
  std::string n, temperature = "0.6", top_p = "0.95", top_k, max_tokens = "32768", seed;
  std::vector<std::string> stop;
  std::string concurrency = "64", timeout = "600", retries = "5", max_in_flight = "0";
  std::string mode = "chat", system_prompt, prompt_template;
  std::string field_problem, field_answer, field_id;
  std::string model_dir, device = "cpu", dtype, max_batch = "64", tokenizer, grpc_protocol = "auto";
  bool no_progress = false;
};

struct BadInput {
  std::string message;
};

long long parse_int(const std::string& flag, const std::string& v, long long lo, long long hi) {
  errno = 0;
  char* end = nullptr;
  long long x = std::strtoll(v.c_str(), &end, 10);
  if (v.empty() || errno || *end != '\0' || x < lo || x > hi)
    throw BadInput{flag + ": expected an integer in [" + std::to_string(lo) + ", " + std::to_string(hi) +
                   "], got '" + v + "'"};
  return x;
}

double parse_double(const std::string& flag, const std::string& v, double lo, double hi) {
  errno = 0;
  char* end = nullptr;
  double x = std::strtod(v.c_str(), &end);
  if (v.empty() || errno || *end != '\0' || !(x >= lo && x <= hi))
    throw BadInput{flag + ": expected a number in [" + std::to_string(lo) + ", " + std::to_string(hi) +
                   "], got '" + v + "'"};
  return x;
}

int run(const EvalFlags& f, CLI::App* sub) {
  try {
    if (!sub->remaining().empty()) {
      std::string extra;
      for (const auto& r : sub->remaining()) extra += " " + r;
      throw BadInput{"unexpected arguments:" + extra + " (see crucible eval --help)"};
    }
    if (f.task.empty()) throw BadInput{"--task is required (known tasks: aime24, aime25, math500, math, ...)"};
    if (f.data.empty()) throw BadInput{"--data is required (a JSONL file, one problem per line)"};
    if (f.out.empty()) throw BadInput{"--out is required (the run directory)"};
    if (f.backend != "openai" && f.backend != "replay" && f.backend != "local" && f.backend != "vllm-grpc")
      throw BadInput{std::string("--backend must be one of ") + backend_names() + ", got '" + f.backend + "'"};
    auto spec = TaskRegistry::global().lookup(f.task);
    if (!spec) throw BadInput{spec.status().message()};
    if (f.backend == "openai" && f.model.empty()) throw BadInput{"--model is required with --backend openai"};
    if (f.backend == "replay" && f.replay.empty()) throw BadInput{"--backend replay needs --replay FILE"};
    if (f.backend == "local" && f.model_dir.empty()) throw BadInput{"--backend local needs --model-dir DIR"};

    SamplingParams params;
    params.n = f.n.empty() ? (*spec)->default_n : static_cast<int>(parse_int("--n", f.n, 1, 100000));
    params.temperature = parse_double("--temperature", f.temperature, 0, 100);
    params.top_p = parse_double("--top-p", f.top_p, 0, 1);
    params.top_k = f.top_k.empty() ? -1 : static_cast<int>(parse_int("--top-k", f.top_k, -1, 1 << 30));
    params.max_tokens = static_cast<int>(parse_int("--max-tokens", f.max_tokens, 1, 1 << 30));
    if (!f.seed.empty())
      params.seed = static_cast<uint64_t>(parse_int("--seed", f.seed, 0, std::numeric_limits<long long>::max()));
    params.stop = f.stop;
    int concurrency = static_cast<int>(parse_int("--concurrency", f.concurrency, 1, 100000));
    double timeout = parse_double("--timeout", f.timeout, 0.001, 1e7);
    int retries = static_cast<int>(parse_int("--retries", f.retries, 0, 1000));
    size_t max_in_flight = static_cast<size_t>(parse_int("--max-in-flight", f.max_in_flight, 0, 1 << 30));
    PromptMode mode;
    if (!prompt_mode_from_name(f.mode, &mode))
      throw BadInput{"--mode must be 'chat' or 'completion', got '" + f.mode + "'"};

    TaskLoadOptions lo;
    lo.data_path = f.data;
    lo.dataset.field_problem = f.field_problem;
    lo.dataset.field_answer = f.field_answer;
    lo.dataset.field_id = f.field_id;
    auto task = TaskRegistry::global().load(f.task, lo);
    if (!task) throw BadInput{task.status().message()};
    if (!f.prompt_template.empty()) {
      auto t = PromptTemplate::from_file(f.prompt_template);
      if (!t) throw BadInput{t.status().message()};
      task->prompt.templ = std::move(*t);
    }
    task->prompt.mode = mode;
    task->prompt.system_prompt = f.system_prompt;

    auto data_hash = sha256_path(f.data);  // a directory for package-based code tasks
    if (!data_hash) throw BadInput{data_hash.status().message()};

    BackendConfig bc;
    bc.backend = f.backend;
    bc.url = f.url;
    bc.model = f.model;
    bc.api_key = f.api_key;
    if (bc.api_key.empty()) {
      if (const char* k = std::getenv("OPENAI_API_KEY")) bc.api_key = k;
    }
    bc.concurrency = concurrency;
    bc.timeout_s = timeout;
    bc.max_retries = retries;
    bc.replay_path = f.replay;
    bc.model_dir = f.model_dir;
    bc.device = f.device;
    bc.dtype = f.dtype;
    bc.max_batch = static_cast<int>(parse_int("--max-batch", f.max_batch, 1, 1 << 20));
    bc.tokenizer_dir = f.tokenizer.empty() ? f.model_dir : f.tokenizer;
    bc.grpc_protocol = f.grpc_protocol;
    std::string model = f.model;
    std::string url = f.url;
    if (f.backend == "replay") {
      if (model.empty()) model = "replay";
      url = f.replay;
    } else if (f.backend == "local") {
      if (model.empty()) model = f.model_dir;
      url = "local:" + f.model_dir;
    }
    auto made = make_backend(bc);
    if (!made) throw BadInput{made.status().message()};
    std::unique_ptr<Backend> backend = std::move(*made);

    RunInfo info;
    info.task = task->name;
    info.model = model;
    info.backend = f.backend;
    info.url = url;
    info.data_path = f.data;
    info.data_sha256 = *data_hash;
    info.num_problems = task->problems.size();
    info.grader = task->grader->name();
    info.sampling = params;
    info.prompt_mode = prompt_mode_name(mode);
    info.prompt_sha256 = sha256_hex(task->prompt.fingerprint());
    info.prompt_template = task->prompt.templ.text();
    info.system_prompt = f.system_prompt;
    auto store = RunStore::open(f.out, info);
    if (!store) {
      std::cerr << "crucible eval: " << store.status().message() << "\n";
      return store.status().code() == StatusCode::kIo ? 1 : 2;
    }

    EvalOptions eo;
    eo.params = params;
    eo.model = model;
    eo.max_in_flight = max_in_flight;
    eo.progress = !f.no_progress;
    auto report = run_eval(*task, *backend, **store, eo);
    if (!report) {
      std::cerr << "crucible eval: " << report.status().message() << "\n";
      return 1;
    }
    std::cout << format_summary(report->metrics, task->name, model);
    std::cout << "run dir    " << f.out << "  (run.json, samples.jsonl, results.json)\n";
    if (report->resumed_samples)
      std::cout << "resumed    " << report->resumed_samples << " samples were already stored; "
                << report->new_samples << " generated now\n";
    if (!report->ok()) {
      std::cerr << "crucible eval: " << report->errors.size() << " request(s) failed; " << report->missing_samples
                << " of " << report->total_samples << " samples missing (" << report->metrics.incomplete.size()
                << " problems not scored).\n";
      size_t shown = 0;
      for (const auto& e : report->errors) {
        if (shown++ == 5) {
          std::cerr << "  ... (" << report->errors.size() - 5 << " more in results.json)\n";
          break;
        }
        std::cerr << "  problem " << e.problem_id << " samples " << e.first_sample << ".."
                  << e.first_sample + e.n - 1 << ": " << e.message << "\n";
      }
      std::cerr << "Run the same command again to retry only the missing samples.\n";
      return 1;
    }
    return 0;
  } catch (const BadInput& e) {
    std::cerr << "crucible eval: " << e.message << "\n";
    return 2;
  }
}

const char* kFooter = R"(
Each problem is sampled n times; every completion is graded by the task's grader and appended to
OUT/samples.jsonl (fsync'd) before metrics are written to OUT/results.json. Running the same
command again resumes: only missing (problem, sample) pairs are requested. A different model, data
file, prompt or sampling setting for an existing OUT is refused (n may change).

Data: JSONL, one problem per line. Statement from problem|question|Problem|Question, gold answer
from answer|Answer|solution (a MATH solution's last \boxed{} is used), id from
id|ID|unique_id|problem_id (else line-N); --field-* override these.

Prompt: lighteval's math prompt by default ("Solve the following math problem efficiently and
clearly. ... {problem}"). --prompt-template FILE uses {problem} (or {question}); write {{ and }}
for literal braces.

Metrics: avg@n (mean accuracy over n samples, Open-R1's "pass@1"), pass@k (unbiased estimator),
maj@k (majority vote over equivalent answers), each with its standard error over problems.

Examples:
  crucible eval --task aime24 --data aime24.jsonl --url http://localhost:8000 \
      --model deepseek-ai/DeepSeek-R1-Distill-Qwen-1.5B --out runs/aime24-r1-1.5b
  crucible eval --task math500 --data math500.jsonl --backend replay \
      --replay runs/old/samples.jsonl --n 4 --out runs/regrade

Exit codes: 0 success; 1 backend or I/O failures (rerun to retry the missing samples); 2 bad input.
)";

Register reg("eval", [](CLI::App& root, int& exit_code) {
  auto flags = std::make_shared<EvalFlags>();
  CLI::App* sub = root.add_subcommand(
      "eval", "Evaluate a model on a benchmark: sample n completions per problem, grade, report metrics");
  sub->allow_extras();
  sub->footer(kFooter);
  auto& f = *flags;
  sub->add_option("--task", f.task, "benchmark: aime24, aime25 (n=64), math500 (n=4), math (n=1)")
      ->type_name("NAME");
  sub->add_option("--data", f.data,
                  "problems JSONL (HF dataset rows exported one per line); ioi/icpc: also a package "
                  "directory or a directory of packages (docs/code-grader.md)")
      ->type_name("FILE");
  sub->add_option("--backend", f.backend,
                  "openai (OpenAI-compatible server) | replay (recorded completions) | local (LibTorch "
                  "model from --model-dir) | vllm-grpc (vLLM gRPC server at --url HOST:PORT)")
      ->capture_default_str()
      ->type_name("NAME");
  sub->add_option("--url", f.url, "server base URL (openai backend)")->capture_default_str()
      ->type_name("URL");
  sub->add_option("--model", f.model, "model name sent to the server (required for openai)")
      ->type_name("NAME");
  sub->add_option("--api-key", f.api_key, "bearer token (default: $OPENAI_API_KEY)")
      ->type_name("KEY");
  sub->add_option("--replay", f.replay,
                  "replay backend: a samples.jsonl of another run, or rows {id, completions:[..]} / "
                  "{id, completion}")
      ->type_name("FILE");
  sub->add_option("--model-dir", f.model_dir,
                  "local backend: Hugging Face model directory (config.json, *.safetensors, tokenizer.json)")
      ->type_name("DIR");
  sub->add_option("--device", f.device, "local backend: cpu | cuda | cuda:N")->capture_default_str()
      ->type_name("DEV");
  sub->add_option("--dtype", f.dtype, "local backend: fp32 | bf16 (default: bf16 on cuda, fp32 on cpu)")
      ->type_name("TYPE");
  sub->add_option("--max-batch", f.max_batch, "local backend: sequences decoded together")
      ->capture_default_str()
      ->type_name("INT");
  sub->add_option("--tokenizer", f.tokenizer,
                  "vllm-grpc engine protocol: directory with tokenizer.json + tokenizer_config.json "
                  "(default: --model-dir)")
      ->type_name("DIR");
  sub->add_option("--grpc-protocol", f.grpc_protocol,
                  "vllm-grpc: auto (probe) | inference (vllm.Inference) | engine (vllm.grpc.engine)")
      ->capture_default_str()
      ->type_name("NAME");
  sub->add_option("--out", f.out, "run directory (created; rerun the same command to resume)")
      ->type_name("DIR");
  sub->add_option("--n", f.n, "samples per problem (default: the task's: AIME 64, MATH-500 4, math 1)")
      ->type_name("INT");
  sub->add_option("--temperature", f.temperature, "sampling temperature")->capture_default_str()
      ->type_name("FLOAT");
  sub->add_option("--top-p", f.top_p, "nucleus sampling")->capture_default_str()
      ->type_name("FLOAT");
  sub->add_option("--top-k", f.top_k, "top-k (default: not sent)")
      ->type_name("INT");
  sub->add_option("--max-tokens", f.max_tokens, "max new tokens per completion")->capture_default_str()
      ->type_name("INT");
  sub->add_option("--seed", f.seed, "base seed; request seed = seed + problem_index*1000 + first_sample")
      ->type_name("INT");
  sub->add_option("--stop", f.stop, "stop string(s); repeatable")
      ->type_name("STR");
  sub->add_option("--concurrency", f.concurrency, "requests in flight to the server")->capture_default_str()
      ->type_name("INT");
  sub->add_option("--timeout", f.timeout, "seconds per request attempt")->capture_default_str()
      ->type_name("SECONDS");
  sub->add_option("--retries", f.retries, "retries per request (connection errors, 429, 5xx)")
      ->capture_default_str()
      ->type_name("INT");
  sub->add_option("--max-in-flight", f.max_in_flight,
                  "harness-side cap on submitted-but-unfinished requests (0 = no cap)")
      ->capture_default_str()
      ->type_name("INT");
  sub->add_option("--mode", f.mode, "chat (messages) | completion (raw prompt)")->capture_default_str()
      ->type_name("MODE");
  sub->add_option("--system-prompt", f.system_prompt, "system message (chat) / prompt prefix (completion)")
      ->type_name("TEXT");
  sub->add_option("--prompt-template", f.prompt_template, "template file with {problem}")
      ->type_name("FILE");
  sub->add_option("--field-problem", f.field_problem, "dataset field holding the statement")
      ->type_name("NAME");
  sub->add_option("--field-answer", f.field_answer, "dataset field holding the gold answer")
      ->type_name("NAME");
  sub->add_option("--field-id", f.field_id, "dataset field holding the problem id")
      ->type_name("NAME");
  sub->add_flag("--no-progress", f.no_progress, "no progress output on stderr");
  sub->callback([flags, sub, &exit_code] { exit_code = run(*flags, sub); });
});

}  // namespace
}  // namespace crucible::cli
