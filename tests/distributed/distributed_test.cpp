// Data-parallel building blocks on real c10d Gloo process groups: ranks as threads of this process
// and as separate processes started by the launcher (this binary re-run with WORLD_SIZE set).
#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdlib>
#include <functional>
#include <thread>

#include "train/distributed/communicator.h"
#include "train/distributed/dist_env.h"
#include "train/distributed/launcher.h"

namespace crucible::train {
namespace {

using namespace std::chrono_literals;

// Runs fn(rank) for `world` ranks, each on its own thread, with its own Communicator.
void run_ranks(int world, const std::function<void(Communicator&)>& fn, std::chrono::milliseconds timeout = 20s) {
  int port = pick_free_port();
  std::vector<std::thread> threads;
  for (int r = 0; r < world; ++r) {
    threads.emplace_back([=] {
      DistEnv env;
      env.rank = r;
      env.world_size = world;
      env.local_world_size = world;
      env.master_port = port;
      auto comm = Communicator::create(env, c10::Device(c10::kCPU), timeout);
      ASSERT_TRUE(comm.is_ok()) << comm.status().message();
      fn(**comm);
    });
  }
  for (auto& t : threads) t.join();
}

struct EnvGuard {
  std::vector<std::string> names{"RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR",
                                 "MASTER_PORT", "SLURM_PROCID", "SLURM_NTASKS", "SLURM_LOCALID"};
  std::vector<std::pair<std::string, std::string>> saved;
  EnvGuard() {
    for (auto& n : names)
      if (const char* v = std::getenv(n.c_str())) saved.push_back({n, v});
    for (auto& n : names) ::unsetenv(n.c_str());
  }
  ~EnvGuard() {
    for (auto& n : names) ::unsetenv(n.c_str());
    for (auto& [n, v] : saved) ::setenv(n.c_str(), v.c_str(), 1);
  }
};

TEST(DistEnv, ReadsTorchrunAndSlurmVariablesAndRejectsBadOnes) {
  EnvGuard g;
  auto one = DistEnv::from_environment();
  ASSERT_TRUE(one.is_ok());
  EXPECT_EQ(one->world_size, 1);
  EXPECT_FALSE(one->distributed());
  ::setenv("RANK", "1", 1);
  ::setenv("WORLD_SIZE", "4", 1);
  ::setenv("LOCAL_RANK", "1", 1);
  ::setenv("MASTER_ADDR", "10.0.0.2", 1);
  ::setenv("MASTER_PORT", "29511", 1);
  auto e = DistEnv::from_environment();
  ASSERT_TRUE(e.is_ok()) << e.status().message();
  EXPECT_EQ(e->rank, 1);
  EXPECT_EQ(e->world_size, 4);
  EXPECT_EQ(e->master_addr, "10.0.0.2");
  EXPECT_EQ(e->master_port, 29511);
  ::setenv("RANK", "4", 1);
  EXPECT_FALSE(DistEnv::from_environment().is_ok());
  ::setenv("RANK", "x", 1);
  auto bad = DistEnv::from_environment();
  ASSERT_FALSE(bad.is_ok());
  EXPECT_NE(bad.status().message().find("RANK"), std::string::npos);
  ::unsetenv("RANK");
  ::unsetenv("WORLD_SIZE");
  ::unsetenv("MASTER_PORT");
  ::setenv("SLURM_PROCID", "2", 1);
  ::setenv("SLURM_NTASKS", "3", 1);
  auto slurm = DistEnv::from_environment();
  ASSERT_FALSE(slurm.is_ok());  // MASTER_PORT missing
  EXPECT_NE(slurm.status().message().find("MASTER_PORT"), std::string::npos);
  ::setenv("MASTER_PORT", "29512", 1);
  slurm = DistEnv::from_environment();
  ASSERT_TRUE(slurm.is_ok()) << slurm.status().message();
  EXPECT_EQ(slurm->rank, 2);
  EXPECT_EQ(slurm->world_size, 3);
}

TEST(Communicator, CollectivesOverGlooInBuckets) {
  run_ranks(2, [](Communicator& c) {
    float r = static_cast<float>(c.rank());
    // Three tensors of mixed shapes and one undefined; a 16-byte bucket forces several collectives.
    std::vector<at::Tensor> ts{torch::full({3}, r), torch::full({2, 2}, 10 * r), at::Tensor(),
                               torch::full({1}, 100 + r, torch::kFloat64)};
    ASSERT_TRUE(c.all_reduce_mean(ts, 16).is_ok());
    EXPECT_TRUE(torch::allclose(ts[0], torch::full({3}, 0.5f)));
    EXPECT_TRUE(torch::allclose(ts[1], torch::full({2, 2}, 5.0f)));
    EXPECT_DOUBLE_EQ(ts[3].item<double>(), 100.5);
    auto local = torch::tensor({r, r + 10});
    auto all = c.all_gather(local);
    ASSERT_TRUE(all.is_ok()) << all.status().message();
    EXPECT_TRUE(torch::equal(*all, torch::tensor({0.f, 10.f, 1.f, 11.f})));
    auto w = torch::full({4}, r + 7);
    ASSERT_TRUE(c.broadcast({w}, 1).is_ok());
    EXPECT_TRUE(torch::equal(w, torch::full({4}, 8.f)));
    auto n = torch::tensor({int64_t(c.rank() + 1)});
    ASSERT_TRUE(c.all_reduce_sum(n).is_ok());
    EXPECT_EQ(n.item<int64_t>(), 3);
    EXPECT_TRUE(c.barrier().is_ok());
  });
}

// One AdamW step sequence on a linear model: rank-local mean loss + averaged gradients over two
// ranks with 4 rows each == one process on the 8 rows.
std::vector<at::Tensor> train_linear(Communicator* c, const at::Tensor& x, const at::Tensor& y, int steps) {
  torch::manual_seed(0);
  torch::nn::Linear model(5, 3);
  torch::optim::AdamW opt(model->parameters(), torch::optim::AdamWOptions(0.05).weight_decay(0.1));
  for (int s = 0; s < steps; ++s) {
    opt.zero_grad();
    auto loss = torch::mse_loss(model->forward(x), y);
    loss.backward();
    if (c) {
      std::vector<at::Tensor> grads;
      for (auto& p : model->parameters()) grads.push_back(p.grad());
      EXPECT_TRUE(c->all_reduce_mean(grads).is_ok());
    }
    opt.step();
  }
  std::vector<at::Tensor> out;
  for (auto& p : model->parameters()) out.push_back(p.detach().clone());
  return out;
}

TEST(Communicator, TwoRanksMatchOneProcessWithTheSameGlobalBatch) {
  torch::manual_seed(1);
  auto x = torch::randn({8, 5}), y = torch::randn({8, 3});
  auto single = train_linear(nullptr, x, y, 6);
  std::vector<std::vector<at::Tensor>> per_rank(2);
  run_ranks(2, [&](Communicator& c) {
    auto xs = x.narrow(0, 4 * c.rank(), 4), ys = y.narrow(0, 4 * c.rank(), 4);
    per_rank[c.rank()] = train_linear(&c, xs, ys, 6);
  });
  ASSERT_EQ(per_rank[0].size(), single.size());
  for (size_t i = 0; i < single.size(); ++i) {
    EXPECT_TRUE(torch::equal(per_rank[0][i], per_rank[1][i])) << "ranks diverged at parameter " << i;
    EXPECT_TRUE(torch::allclose(per_rank[0][i], single[i], 1e-5, 1e-6)) << "parameter " << i;
  }
}

TEST(Communicator, APeerThatLeavesMakesTheCollectiveFailInsteadOfHanging) {
  run_ranks(
      2,
      [](Communicator& c) {
        if (c.rank() == 1) return;  // rank 1 "dies": its process group is destroyed
        auto t = torch::ones({4});
        Status s = c.all_reduce_mean({t});
        EXPECT_FALSE(s.is_ok());
        EXPECT_NE(s.message().find("all_reduce_mean failed on rank 0"), std::string::npos) << s.message();
      },
      3s);
}

TEST(Launcher, AllRanksSucceedWithTheirVariables) {
  auto r = launch_local(3, {"sh", "-c", "test \"$WORLD_SIZE\" = 3 && test \"$RANK\" = \"$LOCAL_RANK\" && "
                                        "test \"$MASTER_ADDR\" = 127.0.0.1 && test -n \"$MASTER_PORT\""});
  EXPECT_EQ(r.exit_code, 0) << r.message;
  EXPECT_EQ(r.failed_rank, -1);
}

TEST(Launcher, AFailingRankStopsTheOthers) {
  // Rank 1 fails at once; ranks 0 and 2 would sleep for a minute unless they are stopped.
  auto r = launch_local(3, {"sh", "-c", "if [ \"$RANK\" = 1 ]; then exit 3; fi; exec sleep 60"}, 2s);
  EXPECT_EQ(r.exit_code, 3);
  EXPECT_EQ(r.failed_rank, 1);
  EXPECT_NE(r.message.find("rank 1 exited with code 3"), std::string::npos) << r.message;
}

// Child half of the next test: runs only under the launcher (WORLD_SIZE set by it).
TEST(DistributedChild, AllReduceAcrossProcesses) {
  auto env = DistEnv::from_environment();
  ASSERT_TRUE(env.is_ok()) << env.status().message();
  if (!env->distributed()) GTEST_SKIP() << "runs only under launch_local";
  auto c = Communicator::create(*env, c10::Device(c10::kCPU), 20s);
  ASSERT_TRUE(c.is_ok()) << c.status().message();
  auto t = torch::full({2}, float(env->rank + 1));
  ASSERT_TRUE((*c)->all_reduce_mean({t}).is_ok());
  ASSERT_TRUE(torch::allclose(t, torch::full({2}, 1.5f)));
}

TEST(Launcher, RanksAsSeparateProcessesJoinOneGlooGroup) {
  char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  ASSERT_GT(n, 0);
  self[n] = '\0';
  auto r = launch_local(2, {self, "--gtest_filter=DistributedChild.AllReduceAcrossProcesses"});
  EXPECT_EQ(r.exit_code, 0) << r.message;
}

}  // namespace
}  // namespace crucible::train
