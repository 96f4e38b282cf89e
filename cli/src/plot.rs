//! The PNG `onedata bench --plot` writes: each case's speedup over numpy or
//! scipy, on a log scale, beside the goal it is held to.

use std::path::Path;

use onedata::{Error, Result};
use plotters::prelude::*;
use plotters::style::{register_font, FontStyle};
use serde_json::Value;

/// The bars: case, the ratio key to plot, its label (`SIZE` stands for the
/// large file's size), and the goal (a ratio).
const BARS: [(&str, &str, &str, Option<f64>); 15] = [
    (
        "cold_load_small",
        "ratio_vs_numpy",
        "cold load 8 KB (np.load)",
        None,
    ),
    (
        "cold_load_large",
        "ratio_vs_numpy_mmap",
        "cold load SIZE (np.load mmap_mode='r')",
        Some(5.0),
    ),
    ("cache_hit", "ratio_vs_numpy", "cache hit (dict hit)", None),
    (
        "full_scan_large",
        "ratio_vs_numpy",
        "load + sum SIZE (np.load + sum)",
        Some(2.0),
    ),
    (
        "sparse_load",
        "ratio_vs_numpy",
        "sparse load (load_npz)",
        Some(3.0),
    ),
    (
        "sparse_dense",
        "ratio_vs_numpy",
        "sparse densified (load_npz().toarray())",
        Some(2.0),
    ),
    (
        "sparse_load_stored",
        "ratio_vs_numpy",
        "sparse load, aligned stored file (load_npz)",
        Some(50.0),
    ),
    (
        "save_large",
        "ratio_vs_numpy",
        "durable save SIZE (np.save+fsync)",
        Some(1.0),
    ),
    (
        "save_large_scratch",
        "ratio_vs_numpy",
        "scratch save SIZE (np.save)",
        Some(1.0),
    ),
    (
        "py_load_large",
        "ratio_vs_numpy",
        "Python: onedata.load SIZE (np.load mmap_mode='r')",
        Some(5.0),
    ),
    (
        "py_load_large_copy",
        "ratio_vs_numpy",
        "Python: load(mmap=False) SIZE (np.load)",
        Some(1.5),
    ),
    (
        "py_loadone_cold",
        "ratio_vs_numpy",
        "Python: SessionData.loadone cold (vrAnalysis-style)",
        Some(1.0),
    ),
    (
        "py_loadone_hit",
        "ratio_vs_numpy",
        "Python: loadone cache hit (dict hit)",
        Some(1.0),
    ),
    (
        "py_full_scan_large",
        "ratio_vs_numpy",
        "Python: load + sum SIZE (np.load + sum)",
        Some(2.0),
    ),
    (
        "py_load_npz",
        "ratio_vs_numpy",
        "Python: load_npz (scipy load_npz)",
        Some(3.0),
    ),
];

/// Writes the speedup chart of `report` (as `onedata bench --json` prints
/// it) to `path` as a PNG.
pub fn write_png(report: &Value, path: &Path) -> Result<()> {
    let fail = |what: String| Error::argument(format!("cannot draw {}: {what}", path.display()));
    register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular())
        .map_err(|_| fail("the bundled font did not load".into()))?;
    let cases = report["cases"].as_array().cloned().unwrap_or_default();
    let ratio = |name: &str, key: &str| {
        cases
            .iter()
            .find(|c| c["name"] == name)
            .and_then(|c| c[key].as_f64())
    };
    let size = format!("{} MB", report["size_mb"]);
    let bars: Vec<(String, &str, Option<f64>, Option<f64>)> = BARS
        .iter()
        .map(|&(name, key, label, goal)| {
            (label.replace("SIZE", &size), name, ratio(name, key), goal)
        })
        .collect();
    let top = bars.iter().filter_map(|b| b.2).fold(20.0f64, f64::max) * 8.0;

    let root = BitMapBackend::new(path, (1200, 900)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| fail(e.to_string()))?;
    let title = format!(
        "onedata vs numpy {} / scipy {}: speedup (their time / ours), {} MB spks",
        report["numpy"].as_str().unwrap_or("?"),
        report["scipy"].as_str().unwrap_or("?"),
        report["size_mb"]
    );
    let n = bars.len();
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(16)
        .x_label_area_size(40)
        .y_label_area_size(420)
        .build_cartesian_2d((0.5f64..top).log_scale(), 0f64..n as f64)
        .map_err(|e| fail(e.to_string()))?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .y_labels(n * 2 + 1)
        .y_label_formatter(&|y| {
            let k = (n as f64 - y - 0.5).round();
            if (n as f64 - y - 0.5 - k).abs() < 0.01 && k >= 0.0 && (k as usize) < n {
                bars[k as usize].0.clone()
            } else {
                String::new()
            }
        })
        .x_desc("speedup over numpy / scipy (log scale; the dashed line is parity)")
        .x_labels(6)
        .x_label_formatter(&|x| format!("{x}x"))
        .label_style(("sans-serif", 15))
        .draw()
        .map_err(|e| fail(e.to_string()))?;
    let green = RGBColor(46, 125, 50);
    let red = RGBColor(198, 40, 40);
    for (k, (_, name, value, goal)) in bars.iter().enumerate() {
        let y = (n - 1 - k) as f64;
        let Some(v) = *value else { continue };
        let met = goal.is_none_or(|g| v >= g);
        let color = if met { green } else { red };
        chart
            .draw_series(std::iter::once(Rectangle::new(
                [(0.5, y + 0.2), (v.max(0.5), y + 0.8)],
                color.filled(),
            )))
            .map_err(|e| fail(e.to_string()))?;
        let label = match (goal, *name) {
            (Some(g), "py_loadone_hit") => format!(
                "{v:.2}x; {} us (goal <= 1 us, {g}x)",
                ratio("py_loadone_hit", "onedata_us").unwrap_or(f64::NAN)
            ),
            (Some(g), _) => format!("{v:.2}x (goal {g}x)"),
            // The cache hit's goal is a time, not a ratio.
            (None, "cache_hit") => format!(
                "{v:.2}x; {} us (goal <= 0.2 us)",
                ratio("cache_hit", "onedata_us").unwrap_or(f64::NAN)
            ),
            (None, _) => format!("{v:.2}x"),
        };
        chart
            .draw_series(std::iter::once(Text::new(
                label,
                (v.max(0.5) * 1.05, y + 0.62),
                ("sans-serif", 15),
            )))
            .map_err(|e| fail(e.to_string()))?;
        if let Some(g) = goal {
            chart
                .draw_series(std::iter::once(PathElement::new(
                    vec![(*g, y + 0.1), (*g, y + 0.9)],
                    BLACK.stroke_width(3),
                )))
                .map_err(|e| fail(e.to_string()))?;
        }
    }
    chart
        .draw_series(DashedLineSeries::new(
            vec![(1.0, 0.0), (1.0, n as f64)],
            6,
            4,
            BLACK.stroke_width(1),
        ))
        .map_err(|e| fail(e.to_string()))?;
    root.present().map_err(|e| fail(e.to_string()))?;
    Ok(())
}
