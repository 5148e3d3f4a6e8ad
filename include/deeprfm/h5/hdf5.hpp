#pragma once
/// Parallel HDF5 (MPI-IO) with RAII handles whose destructors never throw, and one checked
/// wrapper per HDF5 call (a negative return becomes Error(resource) carrying the HDF5 error
/// stack's message). Every function here that touches a file opened with an MPI communicator
/// is collective over that communicator, as HDF5 requires for metadata operations.
#include <hdf5.h>

#include <cstdint>
#include <string>
#include <vector>

#include <deeprfm/la/dist_matrix.hpp>
#include <deeprfm/mpi/communicator.hpp>

namespace deeprfm::h5 {

/// What HDF5 reports about the last data transfer (H5Pget_mpio_actual_io_mode and
/// H5Pget_mpio_no_collective_cause on the transfer property list). Local.
struct TransferReport {
  H5D_mpio_actual_io_mode_t mode = H5D_MPIO_NO_COLLECTIVE;
  std::uint32_t local_no_collective_cause = 0;   ///< H5D_mpio_no_collective_cause_t bits
  std::uint32_t global_no_collective_cause = 0;  ///< same, OR-ed over the ranks
  bool valid = false;                            ///< false until a transfer has happened
  /// True when the transfer was performed collectively (mode != H5D_MPIO_NO_COLLECTIVE).
  bool collective() const { return valid && mode != H5D_MPIO_NO_COLLECTIVE; }
};

/// The innermost description on the current (default) HDF5 error stack, "" if empty. Local.
std::string hdf5_error_message();

/// Turn off HDF5's automatic printing of error stacks to stderr (the stack itself is kept and
/// read by the checked wrappers). Idempotent; called by File. Local.
void silence_hdf5_auto_print();

/// An owning hid_t with the matching H5?close on destruction. Local.
class Handle {
 public:
  using Closer = herr_t (*)(hid_t);
  Handle() = default;
  Handle(hid_t id, Closer closer) : id_(id), closer_(closer) {}
  ~Handle();
  Handle(Handle&& other) noexcept;
  Handle& operator=(Handle&& other) noexcept;
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;
  hid_t get() const { return id_; }
  bool valid() const { return id_ >= 0; }

 private:
  hid_t id_ = -1;
  Closer closer_ = nullptr;
};

/// A file opened for parallel access with MPI-IO over a communicator. The communicator must
/// outlive the File. Destruction (H5Fclose) is collective, so every rank must destroy it.
class File {
 public:
  enum class Mode { create_exclusive, create_truncate, read_only, read_write };
  /// Check, on rank 0, that `path` can be opened in `mode` (exists / does not exist unless
  /// truncating / parent folder exists / is HDF5) and agree on the verdict. Lets a program
  /// refuse a bad output path before doing any work. Collective over comm.
  static void check_path(const std::string& path, Mode mode, const mpi::Communicator& comm);
  /// Open or create. create_exclusive fails with a clear Error(input) if the file exists
  /// ("output file X exists; pass --overwrite to replace it"); read_only / read_write fail with
  /// Error(input) if it is missing or not an HDF5 file. Failures are agreed across ranks.
  /// Collective over comm.
  File(const std::string& path, Mode mode, const mpi::Communicator& comm);
  /// The HDF5 file id, path and communicator. Local.
  hid_t id() const { return file_.get(); }
  const std::string& path() const { return path_; }
  const mpi::Communicator& comm() const { return *comm_; }
  /// H5Fflush. Collective.
  void flush();

  // ---- writing (all collective; `path` may name groups that do not exist yet: they are
  //      created, like mkdir -p; an existing dataset of the same shape is overwritten, one of
  //      another shape is an Error(input)) ----
  /// A dataset from an array every rank holds identically (row-major, dims as given); rank 0
  /// writes, the others take part with an empty selection (collective transfer). Collective.
  void write_replicated(const std::string& path, const std::vector<hsize_t>& dims,
                        const double* data);
  void write_replicated(const std::string& path, const std::vector<hsize_t>& dims,
                        const std::int64_t* data);
  void write_replicated(const std::string& path, const std::vector<hsize_t>& dims, const int* data);
  /// A rows x cols dataset (row-major in the file: h5py sees samples as rows) from a
  /// block-cyclic matrix; every rank writes its own blocks with one collective H5Dwrite.
  /// Collective.
  void write_distributed(const std::string& path, const la::DistMatrix<double>& a);
  /// Attributes on a group or dataset (created if missing; the object must exist or be "/").
  /// Collective.
  void write_attribute(const std::string& object, const std::string& name, double value);
  void write_attribute(const std::string& object, const std::string& name, std::int64_t value);
  void write_attribute(const std::string& object, const std::string& name,
                       const std::string& value);
  void write_attribute(const std::string& object, const std::string& name,
                       const std::vector<std::string>& values);
  /// Create a group (and its parents) if missing. Collective.
  void ensure_group(const std::string& path);
  /// Unlink an object (dataset or group) if it exists. Its space is not reclaimed in this file
  /// (HDF5 does not shrink files); the run store rewrites files by copying. Collective.
  void remove(const std::string& path);
  /// Names of the attributes of an object, in name order. Collective.
  std::vector<std::string> attribute_names(const std::string& object) const;
  /// Close the file now (instead of in the destructor); further use is an error. Collective.
  void close();

  // ---- reading (collective) ----
  /// True if `path` names an object (group or dataset); false, without error, when any
  /// intermediate group is missing. Collective (metadata read on every rank).
  bool exists(const std::string& path) const;
  /// True if `path` exists and is a dataset. Collective.
  bool is_dataset(const std::string& path) const;
  /// Names of the links in a group ("/" = root), in name order. Collective.
  std::vector<std::string> list(const std::string& group) const;
  /// Extent of a dataset (empty for a scalar dataset). Collective.
  std::vector<hsize_t> dims(const std::string& path) const;
  /// Type class of a dataset's stored elements (H5T_INTEGER, H5T_FLOAT, ...). Collective.
  H5T_class_t type_class(const std::string& path) const;
  /// Whole dataset as doubles / int64 (converted by HDF5), on every rank. Collective.
  std::vector<double> read_all_double(const std::string& path) const;
  std::vector<std::int64_t> read_all_int64(const std::string& path) const;
  /// Rows [first, first+count) of a 2D dataset as row-major doubles (a higher-rank dataset is
  /// read with its trailing dimensions flattened). Collective (count may be 0 on some ranks;
  /// the ranges may differ between ranks).
  void read_rows(const std::string& path, std::int64_t first, std::int64_t count,
                 double* out) const;
  /// A block-cyclic matrix from a rows x cols dataset (inverse of write_distributed). Collective.
  void read_distributed(const std::string& path, la::DistMatrix<double>& a) const;
  /// Scalar attributes, converted by HDF5 (string: variable- or fixed-length). Collective.
  double read_attribute_double(const std::string& object, const std::string& name) const;
  std::int64_t read_attribute_int64(const std::string& object, const std::string& name) const;
  std::string read_attribute_string(const std::string& object, const std::string& name) const;
  /// A list-of-strings attribute (as written by write_attribute(vector<string>)). Collective.
  std::vector<std::string> read_attribute_strings(const std::string& object,
                                                  const std::string& name) const;
  /// True if the object exists and has an attribute of that name. Collective.
  bool has_attribute(const std::string& object, const std::string& name) const;

  /// What HDF5 reported for the most recent dataset transfer on this rank (write_* / read_*),
  /// to check that it was really collective. Local.
  const TransferReport& last_transfer() const { return last_transfer_; }

 private:
  template <class T>
  void write_replicated_impl(const std::string& path, const std::vector<hsize_t>& dims,
                             hid_t mem_type, const T* data);
  template <class T>
  std::vector<T> read_all_impl(const std::string& path, hid_t mem_type) const;
  /// H5Dwrite / H5Dread with a collective transfer list; records last_transfer_.
  void transfer(bool write, hid_t dataset, hid_t mem_type, hid_t mem_space, hid_t file_space,
                const void* write_buf, void* read_buf) const;

  std::string path_;
  const mpi::Communicator* comm_ = nullptr;
  Handle file_;
  mutable TransferReport last_transfer_;
};

}  // namespace deeprfm::h5
