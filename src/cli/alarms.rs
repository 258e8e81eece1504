//! `gridwatch alarms`: the alarm list with ISA-18.2 states, operator actions
//! (acknowledge, shelve, unshelve, out of service, return to service) and the alarm KPIs,
//! on the local backend or on AWS — the same calls the dashboard makes.

use super::settings::Settings;
use super::time_arg::parse_time;
use crate::analysis::kpi;
use crate::backend::GridStore;
use crate::model::{format_ts, Alert, AlertRule};
use crate::sanitize::sanitize_for_terminal;
use crate::store::operator::{alarm_state, ActionKind, OperatorAction, OperatorState};
use anyhow::{bail, Result};
use chrono::{DateTime, Duration, Utc};
use clap::{Args, Subcommand};
use std::path::PathBuf;

#[derive(Args, Debug)]
pub struct AlarmsArgs {
    #[command(subcommand)]
    pub command: AlarmsCommand,
    #[command(flatten)]
    pub backend: super::aws_args::BackendArgs,
    /// Who is acting (recorded with each action). Default: $GRIDWATCH_OPERATOR, else $USER@host.
    #[arg(long, global = true)]
    pub by: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum AlarmsCommand {
    /// Alarms still in the list (active, or returned but not acknowledged), with their state.
    List {
        /// Alarms that were active at or after this time (default: 7 days before the newest one).
        #[arg(long, value_parser = parse_time)]
        since: Option<DateTime<Utc>>,
        /// Also alarms that returned to normal and were acknowledged.
        #[arg(long)]
        all: bool,
    },
    /// Acknowledge the newest alarm of a substation's rule (and every older one).
    Ack { location: String, rule: AlertRule },
    /// Shelve a rule at a substation for a while (it unshelves on its own).
    Shelve {
        location: String,
        rule: AlertRule,
        /// How long, in minutes (at most `[alarms] max_shelve_minutes`).
        #[arg(long, default_value_t = 60.0)]
        minutes: f64,
        #[arg(long, default_value = "")]
        reason: String,
    },
    Unshelve { location: String, rule: AlertRule },
    /// Take a substation out of service for maintenance: its alarms are stored, not announced.
    OutOfService {
        location: String,
        #[arg(long)]
        reason: String,
    },
    /// Return a substation to service.
    InService { location: String },
    /// The ISA-18.2 / EEMUA 191 KPIs of a time range.
    Kpi {
        #[arg(long, value_parser = parse_time)]
        from: Option<DateTime<Utc>>,
        #[arg(long, value_parser = parse_time)]
        to: Option<DateTime<Utc>>,
        /// As JSON instead of a table.
        #[arg(long)]
        json: bool,
    },
}

/// Who is acting: `--by`, else `$GRIDWATCH_OPERATOR`, else `$USER@host`.
pub fn operator_name(by: Option<&str>) -> String {
    if let Some(by) = by.filter(|b| !b.trim().is_empty()) {
        return by.trim().to_string();
    }
    if let Ok(op) = std::env::var("GRIDWATCH_OPERATOR")
        && !op.trim().is_empty()
    {
        return op.trim().to_string();
    }
    let user = std::env::var("USER").or_else(|_| std::env::var("LOGNAME")).unwrap_or_else(|_| "unknown".into());
    let host = std::fs::read_to_string("/etc/hostname").map(|h| h.trim().to_string()).unwrap_or_default();
    if host.is_empty() { user } else { format!("{user}@{host}") }
}

pub fn run(data_dir: &Option<PathBuf>, settings: &Settings, args: AlarmsArgs) -> Result<()> {
    let by = operator_name(args.by.as_deref());
    let max_shelve = settings.analysis.alarms.max_shelve_minutes;
    let flood = settings.analysis.alarms.flood_alarms_per_10min as usize;
    match args.backend.kind(&settings.aws) {
        super::aws_args::BackendKind::Local => {
            let backend = super::backends::open_local(data_dir, settings)?;
            let out = backend.block_on(execute(&backend, args.command, &by, max_shelve, flood))?;
            std::io::Write::write_all(&mut std::io::stdout(), out.as_bytes())?;
            Ok(())
        }
        super::aws_args::BackendKind::Aws => {
            let aws = args.backend.aws.resolve(&settings.aws);
            let out = super::aws_args::with_store(&aws, false, |store| async move {
                execute(store.as_ref(), args.command, &by, max_shelve, flood).await
            })?;
            std::io::Write::write_all(&mut std::io::stdout(), out.as_bytes())?;
            Ok(())
        }
    }
}

/// Runs one alarms command against any backend; returns what to print.
pub async fn execute(store: &dyn GridStore, command: AlarmsCommand, by: &str, max_shelve: f64, flood: usize) -> Result<String> {
    let now = Utc::now();
    let action = |location: &str, rule: Option<AlertRule>, kind: ActionKind, reason: &str| OperatorAction {
        location: location.to_string(),
        rule,
        kind,
        by: by.to_string(),
        at: now,
        reason: reason.to_string(),
    };
    let done = |state: OperatorState| Ok(format!("{}\n", describe_state(&state)));
    match command {
        AlarmsCommand::List { since, all } => {
            let alerts = store.alerts(since.unwrap_or(now - Duration::days(3650))).await?;
            let since = since.unwrap_or_else(|| alerts.iter().map(|a| a.ended_at).max().unwrap_or(now) - Duration::days(7));
            let ops = store.operator_states().await?;
            Ok(list(&alerts, &ops, since, all, now))
        }
        AlarmsCommand::Ack { location, rule } => {
            let alerts = store.alerts(now - Duration::days(3650)).await?;
            let Some(newest) = alerts.iter().filter(|a| a.location == location && a.rule == rule).max_by_key(|a| a.started_at) else {
                bail!("no {rule} alarm at {:?} to acknowledge", sanitize_for_terminal(&location));
            };
            done(store.operator_action(&action(&location, Some(rule), ActionKind::Acknowledge { started_at: newest.started_at }, "")).await?)
        }
        AlarmsCommand::Shelve { location, rule, minutes, reason } => {
            if !(minutes.is_finite() && minutes > 0.0) {
                bail!("--minutes must be a positive number");
            }
            if minutes > max_shelve {
                bail!("shelving for {minutes:.0} min is longer than the maximum of {max_shelve:.0} min ([alarms] max_shelve_minutes)");
            }
            let until = now + Duration::seconds((minutes * 60.0) as i64);
            done(store.operator_action(&action(&location, Some(rule), ActionKind::Shelve { until }, &reason)).await?)
        }
        AlarmsCommand::Unshelve { location, rule } => done(store.operator_action(&action(&location, Some(rule), ActionKind::Unshelve, "")).await?),
        AlarmsCommand::OutOfService { location, reason } => {
            done(store.operator_action(&action(&location, None, ActionKind::OutOfService, &reason)).await?)
        }
        AlarmsCommand::InService { location } => done(store.operator_action(&action(&location, None, ActionKind::ReturnToService, "")).await?),
        AlarmsCommand::Kpi { from, to, json } => {
            let all = store.alerts(from.unwrap_or(now - Duration::days(3650))).await?;
            let to = to.unwrap_or_else(|| all.iter().map(|a| a.activated_at).max().map_or(now, |t| t + Duration::seconds(1)));
            let from = from.unwrap_or_else(|| all.iter().map(|a| a.activated_at).min().unwrap_or(to - Duration::days(1)));
            if to <= from {
                bail!("--to must be after --from");
            }
            let k = kpi::compute(&all, from, to, flood);
            if json {
                return Ok(serde_json::to_string_pretty(&k)? + "\n");
            }
            Ok(kpi_table(&k))
        }
    }
}

fn describe_state(s: &OperatorState) -> String {
    let target = match s.rule {
        Some(rule) => format!("{} {rule}", sanitize_for_terminal(&s.location)),
        None => sanitize_for_terminal(&s.location),
    };
    let mut parts = Vec::new();
    if let Some(t) = s.acked_through {
        parts.push(format!("acknowledged through {}", format_ts(t)));
    }
    if let Some(until) = s.shelved_until {
        parts.push(format!("shelved until {}", format_ts(until)));
    }
    if s.out_of_service {
        parts.push("out of service".to_string());
    }
    let at = s.at.map(format_ts).unwrap_or_default();
    format!("{target}: {} (by {} at {at}{})", if parts.is_empty() { "normal".into() } else { parts.join(", ") }, sanitize_for_terminal(&s.by),
        if s.reason.is_empty() { String::new() } else { format!(": {}", sanitize_for_terminal(&s.reason)) })
}

fn list(alerts: &[Alert], ops: &[OperatorState], since: DateTime<Utc>, all: bool, now: DateTime<Utc>) -> String {
    let mut rows: Vec<(&Alert, crate::store::operator::AlarmState)> = alerts
        .iter()
        .filter(|a| a.ended_at >= since)
        .map(|a| {
            let rule_state = ops.iter().find(|s| s.location == a.location && s.rule == Some(a.rule));
            let site = ops.iter().find(|s| s.location == a.location && s.rule.is_none());
            (a, alarm_state(a, rule_state, site, now))
        })
        .filter(|(_, st)| all || *st != crate::store::operator::AlarmState::Normal)
        .collect();
    rows.sort_by_key(|r| std::cmp::Reverse((r.0.priority, r.0.activated_at)));
    let mut out = format!("{:<10} {:<8} {:<20} {:<20} {:<20} {}\n", "STATE", "PRIORITY", "SUBSTATION", "RULE", "ACTIVATED", "MESSAGE");
    for (a, st) in &rows {
        out.push_str(&format!(
            "{:<10} {:<8} {:<20} {:<20} {:<20} {}\n",
            st.label(),
            a.priority.as_str(),
            sanitize_for_terminal(&a.location),
            a.rule.as_str(),
            format_ts(a.activated_at),
            sanitize_for_terminal(&a.message)
        ));
    }
    out.push_str(&format!("{} alarm(s)\n", rows.len()));
    out
}

pub fn kpi_table(k: &kpi::AlarmKpis) -> String {
    let mut out = format!("alarm KPIs {} .. {}: {} alarms\n", format_ts(k.from), format_ts(k.to), k.alarms);
    out.push_str(&format!("{:<28} {:>10}  {:<26} {}\n", "figure", "value", "target (EEMUA 191)", "verdict"));
    for f in &k.figures {
        let value = if f.name.contains("share") || f.name.contains("flood") { format!("{:.2} %", f.value * 100.0) } else { format!("{:.2}", f.value) };
        out.push_str(&format!("{:<28} {:>10}  {:<26} {}\n", f.name, value, f.target, f.verdict));
    }
    let mix: Vec<String> = k.by_priority.iter().map(|(p, n)| format!("{p} {n}")).collect();
    out.push_str(&format!("priority mix: {}\n", mix.join(", ")));
    out.push_str(&format!("per hour: average {:.2}, peak {}; per 10 min: average {:.3}, peak {}\n", k.per_hour_avg, k.per_hour_peak, k.per_10min_avg, k.per_10min_peak));
    out.push_str("top bad actors:\n");
    for t in &k.top10 {
        out.push_str(&format!("  {:<24} {:<20} {}\n", sanitize_for_terminal(&t.location), t.rule.as_str(), t.alarms));
    }
    out
}
