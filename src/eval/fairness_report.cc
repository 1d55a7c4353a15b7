#include "eval/fairness_report.h"

#include <cmath>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "common/csv_writer.h"
#include "eval/svg_bars.h"
#include "eval/svg_plot.h"

namespace lineup {

namespace {

using nlohmann::json;

json Optional(const std::optional<double>& v) { return v ? json(*v) : json(); }

json RateJson(const Rate& r) {
  return {{"errors", r.errors},
          {"trials", r.trials},
          {"rate", r.resolvable ? json(r.rate) : json()},
          {"resolvable", r.resolvable},
          {"ci95", {r.ci_low, r.ci_high}},
          {"ratio_to_overall", Optional(r.ratio_to_overall)},
          {"ratio_to_best", Optional(r.ratio_to_best)}};
}

json GroupJson(const FairnessReport& report, const GroupFigures& g) {
  json verification = json::array();
  for (size_t t = 0; t < report.thresholds.size(); ++t) {
    verification.push_back({{"threshold", report.thresholds[t].name},
                            {"fmr_same_group_impostors", RateJson(g.fmr[t])},
                            {"fnmr", RateJson(g.fnmr[t])}});
  }
  json j = {{"column", g.column},
            {"group", g.value},
            {"images", g.images},
            {"images_without_face", g.images_without_face},
            {"identities", g.identities},
            {"genuine_pairs_without_score", g.genuine_without_score},
            {"impostor_pairs_without_score", g.impostor_without_score},
            {"verification", verification}};
  if (report.identification) {
    json points = json::array();
    for (size_t t = 0; t < report.thresholds.size(); ++t) {
      points.push_back({{"threshold", report.thresholds[t].name},
                        {"fnir", RateJson(g.fnir[t])},
                        {"fpir", RateJson(g.fpir[t])}});
    }
    j["identification"] = {{"mated_probes", g.mated_probes},
                           {"non_mated_probes", g.non_mated_probes},
                           {"mated_without_face", g.mated_without_face},
                           {"non_mated_without_face", g.non_mated_without_face},
                           {"rank1", Optional(g.rank1)},
                           {"at_thresholds", points}};
  }
  return j;
}

std::string Fixed(double v, int digits) {
  char text[48];
  std::snprintf(text, sizeof text, "%.*f", digits, v);
  return text;
}

std::string Short(double v) {
  char text[48];
  std::snprintf(text, sizeof text, "%.4g", v);
  return text;
}

std::string OptionalCell(const std::optional<double>& v) { return v ? Short(*v) : std::string(); }

// ---- CSV

void AddRateRow(std::vector<std::string>* csv_rows, const std::string& table, const std::string& column,
                const std::string& group, const std::string& group_b, const OperatingThreshold& t,
                const std::string& metric, const Rate& r) {
  csv_rows->push_back(CsvRow({table, column, group, group_b, t.name, Short(t.value), metric,
                              std::to_string(r.errors), std::to_string(r.trials),
                              r.resolvable ? Short(r.rate) : std::string(), Short(r.ci_low), Short(r.ci_high),
                              r.resolvable ? "1" : "0", OptionalCell(r.ratio_to_overall),
                              OptionalCell(r.ratio_to_best)}));
}

void AddGroupRows(const FairnessReport& report, const std::string& table, const GroupFigures& g,
                  std::vector<std::string>* rows) {
  rows->push_back(CsvRow({table, g.column, g.value, "", "", "", "images_without_face",
                          std::to_string(g.images_without_face), std::to_string(g.images), "", "", "", "", "",
                          ""}));
  for (size_t t = 0; t < report.thresholds.size(); ++t) {
    AddRateRow(rows, table, g.column, g.value, "", report.thresholds[t], "fmr", g.fmr[t]);
    AddRateRow(rows, table, g.column, g.value, "", report.thresholds[t], "fnmr", g.fnmr[t]);
    if (report.identification) {
      AddRateRow(rows, table, g.column, g.value, "", report.thresholds[t], "fnir", g.fnir[t]);
      AddRateRow(rows, table, g.column, g.value, "", report.thresholds[t], "fpir", g.fpir[t]);
    }
  }
}

// ---- HTML

std::string Esc(const std::string& s) { return EscapeXml(s); }

// "0.0120" over "3 / 250 · 95% CI 0.0041–0.0347", or "not resolvable".
std::string RateCell(const Rate& r) {
  const std::string counts = std::to_string(r.errors) + " / " + std::to_string(r.trials);
  if (!r.resolvable) return "<td class=\"nr\">not resolvable<br><small>" + counts + "</small></td>";
  return "<td>" + Short(r.rate) + "<br><small>" + counts + " · 95% CI " + Short(r.ci_low) + "–" +
         Short(r.ci_high) + "</small></td>";
}

std::string RatioCell(const std::optional<double>& v) {
  return v ? "<td>" + Fixed(*v, 2) + "×</td>" : "<td class=\"nr\">–</td>";
}

std::string Chart(const std::string& title, const std::vector<const GroupFigures*>& groups,
                  std::vector<Rate> GroupFigures::*member, int t) {
  BarChart chart;
  chart.title = title;
  for (const GroupFigures* g : groups) {
    const Rate& r = (g->*member)[t];
    Bar bar;
    bar.label = g->value;
    bar.value = r.rate;
    bar.muted = !r.resolvable;
    bar.text = r.resolvable ? Short(r.rate) + " (" + std::to_string(r.errors) + "/" + std::to_string(r.trials) + ")"
                            : "not resolvable (" + std::to_string(r.errors) + "/" + std::to_string(r.trials) + ")";
    chart.bars.push_back(bar);
  }
  return "<figure>" + RenderBarChartSvg(chart) + "</figure>";
}

std::string GroupTable(const FairnessReport& report, const std::vector<const GroupFigures*>& rows, size_t t) {
  std::string html = "<table><tr><th>group</th><th>images</th><th>no face</th><th>identities</th>"
                     "<th>FMR (same-group impostors)</th><th>÷ overall</th><th>÷ best</th>"
                     "<th>FNMR</th><th>÷ overall</th><th>÷ best</th>";
  if (report.identification) {
    html += "<th>mated / non-mated probes</th><th>rank-1</th><th>FNIR</th><th>÷ best</th><th>FPIR</th><th>÷ best</th>";
  }
  html += "</tr>";
  for (const GroupFigures* g : rows) {
    html += "<tr><th>" + Esc(g->value) + "</th><td>" + std::to_string(g->images) + "</td><td>" +
            std::to_string(g->images_without_face) + "</td><td>" + std::to_string(g->identities) + "</td>" +
            RateCell(g->fmr[t]) + RatioCell(g->fmr[t].ratio_to_overall) + RatioCell(g->fmr[t].ratio_to_best) +
            RateCell(g->fnmr[t]) + RatioCell(g->fnmr[t].ratio_to_overall) + RatioCell(g->fnmr[t].ratio_to_best);
    if (report.identification) {
      html += "<td>" + std::to_string(g->mated_probes) + " / " + std::to_string(g->non_mated_probes) + "</td><td>" +
              (g->rank1 ? Fixed(*g->rank1, 4) : std::string("–")) + "</td>" + RateCell(g->fnir[t]) +
              RatioCell(g->fnir[t].ratio_to_best) + RateCell(g->fpir[t]) + RatioCell(g->fpir[t].ratio_to_best);
    }
    html += "</tr>";
  }
  return html + "</table>";
}

std::string CrossTable(const FairnessReport& report, const std::string& column) {
  std::string html = "<table><tr><th>groups</th>";
  for (const OperatingThreshold& t : report.thresholds) {
    html += "<th>FMR at " + Esc(t.name) + "</th><th>FNMR at " + Esc(t.name) + "</th>";
  }
  html += "</tr>";
  bool any = false;
  for (const CrossGroupFigures& x : report.cross) {
    if (x.column != column) continue;
    any = true;
    html += "<tr><th>" + Esc(x.value_a) + " × " + Esc(x.value_b) + "</th>";
    for (size_t t = 0; t < report.thresholds.size(); ++t) html += RateCell(x.fmr[t]) + RateCell(x.fnmr[t]);
    html += "</tr>";
  }
  return any ? html + "</table>" : "";
}

constexpr char kStyle[] =
    "body{font-family:sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;color:#222}"
    "table{border-collapse:collapse;margin:0.5em 0 1.5em}th,td{border:1px solid #ccc;padding:3px 7px;"
    "text-align:right;vertical-align:top}th{background:#f4f4f4}td.nr{color:#888}small{color:#666}"
    "figure{margin:0.5em 0;display:inline-block}.note{color:#8a4b00}";

}  // namespace

int PrimaryThreshold(const FairnessReport& report) {
  for (size_t t = 0; t < report.thresholds.size(); ++t) {
    if (report.thresholds[t].name == "possible") return static_cast<int>(t);
  }
  return report.thresholds.empty() ? -1 : 0;
}

json ToJson(const FairnessReport& report) {
  json thresholds = json::array();
  for (const OperatingThreshold& t : report.thresholds) {
    thresholds.push_back({{"name", t.name},
                          {"value", t.value},
                          {"nominal_fmr", t.nominal_fmr > 0 ? json(t.nominal_fmr) : json()},
                          {"origin", t.origin}});
  }
  json groups = json::array();
  for (const GroupFigures& g : report.groups) groups.push_back(GroupJson(report, g));
  json cross = json::array();
  for (const CrossGroupFigures& x : report.cross) {
    json at = json::array();
    for (size_t t = 0; t < report.thresholds.size(); ++t) {
      at.push_back({{"threshold", report.thresholds[t].name},
                    {"fmr", RateJson(x.fmr[t])},
                    {"fnmr", RateJson(x.fnmr[t])}});
    }
    cross.push_back({{"column", x.column}, {"group_a", x.value_a}, {"group_b", x.value_b}, {"verification", at}});
  }
  return {{"group_columns", report.group_columns},
          {"missing_policy", MissingScorePolicyName(report.missing)},
          {"min_trials", report.min_trials},
          {"thresholds", thresholds},
          {"notes", report.notes},
          {"overall", GroupJson(report, report.overall)},
          {"groups", groups},
          {"cross_groups", cross}};
}

std::string FairnessCsv(const FairnessReport& report) {
  std::vector<std::string> rows = {CsvRow({"table", "column", "group", "group_b", "threshold_name", "threshold",
                                           "metric", "errors", "trials", "rate", "ci_low", "ci_high", "resolvable",
                                           "ratio_to_overall", "ratio_to_best"})};
  AddGroupRows(report, "overall", report.overall, &rows);
  for (const GroupFigures& g : report.groups) AddGroupRows(report, "group", g, &rows);
  for (const CrossGroupFigures& x : report.cross) {
    for (size_t t = 0; t < report.thresholds.size(); ++t) {
      AddRateRow(&rows, "cross", x.column, x.value_a, x.value_b, report.thresholds[t], "fmr", x.fmr[t]);
      AddRateRow(&rows, "cross", x.column, x.value_a, x.value_b, report.thresholds[t], "fnmr", x.fnmr[t]);
    }
  }
  std::string csv;
  for (const std::string& row : rows) csv += row;
  return csv;
}

std::string FairnessHtml(const FairnessReport& report, const json& context) {
  std::string html = "<!DOCTYPE html><html lang=\"en\"><head><meta charset=\"utf-8\">"
                     "<title>Lineup accuracy and fairness report</title><style>" +
                     std::string(kStyle) + "</style></head><body><h1>Accuracy and fairness report</h1>";
  html += "<table>";
  for (auto it = context.begin(); it != context.end(); ++it) {
    if (it->is_structured()) continue;
    html += "<tr><th>" + Esc(it.key()) + "</th><td style=\"text-align:left\">" +
            Esc(it->is_string() ? it->get<std::string>() : it->dump()) + "</td></tr>";
  }
  html += "</table>";
  html += "<p>Error rates at fixed operating thresholds, per group label, reported as NIST IR 8280 reports "
          "demographic differentials: FMR over impostor pairs with both images in the group (same-group "
          "impostors), FNMR over genuine pairs of the group, each as a ratio to the overall rate and to the "
          "group with the lowest rate. Pairs with a missing face: " +
          Esc(MissingScorePolicyName(report.missing)) + ". A figure resting on fewer than " +
          std::to_string(report.min_trials) +
          " trials (or, for an FMR, fewer than 1 / nominal FMR impostor pairs) is shown as <em>not "
          "resolvable</em>. Intervals are Wilson 95% score intervals.</p>";
  html += "<h2>Operating thresholds</h2><table><tr><th>name</th><th>threshold</th><th>nominal FMR</th>"
          "<th>origin</th></tr>";
  for (const OperatingThreshold& t : report.thresholds) {
    html += "<tr><th>" + Esc(t.name) + "</th><td>" + Fixed(t.value, 4) + "</td><td>" +
            (t.nominal_fmr > 0 ? Short(t.nominal_fmr) : std::string("–")) +
            "</td><td style=\"text-align:left\">" + Esc(t.origin) + "</td></tr>";
  }
  html += "</table>";
  for (const std::string& note : report.notes) html += "<p class=\"note\">" + Esc(note) + "</p>";

  const int primary = PrimaryThreshold(report);
  for (size_t t = 0; t < report.thresholds.size(); ++t) {
    html += "<h2>At threshold " + Esc(report.thresholds[t].name) + " (" + Fixed(report.thresholds[t].value, 4) +
            ")</h2><h3>Whole set</h3>" + GroupTable(report, {&report.overall}, t);
    for (const std::string& column : report.group_columns) {
      std::vector<const GroupFigures*> rows;
      for (const GroupFigures& g : report.groups) {
        if (g.column == column) rows.push_back(&g);
      }
      html += "<h3>By " + Esc(column) + "</h3>" + GroupTable(report, rows, t);
      if (int(t) == primary && !rows.empty()) {
        html += Chart("FMR (same-group impostors) by " + column, rows, &GroupFigures::fmr, primary);
        html += Chart("FNMR by " + column, rows, &GroupFigures::fnmr, primary);
        if (report.identification) html += Chart("FNIR by " + column + " of the probe", rows, &GroupFigures::fnir, primary);
      }
    }
  }
  for (const std::string& column : report.group_columns) {
    std::string table = CrossTable(report, column);
    if (!table.empty()) html += "<h2>Cross-group pairs by " + Esc(column) + "</h2>" + table;
  }
  return html + "</body></html>\n";
}

}  // namespace lineup
