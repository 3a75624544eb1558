// Test helper: runs one gtest case of this very binary as N separate rank
// processes (RANK, WORLD_SIZE and the given variables in their environment,
// output to a log file each), so distributed tests use real processes and
// real c10d rendezvous rather than threads.
#pragma once
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace spo::testing {

struct RankProcess {
  pid_t pid = -1;
  std::string log;  // stdout + stderr
};

// A TCP port that was free a moment ago (bind to port 0, read it back).
inline int free_port() {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

// Starts `world` processes of /proc/self/exe running only `test` (a DISABLED_ case).
inline std::vector<RankProcess> spawn_ranks(const std::string& test, int world,
                                            const std::map<std::string, std::string>& vars,
                                            const std::string& log_dir) {
  std::vector<RankProcess> out;
  for (int rank = 0; rank < world; ++rank) {
    std::map<std::string, std::string> env;
    for (char** e = environ; *e; ++e) {
      std::string kv(*e);
      auto eq = kv.find('=');
      if (eq != std::string::npos) env[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    for (const auto& [k, v] : vars) env[k] = v;
    env["RANK"] = std::to_string(rank);
    env["WORLD_SIZE"] = std::to_string(world);
    std::vector<std::string> env_strings;
    for (const auto& [k, v] : env) env_strings.push_back(k + "=" + v);
    std::vector<char*> envp;
    for (auto& s : env_strings) envp.push_back(s.data());
    envp.push_back(nullptr);
    std::string filter = "--gtest_filter=" + test, disabled = "--gtest_also_run_disabled_tests";
    std::string exe = "/proc/self/exe";
    std::vector<char*> argv{exe.data(), filter.data(), disabled.data(), nullptr};
    RankProcess p;
    p.log = log_dir + "/rank" + std::to_string(rank) + ".log";
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, p.log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    posix_spawn_file_actions_adddup2(&fa, 1, 2);
    if (posix_spawn(&p.pid, exe.c_str(), &fa, nullptr, argv.data(), envp.data()) != 0) p.pid = -1;
    posix_spawn_file_actions_destroy(&fa);
    out.push_back(p);
  }
  return out;
}

// The exit status of `pid` (WEXITSTATUS, or 128 + signal), or -1 after
// `timeout_s` (the process is then killed and reaped).
inline int wait_rank(pid_t pid, double timeout_s) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  while (true) {
    int status = 0;
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (r < 0) return -2;
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

inline bool process_exists(pid_t pid) { return ::kill(pid, 0) == 0; }

inline std::string read_text(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// The worker's side: the value of an environment variable the parent set ("" if none).
inline std::string env(const char* name) {
  const char* v = std::getenv(name);
  return v ? v : "";
}

}  // namespace spo::testing
