//! Charts drawn on the server as SVG: a patient's temperature and SpO2, and
//! a centre's daily notifications.

use maud::{Markup, html};
use serde_json::Value;

use super::i18n::{Lang, t};
use super::layout::local_time;

const W: f64 = 640.0;
const PAD: f64 = 40.0;

/// Two panels over the same time axis: temperature (35–41 °C, the fever
/// line at 37.5) and SpO2 (85–100 %, the alert line at 93).
pub fn observations(lang: Lang, list: &[Value]) -> Markup {
    let n = list.len();
    let x = |i: usize| {
        if n <= 1 {
            W / 2.0
        } else {
            PAD + (W - 2.0 * PAD) * i as f64 / (n - 1) as f64
        }
    };
    let panel = |top: f64, lo: f64, hi: f64, v: f64| {
        top + 100.0 - (v.clamp(lo, hi) - lo) / (hi - lo) * 100.0
    };
    let temp: Vec<(f64, f64)> = list
        .iter()
        .enumerate()
        .filter_map(|(i, o)| {
            o["temperature"]
                .as_f64()
                .map(|v| (x(i), panel(10.0, 35.0, 41.0, v)))
        })
        .collect();
    let spo2: Vec<(f64, f64)> = list
        .iter()
        .enumerate()
        .filter_map(|(i, o)| {
            o["spo2"]
                .as_f64()
                .map(|v| (x(i), panel(140.0, 85.0, 100.0, v)))
        })
        .collect();
    let path = |pts: &[(f64, f64)]| {
        pts.iter()
            .enumerate()
            .map(|(i, (a, b))| format!("{}{a:.1},{b:.1}", if i == 0 { "M" } else { " L" }))
            .collect::<String>()
    };
    let fever_y = panel(10.0, 35.0, 41.0, crate::alerts::FEVER_ALERT);
    let spo2_y = panel(140.0, 85.0, 100.0, crate::alerts::SPO2_ALERT as f64);
    let first = list
        .first()
        .and_then(|o| o["observed_at"].as_str())
        .map(local_time)
        .unwrap_or_default();
    let last = list
        .last()
        .and_then(|o| o["observed_at"].as_str())
        .map(local_time)
        .unwrap_or_default();
    html! {
        svg.chart viewBox="0 0 640 270" role="img" aria-label=(t(lang, "obs.chart")) {
            text x="4" y="20" class="axis" { "℃" }
            text x="4" y="150" class="axis" { "SpO2" }
            rect x=(PAD) y="10" width=(W - 2.0 * PAD) height="100" class="panel" {}
            rect x=(PAD) y="140" width=(W - 2.0 * PAD) height="100" class="panel" {}
            line x1=(PAD) x2=(W - PAD) y1=(fever_y) y2=(fever_y) class="threshold" {}
            line x1=(PAD) x2=(W - PAD) y1=(spo2_y) y2=(spo2_y) class="threshold" {}
            text x=(W - PAD + 4.0) y=(fever_y + 4.0) class="axis" { "37.5" }
            text x=(W - PAD + 4.0) y=(spo2_y + 4.0) class="axis" { "93" }
            path d=(path(&temp)) class="temp" {}
            path d=(path(&spo2)) class="spo2" {}
            @for (a, b) in &temp { circle cx=(format!("{a:.1}")) cy=(format!("{b:.1}")) r="3" class="temp" {} }
            @for (a, b) in &spo2 { circle cx=(format!("{a:.1}")) cy=(format!("{b:.1}")) r="3" class="spo2" {} }
            text x=(PAD) y="262" class="axis" { (first) }
            text x=(W - PAD) y="262" class="axis end" { (last) }
        }
    }
}

/// Bars of daily counts, oldest first, labelled every seventh day.
pub fn daily_bars(label: &str, days: &[(String, i64)]) -> Markup {
    let max = days.iter().map(|(_, c)| *c).max().unwrap_or(0).max(1) as f64;
    let n = days.len().max(1) as f64;
    let bw = (W - 2.0 * PAD) / n;
    html! {
        svg.chart viewBox="0 0 640 220" role="img" aria-label=(label) {
            text x="4" y="20" class="axis" { (max as i64) }
            line x1=(PAD) x2=(W - PAD) y1="190" y2="190" class="axis-line" {}
            @for (i, (day, count)) in days.iter().enumerate() {
                @let h = *count as f64 / max * 170.0;
                rect x=(format!("{:.1}", PAD + bw * i as f64 + 1.0)) y=(format!("{:.1}", 190.0 - h)) width=(format!("{:.1}", (bw - 2.0).max(1.0))) height=(format!("{h:.1}")) class="bar" {
                    title { (day) ": " (count) }
                }
                @if i % 7 == 0 || i + 1 == days.len() {
                    text x=(format!("{:.1}", PAD + bw * i as f64)) y="208" class="axis" { (day.get(5..).unwrap_or(day)) }
                }
            }
        }
    }
}
