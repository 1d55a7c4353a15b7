// The outputs of `lineup eval fairness`: JSON, CSV (one figure per row, for
// spreadsheets) and a self-contained HTML page (inline CSS and SVG bar
// charts, no scripts, no external resources) of a FairnessReport.
//
// Everywhere a figure that is not resolvable is shown as "not resolvable"
// with its counts (JSON: "rate": null), never as a bare 0.
#pragma once

#include <string>

#include <nlohmann/json_fwd.hpp>

#include "eval/fairness.h"

namespace lineup {

// {"group_columns", "missing_policy", "min_trials", "thresholds", "notes",
//  "overall", "groups", "cross_groups"}; see fairness.h for the fields.
nlohmann::json ToJson(const FairnessReport& report);

// Header: table,column,group,group_b,threshold_name,threshold,metric,errors,
// trials,rate,ci_low,ci_high,resolvable,ratio_to_overall,ratio_to_best.
// table is overall | group | cross; metric is fmr | fnmr | fnir | fpir, or
// images_without_face (errors = images without a face, trials = images, no
// threshold). Empty cells where there is no value. csv_writer.h quoting.
std::string FairnessCsv(const FairnessReport& report);

// `context` is a JSON object whose scalar members (model, labels file,
// counts...) are listed at the top of the page.
std::string FairnessHtml(const FairnessReport& report, const nlohmann::json& context);

// The threshold the charts show: the one named "possible" (the model's
// same-person threshold, FMR 1e-3) if present, else the first; -1 if none.
int PrimaryThreshold(const FairnessReport& report);

}  // namespace lineup
