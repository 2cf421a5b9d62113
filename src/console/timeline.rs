//! A session's statements on one time axis: each statement a bar from its start to its end (to
//! now while it runs), coloured by how it ended, as one SVG drawn here. Rows are newest last;
//! statements that never started have no bar. Text in it is XML-escaped.

use super::cost::{escape, truncate};
use crate::sessions::model::{Statement, StatementState};
use std::fmt::Write;

/// Statements drawn at most (the newest).
const MAX_ROWS: usize = 60;
const WIDTH: f64 = 640.0;
const LABEL: f64 = 56.0;
const ROW: f64 = 18.0;

/// How a statement ended (or that it has not), as its bar shows it.
fn colour(statement: &Statement) -> (&'static str, &'static str) {
    let failed = statement
        .output
        .as_ref()
        .is_some_and(|o| o.error_name.is_some() || o.status == "error");
    match statement.state {
        StatementState::Available if failed => ("#b3261e", "error"),
        StatementState::Available => ("#127a3a", "ok"),
        StatementState::Error => ("#b3261e", "error"),
        StatementState::Cancelled | StatementState::Cancelling => ("#8a8f99", "cancelled"),
        StatementState::Running => ("#e08a2c", "running"),
        StatementState::Waiting => ("#c9ccd3", "waiting"),
    }
}

/// Start and end of a statement's bar, if it started.
fn span(statement: &Statement, now_ms: i64) -> Option<(i64, i64)> {
    (statement.started_ms > 0).then(|| {
        let end = if statement.completed_ms > 0 {
            statement.completed_ms
        } else {
            now_ms
        };
        (statement.started_ms, end.max(statement.started_ms))
    })
}

fn seconds(ms: i64) -> String {
    format!("{:.1} s", ms as f64 / 1000.0)
}

/// The timeline of `statements` (in id order) at `now_ms`.
pub fn svg(statements: &[Statement], now_ms: i64) -> String {
    let shown = &statements[statements.len().saturating_sub(MAX_ROWS)..];
    let spans: Vec<(i64, i64)> = shown.iter().filter_map(|s| span(s, now_ms)).collect();
    let start = spans.iter().map(|s| s.0).min().unwrap_or(now_ms);
    let end = spans.iter().map(|s| s.1).max().unwrap_or(now_ms);
    let total = (end - start).max(1);
    let scale = (WIDTH - LABEL - 8.0) / total as f64;
    let height = 34.0 + ROW * shown.len().max(1) as f64;
    let mut out = String::new();
    let _ = write!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" width="100%" font-family="system-ui, sans-serif" role="img" aria-label="Statement timeline">"#
    );
    let _ = write!(
        out,
        r#"<text x="0" y="13" font-size="13">Statements over {} (green ok, red error, grey cancelled, orange running)</text>"#,
        seconds(total)
    );
    if shown.is_empty() {
        let _ = write!(
            out,
            r#"<text x="0" y="34" font-size="12">No statements yet.</text>"#
        );
    }
    for (row, statement) in shown.iter().enumerate() {
        let y = 22.0 + ROW * row as f64;
        let _ = write!(
            out,
            r#"<text x="0" y="{:.0}" font-size="12">#{}</text>"#,
            y + 12.0,
            statement.id
        );
        let Some((from, to)) = span(statement, now_ms) else {
            continue;
        };
        let (fill, outcome) = colour(statement);
        let x = LABEL + (from - start) as f64 * scale;
        let w = ((to - from) as f64 * scale).max(2.0);
        let first_line = statement.code.lines().next().unwrap_or_default();
        let _ = write!(
            out,
            r#"<rect class="statement {outcome}" data-id="{}" x="{x:.1}" y="{y:.1}" width="{w:.1}" height="{:.0}" fill="{fill}"><title>#{} {}: {} — {}</title></rect>"#,
            statement.id,
            ROW - 4.0,
            statement.id,
            statement.state.as_str(),
            seconds(to - from),
            escape(&truncate(first_line, 60)),
        );
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sessions::model::StatementOutput;

    fn statement(id: i64, state: StatementState, started: i64, completed: i64) -> Statement {
        Statement {
            id,
            code: format!("<script>x{id}</script>\nsecond line"),
            state,
            output: None,
            progress: 0.0,
            started_ms: started,
            completed_ms: completed,
        }
    }

    #[test]
    fn bars_are_placed_on_one_axis_and_coloured_by_outcome() {
        let mut failed = statement(1, StatementState::Available, 3_000, 4_000);
        failed.output = Some(StatementOutput {
            status: "error".into(),
            text: String::new(),
            error_name: Some("ZeroDivisionError".into()),
            error_value: None,
            traceback: vec![],
            picture: None,
        });
        let statements = [
            statement(0, StatementState::Available, 1_000, 3_000),
            failed,
            statement(2, StatementState::Running, 4_000, 0),
            statement(3, StatementState::Waiting, 0, 0),
        ];
        let svg = svg(&statements, 5_000);
        // 4 s from the first start to now; the first bar starts at the label edge and takes half.
        assert!(svg.contains("over 4.0 s"));
        assert!(svg.contains(r#"class="statement ok" data-id="0" x="56.0""#));
        assert!(svg.contains(&format!(r#"width="{:.1}""#, (WIDTH - LABEL - 8.0) / 2.0)));
        assert!(svg.contains(r#"class="statement error" data-id="1""#));
        assert!(svg.contains(r#"class="statement running" data-id="2""#));
        assert!(
            !svg.contains(r#"data-id="3""#),
            "a waiting statement has no bar yet"
        );
        assert!(svg.contains("&lt;script&gt;x0&lt;/script&gt;") && !svg.contains("<script>"));
        assert!(!svg.contains("second line"));
    }

    #[test]
    fn an_empty_session_still_draws() {
        let svg = svg(&[], 1_000);
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("No statements yet."));
    }
}
