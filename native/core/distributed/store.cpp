#include "distributed/store.h"

#include <torch/csrc/distributed/c10d/FileStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>

#include <chrono>

#include "runtime/errors.h"

namespace spo::distributed {

c10::intrusive_ptr<c10d::Store> connect_store(const RendezvousOptions& o) {
  const auto timeout = std::chrono::milliseconds(static_cast<int64_t>(o.timeout_seconds * 1000));
  try {
    c10::intrusive_ptr<c10d::Store> store;
    if (!o.file_store.empty()) {
      store = c10::make_intrusive<c10d::FileStore>(o.file_store, static_cast<int>(o.world_size));
    } else {
      c10d::TCPStoreOptions t;
      t.port = static_cast<std::uint16_t>(o.master_port);
      t.isServer = o.rank == 0;
      t.numWorkers = static_cast<std::size_t>(o.world_size);
      t.waitWorkers = true;  // the server returns once every rank has joined
      t.timeout = timeout;
      store = c10::make_intrusive<c10d::TCPStore>(o.master_addr, t);
    }
    store->setTimeout(timeout);
    return store;
  } catch (const std::exception& e) {
    const std::string where = o.file_store.empty()
                                  ? "TCP store " + o.master_addr + ":" + std::to_string(o.master_port)
                                  : "file store " + o.file_store;
    throw Error(ErrorCode::InvalidArgument, "distributed: rank " + std::to_string(o.rank) + " of " +
                                                std::to_string(o.world_size) + " could not rendezvous through the " +
                                                where + " within " + std::to_string(int(o.timeout_seconds)) +
                                                " s: " + e.what());
  }
}

}  // namespace spo::distributed
