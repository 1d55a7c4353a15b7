#include "eval/svg_bars.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "eval/svg_plot.h"

namespace lineup {

namespace {

constexpr int kRow = 22, kTop = 30, kLabel = 170, kText = 170, kBottom = 10;

std::string Number(double v) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f", v);
  return text;
}

}  // namespace

std::string RenderBarChartSvg(const BarChart& chart) {
  const int height = kTop + kRow * static_cast<int>(chart.bars.size()) + kBottom;
  const double plot = std::max(40, chart.width - kLabel - kText);
  double max = 0;
  for (const Bar& b : chart.bars) {
    if (!b.muted && std::isfinite(b.value)) max = std::max(max, b.value);
  }
  std::string svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + std::to_string(chart.width) +
                    "\" height=\"" + std::to_string(height) + "\" viewBox=\"0 0 " + std::to_string(chart.width) +
                    " " + std::to_string(height) + "\" font-family=\"sans-serif\" font-size=\"12\">";
  svg += "<text x=\"4\" y=\"18\" font-weight=\"bold\">" + EscapeXml(chart.title) + "</text>";
  for (size_t i = 0; i < chart.bars.size(); ++i) {
    const Bar& b = chart.bars[i];
    const double y = kTop + kRow * double(i);
    const double w = (b.muted || max <= 0 || !std::isfinite(b.value)) ? 0 : plot * std::max(0.0, b.value) / max;
    svg += "<text x=\"" + std::to_string(kLabel - 6) + "\" y=\"" + Number(y + 15) + "\" text-anchor=\"end\">" +
           EscapeXml(b.label) + "</text>";
    if (b.muted) {
      svg += "<rect x=\"" + std::to_string(kLabel) + "\" y=\"" + Number(y + 3) + "\" width=\"" + Number(plot) +
             "\" height=\"16\" fill=\"none\" stroke=\"#bbb\" stroke-dasharray=\"4 3\"/>";
    } else {
      svg += "<rect x=\"" + std::to_string(kLabel) + "\" y=\"" + Number(y + 3) + "\" width=\"" +
             Number(std::max(w, 1.0)) + "\" height=\"16\" fill=\"#1f77b4\"/>";
    }
    const double text_x = kLabel + (b.muted ? plot : w) + 6;
    svg += "<text x=\"" + Number(text_x) + "\" y=\"" + Number(y + 15) + "\"" +
           (b.muted ? " fill=\"#777\"" : "") + ">" + EscapeXml(b.text) + "</text>";
  }
  svg += "</svg>";
  return svg;
}

}  // namespace lineup
