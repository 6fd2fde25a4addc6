#include "train/demo/r1_demo.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iomanip>
#include <map>
#include <sstream>

#include "backends/tokenizer/bpe_trainer.h"
#include "backends/tokenizer/tokenizer.h"
#include "backends/torch/local_backend.h"
#include "backends/torch/model.h"
#include "core/jsonl.h"
#include "harness/eval_runner.h"
#include "harness/run_store.h"
#include "reports/report_runner.h"
#include "tasks/task_registry.h"
#include "train/grpo_trainer.h"
#include "train/recipe.h"
#include "train/rewards/format_rewards.h"
#include "train/sft_trainer.h"


namespace crucible::train::demo {
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

// The task's chat layout: Qwen2's ChatML, without a default system prompt.
const char* kChatTemplate =
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}";
const char* kTaskName = "arithmetic";
// Sub-directories (and files) of OUT the demo writes; removed when a previous demo is rerun.
const char* kOwnedEntries[] = {"data", "base", "sft", "grpo", "recipes", "runs", "filter", "report", "demo.json"};

using Clock = std::chrono::steady_clock;
double seconds_since(Clock::time_point t0) {
  return std::chrono::duration<double>(Clock::now() - t0).count();
}

// The R1 response layout that Open-R1's `format` reward checks, around the arithmetic steps:
// "<think>\n7 + 5 = 12\n12 * 2 = 24\n</think>\n<answer>\n\boxed{24}\n</answer>".
std::string r1_trace(const synthetic::ArithmeticProblem& p, const std::string& boxed) {
  std::string t = "<think>\n";
  for (const auto& s : p.steps) t += s + "\n";
  return t + "</think>\n<answer>\n\\boxed{" + boxed + "}\n</answer>";
}
std::string r1_trace(const synthetic::ArithmeticProblem& p) { return r1_trace(p, p.answer); }

// splitmix64 of (seed, row): the noisy teacher's choice of rows, the same on every platform.
double unit_hash(uint64_t seed, uint64_t row) {
  uint64_t z = seed * 0x9E3779B97F4A7C15ull + (row + 1) * 0xD1B54A32D192ED03ull;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  z ^= z >> 31;
  return static_cast<double>(z >> 11) / 9007199254740992.0;  // [0, 1)
}

// The noisy teacher's wrong answer: the value before the last operation ("a" of the last step
// "a op b = c"), or the right answer + 1 where that would be right anyway.
std::string teacher_wrong_answer(const synthetic::ArithmeticProblem& p) {
  std::string before = p.answer;
  if (!p.steps.empty()) before = p.steps.back().substr(0, p.steps.back().find(' '));
  if (before == p.answer) before = std::to_string(std::stoi(p.answer) + 1);
  return before;
}

Status write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) return Status::io("cannot write " + path);
  return Status::ok();
}

Status write_jsonl(const std::string& path, const std::vector<json>& rows) {
  std::string text;
  for (const auto& r : rows) text += r.dump() + "\n";
  return write_file(path, text);
}

// A YAML scalar for a string: JSON's double-quoted form is valid YAML.
std::string yq(const std::string& s) { return json(s).dump(); }

std::string fmt_double(double x) {
  std::ostringstream o;
  o << std::setprecision(6) << x;
  std::string s = o.str();
  // YAML 1.1 (PyYAML) reads "1e-3" as a string: keep a dot in the mantissa ("1.0e-3").
  auto e = s.find('e');
  if (e != std::string::npos && s.substr(0, e).find('.') == std::string::npos) s.insert(e, ".0");
  return s;
}

Status prepare_out_dir(const std::string& out) {
  std::error_code ec;
  if (fs::exists(out, ec)) {
    if (!fs::is_directory(out, ec)) return Status::invalid(out + " exists and is not a directory");
    bool empty = fs::directory_iterator(out, ec) == fs::directory_iterator();
    if (!empty) {
      if (!fs::exists(fs::path(out) / "demo.json"))
        return Status::invalid(out + " is not empty and holds no previous demo (demo.json); choose another --out");
      for (const char* e : kOwnedEntries) fs::remove_all(fs::path(out) / e, ec);
    }
  }
  fs::create_directories(fs::path(out) / "data", ec);
  fs::create_directories(fs::path(out) / "recipes", ec);
  if (ec) return Status::io("cannot create " + out + ": " + ec.message());
  return Status::ok();
}

struct Logger {
  std::ostream* os;
  template <typename... A>
  void operator()(const A&... parts) const {
    if (!os) return;
    ((*os) << ... << parts);
    (*os) << std::endl;
  }
};

// One eval of a model directory on a problem file through the harness (local backend, the
// `arithmetic` task's grader and prompt, run store, metrics).
struct EvalOutcome {
  Metrics metrics;
  json per_problem;         // results.json per_problem
  double format_rate = 0;
  int samples = 0;
};

Result<EvalOutcome> eval_model(const std::string& model_dir, const std::string& model_name,
                               const std::string& data_path, const std::string& run_dir, int n,
                               double temperature, int max_tokens, uint64_t seed) {
  TaskLoadOptions lo;
  lo.data_path = data_path;
  auto task = TaskRegistry::global().load(kTaskName, lo);
  if (!task) return task.status();
  auto data_hash = sha256_path(data_path);
  if (!data_hash) return data_hash.status();

  LocalBackendConfig bc;
  bc.model_dir = model_dir;
  bc.device = "cpu";
  bc.dtype = "fp32";
  bc.max_batch = 256;
  auto backend = make_local_backend(bc);
  if (!backend) return backend.status();

  SamplingParams params;
  params.n = n;
  params.temperature = temperature;
  params.top_p = 1.0;
  params.max_tokens = max_tokens;
  params.seed = seed;

  RunInfo info;
  info.task = task->name;
  info.model = model_name;
  info.backend = "local";
  info.url = "local:" + model_dir;
  info.data_path = data_path;
  info.data_sha256 = *data_hash;
  info.num_problems = task->problems.size();
  info.grader = task->grader->name();
  info.sampling = params;
  info.prompt_mode = prompt_mode_name(task->prompt.mode);
  info.prompt_sha256 = sha256_hex(task->prompt.fingerprint());
  info.prompt_template = task->prompt.templ.text();
  auto store = RunStore::open(run_dir, info);
  if (!store) return store.status();

  EvalOptions eo;
  eo.params = params;
  eo.model = model_name;
  eo.progress = false;
  auto report = run_eval(*task, **backend, **store, eo);
  if (!report) return report.status();
  if (!report->ok()) {
    std::string first = report->errors.empty() ? "" : ": " + report->errors.front().message;
    return Status::internal("eval of " + model_dir + ": " + std::to_string(report->missing_samples) +
                            " samples missing" + first);
  }
  EvalOutcome out;
  out.metrics = report->metrics;
  out.per_problem = report->results.value("per_problem", json::array());

  auto lines = read_jsonl((*store)->samples_path());
  if (!lines) return lines.status();
  size_t formatted = 0;
  for (const auto& l : *lines)
    if (matches_think_answer_format(l.value.value("completion", ""))) ++formatted;
  out.samples = static_cast<int>(lines->size());
  out.format_rate = lines->empty() ? 0 : static_cast<double>(formatted) / static_cast<double>(lines->size());
  return out;
}

}  // namespace

DemoOptions DemoOptions::full() { return DemoOptions{}; }

DemoOptions DemoOptions::quick() {
  DemoOptions o;
  o.grpo_steps = 30;
  o.eval_base = false;
  return o;
}

const StageEval* DemoSummary::find(const std::string& stage) const {
  for (const auto& e : evals)
    if (e.stage == stage) return &e;
  return nullptr;
}

json DemoSummary::to_json() const {
  json j;
  j["out_dir"] = out_dir;
  j["evals"] = json::array();
  for (const auto& e : evals)
    j["evals"].push_back({{"stage", e.stage}, {"model_dir", e.model_dir}, {"run_dir", e.run_dir},
                          {"accuracy", e.accuracy}, {"stderr", e.stderr_}, {"format_rate", e.format_rate},
                          {"samples", e.samples}});
  j["times"] = json::object();
  for (const auto& t : times) j["times"][t.stage] = t.seconds;
  j["grpo_prompts"] = grpo_prompts;
  j["teacher_error_rate"] = teacher_error_rate;
  j["sft_rows"] = sft_rows;
  j["sft_wrong_answers"] = sft_wrong_answers;
  j["vocab_size"] = vocab_size;
  j["parameters"] = parameters;
  j["leaderboard_md"] = leaderboard_md;
  j["leaderboard_html"] = leaderboard_html;
  j["total_seconds"] = total_seconds;
  return j;
}

std::string format_summary_table(const DemoSummary& s) {
  std::ostringstream o;
  o << std::fixed;
  o << "stage   held-out accuracy (avg@n)   format    samples\n";
  for (const auto& e : s.evals) {
    o << std::left << std::setw(8) << e.stage << std::right << std::setprecision(1) << std::setw(8)
      << 100 * e.accuracy << "% +- " << std::setw(4) << 100 * e.stderr_ << "        " << std::setw(6)
      << 100 * e.format_rate << "%   " << e.samples << "\n";
  }
  o << "\ntime per stage (s):";
  for (const auto& t : s.times) o << " " << t.stage << " " << std::setprecision(1) << t.seconds << ";";
  o << " total " << std::setprecision(1) << s.total_seconds << "\n";
  return o.str();
}

Result<DemoSummary> run_r1_demo(const DemoOptions& opt) {
  const auto t_start = Clock::now();
  Logger log{opt.log};
  DemoSummary sum;
  const std::string out = opt.out_dir;
  sum.out_dir = out;
  auto p = [&](const std::string& rel) { return (fs::path(out) / rel).string(); };
  auto timed = [&](const std::string& stage, Clock::time_point t0) {
    sum.times.push_back({stage, seconds_since(t0)});
  };
  if (auto st = prepare_out_dir(out); !st.is_ok()) return st;

  // 1. Data: one pool of distinct problems, split three ways (statements never repeat across).
  auto t0 = Clock::now();
  const size_t total = opt.sft_problems + opt.grpo_problems + opt.eval_problems;
  auto problems = synthetic::generate_arithmetic(opt.seed, total, opt.arithmetic);
  if (problems.size() < total)
    return Status::invalid("data: only " + std::to_string(problems.size()) + " distinct problems for " +
                           std::to_string(total) + " requested; allow more steps or larger operands");
  std::vector<json> sft_rows, grpo_rows, eval_rows;
  std::vector<std::string> corpus;
  for (size_t i = 0; i < total; ++i) {
    const auto& q = problems[i];
    if (i < opt.sft_problems) {
      const bool wrong = unit_hash(opt.seed, i) < opt.teacher_error_rate;
      if (wrong) ++sum.sft_wrong_answers;
      std::string trace = r1_trace(q, wrong ? teacher_wrong_answer(q) : q.answer);
      sft_rows.push_back({{"id", q.id},
                          {"messages", json::array({{{"role", "user"}, {"content", q.problem}},
                                                    {{"role", "assistant"}, {"content", trace}}})}});
      corpus.push_back(q.problem + "\n" + trace);
    } else if (i < opt.sft_problems + opt.grpo_problems) {
      grpo_rows.push_back({{"id", q.id}, {"problem", q.problem}, {"answer", q.answer}});
    } else {
      eval_rows.push_back({{"id", q.id}, {"problem", q.problem}, {"answer", q.answer}});
    }
  }
  for (auto [name, rows] : {std::pair<const char*, const std::vector<json>*>{"data/sft.jsonl", &sft_rows},
                            {"data/grpo_pool.jsonl", &grpo_rows},
                            {"data/eval.jsonl", &eval_rows}})
    if (auto st = write_jsonl(p(name), *rows); !st.is_ok()) return st;
  sum.sft_rows = sft_rows.size();
  sum.teacher_error_rate = opt.teacher_error_rate;
  timed("data", t0);
  log("[1/6] data: ", sft_rows.size(), " SFT traces (", sum.sft_wrong_answers,
      " with a wrong boxed answer: noisy teacher, rate ", opt.teacher_error_rate, "), ", grpo_rows.size(), " GRPO prompts, ", eval_rows.size(),
      " held-out problems (", opt.arithmetic.min_steps, "-", opt.arithmetic.max_steps, " steps) in ", p("data"));

  // 2. Tokenizer: byte-level BPE on the SFT text (+ ChatML's role words).
  t0 = Clock::now();
  corpus.push_back("user\nassistant\n");
  BpeTrainOptions bo;
  bo.num_merges = opt.bpe_merges;
  bo.special_tokens = {"<|endoftext|>", "<|im_start|>", "<|im_end|>"};
  json tokenizer_json = train_byte_level_bpe(corpus, bo);
  const int64_t vocab = 256 + static_cast<int64_t>(tokenizer_json["model"]["merges"].size()) + 3;
  sum.vocab_size = vocab;
  fs::create_directories(p("base"));
  if (auto st = write_file(p("base/tokenizer.json"), tokenizer_json.dump()); !st.is_ok()) return st;
  json tok_cfg = {{"chat_template", kChatTemplate},
                  {"eos_token", "<|im_end|>"},
                  {"pad_token", "<|endoftext|>"},
                  {"model_max_length", 512}};
  if (auto st = write_file(p("base/tokenizer_config.json"), tok_cfg.dump(2)); !st.is_ok()) return st;
  auto tok = Tokenizer::from_file(p("base/tokenizer.json"));
  if (!tok) return Status(tok.status().code(), "tokenizer: " + tok.status().message());
  // Lengths that bound generation: the longest trace (+ <|im_end|>) and the longest prompt.
  size_t max_completion = 0, max_prompt = 0;
  for (size_t i = 0; i < total; ++i) {
    const auto& q = problems[i];
    max_completion = std::max(max_completion, tok->encode(r1_trace(q), false).size() + 1);
    max_prompt = std::max(max_prompt,
                          tok->encode("<|im_start|>user\n" + q.problem + "<|im_end|>\n<|im_start|>assistant\n", false).size());
  }
  const int max_tokens = static_cast<int>(max_completion) + 8;
  timed("tokenizer", t0);
  log("[2/6] tokenizer: byte-level BPE, ", vocab, " tokens (", tokenizer_json["model"]["merges"].size(),
      " merges); traces <= ", max_completion, " tokens, prompts <= ", max_prompt, " tokens");

  // 3. Model: a tiny Qwen2 from random weights.
  t0 = Clock::now();
  json cj = {{"model_type", "qwen2"},
             {"vocab_size", vocab},
             {"hidden_size", opt.hidden_size},
             {"intermediate_size", opt.intermediate_size},
             {"num_hidden_layers", opt.num_layers},
             {"num_attention_heads", opt.num_heads},
             {"num_key_value_heads", opt.num_kv_heads},
             {"max_position_embeddings", 512},
             {"rms_norm_eps", 1e-6},
             {"rope_theta", 10000.0},
             {"tie_word_embeddings", true},
             {"eos_token_id", vocab - 1},  // <|im_end|>
             {"initializer_range", 0.02}};
  auto mcfg = lm::ModelConfig::from_json(cj, "demo model");
  if (!mcfg) return mcfg.status();
  {
    auto model = lm::make_random_causal_lm(*mcfg, opt.seed);
    for (const auto& prm : model->parameters()) sum.parameters += prm.numel();
    if (auto st = lm::save_causal_lm(model, p("base")); !st.is_ok()) return st;
  }
  timed("model", t0);
  log("[3/6] model: Qwen2, ", opt.num_layers, " layers, hidden ", opt.hidden_size, ", ", opt.num_heads, " heads (",
      opt.num_kv_heads, " kv), ", sum.parameters, " parameters, random weights in ", p("base"));

  RecipeOptions ro;
  ro.print_warnings = false;
  TrainRunOptions tro;
  tro.device = "cpu";
  tro.quiet = !opt.verbose_training;

  // 4. SFT.
  t0 = Clock::now();
  std::ostringstream sft_yaml;
  sft_yaml << "# crucible demo, stage 4: SFT of the random-weight model on <think> traces.\n"
           << "# Rerun: crucible train sft --config " << p("recipes/sft.yaml") << "\n"
           << "model_name_or_path: " << yq(p("base")) << "\n"
           << "torch_dtype: float32\n"
           << "dataset_name: " << yq(p("data/sft.jsonl")) << "\n"
           << "output_dir: " << yq(p("sft")) << "\n"
           << "learning_rate: " << fmt_double(opt.sft_learning_rate) << "\n"
           << "num_train_epochs: " << fmt_double(opt.sft_epochs) << "\n"
           << "per_device_train_batch_size: " << opt.sft_batch_size << "\n"
           << "gradient_accumulation_steps: 1\n"
           << "max_length: 256\n"
           << "packing: false\n"
           << "assistant_only_loss: true\n"
           << "lr_scheduler_type: cosine_with_min_lr\n"
           << "lr_scheduler_kwargs: {min_lr_rate: 0.1}\n"
           << "warmup_ratio: 0.05\n"
           << "weight_decay: 0.01\n"
           << "max_grad_norm: 1.0\n"
           << "shuffle_dataset: true\n"
           << "logging_steps: 10\n"
           << "save_strategy: \"no\"\n"
           << "bf16: false\n"
           << "gradient_checkpointing: false\n"
           << "seed: " << opt.seed << "\n";
  if (auto st = write_file(p("recipes/sft.yaml"), sft_yaml.str()); !st.is_ok()) return st;
  auto sft_cfg = load_sft_recipe(p("recipes/sft.yaml"), ro);
  if (!sft_cfg) return Status(sft_cfg.status().code(), "SFT recipe: " + sft_cfg.status().message());
  log("[4/6] SFT: ", p("recipes/sft.yaml"), " ...");
  auto sft = run_sft(*sft_cfg, tro);
  if (!sft) return Status(sft.status().code(), "SFT: " + sft.status().message());
  timed("sft", t0);
  double first_loss = sft->log_history.empty() ? 0.0 : sft->log_history.front().value("loss", 0.0);
  log("      ", sft->global_step, " steps, loss ", first_loss, " -> ", sft->last_loss, " (",
      std::fixed, std::setprecision(1), sum.times.back().seconds, " s)", std::defaultfloat);

  // Evaluations of the checkpoints on the held-out problems (runs/<stage>: what the report reads).
  auto eval_stage = [&](const std::string& stage, const std::string& model_dir) -> Status {
    auto te = Clock::now();
    std::string run_dir = p("runs/" + stage);
    auto r = eval_model(model_dir, "tiny-qwen2-" + stage, p("data/eval.jsonl"), run_dir, opt.eval_samples,
                        opt.eval_temperature, max_tokens, opt.seed + 1000);
    if (!r) return Status(r.status().code(), "eval of " + stage + ": " + r.status().message());
    StageEval e;
    e.stage = stage;
    e.model_dir = model_dir;
    e.run_dir = run_dir;
    const std::string avg = "avg@" + std::to_string(opt.eval_samples);
    if (const MetricValue* v = r->metrics.find(avg)) {
      e.accuracy = v->value;
      e.stderr_ = v->stderr_;
    }
    e.format_rate = r->format_rate;
    e.samples = r->samples;
    sum.evals.push_back(e);
    timed("eval-" + stage, te);
    log("      eval ", stage, ": held-out ", avg, " = ", std::fixed, std::setprecision(1), 100 * e.accuracy,
        "% +- ", 100 * e.stderr_, ", format ", 100 * e.format_rate, "% (", sum.times.back().seconds, " s)",
        std::defaultfloat);
    return Status::ok();
  };
  if (opt.eval_base)
    if (auto st = eval_stage("base", p("base")); !st.is_ok()) return st;
  if (auto st = eval_stage("sft", p("sft")); !st.is_ok()) return st;

  // 5. GRPO on the problems the SFT model leaves headroom on.
  if (opt.run_grpo) {
    t0 = Clock::now();
    std::vector<json> kept;
    if (opt.filter_samples > 1) {
      auto r = eval_model(p("sft"), "tiny-qwen2-sft", p("data/grpo_pool.jsonl"), p("filter"), opt.filter_samples,
                          opt.grpo_temperature, max_tokens, opt.seed + 2000);
      if (!r) return Status(r.status().code(), "headroom filter: " + r.status().message());
      std::map<std::string, int> correct;
      for (const auto& pp : r->per_problem) correct[pp.value("id", "")] = pp.value("correct", 0);
      for (const auto& row : grpo_rows) {
        int c = correct.count(row["id"]) ? correct[row["id"]] : 0;
        if (c > 0 && c < opt.filter_samples) kept.push_back(row);
      }
      const size_t min_prompts = static_cast<size_t>(std::max<int64_t>(1, opt.grpo_batch_size / opt.num_generations));
      log("      headroom filter: ", kept.size(), " of ", grpo_rows.size(),
          " pool problems solved in some but not all of ", opt.filter_samples, " samples");
      if (kept.size() < min_prompts) {
        log("      (too few: GRPO uses the whole pool)");
        kept = grpo_rows;
      }
    } else {
      kept = grpo_rows;
    }
    sum.grpo_prompts = kept.size();
    if (auto st = write_jsonl(p("data/grpo.jsonl"), kept); !st.is_ok()) return st;
    timed("filter", t0);

    t0 = Clock::now();
    std::ostringstream gy;
    gy << "# crucible demo, stage 5: GRPO of the SFT model with verifiable rewards.\n"
       << "# Rerun: crucible train grpo --config " << p("recipes/grpo.yaml") << "\n"
       << "model_name_or_path: " << yq(p("sft")) << "\n"
       << "torch_dtype: float32\n"
       << "dataset_name: " << yq(p("data/grpo.jsonl")) << "\n"
       << "task: " << kTaskName << "\n"
       << "output_dir: " << yq(p("grpo")) << "\n"
       << "reward_funcs: [accuracy, format]\n"
       << "reward_weights: [1.0, " << fmt_double(opt.format_weight) << "]\n"
       << "learning_rate: " << fmt_double(opt.grpo_learning_rate) << "\n"
       << "max_steps: " << opt.grpo_steps << "\n"
       << "per_device_train_batch_size: " << opt.grpo_batch_size << "\n"
       << "gradient_accumulation_steps: 1\n"
       << "num_generations: " << opt.num_generations << "\n"
       << "max_prompt_length: " << max_prompt + 8 << "\n"
       << "max_completion_length: " << max_tokens << "\n"
       << "temperature: " << fmt_double(opt.grpo_temperature) << "\n"
       << "top_p: 1.0\n"
       << "beta: 0.0\n"
       << "loss_type: dapo\n"
       << "scale_rewards: group\n"
       << "lr_scheduler_type: constant\n"
       << "max_grad_norm: 1.0\n"
       << "shuffle_dataset: true\n"
       << "logging_steps: 5\n"
       << "save_strategy: \"no\"\n"
       << "bf16: false\n"
       << "gradient_checkpointing: false\n"
       << "seed: " << opt.seed << "\n";
    if (auto st = write_file(p("recipes/grpo.yaml"), gy.str()); !st.is_ok()) return st;
    auto grpo_cfg = load_grpo_recipe(p("recipes/grpo.yaml"), ro);
    if (!grpo_cfg) return Status(grpo_cfg.status().code(), "GRPO recipe: " + grpo_cfg.status().message());
    log("[5/6] GRPO: ", p("recipes/grpo.yaml"), " (", kept.size(), " prompts) ...");
    auto grpo = run_grpo(*grpo_cfg, tro);
    if (!grpo) return Status(grpo.status().code(), "GRPO: " + grpo.status().message());
    timed("grpo", t0);
    double r0 = 0, r1 = 0;
    if (!grpo->log_history.empty()) {
      r0 = grpo->log_history.front().value("reward", 0.0);
      r1 = grpo->log_history.back().value("reward", 0.0);
    }
    log("      ", grpo->global_step, " steps, mean reward ", r0, " -> ", r1, " (", std::fixed, std::setprecision(1),
        sum.times.back().seconds, " s)", std::defaultfloat);
    if (auto st = eval_stage("grpo", p("grpo")); !st.is_ok()) return st;
  }

  // 6. Report: the leaderboard over runs/ (base, SFT, GRPO on the held-out problems).
  t0 = Clock::now();
  reports::ReportOptions rep;
  rep.runs = {p("runs")};
  rep.out = p("report");
  rep.title = "crucible demo: R1 in miniature (held-out arithmetic)";
  rep.step_summary = false;
  std::ostringstream rep_out, rep_err;
  int rc = reports::run_report(rep, rep_out, rep_err);
  if (rc != 0) return Status::internal("report: " + rep_err.str());
  sum.leaderboard_md = p("report/leaderboard.md");
  sum.leaderboard_html = p("report/leaderboard.html");
  timed("report", t0);
  log("[6/6] report: ", sum.leaderboard_md, ", ", sum.leaderboard_html);

  sum.total_seconds = seconds_since(t_start);
  if (auto st = write_file(p("demo.json"), sum.to_json().dump(2) + "\n"); !st.is_ok()) return st;
  return sum;
}

}  // namespace crucible::train::demo
