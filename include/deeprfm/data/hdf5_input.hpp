#pragma once
/// HDF5 sample source: samples from a numeric dataset X of shape (n, d) or (n, h, w, ...)
/// (trailing dimensions flattened in C order to d = h*w*... features), labels from an integer
/// dataset y of shape (n,) or (n, 1). Any numeric element type is converted to double by HDF5;
/// values are used as stored (no pixel scaling). The file is opened read-only with MPI-IO over
/// the communicator, so reading rows is collective.
#include <memory>
#include <string>

#include <deeprfm/data/dataset.hpp>
#include <deeprfm/mpi/communicator.hpp>

namespace deeprfm::data {

/// The subjects (Error::subject) a missing X or y dataset is reported about: the names of the
/// settings the dataset names came from, so that the command line can name its option.
struct Hdf5NameSubjects {
  const char* x = "x-name";
  const char* y = "y-name";
};

/// Open X (`x_name`) and y (`y_name`, paths inside the file, e.g. "X" or "/train/X") of an
/// HDF5 file. Checks the file and both datasets and reads the labels (replicated on every
/// rank); a missing or non-HDF5 file, a missing dataset (the message lists the root's names),
/// a wrong rank or type, an X/y length mismatch or a negative label throws the same
/// Error(input) on every rank (a missing dataset's error is about `subjects`). `comm` must outlive
/// the source. With `real_targets` (regression) y is any numeric dataset of shape (n,) or (n, k)
/// of finite values, read as doubles (labels() all 0). Collective over `comm`; the source's
/// read_rows is collective too (each rank reads only the rows it asks for).
std::unique_ptr<SampleSource> open_hdf5_source(const std::string& path, const std::string& x_name,
                                               const std::string& y_name,
                                               const mpi::Communicator& comm,
                                               const Hdf5NameSubjects& subjects = {},
                                               bool real_targets = false);

}  // namespace deeprfm::data
