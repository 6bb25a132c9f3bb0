//! Issue 12: the fuzz corpora replayed as a normal test. Every input kept under
//! `fuzz/corpus/<target>/` (seeds and what the campaigns found interesting) and
//! `fuzz/artifacts/<target>/` (crashes, once fixed) goes through the same entry point the
//! cargo-fuzz target calls, on stable Rust, on every `cargo test`: a regression fails CI
//! without a fuzzer on the machine.

use vpp_dispatch::api::fuzz;

use crate::repo;

fn replay(target: &str, run: fn(&[u8])) {
    let mut count = 0;
    for dir in [format!("fuzz/corpus/{target}"), format!("fuzz/artifacts/{target}")] {
        let Ok(entries) = std::fs::read_dir(repo(&dir)) else { continue };
        let mut paths: Vec<_> = entries.filter_map(|e| e.ok().map(|e| e.path())).filter(|p| p.is_file()).collect();
        paths.sort();
        for path in paths {
            let data = std::fs::read(&path).expect("corpus file reads");
            if let Err(e) = std::panic::catch_unwind(|| run(&data)) {
                let why = e.downcast_ref::<String>().cloned().or_else(|| e.downcast_ref::<&str>().map(|s| s.to_string()));
                panic!("{} panics: {why:?}", path.display());
            }
            count += 1;
        }
    }
    assert!(count > 0, "no corpus for the fuzz target {target}");
}

#[test]
fn issue12_wire_corpus_replays_without_a_panic() {
    replay("wire", fuzz::wire);
}

#[test]
fn issue12_plant_toml_corpus_replays_without_a_panic() {
    replay("plant_toml", fuzz::plant_toml);
}

#[test]
fn issue12_forecast_json_corpus_replays_without_a_panic() {
    replay("forecast_json", fuzz::forecast_json);
}
