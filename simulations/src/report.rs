//! The report of a run: Markdown with SVG charts of backlog and reporting lag.

use std::path::Path;

use crate::Outcome;
use crate::scenario::Scenario;

fn chart(
    title: &str,
    unit: &str,
    points: &[(f64, f64)],
    faults: &[(f64, f64)],
    span: f64,
) -> String {
    let (w, h, pad) = (720.0, 220.0, 40.0);
    let max_y = points.iter().map(|p| p.1).fold(1.0f64, f64::max);
    let x = |t: f64| pad + t / span.max(1.0) * (w - 2.0 * pad);
    let y = |v: f64| h - pad - v / max_y * (h - 2.0 * pad);
    let mut svg = format!(
        r##"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="11"><title>{title}</title>"##
    );
    for (from, to) in faults {
        svg.push_str(&format!(
            r##"<rect x="{:.1}" y="{pad}" width="{:.1}" height="{:.1}" fill="#f8d7da"/>"##,
            x(*from),
            (x(*to) - x(*from)).max(1.0),
            h - 2.0 * pad
        ));
    }
    svg.push_str(&format!(r##"<line x1="{pad}" y1="{0}" x2="{1}" y2="{0}" stroke="#333"/><text x="{pad}" y="{2}">0</text><text x="4" y="{3}">{max_y:.0} {unit}</text><text x="{1}" y="{4}" text-anchor="end">{5:.1} h</text>"##,
        h - pad, w - pad, h - pad + 14.0, y(max_y) + 4.0, h - 8.0, span / 3600.0));
    let line: Vec<String> = points
        .iter()
        .map(|(t, v)| format!("{:.1},{:.1}", x(*t), y(*v)))
        .collect();
    svg.push_str(&format!(
        r##"<polyline points="{}" fill="none" stroke="#4a7ebb" stroke-width="1.5"/></svg>"##,
        line.join(" ")
    ));
    svg
}

/// The highest value in each of `buckets` equal intervals of `[0, span]`,
/// at the interval's start: a chart of hundreds of thousands of reports
/// keeps its peaks in a few hundred points.
fn peaks(points: &[(f64, f64)], span: f64, buckets: usize) -> Vec<(f64, f64)> {
    let width = span.max(1.0) / buckets as f64;
    let mut top: Vec<Option<f64>> = vec![None; buckets + 1];
    for (t, v) in points {
        let b = ((t / width).floor().max(0.0) as usize).min(buckets);
        top[b] = Some(top[b].map_or(*v, |m: f64| m.max(*v)));
    }
    top.into_iter()
        .enumerate()
        .filter_map(|(b, v)| v.map(|v| (b as f64 * width, v)))
        .collect()
}

pub fn write(out: &Path, scenario: &Scenario, outcome: &Outcome) -> anyhow::Result<()> {
    std::fs::create_dir_all(out)?;
    let span = outcome
        .samples
        .last()
        .map(|s| s.t)
        .unwrap_or(0.0)
        .max(scenario.duration.as_secs_f64());
    let faults: Vec<(f64, f64)> = scenario
        .fault
        .iter()
        .map(|f| (f.window().0.as_secs_f64(), f.window().1.as_secs_f64()))
        .collect();
    let backlog: Vec<(f64, f64)> = outcome
        .samples
        .iter()
        .map(|s| (s.t, s.backlog as f64))
        .collect();
    std::fs::write(
        out.join("backlog.svg"),
        chart(
            "Messages waiting in outboxes",
            "messages",
            &backlog,
            &faults,
            span,
        ),
    )?;
    std::fs::write(
        out.join("lag.svg"),
        chart(
            "Reporting lag, the longest in each interval",
            "s",
            &peaks(&outcome.lags, span, 640),
            &faults,
            span,
        ),
    )?;
    let mut md = format!("# Simulation: {}\n\n", outcome.scenario);
    md.push_str(&format!(
        "- Simulated {} in {:.0} s of real time on schedule ({}× compression)\n- Cases notified: {}; transfers offered: {}; shares: {}\n- Peak backlog: {} messages\n",
        humantime_serde::re::humantime::format_duration(scenario.duration),
        scenario.duration.as_secs_f64() / scenario.compression,
        scenario.compression,
        outcome.cases,
        outcome.transfers,
        outcome.shares,
        outcome.peak_backlog
    ));
    md.push_str(&format!(
        "- Load: {} notifications due, {} of them at a centre that was down (not sent); the last answered {:.0} s after the start ({:.0} s on schedule); at most {} sent and not yet answered at once\n",
        outcome.due,
        outcome.unreachable,
        outcome.load_seconds,
        outcome.schedule_seconds,
        outcome.peak_waiting
    ));
    if outcome.load_seconds > outcome.schedule_seconds * 1.1 + 5.0 {
        md.push_str(&format!(
            "- ⚠ This machine did not keep pace with the load: the centres took {:.0} notifications a second where the scenario asked for {:.0}. Faults still acted on the scenario's clock, so they met less load than planned; a lower compression keeps the two together.\n",
            outcome.cases as f64 / outcome.load_seconds.max(1.0),
            outcome.due as f64 / outcome.schedule_seconds.max(1.0)
        ));
    }
    match (outcome.catch_up, scenario.fault.is_empty()) {
        (Some((d, level)), _) => md.push_str(&format!(
            "- Caught up {d:.1} s real ({:.1} min simulated) after the last fault ended: the first look with the outboxes back to their level before it (at most {level} messages waiting; a look every {:.1} s)\n",
            d * scenario.compression / 60.0,
            outcome.sample_seconds
        )),
        (None, false) => md.push_str("- The outboxes never came back to their level before the last fault while the scenario ran; they drained afterwards\n"),
        (None, true) => md.push_str("- No faults\n"),
    }
    if !outcome.lags.is_empty() {
        let mut l: Vec<f64> = outcome.lags.iter().map(|p| p.1).collect();
        l.sort_by(f64::total_cmp);
        md.push_str(&format!(
            "- Reporting lag (real seconds): median {:.2}, 99th percentile {:.2}, max {:.2}\n",
            l[l.len() / 2],
            l[(l.len() * 99 / 100).min(l.len() - 1)],
            l[l.len() - 1]
        ));
    }
    md.push_str("\n## Faults\n\n");
    for (f, (began, ended)) in scenario.fault.iter().zip(&outcome.fault_times) {
        let (from, to) = f.window();
        let real = |t: &Option<f64>| t.map_or("never".to_string(), |t| format!("{t:.1} s"));
        md.push_str(&format!(
            "- {} from {} to {} (real time: began at {}, ended at {})\n",
            f.describe(),
            humantime_serde::re::humantime::format_duration(from),
            humantime_serde::re::humantime::format_duration(to),
            real(began),
            real(ended)
        ));
    }
    if let Some(t) = &outcome.rogue {
        md.push_str(&format!(
            "- Forged messages from the rogue centre: {} sent; {} refused naming an authority rule, {} held back (a claim waiting for a hand-over that never comes), {} acknowledged, {} failed otherwise (unreachable or refused for another reason)\n",
            t.sent, t.refused, t.held, t.acknowledged, t.other
        ));
    }
    md.push_str("\n## Invariants\n\n");
    for (name, result) in &outcome.invariants {
        match result {
            Ok(()) => md.push_str(&format!("- ✅ {name}\n")),
            Err(e) => md.push_str(&format!("- ❌ {name}: {e}\n")),
        }
    }
    md.push_str("\n## Backlog\n\n![backlog](backlog.svg)\n\n## Reporting lag\n\n![lag](lag.svg)\n\nShaded: faults. Time axis in simulated hours.\n");
    std::fs::write(out.join("report.md"), md)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::peaks;

    #[test]
    fn peaks_keep_the_highest_value_of_each_interval() {
        let points = [(0.5, 1.0), (1.5, 7.0), (1.9, 3.0), (9.9, 2.0), (12.0, 5.0)];
        assert_eq!(
            peaks(&points, 10.0, 5),
            vec![(0.0, 7.0), (8.0, 2.0), (10.0, 5.0)]
        );
        assert!(peaks(&[], 10.0, 5).is_empty());
    }
}
