//! `vpp solve --plot OUT.svg`: the stacked chart of where the served power came from (the
//! same derivation and colours as the web page, `domain::sources`), drawn as SVG with
//! plotters. Each interval is drawn as a flat step: the values are interval averages.

use std::path::Path;

use plotters::prelude::*;

use crate::domain::sources::{Source, SourceStack};

/// Why a chart could not be written.
#[derive(Debug, thiserror::Error)]
#[error("cannot draw {path}: {message}")]
pub struct PlotError {
    /// The file.
    pub path: String,
    /// What went wrong.
    pub message: String,
}

fn colour(source: Source) -> RGBColor {
    let hex = source.colour().trim_start_matches('#');
    let byte = |k: usize| hex.get(k..k + 2).and_then(|h| u8::from_str_radix(h, 16).ok()).unwrap_or(0);
    RGBColor(byte(0), byte(2), byte(4))
}

/// Writes the stack as an SVG file. `point_labels` holds the local time of each interval's
/// start and of the horizon's end (T+1 labels); `dt_hours` is the interval length.
/// `demand_mw`, when given, is drawn as a line over the stack: what was asked of the
/// served power (the gap is what was interrupted).
pub fn stack_svg(
    path: &Path,
    title: &str,
    point_labels: &[String],
    dt_hours: f64,
    stack: &SourceStack,
    demand_mw: Option<&[f64]>,
) -> Result<(), PlotError> {
    let fail = |e: &dyn std::fmt::Display| PlotError { path: path.display().to_string(), message: e.to_string() };
    let n = stack.layers.first().map_or(0, |l| l.mw.len());
    if n == 0 || dt_hours <= 0.0 {
        return Err(fail(&"the schedule has no intervals"));
    }
    let layers: Vec<_> = stack.shown().collect();
    // Cumulative tops, bottom layer first.
    let mut tops = vec![vec![0.0; n]; layers.len()];
    for t in 0..n {
        let mut acc = 0.0;
        for (k, layer) in layers.iter().enumerate() {
            acc += layer.mw[t].max(0.0);
            tops[k][t] = acc;
        }
    }
    let peak = tops.last().map_or(0.0, |top| top.iter().copied().fold(0.0, f64::max));
    let peak = demand_mw.map_or(peak, |d| d.iter().copied().fold(peak, f64::max));
    let hours = n as f64 * dt_hours;

    let root = SVGBackend::new(path, (1200, 620)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| fail(&e))?;
    let (plot, legend) = root.split_horizontally(960);
    let mut chart = ChartBuilder::on(&plot)
        .caption(title, ("sans-serif", 20))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d(0f64..hours, 0f64..(peak * 1.05).max(1.0))
        .map_err(|e| fail(&e))?;
    let label_at = |x: &f64| {
        let k = (x / dt_hours).round();
        if (k * dt_hours - x).abs() > 1e-6 || k < 0.0 {
            return String::new();
        }
        point_labels.get(k as usize).cloned().unwrap_or_default()
    };
    chart
        .configure_mesh()
        .disable_x_mesh()
        .x_labels(13)
        .x_label_formatter(&label_at)
        .y_label_formatter(&|y| format!("{y:.0}"))
        .x_desc("local time")
        .y_desc("MW (average over each interval)")
        .draw()
        .map_err(|e| fail(&e))?;
    // Top layer first, so each lower layer paints over the part of it that is not its own.
    for (k, layer) in layers.iter().enumerate().rev() {
        let steps = (0..n).flat_map(|t| [(t as f64 * dt_hours, tops[k][t]), ((t + 1) as f64 * dt_hours, tops[k][t])]);
        let fill = colour(layer.source);
        chart.draw_series(AreaSeries::new(steps, 0.0, fill.filled()).border_style(fill.stroke_width(1))).map_err(|e| fail(&e))?;
    }
    // Demand over the stack: the step line of what the parks asked for.
    let demand_colour = RGBColor(33, 33, 33);
    if let Some(d) = demand_mw {
        let steps: Vec<(f64, f64)> =
            (0..n.min(d.len())).flat_map(|t| [(t as f64 * dt_hours, d[t]), ((t + 1) as f64 * dt_hours, d[t])]).collect();
        chart.draw_series(std::iter::once(PathElement::new(steps, demand_colour.stroke_width(2)))).map_err(|e| fail(&e))?;
    }
    // The legend, top of the stack first, as the layers appear.
    legend.draw(&Text::new("Source", (12, 40), ("sans-serif", 17).into_font().style(FontStyle::Bold))).map_err(|e| fail(&e))?;
    for (row, layer) in layers.iter().rev().enumerate() {
        let y = 70 + 28 * row as i32;
        let fill = colour(layer.source);
        legend.draw(&Rectangle::new([(12, y), (30, y + 16)], fill.filled())).map_err(|e| fail(&e))?;
        legend.draw(&Text::new(layer.source.label(), (38, y + 2), ("sans-serif", 15).into_font())).map_err(|e| fail(&e))?;
    }
    let mut note_y = 80 + 28 * layers.len() as i32;
    if demand_mw.is_some() {
        let y = 70 + 28 * layers.len() as i32;
        legend.draw(&PathElement::new(vec![(12, y + 8), (30, y + 8)], demand_colour.stroke_width(2))).map_err(|e| fail(&e))?;
        legend.draw(&Text::new("Demand", (38, y + 2), ("sans-serif", 15).into_font())).map_err(|e| fail(&e))?;
        note_y += 28;
    }
    for (k, line) in
        ["Green part shared over green", "sources, grey part over grey", "sources, in proportion to", "their supply per interval."]
            .iter()
            .enumerate()
    {
        legend
            .draw(&Text::new(*line, (12, note_y + 18 * k as i32), ("sans-serif", 12).into_font().color(&RGBColor(110, 110, 110))))
            .map_err(|e| fail(&e))?;
    }
    root.present().map_err(|e| fail(&e))?;
    tracing::debug!(path = %path.display(), layers = layers.len(), intervals = n, "stack chart written");
    Ok(())
}

/// What `vpp solve --plot` draws: the stack of all parks together, or of one park, titled
/// with the plant, the day and the green share.
pub fn schedule_svg(path: &Path, s: &crate::domain::Schedule, tz: chrono_tz::Tz, park: Option<&str>) -> Result<(), PlotError> {
    use crate::domain::sources::{park_stack, plant_stack, point_labels};
    let (who, stack, share, demand) = match park {
        Some(name) => {
            let p = s.parks.iter().find(|p| p.name == name).ok_or_else(|| PlotError {
                path: path.display().to_string(),
                message: format!("the schedule has no park named '{name}'"),
            })?;
            let stack =
                park_stack(s, name).ok_or_else(|| PlotError { path: path.display().to_string(), message: format!("no park '{name}'") })?;
            (format!("park {name}"), stack, p.share_total, p.demand_mw.clone())
        }
        None => {
            let demand = (0..s.intervals.len()).map(|t| s.parks.iter().map(|p| p.demand_mw[t]).sum()).collect();
            ("all parks".to_string(), plant_stack(s), s.totals.green_share, demand)
        }
    };
    let from = s.intervals.first().map(|t| t.with_timezone(&tz).format("%Y-%m-%d").to_string()).unwrap_or_default();
    let to = s.intervals.last().map(|t| t.with_timezone(&tz).format("%Y-%m-%d").to_string()).unwrap_or_default();
    let days = if from == to { from } else { format!("{from} .. {to}") };
    let title = format!("{} · {who} · {days} · green share {:.2} %", s.plant, share * 100.0);
    stack_svg(path, &title, &point_labels(s, tz), s.dt_hours, &stack, Some(&demand))
}

/// What `vpp backtest --plot` draws: each policy's realised green share day by day, and
/// the perfect-foresight bound, as lines over the days.
pub fn backtest_svg(path: &Path, r: &crate::backtest::Report) -> Result<(), PlotError> {
    let fail = |e: &dyn std::fmt::Display| PlotError { path: path.display().to_string(), message: e.to_string() };
    let days = r.outcomes.first().map_or(0, |x| x.days.len());
    if days == 0 {
        return Err(fail(&"the backtest has no days"));
    }
    let shares = r.outcomes.iter().flat_map(|x| x.days.iter().map(|d| d.figures.green_share * 100.0));
    let (lo, hi) = shares.fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    let pad = ((hi - lo) * 0.08).max(0.5);
    let labels: Vec<String> = r.outcomes[0].days.iter().map(|d| d.day.format("%m-%d").to_string()).collect();
    let title = format!(
        "{} · realised green share per day · {} day(s) · {}",
        r.plant,
        days,
        r.outcomes.iter().map(|x| format!("{} {:.2} %", x.policy, x.total.green_share * 100.0)).collect::<Vec<_>>().join(" · ")
    );
    let root = SVGBackend::new(path, (1200, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| fail(&e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 17))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(64)
        .build_cartesian_2d(0f64..(days.max(2) - 1) as f64, (lo - pad).max(0.0)..(hi + pad).min(100.0))
        .map_err(|e| fail(&e))?;
    chart
        .configure_mesh()
        .x_labels(12)
        .x_label_formatter(&|x| labels.get(x.round().max(0.0) as usize).cloned().unwrap_or_default())
        .y_label_formatter(&|y| format!("{y:.1}"))
        .x_desc("local day")
        .y_desc("green share of the power served, %")
        .draw()
        .map_err(|e| fail(&e))?;
    let palette = [RGBColor(214, 96, 39), RGBColor(31, 119, 180), RGBColor(60, 60, 60)];
    for (k, x) in r.outcomes.iter().enumerate() {
        let colour = palette[k.min(palette.len() - 1)];
        let points: Vec<(f64, f64)> = x.days.iter().enumerate().map(|(d, day)| (d as f64, day.figures.green_share * 100.0)).collect();
        let style = if x.policy == crate::backtest::PERFECT_FORESIGHT { colour.stroke_width(1) } else { colour.stroke_width(2) };
        chart
            .draw_series(std::iter::once(PathElement::new(points, style)))
            .map_err(|e| fail(&e))?
            .label(x.policy.clone())
            .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], colour.stroke_width(2)));
    }
    chart.configure_series_labels().background_style(WHITE.mix(0.9)).border_style(BLACK).draw().map_err(|e| fail(&e))?;
    root.present().map_err(|e| fail(&e))?;
    Ok(())
}
