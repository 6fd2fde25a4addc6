// `--nproc-per-node N`: runs N copies of a command on this machine as ranks of one job, the way
// torchrun does: each child gets RANK = LOCAL_RANK = i, WORLD_SIZE = LOCAL_WORLD_SIZE = N,
// MASTER_ADDR = 127.0.0.1 and MASTER_PORT (a free loopback port, unless MASTER_PORT is already
// set). When a rank fails, the others are sent SIGTERM and, after `grace`, SIGKILL, so a dead
// rank never leaves its peers waiting in a collective.
#pragma once
#include <chrono>
#include <string>
#include <vector>

namespace crucible::train {

struct LaunchResult {
  int exit_code = 0;      // 0: every rank exited 0; else the first failing rank's code (128+sig if killed)
  int failed_rank = -1;
  std::string message;    // what happened, for the user
};

LaunchResult launch_local(int nproc, const std::vector<std::string>& argv,
                          std::chrono::milliseconds grace = std::chrono::seconds(5));

// A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0, read it, close).
int pick_free_port();

}  // namespace crucible::train
