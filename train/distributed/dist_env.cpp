#include "train/distributed/dist_env.h"

#include <cerrno>
#include <cstdlib>

namespace crucible::train {
namespace {

// The integer value of the first set variable among `names`; `*found` says whether one was set.
Result<int> read_int(std::initializer_list<const char*> names, int fallback, bool* found) {
  *found = false;
  for (const char* name : names) {
    const char* v = std::getenv(name);
    if (!v || !*v) continue;
    errno = 0;
    char* end = nullptr;
    long x = std::strtol(v, &end, 10);
    if (errno || *end || x < 0 || x > 1 << 20)
      return Status::invalid(std::string("environment variable ") + name + "='" + v + "' is not a valid integer");
    *found = true;
    return static_cast<int>(x);
  }
  return fallback;
}

}  // namespace

Result<DistEnv> DistEnv::from_environment() {
  DistEnv e;
  bool found = false;
  auto ws = read_int({"WORLD_SIZE", "SLURM_NTASKS"}, 1, &found);
  if (!ws) return ws.status();
  e.world_size = *ws;
  if (e.world_size < 1) return Status::invalid("WORLD_SIZE must be at least 1");
  auto r = read_int({"RANK", "SLURM_PROCID"}, 0, &found);
  if (!r) return r.status();
  e.rank = *r;
  if (e.rank >= e.world_size)
    return Status::invalid("RANK=" + std::to_string(e.rank) + " is not below WORLD_SIZE=" + std::to_string(e.world_size));
  auto lr = read_int({"LOCAL_RANK", "SLURM_LOCALID"}, 0, &found);
  if (!lr) return lr.status();
  e.local_rank = *lr;
  auto lws = read_int({"LOCAL_WORLD_SIZE", "SLURM_NTASKS_PER_NODE"}, e.world_size, &found);
  if (!lws) return lws.status();
  e.local_world_size = *lws;
  if (e.world_size > 1) {
    const char* addr = std::getenv("MASTER_ADDR");
    if (!addr || !*addr) return Status::invalid("MASTER_ADDR must be set when WORLD_SIZE > 1");
    e.master_addr = addr;
    auto port = read_int({"MASTER_PORT"}, -1, &found);
    if (!port) return port.status();
    if (!found || *port < 1 || *port > 65535) return Status::invalid("MASTER_PORT must be set to a port when WORLD_SIZE > 1");
    e.master_port = *port;
  }
  return e;
}

}  // namespace crucible::train
