#pragma once
/// Data: sample sources (file formats, synthetic), selection, preprocessing (docs/numerics.md §1)
/// and the block-cyclic distributed data set that the rest of the program uses.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <deeprfm/la/process_grid.hpp>
#include <deeprfm/la/dist_matrix.hpp>

namespace deeprfm::data {

/// How the n samples of a set are chosen from its source (docs/numerics.md §1). Either way the
/// selected rows are then stably sorted by class.
enum class Selection {
  balanced,  ///< the first n/C of each class in file order (select_class_balanced)
  first,     ///< the first n in file order, whatever their classes (select_first)
};

/// "balanced" -> Selection::balanced, "first" -> Selection::first; anything else throws
/// Error(input) about `subject` (the setting the text came from: "selection" or
/// "test-selection"). Local (pure).
Selection parse_selection(const std::string& text, const char* subject = "selection");

/// "balanced" or "first". Local (pure).
std::string to_string(Selection selection);

/// What the targets are (docs/numerics.md §1): class labels, or real values (n x k) that the
/// kernel machine fits directly (npy and hdf5 data only).
enum class Task { classification, regression };

/// "classification" / "regression"; anything else throws Error(input) about "task". Local.
Task parse_task(const std::string& text);
/// "classification" or "regression". Local (pure).
std::string to_string(Task task);

/// Where the samples come from, as the user states it (CLI --data ...).
struct DataOptions {
  std::string kind = "fashion-mnist";  ///< fashion-mnist | mnist | cifar10 | hdf5 | npy | synthetic
  std::string data_dir;                ///< IDX / CIFAR-10 folder ("" = default for the kind)
  std::string train_file;              ///< hdf5/npy: training file (npy: X file; see y_name)
  std::string test_file;               ///< hdf5/npy: test file ("" = no test set)
  std::string x_name = "X";            ///< hdf5: dataset of samples x features; npy: see docs
  std::string y_name = "y";            ///< hdf5: label dataset
  std::string test_x_name;             ///< hdf5: the test file's samples ("" = x_name)
  std::string test_y_name;             ///< hdf5: the test file's labels ("" = y_name)
  std::int64_t n = 2000;               ///< training points (see selection); 0 = all
  std::int64_t n_test = 0;             ///< test points (see test_selection); 0 = all; -1 = none
  int classes = 0;                     ///< number of classes; 0 = the format's (10) or max label+1
  int dim = 64;                        ///< synthetic: input dimension
  double separation = 1.0;             ///< synthetic: distance scale of the class means
  std::uint64_t seed = 1;              ///< synthetic: generator seed
  bool test_own_statistics = false;    ///< standardise the test set with its own statistics
                                       ///< (mimics the authors' code; default: train statistics)
  std::string train_labels_file;       ///< npy: labels of train_file ("" = derived from the X
                                       ///< file name, see data/npy.hpp: train_X.npy -> train_y.npy)
  std::string test_labels_file;        ///< npy: labels of test_file ("" = derived likewise)
  /// How the n training points are chosen (default: class-balanced).
  Selection selection = Selection::balanced;
  /// How the n_test test points are chosen (default: the first n_test in file order).
  Selection test_selection = Selection::first;  /// Labels or real-valued targets (regression: the y
                                                /// file/dataset holds floats, (n,) or
  /// (n, k); the selections must be `first`).
  Task task = Task::classification;
};

/// One labelled collection of samples in a file or generator, read by row ranges.
/// Implementations: IDX (data/idx.hpp), CIFAR-10 (data/cifar10.hpp), NPY (data/npy.hpp),
/// HDF5 (data/hdf5_input.hpp), synthetic (data/synthetic.hpp).
class SampleSource {
 public:
  virtual ~SampleSource() = default;
  /// Number of samples in the source. Local.
  virtual std::int64_t size() const = 0;
  /// Features per sample (e.g. 784 for 28x28 images). Local.
  virtual int dim() const = 0;
  /// Label of every sample (0-based), available on every rank. Local.
  virtual const std::vector<int>& labels() const = 0;
  /// Real-valued targets of every sample, row-major size() x target_columns(), on every rank;
  /// empty (and target_columns() 0) for a source of class labels. A source opened for
  /// regression has labels() all 0. Local.
  virtual const std::vector<double>& targets() const {
    static const std::vector<double> none;
    return none;
  }
  virtual int target_columns() const { return 0; }
  /// Read samples [first, first + count) as row-major doubles (pixels already scaled to
  /// [0,1]) into out (count * dim() values). Collective over `comm` if collective_reads() is
  /// true (HDF5), local otherwise; every rank must call it in the collective case, possibly
  /// with count = 0.
  virtual void read_rows(std::int64_t first, std::int64_t count, double* out) = 0;
  virtual bool collective_reads() const { return false; }
  /// A short description for logs and the output file ("IDX train-images-idx3-ubyte.gz").
  virtual std::string describe() const = 0;
};

/// A preprocessed, distributed data set: rows are samples, stably sorted by class.
struct Dataset {
  la::DistMatrix<double> x;                ///< n x d, block-cyclic
  std::vector<int> labels;                 ///< n labels, replicated, sorted ascending
  std::vector<std::int64_t> source_index;  ///< row i came from sample source_index[i]
  int classes = 0;
  /// Regression: the targets of the rows, row-major n x target_columns (replicated); empty for
  /// classification (labels are then the targets).
  std::vector<double> targets;
  int target_columns = 0;
  bool regression() const { return target_columns > 0; }
  int n() const { return x.rows(); }
  int dim() const { return x.cols(); }
};

/// Training set, optional test set (test.n() == 0 when absent), and what they came from.
struct TrainTest {
  Dataset train;
  Dataset test;
  std::string description;
  std::vector<double> feature_mean;  ///< training statistics used for standardisation (d)
  std::vector<double> feature_std;   ///< (d), 0 where a feature is constant
};

/// Open the training and test sources named by the options (files are checked here: missing,
/// unreadable, malformed or truncated files throw Error(input)). Local unless HDF5 (collective
/// over `comm`). The test source is null when there is none.
struct Sources {
  std::unique_ptr<SampleSource> train;
  std::unique_ptr<SampleSource> test;
};
Sources open_sources(const DataOptions& options, const mpi::Communicator& comm);

/// Indices of the selected samples, in the final row order: class-balanced (the first
/// ceil/floor(n/C) of each class in file order, remainder to the lowest classes), then
/// stably sorted by class. n = 0 selects all. Throws Error(input) when a class has too few
/// samples, or a label is outside [0, classes). Local (pure).
std::vector<std::int64_t> select_class_balanced(const std::vector<int>& labels, int classes,
                                                std::int64_t n);

/// Indices of the first n samples in file order (n = 0: all), then stably sorted by class, as
/// the authors' code takes its subsets: no class-balance requirement, so a class may get any
/// number of samples, none included. Throws Error(input) when n exceeds the samples available,
/// or a label (of any sample, selected or not) is outside [0, classes). Local (pure).
std::vector<std::int64_t> select_first(const std::vector<int>& labels, int classes, std::int64_t n);

/// select_class_balanced or select_first, as `selection` says. Local (pure).
std::vector<std::int64_t> select_samples(Selection selection, const std::vector<int>& labels,
                                         int classes, std::int64_t n);

/// Per-feature statistics of a data set (docs/numerics.md §1).
struct FeatureStatistics {
  std::vector<double> mean;  ///< (d)
  std::vector<double> std;   ///< (d), n-1 denominator; exactly 0 for a constant feature
};

/// Mean and standard deviation (n-1 denominator) of every column of `x`, two-pass in double; a
/// column whose minimum equals its maximum gets exactly its value as mean and std 0. With fewer
/// than two rows every std is 0. Collective over x.grid().full().
FeatureStatistics compute_feature_statistics(const la::DistMatrix<double>& x);

/// x_ij <- (x_ij - mean_j) / std_j, and x_ij <- 0 where std_j == 0. Local.
void standardise(la::DistMatrix<double>& x, const FeatureStatistics& statistics);

/// Read budget per rank and round of read_distributed (bytes of decoded doubles).
inline constexpr std::size_t kDefaultReadChunkBytes = std::size_t(16) << 20;

/// Read the samples `selection` of `source` into a new block-cyclic selection.size() x dim()
/// matrix on `grid` (row i = sample selection[i]; block x block blocks). The selected indices
/// are sorted and split evenly across ranks in source order; each rank reads its share in
/// windows of at most `chunk_bytes` of decoded data (contiguous source ranges, small gaps read
/// through), and every window round ends with one MPI_Alltoallv that sends each row's pieces to
/// the ranks owning that row and each column block. Per-rank memory: the local part of the
/// result, O(chunk_bytes) of buffers and O(n) replicated indices. NaN or Inf values are rejected
/// with Error(input) naming `set_name` and the first bad sample (source index). Collective over
/// grid.full(); every failure (I/O, bad values) is agreed across ranks.
la::DistMatrix<double> read_distributed(SampleSource& source,
                                        const std::vector<std::int64_t>& selection,
                                        const la::ProcessGrid& grid, int block,
                                        const std::string& set_name,
                                        std::size_t chunk_bytes = kDefaultReadChunkBytes);

/// The number of classes load_train_test uses: options.classes when positive, else 10 for
/// fashion-mnist / mnist / cifar10 / synthetic, else (npy, hdf5) the largest training label + 1.
/// Local (pure).
int resolve_classes(const DataOptions& options, const SampleSource& train);

/// Load, select, distribute and preprocess (docs/numerics.md §1: standardisation with training
/// statistics; NaN/Inf rejected) both sets onto `grid` with the given block size.
/// Collective over the grid. Every failure is agreed across ranks.
TrainTest load_train_test(const DataOptions& options, const la::ProcessGrid& grid, int block);

/// The test set the options name, alone, for applying a trained model to it (deeprfm
/// predict): opened, selected (options.test_selection) and read like load_train_test's test set,
/// with `classes` classes (labels outside [0, classes) refused), standardised with `statistics`
/// (the model's training statistics; with options.test_own_statistics, its own). Refused when the
/// options name no test set, or its dimension is not statistics.mean.size(). `description` gets the
/// log line. Collective over the grid; every failure is agreed across ranks.
Dataset load_test_set(const DataOptions& options, int classes, const FeatureStatistics& statistics,
                      const la::ProcessGrid& grid, int block, std::string& description);

}  // namespace deeprfm::data
