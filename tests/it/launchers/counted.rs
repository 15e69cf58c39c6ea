//! Who is a launcher, decided per instance: the margin before the last ok check keeps a launch
//! whose instances that check did not see (still pending), and a launch whose instances it
//! counted is nobody's runaway.

use super::*;

/// The incident's launchers, by user name.
fn names(found: &runawaytrain::core::launchers::Launchers) -> Vec<String> {
    found
        .attribution
        .launchers
        .iter()
        .filter_map(|l| l.user_name.clone())
        .collect()
}

/// A colleague launches two instances seconds before an ok check (her record stamped with the
/// real time, not back-dated), the check counts them and finds the account ok; then an attacker
/// launches. Only the attacker is named: at the deadline only his key goes Inactive and only
/// his instances stop (`halt_scope = "launchers"`); hers keep running, her key stays Active.
#[tokio::test(flavor = "multi_thread")]
async fn a_colleague_whose_launch_the_ok_check_counted_is_no_launcher() {
    let h = BotHarness::start(|t| {
        with_lockout_policy(config(t, None))
            + "actions = [\"stop_instances\", \"lockout_launchers\"]\nhalt_scope = \"launchers\"\n"
    })
    .await;
    create_lockout_policy(&h.moto).await;
    let carol = user_with_key(&h.moto, "carol").await;
    let hers = launch(&h.moto.sdk("eu-west-1").await, 2, &[], false).await;
    deliver(
        &h.moto,
        &[record(
            user("carol", &carol),
            "RunInstances",
            "eu-west-1",
            &hers,
            PAYER,
        )
        .to_string()],
    )
    .await;
    let ok = h.bot.check_step(Utc::now()).await.unwrap();
    assert_eq!(ok.accounts[0].state, runawaytrain::core::rules::State::Ok);

    let mallory = mallory_launches(&h).await;
    let found = launchers_of(&h);
    assert_eq!(names(&found), ["mallory"], "{found:?}");
    assert_eq!(found.attribution.counted, 1, "{found:?}");
    assert_eq!(found.unattributed, Some(0));

    let ran = h
        .bot
        .deadline_step(Utc::now() + chrono::Duration::minutes(11))
        .await
        .unwrap();
    assert_eq!(ran.len(), 1);
    let states = states(&h.moto.sdk("eu-west-1").await).await;
    assert!(hers.iter().all(|i| states[i] == "running"), "{states:?}");
    assert_eq!(
        states.values().filter(|s| *s == "stopped").count(),
        3,
        "mallory's three stop: {states:?}"
    );
    assert_eq!(key_status(&iam_of(&h.moto).await, "carol").await, "Active");
    assert_eq!(
        key_status(&iam_of(&h.moto).await, "mallory").await,
        "Inactive"
    );
    let _ = (carol, mallory);
}

/// The case the margin is for: a launch call made a minute before the ok check whose instance
/// that check did not count (it was still pending then) is a launcher of the next incident.
#[tokio::test(flavor = "multi_thread")]
async fn a_launch_just_before_the_ok_check_that_it_did_not_count_is_a_launcher() {
    let h = BotHarness::start(|t| config(t, None) + "halt_scope = \"launchers\"\n").await;
    let checked = Utc::now();
    h.bot.check_step(checked).await.unwrap();
    // Running only now: the check above did not count it.
    let dave = user_with_key(&h.moto, "dave").await;
    let pending = launch(&h.moto.sdk("us-east-1").await, 1, &[], false).await;
    let mut call = record(
        user("dave", &dave),
        "RunInstances",
        "us-east-1",
        &pending,
        PAYER,
    );
    call["eventTime"] = json!(
        (checked - chrono::Duration::minutes(1))
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string()
    );
    deliver(&h.moto, &[call.to_string()]).await;
    mallory_launches(&h).await;
    let found = launchers_of(&h);
    let mut named = names(&found);
    named.sort();
    assert_eq!(named, ["dave", "mallory"], "{found:?}");
    assert_eq!(found.attribution.counted, 0);

    h.bot
        .deadline_step(Utc::now() + chrono::Duration::minutes(11))
        .await
        .unwrap();
    let home = states(&h.moto.sdk("us-east-1").await).await;
    assert_eq!(home[&pending[0]], "stopped", "{home:?}");
}

async fn iam_of(moto: &Moto) -> aws_sdk_iam::Client {
    aws_sdk_iam::Client::new(&moto.sdk("us-east-1").await)
}
