// A small horizontal bar chart as an inline <svg> element (no XML prolog),
// for HTML reports: one labelled bar per row, a linear axis from 0, the value
// printed beside each bar. Rows that have no meaningful value (muted) are
// drawn as an empty outlined bar with their note instead of a misleading 0.
// All text is XML-escaped.
#pragma once

#include <string>
#include <vector>

namespace lineup {

struct Bar {
  std::string label;  // row label, left of the bar
  double value = 0;   // >= 0; ignored when muted
  std::string text;   // printed right of the bar (e.g. "0.012 (3/250)")
  bool muted = false;
};

struct BarChart {
  std::string title;
  std::vector<Bar> bars;
  int width = 640;  // pixels; the height follows from the number of bars
};

std::string RenderBarChartSvg(const BarChart& chart);

}  // namespace lineup
