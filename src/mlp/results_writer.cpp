#include <deeprfm/mlp/results_writer.hpp>

#include <deeprfm/store/results_file.hpp>

#include <cstdio>
#include <limits>

namespace deeprfm::mlp {

namespace {

void write_evaluation(h5::File& f, const std::string& group, const Evaluation& e) {
  f.write_attribute(group, "train_loss", e.train_loss);
  f.write_attribute(group, "train_accuracy", e.train_accuracy);
  f.write_attribute(group, "test_loss", e.test_loss);
  f.write_attribute(group, "test_accuracy", e.test_accuracy);
}

}  // namespace

std::string epoch_group(int epoch) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "epoch_%04d", epoch);
  return buf;
}

const std::vector<std::string>& metric_columns() {
  static const std::vector<std::string> columns = {"epoch",
                                                   "layer",
                                                   "nc1_input",
                                                   "nc1_projected",
                                                   "nc1_mapped",
                                                   "nc1_pinv_input",
                                                   "nc1_pinv_projected",
                                                   "nc1_pinv_mapped",
                                                   "nc2_etf_input",
                                                   "nc2_etf_projected",
                                                   "nc2_etf_mapped",
                                                   "nc2_orth_input",
                                                   "nc2_orth_projected",
                                                   "nc2_orth_mapped",
                                                   "nfa_corr",
                                                   "nfa_corr_sqrt",
                                                   "nfa_cos",
                                                   "nfa_cos_sqrt",
                                                   "train_loss",
                                                   "train_accuracy",
                                                   "test_loss",
                                                   "test_accuracy"};
  return columns;
}

std::vector<double> metric_row(const Measurement& m, const LayerMeasurement& l) {
  const auto& c = l.collapse;
  return {double(m.epoch),
          double(l.layer + 1),
          c.input.nc1,
          c.projected.nc1,
          c.mapped.nc1,
          c.input.nc1_pinv,
          c.projected.nc1_pinv,
          c.mapped.nc1_pinv,
          c.input.nc2_etf,
          c.projected.nc2_etf,
          c.mapped.nc2_etf,
          c.input.nc2_orth,
          c.projected.nc2_orth,
          c.mapped.nc2_orth,
          l.nfa_corr,
          l.nfa_corr_sqrt,
          l.nfa_cos,
          l.nfa_cos_sqrt,
          m.eval.train_loss,
          m.eval.train_accuracy,
          m.eval.test_loss,
          m.eval.test_accuracy};
}

const std::vector<std::string>& epoch_columns() {
  static const std::vector<std::string> columns = {
      "epoch",     "running_loss",  "train_loss", "train_accuracy",
      "test_loss", "test_accuracy", "seconds"};
  return columns;
}

std::vector<double> epoch_row(const EpochRecord& e) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  return {double(e.epoch),
          e.running_loss,
          e.evaluated ? e.eval.train_loss : nan,
          e.evaluated ? e.eval.train_accuracy : nan,
          e.evaluated ? e.eval.test_loss : nan,
          e.evaluated ? e.eval.test_accuracy : nan,
          e.seconds};
}

ResultsWriter::ResultsWriter(const std::string& path, h5::File::Mode mode,
                             const mpi::Communicator& comm)
    : file_(path, mode, comm) {}

ResultsWriter::ResultsWriter(const std::string& path, bool overwrite, const mpi::Communicator& comm)
    : file_(path, overwrite ? h5::File::Mode::create_truncate : h5::File::Mode::create_exclusive,
            comm) {}

void ResultsWriter::write_run_info(const std::string& command_line,
                                   const std::vector<std::pair<std::string, std::string>>& options,
                                   int ranks, const std::string& blas_library, int blas_threads,
                                   std::int64_t parameters) {
  h5::File& f = file_;
  store::write_program_attributes(f, kProgramName);
  f.write_attribute("/", "command_line", command_line);
  f.write_attribute("/", "ranks", static_cast<std::int64_t>(ranks));
  f.write_attribute("/", "blas_library", blas_library);
  f.write_attribute("/", "blas_threads", static_cast<std::int64_t>(blas_threads));
  f.write_attribute("/", "parameters", parameters);
  f.write_attribute("/", "completed", static_cast<std::int64_t>(0));
  f.ensure_group("/config");
  for (const auto& [name, value] : options) f.write_attribute("/config", name, value);
  f.flush();
}

void ResultsWriter::write_data(const data::TrainTest& data) {
  store::write_data_group(file_, data);
}

void ResultsWriter::write_measurement(const Measurement& m, bool save_agops) {
  h5::File& f = file_;
  const std::string g = "/measurements/" + epoch_group(m.epoch);
  f.ensure_group(g);
  f.write_attribute(g, "epoch", static_cast<std::int64_t>(m.epoch));
  f.write_attribute(g, "seconds", m.seconds);
  write_evaluation(f, g, m.eval);
  for (const auto& l : m.layers) {
    const std::string lg = g + "/" + store::layer_group(l.layer);
    f.ensure_group(lg);
    f.write_attribute(lg, "layer", static_cast<std::int64_t>(l.layer + 1));
    f.write_attribute(lg, "dim_in", static_cast<std::int64_t>(l.dim_in));
    f.write_attribute(lg, "dim_out", static_cast<std::int64_t>(l.dim_out));
    store::write_collapse_attributes(f, lg, "input", l.collapse.input);
    store::write_collapse_attributes(f, lg, "projected", l.collapse.projected);
    store::write_collapse_attributes(f, lg, "mapped", l.collapse.mapped);
    f.write_attribute(lg, "nfa_corr", l.nfa_corr);
    f.write_attribute(lg, "nfa_corr_sqrt", l.nfa_corr_sqrt);
    f.write_attribute(lg, "nfa_cos", l.nfa_cos);
    f.write_attribute(lg, "nfa_cos_sqrt", l.nfa_cos_sqrt);
    f.write_replicated(lg + "/singular_values", {hsize_t(l.collapse.singular_values.size())},
                       l.collapse.singular_values.data());
    if (save_agops && !l.agop.empty())
      f.write_replicated(lg + "/agop", {hsize_t(l.dim_in), hsize_t(l.dim_in)}, l.agop.data());
  }
  f.flush();
}

void ResultsWriter::write_epochs(const std::vector<EpochRecord>& epochs) {
  std::vector<std::vector<double>> rows;
  for (const auto& e : epochs) rows.push_back(epoch_row(e));
  write_epoch_rows(rows);
}

void ResultsWriter::write_metrics(const std::vector<Measurement>& measurements) {
  std::vector<std::vector<double>> rows;
  for (const auto& m : measurements)
    for (const auto& l : m.layers) rows.push_back(metric_row(m, l));
  write_metric_rows(rows);
}

void ResultsWriter::write_epoch_rows(const std::vector<std::vector<double>>& rows) {
  store::write_table(file_, "/epochs", epoch_columns(), rows);
  file_.flush();
}

void ResultsWriter::write_metric_rows(const std::vector<std::vector<double>>& rows) {
  store::write_table(file_, "/metrics", metric_columns(), rows);
  file_.flush();
}

void ResultsWriter::write_weights(const Network& net) {
  h5::File& f = file_;
  f.ensure_group("/weights");
  for (int l = 0; l < net.matrices(); ++l) {
    const std::string name = l == net.hidden_layers() ? std::string("/weights/readout")
                                                      : "/weights/" + store::layer_group(l);
    f.write_replicated(name, {hsize_t(net.out_dim(l)), hsize_t(net.in_dim(l))}, net.weight(l));
  }
  f.flush();
}

void ResultsWriter::finish(double wall_seconds) {
  file_.write_attribute("/", "wall_seconds", wall_seconds);
  file_.write_attribute("/", "completed", static_cast<std::int64_t>(1));
  file_.flush();
}

}  // namespace deeprfm::mlp
