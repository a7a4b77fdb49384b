//! Bad input never panics and always gets an error that names the key or field at fault:
//! property tests of the spec parser, the `--disk` syntax and id parsing, and the table of
//! bad inputs in `docs/errors.md` (regenerated here; `GOLDEN_UPDATE=1` rewrites it).

use gio_ami::core::ids::{AmiId, SnapshotId};
use gio_ami::spec;
use gio_ami::spec::disk::Disk;
use proptest::prelude::*;
use std::path::Path;

/// A spec that parses; the properties break one value of it at a time (the error table names
/// its lines, so the file has no comment to shift them).
const VALID_SPEC: &str = include_str!("../specs/valid/bad-input-base.toml");

/// Every `key = value` line of VALID_SPEC, as (dotted key, line index).
fn spec_keys() -> Vec<(String, usize)> {
    let mut table = String::new();
    let mut keys = Vec::new();
    for (n, line) in VALID_SPEC.lines().enumerate() {
        if let Some(header) = line.strip_prefix('[') {
            table = header.trim_matches(|c| c == '[' || c == ']').to_string();
        } else if let Some((key, _)) = line.split_once(" = ") {
            keys.push((format!("{table}.{key}"), n));
        }
    }
    keys
}

/// TOML values of every kind, well- and ill-typed for whichever key they land on.
fn toml_value() -> impl Strategy<Value = String> {
    prop_oneof![
        any::<i64>().prop_map(|n| n.to_string()),
        any::<bool>().prop_map(|b| b.to_string()),
        "[a-z0-9 ./{}:=-]{0,12}".prop_map(|s| format!("{s:?}")),
        Just("[]".to_string()),
        Just("[1, \"x\"]".to_string()),
        Just("{ a = 1 }".to_string()),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(|f| format!("{f:?}")),
    ]
}

fn with_value(line: usize, value: &str) -> String {
    VALID_SPEC
        .lines()
        .enumerate()
        .map(
            |(n, l)| {
                if n == line {
                    format!("{} = {value}", l.split_once(" = ").unwrap().0)
                } else {
                    l.to_string()
                }
            },
        )
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn the_base_spec_is_valid() {
    spec::parse("gio-ami.toml", VALID_SPEC).unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn any_text_as_a_spec_errs_without_panicking(text in "\\PC{0,200}") {
        if let Err(e) = spec::parse("gio-ami.toml", &text) {
            prop_assert!(!e.key.is_empty() && !e.message.is_empty(), "{e}");
        }
    }

    #[test]
    fn a_broken_value_is_named_by_its_key(pick in any::<prop::sample::Index>(), value in toml_value()) {
        let keys = spec_keys();
        let (key, line) = &keys[pick.index(keys.len())];
        let text = with_value(*line, &value);
        if let Err(e) = spec::parse("gio-ami.toml", &text) {
            let field = key.rsplit('.').next().unwrap();
            // `[[disks]]` entries are named disks[0]; a broken kubernetes can surface as the
            // family it no longer matches, both on the same table.
            let table = key.split('.').next().unwrap();
            prop_assert!(e.key.contains(field) || e.key.starts_with(table), "{key} = {value}: {e}");
            prop_assert!(e.line > 0, "{key} = {value}: no line in {e}");
        }
    }

    #[test]
    fn any_disk_text_errs_naming_the_input(text in "\\PC{0,40}") {
        if let Err(e) = text.parse::<Disk>() {
            prop_assert!(e.0.contains(&format!("`{text}`")), "{e}");
        }
    }

    #[test]
    fn a_disk_option_that_fails_is_named(
        device in prop_oneof![Just("/dev/xvdb"), Just("/dev/sdf"), Just("xvdb"), Just("/dev/")],
        size in prop_oneof![Just("50".to_string()), any::<i64>().prop_map(|n| n.to_string()), "[a-z]{1,4}"],
        key in prop_oneof![
            prop::sample::select(vec!["iops", "throughput", "size", "type", "kms", "encrypted", "delete-on-termination"]).prop_map(String::from),
            "[a-z]{1,8}",
        ],
        value in "[a-z0-9]{0,8}",
    ) {
        let text = format!("{device}={size}:{key}={value}");
        if let Err(e) = text.parse::<Disk>() {
            let named = [device, &size, &key, &value].iter().any(|part| !part.is_empty() && e.0.contains(*part));
            prop_assert!(named, "{text}: {e}");
        }
    }

    #[test]
    fn ids_parse_exactly_when_well_formed(text in "(ami|snap|vol)?-?[0-9a-fA-Fg]{0,18}|\\PC{0,20}") {
        let hex = |prefix: &str| {
            text.strip_prefix(prefix).is_some_and(|h| matches!(h.len(), 8 | 17) && h.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
        };
        match text.parse::<AmiId>() {
            Ok(id) => prop_assert!(hex("ami-") && id.as_str() == text),
            Err(e) => {
                prop_assert!(!hex("ami-"));
                prop_assert!(e.to_string().contains(&format!("`{text}` is not an AMI id")), "{e}");
            }
        }
        match text.parse::<SnapshotId>() {
            Ok(_) => prop_assert!(hex("snap-")),
            Err(e) => prop_assert!(e.to_string().contains(&format!("`{text}` is not a snapshot id")), "{e}"),
        }
    }
}

/// What each bad input gets, as users see it: the table in docs/errors.md.
fn error_table() -> String {
    let mut rows = Vec::new();
    let mut row = |what: &str, input: &str, error: String| {
        rows.push(format!(
            "| {what} | `{}` | {} |",
            input.replace('|', "\\|").replace('\n', "⏎"),
            error.replace('|', "\\|").replace('\n', " ")
        ));
    };
    for input in ["ami-12345", "AMI-0ABC1234DEF567890", "ami-0abc1234def56789g", "snap-0abc1234def567890", ""]
    {
        row("AMI id", input, input.parse::<AmiId>().unwrap_err().to_string());
    }
    for input in ["snap-xyz", "ami-0abc1234"] {
        row("snapshot id", input, input.parse::<SnapshotId>().unwrap_err().to_string());
    }
    for input in [
        "/dev/xvdb",
        "/dev/xvdb=",
        "/dev/xvdb=big",
        "/dev/xvdb=0",
        "/dev/xvdb=99999999999",
        "/dev/xvdb=50:gp9",
        "/dev/xvdb=50:io2",
        "/dev/xvdb=50:io2:iops=100000",
        "/dev/xvdb=50:gp2:iops=3000",
        "/dev/xvdb=50:gp3:throughput=2000",
        "/dev/xvdb=50:colour=red",
        "/dev/xvdb=50:encrypted=maybe",
        "/dev/xvdb=50:60",
        "xvdb=50",
        "/dev/xvdb=snap-1:size=x",
    ] {
        row("`--disk`", input, input.parse::<Disk>().unwrap_err().to_string());
    }
    for input in ["36h", "0d", "400d"] {
        let retain = humantime::parse_duration(input).unwrap();
        row(
            "`recycle-bin --retain`",
            input,
            gio_ami::commands::recycle_bin::days(retain).unwrap_err().to_string(),
        );
    }
    for input in ["12h", "181d"] {
        let temporary = humantime::parse_duration(input).unwrap();
        row(
            "`unarchive --temporary`",
            input,
            gio_ami::commands::unarchive::days(temporary).unwrap_err().to_string(),
        );
    }
    let keys = spec_keys();
    let line = |key: &str| keys.iter().find(|(k, _)| k == key).unwrap().1;
    for (key, value) in [
        ("image.name", "\"gio-{version}\""),
        ("image.name", "42"),
        ("base.family", "\"al2025\""),
        ("base.kubernetes", "\"1.x\""),
        ("base.kubernetes", "1.31"),
        ("base.arch", "\"amd64\""),
        ("build.instance_type", "[]"),
        ("build.timeout", "\"soon\""),
        ("build.root_size_gib", "\"30\""),
        ("disks.size_gib", "0"),
        ("disks.type", "\"gp9\""),
        ("clusters.prod.region", "true"),
    ] {
        let input = format!("{key} = {value}");
        row(
            "spec value",
            &input,
            spec::parse("gio-ami.toml", &with_value(line(key), value)).unwrap_err().to_string(),
        );
    }
    for (what, input, text) in [
        ("spec: unknown key", "archh = \"x86_64\"", VALID_SPEC.replace("arch = ", "archh = ")),
        ("spec: unknown table", "[imagex]", VALID_SPEC.replace("[image]", "[imagex]")),
        ("spec: not TOML", "[image", "[image\nname = ".to_string()),
        (
            "spec: no base",
            "(no family, no kubernetes)",
            VALID_SPEC.replace("family = \"al2023\"\n", "").replace("kubernetes = \"1.31\"\n", ""),
        ),
        ("spec: no [base]", "(no [base] section)", VALID_SPEC.split("[base]").next().unwrap().to_string()),
        (
            "spec: disk twice",
            "(a second /dev/xvdb)",
            format!("{VALID_SPEC}\n[[disks]]\ndevice = \"/dev/xvdb\"\nsize_gib = 5\n"),
        ),
        (
            "spec: second disk's type",
            "(a second disk of type 5)",
            format!("{VALID_SPEC}\n[[disks]]\ndevice = \"/dev/xvdc\"\ntype = 5\n"),
        ),
        (
            "spec: role ARN",
            "role_arn = \"arn:aws:iam::2222:role/r\"",
            format!("{VALID_SPEC}\n[accounts.prod]\nrole_arn = \"arn:aws:iam::2222:role/r\"\n"),
        ),
        (
            "spec: two own accounts",
            "[accounts.a] [accounts.b] (no role_arn)",
            format!("{VALID_SPEC}\n[accounts.a]\n[accounts.b]\n"),
        ),
        (
            "spec: cluster's account",
            "account = \"prd\"",
            format!(
                "{VALID_SPEC}\n[accounts.prod]\n[clusters.c]\nregion = \"eu-west-1\"\naccount = \"prd\"\n"
            ),
        ),
    ] {
        row(what, input, spec::parse("gio-ami.toml", &text).unwrap_err().to_string());
    }
    format!(
        "# Bad input and the error it gets\n\n\
         Generated by `tests/it/bad_input.rs` (`GOLDEN_UPDATE=1 cargo test --test it bad_input::` rewrites \
         it); the test fails when this file and gio-ami disagree. Spec rows change one line of a \
         valid spec (shown as `key = value`).\n\n\
         | what | input | error |\n|---|---|---|\n{}\n",
        rows.join("\n")
    )
}

#[test]
fn docs_errors_md_is_what_gio_ami_says() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/errors.md");
    let table = error_table();
    if std::env::var_os("GOLDEN_UPDATE").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, &table).unwrap();
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(committed == table, "docs/errors.md is stale: rerun with GOLDEN_UPDATE=1 and commit it");
}
