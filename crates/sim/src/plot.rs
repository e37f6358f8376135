//! `--svg FILE`: available pods per workload over time, each budget's desired availability as a
//! dashed line, and operation start/finish markers; with `--compare`, a second panel for the run
//! without budgets on the same axes. plotters' SVG backend writes text as `<text>` elements, so no
//! font files or fontconfig are needed to produce it.

use std::path::Path;

use plotters::prelude::*;

use crate::engine::Sim;
use crate::report::RunReport;

const PALETTE: [RGBColor; 6] = [
    RGBColor(31, 119, 180),
    RGBColor(214, 39, 40),
    RGBColor(44, 160, 44),
    RGBColor(255, 127, 14),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
];

/// A step line from change points, held until `end`.
fn steps(series: &[(f64, i32)], end: f64) -> Vec<(f64, f64)> {
    let mut out = Vec::with_capacity(series.len() * 2 + 1);
    for (i, &(t, n)) in series.iter().enumerate() {
        if i > 0 {
            out.push((t, series[i - 1].1 as f64));
        }
        out.push((t, n as f64));
    }
    if let Some(&(_, n)) = series.last() {
        out.push((end, n as f64));
    }
    out
}

/// Workloads drawn at most; a chart of hundreds of panels helps nobody (the JSON has them all).
const MAX_PANELS: usize = 8;

pub fn write_svg(
    file: &Path,
    name: &str,
    sim: &Sim,
    with: &RunReport,
    without: Option<&RunReport>,
) -> Result<(), String> {
    let runs: Vec<(&str, &RunReport)> = match without {
        Some(w) => vec![("with budgets", with), ("without budgets", w)],
        None => vec![("with budgets", with)],
    };
    let end = runs.iter().map(|(_, r)| r.end_seconds).fold(1.0, f64::max);
    let rows = with.workloads.len().clamp(1, MAX_PANELS);
    let (w, h) = (620 * runs.len() as u32, 60 + 300 * rows as u32);
    let root = SVGBackend::new(file, (w, h)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| e.to_string())?;
    let root = root
        .titled(&format!("steady sim: {name}"), ("sans-serif", 22))
        .map_err(|e| e.to_string())?;
    let panels = root.split_evenly((rows, runs.len()));
    for row in 0..rows {
        for (col, (title, r)) in runs.iter().enumerate() {
            let area = &panels[row * runs.len() + col];
            draw_panel(area, title, r, sim, row, end).map_err(|e| e.to_string())?;
        }
    }
    root.present().map_err(|e| e.to_string())
}

/// One workload's chart as SVG text (with budgets and, given `without`, without them side by
/// side), for the HTML report, which shows every workload, not just the first [`MAX_PANELS`].
pub fn workload_svg(
    i: usize,
    sim: &Sim,
    with: &RunReport,
    without: Option<&RunReport>,
) -> Result<String, String> {
    let runs: Vec<(&str, &RunReport)> = match without {
        Some(w) => vec![("with budgets", with), ("without budgets", w)],
        None => vec![("with budgets", with)],
    };
    let end = runs.iter().map(|(_, r)| r.end_seconds).fold(1.0, f64::max);
    let mut out = String::new();
    {
        let root =
            SVGBackend::with_string(&mut out, (620 * runs.len() as u32, 300)).into_drawing_area();
        root.fill(&WHITE).map_err(|e| e.to_string())?;
        let panels = root.split_evenly((1, runs.len()));
        for (col, (title, r)) in runs.iter().enumerate() {
            draw_panel(&panels[col], title, r, sim, i, end).map_err(|e| e.to_string())?;
        }
        root.present().map_err(|e| e.to_string())?;
    }
    Ok(out)
}

fn mmss(s: &f64) -> String {
    let s = s.round().max(0.0) as u64;
    format!("{}:{:02}", s / 60, s % 60)
}

/// One workload in one run: available pods, the budget line, operation markers.
fn draw_panel<DB: DrawingBackend>(
    area: &DrawingArea<DB, plotters::coord::Shift>,
    run: &str,
    r: &RunReport,
    sim: &Sim,
    i: usize,
    end: f64,
) -> Result<(), DrawingAreaErrorKind<DB::ErrorType>> {
    let w = &r.workloads[i];
    // Room above the highest of availability, replicas and every budget line, so a budget that
    // needs more pods than exist is drawn inside the chart rather than on its border.
    let needs = sim.model().workloads[i]
        .budgets
        .iter()
        .flat_map(|&b| r.budgets[b].series.iter().map(|x| x.2))
        .max()
        .unwrap_or(0);
    let ymax = w
        .series
        .iter()
        .map(|x| x.1)
        .max()
        .unwrap_or(1)
        .max(w.replicas)
        .max(needs)
        + 1;
    let below: f64 = sim.model().workloads[i]
        .budgets
        .iter()
        .map(|&b| r.budgets[b].below_seconds)
        .fold(0.0, f64::max);
    let title = if below > 0.0 {
        format!(
            "{} {run}: min {} available, {} below budget",
            w.name,
            w.min_available,
            crate::report::span(below)
        )
    } else {
        format!("{} {run}: min {} available", w.name, w.min_available)
    };
    let mut chart = ChartBuilder::on(area)
        .caption(title, ("sans-serif", 15))
        .margin(10)
        .x_label_area_size(30)
        .y_label_area_size(36)
        .build_cartesian_2d(0f64..end, 0f64..ymax as f64)?;
    chart
        .configure_mesh()
        .x_desc("simulated time (m:ss)")
        .y_desc("available pods")
        .x_label_formatter(&mmss)
        .y_labels((ymax + 1) as usize)
        .y_label_formatter(&|y| format!("{y:.0}"))
        .light_line_style(RGBColor(240, 240, 240))
        .draw()?;
    let grey = RGBColor(110, 110, 110);
    for (k, op) in r.operations.iter().enumerate() {
        if let Some(s) = op.started_seconds {
            chart.draw_series(LineSeries::new(
                vec![(s, 0.0), (s, ymax as f64)],
                grey.mix(0.6),
            ))?;
            let y = ymax as f64 - 0.25 - 0.4 * (k % 3) as f64;
            chart.draw_series(std::iter::once(Text::new(
                format!("{} ({})", op.label, op.outcome),
                (s, y),
                ("sans-serif", 11).into_font().color(&grey),
            )))?;
        }
        if let Some(f) = op.finished_seconds {
            chart.draw_series(DashedLineSeries::new(
                vec![(f, 0.0), (f, ymax as f64)],
                3,
                4,
                grey.mix(0.5).into(),
            ))?;
        }
    }
    // Budget lines first, wide and pale, so the availability line stays visible on top of
    // them where the two are equal (a budget held exactly at its limit).
    for (k, &b) in sim.model().workloads[i].budgets.iter().enumerate() {
        let br = &r.budgets[b];
        let color = PALETTE[(k + 1) % PALETTE.len()];
        let desired: Vec<(f64, i32)> = br.series.iter().map(|&(t, _, d)| (t, d)).collect();
        chart
            .draw_series(DashedLineSeries::new(
                steps(&desired, end),
                10,
                4,
                color.mix(0.45).stroke_width(5),
            ))?
            .label(format!("{} {} needs", br.kind, br.name))
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.mix(0.45).stroke_width(5))
            });
    }
    let blue = PALETTE[0];
    chart
        .draw_series(LineSeries::new(steps(&w.series, end), blue.stroke_width(2)))?
        .label(format!("{} available", w.name))
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 18, y)], blue.stroke_width(2)));
    chart
        .configure_series_labels()
        .position(SeriesLabelPosition::LowerRight)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK.mix(0.3))
        .label_font(("sans-serif", 11))
        .draw()?;
    Ok(())
}
