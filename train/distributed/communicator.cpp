#include "train/distributed/communicator.h"

#ifndef USE_C10D_GLOO
#define USE_C10D_GLOO 1
#endif
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/version.h>
#ifdef CRUCIBLE_WITH_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <map>

namespace crucible::train {

#if TORCH_VERSION_MAJOR >= 2
using GroupBase = c10d::Backend;       // 2.x: process-group backends derive from Backend
#else
using GroupBase = c10d::ProcessGroup;  // 1.13: from ProcessGroup
#endif

struct Communicator::Impl {
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<GroupBase> group;
  std::chrono::milliseconds timeout;
};

Communicator::Communicator(DistEnv env, std::unique_ptr<Impl> impl) : env_(std::move(env)), impl_(std::move(impl)) {}
Communicator::~Communicator() = default;

Result<std::unique_ptr<Communicator>> Communicator::create(const DistEnv& env, c10::Device device,
                                                           std::chrono::milliseconds timeout) {
  auto impl = std::make_unique<Impl>();
  impl->timeout = timeout;
  if (env.world_size == 1) return std::unique_ptr<Communicator>(new Communicator(env, std::move(impl)));
  try {
    c10d::TCPStoreOptions so;
    so.port = static_cast<uint16_t>(env.master_port);
    so.isServer = env.rank == 0;
    so.numWorkers = env.world_size;
    so.waitWorkers = true;
    so.timeout = timeout;
    impl->store = c10::make_intrusive<c10d::TCPStore>(env.master_addr, so);
    if (device.is_cuda()) {
#ifdef CRUCIBLE_WITH_NCCL
      auto opts = c10d::ProcessGroupNCCL::Options::create();
      opts->timeout = timeout;
      impl->group = c10::make_intrusive<c10d::ProcessGroupNCCL>(impl->store, env.rank, env.world_size, opts);
#else
      return Status::invalid("CUDA tensors need ProcessGroupNCCL, but this build of Crucible has no NCCL "
                             "(build against pip torch on a GPU machine)");
#endif
    } else {
      auto opts = c10d::ProcessGroupGloo::Options::create(timeout);
      // One node: loopback. Several: the interface this host's name resolves to.
      bool local = env.master_addr == "localhost" || env.master_addr.rfind("127.", 0) == 0;
      opts->devices.push_back(local ? c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1")
                                    : c10d::ProcessGroupGloo::createDefaultDevice());
      opts->threads = 2;
      impl->group = c10::make_intrusive<c10d::ProcessGroupGloo>(impl->store, env.rank, env.world_size, opts);
    }
  } catch (const std::exception& e) {
    return Status::unavailable("rank " + std::to_string(env.rank) + ": could not join the process group at " +
                               env.master_addr + ":" + std::to_string(env.master_port) + ": " + e.what());
  }
  return std::unique_ptr<Communicator>(new Communicator(env, std::move(impl)));
}

namespace {

// Runs one collective; a c10d error (peer gone, timeout) becomes a Status naming the operation.
template <typename F>
Status guarded(const char* what, int rank, F&& f) {
  try {
    f();
    return Status::ok();
  } catch (const std::exception& e) {
    std::string msg = e.what();
    if (msg.size() > 600) msg = msg.substr(0, 600) + "...";
    return Status::unavailable(std::string(what) + " failed on rank " + std::to_string(rank) +
                               " (another rank died or timed out?): " + msg);
  }
}

}  // namespace

Status Communicator::all_reduce_mean(const std::vector<at::Tensor>& tensors, size_t bucket_bytes) {
  if (world_size() == 1) return Status::ok();
  // Buckets of same dtype/device tensors, in order; each flattened, reduced once, copied back.
  std::vector<std::vector<at::Tensor>> buckets;
  std::map<std::pair<int, std::string>, size_t> open;  // (dtype, device) -> open bucket index
  std::vector<size_t> bucket_bytes_used;
  for (const auto& t : tensors) {
    if (!t.defined()) continue;
    auto key = std::make_pair(static_cast<int>(t.scalar_type()), t.device().str());
    auto it = open.find(key);
    size_t bytes = t.numel() * t.element_size();
    if (it == open.end() || bucket_bytes_used[it->second] + bytes > bucket_bytes) {
      buckets.emplace_back();
      bucket_bytes_used.push_back(0);
      open[key] = buckets.size() - 1;
      it = open.find(key);
    }
    buckets[it->second].push_back(t);
    bucket_bytes_used[it->second] += bytes;
  }
  return guarded("all_reduce_mean", rank(), [&] {
    for (auto& bucket : buckets) {
      std::vector<at::Tensor> flat_parts;
      for (auto& t : bucket) flat_parts.push_back(t.reshape({-1}));
      std::vector<at::Tensor> flat{at::cat(flat_parts)};
      c10d::AllreduceOptions o;
      o.reduceOp = c10d::ReduceOp::SUM;
      impl_->group->allreduce(flat, o)->wait();
      flat[0].div_(static_cast<double>(world_size()));
      int64_t offset = 0;
      for (auto& t : bucket) {
        t.copy_(flat[0].narrow(0, offset, t.numel()).view_as(t));
        offset += t.numel();
      }
    }
  });
}

Status Communicator::all_reduce_sum(at::Tensor& tensor) {
  if (world_size() == 1) return Status::ok();
  return guarded("all_reduce_sum", rank(), [&] {
    std::vector<at::Tensor> v{tensor};
    c10d::AllreduceOptions o;
    o.reduceOp = c10d::ReduceOp::SUM;
    impl_->group->allreduce(v, o)->wait();
  });
}

Status Communicator::broadcast(const std::vector<at::Tensor>& tensors, int root) {
  if (world_size() == 1) return Status::ok();
  return guarded("broadcast", rank(), [&] {
    for (const auto& t : tensors) {
      std::vector<at::Tensor> v{t};
      c10d::BroadcastOptions o;
      o.rootRank = root;
      impl_->group->broadcast(v, o)->wait();
    }
  });
}

Result<at::Tensor> Communicator::all_gather(const at::Tensor& local) {
  if (world_size() == 1) return local.clone();
  std::vector<std::vector<at::Tensor>> out(1);
  for (int r = 0; r < world_size(); ++r) out[0].push_back(at::empty_like(local));
  std::vector<at::Tensor> in{local.contiguous()};
  Status s = guarded("all_gather", rank(), [&] { impl_->group->allgather(out, in)->wait(); });
  if (!s.is_ok()) return s;
  return at::cat(out[0], 0);
}

Status Communicator::barrier() {
  if (world_size() == 1) return Status::ok();
  return guarded("barrier", rank(), [&] { impl_->group->barrier()->wait(); });
}

}  // namespace crucible::train
