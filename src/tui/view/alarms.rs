//! Alarm list across substations (ISA-18.2: an alarm stays until returned to normal and
//! acknowledged), with the alarm KPIs of the window in its header.

use crate::model::{Alert, AlertRule, Priority};
use crate::tui::app::{AlarmState, Alarm, App};
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

fn short_priority(p: Priority) -> &'static str {
    match p {
        Priority::Low => "low",
        Priority::Medium => "med",
        Priority::High => "high",
        Priority::Critical => "crit",
    }
}

/// The KPI line of the alarms held in the window (ISA-18.2 / EEMUA 191 figures).
pub fn kpi_line(app: &App) -> String {
    let k = app.alarm_kpis();
    let prio = |p: Priority| k.by_priority.get(&p).copied().unwrap_or(0);
    format!(
        " {}: {:.1}/h avg, peak {}/10min, flood {:.0}%, chatter {}, stale {}, prio C{} H{} M{} L{}",
        app.cursor.zoom.label(),
        k.per_hour_avg,
        k.per_10min_peak,
        k.flood_share * 100.0,
        k.chattering,
        k.stale,
        prio(Priority::Critical),
        prio(Priority::High),
        prio(Priority::Medium),
        prio(Priority::Low),
    )
}

/// Who did what to the selected alarm, from its stored operator state.
fn operator_note(app: &App, a: &Alarm) -> String {
    let when = |t: Option<chrono::DateTime<chrono::Utc>>| t.map(|t| t.format("%m-%d %H:%M").to_string()).unwrap_or_default();
    let theme = app.theme();
    match a.state() {
        AlarmState::OutOfService => app
            .site_state(&a.alert.location)
            .map(|s| format!(" out of service by {} {}: {};", theme.text(&s.by), when(s.at), theme.text(&s.reason)))
            .unwrap_or_default(),
        AlarmState::Shelved => match app.rule_state(&a.alert).filter(|s| s.is_shelved(app.now)) {
            Some(s) => format!(" shelved until {} by {};", when(s.shelved_until), theme.text(&s.by)),
            None => format!(" shelved for chattering until {};", when(a.alert.shelved_until)),
        },
        AlarmState::Acknowledged => app
            .rule_state(&a.alert)
            .map(|s| format!(" acked by {} {};", theme.text(&s.by), when(s.at)))
            .unwrap_or_default(),
        _ => String::new(),
    }
}

pub fn render(app: &App, frame: &mut Frame, area: Rect) {
    let theme = app.theme();
    let [summary, kpis, table_area, footer] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Length(1),
        Constraint::Min(0),
        Constraint::Length(1),
    ])
    .areas(area);
    let list = app.visible_alarms();
    let count = |f: &dyn Fn(AlarmState) -> bool| app.alarms.iter().filter(|a| f(a.state())).count();
    let mut head = format!(
        " {} alarms: {} unack, {} rtn-unack, {} acked, {} shelved, {} oos",
        app.alarms.len(),
        count(&|s| s == AlarmState::Unacknowledged),
        count(&|s| s == AlarmState::ReturnedUnacknowledged),
        count(&|s| s == AlarmState::Acknowledged),
        count(&|s| s == AlarmState::Shelved),
        count(&|s| s == AlarmState::OutOfService),
    );
    if app.alarms_dropped > 0 {
        head.push_str(&format!(" ({} old dropped)", app.alarms_dropped));
    }
    frame.render_widget(Paragraph::new(head).style(theme.title()), summary);
    frame.render_widget(Paragraph::new(kpi_line(app)).style(theme.dim()), kpis);

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
            let prio = theme.status_style(a.alert.priority.status());
            let state_style = match st {
                AlarmState::Unacknowledged => prio,
                AlarmState::ReturnedUnacknowledged => theme.title(),
                AlarmState::Shelved | AlarmState::OutOfService => theme.dim(),
                AlarmState::Acknowledged | AlarmState::Normal => ratatui::style::Style::new(),
            };
            let t = a.alert.activated_at;
            let time = if wide { t.format("%m-%d %H:%M") } else { t.format("%H:%M") };
            Row::new(vec![
                Cell::from(st.label()).style(state_style),
                Cell::from(short_priority(a.alert.priority)).style(prio),
                Cell::from(theme.text(&a.name).into_owned()),
                Cell::from(short_rule(a.alert.rule)),
                Cell::from(time.to_string()),
                Cell::from(format!("{:>9}", fmt_value(&a.alert))),
            ])
        });
        let widths = [
            Constraint::Length(9),
            Constraint::Length(4),
            Constraint::Fill(1),
            Constraint::Length(9),
            Constraint::Length(if wide { 11 } else { 5 }),
            Constraint::Length(9),
        ];
        let table = Table::new(rows, widths)
            .header(Row::new(["State", "Pri", "Substation", "Rule", "Activated", "Value"]).style(theme.header()))
            .row_highlight_style(theme.selected())
            .highlight_symbol("> ")
            .highlight_spacing(HighlightSpacing::Always);
        let mut state = TableState::default().with_selected(sel.and_then(|i| i.checked_sub(offset)));
        frame.render_stateful_widget(table, table_area, &mut state);
    }

    // The selected alarm's operator state and details, including its (sanitized) message.
    let detail = app
        .alarm_selected
        .as_ref()
        .and_then(|id| list.iter().find(|a| &a.id == id))
        .map(|a| {
            format!(
                "{} {} until {}, {} samples, limit {}: {}",
                operator_note(app, a),
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
