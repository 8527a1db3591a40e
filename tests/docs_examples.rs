//! Every ```toml example in the README, docs/ and the settings modules' docs is parsed by the parser the daemon uses for
//! it: a rules file (`[[rules]]`) by the rules parser, anything else as `sharpeyes.toml` by
//! the settings parser (unknown keys are errors there), so a renamed or misspelt key in the
//! documentation fails here. The TLS example of docs/operations.md is also started as far as
//! its files allow: a missing `ca_file` must be the error, named.

use std::path::PathBuf;

use sharpeyes::rules::config::RulesFile;
use sharpeyes::settings::Settings;

fn examples() -> Vec<(String, usize, String)> {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![
        root.join("README.md"),
        root.join("deploy/README.md"),
        root.join("src/settings.rs"),
        root.join("src/alerts/sinks/tls.rs"),
    ];
    for e in std::fs::read_dir(root.join("docs")).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "md") {
            files.push(p);
        }
    }
    let mut out = Vec::new();
    for f in files {
        let mut text = std::fs::read_to_string(&f).unwrap();
        if f.extension().is_some_and(|x| x == "rs") {
            // The module docs: `//! ` lines.
            text = (text.lines())
                .filter_map(|l| {
                    l.strip_prefix("//!")
                        .map(|r| r.strip_prefix(' ').unwrap_or(r))
                })
                .collect::<Vec<_>>()
                .join("\n");
        }
        let name = f.strip_prefix(&root).unwrap().display().to_string();
        let mut block: Option<(usize, String)> = None;
        for (n, line) in text.lines().enumerate() {
            match &mut block {
                None if line.trim_start() == "```toml" => block = Some((n + 1, String::new())),
                None => {}
                Some(_) if line.trim_start() == "```" => {
                    let (at, body) = block.take().unwrap();
                    out.push((name.clone(), at, body));
                }
                Some((_, body)) => {
                    body.push_str(line);
                    body.push('\n');
                }
            }
        }
    }
    out
}

#[test]
fn every_toml_example_in_the_docs_parses() {
    let all = examples();
    assert!(all.len() >= 8, "examples found: {}", all.len());
    for (file, line, body) in &all {
        if body
            .lines()
            .any(|l| l.trim_start().starts_with("[[rules]]"))
        {
            RulesFile::parse(body).unwrap_or_else(|e| panic!("{file}:{line}: rules example: {e}"));
        } else {
            Settings::parse(body)
                .unwrap_or_else(|e| panic!("{file}:{line}: settings example: {e:#}"));
        }
    }
    println!("{} TOML examples parsed", all.len());
}

#[test]
fn the_tls_example_names_its_missing_ca_file() {
    let (_, _, body) = examples()
        .into_iter()
        .find(|(f, _, b)| f.ends_with("operations.md") && b.contains("mqtts://"))
        .expect("the TLS example in docs/operations.md");
    let s = Settings::parse(&body).unwrap();
    let e = s.mqtt.tls().load("[mqtt]").unwrap_err();
    assert!(
        format!("{e:#}").contains("/etc/sharpeyes/city-ca.pem"),
        "{e:#}"
    );
    assert_eq!(s.kafka.sasl_password_env.as_deref(), Some("KAFKA_PASSWORD"));
}
