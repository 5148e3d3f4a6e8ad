// The saved model in a results file (include/deeprfm/rfm/saved_model.hpp).
#include <deeprfm/rfm/saved_model.hpp>

#include <string>

#include <deeprfm/base/error.hpp>
#include <deeprfm/rfm/results_writer.hpp>
#include <deeprfm/store/results_file.hpp>

namespace deeprfm::rfm {

namespace {

constexpr const char* kModel = "/model";

std::string layer_path(int layer) { return std::string(kModel) + "/" + store::layer_group(layer); }

}  // namespace

double saved_model_layer_bytes(double n, double d, double width, double classes, double n_test) {
  return 8.0 * (n * d + n * classes + d * d + width * d + n_test * classes);
}

void write_model_info(h5::File& f, const ModelInfo& info) {
  f.ensure_group(kModel);
  f.write_attribute(kModel, "format", std::string(kModelFormat));
  f.write_attribute(kModel, "format_version", kModelFormatVersion);
  f.write_attribute(kModel, "task", std::string(info.regression ? "regression" : "classification"));
  f.write_attribute(kModel, "kernel", model::to_string(info.kernel.kind));
  f.write_attribute(kModel, "bandwidth", info.kernel.bandwidth);
  f.write_attribute(kModel, "width", static_cast<std::int64_t>(info.width));
  f.write_attribute(kModel, "feature_init", model::to_string(info.feature_init));
  // Text: a seed may use all 64 bits. W_l is stored, so no reader needs the generator.
  f.write_attribute(kModel, "seed", std::to_string(info.seed));
  f.write_attribute(kModel, "classes", static_cast<std::int64_t>(info.classes));
  f.write_attribute(kModel, "dim_input", static_cast<std::int64_t>(info.dim_input));
  f.write_attribute(kModel, "standardisation",
                    std::string(info.test_own_statistics ? "own" : "training"));
  f.write_attribute(kModel, "layers", static_cast<std::int64_t>(info.layers));
  const auto d = static_cast<hsize_t>(info.dim_input);
  f.write_replicated(std::string(kModel) + "/feature_mean", {d}, info.feature_mean.data());
  f.write_replicated(std::string(kModel) + "/feature_std", {d}, info.feature_std.data());
}

void write_model_layer(h5::File& f, const LayerModel& layer) {
  const std::string g = layer_path(layer.layer);
  f.ensure_group(g);
  const auto d = static_cast<hsize_t>(layer.dim_in);
  const auto width = static_cast<hsize_t>(layer.random_features.size() / layer.dim_in);
  f.write_attribute(g, "layer", static_cast<std::int64_t>(layer.layer + 1));
  f.write_attribute(g, "dim_in", static_cast<std::int64_t>(layer.dim_in));
  f.write_attribute(g, "ridge", layer.ridge);
  f.write_distributed(g + "/centres", layer.centres);
  f.write_distributed(g + "/coefficients", layer.coefficients);
  f.write_replicated(g + "/sqrt_agop", {d, d}, layer.sqrt_agop.data());
  f.write_replicated(g + "/random_features", {width, d}, layer.random_features.data());
  if (!layer.kernel_map.empty())
    f.write_replicated(g + "/kernel_map", {d, d}, layer.kernel_map.data());
  if (layer.test_predictions.rows() > 0)
    f.write_distributed(g + "/test_predictions", layer.test_predictions);
  f.write_attribute(kModel, "layers", static_cast<std::int64_t>(layer.layer + 1));
}

SavedModel::SavedModel(const std::string& path, const mpi::Communicator& comm)
    : path_(path), comm_(comm) {
  h5::File f(path, h5::File::Mode::read_only, comm);
  const std::string program =
      f.has_attribute("/", "program") ? f.read_attribute_string("/", "program") : "";
  DEEPRFM_AGREE(comm, program == kProgramName, input,
                path << " was written by "
                     << (program.empty() ? std::string("no deeprfm program (no 'program' "
                                                       "attribute)")
                                         : "'" + program + "'")
                     << ", not by " << kProgramName << ": it holds no Deep RFM model");
  written_by_ = f.has_attribute("/", "version") ? f.read_attribute_string("/", "version") : "";
  DEEPRFM_AGREE(comm, f.exists(kModel), input,
                path << " holds no saved model (no /model group): the run was made without "
                        "--save-model");
  const std::string format =
      f.has_attribute(kModel, "format") ? f.read_attribute_string(kModel, "format") : "";
  DEEPRFM_AGREE(comm, format == kModelFormat, input,
                path << ": /model has format '" << format << "', not '" << kModelFormat << "'");
  const std::int64_t version = f.read_attribute_int64(kModel, "format_version");
  DEEPRFM_AGREE(comm, version == kModelFormatVersion, input,
                path << ": model format version " << version << " (written by deeprfm "
                     << written_by_ << "); this deeprfm reads version " << kModelFormatVersion);
  const std::string task = f.read_attribute_string(kModel, "task");
  DEEPRFM_AGREE(comm, task == "classification" || task == "regression", input,
                path << ": a model for the task '" << task
                     << "'; this deeprfm predicts with classification and regression models");
  info_.regression = task == "regression";
  mpi::run_agreed(comm, [&] {
    info_.kernel.kind = model::parse_kernel_kind(f.read_attribute_string(kModel, "kernel"));
    info_.feature_init = model::parse_feature_init(f.read_attribute_string(kModel, "feature_init"));
  });
  info_.kernel.bandwidth = f.read_attribute_double(kModel, "bandwidth");
  info_.width = static_cast<int>(f.read_attribute_int64(kModel, "width"));
  info_.seed = std::stoull(f.read_attribute_string(kModel, "seed"));
  info_.classes = static_cast<int>(f.read_attribute_int64(kModel, "classes"));
  info_.dim_input = static_cast<int>(f.read_attribute_int64(kModel, "dim_input"));
  info_.test_own_statistics = f.read_attribute_string(kModel, "standardisation") == "own";
  info_.layers = static_cast<int>(f.read_attribute_int64(kModel, "layers"));
  info_.feature_mean = f.read_all_double(std::string(kModel) + "/feature_mean");
  info_.feature_std = f.read_all_double(std::string(kModel) + "/feature_std");
  if (f.exists("/config"))
    for (const auto& name : f.attribute_names("/config"))
      options_.emplace_back(name, f.read_attribute_string("/config", name));
  DEEPRFM_AGREE(comm,
                info_.kernel.bandwidth > 0 && info_.width > 0 && info_.classes >= 1 &&
                    info_.dim_input > 0 &&
                    info_.feature_mean.size() == static_cast<std::size_t>(info_.dim_input) &&
                    info_.feature_std.size() == info_.feature_mean.size(),
                input,
                path << ": /model's attributes are inconsistent (bandwidth, width, classes, "
                        "dim_input, or the length of feature_mean/feature_std)");
  DEEPRFM_AGREE(comm, info_.layers >= 1, input,
                path << ": the model has no complete layer yet (the run stopped before its "
                        "first layer was committed)");
  for (int l = 0; l < info_.layers; ++l)
    DEEPRFM_AGREE(comm, f.exists(layer_path(l)), input,
                  path << ": /model says " << info_.layers << " layers but " << layer_path(l)
                       << " is missing");
}

LayerModel SavedModel::load_layer(int layer, const la::ProcessGrid& grid, int block,
                                  bool with_test_predictions) const {
  DEEPRFM_ASSERT(layer >= 0 && layer < info_.layers);
  h5::File f(path_, h5::File::Mode::read_only, comm_);
  const std::string g = layer_path(layer);
  LayerModel out;
  out.layer = layer;
  out.dim_in = static_cast<int>(f.read_attribute_int64(g, "dim_in"));
  out.ridge = f.read_attribute_double(g, "ridge");
  const auto centres = f.dims(g + "/centres");
  const auto coefficients = f.dims(g + "/coefficients");
  const auto sqrt_agop = f.dims(g + "/sqrt_agop");
  const auto random_features = f.dims(g + "/random_features");
  const auto d = static_cast<hsize_t>(out.dim_in);
  const bool shapes_agree =
      centres.size() == 2 && centres[1] == d && coefficients.size() == 2 &&
      coefficients[0] == centres[0] && coefficients[1] == static_cast<hsize_t>(info_.classes) &&
      sqrt_agop == std::vector<hsize_t>{d, d} &&
      random_features == std::vector<hsize_t>{static_cast<hsize_t>(info_.width), d};
  DEEPRFM_AGREE(comm_, shapes_agree, input,
                path_ << ": the shapes in " << g
                      << " do not agree (centres n x d, coefficients n x C, sqrt_agop d x d, "
                         "random_features width x d with d = dim_in "
                      << out.dim_in << ", C = " << info_.classes << ")");
  const int n = static_cast<int>(centres[0]);
  out.centres = la::DistMatrix<double>(grid, n, out.dim_in, block);
  f.read_distributed(g + "/centres", out.centres);
  out.coefficients = la::DistMatrix<double>(grid, n, info_.classes, block);
  f.read_distributed(g + "/coefficients", out.coefficients);
  out.sqrt_agop = f.read_all_double(g + "/sqrt_agop");
  out.random_features = f.read_all_double(g + "/random_features");
  if (f.exists(g + "/kernel_map")) {
    DEEPRFM_AGREE(comm_, f.dims(g + "/kernel_map") == (std::vector<hsize_t>{d, d}), input,
                  path_ << ": " << g << "/kernel_map is not d x d with d = " << out.dim_in);
    out.kernel_map = f.read_all_double(g + "/kernel_map");
  }
  if (with_test_predictions && f.exists(g + "/test_predictions")) {
    const auto t = f.dims(g + "/test_predictions");
    DEEPRFM_AGREE(comm_, t.size() == 2 && t[1] == static_cast<hsize_t>(info_.classes), input,
                  path_ << ": " << g << "/test_predictions is not n_test x C");
    out.test_predictions =
        la::DistMatrix<double>(grid, static_cast<int>(t[0]), info_.classes, block);
    f.read_distributed(g + "/test_predictions", out.test_predictions);
  }
  return out;
}

}  // namespace deeprfm::rfm
