#include "eval/svg_plot.h"

#include <cmath>

#include <gtest/gtest.h>

namespace lineup {
namespace {

size_t Count(const std::string& text, const std::string& needle) {
  size_t count = 0;
  for (size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + 1)) {
    ++count;
  }
  return count;
}

// Every "<" opens either a tag that closes with "/>" or a <name> ... </name>
// pair; checks the balance of the element kinds the writer emits.
void ExpectBalanced(const std::string& svg) {
  EXPECT_EQ(svg.rfind("<?xml", 0), 0u);
  EXPECT_EQ(Count(svg, "<svg "), 1u);
  EXPECT_EQ(Count(svg, "</svg>"), 1u);
  EXPECT_EQ(svg.substr(svg.size() - 7), "</svg>\n");
  EXPECT_EQ(Count(svg, "<text "), Count(svg, "</text>"));
  EXPECT_EQ(Count(svg, "<defs>"), Count(svg, "</defs>"));
  EXPECT_EQ(Count(svg, "<clipPath "), Count(svg, "</clipPath>"));
  EXPECT_EQ(Count(svg, "nan"), 0u);
  EXPECT_EQ(Count(svg, "inf"), 0u);
}

TEST(EvalSvgPlot, EscapeXml) {
  EXPECT_EQ(EscapeXml("a<b & \"c\" 'd'>"), "a&lt;b &amp; &quot;c&quot; &apos;d&apos;&gt;");
  EXPECT_EQ(EscapeXml(std::string("x\x01y")), "x y");
}

TEST(EvalSvgPlot, LinearChartWithEscapedText) {
  LineChart chart;
  chart.title = "PR <WIDER> & \"friends\"";
  chart.x_label = "recall";
  chart.y_label = "precision";
  chart.x_min = 0;
  chart.x_max = 1;
  chart.y_min = 0;
  chart.y_max = 1;
  chart.series.push_back({"model <a>", {{0, 1}, {0.5, 0.8}, {1, 0.2}}, ""});
  chart.series.push_back({"model & b", {{0, 1}, {0.4, std::nan("")}, {0.9, 0.1}}, "red"});
  const std::string svg = RenderLineChartSvg(chart);
  ExpectBalanced(svg);
  EXPECT_NE(svg.find("PR &lt;WIDER&gt; &amp; &quot;friends&quot;"), std::string::npos);
  EXPECT_EQ(svg.find("<WIDER>"), std::string::npos);
  EXPECT_NE(svg.find("model &lt;a&gt;"), std::string::npos);
  EXPECT_NE(svg.find("model &amp; b"), std::string::npos);
  EXPECT_EQ(Count(svg, "<polyline "), 2u);
  EXPECT_NE(svg.find(">0.2</text>"), std::string::npos);  // y ticks every 0.2
  EXPECT_NE(svg.find(">1</text>"), std::string::npos);
}

TEST(EvalSvgPlot, LogScaleXDropsNonPositivePoints) {
  LineChart chart;
  chart.log_x = true;
  chart.title = "ROC";
  chart.series.push_back({"roc", {{0, 0.1}, {1e-4, 0.5}, {1e-2, 0.9}, {1, 1}}, ""});
  const std::string svg = RenderLineChartSvg(chart);
  ExpectBalanced(svg);
  EXPECT_NE(svg.find(">1e-4</text>"), std::string::npos);
  EXPECT_NE(svg.find(">0.01</text>"), std::string::npos);
  EXPECT_NE(svg.find(">1</text>"), std::string::npos);
  const size_t points = svg.find("points=\"");
  ASSERT_NE(points, std::string::npos);
  const std::string list = svg.substr(points, svg.find('"', points + 8) - points);
  EXPECT_EQ(Count(list, ","), 3u);  // the FAR = 0 point is dropped
}

TEST(EvalSvgPlot, EmptyChartStillRenders) {
  const std::string svg = RenderLineChartSvg(LineChart{});
  ExpectBalanced(svg);
  EXPECT_EQ(Count(svg, "<polyline "), 0u);
}

}  // namespace
}  // namespace lineup
