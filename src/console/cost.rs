//! "What did this cost": DPU-seconds per day over the last 30 days and per session, as one SVG
//! drawn here (no chart library in the browser). Text in it is XML-escaped.

use crate::sessions::model::Session;
use std::fmt::Write;

/// Days shown.
pub const DAYS: usize = 30;
/// Sessions shown in the per-session bars (the most expensive ones).
const TOP_SESSIONS: usize = 10;
const DAY_MS: i64 = 86_400_000;

pub(super) fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// DPU-seconds per UTC day, oldest first, ending with today; a session counts on the day it
/// became READY.
pub fn per_day(sessions: &[Session], now_ms: i64) -> Vec<f64> {
    let today = now_ms.div_euclid(DAY_MS);
    let mut days = vec![0.0; DAYS];
    for session in sessions {
        let Some(ready) = session.ready_ms else {
            continue;
        };
        let age = today - ready.div_euclid(DAY_MS);
        if (0..DAYS as i64).contains(&age) {
            days[DAYS - 1 - age as usize] += session.dpu_seconds(now_ms);
        }
    }
    days
}

/// The chart: bars per day on top, the costliest sessions of the 30 days below.
pub fn svg(sessions: &[Session], now_ms: i64) -> String {
    let days = per_day(sessions, now_ms);
    let since = now_ms - DAYS as i64 * DAY_MS;
    let mut top: Vec<(&str, f64)> = sessions
        .iter()
        .filter(|s| s.ready_ms.is_some_and(|r| r >= since))
        .map(|s| (s.id.as_str(), s.dpu_seconds(now_ms)))
        .collect();
    top.sort_by(|a, b| b.1.total_cmp(&a.1));
    top.truncate(TOP_SESSIONS);

    let (width, day_height) = (640.0, 160.0);
    let height = day_height + 60.0 + 22.0 * top.len() as f64;
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" width="100%" font-family="system-ui, sans-serif" role="img" aria-label="DPU-seconds per day and per session">"#
    );
    let total: f64 = days.iter().sum();
    let _ = write!(
        out,
        r#"<text x="0" y="14" font-size="13">DPU-seconds per day, last {DAYS} days (total {total:.0})</text>"#
    );
    let max = days.iter().copied().fold(0.0, f64::max).max(1.0);
    let bar = width / DAYS as f64;
    for (i, dpu) in days.iter().enumerate() {
        let h = dpu / max * (day_height - 30.0);
        let x = i as f64 * bar;
        let y = day_height - h;
        let _ = write!(
            out,
            r##"<rect class="day" x="{x:.1}" y="{y:.1}" width="{:.1}" height="{h:.1}" fill="#3b7dd8"><title>{} days ago: {dpu:.0} DPU-s</title></rect>"##,
            bar - 2.0,
            DAYS - 1 - i
        );
    }
    let _ = write!(
        out,
        r#"<text x="0" y="{:.0}" font-size="13">Costliest sessions</text>"#,
        day_height + 40.0
    );
    let max = top.first().map_or(1.0, |t| t.1.max(1.0));
    for (i, (id, dpu)) in top.iter().enumerate() {
        let y = day_height + 50.0 + 22.0 * i as f64;
        let w = dpu / max * (width - 260.0);
        let _ = write!(
            out,
            r##"<text x="0" y="{:.0}" font-size="12">{}</text><rect class="session" x="200" y="{y:.0}" width="{w:.1}" height="16" fill="#e08a2c"/><text x="{:.0}" y="{:.0}" font-size="12">{dpu:.0}</text>"##,
            y + 12.0,
            escape(&truncate(id, 28)),
            204.0 + w,
            y + 12.0
        );
    }
    out.push_str("</svg>");
    out
}

pub(super) fn truncate(text: &str, chars: usize) -> String {
    match text.char_indices().nth(chars) {
        Some((at, _)) => format!("{}…", &text[..at]),
        None => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sessions::model::{SessionStatus, Tenant};

    fn session(id: &str, ready_ms: i64, seconds: i64, capacity: f64) -> Session {
        Session {
            key: 1,
            tenant: Tenant {
                account: "111111111111".into(),
                region: "us-east-1".into(),
            },
            id: id.into(),
            spec_json: "{}".into(),
            timeout: 60,
            max_capacity: capacity,
            status: SessionStatus::Stopped,
            error_message: None,
            created_ms: ready_ms,
            ready_ms: Some(ready_ms),
            completed_ms: Some(ready_ms + seconds * 1000),
            last_activity_ms: ready_ms,
            owner: Default::default(),
            home_node: None,
        }
    }

    #[test]
    fn days_add_up_and_old_sessions_fall_off() {
        let now = 100 * DAY_MS + 1000;
        let sessions = [
            session("today", now - 500, 120, 2.0),
            session("yesterday", now - DAY_MS, 60, 5.0),
            session("ancient", now - 40 * DAY_MS, 600, 5.0),
        ];
        let days = per_day(&sessions, now);
        assert_eq!(days[DAYS - 1], 240.0);
        assert_eq!(days[DAYS - 2], 300.0);
        assert_eq!(days.iter().sum::<f64>(), 540.0);
        let svg = svg(&[session("<b>x</b>", now, 60, 1.0)], now);
        assert!(svg.contains("&lt;b&gt;x&lt;/b&gt;") && !svg.contains("<b>"));
    }
}
