#include <deeprfm/h5/hdf5.hpp>

#include <algorithm>
#include <filesystem>
#include <optional>
#include <sstream>
#include <type_traits>
#include <utility>

#include <deeprfm/base/error.hpp>

namespace deeprfm::h5 {

// ---------------------------------------------------------------------------------------------
// Error stack and checked calls
// ---------------------------------------------------------------------------------------------

namespace {

herr_t innermost_error(unsigned n, const H5E_error2_t* err, void* client) {
  // H5E_WALK_UPWARD visits the most specific (innermost) entry first, with n == 0.
  if (n == 0 && err != nullptr) {
    auto* out = static_cast<std::string*>(client);
    *out = err->desc ? err->desc : "";
    if (err->func_name && *err->func_name) *out += std::string(" (in ") + err->func_name + ")";
  }
  return 0;
}

/// Turn a negative HDF5 return value into Error(resource) carrying the error stack's innermost
/// message. Local.
template <class R>
R check_h5(R ret, const char* call, const std::string& what) {
  if (ret < 0) {
    const std::string inner = hdf5_error_message();
    DEEPRFM_THROW(resource, "HDF5 " << call << " failed" << (what.empty() ? "" : " for ") << what
                                    << ": "
                                    << (inner.empty() ? "(empty HDF5 error stack)" : inner));
  }
  return ret;
}

}  // namespace

/// Checked HDF5 call: DEEPRFM_H5(H5Dopen2, (file, name, H5P_DEFAULT), "dataset /x").
#define DEEPRFM_H5(fn, args, what) check_h5(fn args, #fn, what)

std::string hdf5_error_message() {
  std::string message;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, innermost_error, &message);
  return message;
}

void silence_hdf5_auto_print() { H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr); }

// ---------------------------------------------------------------------------------------------
// Handle
// ---------------------------------------------------------------------------------------------

Handle::~Handle() {
  if (id_ >= 0 && closer_ != nullptr) closer_(id_);  // C call: cannot throw; result ignored
}

Handle::Handle(Handle&& other) noexcept : id_(other.id_), closer_(other.closer_) {
  other.id_ = -1;
  other.closer_ = nullptr;
}

Handle& Handle::operator=(Handle&& other) noexcept {
  if (this != &other) {
    if (id_ >= 0 && closer_ != nullptr) closer_(id_);
    id_ = other.id_;
    closer_ = other.closer_;
    other.id_ = -1;
    other.closer_ = nullptr;
  }
  return *this;
}

// ---------------------------------------------------------------------------------------------
// Local helpers (all local unless stated)
// ---------------------------------------------------------------------------------------------

namespace {

/// Run `f` on every rank and agree on failure; return its value. Collective.
template <class F>
auto agreed(const mpi::Communicator& comm, F&& f) {
  using R = std::invoke_result_t<F&>;
  if constexpr (std::is_void_v<R>) {
    mpi::run_agreed(comm, f);
  } else {
    std::optional<R> out;
    mpi::run_agreed(comm, [&] { out.emplace(f()); });
    return std::move(*out);
  }
}

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> parts;
  std::string part;
  std::istringstream in(path);
  while (std::getline(in, part, '/'))
    if (!part.empty() && part != ".") parts.push_back(part);
  return parts;
}

/// "/a/b" for "a/b", "/a/b/", "//a//b"; "/" for the root.
std::string normalize(const std::string& path) {
  std::string out;
  for (const auto& p : split_path(path)) out += "/" + p;
  return out.empty() ? "/" : out;
}

std::string shape_str(const std::vector<hsize_t>& dims) {
  if (dims.empty()) return "scalar";
  std::ostringstream s;
  for (std::size_t i = 0; i < dims.size(); ++i) s << (i ? " x " : "") << dims[i];
  return s.str();
}

hsize_t product(const std::vector<hsize_t>& dims) {
  hsize_t n = 1;
  for (hsize_t d : dims) n *= d;
  return n;
}

Handle make_plist(hid_t cls) {
  return Handle(DEEPRFM_H5(H5Pcreate, (cls), "property list"), H5Pclose);
}

Handle collective_dxpl() {
  Handle dxpl = make_plist(H5P_DATASET_XFER);
  DEEPRFM_H5(H5Pset_dxpl_mpio, (dxpl.get(), H5FD_MPIO_COLLECTIVE), "transfer property list");
  return dxpl;
}

/// Link creation: make missing parent groups, UTF-8 names.
Handle intermediate_lcpl() {
  Handle lcpl = make_plist(H5P_LINK_CREATE);
  DEEPRFM_H5(H5Pset_create_intermediate_group, (lcpl.get(), 1), "link creation list");
  DEEPRFM_H5(H5Pset_char_encoding, (lcpl.get(), H5T_CSET_UTF8), "link creation list");
  return lcpl;
}

Handle make_space(const std::vector<hsize_t>& dims) {
  if (dims.empty()) return Handle(DEEPRFM_H5(H5Screate, (H5S_SCALAR), "dataspace"), H5Sclose);
  return Handle(DEEPRFM_H5(H5Screate_simple, (static_cast<int>(dims.size()), dims.data(), nullptr),
                           "dataspace"),
                H5Sclose);
}

/// A 1D memory space of n elements (all selected; none selected when n == 0).
Handle memory_space(hsize_t n) {
  const hsize_t size = std::max<hsize_t>(n, 1);
  Handle space(DEEPRFM_H5(H5Screate_simple, (1, &size, nullptr), "memory dataspace"), H5Sclose);
  if (n == 0) DEEPRFM_H5(H5Sselect_none, (space.get()), "memory dataspace");
  return space;
}

std::vector<hsize_t> space_dims(hid_t space, const std::string& what) {
  const int rank = DEEPRFM_H5(H5Sget_simple_extent_ndims, (space), what);
  std::vector<hsize_t> dims(static_cast<std::size_t>(rank));
  if (rank > 0) DEEPRFM_H5(H5Sget_simple_extent_dims, (space, dims.data(), nullptr), what);
  return dims;
}

/// A variable-length UTF-8 string type (h5py reads it as str).
Handle vl_utf8_type() {
  Handle t(DEEPRFM_H5(H5Tcopy, (H5T_C_S1), "string type"), H5Tclose);
  DEEPRFM_H5(H5Tset_size, (t.get(), H5T_VARIABLE), "string type");
  DEEPRFM_H5(H5Tset_cset, (t.get(), H5T_CSET_UTF8), "string type");
  return t;
}

/// True if `path` names an object; missing intermediate groups (or an intermediate that is not a
/// group) give false, not an error. Local metadata read.
bool object_exists(hid_t file, const std::string& path) {
  const auto parts = split_path(path);
  std::string prefix;
  for (std::size_t i = 0; i < parts.size(); ++i) {
    prefix += "/" + parts[i];
    if (DEEPRFM_H5(H5Lexists, (file, prefix.c_str(), H5P_DEFAULT), prefix) <= 0) return false;
    // A dangling soft/external link exists as a link but names no object.
    if (DEEPRFM_H5(H5Oexists_by_name, (file, prefix.c_str(), H5P_DEFAULT), prefix) <= 0)
      return false;
    if (i + 1 < parts.size()) {
      Handle obj(DEEPRFM_H5(H5Oopen, (file, prefix.c_str(), H5P_DEFAULT), prefix), H5Oclose);
      if (H5Iget_type(obj.get()) != H5I_GROUP) return false;
    }
  }
  return true;
}

H5I_type_t object_type(hid_t file, const std::string& path) {
  Handle obj(DEEPRFM_H5(H5Oopen, (file, path.c_str(), H5P_DEFAULT), path), H5Oclose);
  return H5Iget_type(obj.get());
}

/// Open a dataset; Error(input) if it is missing or not a dataset.
Handle open_dataset(hid_t file, const std::string& file_path, const std::string& path) {
  const std::string p = normalize(path);
  DEEPRFM_CHECK(object_exists(file, p), input,
                "HDF5 file " << file_path << " has no dataset '" << p << "'");
  DEEPRFM_CHECK(object_type(file, p) == H5I_DATASET, input,
                "'" << p << "' in HDF5 file " << file_path << " is not a dataset");
  return Handle(DEEPRFM_H5(H5Dopen2, (file, p.c_str(), H5P_DEFAULT), "dataset " + p), H5Dclose);
}

std::vector<hsize_t> dataset_dims(hid_t dataset, const std::string& path) {
  Handle space(DEEPRFM_H5(H5Dget_space, (dataset), path), H5Sclose);
  return space_dims(space.get(), path);
}

/// Open the dataset if it exists with this shape and type class, create it otherwise
/// (contiguous, allocated early, never filled: every element is written right after).
Handle create_or_open_dataset(hid_t file, const std::string& path, hid_t file_type,
                              const std::vector<hsize_t>& dims) {
  const std::string p = normalize(path);
  DEEPRFM_CHECK(p != "/", input, "cannot write a dataset at the root group '/'");
  if (object_exists(file, p)) {
    DEEPRFM_CHECK(object_type(file, p) == H5I_DATASET, input,
                  "cannot write dataset '" << p << "': a group of that name exists");
    Handle ds(DEEPRFM_H5(H5Dopen2, (file, p.c_str(), H5P_DEFAULT), "dataset " + p), H5Dclose);
    const auto old_dims = dataset_dims(ds.get(), p);
    Handle type(DEEPRFM_H5(H5Dget_type, (ds.get()), p), H5Tclose);
    const bool same_type = H5Tget_class(type.get()) == H5Tget_class(file_type) &&
                           H5Tget_size(type.get()) == H5Tget_size(file_type);
    DEEPRFM_CHECK(old_dims == dims && same_type, input,
                  "dataset '" << p << "' exists with shape " << shape_str(old_dims)
                              << (same_type ? "" : " and another type")
                              << "; cannot overwrite it with shape " << shape_str(dims));
    return ds;
  }
  Handle space = make_space(dims);
  Handle lcpl = intermediate_lcpl();
  Handle dcpl = make_plist(H5P_DATASET_CREATE);
  DEEPRFM_H5(H5Pset_layout, (dcpl.get(), H5D_CONTIGUOUS), p);
  DEEPRFM_H5(H5Pset_alloc_time, (dcpl.get(), H5D_ALLOC_TIME_EARLY), p);
  DEEPRFM_H5(H5Pset_fill_time, (dcpl.get(), H5D_FILL_TIME_NEVER), p);
  return Handle(
      DEEPRFM_H5(H5Dcreate2,
                 (file, p.c_str(), file_type, space.get(), lcpl.get(), dcpl.get(), H5P_DEFAULT),
                 "dataset " + p),
      H5Dclose);
}

/// One regular hyperslab along one dimension: start, stride, count, block.
struct Slab {
  hsize_t start, stride, count, block;
};

/// The indices a process holds along one block-cyclic dimension, as at most two regular
/// hyperslabs: the full blocks (start = me*b, stride = P*b) and the ragged last block.
std::vector<Slab> cyclic_slabs(const la::CyclicMap& map) {
  std::vector<Slab> slabs;
  const hsize_t local = static_cast<hsize_t>(map.local_size());
  const hsize_t b = static_cast<hsize_t>(map.block());
  const hsize_t procs = static_cast<hsize_t>(map.procs());
  const hsize_t me = static_cast<hsize_t>(map.me());
  const hsize_t full = local / b, rest = local % b;
  if (full > 0) slabs.push_back({me * b, procs * b, full, b});
  if (rest > 0) slabs.push_back({(full * procs + me) * b, 1, 1, rest});
  return slabs;
}

/// Select this rank's blocks of a rows x cols dataset: a union of at most four regular
/// hyperslabs (or none). HDF5 visits the selection in row-major file order, which is the
/// row-major order of the local array, since the local-to-global maps are increasing.
void select_local_blocks(hid_t file_space, const la::Distribution& dist, const std::string& p) {
  const auto rows = cyclic_slabs(dist.rows());
  const auto cols = cyclic_slabs(dist.cols());
  if (rows.empty() || cols.empty()) {
    DEEPRFM_H5(H5Sselect_none, (file_space), p);
    return;
  }
  bool first = true;
  for (const Slab& r : rows) {
    for (const Slab& c : cols) {
      const hsize_t start[2] = {r.start, c.start};
      const hsize_t stride[2] = {r.stride, c.stride};
      const hsize_t count[2] = {r.count, c.count};
      const hsize_t block[2] = {r.block, c.block};
      DEEPRFM_H5(H5Sselect_hyperslab,
                 (file_space, first ? H5S_SELECT_SET : H5S_SELECT_OR, start, stride, count, block),
                 p);
      first = false;
    }
  }
}

/// Column-major (ld) <-> row-major copies of a rows x cols local array, tiled for the cache.
void col_to_row_major(const double* in, int ld, int rows, int cols, double* out) {
  constexpr int tile = 32;
  for (int j0 = 0; j0 < cols; j0 += tile)
    for (int i0 = 0; i0 < rows; i0 += tile)
      for (int i = i0; i < std::min(rows, i0 + tile); ++i)
        for (int j = j0; j < std::min(cols, j0 + tile); ++j)
          out[static_cast<std::size_t>(i) * cols + j] = in[static_cast<std::size_t>(j) * ld + i];
}
void row_to_col_major(const double* in, int rows, int cols, double* out, int ld) {
  constexpr int tile = 32;
  for (int j0 = 0; j0 < cols; j0 += tile)
    for (int i0 = 0; i0 < rows; i0 += tile)
      for (int j = j0; j < std::min(cols, j0 + tile); ++j)
        for (int i = i0; i < std::min(rows, i0 + tile); ++i)
          out[static_cast<std::size_t>(j) * ld + i] = in[static_cast<std::size_t>(i) * cols + j];
}

Handle open_object(hid_t file, const std::string& file_path, const std::string& object) {
  const std::string p = normalize(object);
  DEEPRFM_CHECK(object_exists(file, p), input,
                "HDF5 file " << file_path << " has no object '" << p << "'");
  return Handle(DEEPRFM_H5(H5Oopen, (file, p.c_str(), H5P_DEFAULT), "object " + p), H5Oclose);
}

/// Replace (or create) an attribute and write it. Metadata: every rank passes the same value.
void put_attribute(hid_t file, const std::string& file_path, const std::string& object,
                   const std::string& name, hid_t file_type, hid_t mem_type, hid_t space,
                   const void* buf) {
  Handle obj = open_object(file, file_path, object);
  const std::string what = "attribute '" + name + "' of " + normalize(object);
  if (DEEPRFM_H5(H5Aexists, (obj.get(), name.c_str()), what) > 0)
    DEEPRFM_H5(H5Adelete, (obj.get(), name.c_str()), what);
  Handle acpl = make_plist(H5P_ATTRIBUTE_CREATE);
  DEEPRFM_H5(H5Pset_char_encoding, (acpl.get(), H5T_CSET_UTF8), what);
  Handle attr(
      DEEPRFM_H5(H5Acreate2, (obj.get(), name.c_str(), file_type, space, acpl.get(), H5P_DEFAULT),
                 what),
      H5Aclose);
  DEEPRFM_H5(H5Awrite, (attr.get(), mem_type, buf), what);
}

Handle open_attribute(hid_t file, const std::string& file_path, const std::string& object,
                      const std::string& name) {
  const std::string p = normalize(object);
  const std::string what = "attribute '" + name + "' of " + p;
  Handle obj = open_object(file, file_path, p);
  DEEPRFM_CHECK(DEEPRFM_H5(H5Aexists, (obj.get(), name.c_str()), what) > 0, input,
                "HDF5 file " << file_path << ": " << p << " has no attribute '" << name << "'");
  return Handle(DEEPRFM_H5(H5Aopen, (obj.get(), name.c_str(), H5P_DEFAULT), what), H5Aclose);
}

/// Every string of a string attribute (variable- or fixed-length).
std::vector<std::string> read_strings(hid_t attr, const std::string& what) {
  Handle type(DEEPRFM_H5(H5Aget_type, (attr), what), H5Tclose);
  DEEPRFM_CHECK(H5Tget_class(type.get()) == H5T_STRING, input, what << " is not a string");
  Handle space(DEEPRFM_H5(H5Aget_space, (attr), what), H5Sclose);
  const hssize_t n = DEEPRFM_H5(H5Sget_simple_extent_npoints, (space.get()), what);
  std::vector<std::string> out;
  if (n <= 0) return out;
  const H5T_cset_t cset = H5Tget_cset(type.get());
  if (DEEPRFM_H5(H5Tis_variable_str, (type.get()), what) > 0) {
    Handle mem(DEEPRFM_H5(H5Tcopy, (H5T_C_S1), what), H5Tclose);
    DEEPRFM_H5(H5Tset_size, (mem.get(), H5T_VARIABLE), what);
    DEEPRFM_H5(H5Tset_cset, (mem.get(), cset), what);
    std::vector<char*> ptrs(static_cast<std::size_t>(n), nullptr);
    DEEPRFM_H5(H5Aread, (attr, mem.get(), ptrs.data()), what);
    for (char* s : ptrs) {
      out.emplace_back(s ? s : "");
      if (s) H5free_memory(s);
    }
  } else {
    const std::size_t size = H5Tget_size(type.get());
    DEEPRFM_CHECK(size > 0, input, what << " has string size 0");
    Handle mem(DEEPRFM_H5(H5Tcopy, (type.get()), what), H5Tclose);
    std::vector<char> buf(size * static_cast<std::size_t>(n));
    DEEPRFM_H5(H5Aread, (attr, mem.get(), buf.data()), what);
    const bool space_pad = H5Tget_strpad(type.get()) == H5T_STR_SPACEPAD;
    for (hssize_t k = 0; k < n; ++k) {
      std::string s(buf.data() + static_cast<std::size_t>(k) * size, size);
      s.resize(std::min(s.find('\0'), s.size()));
      if (space_pad) s.erase(s.find_last_not_of(' ') + 1);
      out.push_back(std::move(s));
    }
  }
  return out;
}

herr_t collect_link_name(hid_t, const char* name, const H5L_info_t*, void* client) {
  static_cast<std::vector<std::string>*>(client)->emplace_back(name);
  return 0;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// File
// ---------------------------------------------------------------------------------------------

void File::check_path(const std::string& path, Mode mode, const mpi::Communicator& comm) {
  silence_hdf5_auto_print();
  // Rank 0 looks at the file system (one stat instead of P), then everyone agrees.
  mpi::run_agreed(comm, [&] {
    if (comm.rank() != 0) return;
    namespace fs = std::filesystem;
    std::error_code ec;
    const bool present = fs::exists(path, ec);
    if (mode == Mode::create_exclusive || mode == Mode::create_truncate) {
      DEEPRFM_CHECK_ABOUT(!(mode == Mode::create_exclusive && present), input, "overwrite",
                          "output file " << path
                                         << " exists; it is replaced only when overwriting is "
                                            "asked for");
      DEEPRFM_CHECK(!fs::is_directory(path, ec), input,
                    "output file " << path << " is a directory");
      const fs::path parent = fs::absolute(fs::path(path), ec).parent_path();
      DEEPRFM_CHECK(
          parent.empty() || fs::is_directory(parent, ec), input,
          "cannot create " << path << ": directory " << parent.string() << " does not exist");
    } else {
      DEEPRFM_CHECK(present, input, "HDF5 file " << path << " does not exist");
      DEEPRFM_CHECK(!fs::is_directory(path, ec), input,
                    path << " is a directory, not an HDF5 file");
      const htri_t is_hdf5 = H5Fis_hdf5(path.c_str());
      DEEPRFM_CHECK(is_hdf5 >= 0, input, "cannot read " << path << ": " << hdf5_error_message());
      DEEPRFM_CHECK(is_hdf5 > 0, input, path << " is not an HDF5 file");
    }
  });
}

File::File(const std::string& path, Mode mode, const mpi::Communicator& comm)
    : path_(path), comm_(&comm) {
  check_path(path, mode, comm);
  file_ = agreed(comm, [&] {
    Handle fapl = make_plist(H5P_FILE_ACCESS);
    DEEPRFM_H5(H5Pset_fapl_mpio, (fapl.get(), comm.get(), MPI_INFO_NULL), path);
    // Metadata is written collectively at flush/close (fewer small writes at scale).
    DEEPRFM_H5(H5Pset_coll_metadata_write, (fapl.get(), 1), path);
    const std::string what = "file " + path;
    switch (mode) {
      case Mode::create_exclusive:
        return Handle(
            DEEPRFM_H5(H5Fcreate, (path.c_str(), H5F_ACC_EXCL, H5P_DEFAULT, fapl.get()), what),
            H5Fclose);
      case Mode::create_truncate:
        return Handle(
            DEEPRFM_H5(H5Fcreate, (path.c_str(), H5F_ACC_TRUNC, H5P_DEFAULT, fapl.get()), what),
            H5Fclose);
      case Mode::read_only:
        return Handle(DEEPRFM_H5(H5Fopen, (path.c_str(), H5F_ACC_RDONLY, fapl.get()), what),
                      H5Fclose);
      case Mode::read_write:
        break;
    }
    return Handle(DEEPRFM_H5(H5Fopen, (path.c_str(), H5F_ACC_RDWR, fapl.get()), what), H5Fclose);
  });
}

void File::flush() {
  agreed(*comm_, [&] { DEEPRFM_H5(H5Fflush, (file_.get(), H5F_SCOPE_GLOBAL), "file " + path_); });
}

void File::transfer(bool write, hid_t dataset, hid_t mem_type, hid_t mem_space, hid_t file_space,
                    const void* write_buf, void* read_buf) const {
  static double dummy = 0.0;  // HDF5 rejects a null buffer even for an empty selection
  {
    // A dataset with no elements has no storage (address undefined): nothing to transfer, on
    // any rank (the extent is the same everywhere, so every rank skips).
    Handle space(DEEPRFM_H5(H5Dget_space, (dataset), "file " + path_), H5Sclose);
    if (DEEPRFM_H5(H5Sget_simple_extent_npoints, (space.get()), "file " + path_) == 0) {
      last_transfer_ = TransferReport{};
      return;
    }
  }
  Handle dxpl = collective_dxpl();
  if (write) {
    DEEPRFM_H5(
        H5Dwrite,
        (dataset, mem_type, mem_space, file_space, dxpl.get(), write_buf ? write_buf : &dummy),
        "file " + path_);
  } else {
    DEEPRFM_H5(H5Dread,
               (dataset, mem_type, mem_space, file_space, dxpl.get(), read_buf ? read_buf : &dummy),
               "file " + path_);
  }
  TransferReport report;
  DEEPRFM_H5(H5Pget_mpio_actual_io_mode, (dxpl.get(), &report.mode), "transfer report");
  DEEPRFM_H5(H5Pget_mpio_no_collective_cause,
             (dxpl.get(), &report.local_no_collective_cause, &report.global_no_collective_cause),
             "transfer report");
  report.valid = true;
  last_transfer_ = report;
}

template <class T>
void File::write_replicated_impl(const std::string& path, const std::vector<hsize_t>& dims,
                                 hid_t mem_type, const T* data) {
  const auto& comm = *comm_;
  Handle ds =
      agreed(comm, [&] { return create_or_open_dataset(file_.get(), path, mem_type, dims); });
  agreed(comm, [&] {
    const hsize_t total = product(dims);
    const bool writer = comm.rank() == 0 && total > 0;
    DEEPRFM_CHECK(!writer || data != nullptr, internal, "null data for dataset " << path);
    Handle file_space(DEEPRFM_H5(H5Dget_space, (ds.get()), path), H5Sclose);
    if (!writer) DEEPRFM_H5(H5Sselect_none, (file_space.get()), path);
    Handle mem_space = memory_space(writer ? total : 0);
    transfer(true, ds.get(), mem_type, mem_space.get(), file_space.get(), writer ? data : nullptr,
             nullptr);
  });
}

void File::write_replicated(const std::string& path, const std::vector<hsize_t>& dims,
                            const double* data) {
  write_replicated_impl(path, dims, H5T_NATIVE_DOUBLE, data);
}
void File::write_replicated(const std::string& path, const std::vector<hsize_t>& dims,
                            const std::int64_t* data) {
  write_replicated_impl(path, dims, H5T_NATIVE_INT64, data);
}
void File::write_replicated(const std::string& path, const std::vector<hsize_t>& dims,
                            const int* data) {
  write_replicated_impl(path, dims, H5T_NATIVE_INT, data);
}

void File::write_distributed(const std::string& path, const la::DistMatrix<double>& a) {
  const auto& comm = *comm_;
  const std::vector<hsize_t> dims = {static_cast<hsize_t>(a.rows()),
                                     static_cast<hsize_t>(a.cols())};
  std::vector<double> row_major;
  mpi::run_agreed(comm, [&] {
    DEEPRFM_CHECK(a.rows() == 0 || a.cols() == 0 || a.grid().full().size() == comm.size(), internal,
                  "write_distributed(" << path << "): the matrix lives on "
                                       << a.grid().full().size() << " ranks, the file on "
                                       << comm.size());
    row_major.resize(static_cast<std::size_t>(a.dist().local_elements()));
    if (!row_major.empty())
      col_to_row_major(a.data(), a.ld(), a.local_rows(), a.local_cols(), row_major.data());
  });
  Handle ds = agreed(
      comm, [&] { return create_or_open_dataset(file_.get(), path, H5T_NATIVE_DOUBLE, dims); });
  agreed(comm, [&] {
    Handle file_space(DEEPRFM_H5(H5Dget_space, (ds.get()), path), H5Sclose);
    select_local_blocks(file_space.get(), a.dist(), path);
    Handle mem_space = memory_space(row_major.size());
    transfer(true, ds.get(), H5T_NATIVE_DOUBLE, mem_space.get(), file_space.get(),
             row_major.empty() ? nullptr : row_major.data(), nullptr);
  });
}

void File::read_distributed(const std::string& path, la::DistMatrix<double>& a) const {
  const auto& comm = *comm_;
  Handle ds = agreed(comm, [&] {
    Handle d = open_dataset(file_.get(), path_, path);
    const auto dims = dataset_dims(d.get(), path);
    const std::vector<hsize_t> want = {static_cast<hsize_t>(a.rows()),
                                       static_cast<hsize_t>(a.cols())};
    DEEPRFM_CHECK(dims == want, input,
                  "dataset '" << normalize(path) << "' in " << path_ << " has shape "
                              << shape_str(dims) << ", expected " << shape_str(want));
    return d;
  });
  std::vector<double> row_major;
  agreed(comm, [&] { row_major.resize(static_cast<std::size_t>(a.dist().local_elements())); });
  agreed(comm, [&] {
    Handle file_space(DEEPRFM_H5(H5Dget_space, (ds.get()), path), H5Sclose);
    select_local_blocks(file_space.get(), a.dist(), path);
    Handle mem_space = memory_space(row_major.size());
    transfer(false, ds.get(), H5T_NATIVE_DOUBLE, mem_space.get(), file_space.get(), nullptr,
             row_major.empty() ? nullptr : row_major.data());
  });
  if (!row_major.empty())
    row_to_col_major(row_major.data(), a.local_rows(), a.local_cols(), a.data(), a.ld());
}

void File::write_attribute(const std::string& object, const std::string& name, double value) {
  agreed(*comm_, [&] {
    Handle space = make_space({});
    put_attribute(file_.get(), path_, object, name, H5T_NATIVE_DOUBLE, H5T_NATIVE_DOUBLE,
                  space.get(), &value);
  });
}

void File::write_attribute(const std::string& object, const std::string& name, std::int64_t value) {
  agreed(*comm_, [&] {
    Handle space = make_space({});
    put_attribute(file_.get(), path_, object, name, H5T_NATIVE_INT64, H5T_NATIVE_INT64, space.get(),
                  &value);
  });
}

void File::write_attribute(const std::string& object, const std::string& name,
                           const std::string& value) {
  agreed(*comm_, [&] {
    Handle space = make_space({});
    Handle type = vl_utf8_type();
    const char* ptr = value.c_str();
    put_attribute(file_.get(), path_, object, name, type.get(), type.get(), space.get(), &ptr);
  });
}

void File::write_attribute(const std::string& object, const std::string& name,
                           const std::vector<std::string>& values) {
  agreed(*comm_, [&] {
    Handle space = make_space({static_cast<hsize_t>(values.size())});
    Handle type = vl_utf8_type();
    std::vector<const char*> ptrs;
    for (const auto& v : values) ptrs.push_back(v.c_str());
    static const char* empty = "";
    put_attribute(file_.get(), path_, object, name, type.get(), type.get(), space.get(),
                  ptrs.empty() ? &empty : ptrs.data());
  });
}

void File::ensure_group(const std::string& path) {
  agreed(*comm_, [&] {
    const std::string p = normalize(path);
    if (object_exists(file_.get(), p)) {
      DEEPRFM_CHECK(object_type(file_.get(), p) == H5I_GROUP, input,
                    "cannot create group '" << p << "' in " << path_
                                            << ": another object of that name exists");
      return;
    }
    Handle lcpl = intermediate_lcpl();
    Handle g(DEEPRFM_H5(H5Gcreate2, (file_.get(), p.c_str(), lcpl.get(), H5P_DEFAULT, H5P_DEFAULT),
                        "group " + p),
             H5Gclose);
  });
}

bool File::exists(const std::string& path) const {
  return agreed(*comm_, [&] { return object_exists(file_.get(), path); });
}

bool File::is_dataset(const std::string& path) const {
  return agreed(*comm_, [&] {
    return object_exists(file_.get(), path) &&
           object_type(file_.get(), normalize(path)) == H5I_DATASET;
  });
}

std::vector<std::string> File::list(const std::string& group) const {
  return agreed(*comm_, [&] {
    const std::string p = normalize(group);
    DEEPRFM_CHECK(object_exists(file_.get(), p) && object_type(file_.get(), p) == H5I_GROUP, input,
                  "HDF5 file " << path_ << " has no group '" << p << "'");
    Handle g(DEEPRFM_H5(H5Gopen2, (file_.get(), p.c_str(), H5P_DEFAULT), "group " + p), H5Gclose);
    std::vector<std::string> names;
    hsize_t index = 0;
    DEEPRFM_H5(H5Literate, (g.get(), H5_INDEX_NAME, H5_ITER_INC, &index, collect_link_name, &names),
               "group " + p);
    return names;
  });
}

std::vector<hsize_t> File::dims(const std::string& path) const {
  return agreed(*comm_, [&] {
    Handle ds = open_dataset(file_.get(), path_, path);
    return dataset_dims(ds.get(), path);
  });
}

H5T_class_t File::type_class(const std::string& path) const {
  return agreed(*comm_, [&] {
    Handle ds = open_dataset(file_.get(), path_, path);
    Handle type(DEEPRFM_H5(H5Dget_type, (ds.get()), path), H5Tclose);
    return DEEPRFM_H5(H5Tget_class, (type.get()), path);
  });
}

template <class T>
std::vector<T> File::read_all_impl(const std::string& path, hid_t mem_type) const {
  const auto& comm = *comm_;
  std::vector<T> out;
  Handle ds = agreed(comm, [&] {
    Handle d = open_dataset(file_.get(), path_, path);
    out.resize(static_cast<std::size_t>(product(dataset_dims(d.get(), path))));
    return d;
  });
  agreed(comm, [&] {
    transfer(false, ds.get(), mem_type, H5S_ALL, H5S_ALL, nullptr,
             out.empty() ? nullptr : out.data());
  });
  return out;
}

std::vector<double> File::read_all_double(const std::string& path) const {
  return read_all_impl<double>(path, H5T_NATIVE_DOUBLE);
}

std::vector<std::int64_t> File::read_all_int64(const std::string& path) const {
  return read_all_impl<std::int64_t>(path, H5T_NATIVE_INT64);
}

void File::read_rows(const std::string& path, std::int64_t first, std::int64_t count,
                     double* out) const {
  const auto& comm = *comm_;
  hsize_t width = 1;
  std::vector<hsize_t> dims;
  Handle ds = agreed(comm, [&] {
    Handle d = open_dataset(file_.get(), path_, path);
    dims = dataset_dims(d.get(), path);
    DEEPRFM_CHECK(!dims.empty(), input,
                  "read_rows: dataset '" << normalize(path) << "' in " << path_ << " is a scalar");
    for (std::size_t k = 1; k < dims.size(); ++k) width *= dims[k];
    return d;
  });
  agreed(comm, [&] {  // the requested range differs between ranks
    DEEPRFM_CHECK(first >= 0 && count >= 0 &&
                      static_cast<hsize_t>(first) + static_cast<hsize_t>(count) <= dims[0],
                  input,
                  "read_rows: rows [" << first << ", " << first + count << ") are outside dataset '"
                                      << normalize(path) << "' of " << dims[0] << " rows in "
                                      << path_);
    DEEPRFM_CHECK(count == 0 || width == 0 || out != nullptr, internal, "read_rows: null output");
  });
  agreed(comm, [&] {
    Handle file_space(DEEPRFM_H5(H5Dget_space, (ds.get()), path), H5Sclose);
    const hsize_t n = static_cast<hsize_t>(count) * width;
    if (n == 0) {
      DEEPRFM_H5(H5Sselect_none, (file_space.get()), path);
    } else {
      std::vector<hsize_t> start(dims.size(), 0), extent = dims;
      start[0] = static_cast<hsize_t>(first);
      extent[0] = static_cast<hsize_t>(count);
      DEEPRFM_H5(H5Sselect_hyperslab,
                 (file_space.get(), H5S_SELECT_SET, start.data(), nullptr, extent.data(), nullptr),
                 path);
    }
    Handle mem_space = memory_space(n);
    transfer(false, ds.get(), H5T_NATIVE_DOUBLE, mem_space.get(), file_space.get(), nullptr,
             n == 0 ? nullptr : out);
  });
}

double File::read_attribute_double(const std::string& object, const std::string& name) const {
  return agreed(*comm_, [&] {
    Handle attr = open_attribute(file_.get(), path_, object, name);
    double value = 0;
    DEEPRFM_H5(H5Aread, (attr.get(), H5T_NATIVE_DOUBLE, &value), "attribute " + name);
    return value;
  });
}

std::int64_t File::read_attribute_int64(const std::string& object, const std::string& name) const {
  return agreed(*comm_, [&] {
    Handle attr = open_attribute(file_.get(), path_, object, name);
    std::int64_t value = 0;
    DEEPRFM_H5(H5Aread, (attr.get(), H5T_NATIVE_INT64, &value), "attribute " + name);
    return value;
  });
}

std::string File::read_attribute_string(const std::string& object, const std::string& name) const {
  return agreed(*comm_, [&] {
    Handle attr = open_attribute(file_.get(), path_, object, name);
    auto all = read_strings(attr.get(), "attribute '" + name + "' of " + normalize(object));
    DEEPRFM_CHECK(all.size() == 1, input,
                  "attribute '" << name << "' of " << normalize(object) << " holds " << all.size()
                                << " strings, expected one");
    return all.front();
  });
}

std::vector<std::string> File::read_attribute_strings(const std::string& object,
                                                      const std::string& name) const {
  return agreed(*comm_, [&] {
    Handle attr = open_attribute(file_.get(), path_, object, name);
    return read_strings(attr.get(), "attribute '" + name + "' of " + normalize(object));
  });
}

bool File::has_attribute(const std::string& object, const std::string& name) const {
  return agreed(*comm_, [&] {
    const std::string p = normalize(object);
    if (!object_exists(file_.get(), p)) return false;
    return DEEPRFM_H5(H5Aexists_by_name, (file_.get(), p.c_str(), name.c_str(), H5P_DEFAULT),
                      "attribute " + name) > 0;
  });
}

void File::remove(const std::string& path) {
  agreed(*comm_, [&] {
    const std::string p = normalize(path);
    if (!object_exists(file_.get(), p)) return;
    DEEPRFM_H5(H5Ldelete, (file_.get(), p.c_str(), H5P_DEFAULT), "object " + p);
  });
}

namespace {
herr_t collect_attribute_name(hid_t, const char* name, const H5A_info_t*, void* out) {
  static_cast<std::vector<std::string>*>(out)->emplace_back(name);
  return 0;
}
}  // namespace

std::vector<std::string> File::attribute_names(const std::string& object) const {
  return agreed(*comm_, [&] {
    const std::string p = normalize(object);
    DEEPRFM_CHECK(object_exists(file_.get(), p), input, "no object '" << p << "' in " << path_);
    std::vector<std::string> names;
    hsize_t index = 0;
    DEEPRFM_H5(H5Aiterate_by_name,
               (file_.get(), p.c_str(), H5_INDEX_NAME, H5_ITER_INC, &index, collect_attribute_name,
                &names, H5P_DEFAULT),
               "attributes of " + p);
    return names;
  });
}

void File::close() {
  agreed(*comm_, [&] {
    if (!file_.valid()) return;
    Handle closing = std::move(file_);
    const hid_t id = closing.get();
    // Close explicitly so that a failure is reported (the destructor cannot throw).
    (void)closing;
    DEEPRFM_H5(H5Fflush, (id, H5F_SCOPE_LOCAL), "file " + path_);
  });
  // The Handle went out of scope inside the lambda: H5Fclose ran on every rank.
}

}  // namespace deeprfm::h5
