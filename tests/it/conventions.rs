//! What users of CLI tools expect around the commands themselves: completion scripts their
//! shells accept, man pages `man` renders, and a JSON Schema of gio-ami.toml that an
//! independent validator (Python's `jsonschema`) applies as `gio-ami check` does. No AWS.

use crate::support;

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use support::{bare_cli, run};

fn scratch(name: &str) -> PathBuf {
    let dir =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("conventions-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn installed(program: &str) -> bool {
    Command::new(program)
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .is_ok_and(|mut child| support::wait(&mut child).success())
}

/// Each shell's own syntax check: how the script would fail when the shell loads it.
#[test]
fn every_completion_script_passes_its_shells_syntax_check() {
    let dir = scratch("completions");
    let checks: [(&str, &[&str]); 3] = [("bash", &["-n"]), ("zsh", &["-n"]), ("fish", &["--no-execute"])];
    assert!(installed("bash"), "bash is what every machine running the tests has");
    for (shell, check) in checks {
        let script = run(bare_cli().args(["completions", shell])).success().stdout;
        assert!(script.contains("gio-ami") && script.contains("disks"), "{shell}: {script}");
        if !installed(shell) {
            eprintln!(
                "{shell} is not installed (scripts/setup installs it as root): its syntax is not checked"
            );
            continue;
        }
        let file = dir.join(format!("gio-ami.{shell}"));
        std::fs::write(&file, &script).unwrap();
        let out = support::output(Command::new(shell).args(check).arg(&file));
        assert!(
            out.status.success(),
            "{shell} rejects its script:\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    for shell in ["powershell", "elvish"] {
        let script = run(bare_cli().args(["completions", shell])).success().stdout;
        assert!(script.contains("gio-ami"), "{shell}: {script}");
    }
    let unknown = run(bare_cli().args(["completions", "tcsh"]));
    assert_eq!(unknown.status.code(), Some(2), "a usage error");
    assert!(unknown.stderr.contains("possible values: bash"), "{}", unknown.stderr);
}

/// What `shell` offers for a Tab after `line`, asked of the shell itself with the script
/// `gio-ami completions SHELL` prints loaded as its users load it.
fn offered(shell: &str, script: &Path, line: &str) -> Vec<String> {
    let words: Vec<&str> = line.split(' ').collect();
    let out = match shell {
        // What bash's programmable completion does on Tab: the words and the cursor's word in
        // COMP_WORDS / COMP_CWORD, then the function `complete -p gio-ami` names, called with
        // the command, the word being completed and the one before it.
        "bash" => support::output(Command::new("bash").arg("-c").arg(format!(
            "source {script}\n\
             function=$(complete -p gio-ami | sed -E 's/.* -F ([^ ]+) .*/\\1/')\n\
             COMP_WORDS=({line}); COMP_CWORD={cword}; COMP_LINE='{line}'; COMP_POINT=${{#COMP_LINE}}\n\
             \"$function\" gio-ami \"{current}\" \"{previous}\"\n\
             printf '%s\\n' \"${{COMPREPLY[@]}}\"",
            script = script.display(),
            cword = words.len() - 1,
            current = words[words.len() - 1],
            previous = words[words.len() - 2],
        ))),
        "zsh" => support::output(
            Command::new("zsh")
                .arg("-f")
                .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/it/support/zsh-complete.zsh"))
                .arg(script)
                .args(&words),
        ),
        _ => support::output(
            Command::new("fish")
                .arg("--no-config")
                .arg("-c")
                .arg(format!("source {}; complete -C '{line}'", script.display())),
        ),
    };
    assert!(out.status.success(), "{shell}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split('\t').next())
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// Each shell completes the flags of subcommands, nested ones and hyphenated ones included:
/// clap_complete's bash script completed none for a binary named with a hyphen (clap#6421).
#[test]
fn every_shell_completes_the_flags_of_subcommands() {
    let dir = scratch("completing");
    for shell in ["bash", "zsh", "fish"] {
        if !installed(shell) {
            assert_ne!(shell, "bash", "bash is what every machine running the tests has");
            eprintln!(
                "{shell} is not installed (scripts/setup installs it as root): its completions are not asked"
            );
            continue;
        }
        let script = dir.join(format!("gio-ami.{shell}"));
        std::fs::write(&script, run(bare_cli().args(["completions", shell])).success().stdout).unwrap();
        for (line, expected) in [
            ("gio-ami wipe --dr", "--dry-run"),
            ("gio-ami disks add --ch", "--chain"),
            ("gio-ami recycle-bin --he", "--help"),
            ("gio-ami --ver", "--version"),
            ("gio-ami wi", "wipe"),
        ] {
            let offered = offered(shell, &script, line);
            assert!(
                offered.iter().any(|o| o == expected),
                "{shell}: `{line}<Tab>` offers {offered:?}, not {expected}"
            );
        }
    }
}

#[test]
fn man_renders_a_page_for_every_command() {
    let dir = scratch("man");
    run(bare_cli().args(["man", "--out", dir.to_str().unwrap()])).success();
    let mut pages: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    pages.sort();
    for expected in
        ["gio-ami.1", "gio-ami-build.1", "gio-ami-disks-add.1", "gio-ami-packer-render.1", "gio-ami-wipe.1"]
    {
        assert!(pages.iter().any(|p| p == expected), "{expected} missing from {pages:?}");
    }
    for page in &pages {
        let out = support::output(
            Command::new("man")
                .arg("-l")
                .arg(dir.join(page))
                .env("MANWIDTH", "80")
                .env("MANPAGER", "cat")
                .env("LC_ALL", "C.UTF-8"),
        );
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && out.stderr.is_empty(),
            "{page}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let command = page.trim_end_matches(".1");
        assert!(text.contains("NAME") && text.contains(command), "{page} does not name {command}:\n{text}");
    }
}

/// Validates each spec with Python's jsonschema against `gio-ami schema`: the names of those
/// it accepts.
fn schema_accepts(schema: &Path, specs: &[PathBuf]) -> Vec<String> {
    let script = "import json, sys, tomllib\n\
                  from jsonschema import Draft202012Validator\n\
                  validator = Draft202012Validator(json.load(open(sys.argv[1])))\n\
                  Draft202012Validator.check_schema(validator.schema)\n\
                  for path in sys.argv[2:]:\n\
                  \x20   errors = list(validator.iter_errors(tomllib.load(open(path, 'rb'))))\n\
                  \x20   print(path if not errors else '', file=sys.stdout)\n\
                  \x20   for e in errors: print(path, e.message, file=sys.stderr)\n";
    let out = support::output(Command::new(support::python()).arg("-c").arg(script).arg(schema).args(specs));
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    eprintln!("{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).lines().filter(|l| !l.is_empty()).map(str::to_string).collect()
}

#[test]
fn the_schema_accepts_exactly_what_check_accepts() {
    let dir = scratch("schema");
    // `init` writes the template with its `#:schema` line and the schema beside it.
    run(bare_cli().current_dir(&dir).arg("init")).success();
    let template = dir.join("gio-ami.toml");
    assert!(std::fs::read_to_string(&template).unwrap().starts_with("#:schema ./gio-ami.schema.json\n"));
    let printed = run(bare_cli().arg("schema")).success().stdout;
    let written = std::fs::read_to_string(dir.join("gio-ami.schema.json")).unwrap();
    assert_eq!(printed.trim(), written.trim(), "init writes what schema prints");
    let schema: serde_json::Value = serde_json::from_str(&printed).unwrap();
    let families = &schema["$defs"]["BaseSpec"]["properties"]["family"]["enum"];
    assert_eq!(families, &serde_json::json!(["al2", "al2023", "bottlerocket"]), "the values check allows");

    let specs = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/specs");
    let mut cases: Vec<PathBuf> = vec![template];
    for kind in ["valid", "invalid"] {
        let mut files: Vec<PathBuf> =
            std::fs::read_dir(specs.join(kind)).unwrap().map(|e| e.unwrap().path()).collect();
        files.sort();
        cases.extend(files);
    }
    // What the tests make of a file with `support::with_keys`: keys added to [build] and [base].
    let native = support::spec("native-build");
    let generated = [
        (
            "with-build-keys",
            support::with_keys(
                &native,
                "build",
                "provision_via = \"ssm\"\niam_instance_profile = \"gio-ami-builder\"\ntimeout = \"60s\"",
            ),
        ),
        ("with-base-ami", support::with_keys(&native, "base", "ami = \"ami-0123456789abcdef0\"")),
    ];
    for (name, text) in generated {
        let path = dir.join(format!("{name}.toml"));
        std::fs::write(&path, text).unwrap();
        cases.push(path);
    }
    let accepted = schema_accepts(&dir.join("gio-ami.schema.json"), &cases);
    for case in &cases {
        let by_schema = accepted.iter().any(|a| Path::new(a) == case);
        let by_check = run(bare_cli().arg("check").arg(case)).status.success();
        let expected = !case.starts_with(specs.join("invalid"));
        assert_eq!((by_schema, by_check), (expected, expected), "{}: schema, check", case.display());
    }
}

/// The fenced blocks of a Markdown file: (language, text).
fn fenced_blocks(markdown: &str) -> Vec<(String, String)> {
    let mut blocks = Vec::new();
    let mut open: Option<(String, String)> = None;
    for line in markdown.lines() {
        match (line.strip_prefix("```"), open.take()) {
            (Some(_), Some(block)) => blocks.push(block),
            (Some(language), None) => open = Some((language.trim().to_string(), String::new())),
            (None, Some((language, mut text))) => {
                text.push_str(line);
                text.push('\n');
                open = Some((language, text));
            }
            (None, None) => {}
        }
    }
    assert!(open.is_none(), "an unclosed fence");
    blocks
}

/// Each `gio-ami SUBCOMMAND --flag…` written in `text`: the subcommand and its long flags, up to
/// the end of the shell command.
fn gio_ami_commands(text: &str) -> Vec<(String, Vec<String>)> {
    let mut commands = Vec::new();
    for line in text.lines() {
        let mut rest = line;
        while let Some(at) = rest.find("gio-ami ") {
            let words: Vec<&str> = rest[at + "gio-ami ".len()..]
                .split_whitespace()
                .take_while(|w| !["|", ">", ";", "&&", "||", "#", "then", "2>&1"].contains(w))
                .collect();
            // Part of a path or a name (`your-org/gio-ami`), not the command.
            let inside_a_word =
                rest[..at].chars().last().is_some_and(|c| c.is_alphanumeric() || "/-_.".contains(c));
            rest = &rest[at + 1..];
            if inside_a_word {
                continue;
            }
            let Some(sub) = words.first().filter(|w| w.chars().all(|c| c.is_ascii_lowercase() || c == '-'))
            else {
                continue;
            };
            let flags = words
                .iter()
                .filter(|w| w.starts_with("--"))
                .map(|w| w.split('=').next().unwrap().to_string())
                .collect();
            commands.push((sub.to_string(), flags));
        }
    }
    commands
}

/// docs/rollout.md holds only snippets a real parser reads: its YAML (a Karpenter EC2NodeClass, a
/// CI job) by PyYAML, its Terraform by python-hcl2, its spec by `gio-ami check`; and every
/// gio-ami command in it takes the flags it is written with.
#[test]
fn the_rollout_guide_parses_and_its_commands_exist() {
    let dir = scratch("rollout-doc");
    let doc = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/rollout.md")).unwrap();
    let blocks = fenced_blocks(&doc);
    let languages: Vec<&str> = blocks.iter().map(|(l, _)| l.as_str()).collect();
    assert_eq!(
        languages,
        ["toml", "yaml", "hcl", "yaml", "sh", "toml", "yaml", "yaml", "yaml", "yaml", "hcl", "hcl", "sh"]
    );
    let script = "import sys, yaml, hcl2\n\
                  for language, path in zip(sys.argv[1::2], sys.argv[2::2]):\n\
                  \x20   text = open(path).read()\n\
                  \x20   parsed = yaml.safe_load(text) if language == 'yaml' else hcl2.loads(text)\n\
                  \x20   assert parsed, path\n\
                  \x20   print(language, sorted(map(str, parsed)))\n";
    let mut args = Vec::new();
    for (n, (language, text)) in blocks.iter().enumerate() {
        let path = dir.join(format!("block-{n}.{language}"));
        std::fs::write(&path, text).unwrap();
        match language.as_str() {
            "yaml" | "hcl" => args.extend([language.clone(), path.display().to_string()]),
            "toml" => {
                let spec = dir.join("gio-ami.toml");
                std::fs::write(
                    &spec,
                    format!("[image]\nname = \"n\"\n[base]\nami = \"ami-12345678\"\n{text}"),
                )
                .unwrap();
                run(bare_cli().arg("check").arg(&spec)).success();
            }
            _ => {}
        }
    }
    let out = support::output(Command::new(support::python()).arg("-c").arg(script).args(&args));
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{}{}", printed, String::from_utf8_lossy(&out.stderr));
    assert!(printed.contains("yaml ['apiVersion', 'kind', 'metadata', 'spec']"), "{printed}");
    assert!(printed.contains("hcl ['data', 'resource']"), "{printed}");
    let commands: Vec<(String, Vec<String>)> =
        blocks.iter().flat_map(|(_, text)| gio_ami_commands(text)).collect();
    assert!(
        commands.iter().any(|(sub, _)| sub == "promote") && commands.iter().any(|(sub, _)| sub == "outdated"),
        "{commands:?}"
    );
    for (sub, flags) in commands {
        let help = run(bare_cli().args([sub.as_str(), "--help"])).success().stdout;
        for flag in flags {
            assert!(help.contains(&flag), "docs/rollout.md: `gio-ami {sub}` has no {flag}");
        }
    }
}
