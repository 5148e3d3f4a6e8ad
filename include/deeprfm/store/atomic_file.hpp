#pragma once
/// The file-system steps of an atomic commit, shared by the Deep RFM and MLP checkpoints: a
/// file is written under a temporary name, then rank 0 flushes it to disk and renames it over
/// the old one (rename(2) is atomic on POSIX file systems) and flushes the folder. Every
/// function is collective over `comm` and agrees on failure (rank 0 does the work).
#include <functional>
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

/// Write a complete new `path`: `write(tmp)` runs on every rank and writes the whole file
/// under the temporary name `<path>.tmp`, which then replaces `path` (replace_file_atomically).
/// A crash at any point leaves the old `path` (or none) or the new one, never a torn one.
/// Collective over `comm`; agreed failure.
void write_file_atomically(const std::string& path,
                           const std::function<void(const std::string& tmp)>& write,
                           const mpi::Communicator& comm);

/// Change `path` atomically: rank 0 copies it to `<path>.tmp`, `update(tmp)` runs on every
/// rank and changes the copy, and the copy replaces `path`. A crash at any point leaves the
/// old file or the new one. Collective over `comm`; agreed failure.
void update_file_atomically(const std::string& path,
                            const std::function<void(const std::string& tmp)>& update,
                            const mpi::Communicator& comm);

}  // namespace deeprfm::store
