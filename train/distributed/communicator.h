// Collective operations for data-parallel training over LibTorch's c10d: ProcessGroupGloo for CPU
// tensors, ProcessGroupNCCL for CUDA tensors (when LibTorch was built with NCCL, as pip torch is).
// Rendezvous through a c10d::TCPStore at MASTER_ADDR:MASTER_PORT that rank 0 hosts. With
// world_size 1 every operation is a local no-op, so trainers call them unconditionally.
//
// A peer that dies or a collective that exceeds `timeout` makes the call return an error Status
// (never hang forever, never throw): the trainer then stops with that message.
#pragma once
#include <chrono>
#include <memory>
#include <vector>

#include <ATen/ATen.h>

#include "core/status.h"
#include "train/distributed/dist_env.h"

namespace crucible::train {

class Communicator {
 public:
  // device: where the tensors handed to the collectives live (kCPU -> Gloo, kCUDA -> NCCL).
  static Result<std::unique_ptr<Communicator>> create(const DistEnv& env, c10::Device device,
                                                      std::chrono::milliseconds timeout = std::chrono::minutes(10));
  ~Communicator();
  Communicator(const Communicator&) = delete;
  Communicator& operator=(const Communicator&) = delete;

  int rank() const { return env_.rank; }
  int world_size() const { return env_.world_size; }
  const DistEnv& env() const { return env_; }

  // Replaces each defined tensor by its mean over ranks, in flat buckets of at most
  // `bucket_bytes` (one collective per bucket, not one per tensor). For gradients: pass
  // param.grad() of every parameter, in the same order on every rank.
  Status all_reduce_mean(const std::vector<at::Tensor>& tensors, size_t bucket_bytes = 25u << 20);
  // Sum over ranks, in place (e.g. token counts for dapo's global normaliser).
  Status all_reduce_sum(at::Tensor& tensor);
  // Copies rank `root`'s tensors into every rank's (same shapes): initial weights, seeds.
  Status broadcast(const std::vector<at::Tensor>& tensors, int root = 0);
  // Rank-ordered concatenation along dim 0 of every rank's `local` (same shape on every rank):
  // e.g. GRPO rewards, so a group split across ranks gets its advantage from all its completions.
  Result<at::Tensor> all_gather(const at::Tensor& local);
  Status barrier();

 private:
  struct Impl;
  Communicator(DistEnv env, std::unique_ptr<Impl> impl);
  DistEnv env_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace crucible::train
