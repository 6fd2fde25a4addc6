#include "train/distributed/launcher.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <thread>

namespace crucible::train {

int pick_free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return 29500;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  socklen_t len = sizeof(a);
  int port = 29500;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) == 0)
    port = ntohs(a.sin_port);
  ::close(fd);
  return port;
}

LaunchResult launch_local(int nproc, const std::vector<std::string>& argv, std::chrono::milliseconds grace) {
  LaunchResult result;
  if (nproc < 1 || argv.empty()) {
    result.exit_code = 2;
    result.message = "launch_local: need nproc >= 1 and a command";
    return result;
  }
  std::string port = std::getenv("MASTER_PORT") ? std::getenv("MASTER_PORT") : std::to_string(pick_free_port());
  std::vector<pid_t> pids(nproc, -1);
  for (int r = 0; r < nproc; ++r) {
    pid_t pid = ::fork();
    if (pid == 0) {
      ::setenv("RANK", std::to_string(r).c_str(), 1);
      ::setenv("LOCAL_RANK", std::to_string(r).c_str(), 1);
      ::setenv("WORLD_SIZE", std::to_string(nproc).c_str(), 1);
      ::setenv("LOCAL_WORLD_SIZE", std::to_string(nproc).c_str(), 1);
      ::setenv("MASTER_ADDR", "127.0.0.1", 1);
      ::setenv("MASTER_PORT", port.c_str(), 1);
      std::vector<char*> args;
      for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      ::execvp(args[0], args.data());
      std::fprintf(stderr, "launch: cannot run %s: %s\n", args[0], std::strerror(errno));
      ::_exit(127);
    }
    if (pid < 0) {
      result.exit_code = 1;
      result.message = std::string("fork failed: ") + std::strerror(errno);
      for (pid_t p : pids)
        if (p > 0) ::kill(p, SIGKILL);
      for (pid_t p : pids)
        if (p > 0) ::waitpid(p, nullptr, 0);
      return result;
    }
    pids[r] = pid;
  }
  int alive = nproc;
  bool terminating = false;
  auto term_deadline = std::chrono::steady_clock::time_point::max();
  while (alive > 0) {
    int status = 0;
    pid_t pid = ::waitpid(-1, &status, terminating ? WNOHANG : 0);
    if (pid < 0 && errno == EINTR) continue;
    if (pid < 0) break;  // no children left
    if (pid == 0) {      // terminating: poll until the grace period is over, then SIGKILL
      if (std::chrono::steady_clock::now() >= term_deadline) {
        for (pid_t p : pids)
          if (p > 0) ::kill(p, SIGKILL);
        term_deadline = std::chrono::steady_clock::time_point::max();
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
      continue;
    }
    int rank = -1;
    for (int r = 0; r < nproc; ++r)
      if (pids[r] == pid) rank = r, pids[r] = -1;
    if (rank < 0) continue;
    --alive;
    int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (code != 0 && result.failed_rank < 0) {
      result.exit_code = code;
      result.failed_rank = rank;
      result.message = "rank " + std::to_string(rank) +
                       (WIFEXITED(status) ? " exited with code " + std::to_string(code)
                                          : std::string(" was killed by signal ") + strsignal(WTERMSIG(status))) +
                       "; stopping the other ranks";
      terminating = true;
      term_deadline = std::chrono::steady_clock::now() + grace;
      for (pid_t p : pids)
        if (p > 0) ::kill(p, SIGTERM);
    }
  }
  return result;
}

}  // namespace crucible::train
