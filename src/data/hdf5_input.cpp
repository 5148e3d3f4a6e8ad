#include <deeprfm/data/hdf5_input.hpp>

#include <climits>
#include <cmath>
#include <sstream>

#include <deeprfm/base/error.hpp>
#include <deeprfm/h5/hdf5.hpp>

namespace deeprfm::data {

namespace {

std::string shape_str(const std::vector<hsize_t>& dims) {
  std::ostringstream s;
  s << "(";
  for (std::size_t i = 0; i < dims.size(); ++i) s << (i ? ", " : "") << dims[i];
  s << (dims.size() == 1 ? ",)" : ")");
  return s.str();
}

/// Every value computed below comes from collective, agreed reads of the same metadata, so it is
/// identical on every rank; the checks are still agreed so that no rank can be left behind.
class Hdf5Source final : public SampleSource {
 public:
  Hdf5Source(const std::string& path, const std::string& x_name, const std::string& y_name,
             const Hdf5NameSubjects& subjects, const mpi::Communicator& comm, bool real_targets)
      : file_(path, h5::File::Mode::read_only, comm), x_name_(x_name), y_name_(y_name) {
    check_dataset(x_name_, "samples (X)", subjects.x);
    check_dataset(y_name_, "labels (y)", subjects.y);

    const auto x_dims = file_.dims(x_name_);
    const auto y_dims = file_.dims(y_name_);
    const auto x_class = file_.type_class(x_name_);
    const auto y_class = file_.type_class(y_name_);
    std::int64_t d = 1;
    for (std::size_t k = 1; k < x_dims.size(); ++k) d *= static_cast<std::int64_t>(x_dims[k]);
    DEEPRFM_AGREE(comm, x_dims.size() >= 2, input,
                  "HDF5 dataset '" << x_name_ << "' in " << path << " has shape "
                                   << shape_str(x_dims)
                                   << "; expected samples x features (2 or more dimensions)");
    DEEPRFM_AGREE(comm, x_class == H5T_INTEGER || x_class == H5T_FLOAT, input,
                  "HDF5 dataset '" << x_name_ << "' in " << path
                                   << " is not numeric (need an integer or float type)");
    if (real_targets) {
      DEEPRFM_AGREE(comm, y_dims.size() == 1 || (y_dims.size() == 2 && y_dims[1] >= 1), input,
                    "HDF5 dataset '" << y_name_ << "' in " << path << " has shape "
                                     << shape_str(y_dims)
                                     << "; expected regression targets of shape (n,) or (n, k)");
      DEEPRFM_AGREE(
          comm, y_class == H5T_INTEGER || y_class == H5T_FLOAT, input,
          "HDF5 dataset '" << y_name_ << "' in " << path << " is not numeric (regression targets)");
    } else {
      DEEPRFM_AGREE(comm, y_dims.size() == 1 || (y_dims.size() == 2 && y_dims[1] == 1), input,
                    "HDF5 dataset '" << y_name_ << "' in " << path << " has shape "
                                     << shape_str(y_dims)
                                     << "; expected labels of shape (n,) or (n, 1)");
      DEEPRFM_AGREE(
          comm, y_class == H5T_INTEGER, input,
          "HDF5 dataset '" << y_name_ << "' in " << path << " must hold integer class labels");
    }
    DEEPRFM_AGREE(comm, x_dims[0] == y_dims[0], input,
                  "HDF5 file " << path << ": '" << x_name_ << "' has " << x_dims[0]
                               << " samples but '" << y_name_ << "' has " << y_dims[0]
                               << " labels");
    DEEPRFM_AGREE(comm, x_dims[0] > 0, input,
                  "HDF5 dataset '" << x_name_ << "' in " << path << " holds no samples");
    DEEPRFM_AGREE(comm, d > 0 && d <= INT_MAX, input,
                  "HDF5 dataset '" << x_name_ << "' in " << path << " has " << d
                                   << " features per sample; need 1 to " << INT_MAX);
    size_ = static_cast<std::int64_t>(x_dims[0]);
    dim_ = static_cast<int>(d);

    if (real_targets) {
      targets_ = file_.read_all_double(y_name_);
      target_columns_ = y_dims.size() == 2 ? static_cast<int>(y_dims[1]) : 1;
      std::int64_t bad = -1;
      for (std::size_t i = 0; i < targets_.size() && bad < 0; ++i)
        if (!std::isfinite(targets_[i])) bad = static_cast<std::int64_t>(i);
      DEEPRFM_AGREE(comm, bad < 0, input,
                    "HDF5 dataset '" << y_name_ << "' in " << path << ": target of sample "
                                     << (bad >= 0 ? bad / target_columns_ : 0) << " is not finite");
      labels_.assign(static_cast<std::size_t>(size_), 0);
      return;
    }
    const auto raw = file_.read_all_int64(y_name_);
    std::int64_t bad_index = -1;
    for (std::size_t i = 0; i < raw.size() && bad_index < 0; ++i)
      if (raw[i] < 0 || raw[i] > INT_MAX) bad_index = static_cast<std::int64_t>(i);
    DEEPRFM_AGREE(comm, bad_index < 0, input,
                  "HDF5 dataset '" << y_name_ << "' in " << path << ": label "
                                   << (bad_index >= 0 ? raw[bad_index] : 0) << " of sample "
                                   << bad_index << " is not a class index >= 0");
    labels_.assign(raw.begin(), raw.end());
  }

  std::int64_t size() const override { return size_; }
  int dim() const override { return dim_; }
  const std::vector<int>& labels() const override { return labels_; }
  const std::vector<double>& targets() const override { return targets_; }
  int target_columns() const override { return target_columns_; }
  void read_rows(std::int64_t first, std::int64_t count, double* out) override {
    file_.read_rows(x_name_, first, count, out);
  }
  bool collective_reads() const override { return true; }
  std::string describe() const override {
    return "HDF5 " + file_.path() + " (X='" + x_name_ + "', y='" + y_name_ + "')";
  }

 private:
  /// Error(input) on every rank unless `name` is a dataset; lists what the root holds.
  void check_dataset(const std::string& name, const char* role, const char* subject) {
    if (file_.is_dataset(name)) return;
    const bool present = file_.exists(name);
    std::string names;
    for (const auto& n : file_.list("/")) names += (names.empty() ? "" : ", ") + n;
    DEEPRFM_AGREE_ABOUT(
        file_.comm(), false, input, subject,
        "HDF5 file " << file_.path() << ": " << role << " dataset '" << name << "' "
                     << (present ? "is not a dataset" : "not found") << "; the root group holds: "
                     << (names.empty() ? "(nothing)" : names) << " (choose the dataset name)");
  }

  h5::File file_;
  std::string x_name_;
  std::string y_name_;
  std::int64_t size_ = 0;
  int dim_ = 0;
  std::vector<int> labels_;
  std::vector<double> targets_;
  int target_columns_ = 0;
};

}  // namespace

std::unique_ptr<SampleSource> open_hdf5_source(const std::string& path, const std::string& x_name,
                                               const std::string& y_name,
                                               const mpi::Communicator& comm,
                                               const Hdf5NameSubjects& subjects,
                                               bool real_targets) {
  return std::make_unique<Hdf5Source>(path, x_name, y_name, subjects, comm, real_targets);
}

}  // namespace deeprfm::data
