//! Small inline SVG bar charts of a metric per day, drawn on the server so
//! the dashboard needs no script and no network. A day without data has no
//! bar (and a title saying so), which is not the same as a bar of 0.

use std::fmt::Write as _;

const WIDTH: f64 = 240.0;
const HEIGHT: f64 = 48.0;

/// One bar chart: `values` oldest first, `label` says what a bar is (used
/// in each bar's tooltip together with `fmt` of its value).
pub fn bars(name: &str, values: &[Option<f64>], fmt: &dyn Fn(f64) -> String) -> String {
    let max = values.iter().flatten().copied().fold(0.0_f64, f64::max);
    let n = values.len().max(1) as f64;
    let step = WIDTH / n;
    let bar = (step - 1.0).max(1.0);
    let mut out = String::new();
    let _ = write!(
        out,
        "<svg class=\"chart\" role=\"img\" aria-label=\"{}\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" width=\"{WIDTH}\" height=\"{HEIGHT}\" xmlns=\"http://www.w3.org/2000/svg\">",
        escape(name)
    );
    let _ = write!(
        out,
        "<line x1=\"0\" y1=\"{HEIGHT}\" x2=\"{WIDTH}\" y2=\"{HEIGHT}\" class=\"axis\"/>"
    );
    for (i, v) in values.iter().enumerate() {
        let x = i as f64 * step;
        match v {
            Some(v) => {
                let h = if max > 0.0 {
                    (v / max * (HEIGHT - 2.0)).max(1.0)
                } else {
                    1.0
                };
                let _ = write!(
                    out,
                    "<rect class=\"bar\" x=\"{x:.1}\" y=\"{:.1}\" width=\"{bar:.1}\" height=\"{h:.1}\"><title>day {}: {}</title></rect>",
                    HEIGHT - h,
                    i + 1,
                    escape(&fmt(*v))
                );
            }
            None => {
                let _ = write!(
                    out,
                    "<rect class=\"nodata\" x=\"{x:.1}\" y=\"{:.1}\" width=\"{bar:.1}\" height=\"1\"><title>day {}: no data</title></rect>",
                    HEIGHT - 1.0,
                    i + 1
                );
            }
        }
    }
    out.push_str("</svg>");
    out
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_without_data_has_no_bar_and_the_tallest_fills_the_chart() {
        let svg = bars("lead <time>", &[Some(2.0), None, Some(4.0)], &|v| {
            format!("{v}s")
        });
        assert!(svg.starts_with("<svg class=\"chart\""), "{svg}");
        assert!(svg.contains("aria-label=\"lead &lt;time&gt;\""), "{svg}");
        assert_eq!(svg.matches("class=\"bar\"").count(), 2, "{svg}");
        assert!(svg.contains("<title>day 2: no data</title>"), "{svg}");
        assert!(
            svg.contains("height=\"46.0\"><title>day 3: 4s</title>"),
            "{svg}"
        );
        assert!(
            svg.contains("height=\"23.0\"><title>day 1: 2s</title>"),
            "{svg}"
        );
    }
}
