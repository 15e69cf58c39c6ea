//! The commented `runaway.toml` that `runaway init` writes: every suggestion with the finding
//! it comes from, every choice it leaves to the operator said in a comment. What it writes
//! passes `runaway check` as it stands.

use std::fmt::Write as _;

use chrono::{DateTime, SecondsFormat, Utc};

use crate::app::init::Findings;
use crate::core::starter::{Found, HISTORY_DAYS, count_limit, money, principal_name};

fn quoted(s: &str) -> String {
    toml::Value::from(s).to_string()
}

fn list(items: &[String]) -> String {
    let items: Vec<String> = items.iter().map(|s| quoted(s)).collect();
    format!("[{}]", items.join(", "))
}

fn number(x: f64) -> String {
    format!("{x:.1}")
}

/// The file. `discover`: the organisation was read; `member_role_name` its role.
pub fn render(
    f: &Findings,
    home_region: &str,
    discover: bool,
    member_role_name: &str,
    now: DateTime<Utc>,
) -> String {
    let mut t = String::new();
    let w = &mut t;
    let _ = writeln!(
        w,
        "# runaway.toml, written by `runaway init` at {} from what it read as\n\
         # {}, changing nothing in AWS.\n\
         #\n\
         # Every limit is a suggestion: twice what runs now (counts) or twice the steepest spending of\n\
         # the last {HISTORY_DAYS} days (money), rounded up to 1, 2 or 5 x 10^n, so that today's usage passes and a\n\
         # runaway does not. Read each comment, adjust, then run `runaway check`. Every key is in the\n\
         # book's configuration reference (docs/src/configuration.md).",
        now.to_rfc3339_opts(SecondsFormat::Secs, true),
        f.caller_arn
    );

    // [guard]
    let mut never: Vec<String> = principal_name(&f.caller_arn).into_iter().collect();
    for a in &f.accounts {
        never.extend(a.breakglass.iter().cloned());
    }
    never.sort();
    never.dedup();
    let _ = writeln!(
        w,
        "\n[guard]\n\
         home_region = {}\n\
         state_path = \"runaway.db\"        # the journal, beside this file\n\
         # check_every = \"5m\"              # how often `runaway serve` checks every region of every account\n\
         # grace_period = \"10m\"            # how long an alert waits for Halt now or Override before acting\n\
         exempt_tag = \"runaway:exempt\"     # instances tagged runaway:exempt=true are never touched",
        quoted(home_region)
    );
    let _ = writeln!(
        w,
        "# Never locked out: the identity that ran init (it is probably yours) and the IAM users and\n\
         # roles whose names say break-glass. The guard's own identity is never locked out anyway.\n\
         exempt_principals = {}\n\
         # lockout_policy_arn = \"arn:aws:iam::aws:policy/AWSDenyAll\"   # the default\n\
         # launch_deny_policy_arn = \"...\"   # the Terraform module's output; the block_launches action needs it",
        list(&never)
    );

    let _ = writeln!(
        w,
        "\n# runaway serve posts alerts to Slack and e-mails the notify list; `check`, `halt` and the\n\
         # other commands need neither. Fill in and uncomment (the book's \"Slack set-up\").\n\
         # [slack]\n\
         # channel = \"C0123456789\"\n\
         # approvers = [\"U0123456789\"]\n\
         #\n\
         # [notify]\n\
         # sns_topic_arn = \"arn:aws:sns:{home_region}:{}:runawaytrain\"   # the module's output",
        f.caller_account
    );

    if discover {
        org(w, f, member_role_name);
    }
    for a in &f.accounts {
        account(w, a);
    }
    t
}

fn org(w: &mut String, f: &Findings, member_role_name: &str) {
    if let Some(e) = &f.organization_error {
        let _ = writeln!(
            w,
            "\n# The organisation could not be listed ({e}), so only the accounts below are\n\
             # watched. Run init with the management account's credentials to discover the others."
        );
        return;
    }
    let reached: Vec<&Found> = f.accounts.iter().filter(|a| a.error.is_none()).collect();
    let highest = reached.iter().map(|a| a.running_total()).max().unwrap_or(0);
    let _ = writeln!(
        w,
        "\n# The organisation's accounts are read anew at every check: one that joins later is watched\n\
         # with [organization.defaults], through the member role, from the next check on.\n\
         [organization]\n\
         discover = true\n\
         member_role_name = {}\n\
         \n\
         [organization.defaults]\n\
         # The busiest account found runs {highest} instance(s) now: a new account gets its limit.\n\
         max_running_instances = {}",
        quoted(member_role_name),
        count_limit(highest)
    );
}

fn account(w: &mut String, a: &Found) {
    let how = match &a.role_arn {
        None => "with the ambient credentials".to_owned(),
        Some(r) => format!("through {r}"),
    };
    if let Some(e) = &a.error {
        let _ = writeln!(
            w,
            "\n# {} ({}) could not be reached {how}: {e}\n\
             # It is left out; with [organization] it is watched with the defaults once its role works.",
            a.id, a.name
        );
        return;
    }
    let _ = writeln!(
        w,
        "\n[[accounts]]\nid = \"{}\"\nname = {}",
        a.id,
        quoted(&a.name)
    );
    if let Some(r) = &a.role_arn {
        let _ = writeln!(w, "role_arn = {}", quoted(r));
    }
    let where_: Vec<String> = a.running.iter().map(|(r, n)| format!("{r} {n}")).collect();
    let total = a.running_total();
    let _ = writeln!(
        w,
        "# Reached {how}.\n\
         # {} enabled region(s), discovered again at every check (pin them with regions = [...]).\n\
         # Running now: {total} EC2 instance(s){}.",
        a.regions.len(),
        if where_.is_empty() {
            String::new()
        } else {
            format!(" ({})", where_.join(", "))
        }
    );
    let _ = writeln!(w, "max_running_instances = {}", count_limit(total));
    if !a.exempt_instances.is_empty() {
        let ids: Vec<String> = a
            .exempt_instances
            .iter()
            .map(|(r, i)| format!("{i} ({r})"))
            .collect();
        let _ = writeln!(
            w,
            "# Already exempt by their tag runaway:exempt=true, and never touched: {}.",
            ids.join(", ")
        );
    }
    if !a.counts.is_empty() {
        let now: Vec<String> = a.counts.iter().map(|(k, n)| format!("{k} {n}")).collect();
        let limits: Vec<String> = a
            .counts
            .iter()
            .map(|(k, n)| format!("{k} = {}", count_limit(*n)))
            .collect();
        let _ = writeln!(
            w,
            "# Beyond EC2, running now: {}.\nmax_running = {{ {} }}",
            now.join(", "),
            limits.join(", ")
        );
    }
    if !a.services.is_empty() {
        let mut all = vec!["ec2".to_owned()];
        all.extend(a.services.iter().map(|s| s.to_string()));
        let _ = writeln!(
            w,
            "# An incident stops EC2 instances only. To stop the rest too (never deleted; restore starts\n\
             # them again), uncomment:\n\
             # halt_services = {}",
            list(&all)
        );
    }
    match &a.charges {
        Ok(points) => match money(points) {
            Some(m) => {
                let _ = writeln!(
                    w,
                    "# Estimated charges: ${:.2} so far this month; over the last {HISTORY_DAYS} days ${:.2} an hour on\n\
                     # average, ${:.2} at the steepest {} h.\n\
                     max_estimated_charges_usd = {}\n\
                     max_spend_rate_usd_per_hour = {}\n\
                     spend_window = \"{}h\"   # AWS updates the estimate a few times a day: at least three updates",
                    m.month_to_date,
                    m.average_rate,
                    m.peak_rate,
                    crate::core::starter::SPEND_WINDOW_HOURS,
                    number(m.max_estimated_charges),
                    number(m.max_spend_rate),
                    m.spend_window_hours
                );
            }
            None => {
                let _ = writeln!(
                    w,
                    "# No estimated charges over the last {HISTORY_DAYS} days ({} point(s)): billing alerts may be off\n\
                     # (Billing preferences, \"Receive CloudWatch billing alerts\"). No money rule is suggested.",
                    points.len()
                );
            }
        },
        Err(e) => {
            let _ = writeln!(
                w,
                "# The estimated charges could not be read ({e}): no money rule is suggested."
            );
        }
    }
    if !a.unread.is_empty() {
        let _ = writeln!(w, "# Not read: {}.", a.unread.join("; "));
    }
    let _ = writeln!(
        w,
        "# What an incident does when nobody overrides it: stop_instances; also lockout_users,\n\
         # block_launches (with launch_deny_policy_arn), lockout_launchers, revoke_sessions.\n\
         actions = [\"stop_instances\"]"
    );
}
