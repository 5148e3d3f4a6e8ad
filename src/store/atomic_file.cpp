#include <deeprfm/store/atomic_file.hpp>

#include <fcntl.h>
#include <unistd.h>

#include <filesystem>

namespace deeprfm::store {

namespace fs = std::filesystem;

namespace {
void fsync_path(const std::string& path, bool directory) {
  const int fd = ::open(path.c_str(), directory ? O_RDONLY | O_DIRECTORY : O_RDONLY);
  if (fd < 0) return;  // best effort: some file systems refuse to open folders
  ::fsync(fd);
  ::close(fd);
}
}  // namespace

std::string folder_of(const std::string& path) {
  const fs::path parent = fs::absolute(path).parent_path();
  return parent.empty() ? "." : parent.string();
}

void replace_file_atomically(const std::string& tmp, const std::string& final,
                             const mpi::Communicator& comm) {
  mpi::run_agreed(comm, [&] {
    if (comm.rank() != 0) return;
    fsync_path(tmp, false);
    std::error_code ec;
    fs::rename(tmp, final, ec);
    DEEPRFM_CHECK(!ec, resource,
                  "cannot rename " << tmp << " to " << final << ": " << ec.message());
    fsync_path(folder_of(final), true);
  });
}

void copy_file_on_root(const std::string& from, const std::string& to,
                       const mpi::Communicator& comm) {
  mpi::run_agreed(comm, [&] {
    if (comm.rank() != 0) return;
    std::error_code ec;
    fs::copy_file(from, to, fs::copy_options::overwrite_existing, ec);
    DEEPRFM_CHECK(!ec, resource, "cannot copy " << from << " to " << to << ": " << ec.message());
  });
}

void write_file_atomically(const std::string& path,
                           const std::function<void(const std::string& tmp)>& write,
                           const mpi::Communicator& comm) {
  const std::string tmp = path + ".tmp";
  write(tmp);
  replace_file_atomically(tmp, path, comm);
}

void update_file_atomically(const std::string& path,
                            const std::function<void(const std::string& tmp)>& update,
                            const mpi::Communicator& comm) {
  const std::string tmp = path + ".tmp";
  copy_file_on_root(path, tmp, comm);
  update(tmp);
  replace_file_atomically(tmp, path, comm);
}

}  // namespace deeprfm::store
