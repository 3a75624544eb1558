#include "distributed/rendezvous.h"

#include <cmath>
#include <cstdlib>

#include "runtime/errors.h"

namespace spo::distributed {
namespace {

std::string env_or(const char* name, const std::string& fallback) {
  const char* v = std::getenv(name);
  return v && *v ? std::string(v) : fallback;
}

int64_t env_integer(const char* name, int64_t fallback) {
  const std::string text = env_or(name, "");
  if (text.empty()) return fallback;
  char* end = nullptr;
  const long long v = std::strtoll(text.c_str(), &end, 10);
  require(end && *end == '\0', std::string("environment variable ") + name + " must be an integer, got \"" + text + "\"");
  return v;
}

}  // namespace

RendezvousOptions resolve_rendezvous(RendezvousOptions o) {
  if (o.world_size < 0) o.world_size = env_integer("WORLD_SIZE", 1);
  if (o.rank < 0) o.rank = env_integer("RANK", 0);
  require(o.world_size >= 1 && o.world_size <= 65536, "distributed: world size must be in [1, 65536], got " +
                                                          std::to_string(o.world_size));
  require(o.rank >= 0 && o.rank < o.world_size, "distributed: rank must be in [0, world size " +
                                                    std::to_string(o.world_size) + "), got " + std::to_string(o.rank));
  require(o.backend == "auto" || o.backend == "gloo" || o.backend == "nccl",
          "distributed: backend must be \"auto\", \"gloo\" or \"nccl\", got \"" + o.backend + "\"");
  require(std::isfinite(o.timeout_seconds) && o.timeout_seconds > 0 && o.timeout_seconds <= 86400,
          "distributed: timeout must be in (0, 86400] seconds");
  if (o.world_size == 1 || !o.file_store.empty()) return o;
  if (o.master_addr.empty()) o.master_addr = env_or("MASTER_ADDR", "127.0.0.1");
  if (o.master_port == 0) o.master_port = env_integer("MASTER_PORT", 0);
  require(o.master_port >= 1 && o.master_port <= 65535,
          "distributed: a TCP rendezvous needs a port in [1, 65535] (masterPort or MASTER_PORT), got " +
              std::to_string(o.master_port));
  return o;
}

}  // namespace spo::distributed
