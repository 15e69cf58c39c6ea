//! `stop_rate` and `iam_rate`: the pacing of throttled halts, lockouts and restores.

use super::{MINIMAL, check_err, parse};

#[test]
fn the_throttling_rates_default_inherit_and_refuse_what_cannot_pace() {
    let c = parse(MINIMAL).unwrap();
    assert_eq!(
        (
            c.accounts[0].policy.stop_rate,
            c.accounts[0].policy.iam_rate
        ),
        (20.0, 10.0)
    );
    let guard = MINIMAL.replace("home_region", "stop_rate = 5\niam_rate = 2.5\nhome_region");
    let c = parse(&guard.replace("name = \"research\"", "name = \"research\"\nstop_rate = 40"))
        .unwrap();
    assert_eq!(
        (
            c.accounts[0].policy.stop_rate,
            c.accounts[0].policy.iam_rate
        ),
        (5.0, 2.5)
    );
    assert_eq!(
        (
            c.accounts[1].policy.stop_rate,
            c.accounts[1].policy.iam_rate
        ),
        (40.0, 2.5)
    );
    for bad in ["0", "-1", "inf", "nan", "10001"] {
        check_err(
            &MINIMAL.replace("home_region", &format!("stop_rate = {bad}\nhome_region")),
            "guard.stop_rate",
            "more than 0 and at most 10000",
        );
        check_err(
            &MINIMAL.replace(
                "name = \"payer\"",
                &format!("name = \"payer\"\niam_rate = {bad}"),
            ),
            "accounts[0].iam_rate",
            "more than 0 and at most 10000",
        );
    }
    check_err(
        &MINIMAL.replace("home_region", "stop_rate = \"fast\"\nhome_region"),
        "guard.stop_rate",
        "invalid type",
    );
}
