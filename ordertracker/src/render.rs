//! Tables for people, JSON for scripts.

use crate::history::Execution;
use crate::ops::{
    DlqMessage, Failure, OrderView, RedriveOutcome, ReportFormat, RetryOutcome, StuckOrder,
    UNKNOWN_EXPRESS,
};
use chrono::{DateTime, Utc};
use comfy_table::{ContentArrangement, Table};
use order_core::audit::AuditEntry;
use serde::Serialize;
use serde_json::Value;

fn print_json(value: &impl Serialize) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(value)
        .map_err(|e| Failure::Failed(format!("encoding JSON: {e}")))?;
    println!("{text}");
    Ok(())
}

fn table(header: &[&str]) -> Table {
    let mut table = Table::new();
    table.load_preset(comfy_table::presets::ASCII_BORDERS_ONLY_CONDENSED);
    table.set_content_arrangement(ContentArrangement::Dynamic);
    table.set_header(header.iter().copied());
    table
}

fn time(t: &DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M:%S%.3f").to_string()
}

fn opt_time(t: Option<&DateTime<Utc>>) -> String {
    t.map_or_else(|| "-".into(), time)
}

fn short(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_owned()
    } else {
        format!("{}…", text.chars().take(max).collect::<String>())
    }
}

pub fn show(view: &OrderView, json: bool) -> Result<(), Failure> {
    if json {
        return print_json(view);
    }
    let o = &view.order;
    println!("Order {}  ({})", o.order_id, o.user_id);
    println!(
        "  status {}{}   total {}   created {}   updated {}",
        o.status.as_str(),
        o.reason
            .as_deref()
            .map(|r| format!(" ({r})"))
            .unwrap_or_default(),
        o.total,
        time(&o.created_at),
        time(&o.updated_at)
    );
    if let Some(at) = &o.cancel_requested_at {
        println!("  cancellation requested at {}", time(at));
    }
    let mut lines = table(&["sku", "name", "qty", "unit", "line total"]);
    for l in &o.lines {
        lines.add_row(vec![
            l.sku.to_string(),
            l.name.clone(),
            l.quantity.to_string(),
            l.unit_price.to_string(),
            l.line_total.to_string(),
        ]);
    }
    println!("\nLines\n{lines}");
    let mut milestones = table(&["milestone", "at"]);
    for m in &o.timeline {
        milestones.add_row(vec![
            serde_json::to_value(m.step)
                .ok()
                .and_then(|v| v.as_str().map(str::to_owned))
                .unwrap_or_default(),
            time(&m.at),
        ]);
    }
    println!("\nOrder milestones\n{milestones}");
    match &view.payment {
        Some(p) if p.status == order_core::billing::PaymentStatus::Voided => println!(
            "\nPayment: Voided (nothing was charged; a late charge is refused) at {}",
            time(&p.updated_at)
        ),
        Some(p) => println!(
            "\nPayment: {:?} {} (charged {}, updated {})",
            p.status,
            p.amount,
            time(&p.created_at),
            time(&p.updated_at)
        ),
        None => println!("\nPayment: none"),
    }
    match &view.reservation {
        Some(r) => println!(
            "Reservation: {:?} {} (created {}, updated {})",
            r.status,
            r.lines
                .iter()
                .map(|l| format!("{} x{}", l.sku, l.quantity))
                .collect::<Vec<_>>()
                .join(", "),
            time(&r.created_at),
            time(&r.updated_at)
        ),
        None => println!("Reservation: none"),
    }
    if view.notifications.is_empty() {
        println!("Notifications: none");
    } else {
        let mut notes = table(&["event", "channel", "address", "sent", "text"]);
        for n in &view.notifications {
            notes.add_row(vec![
                n.event_type.to_string(),
                n.channel.to_string(),
                n.address.clone(),
                time(&n.sent_at),
                n.text.clone(),
            ]);
        }
        println!("Notifications\n{notes}");
    }
    if view.audit.is_empty() {
        match &view.audit_note {
            Some(note) => println!("Audit trail: no audit entries ({note})"),
            None => println!("Audit trail: no audit entries"),
        }
    } else {
        println!("\nAudit trail\n{}", audit_table(&view.audit, false));
    }
    if let Some(why) = &view.executions_unknown {
        println!("\nSaga: execution {UNKNOWN_EXPRESS}: {why}");
    } else if view.executions.is_empty() {
        println!("\nSaga: no execution (the saga never started)");
    }
    for e in &view.executions {
        print_execution(e);
    }
    Ok(())
}

fn print_execution(e: &Execution) {
    println!(
        "\nSaga execution {}: {} (started {}, stopped {})",
        e.name,
        e.status,
        opt_time(e.start.as_ref()),
        opt_time(e.stop.as_ref())
    );
    if let (Some(error), cause) = (&e.error, &e.cause) {
        println!(
            "  ended with {error}: {}",
            short(cause.as_deref().unwrap_or_default(), 200)
        );
    }
    let mut steps = table(&[
        "step", "start", "end", "duration", "attempts", "error", "cause",
    ]);
    for s in &e.steps {
        steps.add_row(vec![
            s.step.clone(),
            time(&s.start),
            opt_time(s.end.as_ref()),
            s.duration_ms
                .map_or_else(|| "running".into(), |ms| format!("{ms} ms")),
            if s.attempts == 0 {
                "-".into()
            } else {
                s.attempts.to_string()
            },
            s.error.clone().unwrap_or_default(),
            short(s.cause.as_deref().unwrap_or_default(), 80),
        ]);
    }
    println!("{steps}");
}

pub fn stuck(rows: &[StuckOrder], older_than: chrono::Duration, json: bool) -> Result<(), Failure> {
    if json {
        return print_json(&rows);
    }
    if rows.is_empty() {
        println!(
            "No unfinished orders older than {} minutes.",
            older_than.num_minutes()
        );
        return Ok(());
    }
    let mut t = table(&[
        "order",
        "user",
        "status",
        "age (min)",
        "execution",
        "stopped at",
    ]);
    for r in rows {
        t.add_row(vec![
            r.order_id.to_string(),
            r.user_id.clone(),
            format!(
                "{}{}",
                r.status.as_str(),
                if r.cancel_requested {
                    " (cancel requested)"
                } else {
                    ""
                }
            ),
            r.age_minutes.to_string(),
            r.execution.clone(),
            r.stopped_at.clone(),
        ]);
    }
    println!("{t}");
    println!(
        "{} unfinished order(s). `ordertracker show ORDER_ID` explains one, `ordertracker retry ORDER_ID` repairs it.",
        rows.len()
    );
    Ok(())
}

pub fn retry(outcome: &RetryOutcome, json: bool) -> Result<(), Failure> {
    if json {
        return print_json(outcome);
    }
    println!(
        "Order {}: {} -> {}",
        outcome.order_id,
        outcome.before.as_str(),
        outcome.after.as_str()
    );
    println!("  {}", outcome.action);
    if let Some(c) = &outcome.compensation {
        println!(
            "  refunded now: {}, released now: {}, cancelled now: {} (OrderCancelled announced)",
            c.refunded, c.released, c.cancelled
        );
    }
    Ok(())
}

pub fn dlq_list(messages: &[DlqMessage], json: bool) -> Result<(), Failure> {
    if json {
        return print_json(&messages);
    }
    if messages.is_empty() {
        println!("The queue is empty.");
        return Ok(());
    }
    let mut t = table(&["message", "kind", "order", "details"]);
    for m in messages {
        let details = m
            .body
            .get("failedCompensation")
            .or_else(|| m.body.get("error"))
            .map(Value::to_string)
            .unwrap_or_else(|| m.body.to_string());
        t.add_row(vec![
            m.message_id.clone(),
            m.kind.clone(),
            m.order_id.clone().unwrap_or_else(|| "-".into()),
            short(&details, 80),
        ]);
    }
    println!("{t}");
    println!("{} message(s).", messages.len());
    Ok(())
}

pub fn redrive(outcome: &RedriveOutcome, json: bool) -> Result<(), Failure> {
    if json {
        print_json(outcome)?;
    } else {
        println!(
            "Replayed {} message(s), {} failed.",
            outcome.replayed, outcome.failed
        );
        for f in &outcome.failures {
            println!("  {f}");
        }
    }
    if outcome.failed > 0 {
        return Err(Failure::Failed(format!(
            "{} message(s) could not be replayed; they stay in the queue",
            outcome.failed
        )));
    }
    Ok(())
}

/// Audit entries as a table: what changed, by whom and why, before → after.
fn audit_table(entries: &[AuditEntry], with_subject: bool) -> Table {
    let mut header = vec!["at", "action"];
    if with_subject {
        header.push("subject");
    }
    header.extend(["actor", "reason", "before → after", "correlation id"]);
    let mut t = table(&header);
    let compact = |v: &Value| match v {
        Value::Null => "-".to_owned(),
        other => other.to_string(),
    };
    for e in entries {
        let mut row = vec![e.at.clone(), e.action.as_str().to_owned()];
        if with_subject {
            row.push(e.subject.clone());
        }
        let actor = match &e.actor_id {
            Some(id) => format!("{} {id}", e.actor.as_str()),
            None => e.actor.as_str().to_owned(),
        };
        row.extend([
            actor,
            e.reason.clone(),
            format!("{} → {}", compact(&e.before), compact(&e.after)),
            e.correlation_id.clone().unwrap_or_default(),
        ]);
        t.add_row(row);
    }
    t
}

pub fn report(entries: &[AuditEntry], format: ReportFormat) -> Result<(), Failure> {
    match format {
        ReportFormat::Json => print_json(&entries),
        // The same columns and quoting as `GET /admin/audit?format=csv`.
        ReportFormat::Csv => {
            let csv = order_core::audit::to_csv(entries, true)
                .map_err(|e| Failure::Failed(e.to_string()))?;
            print!("{csv}");
            Ok(())
        }
        ReportFormat::Table => {
            if entries.is_empty() {
                println!("No audit entries in that period.");
            } else {
                println!("{}", audit_table(entries, true));
                println!("{} entries.", entries.len());
            }
            Ok(())
        }
    }
}
