//! The two-person rule (`[slack] approvals_required = 2`): a big button or command runs only
//! once two different approvers have asked for it. Each ask is a press journaled as
//! [`WAITING`]; who has asked is read back from the journal, so two replicas, a retry or a
//! double click all count the same way, and one person pressing twice counts once.

/// The outcome a press is journaled with while it waits for another approver.
pub const WAITING: &str = "waiting for a second approver";

/// Who has asked for `action` so far: the distinct users of the presses journaled for it as
/// [`WAITING`] (`(user, action, allowed, outcome)`, in the order they came), after `first`, a
/// requester who counts as the first (who typed `/runaway halt` or `/runaway isolate`).
pub fn approvers<'a>(
    presses: &'a [(String, String, bool, String)],
    action: &str,
    first: Option<&'a str>,
) -> Vec<&'a str> {
    let mut out: Vec<&str> = first.into_iter().collect();
    for (user, a, allowed, outcome) in presses {
        if *allowed && a == action && outcome == WAITING && !out.contains(&user.as_str()) {
            out.push(user);
        }
    }
    out
}

/// Whether enough different approvers have asked.
pub fn enough(required: u8, approvers: &[&str]) -> bool {
    approvers.len() >= usize::from(required.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(user: &str, action: &str, outcome: &str) -> (String, String, bool, String) {
        (user.into(), action.into(), true, outcome.into())
    }

    #[test]
    fn two_different_approvers_are_needed_and_one_pressing_twice_counts_once() {
        let once = [press("U1", "approve", WAITING)];
        assert_eq!(approvers(&once, "approve", None), ["U1"]);
        assert!(!enough(2, &approvers(&once, "approve", None)));
        assert!(enough(1, &approvers(&once, "approve", None)));

        let twice = [
            press("U1", "approve", WAITING),
            press("U1", "approve", WAITING),
        ];
        assert!(
            !enough(2, &approvers(&twice, "approve", None)),
            "the same person twice"
        );

        let two = [
            press("U1", "approve", WAITING),
            press("U2", "approve", WAITING),
        ];
        assert_eq!(approvers(&two, "approve", None), ["U1", "U2"]);
        assert!(enough(2, &approvers(&two, "approve", None)));
    }

    #[test]
    fn only_waiting_presses_of_that_action_by_approvers_count() {
        let presses = [
            press("U1", "override", WAITING),
            press("U2", "approve", "approved"),
            ("U3".into(), "approve".into(), false, WAITING.into()),
            press("U4", "approve", WAITING),
        ];
        assert_eq!(approvers(&presses, "approve", None), ["U4"]);
    }

    #[test]
    fn a_requester_counts_as_the_first_approval_once() {
        let mine = [press("U1", "confirmhalt", WAITING)];
        assert_eq!(approvers(&mine, "confirmhalt", Some("U1")), ["U1"]);
        assert!(!enough(2, &approvers(&mine, "confirmhalt", Some("U1"))));
        let other = [press("U2", "confirmhalt", WAITING)];
        assert!(enough(2, &approvers(&other, "confirmhalt", Some("U1"))));
    }
}
