#include <deeprfm/mpi/communicator.hpp>

#include <new>

namespace deeprfm::mpi {

void check(int rc, const char* what) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS) len = 0;
  DEEPRFM_THROW(resource, what << " failed: "
                               << (len > 0 ? std::string(text, static_cast<std::size_t>(len))
                                           : "MPI error code " + std::to_string(rc)));
}

namespace {
void check_mpi(int rc, const char* what) { check(rc, what); }
}  // namespace

Communicator Communicator::world() { return Communicator(MPI_COMM_WORLD, false); }

Communicator::Communicator(MPI_Comm comm, bool owned) : comm_(comm), owned_(owned) {
  if (comm_ != MPI_COMM_NULL) {
    MPI_Comm_rank(comm_, &rank_);
    MPI_Comm_size(comm_, &size_);
  }
}

Communicator::~Communicator() {
  if (owned_ && comm_ != MPI_COMM_NULL && comm_ != MPI_COMM_WORLD) {
    int finalized = 0;
    MPI_Finalized(&finalized);
    if (!finalized) MPI_Comm_free(&comm_);
  }
}

Communicator::Communicator(Communicator&& other) noexcept
    : comm_(other.comm_), owned_(other.owned_), rank_(other.rank_), size_(other.size_) {
  other.comm_ = MPI_COMM_NULL;
  other.owned_ = false;
}

Communicator& Communicator::operator=(Communicator&& other) noexcept {
  if (this != &other) {
    this->~Communicator();
    comm_ = other.comm_;
    owned_ = other.owned_;
    rank_ = other.rank_;
    size_ = other.size_;
    other.comm_ = MPI_COMM_NULL;
    other.owned_ = false;
  }
  return *this;
}

Communicator Communicator::split(int color, int key) const {
  MPI_Comm out = MPI_COMM_NULL;
  check_mpi(MPI_Comm_split(comm_, color, key, &out), "MPI_Comm_split");
  return Communicator(out, true);
}

void Communicator::barrier() const { check_mpi(MPI_Barrier(comm_), "MPI_Barrier"); }

bool Communicator::all_of(bool local) const {
  int in = local ? 1 : 0, out = 0;
  check_mpi(MPI_Allreduce(&in, &out, 1, MPI_INT, MPI_LAND, comm_), "MPI_Allreduce");
  return out != 0;
}

double Communicator::sum(double local) const {
  double out = 0;
  check_mpi(MPI_Allreduce(&local, &out, 1, MPI_DOUBLE, MPI_SUM, comm_), "MPI_Allreduce");
  return out;
}
double Communicator::max(double local) const {
  double out = 0;
  check_mpi(MPI_Allreduce(&local, &out, 1, MPI_DOUBLE, MPI_MAX, comm_), "MPI_Allreduce");
  return out;
}
double Communicator::min(double local) const {
  double out = 0;
  check_mpi(MPI_Allreduce(&local, &out, 1, MPI_DOUBLE, MPI_MIN, comm_), "MPI_Allreduce");
  return out;
}
std::int64_t Communicator::sum(std::int64_t local) const {
  std::int64_t out = 0;
  check_mpi(MPI_Allreduce(&local, &out, 1, MPI_INT64_T, MPI_SUM, comm_), "MPI_Allreduce");
  return out;
}
std::int64_t Communicator::max(std::int64_t local) const {
  std::int64_t out = 0;
  check_mpi(MPI_Allreduce(&local, &out, 1, MPI_INT64_T, MPI_MAX, comm_), "MPI_Allreduce");
  return out;
}

void Communicator::sum_in_place(double* data, std::size_t count) const {
  // Chunked so that counts beyond INT_MAX work.
  const std::size_t chunk = std::size_t(1) << 28;
  for (std::size_t off = 0; off < count; off += chunk) {
    int c = static_cast<int>(std::min(chunk, count - off));
    check_mpi(MPI_Allreduce(MPI_IN_PLACE, data + off, c, MPI_DOUBLE, MPI_SUM, comm_),
              "MPI_Allreduce");
  }
}
void Communicator::sum_in_place(std::int64_t* data, std::size_t count) const {
  const std::size_t chunk = std::size_t(1) << 28;
  for (std::size_t off = 0; off < count; off += chunk) {
    int c = static_cast<int>(std::min(chunk, count - off));
    check_mpi(MPI_Allreduce(MPI_IN_PLACE, data + off, c, MPI_INT64_T, MPI_SUM, comm_),
              "MPI_Allreduce");
  }
}

void Communicator::broadcast(double* data, std::size_t count, int root) const {
  const std::size_t chunk = std::size_t(1) << 28;
  for (std::size_t off = 0; off < count; off += chunk) {
    int c = static_cast<int>(std::min(chunk, count - off));
    check_mpi(MPI_Bcast(data + off, c, MPI_DOUBLE, root, comm_), "MPI_Bcast");
  }
}

void Communicator::broadcast(std::string& text, int root) const {
  long len = static_cast<long>(text.size());
  check_mpi(MPI_Bcast(&len, 1, MPI_LONG, root, comm_), "MPI_Bcast");
  text.resize(static_cast<std::size_t>(len));
  if (len > 0)
    check_mpi(MPI_Bcast(text.data(), static_cast<int>(len), MPI_CHAR, root, comm_), "MPI_Bcast");
}

std::vector<int> Communicator::all_gather(const std::vector<int>& local) const {
  int mine = static_cast<int>(local.size());
  std::vector<int> counts(static_cast<std::size_t>(size_)),
      offsets(static_cast<std::size_t>(size_));
  check_mpi(MPI_Allgather(&mine, 1, MPI_INT, counts.data(), 1, MPI_INT, comm_), "MPI_Allgather");
  long total = 0;
  for (int r = 0; r < size_; ++r) {
    offsets[static_cast<std::size_t>(r)] = static_cast<int>(total);
    total += counts[static_cast<std::size_t>(r)];
  }
  DEEPRFM_CHECK(total < (1L << 31), resource,
                "all_gather of " << total << " integers is too large");
  std::vector<int> out(static_cast<std::size_t>(total));
  check_mpi(MPI_Allgatherv(local.data(), mine, MPI_INT, out.data(), counts.data(), offsets.data(),
                           MPI_INT, comm_),
            "MPI_Allgatherv");
  return out;
}

void Communicator::agree(std::exception_ptr local_failure) const {
  // One reduction gives both the first failing rank and how many failed.
  int mine[2] = {local_failure ? -rank_ : -size_, local_failure ? 1 : 0};
  int agreed[2] = {0, 0};
  MPI_Op op_first = MPI_MAX;  // max of -rank = min rank
  check_mpi(MPI_Allreduce(&mine[0], &agreed[0], 1, MPI_INT, op_first, comm_), "MPI_Allreduce");
  check_mpi(MPI_Allreduce(&mine[1], &agreed[1], 1, MPI_INT, MPI_SUM, comm_), "MPI_Allreduce");
  const int first = -agreed[0];
  const int failed = agreed[1];
  if (first == size_) return;  // nobody failed

  std::string message;
  int kind = static_cast<int>(ErrorKind::internal);
  std::string file = "";
  std::string subject = "";
  int line = 0;
  int already_agreed = 0;  // the failure is itself an agreed error (a nested agreement)
  if (rank_ == first) {
    try {
      std::rethrow_exception(local_failure);
    } catch (const Error& e) {
      message = e.what();
      kind = static_cast<int>(e.kind());
      file = e.file();
      subject = e.subject();
      line = e.line();
      already_agreed = e.agreed() ? 1 : 0;
    } catch (const std::bad_alloc&) {
      message = "out of memory (std::bad_alloc); use more ranks or fewer samples";
      kind = static_cast<int>(ErrorKind::resource);
    } catch (const std::exception& e) {
      message = e.what();
    } catch (...) {
      message = "unknown exception";
    }
  }
  int header[3] = {kind, line, already_agreed};
  check_mpi(MPI_Bcast(header, 3, MPI_INT, first, comm_), "MPI_Bcast");
  broadcast(message, first);
  broadcast(file, first);
  broadcast(subject, first);
  // Name the rank only when it matters: when some ranks failed and others did not, and the
  // failure was not already an agreed error (which named its rank when it was agreed).
  std::string prefix =
      (size_ > 1 && failed < size_ && header[2] == 0) ? "rank " + std::to_string(first) + ": " : "";
  throw Error(static_cast<ErrorKind>(header[0]), prefix + message, file, header[1],
              /*agreed=*/true, subject);
}

}  // namespace deeprfm::mpi
