// Umbrella header of data-parallel training: DataParallel, the sharded batcher and the
// communicators (dist::Local always, dist::Mpi with the edgestack::mpi target).
#pragma once

#include "edgestack/dist/concepts.hpp"
#include "edgestack/dist/data_parallel.hpp"
#include "edgestack/dist/local.hpp"
#include "edgestack/dist/shard.hpp"
#if defined(EDGESTACK_HAS_MPI)
#include "edgestack/dist/mpi.hpp"
#endif
