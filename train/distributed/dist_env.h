// Where this process sits in a distributed run, read from the launcher's environment: torchrun's
// RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT, or SLURM's
// SLURM_PROCID, SLURM_NTASKS, SLURM_LOCALID (with MASTER_ADDR/MASTER_PORT still required when
// SLURM_NTASKS > 1). With none of them set: one process, rank 0 of 1.
#pragma once
#include <string>

#include "core/status.h"

namespace crucible::train {

struct DistEnv {
  int rank = 0;
  int world_size = 1;
  int local_rank = 0;
  int local_world_size = 1;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;

  bool distributed() const { return world_size > 1; }
  bool is_main() const { return rank == 0; }  // rank 0 logs and saves

  // A malformed or inconsistent variable (RANK >= WORLD_SIZE, non-numeric, missing MASTER_ADDR
  // with WORLD_SIZE > 1) is an error naming it.
  static Result<DistEnv> from_environment();
};

}  // namespace crucible::train
