#include "eval/svg_plot.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

namespace lineup {
namespace {

constexpr const char* kPalette[] = {"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd",
                                    "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22", "#17becf"};
constexpr int kMarginLeft = 70, kMarginTop = 44, kMarginBottom = 56, kMarginRight = 20;
constexpr int kFontSize = 12;

std::string Format(const char* format, double value) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, format, value);
  return buffer;
}

// Pixel coordinates with two decimals.
std::string Px(double value) { return Format("%.2f", value); }

// One axis: its data range, whether it is logarithmic, and its tick values.
struct Axis {
  double lo = 0, hi = 1;  // in data units (log10 units when log)
  bool log = false;
  std::vector<double> ticks;  // in the same units as lo/hi

  double Fraction(double value) const {
    const double v = log ? std::log10(value) : value;
    return (v - lo) / (hi - lo);
  }
};

// A 1-2-5 step giving about `target` intervals over `span`.
double NiceStep(double span, int target) {
  const double raw = span / target;
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  for (double m : {1.0, 2.0, 5.0, 10.0}) {
    if (raw <= m * magnitude * (1 + 1e-9)) return m * magnitude;
  }
  return 10 * magnitude;
}

Axis LinearAxis(double data_lo, double data_hi, std::optional<double> fixed_lo,
                std::optional<double> fixed_hi) {
  double lo = fixed_lo.value_or(data_lo), hi = fixed_hi.value_or(data_hi);
  if (!(hi > lo)) {  // empty or single-valued data
    const double pad = std::abs(lo) > 0 ? std::abs(lo) / 2 : 1;
    if (!fixed_lo) lo -= pad;
    if (!fixed_hi || !(hi > lo)) hi = lo + 2 * pad;
  }
  const double step = NiceStep(hi - lo, 5);
  if (!fixed_lo) lo = std::floor(lo / step + 1e-9) * step;
  if (!fixed_hi) hi = std::ceil(hi / step - 1e-9) * step;
  Axis axis{lo, hi, false, {}};
  for (double i = std::ceil(lo / step - 1e-9); i * step <= hi + step * 1e-9; i += 1) {
    axis.ticks.push_back(std::abs(i * step) < step * 1e-9 ? 0.0 : i * step);
  }
  return axis;
}

Axis LogAxis(double data_lo, double data_hi, std::optional<double> fixed_lo,
             std::optional<double> fixed_hi) {
  double lo = fixed_lo && *fixed_lo > 0 ? std::log10(*fixed_lo) : std::floor(std::log10(data_lo));
  double hi = fixed_hi && *fixed_hi > 0 ? std::log10(*fixed_hi) : std::ceil(std::log10(data_hi));
  if (!(hi > lo)) hi = lo + 1;
  Axis axis{lo, hi, true, {}};
  const double decades = std::floor(hi) - std::ceil(lo);
  const double step = std::max(1.0, std::ceil(decades / 8));
  for (double e = std::ceil(lo - 1e-9); e <= hi + 1e-9; e += step) axis.ticks.push_back(e);
  return axis;
}

std::string TickLabel(const Axis& axis, double tick) {
  if (!axis.log) return Format("%g", tick);
  const int exponent = static_cast<int>(std::lround(tick));
  if (exponent >= -2 && exponent <= 3) return Format("%g", std::pow(10.0, exponent));
  return "1e" + std::to_string(exponent);
}

// At most max_bytes bytes (ending in "..." when cut), never splitting a UTF-8 sequence.
std::string ShortenUtf8(const std::string& text, size_t max_bytes) {
  if (text.size() <= max_bytes) return text;
  size_t end = max_bytes - 3;
  while (end > 0 && (static_cast<unsigned char>(text[end]) & 0xC0) == 0x80) --end;
  return text.substr(0, end) + "...";
}

bool Usable(const PlotPoint& p, bool log_x) {
  return std::isfinite(p.x) && std::isfinite(p.y) && (!log_x || p.x > 0);
}

struct DataBounds {
  double x_lo = std::numeric_limits<double>::infinity(), x_hi = -x_lo;
  double y_lo = x_lo, y_hi = -x_lo;
  bool empty() const { return !(x_hi >= x_lo); }
};

DataBounds Bounds(const LineChart& chart) {
  DataBounds b;
  for (const LineSeries& s : chart.series) {
    for (const PlotPoint& p : s.points) {
      if (!Usable(p, chart.log_x)) continue;
      b.x_lo = std::min(b.x_lo, p.x);
      b.x_hi = std::max(b.x_hi, p.x);
      b.y_lo = std::min(b.y_lo, p.y);
      b.y_hi = std::max(b.y_hi, p.y);
    }
  }
  if (b.empty()) {
    b.x_lo = chart.log_x ? 1e-3 : 0;
    b.x_hi = 1;
    b.y_lo = 0;
    b.y_hi = 1;
  }
  return b;
}

std::string Text(double x, double y, const std::string& anchor, const std::string& text,
                 const std::string& extra = "") {
  return "<text x=\"" + Px(x) + "\" y=\"" + Px(y) + "\" text-anchor=\"" + anchor + "\"" + extra +
         ">" + EscapeXml(text) + "</text>\n";
}

std::string Line(double x1, double y1, double x2, double y2, const std::string& style) {
  return "<line x1=\"" + Px(x1) + "\" y1=\"" + Px(y1) + "\" x2=\"" + Px(x2) + "\" y2=\"" +
         Px(y2) + "\" " + style + "/>\n";
}

}  // namespace

std::string EscapeXml(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default:
        // Control characters other than tab/newline are not allowed in XML 1.0.
        if (static_cast<unsigned char>(c) < 0x20 && c != '\t' && c != '\n') {
          out += ' ';
        } else {
          out += c;
        }
    }
  }
  return out;
}

std::string RenderLineChartSvg(const LineChart& chart) {
  const DataBounds bounds = Bounds(chart);
  const Axis x_axis = chart.log_x ? LogAxis(bounds.x_lo, bounds.x_hi, chart.x_min, chart.x_max)
                                  : LinearAxis(bounds.x_lo, bounds.x_hi, chart.x_min, chart.x_max);
  const Axis y_axis = LinearAxis(bounds.y_lo, bounds.y_hi, chart.y_min, chart.y_max);

  size_t legend_chars = 0;
  for (const LineSeries& s : chart.series) legend_chars = std::max(legend_chars, s.name.size());
  const int legend_width = legend_chars > 0 ? 36 + static_cast<int>(std::min<size_t>(
                                                       legend_chars, 40)) * 7
                                            : 0;
  const int width = std::max(chart.width, 200 + legend_width);
  const int height = std::max(chart.height, 160);
  const double left = kMarginLeft, top = kMarginTop;
  const double right = width - kMarginRight - legend_width;
  const double bottom = height - kMarginBottom;
  auto px_x = [&](double v) { return left + x_axis.Fraction(v) * (right - left); };
  auto px_y = [&](double v) { return bottom - y_axis.Fraction(v) * (bottom - top); };

  std::string svg = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n";
  svg += "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" + std::to_string(width) +
         "\" height=\"" + std::to_string(height) + "\" viewBox=\"0 0 " + std::to_string(width) +
         " " + std::to_string(height) + "\" font-family=\"sans-serif\" font-size=\"" +
         std::to_string(kFontSize) + "\">\n";
  svg += "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  svg += "<defs><clipPath id=\"plot-area\"><rect x=\"" + Px(left) + "\" y=\"" + Px(top) +
         "\" width=\"" + Px(right - left) + "\" height=\"" + Px(bottom - top) +
         "\"/></clipPath></defs>\n";
  if (!chart.title.empty()) {
    svg += Text(width / 2.0, top / 2 + 5, "middle", chart.title, " font-size=\"15\"");
  }

  // Grid, ticks and tick labels. Tick values are in axis units (log10 for log x).
  const std::string grid = "stroke=\"#dddddd\" stroke-width=\"1\"";
  const std::string tick = "stroke=\"black\" stroke-width=\"1\"";
  for (double t : x_axis.ticks) {
    const double x = left + (t - x_axis.lo) / (x_axis.hi - x_axis.lo) * (right - left);
    svg += Line(x, top, x, bottom, grid) + Line(x, bottom, x, bottom + 5, tick);
    svg += Text(x, bottom + 18, "middle", TickLabel(x_axis, t));
  }
  for (double t : y_axis.ticks) {
    const double y = px_y(t);
    svg += Line(left, y, right, y, grid) + Line(left - 5, y, left, y, tick);
    svg += Text(left - 8, y + 4, "end", TickLabel(y_axis, t));
  }
  svg += "<rect x=\"" + Px(left) + "\" y=\"" + Px(top) + "\" width=\"" + Px(right - left) +
         "\" height=\"" + Px(bottom - top) + "\" fill=\"none\" stroke=\"black\"/>\n";
  if (!chart.x_label.empty()) svg += Text((left + right) / 2, height - 14, "middle", chart.x_label);
  if (!chart.y_label.empty()) {
    const double cx = 18, cy = (top + bottom) / 2;
    svg += Text(cx, cy, "middle", chart.y_label,
                " transform=\"rotate(-90 " + Px(cx) + " " + Px(cy) + ")\"");
  }

  // Series and legend.
  int legend_row = 0;
  for (size_t i = 0; i < chart.series.size(); ++i) {
    const LineSeries& s = chart.series[i];
    const std::string color =
        EscapeXml(s.color.empty() ? kPalette[i % std::size(kPalette)] : s.color);
    std::string points;
    for (const PlotPoint& p : s.points) {
      if (!Usable(p, chart.log_x)) continue;
      if (!points.empty()) points += ' ';
      points += Px(px_x(p.x)) + "," + Px(px_y(p.y));
    }
    if (!points.empty()) {
      svg += "<polyline clip-path=\"url(#plot-area)\" fill=\"none\" stroke=\"" + color +
             "\" stroke-width=\"1.8\" points=\"" + points + "\"/>\n";
    }
    if (s.name.empty()) continue;
    const double ly = top + 10 + 18 * legend_row++;
    const double lx = right + 12;
    svg += Line(lx, ly, lx + 18, ly, "stroke=\"" + color + "\" stroke-width=\"3\"");
    svg += Text(lx + 24, ly + 4, "start", ShortenUtf8(s.name, 40));
  }
  svg += "</svg>\n";
  return svg;
}

}  // namespace lineup
