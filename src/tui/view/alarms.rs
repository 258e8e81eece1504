//! Alarm list across substations (ISA-18.2: an alarm stays until cleared and acknowledged).

use crate::model::{Alert, AlertRule};
use crate::tui::app::{AlarmState, App};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::widgets::{Cell, HighlightSpacing, Paragraph, Row, Table, TableState};

/// The worst value with its unit, e.g. "13.21 kV", "0.071 Hz", "1.02".
pub fn fmt_value(a: &Alert) -> String {
    match a.rule {
        AlertRule::Undervoltage | AlertRule::Overvoltage => format!("{:.2} kV", a.worst_value),
        AlertRule::FrequencyDeviation => format!("{:.3} Hz", a.worst_value),
        AlertRule::Overload => format!("{:.2}", a.worst_value),
        AlertRule::LowStability => format!("{:.3}", a.worst_value),
        AlertRule::NoData => format!("{:.0} min", a.worst_value),
        AlertRule::RejectedRows => format!("{:.1} %", a.worst_value * 100.0),
    }
}

fn short_rule(r: AlertRule) -> &'static str {
    match r {
        AlertRule::Undervoltage => "undervolt",
        AlertRule::Overvoltage => "overvolt",
        AlertRule::FrequencyDeviation => "freq dev",
        AlertRule::Overload => "overload",
        AlertRule::LowStability => "low stab",
        AlertRule::NoData => "no data",
        AlertRule::RejectedRows => "rejected",
    }
}

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let theme = app.theme();
    let [summary, table_area, footer] =
        Layout::vertical([Constraint::Length(1), Constraint::Min(0), Constraint::Length(1)]).areas(area);
    let list = app.visible_alarms();
    let count = |s: AlarmState| app.alarms.iter().filter(|a| a.state() == s).count();
    let mut head = format!(
        " {} alarms: {} active-unack, {} cleared-unack, {} active-ack",
        app.alarms.len(),
        count(AlarmState::ActiveUnack),
        count(AlarmState::ClearedUnack),
        count(AlarmState::ActiveAck)
    );
    if app.alarms_dropped > 0 {
        head.push_str(&format!(" ({} old cleared dropped)", app.alarms_dropped));
    }
    frame.render_widget(Paragraph::new(head).style(theme.title()), summary);

    if list.is_empty() {
        let msg = if app.alarms.is_empty() { " no alarms" } else { " no alarm matches the filter" };
        frame.render_widget(Paragraph::new(msg), table_area);
    } else {
        let wide = table_area.width >= 72;
        let rows_fit = table_area.height.saturating_sub(1) as usize;
        let sel = app.alarm_selected.as_ref().and_then(|id| list.iter().position(|a| &a.id == id));
        let offset = crate::tui::app::clamp_offset(app.alarm_offset, sel, rows_fit.max(1), list.len());
        let rows = list.iter().skip(offset).take(rows_fit).map(|a| {
            let st = a.state();
            let state_style = match st {
                AlarmState::ActiveUnack => theme.status_style(a.alert.status()),
                AlarmState::ClearedUnack => theme.title(),
                AlarmState::ActiveAck => ratatui::style::Style::new(),
            };
            let time = if wide { a.alert.started_at.format("%m-%d %H:%M") } else { a.alert.started_at.format("%H:%M") };
            Row::new(vec![
                Cell::from(st.label()).style(state_style),
                Cell::from(time.to_string()),
                Cell::from(theme.text(&a.name).into_owned()),
                Cell::from(theme.status_label(a.alert.status())).style(theme.status_style(a.alert.status())),
                Cell::from(short_rule(a.alert.rule)),
                Cell::from(format!("{:>9}", fmt_value(&a.alert))),
            ])
        });
        let widths = [
            Constraint::Length(13),
            Constraint::Length(if wide { 11 } else { 5 }),
            Constraint::Fill(1),
            Constraint::Length(6),
            Constraint::Length(9),
            Constraint::Length(9),
        ];
        let table = Table::new(rows, widths)
            .header(Row::new(["State", "Started", "Substation", "Sev", "Rule", "Worst"]).style(theme.header()))
            .row_highlight_style(theme.selected())
            .highlight_symbol("> ")
            .highlight_spacing(HighlightSpacing::Always);
        let mut state = TableState::default().with_selected(sel.and_then(|i| i.checked_sub(offset)));
        frame.render_stateful_widget(table, table_area, &mut state);
    }

    // The selected alarm's details, including its (sanitized) message.
    let detail = app
        .alarm_selected
        .as_ref()
        .and_then(|id| list.iter().find(|a| &a.id == id))
        .map(|a| {
            format!(
                " {} until {}, {} samples, limit {}: {}",
                a.alert.rule,
                a.alert.ended_at.format("%m-%d %H:%M"),
                a.alert.samples,
                a.alert.threshold,
                theme.text(&a.alert.message)
            )
        })
        .unwrap_or_default();
    frame.render_widget(Paragraph::new(detail).style(theme.dim()), footer);
}
