#include <deeprfm/data/dataset.hpp>

#include <mpi.h>

#include <algorithm>
#include <climits>
#include <cmath>
#include <limits>
#include <numeric>
#include <sstream>

#include <deeprfm/base/error.hpp>
#include <deeprfm/data/cifar10.hpp>
#include <deeprfm/data/hdf5_input.hpp>
#include <deeprfm/data/idx.hpp>
#include <deeprfm/data/npy.hpp>
#include <deeprfm/data/synthetic.hpp>

namespace deeprfm::data {

namespace {

/// Source gaps up to this many rows are read through rather than skipped (a seek, or for gzip
/// a skip, costs more than a few rows).
constexpr std::int64_t kMaxGapRows = 32;

void check_mpi(int rc, const char* what) { mpi::check(rc, what); }

bool is_idx_kind(const std::string& kind) { return kind == "fashion-mnist" || kind == "mnist"; }

/// Run `body`; a deeprfm::Error gets `context` prefixed to its message, and `subject` when it
/// is about no setting yet.
template <class Body>
auto with_context(const std::string& context, Body&& body, const std::string& subject = {})
    -> decltype(body()) {
  try {
    return body();
  } catch (const Error& e) {
    throw Error(e.kind(), context + e.what(), e.file(), e.line(), e.agreed(),
                e.subject().empty() ? subject : e.subject());
  }
}

std::string idx_dir(const DataOptions& options) {
  if (!options.data_dir.empty()) return options.data_dir;
  DEEPRFM_CHECK_ABOUT(options.kind == "fashion-mnist", input, "data-dir",
                      options.kind << " data needs a data folder (the folder holding "
                                   << "train-images-idx3-ubyte[.gz] and the other three IDX "
                                      "files)");
  return kFashionMnistDefaultDir;
}

}  // namespace

// --------------------------------------------------------------------------------------------
// Sources

Sources open_sources(const DataOptions& options, const mpi::Communicator& comm) {
  Sources s;
  const std::string& kind = options.kind;
  const bool want_test = options.n_test >= 0;
  // Test dataset names that would be silently ignored are refused.
  const bool test_names = !options.test_x_name.empty() || !options.test_y_name.empty();
  DEEPRFM_CHECK_ABOUT(!test_names || (kind == "hdf5" && !options.test_file.empty()), input,
                      "test-x-name,test-y-name",
                      "test dataset names name datasets of the test file of hdf5 data (given with "
                          << kind << " data"
                          << (options.test_file.empty() ? " and no test file" : "") << ")");
  // Real-valued targets come from the y array/dataset of npy and hdf5 data only.
  const bool real_targets = options.task == Task::regression;
  DEEPRFM_CHECK_ABOUT(!real_targets || kind == "npy" || kind == "hdf5", input, "task",
                      "regression needs real-valued targets: npy or hdf5 data ("
                          << kind << " data has class labels)");
  if (is_idx_kind(kind)) {
    const std::string dir = idx_dir(options);
    const auto open = [&](bool train) {
      try {
        return open_idx_source(dir, train);
      } catch (const Error& e) {
        if (options.data_dir.empty())
          throw Error(
              e.kind(),
              std::string(e.what()) + " (default " + kind + " folder; give the data folder)",
              e.file(), e.line(), e.agreed(), "data-dir");
        throw;
      }
    };
    s.train = open(true);
    if (want_test) s.test = open(false);
  } else if (kind == "cifar10") {
    DEEPRFM_CHECK_ABOUT(!options.data_dir.empty(), input, "data-dir",
                        "cifar10 data needs a data folder (the folder holding data_batch_1.bin .. "
                        "data_batch_5.bin and test_batch.bin)");
    s.train = open_cifar10_source(options.data_dir, true);
    if (want_test) s.test = open_cifar10_source(options.data_dir, false);
  } else if (kind == "npy") {
    DEEPRFM_CHECK_ABOUT(!options.train_file.empty(), input, "train",
                        "npy data needs a training file (the X array, X.npy)");
    s.train =
        std::make_unique<NpySource>(options.train_file,
                                    labels_file_for(options.train_file, options.train_labels_file,
                                                    options.x_name, options.y_name),
                                    real_targets);
    if (want_test && !options.test_file.empty())
      s.test =
          std::make_unique<NpySource>(options.test_file,
                                      labels_file_for(options.test_file, options.test_labels_file,
                                                      options.x_name, options.y_name),
                                      real_targets);
  } else if (kind == "hdf5") {
    DEEPRFM_CHECK_ABOUT(!options.train_file.empty(), input, "train",
                        "hdf5 data needs a training file (file.h5)");
    s.train = open_hdf5_source(options.train_file, options.x_name, options.y_name, comm, {},
                               real_targets);
    if (want_test && !options.test_file.empty()) {
      // A missing test dataset is about the setting its name came from.
      Hdf5NameSubjects subjects;
      if (!options.test_x_name.empty()) subjects.x = "test-x-name";
      if (!options.test_y_name.empty()) subjects.y = "test-y-name";
      s.test = open_hdf5_source(options.test_file,
                                options.test_x_name.empty() ? options.x_name : options.test_x_name,
                                options.test_y_name.empty() ? options.y_name : options.test_y_name,
                                comm, subjects, real_targets);
    }
  } else if (kind == "synthetic") {
    const int classes = options.classes > 0 ? options.classes : 10;
    DEEPRFM_CHECK_ABOUT(options.n > 0, input, "n",
                        "synthetic data needs a sample count n > 0 (there is no 'all' for "
                        "generated data)");
    s.train = std::make_unique<SyntheticSource>(options.n, options.dim, classes, options.separation,
                                                options.seed, SyntheticStream::train);
    if (want_test) {
      // n_test = 0 ("all") means as many test samples as training samples.
      const std::int64_t n_test = options.n_test > 0 ? options.n_test : options.n;
      s.test = std::make_unique<SyntheticSource>(n_test, options.dim, classes, options.separation,
                                                 options.seed, SyntheticStream::test);
    }
  } else {
    DEEPRFM_THROW_ABOUT(input, "data",
                        "unknown data kind '" << kind
                                              << "' (expected fashion-mnist, mnist, cifar10, "
                                                 "npy, hdf5 or synthetic)");
  }
  return s;
}

int resolve_classes(const DataOptions& options, const SampleSource& train) {
  if (options.task == Task::regression) return 1;  // labels are all 0
  if (options.classes > 0) return options.classes;
  if (is_idx_kind(options.kind) || options.kind == "cifar10" || options.kind == "synthetic")
    return 10;
  const auto& labels = train.labels();
  DEEPRFM_CHECK(!labels.empty(), input, "training set " << train.describe() << " has no samples");
  const int top = *std::max_element(labels.begin(), labels.end());
  DEEPRFM_CHECK(top >= 0 && top < INT_MAX, input,
                "training labels of " << train.describe() << " are all negative");
  return top + 1;
}

// --------------------------------------------------------------------------------------------
// Selection

Selection parse_selection(const std::string& text, const char* subject) {
  if (text == "balanced") return Selection::balanced;
  if (text == "first") return Selection::first;
  DEEPRFM_THROW_ABOUT(input, subject,
                      "sample selection '" << text << "' is not one of: balanced, first");
}

std::string to_string(Selection selection) {
  return selection == Selection::balanced ? "balanced" : "first";
}

Task parse_task(const std::string& text) {
  if (text == "classification") return Task::classification;
  if (text == "regression") return Task::regression;
  DEEPRFM_THROW_ABOUT(input, "task",
                      "task '" << text << "' is not one of: classification, regression");
}

std::string to_string(Task task) {
  return task == Task::classification ? "classification" : "regression";
}

namespace {

/// Samples per class of `labels`, every label checked to lie in [0, classes). Local.
std::vector<std::int64_t> count_per_class(const std::vector<int>& labels, int classes) {
  std::vector<std::int64_t> per_class(static_cast<std::size_t>(classes), 0);
  for (std::size_t i = 0; i < labels.size(); ++i) {
    const int y = labels[i];
    DEEPRFM_CHECK_ABOUT(y >= 0 && y < classes, input, "classes",
                        "label " << y << " of sample " << i << " is outside [0, " << classes
                                 << ") (is the number of classes right?)");
    ++per_class[static_cast<std::size_t>(y)];
  }
  return per_class;
}

}  // namespace

std::vector<std::int64_t> select_first(const std::vector<int>& labels, int classes,
                                       std::int64_t n) {
  DEEPRFM_CHECK(classes >= 1, input, "number of classes must be positive, got " << classes);
  DEEPRFM_CHECK(n >= 0, input, "number of samples must be >= 0 (0 = all), got " << n);
  const auto available = static_cast<std::int64_t>(labels.size());
  count_per_class(labels, classes);
  DEEPRFM_CHECK(n <= available, input,
                "asked for " << n << " samples but only " << available << " are available");
  std::vector<std::int64_t> selection(static_cast<std::size_t>(n == 0 ? available : n));
  std::iota(selection.begin(), selection.end(), std::int64_t(0));
  std::stable_sort(selection.begin(), selection.end(), [&](std::int64_t a, std::int64_t b) {
    return labels[static_cast<std::size_t>(a)] < labels[static_cast<std::size_t>(b)];
  });
  return selection;
}

std::vector<std::int64_t> select_samples(Selection selection, const std::vector<int>& labels,
                                         int classes, std::int64_t n) {
  return selection == Selection::balanced ? select_class_balanced(labels, classes, n)
                                          : select_first(labels, classes, n);
}

std::vector<std::int64_t> select_class_balanced(const std::vector<int>& labels, int classes,
                                                std::int64_t n) {
  DEEPRFM_CHECK(classes >= 1, input, "number of classes must be positive, got " << classes);
  DEEPRFM_CHECK(n >= 0, input, "number of samples must be >= 0 (0 = all), got " << n);
  const auto available = static_cast<std::int64_t>(labels.size());
  const std::vector<std::int64_t> per_class = count_per_class(labels, classes);
  std::vector<std::int64_t> quota(static_cast<std::size_t>(classes));
  if (n == 0) {
    quota = per_class;
  } else {
    DEEPRFM_CHECK(n <= available, input,
                  "asked for " << n << " samples but only " << available << " are available");
    for (int c = 0; c < classes; ++c) {
      quota[static_cast<std::size_t>(c)] = n / classes + (c < n % classes ? 1 : 0);
      DEEPRFM_CHECK(per_class[static_cast<std::size_t>(c)] >= quota[static_cast<std::size_t>(c)],
                    input,
                    "class " << c << " has only " << per_class[static_cast<std::size_t>(c)]
                             << " samples; a class-balanced selection of " << n << " in " << classes
                             << " classes needs " << quota[static_cast<std::size_t>(c)]);
    }
  }
  std::vector<std::int64_t> start(static_cast<std::size_t>(classes) + 1, 0);
  for (int c = 0; c < classes; ++c)
    start[static_cast<std::size_t>(c) + 1] =
        start[static_cast<std::size_t>(c)] + quota[static_cast<std::size_t>(c)];
  std::vector<std::int64_t> taken(static_cast<std::size_t>(classes), 0);
  std::vector<std::int64_t> selection(static_cast<std::size_t>(start.back()));
  for (std::int64_t i = 0; i < available; ++i) {
    const auto c = static_cast<std::size_t>(labels[static_cast<std::size_t>(i)]);
    if (taken[c] < quota[c]) selection[static_cast<std::size_t>(start[c] + taken[c]++)] = i;
  }
  return selection;
}

// --------------------------------------------------------------------------------------------
// Distributed read

la::DistMatrix<double> read_distributed(SampleSource& source,
                                        const std::vector<std::int64_t>& selection,
                                        const la::ProcessGrid& grid, int block,
                                        const std::string& set_name, std::size_t chunk_bytes) {
  const mpi::Communicator& comm = grid.full();
  const int ranks = comm.size();
  const int me = comm.rank();
  const auto m = static_cast<std::int64_t>(selection.size());
  const int d = source.dim();
  DEEPRFM_AGREE(comm, block >= 1, input, "block size must be positive, got " << block);
  DEEPRFM_AGREE(comm, m <= INT_MAX, input,
                set_name << " set: " << m << " samples exceed the supported " << INT_MAX);
  DEEPRFM_AGREE(comm, d >= 1, input,
                set_name << " set: " << source.describe() << " has no features");
  mpi::run_agreed(comm, [&] {
    for (std::int64_t s : selection)
      DEEPRFM_CHECK(s >= 0 && s < source.size(), internal,
                    set_name << " set: selected sample " << s << " outside the source");
  });

  la::DistMatrix<double> x(grid, static_cast<int>(m), d, block);
  const la::CyclicMap& row_map = x.dist().rows();
  const int grid_cols = grid.cols();

  // Global columns each process column holds, in its local order.
  std::vector<std::vector<int>> columns_of(static_cast<std::size_t>(grid_cols));
  for (int pc = 0; pc < grid_cols; ++pc) {
    la::CyclicMap map(d, block, grid_cols, pc);
    auto& cols = columns_of[static_cast<std::size_t>(pc)];
    cols.resize(static_cast<std::size_t>(map.local_size()));
    for (int l = 0; l < map.local_size(); ++l)
      cols[static_cast<std::size_t>(l)] = map.to_global(la::LocalIndex(l)).value;
  }

  // My share: a contiguous piece of the selection sorted by source index.
  std::vector<std::int64_t> order(static_cast<std::size_t>(m));
  std::iota(order.begin(), order.end(), std::int64_t(0));
  std::stable_sort(order.begin(), order.end(), [&](std::int64_t a, std::int64_t b) {
    return selection[static_cast<std::size_t>(a)] < selection[static_cast<std::size_t>(b)];
  });
  const std::int64_t share_begin = m * me / ranks;
  const std::int64_t share_end = m * (me + 1) / ranks;

  // Windows: contiguous source ranges of at most chunk_rows rows, split at large gaps.
  struct Window {
    std::int64_t first_entry, end_entry;  // into `order`
    std::int64_t first_row, row_count;    // source range
  };
  const std::int64_t chunk_rows = std::max<std::int64_t>(
      1, static_cast<std::int64_t>(chunk_bytes / (sizeof(double) * static_cast<std::size_t>(d))));
  auto source_of = [&](std::int64_t entry) {
    return selection[static_cast<std::size_t>(order[static_cast<std::size_t>(entry)])];
  };
  std::vector<Window> windows;
  for (std::int64_t e = share_begin; e < share_end;) {
    Window w{e, e + 1, source_of(e), 1};
    while (w.end_entry < share_end) {
      const std::int64_t next = source_of(w.end_entry);
      const std::int64_t prev = source_of(w.end_entry - 1);
      if (next - prev > kMaxGapRows || next - w.first_row + 1 > chunk_rows) break;
      w.row_count = next - w.first_row + 1;
      ++w.end_entry;
    }
    windows.push_back(w);
    e = w.end_entry;
  }
  const std::int64_t rounds = comm.max(static_cast<std::int64_t>(windows.size()));

  std::vector<double> rows;
  std::vector<double> send, receive;
  std::vector<int> send_counts(static_cast<std::size_t>(ranks)),
      send_offsets(static_cast<std::size_t>(ranks));
  std::vector<int> receive_counts(static_cast<std::size_t>(ranks)),
      receive_offsets(static_cast<std::size_t>(ranks));
  std::int64_t first_bad_sample = -1;
  int first_bad_feature = -1;
  double first_bad_value = 0;

  for (std::int64_t round = 0; round < rounds; ++round) {
    const Window* w = round < static_cast<std::int64_t>(windows.size())
                          ? &windows[static_cast<std::size_t>(round)]
                          : nullptr;
    std::exception_ptr failure;
    try {
      if (w) {
        rows.resize(static_cast<std::size_t>(w->row_count) * static_cast<std::size_t>(d));
        source.read_rows(w->first_row, w->row_count, rows.data());
      } else if (source.collective_reads()) {
        source.read_rows(0, 0, nullptr);
      }
      // Pack: per destination rank (pr, pc): [global row, values of pc's columns]...
      std::fill(send_counts.begin(), send_counts.end(), 0);
      std::int64_t total = 0;
      if (w) {
        for (std::int64_t e = w->first_entry; e < w->end_entry; ++e) {
          const int target = static_cast<int>(order[static_cast<std::size_t>(e)]);
          const double* row =
              rows.data() + static_cast<std::size_t>(source_of(e) - w->first_row) * d;
          if (first_bad_sample < 0) {
            for (int j = 0; j < d; ++j) {
              if (!std::isfinite(row[j])) {
                first_bad_sample = source_of(e);
                first_bad_feature = j;
                first_bad_value = row[j];
                break;
              }
            }
          }
          const int pr = row_map.owner(la::GlobalIndex(target));
          for (int pc = 0; pc < grid_cols; ++pc) {
            const auto n = 1 + columns_of[static_cast<std::size_t>(pc)].size();
            send_counts[static_cast<std::size_t>(pr * grid_cols + pc)] += static_cast<int>(n);
            total += static_cast<std::int64_t>(n);
          }
        }
      }
      DEEPRFM_CHECK(total <= INT_MAX, resource, "read chunk too large for MPI counts");
      int offset = 0;
      for (int r = 0; r < ranks; ++r) {
        send_offsets[static_cast<std::size_t>(r)] = offset;
        offset += send_counts[static_cast<std::size_t>(r)];
      }
      send.resize(static_cast<std::size_t>(total));
      if (w) {
        std::vector<int> cursor = send_offsets;
        for (std::int64_t e = w->first_entry; e < w->end_entry; ++e) {
          const int target = static_cast<int>(order[static_cast<std::size_t>(e)]);
          const double* row =
              rows.data() + static_cast<std::size_t>(source_of(e) - w->first_row) * d;
          const int pr = row_map.owner(la::GlobalIndex(target));
          for (int pc = 0; pc < grid_cols; ++pc) {
            int& at = cursor[static_cast<std::size_t>(pr * grid_cols + pc)];
            send[static_cast<std::size_t>(at++)] = static_cast<double>(target);
            for (int j : columns_of[static_cast<std::size_t>(pc)])
              send[static_cast<std::size_t>(at++)] = row[j];
          }
        }
      }
    } catch (...) {
      failure = std::current_exception();
    }
    comm.agree(failure);  // a failed read on any rank stops every rank here, together

    check_mpi(
        MPI_Alltoall(send_counts.data(), 1, MPI_INT, receive_counts.data(), 1, MPI_INT, comm.get()),
        "MPI_Alltoall");
    std::int64_t receive_total = 0;
    for (int r = 0; r < ranks; ++r) {
      receive_offsets[static_cast<std::size_t>(r)] =
          static_cast<int>(std::min<std::int64_t>(receive_total, INT_MAX));
      receive_total += receive_counts[static_cast<std::size_t>(r)];
    }
    DEEPRFM_AGREE(comm, receive_total <= INT_MAX, resource,
                  "read round receives " << receive_total << " values, too many for MPI counts; "
                                         << "use a smaller read chunk");
    receive.resize(static_cast<std::size_t>(receive_total));
    check_mpi(MPI_Alltoallv(send.data(), send_counts.data(), send_offsets.data(), MPI_DOUBLE,
                            receive.data(), receive_counts.data(), receive_offsets.data(),
                            MPI_DOUBLE, comm.get()),
              "MPI_Alltoallv");

    // Unpack: every segment is [global row, my local columns in local order].
    const int local_cols = x.local_cols();
    const std::size_t segment = 1 + static_cast<std::size_t>(local_cols);
    DEEPRFM_ASSERT(receive.size() % segment == 0);
    for (std::size_t at = 0; at < receive.size(); at += segment) {
      const int target = static_cast<int>(receive[at]);
      const int li = row_map.to_local(la::GlobalIndex(target)).value;
      for (int lj = 0; lj < local_cols; ++lj) x.local(li, lj) = receive[at + 1 + lj];
    }
  }

  // Shares are in source order by rank, so the lowest failing rank holds the first bad sample.
  mpi::run_agreed(comm, [&] {
    DEEPRFM_CHECK(first_bad_sample < 0, input,
                  set_name << " set: sample " << first_bad_sample << " of " << source.describe()
                           << " has a non-finite value (" << first_bad_value << " in feature "
                           << first_bad_feature << ")");
  });
  return x;
}

// --------------------------------------------------------------------------------------------
// Standardisation

FeatureStatistics compute_feature_statistics(const la::DistMatrix<double>& x) {
  const mpi::Communicator& comm = x.grid().full();
  const int n = x.rows();
  const int d = x.cols();
  const auto dd = static_cast<std::size_t>(d);
  FeatureStatistics stats;
  stats.mean.assign(dd, 0.0);
  stats.std.assign(dd, 0.0);
  std::vector<double> low(dd, std::numeric_limits<double>::infinity());
  std::vector<double> high(dd, -std::numeric_limits<double>::infinity());

  for (int lj = 0; lj < x.local_cols(); ++lj) {
    const auto j = static_cast<std::size_t>(x.global_col(lj));
    double sum = 0, lo = low[j], hi = high[j];
    for (int li = 0; li < x.local_rows(); ++li) {
      const double v = x.local(li, lj);
      sum += v;
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
    stats.mean[j] = sum;
    low[j] = lo;
    high[j] = hi;
  }
  comm.sum_in_place(stats.mean.data(), dd);
  if (d > 0) {
    check_mpi(MPI_Allreduce(MPI_IN_PLACE, low.data(), d, MPI_DOUBLE, MPI_MIN, comm.get()),
              "MPI_Allreduce");
    check_mpi(MPI_Allreduce(MPI_IN_PLACE, high.data(), d, MPI_DOUBLE, MPI_MAX, comm.get()),
              "MPI_Allreduce");
  }
  if (n == 0) return stats;
  for (std::size_t j = 0; j < dd; ++j) {
    stats.mean[j] /= n;
    if (low[j] == high[j]) stats.mean[j] = low[j];  // constant: exact mean, std 0 below
  }

  std::vector<double> squares(dd, 0.0);
  for (int lj = 0; lj < x.local_cols(); ++lj) {
    const auto j = static_cast<std::size_t>(x.global_col(lj));
    const double mean = stats.mean[j];
    double ss = 0;
    for (int li = 0; li < x.local_rows(); ++li) {
      const double dev = x.local(li, lj) - mean;
      ss += dev * dev;
    }
    squares[j] = ss;
  }
  comm.sum_in_place(squares.data(), dd);
  for (std::size_t j = 0; j < dd; ++j)
    stats.std[j] = (n >= 2 && low[j] != high[j]) ? std::sqrt(squares[j] / (n - 1)) : 0.0;
  return stats;
}

void standardise(la::DistMatrix<double>& x, const FeatureStatistics& statistics) {
  DEEPRFM_CHECK(statistics.mean.size() == static_cast<std::size_t>(x.cols()) &&
                    statistics.std.size() == static_cast<std::size_t>(x.cols()),
                internal,
                "standardise: statistics of " << statistics.mean.size() << " features for "
                                              << x.cols() << " columns");
  for (int lj = 0; lj < x.local_cols(); ++lj) {
    const auto j = static_cast<std::size_t>(x.global_col(lj));
    const double mean = statistics.mean[j];
    const double s = statistics.std[j];
    if (s == 0.0) {
      for (int li = 0; li < x.local_rows(); ++li) x.local(li, lj) = 0.0;
    } else {
      const double inv = 1.0 / s;
      for (int li = 0; li < x.local_rows(); ++li) x.local(li, lj) = (x.local(li, lj) - mean) * inv;
    }
  }
}

// --------------------------------------------------------------------------------------------
// The whole pipeline

namespace {

Dataset load_set(SampleSource& source, const std::vector<std::int64_t>& selection, int classes,
                 const la::ProcessGrid& grid, int block, const std::string& set_name) {
  Dataset set;
  set.x = read_distributed(source, selection, grid, block, set_name);
  set.classes = classes;
  set.source_index = selection;
  set.labels.resize(selection.size());
  for (std::size_t i = 0; i < selection.size(); ++i)
    set.labels[i] = source.labels()[static_cast<std::size_t>(selection[i])];
  const auto k = static_cast<std::size_t>(source.target_columns());
  if (k > 0) {
    set.target_columns = static_cast<int>(k);
    set.targets.resize(selection.size() * k);
    for (std::size_t i = 0; i < selection.size(); ++i)
      std::copy_n(source.targets().begin() +
                      static_cast<std::ptrdiff_t>(static_cast<std::size_t>(selection[i]) * k),
                  k, set.targets.begin() + static_cast<std::ptrdiff_t>(i * k));
  }
  return set;
}

/// The n of the test selection: synthetic test sets are generated at their size and used whole.
std::int64_t test_n(const DataOptions& options) {
  return options.kind == "synthetic" ? 0 : options.n_test;
}

/// "first 1000 samples, 10 classes (87..115 per class)", "2000 class-balanced samples, ...",
/// "all 60000 samples, ..."; classes without a sample are named. Local.
std::string describe_selection(const std::vector<std::int64_t>& selection,
                               const std::vector<int>& labels, int classes, Selection mode,
                               std::int64_t n, int target_columns = 0) {
  if (target_columns > 0) {
    std::ostringstream os;
    os << (n == 0 ? "all " : "first ") << selection.size() << " samples, " << target_columns
       << " real-valued target" << (target_columns > 1 ? "s" : "");
    return os.str();
  }
  std::vector<std::int64_t> per_class(static_cast<std::size_t>(classes), 0);
  for (std::int64_t s : selection)
    ++per_class[static_cast<std::size_t>(labels[static_cast<std::size_t>(s)])];
  const auto [lo, hi] = std::minmax_element(per_class.begin(), per_class.end());
  std::ostringstream os;
  if (n == 0)
    os << "all " << selection.size() << " samples, ";
  else if (mode == Selection::balanced)
    os << selection.size() << " class-balanced samples, ";
  else
    os << "first " << selection.size() << " samples, ";
  os << classes << " classes (" << *lo;
  if (*hi != *lo) os << ".." << *hi;
  os << " per class";
  if (*lo == 0) {
    os << "; none of class";
    const char* separator = " ";
    for (int c = 0; c < classes; ++c) {
      if (per_class[static_cast<std::size_t>(c)] != 0) continue;
      os << separator << c;
      separator = ", ";
    }
  }
  os << ")";
  return os.str();
}

/// Regression has no classes to balance: the selections must be `first` (the test selection
/// only, when `test_only`: deeprfm predict reads no training set). Local.
void check_regression_selection(const DataOptions& options, bool test_only = false) {
  if (options.task != Task::regression) return;
  DEEPRFM_CHECK_ABOUT(test_only || options.selection == Selection::first, input, "selection",
                      "a class-balanced training selection needs class labels; regression "
                      "takes the first n samples (selection first)");
  DEEPRFM_CHECK_ABOUT(options.test_selection == Selection::first, input, "test-selection",
                      "a class-balanced test selection needs class labels; regression takes "
                      "the first n_test samples (test selection first)");
}

/// The first class without a sample in `selection`, or -1 when every class has one. Local.
int first_absent_class(const std::vector<std::int64_t>& selection, const std::vector<int>& labels,
                       int classes) {
  std::vector<char> present(static_cast<std::size_t>(classes), 0);
  for (std::int64_t s : selection)
    present[static_cast<std::size_t>(labels[static_cast<std::size_t>(s)])] = 1;
  for (int c = 0; c < classes; ++c)
    if (!present[static_cast<std::size_t>(c)]) return c;
  return -1;
}

}  // namespace

TrainTest load_train_test(const DataOptions& options, const la::ProcessGrid& grid, int block) {
  const mpi::Communicator& comm = grid.full();
  Sources sources;
  mpi::run_agreed(comm, [&] { sources = open_sources(options, comm); });

  int classes = 0;
  std::vector<std::int64_t> train_selection, test_selection;
  mpi::run_agreed(comm, [&] {
    check_regression_selection(options);
    classes = resolve_classes(options, *sources.train);
    train_selection = with_context(
        "training set " + sources.train->describe() + ": ",
        [&] {
          return select_samples(options.selection, sources.train->labels(), classes, options.n);
        },
        "n,selection");
    DEEPRFM_CHECK(!train_selection.empty(), input,
                  "training set " << sources.train->describe() << " has no samples");
    // The neural-collapse metrics of every layer need a training sample of every class.
    const int absent = first_absent_class(train_selection, sources.train->labels(), classes);
    DEEPRFM_CHECK_ABOUT(absent < 0, input, "n,selection",
                        "training set "
                            << sources.train->describe() << ": class " << absent
                            << " has no sample in the selection ("
                            << describe_selection(train_selection, sources.train->labels(), classes,
                                                  options.selection, options.n)
                            << "); the neural-collapse metrics need every class "
                               "(select more samples, or check the number of "
                               "classes)");
    if (sources.test) {
      DEEPRFM_CHECK(sources.test->dim() == sources.train->dim(), input,
                    "test set " << sources.test->describe() << " has " << sources.test->dim()
                                << " features, training set " << sources.train->describe()
                                << " has " << sources.train->dim());
      DEEPRFM_CHECK(sources.test->target_columns() == sources.train->target_columns(), input,
                    "test set " << sources.test->describe() << " has "
                                << sources.test->target_columns()
                                << " target columns, training set " << sources.train->describe()
                                << " has " << sources.train->target_columns());
      // A class may be absent from the test set: only accuracies are computed on it.
      test_selection = with_context(
          "test set " + sources.test->describe() + ": ",
          [&] {
            return select_samples(options.test_selection, sources.test->labels(), classes,
                                  test_n(options));
          },
          "n-test,test-selection");
    }
  });

  TrainTest out;
  out.train = load_set(*sources.train, train_selection, classes, grid, block, "training");
  FeatureStatistics train_stats = compute_feature_statistics(out.train.x);
  standardise(out.train.x, train_stats);

  std::ostringstream description;
  description << "train: " << sources.train->describe() << ", "
              << describe_selection(train_selection, sources.train->labels(), classes,
                                    options.selection, options.n, sources.train->target_columns());
  if (sources.test) {
    out.test = load_set(*sources.test, test_selection, classes, grid, block, "test");
    if (options.test_own_statistics) {
      standardise(out.test.x, compute_feature_statistics(out.test.x));
    } else {
      standardise(out.test.x, train_stats);
    }
    description << "; test: " << sources.test->describe() << ", "
                << describe_selection(test_selection, sources.test->labels(), classes,
                                      options.test_selection, test_n(options),
                                      sources.test->target_columns())
                << "; test standardised with "
                << (options.test_own_statistics ? "its own statistics" : "training statistics");
  } else {
    out.test.classes = classes;
    description << "; no test set";
  }
  out.description = description.str();
  out.feature_mean = std::move(train_stats.mean);
  out.feature_std = std::move(train_stats.std);
  return out;
}

Dataset load_test_set(const DataOptions& options, int classes, const FeatureStatistics& statistics,
                      const la::ProcessGrid& grid, int block, std::string& description) {
  const mpi::Communicator& comm = grid.full();
  Sources sources;
  mpi::run_agreed(comm, [&] { sources = open_sources(options, comm); });
  std::vector<std::int64_t> selection;
  mpi::run_agreed(comm, [&] {
    check_regression_selection(options, true);
    DEEPRFM_CHECK_ABOUT(sources.test != nullptr, input, "test",
                        options.kind
                            << " data names no test set to predict"
                            << (options.kind == "npy" || options.kind == "hdf5" ? " (give the file)"
                                                                                : ""));
    const auto d = static_cast<std::size_t>(sources.test->dim());
    DEEPRFM_CHECK(d == statistics.mean.size(), input,
                  sources.test->describe() << " has " << d << " features but the model was "
                                           << "trained on " << statistics.mean.size());
    selection = with_context(
        sources.test->describe() + ": ",
        [&] {
          return select_samples(options.test_selection, sources.test->labels(), classes,
                                test_n(options));
        },
        "n-test,test-selection");
    DEEPRFM_CHECK(!selection.empty(), input, sources.test->describe() << " has no samples");
  });
  Dataset set = load_set(*sources.test, selection, classes, grid, block, "test");
  standardise(set.x, options.test_own_statistics ? compute_feature_statistics(set.x) : statistics);
  description =
      sources.test->describe() + ", " +
      describe_selection(selection, sources.test->labels(), classes, options.test_selection,
                         test_n(options), sources.test->target_columns()) +
      ", standardised with " +
      (options.test_own_statistics ? "its own statistics" : "the training statistics");
  return set;
}

}  // namespace deeprfm::data
