// The c10d key-value store the ranks meet through: a TCPStore served by rank 0
// at master_addr:master_port, or a FileStore on a shared file system.
#pragma once
#include <torch/csrc/distributed/c10d/Store.hpp>

#include "distributed/rendezvous.h"

namespace spo::distributed {

// Blocks until every rank has connected (TCP) or at most the timeout; the
// store keeps that timeout for later waits.
c10::intrusive_ptr<c10d::Store> connect_store(const RendezvousOptions& resolved);

}  // namespace spo::distributed
