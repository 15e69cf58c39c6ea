//! `runaway`: a thin entry point; the command line lives in `runawaytrain::cli`.

fn main() {
    std::process::exit(runawaytrain::cli::main());
}
