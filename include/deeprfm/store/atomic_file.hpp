#pragma once
/// The file-system steps of an atomic commit, shared by the Deep RFM and MLP checkpoints: a
/// file is written under a temporary name, then rank 0 flushes it to disk and renames it over
/// the old one (rename(2) is atomic on POSIX file systems) and flushes the folder. Every
/// function is collective over `comm` and agrees on failure (rank 0 does the work).
#include <string>

#include <deeprfm/mpi/communicator.hpp>

namespace deeprfm::store {

/// The folder holding `path` ("." for a bare file name). Local.
std::string folder_of(const std::string& path);

/// Rank 0: fsync `tmp`, rename it to `final`, fsync the folder. Collective; agreed failure.
void replace_file_atomically(const std::string& tmp, const std::string& final,
                             const mpi::Communicator& comm);

/// Rank 0: copy `from` to `to` (replacing it). Collective; agreed failure.
void copy_file_on_root(const std::string& from, const std::string& to,
                       const mpi::Communicator& comm);

}  // namespace deeprfm::store
