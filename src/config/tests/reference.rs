//! The book's configuration reference is the configuration types': every key the code accepts
//! is in it and nothing else, every example is accepted, every refused value is refused at its
//! key, and the committed page is what they generate.

use std::path::PathBuf;

use crate::config::reference::{self, SECTIONS, keys};

fn page() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("docs/src/configuration.md")
}

#[test]
fn the_reference_and_the_types_agree_both_ways() {
    let problems = reference::problems();
    assert!(
        problems.is_empty(),
        "the reference is not true:\n{}",
        problems.join("\n")
    );
    // Each section has keys, and every key is documented once.
    for s in SECTIONS {
        assert!(!s.fields().is_empty(), "{s:?} has no keys");
    }
    let mut seen = std::collections::BTreeSet::new();
    for k in keys() {
        assert!(seen.insert((k.section.table(), k.name)), "{} twice", k.name);
    }
}

#[test]
fn the_committed_page_is_the_generated_one() {
    let generated = reference::markdown().expect("the reference is true");
    if std::env::var_os("RUNAWAY_BLESS").is_some() {
        std::fs::write(page(), &generated).unwrap();
    }
    let committed = std::fs::read_to_string(page()).unwrap_or_default();
    assert!(
        committed == generated,
        "docs/src/configuration.md is not what the configuration types generate; \
         RUNAWAY_BLESS=1 cargo nextest run --lib config::tests::reference rewrites it"
    );
    // Spot checks that the page says real things.
    assert!(generated.contains("### `check_every`"));
    assert!(generated.contains("runaway.toml: guard.check_every: expected at least 10s"));
}
