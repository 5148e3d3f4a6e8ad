#pragma once
/// What the results files of deeprfm and deeprfm-mlp share (docs/hdf5_layout.md): the root
/// attributes naming the program, the /data group, neural-collapse attributes, numbered group
/// names and the column tables. Every writer here is collective over the file's communicator
/// (identical arguments on every rank); the name helpers are local.
#include <string>
#include <vector>

#include <deeprfm/data/dataset.hpp>
#include <deeprfm/h5/hdf5.hpp>
#include <deeprfm/model/neural_collapse.hpp>

namespace deeprfm::store {

/// Root attributes `program`, `version`, `git_revision` and `created` (UTC). Collective.
void write_program_attributes(h5::File& f, const std::string& program);

/// /data: sizes, labels, source indices, standardisation statistics. Collective.
void write_data_group(h5::File& f, const data::TrainTest& data);

/// The neural-collapse metrics of one stage as attributes `nc1_<stage>`, `nc1_pinv_<stage>`,
/// `nc2_etf_<stage>`, `nc2_orth_<stage>`, `trace_within_<stage>`, `trace_between_<stage>` of
/// `group`. Collective.
void write_collapse_attributes(h5::File& f, const std::string& group, const std::string& stage,
                               const model::CollapseMetrics& m);

/// `group`/table (rows x columns, attribute `columns`) plus one (rows,) dataset per column,
/// replacing the group whole if it exists (the tables grow as a run goes). `rows` are
/// row-major, each of columns.size() values. Collective.
void write_table(h5::File& f, const std::string& group, const std::vector<std::string>& columns,
                 const std::vector<std::vector<double>>& rows);

/// "layer_01" for layer index 0. Local.
std::string layer_group(int layer);

/// The current UTC time as "2026-11-29T10:00:00Z" (the files' `created` attribute). Local.
std::string now_iso8601();

}  // namespace deeprfm::store
