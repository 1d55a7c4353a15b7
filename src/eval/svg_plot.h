// A small standalone-SVG line-chart writer for ROC and precision/recall curves:
// a framed plot area with ticks and grid, axis labels, a title, a legend and
// one polyline per series. No external dependencies; all text is XML-escaped.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace lineup {

struct PlotPoint {
  double x = 0, y = 0;
};

struct LineSeries {
  std::string name;  // legend entry; empty = not listed
  std::vector<PlotPoint> points;
  std::string color;  // any SVG colour ("#1f77b4", "red"); empty = next palette colour
};

struct LineChart {
  std::string title, x_label, y_label;
  std::vector<LineSeries> series;
  // Log-scale x (base 10) for FAR axes; points with x <= 0 are then dropped.
  bool log_x = false;
  // Axis ranges; unset ends are taken from the data (with "nice" rounding).
  std::optional<double> x_min, x_max, y_min, y_max;
  int width = 640, height = 480;  // pixels
};

// Renders the chart as a complete SVG document ("<?xml ...?><svg ...>...</svg>").
// Non-finite points are skipped; an empty chart still renders axes.
std::string RenderLineChartSvg(const LineChart& chart);

// Escapes & < > " ' for XML text and attribute values.
std::string EscapeXml(std::string_view text);

}  // namespace lineup
